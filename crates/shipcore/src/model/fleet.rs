use super::RevisionId;
use serde::{Deserialize, Serialize};

/// What a driver reports about one revision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevisionState {
    /// Which revision.
    pub revision: RevisionId,
    /// Replicas asked for.
    pub desired: u32,
    /// Replicas ready to serve (passing readiness).
    pub ready: u32,
    /// Replicas already running this revision's spec (for native rolling updates).
    pub updated: u32,
    /// Share of traffic, percent (0..=100).
    pub weight: u8,
}

/// What runs for a target, per revision, as the driver observed it. Revisions with no
/// replicas and no traffic may be omitted.
///
/// ```
/// use shipcore::model::{FleetState, RevisionState, RevisionId};
/// let f = FleetState { revisions: vec![RevisionState {
///     revision: RevisionId::new("v1"), desired: 3, ready: 3, updated: 3, weight: 100 }],
///     flags: Default::default() };
/// assert_eq!(f.ready_total(), 3);
/// assert!(f.get(&RevisionId::new("v1")).is_some());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct FleetState {
    /// Per-revision state, in a stable order.
    pub revisions: Vec<RevisionState>,
    /// Feature-flag percentages the driver manages (flag name → percent).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub flags: std::collections::BTreeMap<String, u8>,
}

impl FleetState {
    /// The state of one revision, if the driver knows it.
    pub fn get(&self, id: &RevisionId) -> Option<&RevisionState> {
        self.revisions.iter().find(|r| &r.revision == id)
    }
    /// Ready replicas across all revisions.
    pub fn ready_total(&self) -> u32 {
        self.revisions.iter().map(|r| r.ready).sum()
    }
    /// Desired replicas across all revisions.
    pub fn desired_total(&self) -> u32 {
        self.revisions.iter().map(|r| r.desired).sum()
    }
    /// Traffic weight of a revision (0 if unknown).
    pub fn weight_of(&self, id: &RevisionId) -> u8 {
        self.get(id).map(|r| r.weight).unwrap_or(0)
    }
    /// Ready replicas of a revision (0 if unknown).
    pub fn ready_of(&self, id: &RevisionId) -> u32 {
        self.get(id).map(|r| r.ready).unwrap_or(0)
    }
    /// Desired replicas of a revision (0 if unknown).
    pub fn desired_of(&self, id: &RevisionId) -> u32 {
        self.get(id).map(|r| r.desired).unwrap_or(0)
    }
}
