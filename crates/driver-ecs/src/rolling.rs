//! Native rolling mode: one ECS service per target, updated with `UpdateService` (new task
//! definition, `deploymentConfiguration` with the circuit breaker). A deployment the circuit
//! breaker failed or rolled back is reported as a permanent error, never as success.

use crate::config::RollingConfig;
use crate::driver::{check_revision_id, EcsDriver};
use crate::error::sdk_error;
use crate::names::rolling_service_name;
use crate::services::{self, REQUESTED_TAG, TARGET_TAG};
use crate::taskdef::revision_of;
use crate::weights::to_percent;
use aws_sdk_ecs::types::{
    DeploymentCircuitBreaker, DeploymentConfiguration, DeploymentRolloutState, Service, Tag,
};
use shipcore::driver::DriverError;
use shipcore::model::{Action, FleetState, Revision, RevisionId, RevisionState, Target};
use std::collections::HashMap;

/// Reads a native rolling service: the revision of its task definition with the replicas of
/// its deployments, older revisions still draining, and whether ECS failed or rolled back
/// the revision last asked for (`requested`). `revisions` maps task definition ARNs to
/// revision ids.
///
/// # Errors
/// A message when the circuit breaker failed the requested revision's deployment, or the
/// service went back to another revision (a rollback).
pub fn analyse(
    s: &Service,
    revisions: &HashMap<String, RevisionId>,
) -> Result<Vec<RevisionState>, String> {
    let rev_of = |td: Option<&str>| td.and_then(|t| revisions.get(t)).cloned();
    let current_td = s.task_definition();
    let current = rev_of(current_td);
    let requested = services::tag(s, REQUESTED_TAG).map(RevisionId::new);
    if let Some(req) = &requested {
        if let Some(d) = s.deployments().iter().find(|d| {
            d.rollout_state() == Some(&DeploymentRolloutState::Failed)
                && rev_of(d.task_definition()).as_ref() == Some(req)
        }) {
            return Err(format!(
                "ECS failed the deployment of {req} ({} failed tasks): {}",
                d.failed_tasks(),
                d.rollout_state_reason().unwrap_or("rolloutState FAILED")
            ));
        }
        if current.as_ref() != Some(req) {
            return Err(format!(
                "ECS rolled {req} back: the service runs {} again (deployment circuit breaker)",
                current
                    .as_ref()
                    .map_or("an unknown revision", |r| r.as_str())
            ));
        }
    }
    let desired = u32::try_from(s.desired_count()).unwrap_or(0);
    let mut old: Vec<RevisionState> = Vec::new();
    let mut old_running: i64 = 0;
    for d in s.deployments() {
        if d.status() == Some("PRIMARY") || d.task_definition() == current_td {
            continue;
        }
        let Some(rev) = rev_of(d.task_definition()) else {
            continue;
        };
        let running = u32::try_from(d.running_count()).unwrap_or(0);
        let want = u32::try_from(d.desired_count()).unwrap_or(0);
        old_running += i64::from(running);
        match old.iter_mut().find(|r| r.revision == rev) {
            Some(r) => {
                r.desired += want;
                r.ready = (r.ready + running).min(r.desired);
            }
            None => old.push(RevisionState {
                revision: rev,
                desired: want,
                ready: running.min(want),
                updated: 0,
                weight: 0,
            }),
        }
    }
    let mut out = old;
    if let Some(rev) = current {
        // The service's running count covers every deployment: the current revision runs
        // what the older ones do not.
        let running =
            u32::try_from((i64::from(s.running_count()) - old_running).max(0)).unwrap_or(0);
        out.retain(|r| r.revision != rev);
        out.push(RevisionState {
            revision: rev,
            desired,
            ready: running.min(desired),
            updated: running.min(desired),
            weight: 0,
        });
    }
    // No router: traffic follows ready tasks.
    let raw: Vec<(RevisionId, i32)> = out
        .iter()
        .map(|r| {
            (
                r.revision.clone(),
                i32::try_from(r.ready).unwrap_or(i32::MAX),
            )
        })
        .collect();
    let percent = to_percent(&raw);
    for r in &mut out {
        r.weight = percent.get(&r.revision).copied().unwrap_or(0);
    }
    out.sort_by(|a, b| a.revision.cmp(&b.revision));
    Ok(out)
}

impl EcsDriver {
    async fn rolling_service(
        &self,
        target: &Target,
    ) -> Result<(String, Option<Service>), DriverError> {
        let name = rolling_service_name(&target.service);
        let s = services::find(&self.ecs, &self.config.cluster, &name).await?;
        if let Some(s) = &s {
            services::check_owner(s, &Self::target_tag(target), "find the service")?;
        }
        Ok((name, s))
    }

