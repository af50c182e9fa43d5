//! [`SimDriver`]: a deterministic fleet simulator implementing [`Driver`]. Instances boot
//! over simulated time, versions fail as injected, API calls fail as scripted or at a seeded
//! rate, and the whole platform can be snapshotted, restored, or persisted to a file.

use super::sim_config::{check_fraction, Failure, FaultKey, SimConfig, SimError};
use super::sim_state::{CallCounts, CallKind, ScriptedFault, SimSnapshot, SNAPSHOT_FORMAT};
use crate::clock::Clock;
use crate::driver::{Capabilities, Driver, DriverError, ErrorKind};
use crate::model::{Action, FieldError, FleetState, Revision, Target};
use crate::time::Timestamp;
use async_trait::async_trait;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

struct Inner {
    snap: SimSnapshot,
    persist: Option<PathBuf>,
    /// Accepted actions, when recording (not part of the platform's state).
    log: Option<Vec<(Target, Action)>>,
}

/// A simulated platform. Cloning gives another handle to the same platform (as
/// [`SimMetrics`](super::SimMetrics) does).
///
/// Rules:
/// - `Deploy` creates or resizes a revision; new instances are ready `boot_time` after they
///   start (per version: [`Failure::BootTime`], [`Failure::SlowReadiness`]); readiness is
///   computed from the clock when observed. A changed artifact or version under the same id
///   replaces every instance.
/// - Scaling down removes not-ready instances first, then the newest. `Scale` of an unknown
///   revision is a permanent error; `Retire` of an absent one succeeds. A retired revision
///   leaves the routed split (the rest keep their weights; with none left, weights follow
///   ready replicas again).
/// - `Route` weights must sum to 100 and name deployed revisions (a 0 weight for an absent
///   revision is ignored). Until a route is applied, or without `weighted_traffic`, weights
///   follow ready replicas. Without `weighted_traffic`, `Route` is a permanent error; without
///   `feature_flags`, `SetFlag` is; without `side_by_side`, deploying a second revision while
///   another has replicas is.
/// - Failure injection applies at once to running instances too, except boot times.
/// - Faults: scripted ones first ([`SimDriver::fail_call`]), then the seeded
///   `transient_fault_rate`; a share of transient apply faults happen after the change
///   (`lost_response_share`).
///
/// ```
/// use shipcore::clock::SimClock;
/// use shipcore::driver::Driver;
/// use shipcore::model::{Action, Revision, Target};
/// use shipcore::testing::SimDriver;
/// use std::{sync::Arc, time::Duration};
/// # tokio_test_block_on(async {
/// let clock = Arc::new(SimClock::new(Default::default()));
/// let sim = SimDriver::new(clock.clone(), 42);
/// let web = Target::new("web", "production");
/// let v2 = Revision::new("web-v2", "2.0.0".parse().unwrap(), "web:2.0.0");
/// sim.apply(&web, &Action::Deploy { revision: v2.clone(), replicas: 3 }).await.unwrap();
/// assert_eq!(sim.observe(&web).await.unwrap().ready_of(&v2.id), 0);
/// clock.advance(Duration::from_secs(10));
/// assert_eq!(sim.observe(&web).await.unwrap().ready_of(&v2.id), 3);
/// # });
/// # fn tokio_test_block_on<F: std::future::Future>(f: F) -> F::Output {
/// #     tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
/// # }
/// ```
#[derive(Clone)]
pub struct SimDriver {
    clock: Arc<dyn Clock>,
    /// Queries of many rollouts read at once; driver calls write.
    inner: Arc<RwLock<Inner>>,
}

impl std::fmt::Debug for SimDriver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = self.read();
        f.debug_struct("SimDriver")
            .field("now", &self.clock.now())
            .field("targets", &s.snap.targets.len())
            .field("calls", &s.snap.calls)
            .field("persist", &s.persist)
            .finish()
    }
}

impl SimDriver {
    /// A platform with the default [`SimConfig`] and `seed`.
    pub fn new(clock: Arc<dyn Clock>, seed: u64) -> Self {
        Self::from_parts(clock, SimSnapshot::new(SimConfig::seeded(seed)))
    }

