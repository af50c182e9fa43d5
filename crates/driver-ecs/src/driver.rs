//! [`EcsDriver`]: the [`Driver`] over the ECS and ELBv2 clients, with the SDK's own retries
//! off (the engine retries and journals each attempt) and every call under a timeout.

use crate::config::{EcsConfig, LaunchType, Mode};
use crate::error::sdk_error;
use crate::services::{TaskDefinitions, REVISION_TAG, TARGET_TAG};
use crate::taskdef::{self, TaskSpec};
use async_trait::async_trait;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::SdkConfig;
use aws_sdk_ecs::types::{
    AssignPublicIp, AwsVpcConfiguration, NetworkConfiguration, Tag, TaskDefinition,
};
use shipcore::driver::{Capabilities, Driver, DriverError};
use shipcore::model::{check_identifier, Action, FleetState, Revision, RevisionId, Target};
use tracing::Instrument;

/// The ECS driver. Cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct EcsDriver {
    pub(crate) config: EcsConfig,
    pub(crate) ecs: aws_sdk_ecs::Client,
    pub(crate) elb: aws_sdk_elasticloadbalancingv2::Client,
    pub(crate) task_defs: TaskDefinitions,
}

impl EcsDriver {
    /// A driver with clients made from `sdk` (region, credentials, endpoint), the SDK's
    /// retries turned off and the configured timeouts set.
    pub fn new(config: EcsConfig, sdk: &SdkConfig) -> Self {
        let timeouts = TimeoutConfig::builder()
            .connect_timeout(config.connect_timeout)
            .operation_attempt_timeout(config.call_timeout)
            .operation_timeout(config.call_timeout)
            .build();
        let ecs = aws_sdk_ecs::config::Builder::from(sdk)
            .retry_config(RetryConfig::disabled())
            .timeout_config(timeouts.clone())
            .build();
        let elb = aws_sdk_elasticloadbalancingv2::config::Builder::from(sdk)
            .retry_config(RetryConfig::disabled())
            .timeout_config(timeouts)
            .build();
        EcsDriver {
            config,
            ecs: aws_sdk_ecs::Client::from_conf(ecs),
            elb: aws_sdk_elasticloadbalancingv2::Client::from_conf(elb),
            task_defs: TaskDefinitions::default(),
        }
    }

    /// A driver from the environment's AWS configuration (region, credentials chain).
    pub async fn from_env(config: EcsConfig) -> Self {
        let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
        Self::new(config, &sdk)
    }

    /// The configuration.
    pub fn config(&self) -> &EcsConfig {
        &self.config
    }

    /// The `shipcore:target` tag value of a target: `<service>/<environment>`.
    pub(crate) fn target_tag(target: &Target) -> String {
        format!("{}/{}", target.service, target.environment)
    }

    /// ECS tags for a revision's resources.
    pub(crate) fn tags(target: &Target, revision: &RevisionId) -> Vec<Tag> {
        vec![
            Tag::builder()
                .key(TARGET_TAG)
                .value(Self::target_tag(target))
                .build(),
            Tag::builder()
                .key(REVISION_TAG)
                .value(revision.as_str())
                .build(),
        ]
    }

    /// The `awsvpc` network configuration, security groups always included.
    pub(crate) fn network(&self) -> Result<NetworkConfiguration, DriverError> {
        let n = &self.config.network;
        let vpc = AwsVpcConfiguration::builder()
            .set_subnets(Some(n.subnets.clone()))
            .set_security_groups(Some(n.security_groups.clone()))
            .assign_public_ip(if n.assign_public_ip {
                AssignPublicIp::Enabled
            } else {
                AssignPublicIp::Disabled
            })
            .build()
            .map_err(|e| DriverError::permanent("network configuration", e.to_string()))?;
        Ok(NetworkConfiguration::builder()
            .awsvpc_configuration(vpc)
            .build())
    }

    pub(crate) fn launch_type(&self) -> aws_sdk_ecs::types::LaunchType {
        match self.config.launch_type {
            LaunchType::Fargate => aws_sdk_ecs::types::LaunchType::Fargate,
            LaunchType::Ec2 => aws_sdk_ecs::types::LaunchType::Ec2,
        }
    }

