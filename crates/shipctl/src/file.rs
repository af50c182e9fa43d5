//! The rollout file: one YAML document that composes the library's own configuration types
//! (strategies, gates, validators, notifiers, the Prometheus source) with the target, the
//! revisions, the driver and the state directory. Unknown fields are errors.

use crate::locate::{PathIndex, Pos};
use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use shipcore::engine::{FailurePolicy, RetryPolicy};
use shipcore::gate::{GateConfig, Severity};
use shipcore::model::AnalysisStep;
use shipcore::notify::NotifierConfig;
use shipcore::strategy::{BlueGreen, Canary, FeatureFlag, Linear, Recreate, Rolling};
use shipcore::testing::Failure;
use shipcore::time::serde_opt_duration;
use shipcore::validator::ValidatorConfig;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A rollout, as a person writes it. See `examples/rollouts/` and `shipctl schema`.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RolloutFile {
    /// Rollout id: names the journal, the record and the control socket (default
    /// `<service>-<candidate version>`).
    #[serde(default)]
    pub id: Option<String>,
    /// The service and environment to change.
    pub target: TargetFile,
    /// What runs now: a revision, `observed` (whatever the driver reports serving, with its
    /// version and artifact from this state directory's earlier runs; default) or `none`
    /// (a first deploy).
    #[serde(default)]
    pub stable: StableFile,
    /// What to deploy.
    pub candidate: RevisionFile,
    /// Replicas the service ends with.
    pub replicas: u32,
    /// How traffic and capacity move: one of the six strategies, or a CodeDeploy name.
    pub strategy: StrategyFile,
    /// Severity preset (P0, P1, P2), the library's `Severity`: each phase of the rollout
    /// (a partial traffic weight or flag percentage, with the analyses that judge it) ends
    /// with a pause of 10, 15 or 30 minutes unless it already pauses, and the post-deploy
    /// monitoring watches for 1 h, 4 h or 24 h (every minute) when `monitoring` has no
    /// `window`. Requires `monitoring` (which validators to watch with).
    #[serde(default)]
    #[schemars(with = "Option<SeverityName>")]
    pub severity: Option<Severity>,
    /// Post-deploy monitoring: validators watching the candidate at 100% before the stable
    /// revision is retired; a failure rolls back.
    #[serde(default)]
    pub monitoring: Option<MonitoringFile>,
    /// The production checklist: gates checked in order before anything changes (and
    /// named by `gate` steps).
    #[serde(default)]
    #[schemars(with = "Vec<crate::schema::GateSchema>")]
    pub gates: Vec<GateConfig>,
    /// Validators, referred to by name from analysis steps.
    #[serde(default)]
    #[schemars(with = "Vec<crate::schema::ValidatorSchema>")]
    pub validators: Vec<ValidatorConfig>,
    /// Where metric validators get their numbers: `sim`, `prometheus` or `cloudwatch`
    /// (default: the simulator's metrics on the `sim` driver; required for metric
    /// validators on any other driver).
    #[serde(default)]
    pub metrics: Option<MetricsFile>,
    /// Who hears about the rollout.
    #[serde(default)]
    #[schemars(with = "Vec<crate::schema::NotifierSchema>")]
    pub notifiers: Vec<NotifierConfig>,
    /// Analysis running from the first step to the end.
    #[serde(default)]
    #[schemars(with = "Option<crate::schema::AnalysisSchema>")]
    pub background_analysis: Option<AnalysisStep>,
    /// Schema migrations: an expand step first, a contract step last, run by the team's
    /// own tool (`command`) or a directory of PostgreSQL files (`postgres`, a cargo feature).
    #[serde(default)]
    pub migrations: Option<crate::migrations::MigrationsFile>,
    /// Validators that prove the stable revision healthy after a rollback (and after a
    /// migration's expand).
    #[serde(default)]
    pub health_validators: Vec<String>,
    /// Longest time a step may take to make progress (default 10m).
    #[serde(default, with = "serde_opt_duration")]
    #[schemars(with = "Option<crate::schema::DurationText>")]
    pub progress_deadline: Option<Duration>,
    /// `rollback` (default) or `freeze` on failure.
    #[serde(default)]
    #[schemars(with = "Option<crate::schema::FailurePolicyName>")]
    pub failure_policy: Option<FailurePolicy>,
    /// How often to observe the fleet while it converges (default 2s).
    #[serde(default, with = "serde_opt_duration")]
    #[schemars(with = "Option<crate::schema::DurationText>")]
    pub poll_interval: Option<Duration>,
    /// Retries of transient driver errors.
    #[serde(default)]
    #[schemars(with = "Option<crate::schema::RetrySchema>")]
    pub retry: Option<RetryPolicy>,
    /// The platform: `sim` (default), `compose`, `k8s` or `ecs` (each built with its cargo
    /// feature).
    #[serde(default)]
    pub driver: DriverFile,
    /// Journal, records, control sockets and the simulator's state (default `.shipctl`,
    /// relative to the current directory).
    #[serde(default)]
    pub state_dir: Option<PathBuf>,
}