    /// A platform with `config` (checked first).
    pub fn with_config(clock: Arc<dyn Clock>, config: SimConfig) -> Result<Self, SimError> {
        config.validate()?;
        Ok(Self::from_parts(clock, SimSnapshot::new(config)))
    }

    /// A platform rebuilt from a snapshot (the clock is not touched: restore it yourself,
    /// e.g. `SimClock::advance_to(snapshot.taken_at)`).
    pub fn from_snapshot(clock: Arc<dyn Clock>, snapshot: SimSnapshot) -> Result<Self, SimError> {
        check_snapshot(&snapshot)?;
        Ok(Self::from_parts(clock, snapshot))
    }

    fn from_parts(clock: Arc<dyn Clock>, snap: SimSnapshot) -> Self {
        SimDriver {
            clock,
            inner: Arc::new(RwLock::new(Inner {
                snap,
                persist: None,
                log: None,
            })),
        }
    }

    /// Persists the platform to `path` after every driver call (written to a temporary file,
    /// then renamed over `path`). If `path` already holds a snapshot it replaces this
    /// platform's state, so a second process picks up where the first stopped; restore the
    /// clock from `with_state(|s| s.taken_at)` (as [`SimWorld::persisting`](super::SimWorld::persisting) does).
    /// A new file is written at once; the snapshot's `taken_at` is the latest clock reading.
    pub fn persisting_to(self, path: impl AsRef<Path>) -> Result<Self, SimError> {
        let path = path.as_ref().to_path_buf();
        let loaded = match std::fs::read(&path) {
            Ok(bytes) => {
                let snap: SimSnapshot =
                    serde_json::from_slice(&bytes).map_err(|e| SimError::Corrupt {
                        path: path.display().to_string(),
                        message: e.to_string(),
                    })?;
                check_snapshot(&snap)?;
                self.write().snap = snap;
                true
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
            Err(e) => {
                return Err(SimError::Io {
                    path: path.display().to_string(),
                    message: e.to_string(),
                })
            }
        };
        {
            let mut s = self.write();
            s.persist = Some(path);
            if !loaded {
                let now = self.clock.now();
                write_snapshot(&mut s, now)?;
            }
        }
        Ok(self)
    }

    fn write(&self) -> RwLockWriteGuard<'_, Inner> {
        self.inner.write().unwrap_or_else(|e| e.into_inner())
    }

