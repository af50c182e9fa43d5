use super::{Revision, RevisionId};
use serde::{Deserialize, Serialize};

/// Traffic split: percent per revision, summing to 100.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WeightSet(pub Vec<(RevisionId, u8)>);

impl WeightSet {
    /// Sum of the weights.
    pub fn total(&self) -> u32 {
        self.0.iter().map(|(_, w)| *w as u32).sum()
    }
    /// Weight of one revision (0 if absent).
    pub fn of(&self, id: &RevisionId) -> u8 {
        self.0
            .iter()
            .find(|(r, _)| r == id)
            .map(|(_, w)| *w)
            .unwrap_or(0)
    }
}

/// One platform operation. Every action is *declarative and idempotent*: applying it twice
/// leaves the fleet as applying it once, because the engine retries and resumes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    /// Make `revision` exist with exactly `replicas` replicas (create or update).
    Deploy {
        /// What to run.
        revision: Revision,
        /// How many replicas.
        replicas: u32,
    },
    /// Set the replica count of an existing revision.
    Scale {
        /// Which revision.
        revision: RevisionId,
        /// How many replicas.
        replicas: u32,
    },
    /// Route traffic: weights per revision, summing to 100.
    Route {
        /// The split.
        weights: WeightSet,
    },
    /// Remove a revision and everything it runs. Retiring an absent revision succeeds.
    Retire {
        /// Which revision.
        revision: RevisionId,
    },
    /// Set a feature flag's rollout percentage.
    SetFlag {
        /// Flag name.
        flag: String,
        /// Percent of users who get the feature.
        percent: u8,
    },
}

impl Action {
    /// A short human description: `deploy web-v2 x3`, `route v1=90 v2=10`.
    pub fn describe(&self) -> String {
        match self {
            Action::Deploy { revision, replicas } => {
                format!("deploy {} x{}", revision.id, replicas)
            }
            Action::Scale { revision, replicas } => format!("scale {revision} to {replicas}"),
            Action::Route { weights } => {
                let parts: Vec<String> =
                    weights.0.iter().map(|(r, w)| format!("{r}={w}%")).collect();
                format!("route {}", parts.join(" "))
            }
            Action::Retire { revision } => format!("retire {revision}"),
            Action::SetFlag { flag, percent } => format!("flag {flag} to {percent}%"),
        }
    }
}
