//! What the ECS driver needs to know: the cluster, the base task definition, the network,
//! and how traffic moves (an ALB listener the driver owns, or ECS's native rolling update).
//! Built with [`EcsConfig::builder`]; `build` refuses bad values naming the field.

use shipcore::model::FieldError;
use std::time::Duration;

/// A configuration value is wrong: which field, and what is wrong with it.
/// It wraps a [`FieldError`]; `e.field` and `e.problem` read its fields.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("ECS driver configuration: {0}")]
pub struct ConfigError(pub FieldError);

shipcore::field_error_wrapper!(ConfigError);

/// How ECS places tasks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LaunchType {
    /// AWS Fargate (the default).
    Fargate,
    /// EC2 container instances.
    Ec2,
}

/// The `awsvpc` network of every task: subnets and security groups (always sent: ECS needs
/// them for `awsvpc`, and moto crashes without them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Network {
    /// Subnet ids (at least one).
    pub subnets: Vec<String>,
    /// Security group ids (at least one).
    pub security_groups: Vec<String>,
    /// Give tasks a public IP (`assignPublicIp`).
    pub assign_public_ip: bool,
}

/// Where production traffic is weighted: a listener's default action or one listener rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListenerRef {
    /// An ALB listener ARN: its default action is the weighted forward.
    Listener(String),
    /// A listener rule ARN: its action is the weighted forward.
    Rule(String),
}

impl ListenerRef {
    /// The ARN.
    pub fn arn(&self) -> &str {
        match self {
            ListenerRef::Listener(a) | ListenerRef::Rule(a) => a,
        }
    }
}

/// How each revision's target group is created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetGroupTemplate {
    /// The container port tasks serve on (target group port and load balancer container port).
    pub port: u16,
    /// `HTTP` or `HTTPS`.
    pub protocol: String,
    /// The VPC id of the target groups.
    pub vpc_id: String,
    /// Health check path (`/health`).
    pub health_check_path: String,
    /// Health check interval, 5..=300 s.
    pub health_check_interval: Duration,
    /// Consecutive successes before a target is healthy, 2..=10.
    pub healthy_threshold: u32,
}

impl TargetGroupTemplate {
    /// HTTP on `port` in `vpc_id`, checking `/health` every 10 s, healthy after 2 successes.
    pub fn new(port: u16, vpc_id: impl Into<String>) -> Self {
        TargetGroupTemplate {
            port,
            protocol: "HTTP".into(),
            vpc_id: vpc_id.into(),
            health_check_path: "/health".into(),
            health_check_interval: Duration::from_secs(10),
            healthy_threshold: 2,
        }
    }

    /// The health check path.
    #[must_use]
    pub fn health_check_path(mut self, path: impl Into<String>) -> Self {
        self.health_check_path = path.into();
        self
    }
}

/// Traffic owned by the driver: one service and target group per revision, weights on a
/// listener (canary, linear, blue-green).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrafficConfig {
    /// The production listener or rule whose forward action is weighted.
    pub listener: ListenerRef,
    /// A test listener: forwards to the newest revision, for a blue-green preview.
    pub test_listener: Option<String>,
    /// How target groups are created.
    pub target_group: TargetGroupTemplate,
}

/// ECS's own rolling update on one service, with the deployment circuit breaker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RollingConfig {
    /// `minimumHealthyPercent` (0..=100).
    pub minimum_healthy_percent: i32,
    /// `maximumPercent` (100..=200, and above the minimum).
    pub maximum_percent: i32,
    /// Roll back when the circuit breaker trips (`deploymentCircuitBreaker.rollback`).
    pub circuit_breaker_rollback: bool,
}

impl Default for RollingConfig {
    /// 100 / 200 with the circuit breaker rolling back.
    fn default() -> Self {
        RollingConfig {
            minimum_healthy_percent: 100,
            maximum_percent: 200,
            circuit_breaker_rollback: true,
        }
    }
}

/// How revisions are run and traffic moved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// One service and target group per revision, weights on an ALB listener.
    Traffic(TrafficConfig),
    /// One service (named after the target), updated with ECS's rolling deployment.
    NativeRolling(RollingConfig),
}

/// The ECS driver's configuration; see [`EcsConfig::builder`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EcsConfig {
    /// Cluster name or ARN.
    pub cluster: String,
    /// Base task definition (family, `family:revision` or ARN) every revision derives from.
    pub task_definition: String,
    /// The container whose image becomes the revision's artifact.
    pub container: String,
    /// Task network.
    pub network: Network,
    /// Launch type.
    pub launch_type: LaunchType,
    /// Traffic or native rolling.
    pub mode: Mode,
    /// How long `Retire` waits after taking traffic away (draining). `None`: the target
    /// group's `deregistration_delay.timeout_seconds`.
    pub deregistration_wait: Option<Duration>,
    /// Timeout of one API call attempt (the SDK's own retries are off).
    pub call_timeout: Duration,
    /// TCP/TLS connect timeout.
    pub connect_timeout: Duration,
}

/// Builds an [`EcsConfig`]; [`build`](EcsConfigBuilder::build) checks it.
#[derive(Debug, Clone)]
#[must_use]
pub struct EcsConfigBuilder {
    config: EcsConfig,
}

