//! The simulated Deployment controller. It does not model ReplicaSets or pods: it computes
//! each Deployment's `status` from the time since its last spec change, the way the real
//! controller's status looks from outside:
//!
//! - `observedGeneration` catches up with `generation` after `observe_lag`;
//! - the new template's replicas become ready and available after `ready_after`; until then
//!   the previous template's available replicas keep serving (`replicas` counts both);
//! - an image containing one of `bad_images` never becomes ready, and after
//!   `spec.progressDeadlineSeconds × deadline_scale` the `Progressing` condition turns
//!   `False` with reason `ProgressDeadlineExceeded`;
//! - conditions `Available` and `Progressing` carry the real reasons and messages;
//! - fake `v1` Pods follow the timeline (`ContainerCreating`, `ErrImagePull` for a bad
//!   image, `Running` and ready), see the `pods` module.

use std::collections::hash_map::DefaultHasher;
use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};
use std::time::Duration;

use serde_json::{json, Value};
use tokio::time::Instant;

use super::pods::{self, PodPhase};
use super::store::{now, Event, EventType, Key, Store};

/// How the simulated Deployment controller behaves.
#[derive(Debug, Clone, PartialEq)]
pub struct ControllerSettings {
    /// Time from a spec change until the new replicas are ready and available.
    pub ready_after: Duration,
    /// A container image containing any of these substrings never becomes ready, and the
    /// Deployment ends with `Progressing=False`, reason `ProgressDeadlineExceeded`.
    pub bad_images: Vec<String>,
    /// Time from a spec change until `status.observedGeneration` equals `metadata.generation`.
    pub observe_lag: Duration,
    /// Multiplies `spec.progressDeadlineSeconds` so tests need not wait minutes: the
    /// default `0.01` turns 600 s into 6 s and 60 s into 0.6 s.
    pub deadline_scale: f64,
}

impl Default for ControllerSettings {
    fn default() -> Self {
        ControllerSettings {
            ready_after: Duration::from_millis(100),
            bad_images: Vec::new(),
            observe_lag: Duration::from_millis(10),
            deadline_scale: 0.01,
        }
    }
}

/// What the controller remembers of one Deployment's current rollout.
#[derive(Debug, Clone)]
pub(crate) struct Track {
    generation: i64,
    template_hash: u64,
    changed_at: Instant,
    old_available: i64,
    template_changed: bool,
}

/// The controller's memory: one track per Deployment.
#[derive(Debug, Default)]
pub(crate) struct Controller {
    tracks: BTreeMap<Key, Track>,
}

fn hash_of(v: Option<&Value>) -> u64 {
    let mut h = DefaultHasher::new();
    serde_json::to_string(&v).unwrap_or_default().hash(&mut h);
    h.finish()
}

/// The `pod-template-hash`-like suffix of the Deployment's current ReplicaSet.
pub(crate) fn rs_name(deploy: &Value) -> String {
    let name = deploy
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("");
    let h = hash_of(deploy.pointer("/spec/template"));
    format!("{name}-{:09x}", h & 0xf_ffff_ffff)
}

fn int(v: &Value, ptr: &str) -> i64 {
    v.pointer(ptr).and_then(Value::as_i64).unwrap_or(0)
}

/// Whether any container image of the Deployment matches a bad-image substring.
pub(crate) fn is_bad(deploy: &Value, bad: &[String]) -> bool {
    deploy
        .pointer("/spec/template/spec/containers")
        .and_then(Value::as_array)
        .is_some_and(|cs| {
            cs.iter().any(|c| {
                let img = c.get("image").and_then(Value::as_str).unwrap_or("");
                bad.iter()
                    .any(|b| !b.is_empty() && img.contains(b.as_str()))
            })
        })
}

fn condition(old: &Value, kind: &str, status: &str, reason: &str, message: String) -> Value {
    let ts = now();
    let prev = old
        .get("conditions")
        .and_then(Value::as_array)
        .and_then(|cs| {
            cs.iter()
                .find(|c| c.get("type").and_then(Value::as_str) == Some(kind))
        });
    let same_status = prev.is_some_and(|p| p.get("status").and_then(Value::as_str) == Some(status));
    let same_all = same_status
        && prev.is_some_and(|p| {
            p.get("reason").and_then(Value::as_str) == Some(reason)
                && p.get("message").and_then(Value::as_str) == Some(message.as_str())
        });
    let transition = match prev {
        Some(p) if same_status => p.get("lastTransitionTime").cloned().unwrap_or(json!(ts)),
        _ => json!(ts),
    };
    let update = match prev {
        Some(p) if same_all => p.get("lastUpdateTime").cloned().unwrap_or(json!(ts)),
        _ => json!(ts),
    };
    json!({"type": kind, "status": status, "lastUpdateTime": update, "lastTransitionTime": transition, "reason": reason, "message": message})
}

