//! Traffic mode: one ECS service and target group per revision, weights on the listener.
//! `Retire` takes traffic away first, waits out draining, scales to 0, deletes the service
//! and then its target group. The first revision deployed where nothing serves gets 100%.

use crate::config::TrafficConfig;
use crate::driver::{check_revision_id, EcsDriver};
use crate::error::sdk_error;
use crate::listener::{self, forward_action, forward_groups};
use crate::names::{service_name, target_group_name};
use crate::services::{self, REVISION_TAG, TARGET_TAG};
use crate::weights::{plan_route, to_percent};
use aws_sdk_ecs::types::{LoadBalancer, Service};
use shipcore::driver::DriverError;
use shipcore::model::{Action, FleetState, Revision, RevisionId, RevisionState, Target};

/// A revision's service and target group.
struct Deployed {
    revision: RevisionId,
    service: Service,
    target_group: Option<String>,
}

fn target_group_of(s: &Service) -> Option<String> {
    s.load_balancers()
        .iter()
        .find_map(|l| l.target_group_arn())
        .map(str::to_string)
}

impl EcsDriver {
    async fn deployed(&self, target: &Target) -> Result<Vec<Deployed>, DriverError> {
        let tag = Self::target_tag(target);
        let list = services::of_target(&self.ecs, &self.config.cluster, &tag).await?;
        Ok(list
            .into_iter()
            .filter_map(|s| {
                let revision = RevisionId::new(services::tag(&s, REVISION_TAG)?);
                Some(Deployed {
                    target_group: target_group_of(&s),
                    revision,
                    service: s,
                })
            })
            .collect())
    }

    pub(crate) async fn observe_traffic(
        &self,
        target: &Target,
        t: &TrafficConfig,
    ) -> Result<FleetState, DriverError> {
        let deployed = self.deployed(target).await?;
        let groups = forward_groups(&listener::read_actions(&self.elb, &t.listener).await?);
        let raw: Vec<(RevisionId, i32)> = deployed
            .iter()
            .map(|d| {
                let w = d
                    .target_group
                    .as_ref()
                    .and_then(|tg| groups.iter().find(|(a, _)| a == tg))
                    .map_or(0, |(_, w)| *w);
                (d.revision.clone(), w)
            })
            .collect();
        let percent = to_percent(&raw);
        let mut revisions = Vec::new();
        for d in &deployed {
            let desired = u32::try_from(d.service.desired_count()).unwrap_or(0);
            let healthy = match &d.target_group {
                Some(tg) => listener::healthy_targets(&self.elb, tg).await?,
                None => 0,
            };
            // One service per revision: every healthy task runs this revision's spec.
            revisions.push(RevisionState {
                revision: d.revision.clone(),
                desired,
                ready: healthy.min(desired),
                updated: healthy.min(desired),
                weight: percent.get(&d.revision).copied().unwrap_or(0),
            });
        }
        revisions.sort_by(|a, b| a.revision.cmp(&b.revision));
        Ok(FleetState {
            revisions,
            flags: Default::default(),
        })
    }