/// The service and environment.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TargetFile {
    /// Service name (`[A-Za-z0-9][A-Za-z0-9._-]{0,127}`).
    pub service: String,
    /// Environment name.
    pub environment: String,
    /// Platform scope (Kubernetes namespace, ECS cluster, compose project).
    #[serde(default)]
    pub namespace: Option<String>,
}

/// A revision.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RevisionFile {
    /// Driver-facing id (default `<service>-<version>`).
    #[serde(default)]
    pub id: Option<String>,
    /// Semantic version.
    #[schemars(with = "String")]
    pub version: semver::Version,
    /// What to run: an image reference, a task definition, a binary path.
    pub artifact: String,
}

/// What runs before the rollout.
#[derive(Debug, Clone, Default, schemars::JsonSchema)]
#[schemars(untagged)]
pub enum StableFile {
    /// `observed`: whatever the driver reports serving.
    #[default]
    #[schemars(with = "ObservedWord")]
    Observed,
    /// `none`: a first deploy.
    #[schemars(with = "NoneWord")]
    None,
    /// This revision.
    Revision(RevisionFile),
}

#[derive(schemars::JsonSchema)]
#[allow(dead_code)]
enum ObservedWord {
    #[serde(rename = "observed")]
    Observed,
}

#[derive(schemars::JsonSchema)]
#[allow(dead_code)]
enum NoneWord {
    #[serde(rename = "none")]
    None,
}

#[derive(schemars::JsonSchema)]
#[allow(dead_code)]
enum SeverityName {
    P0,
    P1,
    P2,
}

impl<'de> Deserialize<'de> for StableFile {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = StableFile;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("`observed`, `none` or a revision {id, version, artifact}")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<StableFile, E> {
                match v {
                    "observed" => Ok(StableFile::Observed),
                    "none" => Ok(StableFile::None),
                    _ => Err(E::custom(format!(
                        "{v:?}: expected `observed`, `none` or a revision {{id, version, artifact}}"
                    ))),
                }
            }
            fn visit_unit<E: de::Error>(self) -> Result<StableFile, E> {
                Ok(StableFile::None)
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<StableFile, A::Error> {
                RevisionFile::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(StableFile::Revision)
            }
        }
        d.deserialize_any(V)
    }
}

