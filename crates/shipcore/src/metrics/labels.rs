//! [`Labels`]: the names and values identifying a series, sorted by name and shared on
//! clone, so a source that answers the same series again and again (every minute of every
//! analysis) hands out one set instead of building a map of owned strings each time.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::BTreeMap;
use std::sync::Arc;

/// A series' labels: each name once, sorted by name. Cloning is cheap (the set is shared);
/// it orders and compares as the map of the same names and values would, and reads and
/// writes in JSON as that map.
///
/// ```
/// use shipcore::metrics::Labels;
/// let labels = Labels::from_iter([("service", "web"), ("revision", "web-v2")]);
/// assert_eq!(labels.get("revision"), Some("web-v2"));
/// assert_eq!(labels["service"], "web");
/// assert_eq!(labels.get("version"), None);
/// let names: Vec<&str> = labels.keys().collect();
/// assert_eq!(names, ["revision", "service"]);
/// assert_eq!(serde_json::to_string(&labels).unwrap(), r#"{"revision":"web-v2","service":"web"}"#);
/// ```
#[derive(Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Labels(Option<Arc<[(String, String)]>>);

impl Labels {
    /// No labels.
    pub fn new() -> Self {
        Labels(None)
    }

    fn pairs(&self) -> &[(String, String)] {
        self.0.as_deref().unwrap_or_default()
    }

    /// The value of label `name` as stored.
    fn value(&self, name: &str) -> Option<&String> {
        let pairs = self.pairs();
        let i = pairs.binary_search_by(|(k, _)| k.as_str().cmp(name)).ok()?;
        pairs.get(i).map(|(_, v)| v)
    }

    /// The value of label `name`, if the series has it.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.value(name).map(String::as_str)
    }

    /// Whether the series has label `name`.
    pub fn contains_key(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// Names and values, sorted by name.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&str, &str)> + '_ {
        self.pairs().iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Names, sorted.
    pub fn keys(&self) -> impl ExactSizeIterator<Item = &str> + '_ {
        self.pairs().iter().map(|(k, _)| k.as_str())
    }

    /// How many labels.
    pub fn len(&self) -> usize {
        self.pairs().len()
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.pairs().is_empty()
    }

    /// The labels as a map of owned strings.
    pub fn to_map(&self) -> BTreeMap<String, String> {
        self.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }
}

impl std::ops::Index<&str> for Labels {
    type Output = String;
    /// The value of label `name`.
    ///
    /// # Panics
    /// When the series has no label `name` (as a map's index does); use [`Labels::get`]
    /// when it may be missing.
    fn index(&self, name: &str) -> &String {
        match self.value(name) {
            Some(v) => v,
            None => panic!("the series has no label {name:?}"),
        }
    }
}

impl From<BTreeMap<String, String>> for Labels {
    fn from(map: BTreeMap<String, String>) -> Self {
        if map.is_empty() {
            return Labels(None);
        }
        Labels(Some(map.into_iter().collect()))
    }
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for Labels {
    /// A name given twice keeps its last value, as inserting into a map would.
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        let map: BTreeMap<String, String> = iter
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect();
        Labels::from(map)
    }
}

impl<K: Into<String>, V: Into<String>, const N: usize> From<[(K, V); N]> for Labels {
    fn from(pairs: [(K, V); N]) -> Self {
        Labels::from_iter(pairs)
    }
}

impl std::fmt::Debug for Labels {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl Serialize for Labels {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.iter())
    }
}

impl<'de> Deserialize<'de> for Labels {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        BTreeMap::<String, String>::deserialize(d).map(Labels::from)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn orders_and_compares_as_the_map_does() {
        let sets = [
            map(&[]),
            map(&[("a", "1")]),
            map(&[("a", "1"), ("b", "2")]),
            map(&[("a", "2")]),
            map(&[("b", "1")]),
            map(&[("a", "1"), ("c", "")]),
            map(&[("aa", "1")]),
        ];
        for x in &sets {
            for y in &sets {
                let (lx, ly) = (Labels::from(x.clone()), Labels::from(y.clone()));
                assert_eq!(lx.cmp(&ly), x.cmp(y), "{x:?} vs {y:?}");
                assert_eq!(lx == ly, x == y, "{x:?} vs {y:?}");
            }
        }
    }

    #[test]
    fn reads_like_a_map_and_round_trips_as_json() {
        let l = Labels::from([("service", "web"), ("env", "prod"), ("service", "api")]);
        assert_eq!(l.len(), 2);
        assert_eq!(l.get("service"), Some("api"), "the last value wins");
        assert!(l.contains_key("env") && !l.contains_key("zone"));
        assert_eq!(l.to_map(), map(&[("env", "prod"), ("service", "api")]));
        let json = serde_json::to_string(&l).unwrap();
        assert_eq!(json, r#"{"env":"prod","service":"api"}"#);
        assert_eq!(serde_json::from_str::<Labels>(&json).unwrap(), l);
        assert_eq!(format!("{l:?}"), r#"{"env": "prod", "service": "api"}"#);
        let mut taken = l.to_map();
        taken.insert("zone".into(), "a".into());
        let more = Labels::from(taken);
        assert_eq!(more.keys().collect::<Vec<_>>(), ["env", "service", "zone"]);
        assert_eq!(more["zone"], "a");
        assert_eq!(
            l.get("zone"),
            None,
            "a map taken out leaves the labels alone"
        );
        assert!(Labels::new().is_empty() && Labels::from(map(&[])) == Labels::default());
    }

    #[test]
    #[should_panic(expected = "no label \"zone\"")]
    fn indexing_a_missing_label_names_it() {
        let _ = &Labels::from([("a", "b")])["zone"];
    }
}