    fn read(&self) -> RwLockReadGuard<'_, Inner> {
        self.inner.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Changes the state with `f`, then persists (best effort: a failed write is retried
    /// with the next driver call, which reports it).
    fn mutate<R>(&self, f: impl FnOnce(&mut SimSnapshot) -> R) -> R {
        let mut s = self.write();
        let r = f(&mut s.snap);
        let _ = write_snapshot(&mut s, self.clock.now());
        r
    }

    /// Reads the state under the lock.
    pub fn with_state<R>(&self, f: impl FnOnce(&SimSnapshot) -> R) -> R {
        f(&self.read().snap)
    }

    /// The clock this platform reads.
    pub fn clock(&self) -> Arc<dyn Clock> {
        self.clock.clone()
    }

    /// The clock's reading, without a handle of its own.
    pub(crate) fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// The whole platform as data (`taken_at` is the clock's reading now).
    pub fn snapshot(&self) -> SimSnapshot {
        let mut snap = self.read().snap.clone();
        snap.taken_at = self.clock.now();
        snap
    }

    /// Replaces the platform's state with `snapshot`.
    pub fn restore(&self, snapshot: SimSnapshot) -> Result<(), SimError> {
        check_snapshot(&snapshot)?;
        self.mutate(|s| *s = snapshot);
        Ok(())
    }

    /// Writes the state file now (when persisting).
    pub fn persist(&self) -> Result<(), SimError> {
        let mut s = self.write();
        write_snapshot(&mut s, self.clock.now())
    }

    /// Replaces whatever `target` runs with `replicas` instances of `revision`, ready now
    /// and serving all traffic (weights follow ready replicas until a route is applied).
    pub fn seed_stable(&self, target: &Target, revision: &Revision, replicas: u32) {
        let now = self.clock.now();
        self.mutate(|s| s.seed_stable(target, revision, replicas, now));
    }

    /// The fleet as `observe` would report it, without counting a call or injecting faults.
    pub fn fleet(&self, target: &Target) -> FleetState {
        let now = self.clock.now();
        self.read().snap.fleet(target, now)
    }

    /// Starts (or stops and forgets) recording the actions the platform accepted. Off by
    /// default, so long simulations keep no history.
    pub fn record_actions(&self, on: bool) {
        self.write().log = if on { Some(Vec::new()) } else { None };
    }

    /// Actions the platform accepted since recording started, with their targets (a change
    /// whose response was lost counts: the platform made it).
    pub fn applied(&self) -> Vec<(Target, Action)> {
        self.read().log.clone().unwrap_or_default()
    }

    /// [`SimDriver::applied`] without the targets.
    pub fn actions(&self) -> Vec<Action> {
        self.applied().into_iter().map(|(_, a)| a).collect()
    }

    /// Calls made so far.
    pub fn calls(&self) -> CallCounts {
        self.read().snap.calls
    }

    /// The configuration in force.
    pub fn config(&self) -> SimConfig {
        self.read().snap.config.clone()
    }

    /// Injects a failure for a revision id or a version ([`FaultKey`]); several failures
    /// for one key combine (one of each kind).
    pub fn inject(&self, key: impl Into<FaultKey>, failure: Failure) -> Result<(), SimError> {
        failure.check()?;
        let key = key.into();
        self.mutate(|s| s.config.faults.entry(key).or_default().set(failure));
        Ok(())
    }

    /// Removes every failure injected for `key`.
    pub fn heal(&self, key: impl Into<FaultKey>) {
        let key = key.into();
        self.mutate(|s| s.config.faults.remove(&key));
    }

    /// Sets what the platform can do.
    pub fn set_capabilities(&self, caps: Capabilities) {
        self.mutate(|s| s.config.capabilities = caps);
    }

    /// Sets the probability (0..=1) that any call fails transiently.
    pub fn set_transient_fault_rate(&self, p: f64) -> Result<(), SimError> {
        let p = check_fraction("transient_fault_rate", p)?;
        self.mutate(|s| s.config.transient_fault_rate = p);
        Ok(())
    }

    /// Sets the share (0..=1) of transient apply faults that happen after the change.
    pub fn set_lost_response_share(&self, p: f64) -> Result<(), SimError> {
        let p = check_fraction("lost_response_share", p)?;
        self.mutate(|s| s.config.lost_response_share = p);
        Ok(())
    }

    /// The `n`th call (1-based) of kind `on` fails with `kind` and `message`; a number
    /// already passed never fires.
    pub fn fail_call(&self, on: CallKind, n: u64, kind: ErrorKind, message: impl Into<String>) {
        let error = DriverError {
            kind,
            operation: String::new(),
            message: message.into(),
        };
        self.mutate(|s| s.scripted.push(ScriptedFault { on, n, error }));
    }

    /// The next `apply` fails with `kind` and `message`, before changing anything.
    pub fn fail_next_apply(&self, kind: ErrorKind, message: impl Into<String>) {
        let n = self.calls().apply + 1;
        self.fail_call(CallKind::Apply, n, kind, message);
    }

    /// Deploying `artifact` fails permanently with `message` (e.g. "image not found").
    pub fn fail_artifact(&self, artifact: impl Into<String>, message: impl Into<String>) {
        let (a, m) = (artifact.into(), message.into());
        self.mutate(|s| s.bad_artifacts.insert(a, m));
    }

    /// One driver call: count it, fire scripted or seeded faults, run `body`, record an
    /// accepted `action`, persist.
    fn call(
        &self,
        now: Timestamp,
        kind: CallKind,
        op: impl Fn() -> String,
        action: Option<(&Target, &Action)>,
        body: impl FnOnce(&mut SimSnapshot, Timestamp) -> Result<(), DriverError>,
    ) -> Result<(), DriverError> {
        let mut guard = self.write();
        let s = &mut guard.snap;
        s.calls.total += 1;
        let n_kind = match kind {
            CallKind::Apply => {
                s.calls.apply += 1;
                s.calls.apply
            }
            _ => {
                s.calls.observe += 1;
                s.calls.observe
            }
        };
        let total = s.calls.total;
        let mut changed = false;
        let result = match take_scripted(s, kind, n_kind, total) {
            Some(mut e) => {
                e.operation = op();
                Err(e)
            }
            None => {
                let p = s.config.transient_fault_rate;
                if p > 0.0 && s.rng.next_f64() < p {
                    let share = s.config.lost_response_share;
                    let lost = kind == CallKind::Apply && share > 0.0 && s.rng.next_f64() < share;
                    let mut result = Ok(());
                    if lost {
                        result = body(s, now);
                        changed = result.is_ok();
                    }
                    match result {
                        Err(e) => Err(e),
                        Ok(_) => Err(DriverError::transient(
                            op(),
                            format!(
                                "simulated transient fault on call {total}: {} (rate {p})",
                                if lost {
                                    "the change was made but the response was lost"
                                } else {
                                    "connection reset by peer"
                                }
                            ),
                        )),
                    }
                } else {
                    let result = body(s, now);
                    changed = result.is_ok();
                    result
                }
            }
        };
        if let (true, Some((t, a)), Some(log)) = (changed, action, guard.log.as_mut()) {
            log.push((t.clone(), a.clone()));
        }
        if let Err(e) = write_snapshot(&mut guard, now) {
            if result.is_ok() {
                return Err(DriverError::transient(op(), e.to_string()));
            }
        }
        result
    }
}

fn take_scripted(
    s: &mut SimSnapshot,
    kind: CallKind,
    n_kind: u64,
    total: u64,
) -> Option<DriverError> {
    let i = s.scripted.iter().position(|f| match f.on {
        CallKind::Any => f.n == total,
        k => k == kind && f.n == n_kind,
    })?;
    Some(s.scripted.remove(i).error)
}

fn check_snapshot(snap: &SimSnapshot) -> Result<(), SimError> {
    if snap.format != SNAPSHOT_FORMAT {
        return Err(FieldError::new(
            "format",
            format!(
                "snapshot format {} is not the supported {SNAPSHOT_FORMAT}",
                snap.format
            ),
        )
        .into());
    }
    snap.config.validate()
}

fn write_snapshot(inner: &mut Inner, now: Timestamp) -> Result<(), SimError> {
    let Some(path) = &inner.persist else {
        return Ok(());
    };
    // Never rewinds: a driver rebuilt on a clock that was not restored keeps the later time.
    inner.snap.taken_at = inner.snap.taken_at.max(now);
    let io = |e: std::io::Error| SimError::Io {
        path: path.display().to_string(),
        message: e.to_string(),
    };
    let bytes = serde_json::to_vec(&inner.snap).map_err(|e| SimError::Io {
        path: path.display().to_string(),
        message: e.to_string(),
    })?;
    let mut tmp = path.clone().into_os_string();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    std::fs::write(&tmp, bytes).map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)
}

#[async_trait]
impl Driver for SimDriver {
    fn capabilities(&self) -> Capabilities {
        self.read().snap.config.capabilities
    }

    async fn observe(&self, target: &Target) -> Result<FleetState, DriverError> {
        let now = self.clock.now();
        // Counted (and faulted) under the write lock; the fleet is read under a read lock,
        // so building it does not hold up every other target's queries and calls. Only
        // this target's own changes could come between, and a run makes those in order.
        self.call(
            now,
            CallKind::Observe,
            || format!("observe {target}"),
            None,
            |_, _| Ok(()),
        )?;
        Ok(self.read().snap.fleet(target, now))
    }

    async fn apply(&self, target: &Target, action: &Action) -> Result<(), DriverError> {
        self.call(
            self.clock.now(),
            CallKind::Apply,
            || action.describe(),
            Some((target, action)),
            |s, now| s.apply(target, action, now),
        )
    }
}