/// The strategy, named by its one key (`canary: {steps: [...]}`).
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum StrategyFile {
    /// Replace replicas batch by batch.
    Rolling(#[schemars(with = "crate::schema::RollingSchema")] Rolling),
    /// Deploy beside stable, then switch all traffic at once.
    BlueGreen(#[schemars(with = "crate::schema::BlueGreenSchema")] BlueGreen),
    /// Move traffic in explicit steps (`set_weight`, `pause`, `analysis`, `gate`).
    Canary(#[schemars(with = "crate::schema::CanarySchema")] Canary),
    /// Move `percent` more traffic every `interval`.
    Linear(#[schemars(with = "crate::schema::LinearSchema")] Linear),
    /// Stop stable, then start the candidate.
    Recreate(#[schemars(with = "crate::schema::RecreateSchema")] Recreate),
    /// Deploy, then raise a feature flag step by step.
    FeatureFlag(#[schemars(with = "crate::schema::FeatureFlagSchema")] FeatureFlag),
    /// An AWS CodeDeploy configuration name (`Canary10Percent5Minutes`,
    /// `Linear10PercentEvery1Minutes`, `AllAtOnce`, `OneAtATime`, `HalfAtATime`).
    Codedeploy(String),
}

impl StrategyFile {
    /// The key the strategy is written under (`canary`, `codedeploy`).
    pub fn key(&self) -> &'static str {
        match self {
            StrategyFile::Rolling(_) => "rolling",
            StrategyFile::BlueGreen(_) => "blue_green",
            StrategyFile::Canary(_) => "canary",
            StrategyFile::Linear(_) => "linear",
            StrategyFile::Recreate(_) => "recreate",
            StrategyFile::FeatureFlag(_) => "feature_flag",
            StrategyFile::Codedeploy(_) => "codedeploy",
        }
    }
}

/// Post-deploy monitoring.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MonitoringFile {
    /// Validator names.
    pub validators: Vec<String>,
    /// How long to watch (default: the severity's window; required without `severity`).
    #[serde(default, with = "serde_opt_duration")]
    #[schemars(with = "Option<crate::schema::DurationText>")]
    pub window: Option<Duration>,
    /// Time between measurements (default 1m).
    #[serde(default, with = "serde_opt_duration")]
    #[schemars(with = "Option<crate::schema::DurationText>")]
    pub every: Option<Duration>,
}

/// A metrics source.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum MetricsFile {
    /// The simulator's metrics (`error_rate{revision="{{revision}}"}`, `latency_p95{...}`);
    /// only with the `sim` driver.
    Sim {},
    /// A Prometheus server (`metrics-prom`): `url`, `auth`, `headers`, `timeout`...
    Prometheus(#[schemars(with = "crate::schema::AnyObject")] metrics_prom::PrometheusConfig),
    /// Amazon CloudWatch `GetMetricData` (`shipcore-metrics-cloudwatch`); credentials from
    /// the standard AWS chain (environment, profile, role). Needs `--features cloudwatch`.
    Cloudwatch(CloudWatchFile),
}

/// Settings of the CloudWatch source: `shipcore_metrics_cloudwatch::CloudWatchConfig`
/// (its `check` refuses bad values; errors name `metrics.cloudwatch.<field>`).
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CloudWatchFile {
    /// Region (`eu-west-1`; default: `AWS_REGION` or the profile's).
    #[serde(default)]
    pub region: Option<String>,
    /// Another endpoint (`http://127.0.0.1:5000` for moto; default: AWS's, or
    /// `AWS_ENDPOINT_URL`).
    #[serde(default)]
    pub endpoint: Option<String>,
    /// Whole-call timeout (default 10s).
    #[serde(default, with = "serde_opt_duration")]
    #[schemars(with = "Option<crate::schema::DurationText>")]
    pub timeout: Option<Duration>,
    /// Connect timeout (default 3s).
    #[serde(default, with = "serde_opt_duration")]
    #[schemars(with = "Option<crate::schema::DurationText>")]
    pub connect_timeout: Option<Duration>,
    /// Window of an instant query (default 5m).
    #[serde(default, with = "serde_opt_duration")]
    #[schemars(with = "Option<crate::schema::DurationText>")]
    pub lookback: Option<Duration>,
    /// Pages of one answer followed at most (default 10).
    #[serde(default)]
    pub max_pages: Option<u32>,
    /// Data points of one answer at most (default 100800).
    #[serde(default)]
    pub max_datapoints: Option<usize>,
}

/// The platform the rollout changes.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum DriverFile {
    /// The built-in simulator: instant, deterministic, no services. Its platform lives in
    /// `<state_dir>/sim.json`, so a later run (or `resume`) sees what an earlier one left.
    Sim(SimFile),
    /// One service of a Docker Compose v2 project (`shipcore-driver-compose`), optionally
    /// behind HAProxy for weighted traffic. Needs a shipctl built with `--features compose`.
    Compose(ComposeFile),
    /// A Kubernetes cluster (`shipcore-driver-k8s`): one Deployment and Service per
    /// revision, weighted traffic through a Gateway API HTTPRoute. Needs a shipctl built
    /// with `--features k8s`.
    K8s(Box<K8sFile>),
    /// Amazon ECS (`shipcore-driver-ecs`): one service and target group per revision with
    /// weights on an ALB listener (`traffic`), or ECS's own rolling update of one service
    /// (`native_rolling`, the default). AWS credentials, region and endpoint come from the
    /// environment (`AWS_REGION`, `AWS_ENDPOINT_URL`, ...). Needs `--features ecs`.
    Ecs(EcsFile),
}

/// Settings of the ECS driver: `shipcore_driver_ecs::EcsConfig`, field for field (its
/// builder checks them; errors name `driver.ecs.<field>`).
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EcsFile {
    /// Cluster name or ARN.
    pub cluster: String,
    /// Base task definition (family, `family:revision` or ARN) every revision derives from.
    pub task_definition: String,
    /// The container whose image becomes the revision's artifact.
    pub container: String,
    /// The tasks' `awsvpc` network.
    pub network: EcsNetworkFile,
    /// `fargate` (default) or `ec2`.
    #[serde(default)]
    pub launch_type: Option<EcsLaunchType>,
    /// Traffic owned by the driver: weights on an ALB listener (canary, linear, blue-green).
    #[serde(default)]
    pub traffic: Option<EcsTrafficFile>,
    /// ECS's native rolling update of one service (the default, 100/200 with the circuit
    /// breaker rolling back), when there is no `traffic`.
    #[serde(default)]
    pub native_rolling: Option<EcsRollingFile>,
    /// How long `Retire` waits after taking traffic away (default: the target group's
    /// deregistration delay).
    #[serde(default, with = "serde_opt_duration")]
    #[schemars(with = "Option<crate::schema::DurationText>")]
    pub deregistration_wait: Option<Duration>,
    /// Per-attempt call and connect timeouts (default 10s and 3s).
    #[serde(default)]
    pub timeouts: Option<EcsTimeoutsFile>,
    /// AWS region (default: the environment's, `AWS_REGION` or the profile's).
    #[serde(default)]
    pub region: Option<String>,
}

/// The tasks' network.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EcsNetworkFile {
    /// Subnet ids (at least one).
    pub subnets: Vec<String>,
    /// Security group ids (at least one).
    pub security_groups: Vec<String>,
    /// Give tasks a public IP.
    #[serde(default)]
    pub assign_public_ip: bool,
}

/// How ECS places tasks.
#[derive(Debug, Clone, Copy, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum EcsLaunchType {
    /// AWS Fargate.
    Fargate,
    /// EC2 container instances.
    Ec2,
}

/// Weights on an ALB: exactly one of `listener` and `rule`.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EcsTrafficFile {
    /// A listener ARN whose default action is the weighted forward...
    #[serde(default)]
    pub listener: Option<String>,
    /// ...or a listener rule ARN whose action is.
    #[serde(default)]
    pub rule: Option<String>,
    /// A test listener ARN forwarding to the newest revision (blue-green preview).
    #[serde(default)]
    pub test_listener: Option<String>,
    /// How each revision's target group is made.
    pub target_group: EcsTargetGroupFile,
}