    async fn revision_of_td(&self, arn: &str) -> Result<RevisionId, DriverError> {
        let td = self.task_defs.get(&self.ecs, arn).await?;
        Ok(RevisionId::new(revision_of(&td).unwrap_or_else(|| {
            format!("{}-{}", td.family().unwrap_or("task"), td.revision())
        })))
    }

    pub(crate) async fn observe_rolling(&self, target: &Target) -> Result<FleetState, DriverError> {
        let (_, Some(s)) = self.rolling_service(target).await? else {
            return Ok(FleetState::default());
        };
        let mut map = HashMap::new();
        let tds = s
            .task_definition()
            .into_iter()
            .chain(s.deployments().iter().filter_map(|d| d.task_definition()));
        for td in tds {
            if !map.contains_key(td) {
                map.insert(td.to_string(), self.revision_of_td(td).await?);
            }
        }
        let revisions = analyse(&s, &map).map_err(|m| DriverError::permanent("observe", m))?;
        Ok(FleetState {
            revisions,
            flags: Default::default(),
        })
    }

    pub(crate) async fn apply_rolling(
        &self,
        target: &Target,
        r: &RollingConfig,
        action: &Action,
    ) -> Result<(), DriverError> {
        let op = action.describe();
        if let Action::Scale { revision, .. } | Action::Retire { revision } = action {
            check_revision_id(&op, revision)?;
        }
        match action {
            Action::Deploy { revision, replicas } => self.rolling_deploy(target, r, revision, *replicas).await,
            Action::Scale { revision, replicas } => {
                let (name, s) = self.rolling_service(target).await?;
                let runs = match (&s, s.as_ref().and_then(|s| s.task_definition())) {
                    (Some(_), Some(td)) => &self.revision_of_td(td).await? == revision,
                    _ => false,
                };
                match s {
                    Some(s) if runs => self.set_desired(&s, &name, *replicas, None).await,
                    _ if *replicas == 0 => Ok(()),
                    _ => Err(DriverError::permanent(op, format!("{revision} is not deployed on {target}"))),
                }
            }
            Action::Retire { revision } => {
                let (name, s) = self.rolling_service(target).await?;
                if let Some(td) = s.as_ref().and_then(|s| s.task_definition()) {
                    if &self.revision_of_td(td).await? == revision {
                        return services::delete(&self.ecs, &self.config.cluster, &name).await;
                    }
                }
                // Another revision runs: ECS already replaced this one.
                Ok(())
            }
            Action::Route { .. } => Err(DriverError::permanent(op, "native rolling mode has no weighted traffic (configure traffic mode with an ALB listener)")),
            Action::SetFlag { .. } => Err(DriverError::permanent(op, "no feature flags")),
        }
    }

    fn deployment_configuration(r: &RollingConfig) -> DeploymentConfiguration {
        DeploymentConfiguration::builder()
            .minimum_healthy_percent(r.minimum_healthy_percent)
            .maximum_percent(r.maximum_percent)
            .deployment_circuit_breaker(
                DeploymentCircuitBreaker::builder()
                    .enable(true)
                    .rollback(r.circuit_breaker_rollback)
                    .build(),
            )
            .build()
    }

