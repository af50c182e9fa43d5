//! The simulated platform's state as plain data ([`SimSnapshot`]) and the pure rules that
//! change it: deploy, scale, route, retire, flags, and readiness/weights as seen at an instant.
//! No clock and no lock here: callers pass `now`.

use super::rng::SimRng;
use super::sim_config::{Behaviour, CrashLoop, SimConfig};
use super::sim_targets::TargetRuns;
use crate::driver::DriverError;
use crate::metrics::Labels;
use crate::model::{Action, FleetState, Revision, RevisionId, RevisionState, Target, WeightSet};
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Version of the snapshot layout.
pub const SNAPSHOT_FORMAT: u32 = 1;

/// One running instance (a pod, a task, a container).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Instance {
    /// Unique within the simulator.
    pub id: u64,
    /// When it was started.
    pub started_at: Timestamp,
    /// When it passes readiness (unless its version crash-loops).
    pub ready_at: Timestamp,
}

impl Instance {
    /// Whether it is ready at `now` under `crash`.
    pub fn is_ready(&self, now: Timestamp, crash: Option<CrashLoop>) -> bool {
        if now < self.ready_at {
            return false;
        }
        match crash {
            None => true,
            Some(CrashLoop { after: None }) => false,
            Some(CrashLoop { after: Some(d) }) => now < self.ready_at.plus(d),
        }
    }
}

/// One revision on one target, with its instances (desired replicas = instance count).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevisionRun {
    /// What runs.
    pub revision: Revision,
    /// Its instances, oldest first.
    pub instances: Vec<Instance>,
    /// The labels of its series, made when first asked for.
    #[serde(skip)]
    pub(crate) labels: LabelCache,
}

impl RevisionRun {
    /// `revision` running on `instances`.
    pub fn new(revision: Revision, instances: Vec<Instance>) -> Self {
        RevisionRun {
            revision,
            instances,
            labels: LabelCache::default(),
        }
    }
}

/// The labels of a simulated series, made the first time a query answers it and kept
/// (a target's labels and a revision's never change while it runs). A clone starts
/// empty, and the cache is invisible to equality and to serde.
#[derive(Default)]
pub(crate) struct LabelCache(std::sync::OnceLock<Labels>);

impl LabelCache {
    /// The labels, made by `make` the first time.
    pub(crate) fn get_or_init(&self, make: impl FnOnce() -> Labels) -> Labels {
        self.0.get_or_init(make).clone()
    }
}

impl Clone for LabelCache {
    fn clone(&self) -> Self {
        LabelCache::default()
    }
}

impl PartialEq for LabelCache {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for LabelCache {}

impl std::fmt::Debug for LabelCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LabelCache")
    }
}

/// Everything one target runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetRun {
    /// Which target.
    pub target: Target,
    /// Revisions in the order they were first deployed.
    pub revisions: Vec<RevisionRun>,
    /// The traffic split last routed, or `None` when traffic follows ready replicas.
    #[serde(default)]
    pub routes: Option<Vec<(RevisionId, u8)>>,
    /// Feature flags (name → percent).
    #[serde(default)]
    pub flags: BTreeMap<String, u8>,
    /// The labels of its series, made when first asked for.
    #[serde(skip)]
    pub(crate) labels: LabelCache,
}

/// How many driver calls were made, by kind (the 1-based numbers scripted faults refer to).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct CallCounts {
    /// All calls (`observe` and `apply`).
    pub total: u64,
    /// `observe` calls.
    pub observe: u64,
    /// `apply` calls.
    pub apply: u64,
}

/// Which counter a scripted fault watches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallKind {
    /// Any call.
    Any,
    /// `observe` calls only.
    Observe,
    /// `apply` calls only.
    Apply,
}

/// "Fail the `n`th call of this kind with this error" (fires once).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScriptedFault {
    /// Which counter.
    pub on: CallKind,
    /// 1-based call number.
    pub n: u64,
    /// The error (its `operation` is filled in from the call).
    pub error: DriverError,
}

