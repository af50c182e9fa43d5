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