impl Controller {
    /// Notes a written or deleted Deployment; a new generation restarts its timeline.
    pub fn observe(&mut self, ev: &Event, at: Instant) {
        if ev.key.group != "apps" || ev.key.plural != "deployments" {
            return;
        }
        if ev.kind == EventType::Deleted {
            self.tracks.remove(&ev.key);
            return;
        }
        let gen = int(&ev.object, "/metadata/generation");
        let hash = hash_of(ev.object.pointer("/spec/template"));
        let prev = self.tracks.get(&ev.key);
        if prev.is_some_and(|t| t.generation == gen) {
            return;
        }
        let available = int(&ev.object, "/status/availableReplicas");
        let track = match prev {
            Some(t) => Track {
                generation: gen,
                template_hash: hash,
                changed_at: at,
                template_changed: t.template_hash != hash,
                old_available: if t.template_hash != hash {
                    available
                } else {
                    t.old_available.max(available)
                },
            },
            None => Track {
                generation: gen,
                template_hash: hash,
                changed_at: at,
                old_available: 0,
                template_changed: true,
            },
        };
        self.tracks.insert(ev.key.clone(), track);
    }

    /// Brings every Deployment's status up to date at `at`; returns the events of the
    /// changes and when to look again.
    pub fn reconcile(
        &mut self,
        store: &mut Store,
        s: &ControllerSettings,
        at: Instant,
    ) -> (Vec<Event>, Option<Instant>) {
        let mut events = Vec::new();
        let mut next: Option<Instant> = None;
        let mut wake = |t: Instant| {
            if t > at {
                next = Some(next.map_or(t, |n| n.min(t)));
            }
        };
        for (key, track) in &self.tracks {
            let Some(stored) = store.objects.get(key) else {
                continue;
            };
            let deploy = &stored.value;
            let elapsed = at.saturating_duration_since(track.changed_at);
            if elapsed < s.observe_lag {
                wake(track.changed_at + s.observe_lag);
                continue;
            }
            let bad = is_bad(deploy, &s.bad_images);
            let n = int(deploy, "/spec/replicas").max(0);
            let ready_at = s.ready_after.max(s.observe_lag);
            let done = !bad && elapsed >= ready_at;
            if !bad && !done {
                wake(track.changed_at + ready_at);
            }
            let deadline = Duration::from_secs_f64(
                (int(deploy, "/spec/progressDeadlineSeconds").max(0) as f64 * s.deadline_scale)
                    .max(0.0),
            );
            let exceeded = bad && n > 0 && elapsed >= deadline;
            if bad && !exceeded && n > 0 {
                wake(track.changed_at + deadline);
            }
            let (total, updated, available) = if done || n == 0 {
                (n, n, n)
            } else if track.template_changed {
                (n + track.old_available, n, track.old_available)
            } else {
                (n, n, track.old_available.min(n))
            };
            let old_status = deploy.get("status").cloned().unwrap_or(json!({}));
            let max_unavailable = n / 4;
            let rs = rs_name(deploy);
            let available_cond = if available >= n - max_unavailable {
                condition(
                    &old_status,
                    "Available",
                    "True",
                    "MinimumReplicasAvailable",
                    "Deployment has minimum availability.".into(),
                )
            } else {
                condition(
                    &old_status,
                    "Available",
                    "False",
                    "MinimumReplicasUnavailable",
                    "Deployment does not have minimum availability.".into(),
                )
            };
            let progressing = if done || n == 0 {
                condition(
                    &old_status,
                    "Progressing",
                    "True",
                    "NewReplicaSetAvailable",
                    format!("ReplicaSet \"{rs}\" has successfully progressed."),
                )
            } else if exceeded {
                condition(
                    &old_status,
                    "Progressing",
                    "False",
                    "ProgressDeadlineExceeded",
                    format!("ReplicaSet \"{rs}\" has timed out progressing."),
                )
            } else {
                condition(
                    &old_status,
                    "Progressing",
                    "True",
                    "ReplicaSetUpdated",
                    format!("ReplicaSet \"{rs}\" is progressing."),
                )
            };
            let mut status = json!({
                "observedGeneration": track.generation,
                "replicas": total,
                "updatedReplicas": updated,
                "conditions": [available_cond, progressing],
            });
            if available > 0 {
                status["readyReplicas"] = json!(available);
                status["availableReplicas"] = json!(available);
            }
            if total - available > 0 {
                status["unavailableReplicas"] = json!(total - available);
            }
            if total == 0 {
                if let Some(o) = status.as_object_mut() {
                    o.remove("replicas");
                    o.remove("updatedReplicas");
                }
            }
            let key = key.clone();
            let deploy = deploy.clone();
            if let Some((_, ev)) = store.write_status(&key, status) {
                events.push(ev);
            }
            let phase = if done || n == 0 {
                PodPhase::Ready
            } else if bad {
                PodPhase::BadImage
            } else {
                PodPhase::Starting
            };
            events.extend(pods::sync(store, &deploy, &rs, track.template_hash, phase));
        }
        events.extend(pods::collect_orphans(store));
        (events, next)
    }
}