/// The whole simulated platform, serializable: restore it in another process and it goes on
/// exactly as this one would.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SimSnapshot {
    /// Layout version ([`SNAPSHOT_FORMAT`]).
    pub format: u32,
    /// Clock reading when the snapshot was taken (restore the clock to it).
    pub taken_at: Timestamp,
    /// Configuration and injected failures.
    pub config: SimConfig,
    /// The driver's random generator (transient faults).
    pub rng: SimRng,
    /// Calls made so far.
    pub calls: CallCounts,
    /// Next instance id.
    pub next_instance: u64,
    /// Targets by their display name (`ns/service@environment`).
    pub targets: TargetRuns,
    /// Scripted faults not yet fired.
    #[serde(default)]
    pub scripted: Vec<ScriptedFault>,
    /// Artifacts whose deployment fails permanently, with the platform's message.
    #[serde(default)]
    pub bad_artifacts: BTreeMap<String, String>,
}

impl SimSnapshot {
    /// An empty platform.
    pub fn new(config: SimConfig) -> Self {
        SimSnapshot {
            format: SNAPSHOT_FORMAT,
            taken_at: Timestamp::ZERO,
            rng: SimRng::new(config.seed),
            config,
            calls: CallCounts::default(),
            next_instance: 1,
            targets: TargetRuns::new(),
            scripted: Vec::new(),
            bad_artifacts: BTreeMap::new(),
        }
    }

    /// The run of a target, if it has any.
    pub fn target(&self, target: &Target) -> Option<&TargetRun> {
        with_key(target, |key| self.targets.get(key))
    }

    /// [`target`](Self::target) of the target with these parts, without building one.
    pub(crate) fn target_named(
        &self,
        service: &str,
        environment: &str,
        namespace: Option<&str>,
    ) -> Option<&TargetRun> {
        with_key_of(service, environment, namespace, |key| self.targets.get(key))
    }

    fn target_mut(&mut self, target: &Target) -> &mut TargetRun {
        // The key copied from one built on the stack: one allocation of its size, without
        // the formatting machinery of `to_string`.
        let key = with_key(target, str::to_owned);
        self.targets
            .get_or_insert_with(key, || TargetRun::new(target.clone()))
    }

    fn new_instances(
        &mut self,
        n: u32,
        now: Timestamp,
        boot: std::time::Duration,
    ) -> Vec<Instance> {
        let first = self.next_instance;
        self.next_instance += n as u64;
        (0..n as u64)
            .map(|i| Instance {
                id: first + i,
                started_at: now,
                ready_at: now.plus(boot),
            })
            .collect()
    }

    /// Replaces whatever `target` runs with `replicas` ready instances of `revision`.
    pub fn seed_stable(
        &mut self,
        target: &Target,
        revision: &Revision,
        replicas: u32,
        now: Timestamp,
    ) {
        let instances = self.new_instances(replicas, now, std::time::Duration::ZERO);
        let t = self.target_mut(target);
        t.revisions = vec![RevisionRun::new(revision.clone(), instances)];
        t.routes = None;
    }

    /// The fleet of `target` at `now`.
    pub fn fleet(&self, target: &Target, now: Timestamp) -> FleetState {
        match self.target(target) {
            Some(t) => t.fleet(&self.config, now),
            None => FleetState::default(),
        }
    }

