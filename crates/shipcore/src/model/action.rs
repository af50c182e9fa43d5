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
///
/// What the engine sends a [`Driver`](crate::driver::Driver):
///
/// - [`Deploy`](Action::Deploy) for every `Scale` step, for a full promotion and for a
///   rollback's restore of stable: the whole [`Revision`] with the replica count, so the
///   driver can create the revision or resize it in one call. The engine never sends
///   [`Scale`](Action::Scale); it exists for drivers and tools that resize a revision they
///   already know (a driver must still accept it).
/// - [`Route`](Action::Route) for `SetWeight` and `Promote` steps (only on a driver with
///   `weighted_traffic`), always with weights summing to 100, and only once every revision
///   it gives traffic to has ready replicas.
/// - [`Retire`](Action::Retire) for `Retire` steps, after a full promotion (stable) and in a
///   rollback (candidate).
/// - [`SetFlag`](Action::SetFlag) for `SetFlag` steps and, at 0%, first thing in a rollback.
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
    /// A short human description, as records and logs show it.
    ///
    /// ```
    /// use shipcore::model::{Action, Revision, RevisionId, WeightSet};
    /// let v2 = Revision::new("web-v2", "2.0.0".parse().unwrap(), "web:2");
    /// let deploy = Action::Deploy { revision: v2, replicas: 3 };
    /// assert_eq!(deploy.describe(), "deploy web-v2 x3");
    /// let route = Action::Route {
    ///     weights: WeightSet(vec![(RevisionId::from("web-v1"), 75), (RevisionId::from("web-v2"), 25)]),
    /// };
    /// assert_eq!(route.describe(), "route web-v1=75% web-v2=25%");
    /// let retire = Action::Retire { revision: RevisionId::from("web-v1") };
    /// assert_eq!(retire.describe(), "retire web-v1");
    /// let flag = Action::SetFlag { flag: "new-checkout".into(), percent: 5 };
    /// assert_eq!(flag.describe(), "flag new-checkout to 5%");
    /// ```
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
