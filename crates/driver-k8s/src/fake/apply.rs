//! JSON merge patch (RFC 7386) and the fake's server-side apply: field ownership per leaf
//! path, where a leaf is a scalar or a whole list (lists are atomic here; the real apiserver
//! merges associative lists such as `containers` by key).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};

/// Who owns which field paths of one object.
#[derive(Debug, Clone, Default)]
pub(crate) struct Ownership {
    /// Field path (`.spec.replicas`) -> managers owning it.
    owners: BTreeMap<String, BTreeSet<String>>,
    /// Manager -> the paths its last apply set (to remove the ones it drops).
    applied: BTreeMap<String, BTreeSet<String>>,
}

/// RFC 7386 merge patch.
pub(crate) fn merge_patch(target: &mut Value, patch: &Value) {
    match patch {
        Value::Object(p) => {
            if !target.is_object() {
                *target = Value::Object(Map::new());
            }
            if let Some(t) = target.as_object_mut() {
                for (k, v) in p {
                    if v.is_null() {
                        t.remove(k);
                    } else {
                        merge_patch(t.entry(k.clone()).or_insert(Value::Null), v);
                    }
                }
            }
        }
        other => *target = other.clone(),
    }
}

/// Leaf paths with their values, skipping `status` and the server-owned metadata.
pub(crate) fn leaves(v: &Value) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    if let Some(o) = v.as_object() {
        for (k, child) in o {
            match k.as_str() {
                "status" | "apiVersion" | "kind" => {}
                "metadata" => {
                    for key in ["labels", "annotations"] {
                        if let Some(c) = child.get(key) {
                            walk(c, &format!(".metadata.{key}"), &mut out);
                        }
                    }
                }
                _ => walk(child, &format!(".{k}"), &mut out),
            }
        }
    }
    out
}

fn walk(v: &Value, path: &str, out: &mut BTreeMap<String, Value>) {
    match v {
        Value::Object(o) if !o.is_empty() => {
            for (k, c) in o {
                walk(c, &format!("{path}.{k}"), out);
            }
        }
        _ => {
            out.insert(path.to_string(), v.clone());
        }
    }
}

fn segments(path: &str) -> Vec<&str> {
    // Label keys contain dots; metadata.labels/annotations keys are taken whole.
    let rest = path.trim_start_matches('.');
    if let Some(key) = rest.strip_prefix("metadata.labels.") {
        return vec!["metadata", "labels", key];
    }
    if let Some(key) = rest.strip_prefix("metadata.annotations.") {
        return vec!["metadata", "annotations", key];
    }
    rest.split('.').collect()
}

fn get_path<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    segments(path).into_iter().try_fold(v, |cur, s| cur.get(s))
}

fn remove_path(v: &mut Value, path: &str) {
    let segs = segments(path);
    let Some((last, parents)) = segs.split_last() else {
        return;
    };
    let mut cur = v;
    for s in parents {
        match cur.get_mut(*s) {
            Some(c) => cur = c,
            None => return,
        }
    }
    if let Some(o) = cur.as_object_mut() {
        o.remove(*last);
    }
}

