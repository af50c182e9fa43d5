//! The fake's object store: objects keyed by group, plural, namespace and name (listed in
//! that order, as etcd keys sort), one global resourceVersion counter, field ownership, and
//! the bounded event history watches replay from.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

use super::apply::Ownership;
use super::discovery::Resource;
use super::status::{success_delete, ApiError};
use super::validate;

/// Identifies one stored object.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct Key {
    pub group: String,
    pub plural: String,
    pub ns: String,
    pub name: String,
}

impl Key {
    pub fn new(res: &Resource, ns: &str, name: &str) -> Self {
        Key {
            group: res.group.to_string(),
            plural: res.plural.to_string(),
            ns: if res.namespaced {
                ns.to_string()
            } else {
                String::new()
            },
            name: name.to_string(),
        }
    }
}

/// A watch event type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EventType {
    Added,
    Modified,
    Deleted,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
        }
    }
}

/// One change, as watches see it.
#[derive(Debug, Clone)]
pub(crate) struct Event {
    pub rv: u64,
    pub key: Key,
    pub kind: EventType,
    pub object: Arc<Value>,
    /// The previous `metadata` of a MODIFIED object whose metadata changed (selectors).
    pub prev: Option<Arc<Value>>,
}

#[derive(Debug, Clone)]
pub(crate) struct Stored {
    pub value: Value,
    pub owners: Ownership,
}

/// How a write is carried out.
#[derive(Debug, Clone, Default)]
pub(crate) struct WriteOpts {
    pub dry_run: bool,
}

/// The whole state behind the fake's lock.
#[derive(Debug)]
pub(crate) struct Store {
    pub objects: BTreeMap<Key, Stored>,
    pub rv: u64,
    pub history: VecDeque<Event>,
    pub history_limit: usize,
    /// Watches from a resourceVersion below this answer 410 Gone.
    pub oldest_rv: u64,
    uid_counter: u64,
    ip_counter: u32,
}