/// Each revision's target group.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EcsTargetGroupFile {
    /// The container port tasks serve on.
    pub port: u16,
    /// The VPC id of the target groups.
    pub vpc_id: String,
    /// `HTTP` (default) or `HTTPS`.
    #[serde(default)]
    pub protocol: Option<String>,
    /// Health check path (default `/health`).
    #[serde(default)]
    pub health_check_path: Option<String>,
    /// Health check interval, 5s..=300s (default 10s).
    #[serde(default, with = "serde_opt_duration")]
    #[schemars(with = "Option<crate::schema::DurationText>")]
    pub health_check_interval: Option<Duration>,
    /// Consecutive successes before a target is healthy, 2..=10 (default 2).
    #[serde(default)]
    pub healthy_threshold: Option<u32>,
}

/// ECS's rolling update.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EcsRollingFile {
    /// `minimumHealthyPercent`, 0..=100 (default 100).
    #[serde(default)]
    pub minimum_healthy_percent: Option<i32>,
    /// `maximumPercent`, 100..=200 (default 200).
    #[serde(default)]
    pub maximum_percent: Option<i32>,
    /// Roll back when the deployment circuit breaker trips (default true).
    #[serde(default)]
    pub circuit_breaker_rollback: Option<bool>,
}

/// API timeouts.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EcsTimeoutsFile {
    /// One API call attempt (default 10s).
    #[serde(default, with = "serde_opt_duration")]
    #[schemars(with = "Option<crate::schema::DurationText>")]
    pub call: Option<Duration>,
    /// TCP/TLS connect (default 3s).
    #[serde(default, with = "serde_opt_duration")]
    #[schemars(with = "Option<crate::schema::DurationText>")]
    pub connect: Option<Duration>,
}