    pub(crate) async fn apply_traffic(
        &self,
        target: &Target,
        t: &TrafficConfig,
        action: &Action,
    ) -> Result<(), DriverError> {
        match action {
            Action::Deploy { revision, replicas } => {
                self.deploy(target, t, revision, *replicas).await
            }
            Action::Scale { revision, replicas } => {
                let op = action.describe();
                check_revision_id(&op, revision)?;
                let name = service_name(&target.service, revision.as_str());
                match services::find(&self.ecs, &self.config.cluster, &name).await? {
                    None if *replicas == 0 => Ok(()),
                    None => Err(DriverError::permanent(
                        op,
                        format!("{revision} is not deployed on {target}"),
                    )),
                    Some(s) => {
                        services::check_owner(&s, &Self::target_tag(target), &op)?;
                        self.set_desired(&s, &name, *replicas, None).await
                    }
                }
            }
            Action::Route { weights } => {
                let deployed = self.deployed(target).await?;
                let ids: Vec<RevisionId> = deployed.iter().map(|d| d.revision.clone()).collect();
                let plan = plan_route(weights, &ids)?;
                let mut groups = Vec::new();
                for (rev, w) in plan {
                    let tg = deployed
                        .iter()
                        .find(|d| d.revision == rev)
                        .and_then(|d| d.target_group.clone())
                        .ok_or_else(|| {
                            DriverError::permanent(
                                action.describe(),
                                format!("{rev} has no target group"),
                            )
                        })?;
                    groups.push((tg, w));
                }
                listener::write_action(&self.elb, &t.listener, forward_action(&groups)?).await
            }
            Action::Retire { revision } => self.retire(target, t, revision).await,
            Action::SetFlag { .. } => Err(DriverError::permanent(
                action.describe(),
                "no feature flags",
            )),
        }
    }