    /// Applies one action at `now`: the platform's rules, without faults.
    pub fn apply(
        &mut self,
        target: &Target,
        action: &Action,
        now: Timestamp,
    ) -> Result<(), DriverError> {
        let op = || action.describe();
        let caps = self.config.capabilities;
        match action {
            Action::Deploy { revision, replicas } => {
                if revision.id.0.trim().is_empty() {
                    return Err(DriverError::permanent(
                        op(),
                        "revision id must not be empty",
                    ));
                }
                if let Some(msg) = self.bad_artifacts.get(&revision.artifact) {
                    return Err(DriverError::permanent(op(), msg.clone()));
                }
                if !caps.side_by_side && *replicas > 0 {
                    if let Some(other) = self.target(target).and_then(|t| {
                        t.revisions
                            .iter()
                            .find(|r| r.revision.id != revision.id && !r.instances.is_empty())
                    }) {
                        return Err(DriverError::permanent(
                            op(),
                            format!(
                                "this platform cannot run two revisions side by side and {} still has {} replicas (capability side_by_side is off)",
                                other.revision.id,
                                other.instances.len()
                            ),
                        ));
                    }
                }
                let b = self.config.behaviour(revision);
                let existing = self.target(target).and_then(|t| {
                    t.revisions
                        .iter()
                        .position(|r| r.revision.id == revision.id)
                        .map(|i| (i, t.revisions[i].revision != *revision))
                });
                match existing {
                    Some((i, true)) => {
                        // A new spec under the same id: every instance is replaced.
                        let fresh = self.new_instances(*replicas, now, b.boot);
                        let run = &mut self.target_mut(target).revisions[i];
                        *run = RevisionRun::new(revision.clone(), fresh);
                    }
                    Some((i, false)) => self.resize(target, i, *replicas, now, b),
                    None => {
                        let instances = self.new_instances(*replicas, now, b.boot);
                        self.target_mut(target)
                            .revisions
                            .push(RevisionRun::new(revision.clone(), instances));
                    }
                }
                Ok(())
            }
            Action::Scale { revision, replicas } => {
                let found = self.target(target).and_then(|t| {
                    t.revisions
                        .iter()
                        .position(|r| &r.revision.id == revision)
                        .map(|i| (i, self.config.behaviour(&t.revisions[i].revision)))
                });
                let Some((i, b)) = found else {
                    return Err(DriverError::permanent(
                        op(),
                        format!(
                            "revision {revision} is not deployed on {target} (known: {})",
                            self.known(target)
                        ),
                    ));
                };
                self.resize(target, i, *replicas, now, b);
                Ok(())
            }
            Action::Route { weights } => {
                if !caps.weighted_traffic {
                    return Err(DriverError::permanent(
                        op(),
                        "this platform cannot split traffic by weight (capability weighted_traffic is off)",
                    ));
                }
                let routes = self
                    .check_route(target, weights)
                    .map_err(|m| DriverError::permanent(op(), m))?;
                self.target_mut(target).routes = Some(routes);
                Ok(())
            }
            Action::Retire { revision } => {
                let key = target.to_string();
                if let Some(t) = self.targets.get_mut(&key) {
                    t.revisions.retain(|r| &r.revision.id != revision);
                    if let Some(routes) = &mut t.routes {
                        routes.retain(|(r, _)| r != revision);
                        if routes.is_empty() {
                            t.routes = None;
                        }
                    }
                    if t.revisions.is_empty() && t.flags.is_empty() {
                        self.targets.remove(&key);
                    }
                }
                Ok(())
            }
            Action::SetFlag { flag, percent } => {
                if !caps.feature_flags {
                    return Err(DriverError::permanent(
                        op(),
                        "this platform manages no feature flags (capability feature_flags is off)",
                    ));
                }
                if flag.trim().is_empty() {
                    return Err(DriverError::permanent(op(), "flag name must not be empty"));
                }
                if *percent > 100 {
                    return Err(DriverError::permanent(
                        op(),
                        format!("flag percent {percent} is not within 0..=100"),
                    ));
                }
                self.target_mut(target).flags.insert(flag.clone(), *percent);
                Ok(())
            }
        }
    }

    fn known(&self, target: &Target) -> String {
        let names: Vec<&str> = self
            .target(target)
            .map(|t| t.revisions.iter().map(|r| r.revision.id.as_str()).collect())
            .unwrap_or_default();
        if names.is_empty() {
            "none".into()
        } else {
            names.join(", ")
        }
    }

    fn check_route(
        &self,
        target: &Target,
        weights: &WeightSet,
    ) -> Result<Vec<(RevisionId, u8)>, String> {
        // Only error messages list the weights.
        let listed = || {
            let listed: Vec<String> = weights.0.iter().map(|(r, w)| format!("{r}={w}%")).collect();
            listed.join(" ")
        };
        if weights.total() != 100 {
            return Err(format!(
                "route weights must sum to 100, got {} ({})",
                weights.total(),
                listed()
            ));
        }
        let run = self.target(target);
        let mut routes = Vec::with_capacity(weights.0.len());
        for (i, (id, w)) in weights.0.iter().enumerate() {
            if weights.0[..i].iter().any(|(other, _)| other == id) {
                return Err(format!("route names revision {id} twice ({})", listed()));
            }
            let known = run.is_some_and(|t| t.revisions.iter().any(|r| &r.revision.id == id));
            if !known {
                if *w > 0 {
                    return Err(format!(
                        "route sends {w}% to revision {id}, which is not deployed on {target} (known: {})",
                        self.known(target)
                    ));
                }
                // A zero weight for a revision that is gone is harmless (a retried rollback).
                continue;
            }
            routes.push((id.clone(), *w));
        }
        Ok(routes)
    }