/// A Deployment as Kubernetes defines it (`k8s-openapi`), typed, when shipctl has the
/// Kubernetes driver; skipped unread otherwise (the driver section is refused then).
#[cfg(feature = "k8s")]
pub type DeploymentValue = k8s_openapi::api::apps::v1::Deployment;
/// A Deployment as Kubernetes defines it; this shipctl has no Kubernetes driver.
#[cfg(not(feature = "k8s"))]
pub type DeploymentValue = serde::de::IgnoredAny;
/// A pod template as Kubernetes defines it (`k8s-openapi`), when shipctl has the driver.
#[cfg(feature = "k8s")]
pub type PodTemplateValue = k8s_openapi::api::core::v1::PodTemplateSpec;
/// A pod template as Kubernetes defines it; this shipctl has no Kubernetes driver.
#[cfg(not(feature = "k8s"))]
pub type PodTemplateValue = serde::de::IgnoredAny;

/// Settings of the Kubernetes driver: `shipcore_driver_k8s::K8sConfig` (its base workload,
/// namespace, container, deadlines, ports and route) and where the cluster is.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct K8sFile {
    /// A kubeconfig file, relative to the rollout file's folder (default: `KUBECONFIG`,
    /// else `~/.kube/config`, else the in-cluster service account).
    #[serde(default)]
    pub kubeconfig: Option<PathBuf>,
    /// The kubeconfig context (default: its current context).
    #[serde(default)]
    pub context: Option<String>,
    /// Use the pod's service account (`KUBERNETES_SERVICE_HOST`), not a kubeconfig.
    #[serde(default)]
    pub in_cluster: bool,
    /// Namespace used when `target.namespace` names none (default `default`).
    #[serde(default)]
    pub namespace: Option<String>,
    /// The workload every revision copies, exactly one of: a whole `Deployment`
    /// (`apps/v1`; its strategy, history limit and pod template are kept)...
    #[serde(default)]
    #[schemars(with = "Option<crate::schema::AnyObject>")]
    pub deployment: Option<DeploymentValue>,
    /// ...a pod template (`metadata`, `spec`)...
    #[serde(default)]
    #[schemars(with = "Option<crate::schema::AnyObject>")]
    pub pod_template: Option<PodTemplateValue>,
    /// ...or a YAML file holding either, relative to the rollout file's folder (read by
    /// the driver's own `K8sConfig::from_yaml`).
    #[serde(default)]
    pub manifest: Option<PathBuf>,
    /// The container that runs the artifact (default: the only one).
    #[serde(default)]
    pub container: Option<String>,
    /// `progressDeadlineSeconds` of every Deployment (default 10m).
    #[serde(default, with = "serde_opt_duration")]
    #[schemars(with = "Option<crate::schema::DurationText>")]
    pub progress_deadline: Option<Duration>,
    /// How long a retired revision keeps running after it left the route (default 30s).
    #[serde(default, with = "serde_opt_duration")]
    #[schemars(with = "Option<crate::schema::DurationText>")]
    pub retire_delay: Option<Duration>,
    /// Timeout of every API request (default 30s).
    #[serde(default, with = "serde_opt_duration")]
    #[schemars(with = "Option<crate::schema::DurationText>")]
    pub timeout: Option<Duration>,
    /// Port of each revision's Service (default 80).
    #[serde(default)]
    pub service_port: Option<u16>,
    /// Container port the Services send to (default: the service port).
    #[serde(default)]
    pub target_port: Option<u16>,
    /// Weighted traffic through a Gateway API HTTPRoute (without one, traffic follows
    /// ready replicas and blue-green is refused).
    #[serde(default)]
    pub route: Option<K8sRouteFile>,
}

/// The HTTPRoute: `owned` (the driver applies all of it) or `user_owned` (GitOps: the
/// driver only edits the backendRefs naming its revisions).
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum K8sRouteFile {
    /// The driver applies the whole route.
    Owned {
        /// Route name.
        name: String,
        /// Gateways it attaches to (at least one).
        parent_refs: Vec<K8sParentRefFile>,
        /// Hostnames.
        #[serde(default)]
        hostnames: Vec<String>,
        /// `HTTPRouteMatch` objects of the rule (default: the Gateway's `/`).
        #[serde(default)]
        #[schemars(with = "Vec<crate::schema::AnyObject>")]
        matches: Vec<serde_json::Value>,
    },
    /// The user owns the route; the driver weights its revisions' backendRefs.
    UserOwned {
        /// Route name.
        name: String,
        /// How often a 409 conflict is retried by re-reading (default 3).
        #[serde(default = "default_conflict_retries")]
        conflict_retries: u32,
    },
}

