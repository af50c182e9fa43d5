//! The two phases of a schema change inside a rollout, as plan steps name them.

use serde::{Deserialize, Serialize};
use std::fmt;

/// When a migration runs relative to traffic, after the expand/contract pattern.
///
/// - **Expand** runs after the pre-deploy gates and before the candidate takes traffic. It
///   must be backward compatible: the stable revision keeps running on the new schema.
/// - **Contract** runs only after promotion and the post-deploy monitoring window, once no
///   revision that needs the old schema is left.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum MigrationPhase {
    /// Additive, backward-compatible changes, before traffic moves.
    Expand,
    /// Removals, after promotion and monitoring.
    Contract,
}

impl MigrationPhase {
    /// `expand` or `contract`.
    pub fn as_str(self) -> &'static str {
        match self {
            MigrationPhase::Expand => "expand",
            MigrationPhase::Contract => "contract",
        }
    }
}

impl fmt::Display for MigrationPhase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// When a rollout may run its contract migrations.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ContractPolicy {
    /// In this rollout, after the promotion, the monitoring window and the stable's
    /// retirement (where [`Plan::validate`](super::Plan::validate) puts it).
    #[default]
    AfterMonitoring,
    /// Never in the rollout that ships the code: removals wait for a later deploy, once
    /// this one has proven itself (the safe pattern "stop using a column, remove it in a
    /// later deploy"). A plan with a contract step is refused.
    LaterRollout,
}

impl ContractPolicy {
    /// Whether this is the default (not written into specs).
    pub fn is_default(&self) -> bool {
        *self == ContractPolicy::default()
    }
}

impl super::Plan {
    /// Adds an expand migration of `migrator` as the first step: after the pre-rollout
    /// gates, before the candidate is deployed or takes any traffic (new code may need the
    /// new schema to start).
    ///
    /// ```
    /// use shipcore::model::{MigrationPhase, Plan, Role, Step};
    /// use std::time::Duration;
    /// let plan = Plan { strategy: "recreate".into(), replicas: 2, steps: vec![
    ///     Step::Scale { role: Role::Candidate, replicas: 2 },
    ///     Step::Promote,
    ///     Step::Retire { role: Role::Stable, after: Duration::ZERO },
    /// ]}.with_expand("db").with_contract("db");
    /// assert_eq!(plan.steps[0], Step::Migrate { migrator: "db".into(), phase: MigrationPhase::Expand });
    /// assert_eq!(plan.steps[4], Step::Migrate { migrator: "db".into(), phase: MigrationPhase::Contract });
    /// assert!(plan.validate(&shipcore::driver::Capabilities::ALL).is_ok());
    /// ```
    #[must_use]
    pub fn with_expand(mut self, migrator: &str) -> Self {
        self.steps.insert(
            0,
            super::Step::Migrate {
                migrator: migrator.to_string(),
                phase: MigrationPhase::Expand,
            },
        );
        self
    }

    /// Adds a contract migration of `migrator` as the last step: after the promotion, the
    /// monitoring window and the stable's retirement. Add monitoring first (or with
    /// [`with_monitoring`](Self::with_monitoring), which places it after the promotion, so
    /// before this step either way).
    #[must_use]
    pub fn with_contract(mut self, migrator: &str) -> Self {
        self.steps.push(super::Step::Migrate {
            migrator: migrator.to_string(),
            phase: MigrationPhase::Contract,
        });
        self
    }
}