impl EcsConfig {
    /// A configuration for `cluster`, deriving revisions from `task_definition`, putting the
    /// artifact into `container`. Defaults: Fargate, native rolling 100/200 with rollback,
    /// deregistration wait read from the target group, 10 s call and 3 s connect timeouts.
    pub fn builder(
        cluster: impl Into<String>,
        task_definition: impl Into<String>,
        container: impl Into<String>,
    ) -> EcsConfigBuilder {
        EcsConfigBuilder {
            config: EcsConfig {
                cluster: cluster.into(),
                task_definition: task_definition.into(),
                container: container.into(),
                network: Network {
                    subnets: Vec::new(),
                    security_groups: Vec::new(),
                    assign_public_ip: false,
                },
                launch_type: LaunchType::Fargate,
                mode: Mode::NativeRolling(RollingConfig::default()),
                deregistration_wait: None,
                call_timeout: Duration::from_secs(10),
                connect_timeout: Duration::from_secs(3),
            },
        }
    }

    /// The traffic configuration, when the driver owns traffic.
    pub fn traffic(&self) -> Option<&TrafficConfig> {
        match &self.mode {
            Mode::Traffic(t) => Some(t),
            Mode::NativeRolling(_) => None,
        }
    }
}

impl EcsConfigBuilder {
    /// Subnets and security groups of the tasks.
    pub fn network(mut self, subnets: &[&str], security_groups: &[&str]) -> Self {
        self.config.network.subnets = subnets.iter().map(|s| s.to_string()).collect();
        self.config.network.security_groups =
            security_groups.iter().map(|s| s.to_string()).collect();
        self
    }
    /// Give tasks a public IP.
    pub fn assign_public_ip(mut self, on: bool) -> Self {
        self.config.network.assign_public_ip = on;
        self
    }
    /// The launch type.
    pub fn launch_type(mut self, launch_type: LaunchType) -> Self {
        self.config.launch_type = launch_type;
        self
    }
    /// Traffic owned by the driver through `listener`.
    pub fn traffic(mut self, listener: ListenerRef, target_group: TargetGroupTemplate) -> Self {
        self.config.mode = Mode::Traffic(TrafficConfig {
            listener,
            test_listener: None,
            target_group,
        });
        self
    }
    /// A test listener for blue-green previews (traffic mode only).
    pub fn test_listener(mut self, arn: impl Into<String>) -> Self {
        if let Mode::Traffic(t) = &mut self.config.mode {
            t.test_listener = Some(arn.into());
        }
        self
    }
    /// ECS's native rolling update.
    pub fn native_rolling(mut self, rolling: RollingConfig) -> Self {
        self.config.mode = Mode::NativeRolling(rolling);
        self
    }
    /// A fixed draining wait for `Retire` (0 in tests) instead of the target group's delay.
    pub fn deregistration_wait(mut self, wait: Duration) -> Self {
        self.config.deregistration_wait = Some(wait);
        self
    }
    /// Per-attempt call timeout and connect timeout.
    pub fn timeouts(mut self, call: Duration, connect: Duration) -> Self {
        self.config.call_timeout = call;
        self.config.connect_timeout = connect;
        self
    }

    /// Checks every field and returns the configuration.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the first bad field.
    pub fn build(self) -> Result<EcsConfig, ConfigError> {
        let c = self.config;
        let nonempty = |field: &str, v: &str| {
            if v.trim().is_empty() {
                Err(ConfigError::from(FieldError::new(
                    field,
                    "must not be empty",
                )))
            } else {
                Ok(())
            }
        };
        nonempty("cluster", &c.cluster)?;
        nonempty("task_definition", &c.task_definition)?;
        nonempty("container", &c.container)?;
        if c.network.subnets.is_empty() {
            return Err(ConfigError::from(FieldError::new(
                "network.subnets",
                "at least one subnet is needed for awsvpc",
            )));
        }
        if c.network.security_groups.is_empty() {
            return Err(ConfigError::from(FieldError::new(
                "network.security_groups",
                "at least one security group is needed (always sent in awsvpcConfiguration)",
            )));
        }
        for (field, list) in [
            ("network.subnets", &c.network.subnets),
            ("network.security_groups", &c.network.security_groups),
        ] {
            if list.iter().any(|s| s.trim().is_empty()) {
                return Err(ConfigError::from(FieldError::new(
                    field,
                    "holds an empty id",
                )));
            }
        }
        if c.call_timeout.is_zero() {
            return Err(ConfigError::from(FieldError::new(
                "timeouts.call",
                "must be longer than zero",
            )));
        }
        if c.connect_timeout.is_zero() {
            return Err(ConfigError::from(FieldError::new(
                "timeouts.connect",
                "must be longer than zero",
            )));
        }
        match &c.mode {
            Mode::Traffic(t) => check_traffic(t)?,
            Mode::NativeRolling(r) => check_rolling(r)?,
        }
        Ok(c)
    }
}

