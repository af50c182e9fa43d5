//! The targets of a simulated platform, by key: looked up by hash (one world may hold
//! thousands, and every driver call and metrics query finds its target), listed and
//! serialized in key order, so snapshots and answers stay deterministic.

use super::sim_state::TargetRun;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasherDefault, Hasher};

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
    // A fixed hasher: the same on every run of a program.
    runs: HashMap<String, TargetRun, BuildHasherDefault<KeyHasher>>,
}

/// A small, fixed hasher for the targets' keys (short strings the simulator makes itself):
/// eight bytes at a time, then mixed, so lookups, made on every driver call and metrics
/// query, cost a few instructions instead of SipHash's rounds. No keys are secret here.
#[derive(Default)]
struct KeyHasher(u64);

const MIX: u64 = 0x9e37_79b9_7f4a_7c15;

impl KeyHasher {
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(MIX);
    }
}

impl Hasher for KeyHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0u8; 8];
            word[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(word) ^ ((rest.len() as u64) << 59));
        }
    }

    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }

    fn finish(&self) -> u64 {
        // Spreads the last multiply's high bits down: the table reads both ends.
        let h = self.0;
        (h ^ (h >> 29)).wrapping_mul(MIX) ^ (h >> 32)
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Target;
    use std::hash::BuildHasher;

    fn hash(key: &str) -> u64 {
        BuildHasherDefault::<KeyHasher>::default().hash_one(key)
    }

    #[test]
    fn keys_that_differ_anywhere_hash_apart_and_the_same_key_alike() {
        let keys = [
            "",
            "a",
            "a\0",
            "web@prod",
            "web@prod ",
            "web@prox",
            "ns/web@prod",
            "web0@prod",
            "web1@prod",
            "eight by",
            "eight byt",
            "eight bytes here",
        ];
        for (i, a) in keys.iter().enumerate() {
            assert_eq!(hash(a), hash(a), "{a:?}");
            for b in &keys[i + 1..] {
                assert_ne!(hash(a), hash(b), "{a:?} and {b:?}");
            }
        }
    }

    #[test]
    fn ten_thousand_targets_are_each_found_by_their_key_and_listed_in_order() {
        let mut runs = TargetRuns::new();
        for i in 0..10_000 {
            let target = Target::new(format!("web{i}"), "production");
            runs.insert(target.to_string(), TargetRun::new(target));
        }
        assert_eq!(runs.len(), 10_000);
        for i in [0, 1, 4_999, 9_999] {
            let key = format!("web{i}@production");
            assert_eq!(runs.get(&key).map(|r| r.target.to_string()), Some(key));
        }
        assert!(runs.get("web10000@production").is_none());
        let keys: Vec<&String> = runs.keys().collect();
        assert!(keys.windows(2).all(|w| w[0] < w[1]));
    }
}