/// Deep merge of an applied configuration: maps merge, scalars and lists replace.
fn deep_merge(target: &mut Value, config: &Value) {
    match (target.as_object_mut(), config.as_object()) {
        (Some(t), Some(c)) => {
            for (k, v) in c {
                match t.get_mut(k) {
                    Some(existing) => deep_merge(existing, v),
                    None => {
                        t.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        _ => *target = config.clone(),
    }
}

impl Ownership {
    /// Every field of a newly written object is owned by `manager`.
    pub fn created(obj: &Value, manager: &str, apply: bool) -> Self {
        let mut o = Ownership::default();
        let paths: BTreeSet<String> = leaves(obj).into_keys().collect();
        for p in &paths {
            o.owners
                .entry(p.clone())
                .or_default()
                .insert(manager.to_string());
        }
        if apply {
            o.applied.insert(manager.to_string(), paths);
        }
        o
    }

    /// An update (PUT or non-apply PATCH) by `manager`: it becomes the sole owner of every
    /// field whose value changed or appeared.
    pub fn updated(&mut self, old: &Value, new: &Value, manager: &str) {
        let before = leaves(old);
        let after = leaves(new);
        for (p, v) in &after {
            if before.get(p) != Some(v) {
                for set in self.applied.values_mut() {
                    set.remove(p);
                }
                self.owners
                    .insert(p.clone(), BTreeSet::from([manager.to_string()]));
            }
        }
        self.owners.retain(|p, _| after.contains_key(p));
    }

    /// Server-side apply of `config` by `manager` onto `current`: returns the merged object,
    /// or the conflicts `(other manager, path)` when `force` is off.
    pub fn apply(
        &mut self,
        current: &Value,
        config: &Value,
        manager: &str,
        force: bool,
    ) -> Result<Value, Vec<(String, String)>> {
        let cfg = leaves(config);
        let mut conflicts = Vec::new();
        for (p, v) in &cfg {
            let differs = get_path(current, p) != Some(v);
            if !differs {
                continue;
            }
            if let Some(owners) = self.owners.get(p) {
                for o in owners.iter().filter(|o| o.as_str() != manager) {
                    conflicts.push((o.clone(), p.clone()));
                }
            }
        }
        if !conflicts.is_empty() && !force {
            return Err(conflicts);
        }
        let mut merged = current.clone();
        deep_merge(&mut merged, config);
        for p in cfg.keys() {
            let owners = self.owners.entry(p.clone()).or_default();
            if force {
                owners.clear();
                for set in self.applied.values_mut() {
                    set.remove(p);
                }
            }
            owners.insert(manager.to_string());
        }
        let previous = self.applied.remove(manager).unwrap_or_default();
        for p in previous.iter().filter(|p| !cfg.contains_key(*p)) {
            let now_empty = match self.owners.get_mut(p) {
                Some(owners) => {
                    owners.remove(manager);
                    owners.is_empty()
                }
                None => true,
            };
            if now_empty {
                self.owners.remove(p);
                remove_path(&mut merged, p);
            }
        }
        self.applied
            .insert(manager.to_string(), cfg.into_keys().collect());
        Ok(merged)
    }

    /// The managers and how many fields each owns (for tests and debugging).
    pub fn managers(&self) -> BTreeMap<String, usize> {
        let mut m = BTreeMap::new();
        for owners in self.owners.values() {
            for o in owners {
                *m.entry(o.clone()).or_insert(0) += 1;
            }
        }
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merge_patch_removes_nulls_and_replaces_lists() {
        let mut t = json!({"a": {"b": 1, "c": 2}, "l": [1, 2]});
        merge_patch(&mut t, &json!({"a": {"b": null, "d": 3}, "l": [3]}));
        assert_eq!(t, json!({"a": {"c": 2, "d": 3}, "l": [3]}));
    }

    #[test]
    fn apply_conflicts_with_other_manager_unless_forced_and_drops_omitted_fields() {
        let cfg = json!({"metadata": {"labels": {"app.kubernetes.io/name": "web"}}, "spec": {"replicas": 2, "paused": false}});
        let mut own = Ownership::created(&cfg, "a", true);
        // Same values from another manager: shared ownership, no conflict.
        assert!(own
            .apply(&cfg, &json!({"spec": {"replicas": 2}}), "b", false)
            .is_ok());
        let err = own.apply(&cfg, &json!({"spec": {"replicas": 3}}), "c", false);
        assert_eq!(err.err().map(|c| c.len()), Some(2));
        let forced = own.apply(&cfg, &json!({"spec": {"replicas": 3}}), "c", true);
        assert_eq!(
            forced
                .ok()
                .and_then(|v| v.pointer("/spec/replicas").cloned()),
            Some(json!(3))
        );
        // "a" omits spec.paused now: it is removed since nobody else owns it.
        let after = own.apply(
            &cfg,
            &json!({"metadata": {"labels": {"app.kubernetes.io/name": "web"}}}),
            "a",
            false,
        );
        assert_eq!(
            after.ok().map(|v| v.pointer("/spec/paused").is_none()),
            Some(true)
        );
    }
}
