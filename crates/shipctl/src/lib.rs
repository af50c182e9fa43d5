//! # shipctl
//!
//! Runs a shipcore rollout from one declarative YAML file, without writing Rust: `plan`
//! (a dry run), `run` (in the foreground, one line or one JSON object per event), control
//! from another shell over a Unix socket (`status`, `promote`, `abort`, `pause`, `resume`,
//! `retry`, `approve`), `version next` (the next release from conventional commits), and `resume` of a rollout whose process was killed, from its
//! journal. The binary is a thin layer over this library, so tests can reach its parts.
//!
//! The file ([`file::RolloutFile`]) composes the library's own configuration types:
//! [`shipcore::strategy`]'s strategies (or a CodeDeploy name), [`shipcore::gate::GateConfig`],
//! [`shipcore::validator::ValidatorConfig`], [`shipcore::notify::NotifierConfig`],
//! `metrics_prom::PrometheusConfig`, and behind cargo features the platform drivers'
//! configurations (`compose`, `k8s`: `K8sConfig`, `ecs`: `EcsConfig`) and the CloudWatch
//! source's (`cloudwatch`: `CloudWatchConfig`) and the PostgreSQL migrator's (`postgres`:
//! `shipcore-migrate-postgres`, see [`migrations`]); a shipctl built without one refuses its
//! section with exit 2, naming the feature. The library checks their values, and every refusal is
//! reported as `file:line:column: field.path: problem` with exit code 2, before anything
//! starts.
//!
//! YAML is read with `serde-saphyr`: it is maintained (`serde_yaml` is deprecated), it is
//! serde-native (the library's `Deserialize` types are used as they are, unknown fields
//! refused by their own `deny_unknown_fields`), it reports the line and column of every
//! error, and it was already in the workspace's lock file through the Kubernetes driver.
//! Its parser's events also give [`locate::PathIndex`], which places errors found after
//! parsing (a canary weight above 100) at the field they are about.
//!
//! Exit codes: see [`exit::Exit`].

pub mod cli;
pub mod control;
pub mod driver;
pub mod exit;
pub mod file;
pub mod history;
pub mod live;
pub mod locate;
pub mod migrations;
pub mod output;
pub mod plan;
pub mod run;
pub mod schema;
pub mod setup;
pub mod state;
pub mod version;