    /// Sets revision `i` of `target` to `replicas`: new instances boot from `now`; scaling
    /// down removes not-ready instances first, then the newest.
    fn resize(&mut self, target: &Target, i: usize, replicas: u32, now: Timestamp, b: Behaviour) {
        let count = self.target_mut(target).revisions[i].instances.len();
        let want = replicas as usize;
        if want > count {
            let fresh = self.new_instances((want - count) as u32, now, b.boot);
            self.target_mut(target).revisions[i].instances.extend(fresh);
        } else if want < count {
            let run = &mut self.target_mut(target).revisions[i];
            // Sort key: not-ready before ready, then newest (highest id) first.
            let mut order: Vec<(bool, std::cmp::Reverse<u64>)> = run
                .instances
                .iter()
                .map(|x| (x.is_ready(now, b.crash), std::cmp::Reverse(x.id)))
                .collect();
            order.sort_unstable();
            let doomed: Vec<u64> = order[..count - want].iter().map(|(_, id)| id.0).collect();
            run.instances.retain(|x| !doomed.contains(&x.id));
        }
    }
}

/// Calls `f` with `target`'s key in [`SimSnapshot::targets`] (its `Display`), written on
/// the stack when it is short, so that looking a target up allocates nothing.
fn with_key<R>(target: &Target, f: impl FnOnce(&str) -> R) -> R {
    with_key_of(
        &target.service,
        &target.environment,
        target.namespace.as_deref(),
        f,
    )
}

/// [`with_key`] from the target's parts: `namespace/service@environment`, or
/// `service@environment` without a namespace (as `Target`'s `Display` writes it).
fn with_key_of<R>(
    service: &str,
    environment: &str,
    namespace: Option<&str>,
    f: impl FnOnce(&str) -> R,
) -> R {
    let mut buf = KeyBuf {
        bytes: [0; 128],
        len: 0,
    };
    let parts: [&str; 5] = match namespace {
        Some(ns) => [ns, "/", service, "@", environment],
        None => ["", "", service, "@", environment],
    };
    if parts.iter().all(|p| buf.push(p)) {
        if let Ok(key) = std::str::from_utf8(buf.bytes.get(..buf.len).unwrap_or_default()) {
            return f(key);
        }
    }
    f(&parts.concat())
}

/// A fixed buffer that refuses (rather than truncates) text longer than it holds.
struct KeyBuf {
    bytes: [u8; 128],
    len: usize,
}

impl KeyBuf {
    /// Appends `s`; false (and nothing appended) when it does not fit.
    fn push(&mut self, s: &str) -> bool {
        let end = self.len + s.len();
        let Some(slot) = self.bytes.get_mut(self.len..end) else {
            return false;
        };
        slot.copy_from_slice(s.as_bytes());
        self.len = end;
        true
    }
}

/// One revision as the platform serves it at an instant.
#[derive(Debug, Clone)]
pub struct RevisionView<'a> {
    /// The run.
    pub run: &'a RevisionRun,
    /// Its resolved behaviour.
    pub behaviour: Behaviour,
    /// Ready instances.
    pub ready: u32,
    /// Traffic share, percent.
    pub weight: u8,
}

impl TargetRun {
    /// `target`, running nothing yet.
    pub fn new(target: Target) -> Self {
        TargetRun {
            target,
            revisions: Vec::new(),
            routes: None,
            flags: BTreeMap::new(),
            labels: LabelCache::default(),
        }
    }