/// RFC 3339 UTC timestamp with second precision, as `metav1.Time` is written.
pub(crate) fn timestamp(t: SystemTime) -> String {
    let secs = t
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// The current wall-clock time as a `metav1.Time` string.
pub(crate) fn now() -> String {
    timestamp(SystemTime::now())
}

impl Store {
    pub fn new() -> Self {
        Store {
            objects: BTreeMap::new(),
            rv: 1,
            history: VecDeque::new(),
            history_limit: 10_000,
            oldest_rv: 1,
            uid_counter: 0,
            ip_counter: 0,
        }
    }

    fn next_uid(&mut self) -> String {
        self.uid_counter += 1;
        let n = self.uid_counter;
        let salt = (self as *const Self as usize as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        format!(
            "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
            salt as u32,
            n & 0xffff,
            (salt >> 32) & 0xfff,
            (n >> 16) & 0xfff,
            n
        )
    }

    fn record(&mut self, key: Key, kind: EventType, object: Value, prev: Option<&Value>) -> Event {
        let prev = prev
            .filter(|p| p.get("metadata") != object.get("metadata"))
            .map(|p| {
                Arc::new(json!({"metadata": p.get("metadata").cloned().unwrap_or(Value::Null)}))
            });
        let ev = Event {
            rv: self.rv,
            key,
            kind,
            object: Arc::new(object),
            prev,
        };
        self.history.push_back(ev.clone());
        while self.history.len() > self.history_limit {
            if let Some(old) = self.history.pop_front() {
                self.oldest_rv = old.rv;
            }
        }
        ev
    }

    /// Forgets all history: watches from any earlier resourceVersion now get 410 Gone.
    pub fn compact(&mut self) {
        self.history.clear();
        self.oldest_rv = self.rv;
    }

    /// Whether the namespace exists.
    pub fn has_namespace(&self, ns: &str) -> bool {
        self.objects.contains_key(&Key {
            group: String::new(),
            plural: "namespaces".into(),
            ns: String::new(),
            name: ns.into(),
        })
    }

    /// Stores `obj` as a new or changed object after validation and defaulting. Returns the
    /// stored object and the event to broadcast (none for dry runs and no-op updates).
    pub fn write(
        &mut self,
        res: &Resource,
        key: &Key,
        mut obj: Value,
        owners: Ownership,
        opts: &WriteOpts,
    ) -> Result<(Value, Option<Event>), ApiError> {
        let old = self.objects.get(key).map(|s| s.value.clone());
        if !obj.is_object() {
            return Err(ApiError::bad_request("the object is not a JSON object"));
        }
        obj["apiVersion"] = json!(res.api_version());
        obj["kind"] = json!(res.kind);
        if !obj.get("metadata").is_some_and(Value::is_object) {
            obj["metadata"] = json!({});
        }
        obj["metadata"]["name"] = json!(key.name);
        if res.namespaced {
            obj["metadata"]["namespace"] = json!(key.ns);
        } else if let Some(m) = obj["metadata"].as_object_mut() {
            m.remove("namespace");
        }
        if res.namespaced && !self.has_namespace(&key.ns) {
            return Err(ApiError::not_found("", "namespaces", &key.ns));
        }
        if old.is_none() {
            if let Some(cause) = validate::name(res.names, &key.name) {
                return Err(ApiError::invalid(
                    res.kind,
                    res.group,
                    &key.name,
                    vec![cause],
                ));
            }
        }
        let mut ip = self.ip_counter;
        validate::defaults(res, &mut obj, || {
            ip += 1;
            format!("10.96.{}.{}", (ip >> 8) & 0xff, ip & 0xff)
        });
        let causes = validate::object(res, &obj, old.as_ref());
        if !causes.is_empty() {
            return Err(ApiError::invalid(res.kind, res.group, &key.name, causes));
        }
        let meta_keep = ["uid", "creationTimestamp", "generation"];
        match &old {
            Some(o) => {
                for k in meta_keep {
                    match o["metadata"].get(k) {
                        Some(v) => obj["metadata"][k] = v.clone(),
                        None => {
                            if let Some(m) = obj["metadata"].as_object_mut() {
                                m.remove(k);
                            }
                        }
                    }
                }
                // Writes to the main resource never change status (status subresource).
                match o.get("status") {
                    Some(s) => obj["status"] = s.clone(),
                    None => {
                        if let Some(m) = obj.as_object_mut() {
                            m.remove("status");
                        }
                    }
                }
                if res.generation && o.get("spec") != obj.get("spec") {
                    let g = o
                        .pointer("/metadata/generation")
                        .and_then(Value::as_i64)
                        .unwrap_or(1);
                    obj["metadata"]["generation"] = json!(g + 1);
                }
                let mut a = o.clone();
                let mut b = obj.clone();
                for v in [&mut a, &mut b] {
                    if let Some(m) = v["metadata"].as_object_mut() {
                        m.remove("resourceVersion");
                        m.remove("managedFields");
                    }
                }
                if a == b {
                    return Ok((o.clone(), None));
                }
            }
            None => {
                obj["metadata"]["uid"] = json!(self.next_uid());
                obj["metadata"]["creationTimestamp"] = json!(now());
                if res.generation {
                    obj["metadata"]["generation"] = json!(1);
                } else if let Some(m) = obj["metadata"].as_object_mut() {
                    m.remove("generation");
                }
                if res.kind == "Deployment" || res.kind == "HTTPRoute" {
                    obj["status"] = json!({});
                    if res.kind == "HTTPRoute" {
                        obj["status"] = json!({"parents": []});
                    }
                }
            }
        }
        if let Some(m) = obj["metadata"].as_object_mut() {
            m.remove("managedFields");
            m.remove("deletionTimestamp");
        }
        if opts.dry_run {
            if let Some(o) = &old {
                obj["metadata"]["resourceVersion"] = o["metadata"]["resourceVersion"].clone();
            } else if let Some(m) = obj["metadata"].as_object_mut() {
                m.remove("resourceVersion");
            }
            return Ok((obj, None));
        }
        self.ip_counter = ip;
        self.rv += 1;
        obj["metadata"]["resourceVersion"] = json!(self.rv.to_string());
        let kind = if old.is_some() {
            EventType::Modified
        } else {
            EventType::Added
        };
        self.objects.insert(
            key.clone(),
            Stored {
                value: obj.clone(),
                owners,
            },
        );
        let ev = self.record(key.clone(), kind, obj.clone(), old.as_ref());
        Ok((obj, Some(ev)))
    }

    /// Replaces only the status of a stored object (controller, status subresource).
    pub fn write_status(&mut self, key: &Key, status: Value) -> Option<(Value, Event)> {
        let stored = self.objects.get_mut(key)?;
        if stored.value.get("status") == Some(&status) {
            return None;
        }
        self.rv += 1;
        stored.value["status"] = status;
        stored.value["metadata"]["resourceVersion"] = json!(self.rv.to_string());
        let obj = stored.value.clone();
        let ev = self.record(key.clone(), EventType::Modified, obj.clone(), None);
        Some((obj, ev))
    }

    /// Deletes an object (and, for a namespace, everything in it).
    pub fn delete(
        &mut self,
        res: &Resource,
        key: &Key,
        dry_run: bool,
    ) -> Result<(Value, Vec<Event>), ApiError> {
        let stored = self
            .objects
            .get(key)
            .ok_or_else(|| ApiError::not_found(res.group, res.plural, &key.name))?;
        let uid = stored
            .value
            .pointer("/metadata/uid")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let answer = success_delete(res.group, res.plural, &key.name, &uid);
        if dry_run {
            return Ok((answer, Vec::new()));
        }
        let mut doomed = vec![key.clone()];
        if res.kind == "Namespace" {
            doomed.extend(
                self.objects
                    .keys()
                    .filter(|k| !k.ns.is_empty() && k.ns == key.name)
                    .cloned(),
            );
        }
        let mut events = Vec::new();
        for k in doomed {
            if let Some(mut s) = self.objects.remove(&k) {
                self.rv += 1;
                s.value["metadata"]["resourceVersion"] = json!(self.rv.to_string());
                events.push(self.record(k, EventType::Deleted, s.value, None));
            }
        }
        Ok((answer, events))
    }

    /// Objects of one resource, filtered by namespace (`None`: all namespaces).
    pub fn list<'a>(
        &'a self,
        res: &'a Resource,
        ns: Option<&'a str>,
    ) -> impl Iterator<Item = &'a Value> + 'a {
        self.objects
            .iter()
            .filter(move |(k, _)| {
                k.group == res.group && k.plural == res.plural && ns.is_none_or(|n| k.ns == n)
            })
            .map(|(_, s)| &s.value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_rfc3339_seconds() {
        assert_eq!(timestamp(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        assert_eq!(
            timestamp(UNIX_EPOCH + std::time::Duration::from_secs(1_798_763_629)),
            "2027-01-01T00:33:49Z"
        );
    }
}