fn default_conflict_retries() -> u32 {
    3
}

/// A parent Gateway of an owned route.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct K8sParentRefFile {
    /// Gateway name.
    pub name: String,
    /// Gateway namespace (default: the route's).
    #[serde(default)]
    pub namespace: Option<String>,
    /// Listener name.
    #[serde(default)]
    pub section_name: Option<String>,
}

/// Settings of the Compose driver (a subset of `shipcore_driver_compose::ComposeConfig`).
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ComposeFile {
    /// Compose project name (`-p`).
    pub project: String,
    /// The base service each revision copies.
    pub service: String,
    /// Compose files, relative to the rollout file's folder.
    pub files: Vec<PathBuf>,
    /// Container port that serves traffic.
    pub port: u16,
    /// `DOCKER_HOST` (default: the environment's).
    #[serde(default)]
    pub docker_host: Option<String>,
    /// A standalone Docker Compose v2 binary (`docker-compose`, or its path), for machines
    /// without the Docker CLI. Default: the Docker CLI plugin, `docker compose`.
    #[serde(default)]
    pub compose_bin: Option<PathBuf>,
    /// Pull missing images (default false: images must exist in the engine).
    #[serde(default)]
    pub pull: bool,
    /// Path of an HTTP readiness probe on top of the compose healthcheck (`/health`).
    #[serde(default)]
    pub http_probe: Option<String>,
    /// HAProxy in front of the revisions, steered through its runtime API (weighted
    /// traffic). Without it, traffic follows replicas.
    #[serde(default)]
    pub haproxy: Option<HaproxyFile>,
}

/// HAProxy's runtime API.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HaproxyFile {
    /// The stats socket (`stats socket ... level admin`).
    pub socket: PathBuf,
    /// The backend whose servers are the revisions' instances.
    pub backend: String,
}

impl Default for DriverFile {
    fn default() -> Self {
        DriverFile::Sim(SimFile::default())
    }
}

impl DriverFile {
    /// The driver's name.
    pub fn name(&self) -> &'static str {
        match self {
            DriverFile::Sim(_) => "sim",
            DriverFile::Compose(_) => "compose",
            DriverFile::K8s(_) => "k8s",
            DriverFile::Ecs(_) => "ecs",
        }
    }
}

/// Settings of the simulated platform.
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SimFile {
    /// Seed of the platform and its metrics (same seed, same run; default 0). Used when
    /// the state directory has no simulated platform yet; later runs continue that one.
    #[serde(default)]
    pub seed: u64,
    /// Failures of the candidate, as `shipcore::testing::Failure`:
    /// `{failure: error_rate, rate: 0.12}`, `{failure: latency, p50_ms: 80, p95_ms: 900}`,
    /// `{failure: crash_loop}`, `{failure: slow_readiness, extra: 2m}`. None: a good candidate.
    #[serde(default)]
    #[schemars(with = "Vec<crate::schema::AnyObject>")]
    pub candidate_failures: Vec<Failure>,
    /// Drivers without router weights: `false` makes canaries replica-ratio and refuses
    /// blue-green (default true).
    #[serde(default)]
    pub weighted_traffic: Option<bool>,
}

/// A rollout file read and parsed, with what is needed to point errors into it.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The file as named on the command line.
    pub path: PathBuf,
    /// Its text.
    pub text: String,
    /// The parsed file.
    pub file: RolloutFile,
    /// Paths to positions.
    pub index: PathIndex,
    /// The folder relative paths in the file (compose files, sockets) are relative to:
    /// the file's own, made absolute (a resumed run reads a copy kept elsewhere).
    pub base: PathBuf,
}

/// Bad input in a rollout file: where, which field, what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{}: {field}: {problem}", pos_text(.pos))]
pub struct FileError {
    /// The file.
    pub file: String,
    /// Where in it (none for a file that could not be read).
    pub pos: Option<Pos>,
    /// The field path (`strategy.canary.steps[2].set_weight`).
    pub field: String,
    /// What is wrong.
    pub problem: String,
}

fn pos_text(pos: &Option<Pos>) -> String {
    match pos {
        Some(p) => format!("{}:{}", p.line, p.column),
        None => "-".into(),
    }
}