    async fn rolling_deploy(
        &self,
        target: &Target,
        r: &RollingConfig,
        revision: &Revision,
        replicas: u32,
    ) -> Result<(), DriverError> {
        let op = format!("deploy {} x{replicas}", revision.id);
        check_revision_id(&op, &revision.id)?;
        let n = i32::try_from(replicas)
            .map_err(|_| DriverError::permanent(&op, "too many replicas"))?;
        let (name, s) = self.rolling_service(target).await?;
        let Some(s) = s else {
            let td = self.task_definition_for(target, revision, None).await?;
            let mut tags = Self::tags(target, &revision.id);
            tags.retain(|t| t.key() == Some(TARGET_TAG));
            tags.push(
                Tag::builder()
                    .key(REQUESTED_TAG)
                    .value(revision.id.as_str())
                    .build(),
            );
            self.ecs
                .create_service()
                .cluster(&self.config.cluster)
                .service_name(&name)
                .task_definition(&td)
                .desired_count(n)
                .launch_type(self.launch_type())
                .network_configuration(self.network()?)
                .deployment_configuration(Self::deployment_configuration(r))
                .set_tags(Some(tags))
                .send()
                .await
                .map_err(|e| sdk_error("create service", &e))?;
            return Ok(());
        };
        if let Some(td) = s.task_definition() {
            let running = self.revision_of_td(td).await?;
            if running != revision.id && s.desired_count() > 0 {
                return Err(DriverError::permanent(
                    op,
                    format!(
                        "{running} still has {} desired tasks; native rolling runs one revision at a time (side_by_side is off): scale it to 0 first",
                        s.desired_count()
                    ),
                ));
            }
        }
        let td = self
            .task_definition_for(target, revision, s.task_definition())
            .await?;
        if services::tag(&s, REQUESTED_TAG) != Some(revision.id.as_str()) {
            if let Some(arn) = s.service_arn() {
                self.ecs
                    .tag_resource()
                    .resource_arn(arn)
                    .tags(
                        Tag::builder()
                            .key(REQUESTED_TAG)
                            .value(revision.id.as_str())
                            .build(),
                    )
                    .send()
                    .await
                    .map_err(|e| sdk_error("tag service", &e))?;
            }
        }
        if s.task_definition() == Some(td.as_str()) && s.desired_count() == n {
            return Ok(());
        }
        self.ecs
            .update_service()
            .cluster(&self.config.cluster)
            .service(&name)
            .desired_count(n)
            .task_definition(&td)
            .deployment_configuration(Self::deployment_configuration(r))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| sdk_error("update service", &e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_ecs::types::Deployment;

    fn map() -> HashMap<String, RevisionId> {
        [("td:1", "v1"), ("td:2", "v2")]
            .iter()
            .map(|(a, r)| (a.to_string(), RevisionId::new(*r)))
            .collect()
    }
    fn dep(
        status: &str,
        td: &str,
        desired: i32,
        running: i32,
        state: DeploymentRolloutState,
    ) -> Deployment {
        let failed = if state == DeploymentRolloutState::Failed {
            3
        } else {
            0
        };
        Deployment::builder()
            .status(status)
            .task_definition(td)
            .desired_count(desired)
            .running_count(running)
            .rollout_state(state)
            .failed_tasks(failed)
            .build()
    }
    fn svc(td: &str, requested: &str, running: i32, deps: Vec<Deployment>) -> Service {
        Service::builder()
            .status("ACTIVE")
            .task_definition(td)
            .desired_count(2)
            .running_count(running)
            .tags(Tag::builder().key(REQUESTED_TAG).value(requested).build())
            .set_deployments(Some(deps))
            .build()
    }

    #[test]
    fn update_service_carries_the_deployment_configuration() {
        let r = RollingConfig {
            minimum_healthy_percent: 50,
            maximum_percent: 150,
            circuit_breaker_rollback: true,
        };
        let c = EcsDriver::deployment_configuration(&r);
        assert_eq!(
            (c.minimum_healthy_percent(), c.maximum_percent()),
            (Some(50), Some(150))
        );
        let cb = c.deployment_circuit_breaker().unwrap();
        assert!(cb.enable() && cb.rollback());
    }

    #[test]
    fn a_rolling_update_in_progress_lists_both_revisions() {
        let s = svc(
            "td:2",
            "v2",
            3,
            vec![
                dep("PRIMARY", "td:2", 2, 1, DeploymentRolloutState::InProgress),
                dep("ACTIVE", "td:1", 2, 2, DeploymentRolloutState::Completed),
            ],
        );
        let f = analyse(&s, &map()).unwrap();
        assert_eq!(
            f.iter()
                .map(|r| (r.revision.as_str(), r.desired, r.ready))
                .collect::<Vec<_>>(),
            [("v1", 2, 2), ("v2", 2, 1)]
        );
        assert_eq!(f.iter().map(|r| u32::from(r.weight)).sum::<u32>(), 100);
    }

    #[test]
    fn a_failed_deployment_is_an_error_not_success() {
        let failed = svc(
            "td:2",
            "v2",
            2,
            vec![dep("PRIMARY", "td:2", 2, 0, DeploymentRolloutState::Failed)],
        );
        assert!(analyse(&failed, &map())
            .unwrap_err()
            .contains("failed the deployment of v2"));
        // The circuit breaker rolled back: the service runs v1 again although v2 was asked for.
        let rolled_back = svc(
            "td:1",
            "v2",
            2,
            vec![
                dep("PRIMARY", "td:1", 2, 2, DeploymentRolloutState::InProgress),
                dep("ACTIVE", "td:2", 0, 0, DeploymentRolloutState::Failed),
            ],
        );
        assert!(analyse(&rolled_back, &map()).unwrap_err().contains("v2"));
        // Once the engine asks for v1 again (its own rollback), v1 is simply observed.
        let restored = svc(
            "td:1",
            "v1",
            2,
            vec![dep(
                "PRIMARY",
                "td:1",
                2,
                2,
                DeploymentRolloutState::Completed,
            )],
        );
        assert_eq!(analyse(&restored, &map()).unwrap()[0].ready, 2);
    }
}