fn check_traffic(t: &TrafficConfig) -> Result<(), ConfigError> {
    if !t.listener.arn().starts_with("arn:") {
        let field = match t.listener {
            ListenerRef::Listener(_) => "traffic.listener",
            ListenerRef::Rule(_) => "traffic.rule",
        };
        return Err(ConfigError::from(FieldError::new(
            field,
            format!("{:?} is not an ARN", t.listener.arn()),
        )));
    }
    if let Some(test) = &t.test_listener {
        if !test.starts_with("arn:") {
            return Err(ConfigError::from(FieldError::new(
                "traffic.test_listener",
                format!("{test:?} is not an ARN"),
            )));
        }
        if test == t.listener.arn() {
            return Err(ConfigError::from(FieldError::new(
                "traffic.test_listener",
                "must differ from the production listener",
            )));
        }
    }
    let g = &t.target_group;
    if g.port == 0 {
        return Err(ConfigError::from(FieldError::new(
            "traffic.target_group.port",
            "must be 1..=65535",
        )));
    }
    if !matches!(g.protocol.as_str(), "HTTP" | "HTTPS") {
        return Err(ConfigError::from(FieldError::new(
            "traffic.target_group.protocol",
            format!("{:?}: an ALB target group is HTTP or HTTPS", g.protocol),
        )));
    }
    if g.vpc_id.trim().is_empty() {
        return Err(ConfigError::from(FieldError::new(
            "traffic.target_group.vpc_id",
            "must not be empty",
        )));
    }
    if !g.health_check_path.starts_with('/') {
        return Err(ConfigError::from(FieldError::new(
            "traffic.target_group.health_check_path",
            "must start with '/'",
        )));
    }
    let secs = g.health_check_interval.as_secs();
    if !(5..=300).contains(&secs) {
        return Err(ConfigError::from(FieldError::new(
            "traffic.target_group.health_check_interval",
            format!("{secs} s: must be 5..=300 s"),
        )));
    }
    if !(2..=10).contains(&g.healthy_threshold) {
        return Err(ConfigError::from(FieldError::new(
            "traffic.target_group.healthy_threshold",
            "must be 2..=10",
        )));
    }
    Ok(())
}

fn check_rolling(r: &RollingConfig) -> Result<(), ConfigError> {
    if !(0..=100).contains(&r.minimum_healthy_percent) {
        return Err(ConfigError::from(FieldError::new(
            "native_rolling.minimum_healthy_percent",
            format!("{}: must be 0..=100", r.minimum_healthy_percent),
        )));
    }
    if !(100..=200).contains(&r.maximum_percent) {
        return Err(ConfigError::from(FieldError::new(
            "native_rolling.maximum_percent",
            format!("{}: must be 100..=200", r.maximum_percent),
        )));
    }
    if r.maximum_percent <= r.minimum_healthy_percent {
        return Err(ConfigError::from(FieldError::new(
            "native_rolling.maximum_percent",
            "must be above minimum_healthy_percent, or no task can ever be replaced",
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> EcsConfigBuilder {
        EcsConfig::builder("c", "web", "app").network(&["subnet-1"], &["sg-1"])
    }
    fn traffic() -> EcsConfigBuilder {
        base().traffic(
            ListenerRef::Listener("arn:aws:elasticloadbalancing:l".into()),
            TargetGroupTemplate::new(8080, "vpc-1"),
        )
    }

    #[test]
    fn good_configs_build() {
        assert!(base().build().is_ok());
        let c = traffic().test_listener("arn:aws:test").build().unwrap();
        assert_eq!(
            c.traffic().unwrap().test_listener.as_deref(),
            Some("arn:aws:test")
        );
    }

    #[test]
    fn bad_fields_are_named() {
        let field = |b: EcsConfigBuilder| b.build().unwrap_err().0.field;
        assert_eq!(
            field(EcsConfig::builder("c", "web", "app").network(&["s"], &[])),
            "network.security_groups"
        );
        assert_eq!(
            field(EcsConfig::builder("c", "web", "app")),
            "network.subnets"
        );
        assert_eq!(field(EcsConfig::builder(" ", "web", "app")), "cluster");
        assert_eq!(
            field(base().traffic(
                ListenerRef::Rule("listener/x".into()),
                TargetGroupTemplate::new(80, "v")
            )),
            "traffic.rule"
        );
        assert_eq!(
            field(base().traffic(
                ListenerRef::Listener("arn:l".into()),
                TargetGroupTemplate::new(0, "v")
            )),
            "traffic.target_group.port"
        );
        assert_eq!(
            field(traffic().test_listener("arn:aws:elasticloadbalancing:l")),
            "traffic.test_listener"
        );
        assert_eq!(
            field(base().native_rolling(RollingConfig {
                minimum_healthy_percent: 100,
                maximum_percent: 100,
                circuit_breaker_rollback: true
            })),
            "native_rolling.maximum_percent"
        );
        assert_eq!(
            field(base().timeouts(Duration::ZERO, Duration::from_secs(1))),
            "timeouts.call"
        );
        let e = EcsConfig::builder("c", "web", "app")
            .network(&["s"], &[])
            .build()
            .unwrap_err();
        assert!(e.to_string().contains("network.security_groups"), "{e}");
    }
}
