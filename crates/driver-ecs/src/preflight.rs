//! Read-only checks before a rollout: the cluster is active, the base task definition has
//! the configured container, the listener (or rule) and test listener exist with a forward
//! ALB can take, and the candidate's names fit. Subnets and security groups are not checked
//! here (that needs the EC2 API, a client this crate does not build): ECS checks them at
//! `CreateService` and the error names them.

use crate::config::{ListenerRef, Mode};
use crate::driver::{check_revision_id, EcsDriver};
use crate::error::sdk_error;
use crate::listener::{self, forward_groups};
use crate::names::{service_name, target_group_name, SERVICE_NAME_MAX, TARGET_GROUP_NAME_MAX};
use crate::taskdef;
use shipcore::driver::DriverError;
use shipcore::model::{Revision, Target};

impl EcsDriver {
    pub(crate) async fn preflight_checks(
        &self,
        target: &Target,
        candidate: &Revision,
    ) -> Result<(), DriverError> {
        let op = "preflight";
        check_revision_id(op, &candidate.id)?;
        if candidate.artifact.trim().is_empty() {
            return Err(DriverError::permanent(
                op,
                "candidate.artifact: the image must not be empty",
            ));
        }
        let (svc, tg) = (
            service_name(&target.service, candidate.id.as_str()),
            target_group_name(&target.service, &target.environment, candidate.id.as_str()),
        );
        if svc.len() > SERVICE_NAME_MAX || tg.len() > TARGET_GROUP_NAME_MAX {
            return Err(DriverError::permanent(
                op,
                format!("names do not fit: {svc} / {tg}"),
            ));
        }
        let out = self
            .ecs
            .describe_clusters()
            .clusters(&self.config.cluster)
            .send()
            .await
            .map_err(|e| sdk_error("describe cluster", &e))?;
        let active = out.clusters().iter().any(|c| c.status() == Some("ACTIVE"));
        if !active {
            return Err(DriverError::permanent(
                op,
                format!(
                    "cluster: {} is not an active ECS cluster",
                    self.config.cluster
                ),
            ));
        }
        let base = self
            .task_defs
            .get(&self.ecs, &self.config.task_definition)
            .await?;
        taskdef::derive(
            &base,
            &self.config.container,
            &candidate.artifact,
            candidate.id.as_str(),
        )
        .map_err(|m| DriverError::permanent(op, format!("task_definition/container: {m}")))?;
        if let Mode::Traffic(t) = &self.config.mode {
            let groups = forward_groups(&listener::read_actions(&self.elb, &t.listener).await?);
            if !groups.is_empty() {
                let arns: Vec<String> = groups.iter().map(|(a, _)| a.clone()).collect();
                self.elb
                    .describe_target_groups()
                    .set_target_group_arns(Some(arns))
                    .send()
                    .await
                    .map_err(|e| sdk_error("describe the listener's target groups", &e))?;
            }
            if let Some(test) = &t.test_listener {
                listener::read_actions(&self.elb, &ListenerRef::Listener(test.clone())).await?;
            }
        }
        Ok(())
    }
}