    /// The task definition ARN for `revision`: the one `current` names when its content is
    /// what the base with this artifact gives, else a newly registered revision.
    pub(crate) async fn task_definition_for(
        &self,
        target: &Target,
        revision: &Revision,
        current: Option<&str>,
    ) -> Result<String, DriverError> {
        let op = format!("task definition for {}", revision.id);
        let base = self
            .task_defs
            .get(&self.ecs, &self.config.task_definition)
            .await?;
        let wanted = taskdef::derive(
            &base,
            &self.config.container,
            &revision.artifact,
            revision.id.as_str(),
        )
        .map_err(|m| DriverError::permanent(&op, m))?;
        let current_td: Option<TaskDefinition> = match current {
            Some(arn) => Some(self.task_defs.get(&self.ecs, arn).await?),
            None => None,
        };
        if !taskdef::needs_register(current_td.as_ref(), &wanted) {
            if let Some(arn) = current {
                return Ok(arn.to_string());
            }
        }
        if !taskdef::needs_register(Some(&base), &wanted) {
            if let Some(arn) = base.task_definition_arn() {
                return Ok(arn.to_string());
            }
        }
        self.register(target, revision, wanted).await
    }

    async fn register(
        &self,
        target: &Target,
        revision: &Revision,
        spec: TaskSpec,
    ) -> Result<String, DriverError> {
        let r = spec.rest;
        let out = self
            .ecs
            .register_task_definition()
            .family(spec.family)
            .set_container_definitions(Some(spec.containers))
            .set_task_role_arn(r.task_role_arn)
            .set_execution_role_arn(r.execution_role_arn)
            .set_network_mode(r.network_mode)
            .set_volumes(r.volumes)
            .set_placement_constraints(r.placement_constraints)
            .set_requires_compatibilities(r.requires_compatibilities)
            .set_cpu(r.cpu)
            .set_memory(r.memory)
            .set_pid_mode(r.pid_mode)
            .set_ipc_mode(r.ipc_mode)
            .set_proxy_configuration(r.proxy_configuration)
            .set_runtime_platform(r.runtime_platform)
            .set_ephemeral_storage(r.ephemeral_storage)
            .set_tags(Some(Self::tags(target, &revision.id)))
            .send()
            .await
            .map_err(|e| sdk_error("register task definition", &e))?;
        let arn = out
            .task_definition()
            .and_then(|t| t.task_definition_arn())
            .map(str::to_string)
            .ok_or_else(|| {
                DriverError::transient("register task definition", "no ARN in the answer")
            })?;
        tracing::info!(revision = %revision.id, task_definition = %arn, "registered task definition");
        Ok(arn)
    }
}

/// An action wrong on its face: permanent, before any call.
pub(crate) fn check_revision_id(operation: &str, id: &RevisionId) -> Result<(), DriverError> {
    check_identifier("revision.id", id.as_str())
        .map_err(|e| DriverError::permanent(operation, e.to_string()))
}

#[async_trait]
impl Driver for EcsDriver {
    /// Traffic mode: weighted traffic, side by side, and a preview when a test listener is
    /// configured. Native rolling: `native_rolling` only (one service, one revision at a time).
    fn capabilities(&self) -> Capabilities {
        match &self.config.mode {
            Mode::Traffic(t) => Capabilities {
                weighted_traffic: true,
                side_by_side: true,
                native_rolling: false,
                feature_flags: false,
                preview: t.test_listener.is_some(),
            },
            Mode::NativeRolling(_) => Capabilities {
                native_rolling: true,
                ..Capabilities::default()
            },
        }
    }

    async fn observe(&self, target: &Target) -> Result<FleetState, DriverError> {
        let span = tracing::debug_span!("ecs.observe", target = %target);
        async {
            match &self.config.mode {
                Mode::Traffic(t) => self.observe_traffic(target, t).await,
                Mode::NativeRolling(_) => self.observe_rolling(target).await,
            }
        }
        .instrument(span)
        .await
    }

    async fn apply(&self, target: &Target, action: &Action) -> Result<(), DriverError> {
        let span = tracing::info_span!("ecs.apply", target = %target, action = %action.describe());
        async {
            if let Action::SetFlag { .. } = action {
                return Err(DriverError::permanent(
                    action.describe(),
                    "the ECS driver manages no feature flags",
                ));
            }
            match &self.config.mode {
                Mode::Traffic(t) => self.apply_traffic(target, t, action).await,
                Mode::NativeRolling(r) => self.apply_rolling(target, r, action).await,
            }
        }
        .instrument(span)
        .await
    }

    async fn preflight(&self, target: &Target, candidate: &Revision) -> Result<(), DriverError> {
        let span =
            tracing::info_span!("ecs.preflight", target = %target, candidate = %candidate.id);
        self.preflight_checks(target, candidate)
            .instrument(span)
            .await
    }
}