/// Largest rollout file read (a rollout file is a page of YAML, not a data set).
pub const MAX_FILE_BYTES: u64 = 1 << 20;

impl Loaded {
    /// Reads and parses `path`.
    pub fn read(path: &Path) -> Result<Loaded, FileError> {
        let name = path.display().to_string();
        let io = |problem: String| FileError {
            file: name.clone(),
            pos: None,
            field: "<file>".into(),
            problem,
        };
        let meta = std::fs::metadata(path).map_err(|e| io(format!("cannot read: {e}")))?;
        if meta.len() > MAX_FILE_BYTES {
            return Err(io(format!(
                "{} bytes is larger than the {MAX_FILE_BYTES} bytes a rollout file may have",
                meta.len()
            )));
        }
        let text = std::fs::read_to_string(path).map_err(|e| io(format!("cannot read: {e}")))?;
        Self::parse(path, text)
    }

    /// Parses `text` as the file `path`.
    pub fn parse(path: &Path, text: String) -> Result<Loaded, FileError> {
        let index = PathIndex::new(&text);
        match serde_saphyr::from_str::<RolloutFile>(&text) {
            Ok(file) => Ok(Loaded {
                path: path.to_path_buf(),
                text,
                file,
                index,
                base: base_of(path),
            }),
            Err(e) => Err(deser_error(path, &index, &e)),
        }
    }

    /// An error about `field` (a path into this file), placed where that field is.
    pub fn error(&self, field: &str, problem: impl Into<String>) -> FileError {
        FileError {
            file: self.path.display().to_string(),
            pos: self.index.find(field),
            field: field.to_string(),
            problem: problem.into(),
        }
    }
}

/// The absolute folder of `path` (as given if it cannot be made absolute).
fn base_of(path: &Path) -> PathBuf {
    let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let dir = if dir.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        dir
    };
    std::path::absolute(&dir).unwrap_or(dir)
}

/// A deserializer error, with the field path found from its position.
fn deser_error(path: &Path, index: &PathIndex, e: &serde_saphyr::Error) -> FileError {
    use serde_saphyr::MessageFormatter;
    let problem = serde_saphyr::DefaultMessageFormatter
        .format_message(e.without_snippet())
        .to_string();
    let at = e.location().map(|l| Pos {
        line: l.line() as usize,
        column: l.column() as usize,
    });
    let unknown = backticked(&problem, "unknown field `");
    let missing = backticked(&problem, "missing field `");
    let variant = backticked(&problem, "unknown variant `");
    let outer = unknown.is_some() || missing.is_some() || variant.is_some();
    let mut field = at.and_then(|p| index.path_at(p, outer)).unwrap_or_default();
    let mut pos = at;
    if let Some(name) = unknown {
        // Point at the unknown key itself (inside a tagged configuration the deserializer's
        // position is the mapping's; elsewhere it may be the key's value).
        if !(field == name || field.ends_with(&format!(".{name}"))) {
            field = if field.is_empty() {
                name.to_string()
            } else {
                format!("{field}.{name}")
            };
        }
        if let Some(p) = index.find_key(&field) {
            pos = Some(p);
        }
    }
    if let Some(variant) = variant {
        // A tagged configuration reports the mapping: point at the value that is wrong.
        if let Some((p, at)) = index.value_within(&field, variant) {
            field = p;
            pos = Some(at);
        }
    }
    if field.is_empty() {
        field = "<document>".into();
    }
    FileError {
        file: path.display().to_string(),
        pos,
        field,
        problem,
    }
}

