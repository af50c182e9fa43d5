//! The targets of a simulated platform, by key: looked up by hash (one world may hold
//! thousands, and every driver call and metrics query finds its target), listed and
//! serialized in key order, so snapshots and answers stay deterministic.

use super::sim_state::TargetRun;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::hash_map::DefaultHasher;
use std::collections::{BTreeMap, HashMap};
use std::hash::BuildHasherDefault;

/// A platform's targets by their display name (`ns/service@environment`). Reads like the
/// ordered map it serializes as: [`iter`](Self::iter) and [`values`](Self::values) go in
/// key order.
///
/// ```
/// use shipcore::model::{Revision, Target};
/// use shipcore::testing::SimWorld;
/// let world = SimWorld::new(1);
/// let v1 = Revision::new("v1", "1.0.0".parse().unwrap(), "web:1");
/// world.driver.seed_stable(&Target::new("web", "prod"), &v1, 2);
/// world.driver.seed_stable(&Target::new("api", "prod"), &v1, 2);
/// let snap = world.driver.snapshot();
/// assert!(snap.targets.contains_key("web@prod"));
/// let keys: Vec<&String> = snap.targets.keys().collect();
/// assert_eq!(keys, ["api@prod", "web@prod"]);
/// for (key, run) in &snap.targets {
///     assert_eq!(key, &run.target.to_string());
/// }
/// // Serialized as the ordered map it reads like.
/// let json = serde_json::to_string(&snap.targets).unwrap();
/// assert!(json.starts_with(r#"{"api@prod":"#));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TargetRuns {
    // A fixed hasher (SipHash with zero keys): the same on every run of a program.
    runs: HashMap<String, TargetRun, BuildHasherDefault<DefaultHasher>>,
}

impl TargetRuns {
    /// No targets.
    pub fn new() -> Self {
        Self::default()
    }

    /// The target whose key is `key`.
    pub fn get(&self, key: &str) -> Option<&TargetRun> {
        self.runs.get(key)
    }

    /// Whether a target has the key `key`.
    pub fn contains_key(&self, key: &str) -> bool {
        self.runs.contains_key(key)
    }

    /// How many targets run something.
    pub fn len(&self) -> usize {
        self.runs.len()
    }

    /// Whether no target runs anything.
    pub fn is_empty(&self) -> bool {
        self.runs.is_empty()
    }

    /// Keys and targets, in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&String, &TargetRun)> {
        self.into_iter()
    }

    /// Targets, in key order.
    pub fn values(&self) -> impl Iterator<Item = &TargetRun> {
        self.iter().map(|(_, run)| run)
    }

    /// Keys, in order.
    pub fn keys(&self) -> impl Iterator<Item = &String> {
        self.iter().map(|(key, _)| key)
    }

    /// The target whose key is `key`, to change (a snapshot edited before
    /// [`SimWorld::from_snapshot`](super::SimWorld::from_snapshot)).
    pub fn get_mut(&mut self, key: &str) -> Option<&mut TargetRun> {
        self.runs.get_mut(key)
    }

    /// Sets the target of `key`, returning the one it replaced.
    pub fn insert(&mut self, key: String, run: TargetRun) -> Option<TargetRun> {
        self.runs.insert(key, run)
    }

    /// The target with the key `key`, made by `new` if there is none.
    pub(crate) fn get_or_insert_with(
        &mut self,
        key: String,
        new: impl FnOnce() -> TargetRun,
    ) -> &mut TargetRun {
        self.runs.entry(key).or_insert_with(new)
    }

    /// Removes the target of `key`, returning it.
    pub fn remove(&mut self, key: &str) -> Option<TargetRun> {
        self.runs.remove(key)
    }
}

impl<'a> IntoIterator for &'a TargetRuns {
    type Item = (&'a String, &'a TargetRun);
    type IntoIter = std::vec::IntoIter<(&'a String, &'a TargetRun)>;
    /// Keys and targets, in key order.
    fn into_iter(self) -> Self::IntoIter {
        let mut all: Vec<(&String, &TargetRun)> = self.runs.iter().collect();
        all.sort_unstable_by(|a, b| a.0.cmp(b.0));
        all.into_iter()
    }
}

impl FromIterator<(String, TargetRun)> for TargetRuns {
    fn from_iter<I: IntoIterator<Item = (String, TargetRun)>>(iter: I) -> Self {
        TargetRuns {
            runs: iter.into_iter().collect(),
        }
    }
}

impl From<BTreeMap<String, TargetRun>> for TargetRuns {
    fn from(map: BTreeMap<String, TargetRun>) -> Self {
        map.into_iter().collect()
    }
}

impl Serialize for TargetRuns {
    /// A map in key order, as a `BTreeMap` serializes.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.iter())
    }
}

impl<'de> Deserialize<'de> for TargetRuns {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        BTreeMap::<String, TargetRun>::deserialize(deserializer).map(TargetRuns::from)
    }
}