    /// Sets a service's desired count (and task definition), skipping the call when both
    /// are already so.
    pub(crate) async fn set_desired(
        &self,
        s: &Service,
        name: &str,
        replicas: u32,
        task_definition: Option<&str>,
    ) -> Result<(), DriverError> {
        let n = i32::try_from(replicas).map_err(|_| {
            DriverError::permanent("update service", format!("{replicas} replicas is too many"))
        })?;
        let td_changed = task_definition.is_some_and(|td| Some(td) != s.task_definition());
        if s.desired_count() == n && !td_changed {
            return Ok(());
        }
        self.ecs
            .update_service()
            .cluster(&self.config.cluster)
            .service(name)
            .desired_count(n)
            .set_task_definition(task_definition.filter(|_| td_changed).map(str::to_string))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| sdk_error("update service", &e))
    }

    async fn deploy(
        &self,
        target: &Target,
        t: &TrafficConfig,
        revision: &Revision,
        replicas: u32,
    ) -> Result<(), DriverError> {
        let op = format!("deploy {} x{replicas}", revision.id);
        check_revision_id(&op, &revision.id)?;
        let name = service_name(&target.service, revision.id.as_str());
        let tg = match services::find(&self.ecs, &self.config.cluster, &name).await? {
            Some(s) => {
                services::check_owner(&s, &Self::target_tag(target), &op)?;
                let td = self
                    .task_definition_for(target, revision, s.task_definition())
                    .await?;
                self.set_desired(&s, &name, replicas, Some(&td)).await?;
                target_group_of(&s)
            }
            None => Some(self.create(target, t, revision, &name, replicas).await?),
        };
        let Some(tg) = tg else {
            return Ok(());
        };
        // Nothing serves yet: the first revision takes all the traffic.
        let groups = forward_groups(&listener::read_actions(&self.elb, &t.listener).await?);
        let production: i32 = groups.iter().map(|(_, w)| *w).sum();
        if production == 0 {
            tracing::info!(revision = %revision.id, "nothing serves: routing all traffic to the first revision");
            listener::write_action(
                &self.elb,
                &t.listener,
                forward_action(&[(tg.clone(), 100)])?,
            )
            .await?;
        }
        // Blue-green preview: the test listener shows the newest revision without traffic.
        let has_traffic = groups.iter().any(|(a, w)| a == &tg && *w > 0);
        if let (Some(test), false, true) = (&t.test_listener, has_traffic, replicas > 0) {
            let test = crate::config::ListenerRef::Listener(test.clone());
            let current = forward_groups(&listener::read_actions(&self.elb, &test).await?);
            if current != [(tg.clone(), 1)] {
                listener::write_action(&self.elb, &test, forward_action(&[(tg, 1)])?).await?;
            }
        }
        Ok(())
    }

    async fn create(
        &self,
        target: &Target,
        t: &TrafficConfig,
        revision: &Revision,
        name: &str,
        replicas: u32,
    ) -> Result<String, DriverError> {
        let tg_name = target_group_name(&target.service, &target.environment, revision.id.as_str());
        let target_tag = Self::target_tag(target);
        let tg = listener::ensure_target_group(
            &self.elb,
            &tg_name,
            &t.target_group,
            &[
                (TARGET_TAG, &target_tag),
                (REVISION_TAG, revision.id.as_str()),
            ],
        )
        .await?;
        let td = self.task_definition_for(target, revision, None).await?;
        let n = i32::try_from(replicas).map_err(|_| {
            DriverError::permanent("create service", format!("{replicas} replicas is too many"))
        })?;
        self.ecs
            .create_service()
            .cluster(&self.config.cluster)
            .service_name(name)
            .task_definition(&td)
            .desired_count(n)
            .launch_type(self.launch_type())
            .network_configuration(self.network()?)
            .load_balancers(
                LoadBalancer::builder()
                    .target_group_arn(&tg)
                    .container_name(&self.config.container)
                    .container_port(i32::from(t.target_group.port))
                    .build(),
            )
            .set_tags(Some(Self::tags(target, &revision.id)))
            .send()
            .await
            .map_err(|e| sdk_error("create service", &e))?;
        tracing::info!(service = name, target_group = %tg, "created service");
        Ok(tg)
    }

    async fn retire(
        &self,
        target: &Target,
        t: &TrafficConfig,
        revision: &RevisionId,
    ) -> Result<(), DriverError> {
        check_revision_id(&format!("retire {revision}"), revision)?;
        let name = service_name(&target.service, revision.as_str());
        let service = services::find(&self.ecs, &self.config.cluster, &name).await?;
        if let Some(s) = &service {
            services::check_owner(s, &Self::target_tag(target), &format!("retire {revision}"))?;
        }
        let tg = match service.as_ref().and_then(target_group_of) {
            Some(tg) => Some(tg),
            // No service (a crash between creating the group and the service): the group
            // by name, only when it is this revision's (never delete another target's).
            None => {
                let tg_name =
                    target_group_name(&target.service, &target.environment, revision.as_str());
                match listener::find_target_group(&self.elb, &tg_name).await? {
                    Some(arn) => {
                        let have = listener::target_group_tags(&self.elb, &arn).await?;
                        let target_tag = Self::target_tag(target);
                        let mine = [
                            (TARGET_TAG, target_tag.as_str()),
                            (REVISION_TAG, revision.as_str()),
                        ];
                        match listener::check_target_group_owner(&tg_name, &have, &mine, "retire") {
                            Ok(()) => Some(arn),
                            Err(e) => {
                                tracing::warn!(%e, "leaving a target group that is not ours");
                                None
                            }
                        }
                    }
                    None => None,
                }
            }
        };
        let mut drained = false;
        if let Some(tg) = &tg {
            let mut listeners = vec![t.listener.clone()];
            listeners.extend(
                t.test_listener
                    .iter()
                    .map(|a| crate::config::ListenerRef::Listener(a.clone())),
            );
            for l in &listeners {
                let groups = forward_groups(&listener::read_actions(&self.elb, l).await?);
                if groups.iter().any(|(a, _)| a == tg) {
                    let rest: Vec<(String, i32)> =
                        groups.into_iter().filter(|(a, _)| a != tg).collect();
                    listener::write_action(&self.elb, l, forward_action(&rest)?).await?;
                    drained = true;
                }
            }
        }
        if let Some(s) = &service {
            if let (true, Some(tg)) = (drained || s.desired_count() > 0, &tg) {
                let wait = match self.config.deregistration_wait {
                    Some(w) => w,
                    None => listener::deregistration_delay(&self.elb, tg).await?,
                };
                tracing::info!(?wait, revision = %revision, "waiting for the target group to drain");
                tokio::time::sleep(wait).await;
            }
            services::delete(&self.ecs, &self.config.cluster, &name).await?;
        }
        if let Some(tg) = &tg {
            listener::delete_target_group(&self.elb, tg).await?;
        }
        Ok(())
    }
}