/// The text between `prefix` and the next backtick.
fn backticked<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let rest = &text[text.find(prefix)? + prefix.len()..];
    Some(&rest[..rest.find('`')?])
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const BASE: &str = "\
target: {service: web, environment: production}
candidate: {version: 2.0.0, artifact: web:2}
replicas: 2
strategy: {canary: {steps: [{set_weight: 50}]}}
";

    fn parse(text: &str) -> Result<Loaded, FileError> {
        Loaded::parse(Path::new("r.yaml"), text.to_string())
    }

    #[test]
    fn stable_is_observed_by_default_and_accepts_none_or_a_revision() {
        assert!(matches!(
            parse(BASE).unwrap().file.stable,
            StableFile::Observed
        ));
        let none = parse(&format!("{BASE}stable: none\n")).unwrap();
        assert!(matches!(none.file.stable, StableFile::None));
        let rev = parse(&format!(
            "{BASE}stable: {{version: 1.0.0, artifact: web:1}}\n"
        ))
        .unwrap();
        let StableFile::Revision(r) = rev.file.stable else {
            panic!("not a revision")
        };
        assert_eq!(r.version.to_string(), "1.0.0");
        let e = parse(&format!("{BASE}stable: latest\n")).unwrap_err();
        assert_eq!(e.field, "stable");
        assert_eq!(e.pos, Some(Pos { line: 5, column: 9 }));
        assert!(e.problem.contains("expected `observed`, `none`"), "{e}");
        // Unknown fields inside a stable revision are refused too.
        let e = parse(&format!(
            "{BASE}stable: {{version: 1.0.0, artifact: a, image: b}}\n"
        ))
        .unwrap_err();
        assert_eq!(e.field, "stable.image", "{e}");
    }

    #[test]
    fn every_strategy_key_and_codedeploy_names_parse() {
        for (s, key) in [
            ("rolling: {max_surge: 1}", "rolling"),
            ("blue_green: {}", "blue_green"),
            ("linear: {percent: 10, interval: 1m}", "linear"),
            ("recreate: {}", "recreate"),
            (
                "feature_flag: {flag: f, percentages: [10, 100]}",
                "feature_flag",
            ),
            ("codedeploy: AllAtOnce", "codedeploy"),
        ] {
            let text = BASE.replace("canary: {steps: [{set_weight: 50}]}", s);
            assert_eq!(parse(&text).unwrap().file.strategy.key(), key, "{s}");
        }
        let e = parse(&BASE.replace("canary:", "canery:")).unwrap_err();
        assert!(e.problem.contains("unknown variant `canery`"), "{e}");
        assert_eq!(e.pos.unwrap().line, 4);
        // Inside a tagged configuration, the wrong value itself is pointed at.
        let e = parse(&format!(
            "{BASE}gates:\n  - type: window\n    name: w\n    preset: always\n"
        ))
        .unwrap_err();
        assert_eq!(e.field, "gates[0].preset", "{e}");
        assert_eq!(
            e.pos,
            Some(Pos {
                line: 8,
                column: 13
            })
        );
        let e = parse(&format!("{BASE}gates:\n  - type: lock_file\n    name: w\n")).unwrap_err();
        assert_eq!(e.field, "gates[0].type", "{e}");
    }

    #[test]
    fn errors_show_as_file_line_column_field_problem() {
        let e = parse(&BASE.replace("replicas: 2", "replicas: -2")).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("r.yaml:3:11: replicas: {}", e.problem)
        );
        let e = parse("[1, 2]").unwrap_err();
        assert_eq!(e.field, "<document>", "{e}");
    }

    #[test]
    fn relative_paths_are_relative_to_the_files_folder_made_absolute() {
        let l = Loaded::parse(Path::new("deploy/r.yaml"), BASE.to_string()).unwrap();
        assert!(l.base.is_absolute(), "{}", l.base.display());
        assert!(l.base.ends_with("deploy"), "{}", l.base.display());
        let l = Loaded::parse(Path::new("r.yaml"), BASE.to_string()).unwrap();
        assert_eq!(l.base, std::path::absolute(".").unwrap());
    }

    #[test]
    fn a_file_too_large_or_missing_is_refused_without_a_position() {
        let dir = std::env::temp_dir().join(format!("shipctl-file-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let big = dir.join("big.yaml");
        std::fs::write(&big, vec![b'#'; (MAX_FILE_BYTES + 1) as usize]).unwrap();
        let e = Loaded::read(&big).unwrap_err();
        assert!(e.problem.contains("larger than"), "{e}");
        assert_eq!(e.pos, None);
        let e = Loaded::read(&dir.join("missing.yaml")).unwrap_err();
        assert!(e.to_string().contains(":-: <file>: cannot read"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

/// Pieces of rollout files for the unit tests of the modules that read one.
#[cfg(test)]
pub(crate) mod tests_support {
    /// A whole file but for its driver and metrics: each test appends the section it is about.
    pub(crate) const BASE: &str = "\
target: {service: web, environment: production}
stable: none
candidate: {version: 2.0.0, artifact: web:2}
replicas: 2
strategy: {canary: {steps: [{set_weight: 50}]}}
";
}
