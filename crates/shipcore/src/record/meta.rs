//! What a deployment record needs that the engine does not know: who deployed, which
//! changes ship, the change-management facts, and which validators count as health checks
//! and smoke tests. The caller provides it (from CI, a change ticket, a config file).

use crate::time::serde_opt_duration;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// The changes a deployment ships.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Changes {
    /// Commit ids.
    pub commits: Vec<String>,
    /// Pull request number.
    pub pr_number: Option<u64>,
    /// Release notes (markdown).
    pub release_notes: Option<String>,
    /// When the oldest commit of this change was made (ISO 8601 UTC), if known: the start
    /// of the DORA lead time for changes on the history page. Not written when unknown.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub committed_at: Option<String>,
}

/// Caller-provided parts of a [`DeploymentRecord`](super::DeploymentRecord). Serialized in
/// the record's camelCase shape, so it can live in a JSON file next to a plan.
///
/// ```
/// use shipcore::record::RecordMeta;
/// let mut meta = RecordMeta::new("ci-pipeline");
/// meta.change_id = Some("CHG-1234".into());
/// assert!(meta.is_health_check("http-health"));
/// assert!(!meta.is_health_check("error-rate"));
/// meta.health_checks = Some(vec!["readiness".into()]);
/// assert!(meta.is_health_check("readiness") && !meta.is_health_check("http-health"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct RecordMeta {
    /// Person or pipeline that started the deployment.
    pub deployed_by: String,
    /// What ships.
    pub changes: Changes,
    /// Change ticket id (change-managed teams).
    pub change_id: Option<String>,
    /// Who approved the change.
    pub approved_by: Vec<String>,
    /// The approved deploy window, as the team writes it (`"Tue 14:00-16:00 UTC"`).
    pub deploy_window: Option<String>,
    /// Whether the rollback was rehearsed (for example in staging) before this deployment.
    pub rollback_tested: Option<bool>,
    /// How long the service is watched after the deployment (`"24h"`).
    #[serde(with = "serde_opt_duration")]
    pub monitoring_period: Option<Duration>,
    /// Whom to call, in order, when it goes wrong.
    pub escalation_path: Vec<String>,
    /// Validators whose outcome is the record's `healthCheck` (default: names containing
    /// `health`).
    pub health_checks: Option<Vec<String>>,
    /// Validators whose outcome is the record's `smokeTests` (default: names containing
    /// `smoke`).
    pub smoke_tests: Option<Vec<String>>,
}

impl RecordMeta {
    /// Meta with only `deployedBy` set.
    pub fn new(deployed_by: impl Into<String>) -> Self {
        RecordMeta {
            deployed_by: deployed_by.into(),
            ..Default::default()
        }
    }

    /// Whether the validator `name` counts as a health check.
    pub fn is_health_check(&self, name: &str) -> bool {
        listed_or_contains(self.health_checks.as_deref(), name, "health")
    }

    /// Whether the validator `name` counts as a smoke test.
    pub fn is_smoke_test(&self, name: &str) -> bool {
        listed_or_contains(self.smoke_tests.as_deref(), name, "smoke")
    }
}

fn listed_or_contains(list: Option<&[String]>, name: &str, word: &str) -> bool {
    match list {
        Some(names) => names.iter().any(|n| n == name),
        None => name.to_ascii_lowercase().contains(word),
    }
}