    /// Every revision with readiness and weight at `now`.
    pub fn view(&self, config: &SimConfig, now: Timestamp) -> Vec<RevisionView<'_>> {
        let mut views = Vec::with_capacity(self.revisions.len());
        self.view_each(config, now, |_| true, |v| views.push(v));
        views
    }

    /// [`view`](Self::view) of the revisions `keep` picks, handed to `each` in order,
    /// without a vector. When routes decide the weights, a revision not picked is not
    /// looked at further (its instances are not counted): a metrics query about one
    /// revision reads only that one.
    pub(crate) fn view_each<'a>(
        &'a self,
        config: &SimConfig,
        now: Timestamp,
        mut keep: impl FnMut(&RevisionRun) -> bool,
        mut each: impl FnMut(RevisionView<'a>),
    ) {
        let seen = |run: &'a RevisionRun| {
            let behaviour = config.behaviour(&run.revision);
            let ready = run
                .instances
                .iter()
                .filter(|x| x.is_ready(now, behaviour.crash))
                .count() as u32;
            RevisionView {
                run,
                behaviour,
                ready,
                weight: 0,
            }
        };
        match (&self.routes, config.capabilities.weighted_traffic) {
            (Some(routes), true) => {
                for run in self.revisions.iter().filter(|run| keep(run)) {
                    let mut v = seen(run);
                    v.weight = routes
                        .iter()
                        .find(|(id, _)| *id == run.revision.id)
                        .map(|(_, w)| *w)
                        .unwrap_or(0);
                    each(v);
                }
            }
            _ => {
                // Weights follow every revision's ready replicas.
                let mut views: Vec<RevisionView<'a>> = self.revisions.iter().map(seen).collect();
                let shares = ready_shares(&views.iter().map(|v| v.ready).collect::<Vec<_>>());
                for (v, w) in views.iter_mut().zip(shares) {
                    v.weight = w;
                }
                views.into_iter().filter(|v| keep(v.run)).for_each(each);
            }
        }
    }

    /// The fleet at `now`.
    pub fn fleet(&self, config: &SimConfig, now: Timestamp) -> FleetState {
        let revisions = self
            .view(config, now)
            .into_iter()
            .map(|v| RevisionState {
                revision: v.run.revision.id.clone(),
                desired: v.run.instances.len() as u32,
                ready: v.ready,
                updated: v.run.instances.len() as u32,
                weight: v.weight,
            })
            .collect();
        FleetState {
            revisions,
            flags: self.flags.clone(),
        }
    }
}

