//! Fake pods for the simulated Deployment controller, so a driver can read container
//! waiting reasons (`ErrImagePull`) as it would on a cluster. Pods are plain stored `v1`
//! Pod objects labelled like the real ones (template labels + `pod-template-hash`), owned by
//! the Deployment's notional ReplicaSet; they are created, updated and deleted by the
//! controller only (no scheduler, kubelet or ReplicaSet objects).

use serde_json::{json, Value};

use super::discovery::{find, Resource};
use super::store::{now, Event, Key, Store, WriteOpts};

/// The annotation tying a fake pod to its Deployment (for cleanup).
const OWNER: &str = "fake.shipcore.io/deployment";
const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

/// The state the pods of the current template should show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PodPhase {
    /// Starting (`ContainerCreating`).
    Starting,
    /// Never starts: `ErrImagePull`.
    BadImage,
    /// Running and ready; pods of older templates are gone.
    Ready,
}

fn pod_res() -> Option<&'static Resource> {
    find("", "v1", "pods", true)
}

fn suffix(seed: u64, i: usize) -> String {
    let mut x = seed ^ ((i as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    (0..5)
        .map(|_| {
            let c = ALPHABET[(x % ALPHABET.len() as u64) as usize] as char;
            x /= ALPHABET.len() as u64;
            c
        })
        .collect()
}

fn pod_status(template: &Value, phase: PodPhase) -> Value {
    let containers = template
        .pointer("/spec/containers")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let ts = now();
    let statuses: Vec<Value> = containers
        .iter()
        .map(|c| {
            let image = c.get("image").and_then(Value::as_str).unwrap_or("");
            let state = match phase {
                PodPhase::Starting => json!({"waiting": {"reason": "ContainerCreating"}}),
                PodPhase::BadImage => json!({"waiting": {"reason": "ErrImagePull", "message": format!("failed to pull and unpack image \"{image}\": not found")}}),
                PodPhase::Ready => json!({"running": {"startedAt": ts}}),
            };
            json!({"name": c.get("name").cloned().unwrap_or(json!("")), "image": image, "imageID": "",
                   "ready": phase == PodPhase::Ready, "started": phase == PodPhase::Ready, "restartCount": 0, "state": state})
        })
        .collect();
    let ready = if phase == PodPhase::Ready {
        "True"
    } else {
        "False"
    };
    json!({
        "phase": if phase == PodPhase::Ready { "Running" } else { "Pending" },
        "conditions": [
            {"type": "PodScheduled", "status": "True", "lastTransitionTime": ts},
            {"type": "Ready", "status": ready, "lastTransitionTime": ts},
            {"type": "ContainersReady", "status": ready, "lastTransitionTime": ts},
        ],
        "containerStatuses": statuses,
        "hostIP": "10.0.0.1", "podIP": "10.244.0.10", "qosClass": "BestEffort", "startTime": ts,
    })
}

/// Makes the Deployment's pods match `phase`: `replicas` pods of the current template
/// (named `<replicaset>-<5 chars>`), older templates' pods kept until `Ready`.
pub(crate) fn sync(
    store: &mut Store,
    deploy: &Value,
    rs: &str,
    hash: u64,
    phase: PodPhase,
) -> Vec<Event> {
    let Some(res) = pod_res() else {
        return Vec::new();
    };
    let ns = deploy
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or("default")
        .to_string();
    let dname = deploy
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let n = deploy
        .pointer("/spec/replicas")
        .and_then(Value::as_i64)
        .unwrap_or(0)
        .max(0) as usize;
    let template = deploy
        .pointer("/spec/template")
        .cloned()
        .unwrap_or(json!({}));
    let pod_hash = rs.rsplit('-').next().unwrap_or("").to_string();
    let mut events = Vec::new();
    let owned: Vec<(Key, bool)> = store
        .list(res, Some(&ns))
        .filter(|p| {
            p.pointer(&format!(
                "/metadata/annotations/{}",
                OWNER.replace('/', "~1")
            ))
            .and_then(Value::as_str)
                == Some(dname.as_str())
        })
        .map(|p| {
            let name = p
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or("");
            let current = p
                .pointer("/metadata/labels/pod-template-hash")
                .and_then(Value::as_str)
                == Some(pod_hash.as_str());
            (Key::new(res, &ns, name), current)
        })
        .collect();
    let wanted: Vec<String> = (0..n)
        .map(|i| format!("{rs}-{}", suffix(hash, i)))
        .collect();
    for (key, current) in &owned {
        let extra = *current && !wanted.contains(&key.name);
        if extra || (!*current && phase == PodPhase::Ready) {
            if let Ok((_, evs)) = store.delete(res, key, false) {
                events.extend(evs);
            }
        }
    }
    let status = pod_status(&template, phase);
    for name in wanted {
        let key = Key::new(res, &ns, &name);
        if store.objects.contains_key(&key) {
            let mut st = status.clone();
            // Keep timestamps stable when nothing changed.
            if let Some(old) = store.objects.get(&key).and_then(|s| s.value.get("status")) {
                // A running pod of this template stays running (a scale-up starts new ones).
                if phase == PodPhase::Starting
                    && old.get("phase").and_then(Value::as_str) == Some("Running")
                {
                    continue;
                }
                if old.get("phase") == st.get("phase")
                    && old
                        .pointer("/containerStatuses/0/state")
                        .map(|s| s.as_object().map(|o| o.keys().cloned().collect::<Vec<_>>()))
                        == st
                            .pointer("/containerStatuses/0/state")
                            .map(|s| s.as_object().map(|o| o.keys().cloned().collect::<Vec<_>>()))
                {
                    continue;
                }
                st["startTime"] = old.get("startTime").cloned().unwrap_or(json!(now()));
            }
            if let Some((_, ev)) = store.write_status(&key, st) {
                events.push(ev);
            }
            continue;
        }
        let mut labels = template
            .pointer("/metadata/labels")
            .cloned()
            .unwrap_or(json!({}));
        if !labels.is_object() {
            labels = json!({});
        }
        labels["pod-template-hash"] = json!(pod_hash);
        let pod = json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": ns, "labels": labels,
                         "annotations": {OWNER: dname},
                         "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": rs, "uid": "", "controller": true, "blockOwnerDeletion": true}]},
            "spec": {"nodeName": "fake-node"},
            "status": status,
        });
        let mut pod = pod;
        if let Some(spec) = template.get("spec").and_then(Value::as_object) {
            for (k, v) in spec {
                pod["spec"][k] = v.clone();
            }
        }
        let owners = super::apply::Ownership::default();
        if let Ok((_, Some(ev))) =
            store.write(res, &key, pod, owners, &WriteOpts { dry_run: false })
        {
            events.push(ev);
        }
    }
    events
}

/// Deletes fake pods whose Deployment no longer exists (garbage collection).
pub(crate) fn collect_orphans(store: &mut Store) -> Vec<Event> {
    let Some(res) = pod_res() else {
        return Vec::new();
    };
    let ptr = format!("/metadata/annotations/{}", OWNER.replace('/', "~1"));
    let orphans: Vec<Key> = store
        .list(res, None)
        .filter_map(|p| {
            let owner = p.pointer(&ptr).and_then(Value::as_str)?;
            let ns = p
                .pointer("/metadata/namespace")
                .and_then(Value::as_str)
                .unwrap_or("");
            let dkey = Key {
                group: "apps".into(),
                plural: "deployments".into(),
                ns: ns.into(),
                name: owner.into(),
            };
            if store.objects.contains_key(&dkey) {
                return None;
            }
            Some(Key::new(
                res,
                ns,
                p.pointer("/metadata/name")
                    .and_then(Value::as_str)
                    .unwrap_or(""),
            ))
        })
        .collect();
    let mut events = Vec::new();
    for k in orphans {
        if let Ok((_, evs)) = store.delete(res, &k, false) {
            events.extend(evs);
        }
    }
    events
}