/// Percent shares proportional to `ready`, summing to 100 when any is ready (largest
/// remainder; ties go to the earlier revision).
pub(crate) fn ready_shares(ready: &[u32]) -> Vec<u8> {
    let total: u64 = ready.iter().map(|&r| r as u64).sum();
    if total == 0 {
        return vec![0; ready.len()];
    }
    let mut shares: Vec<u8> = ready
        .iter()
        .map(|&r| (r as u64 * 100 / total) as u8)
        .collect();
    let given: u64 = shares.iter().map(|&s| s as u64).sum();
    let mut by_remainder: Vec<(u64, usize)> = ready
        .iter()
        .enumerate()
        .map(|(i, &r)| (r as u64 * 100 % total, i))
        .collect();
    // Largest remainder first; on a tie the earlier index first.
    by_remainder.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    for &(_, i) in by_remainder.iter().take((100 - given) as usize) {
        shares[i] += 1;
    }
    shares
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod key_tests {
    use super::*;

    #[test]
    fn a_target_is_found_by_its_parts_as_by_itself() {
        let mut s = SimSnapshot::new(SimConfig::default());
        let v1 = Revision::new("v1", "1.0.0".parse().unwrap(), "web:1");
        let mut in_ns = Target::new("web", "prod");
        in_ns.namespace = Some("shop".into());
        let long = Target::new("s".repeat(200), "prod");
        for t in [Target::new("web", "prod"), in_ns, long] {
            s.seed_stable(&t, &v1, 1, Timestamp(0));
            let by_parts = s.target_named(&t.service, &t.environment, t.namespace.as_deref());
            assert_eq!(by_parts.map(|r| &r.target), Some(&t));
            assert_eq!(by_parts, s.target(&t));
        }
        assert!(s.target_named("web", "prod", Some("other")).is_none());
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn t() -> Target {
        Target::new("web", "prod")
    }
    fn rev(id: &str) -> Revision {
        Revision::new(id, "1.0.0".parse().unwrap(), format!("web:{id}"))
    }
    fn deploy(s: &mut SimSnapshot, id: &str, n: u32, now: u64) -> Result<(), DriverError> {
        s.apply(
            &t(),
            &Action::Deploy {
                revision: rev(id),
                replicas: n,
            },
            Timestamp(now),
        )
    }

    #[test]
    fn ready_shares_sum_to_100_and_are_deterministic() {
        assert_eq!(ready_shares(&[1, 1, 1]), vec![34, 33, 33]);
        assert_eq!(ready_shares(&[3, 0]), vec![100, 0]);
        assert_eq!(ready_shares(&[0, 0]), vec![0, 0]);
        assert_eq!(ready_shares(&[1, 2]), vec![33, 67]);
        assert_eq!(ready_shares(&[2, 1]), vec![67, 33]);
        for n in 1..30u32 {
            let v = ready_shares(&[n, 7, 30 - n]);
            assert_eq!(v.iter().map(|&x| x as u32).sum::<u32>(), 100, "{n}: {v:?}");
        }
    }

    #[test]
    fn scale_down_removes_not_ready_then_newest() {
        let mut s = SimSnapshot::new(SimConfig::default());
        deploy(&mut s, "a", 2, 0).unwrap(); // ids 1, 2 ready at 10 s
        deploy(&mut s, "a", 4, 20_000).unwrap(); // ids 3, 4 ready at 30 s
        deploy(&mut s, "a", 3, 25_000).unwrap(); // removes 4 (not ready, newest)
        let ids: Vec<u64> = s.target(&t()).unwrap().revisions[0]
            .instances
            .iter()
            .map(|x| x.id)
            .collect();
        assert_eq!(ids, vec![1, 2, 3]);
        deploy(&mut s, "a", 1, 40_000).unwrap(); // all ready: removes newest 3 then 2
        let ids: Vec<u64> = s.target(&t()).unwrap().revisions[0]
            .instances
            .iter()
            .map(|x| x.id)
            .collect();
        assert_eq!(ids, vec![1]);
    }

    #[test]
    fn crash_after_makes_instances_unready_later() {
        let x = Instance {
            id: 1,
            started_at: Timestamp(0),
            ready_at: Timestamp(10_000),
        };
        let crash = Some(CrashLoop {
            after: Some(Duration::from_secs(30)),
        });
        assert!(!x.is_ready(Timestamp(9_999), crash));
        assert!(x.is_ready(Timestamp(10_000), crash));
        assert!(x.is_ready(Timestamp(39_999), crash));
        assert!(!x.is_ready(Timestamp(40_000), crash));
        assert!(!x.is_ready(Timestamp(50_000), Some(CrashLoop { after: None })));
    }

    #[test]
    fn targets_with_long_or_unusual_names_are_found_by_their_display() {
        let mut long = Target::new("s".repeat(150), "prod");
        long.namespace = Some("ns".into());
        let odd = Target::new("wéb→ü", "prød");
        let edge = Target::new("x".repeat(123), "prod"); // exactly 128 bytes with "@prod"
        assert_eq!(edge.to_string().len(), 128);
        for target in [long, odd, edge, t()] {
            let mut s = SimSnapshot::new(SimConfig::default());
            s.seed_stable(&target, &rev("a"), 2, Timestamp(0));
            assert!(s.targets.contains_key(&target.to_string()));
            let run = s.target(&target).unwrap();
            assert_eq!(run.target, target);
            assert_eq!(s.fleet(&target, Timestamp(0)).ready_of(&"a".into()), 2);
        }
    }

    #[test]
    fn retire_of_the_last_revision_forgets_the_target() {
        let mut s = SimSnapshot::new(SimConfig::default());
        deploy(&mut s, "a", 1, 0).unwrap();
        s.apply(
            &t(),
            &Action::Retire {
                revision: "a".into(),
            },
            Timestamp(0),
        )
        .unwrap();
        assert!(s.targets.is_empty());
    }
}
