//! Layers: drivers that wrap a driver, as tower's layers wrap a service. A timeout turns a
//! hung platform call into a transient error, stats count calls by outcome, a dry run
//! observes the real platform but only records what it would apply.
//!
//! Retries are deliberately not a layer: the engine retries transient errors itself, so
//! every attempt is journaled and a resumed rollout knows how many were made.
//!
//! ```
//! use shipcore::driver::{Driver, DriverExt, StatsLayer, TimeoutLayer};
//! use shipcore::testing::SimWorld;
//! use std::time::Duration;
//! let world = SimWorld::new(1);
//! let stats = StatsLayer::new();
//! let counts = stats.stats();
//! let driver = world.driver.clone()
//!     .layer(TimeoutLayer::new(Duration::from_secs(5)))
//!     .layer(stats);
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! driver.observe(&shipcore::model::Target::new("web", "prod")).await.unwrap();
//! assert_eq!(counts.snapshot().observe_ok, 1);
//! # });
//! ```

use super::{Capabilities, Driver, DriverError, ErrorKind};
use crate::model::{Action, FleetState, Revision, Target};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tracing::Instrument;

/// Makes a driver out of a driver.
pub trait DriverLayer<D> {
    /// The wrapped driver.
    type Driver: Driver;
    /// Wraps `inner`.
    fn layer(&self, inner: D) -> Self::Driver;
}

/// `driver.layer(l)` for any driver.
pub trait DriverExt: Driver + Sized {
    /// Wraps this driver in `layer`.
    fn layer<L: DriverLayer<Self>>(self, layer: L) -> L::Driver {
        layer.layer(self)
    }
}

impl<D: Driver> DriverExt for D {}

/// Bounds every call: past the limit it fails with a transient error (the engine retries
/// it). Uses tokio's timer, so it measures real time even under a simulated clock.
#[derive(Debug, Clone, Copy)]
pub struct TimeoutLayer {
    observe: Duration,
    apply: Duration,
}

impl TimeoutLayer {
    /// The same limit for observations and actions.
    #[must_use]
    pub fn new(limit: Duration) -> Self {
        TimeoutLayer {
            observe: limit,
            apply: limit,
        }
    }
    /// Separate limits (an image pull may make `apply` slow; `observe` should never be).
    #[must_use]
    pub fn split(observe: Duration, apply: Duration) -> Self {
        TimeoutLayer { observe, apply }
    }
}

impl<D: Driver> DriverLayer<D> for TimeoutLayer {
    type Driver = Timeout<D>;
    fn layer(&self, inner: D) -> Timeout<D> {
        Timeout {
            inner,
            limits: *self,
        }
    }
}

/// A driver whose calls are bounded in time. See [`TimeoutLayer`].
#[derive(Debug, Clone)]
pub struct Timeout<D> {
    inner: D,
    limits: TimeoutLayer,
}

fn timed_out(operation: String, limit: Duration) -> DriverError {
    DriverError::transient(
        operation,
        format!("no answer within {}", crate::time::format_duration(limit)),
    )
}

#[async_trait]
impl<D: Driver> Driver for Timeout<D> {
    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }
    async fn observe(&self, target: &Target) -> Result<FleetState, DriverError> {
        let limit = self.limits.observe;
        tokio::time::timeout(limit, self.inner.observe(target))
            .await
            .map_err(|_| timed_out(format!("observe {target}"), limit))?
    }
    async fn apply(&self, target: &Target, action: &Action) -> Result<(), DriverError> {
        let limit = self.limits.apply;
        tokio::time::timeout(limit, self.inner.apply(target, action))
            .await
            .map_err(|_| timed_out(action.describe(), limit))?
    }
    async fn preflight(&self, target: &Target, candidate: &Revision) -> Result<(), DriverError> {
        let limit = self.limits.apply;
        tokio::time::timeout(limit, self.inner.preflight(target, candidate))
            .await
            .map_err(|_| timed_out(format!("preflight {target}"), limit))?
    }
    /// Not limited: waiting for a change is meant to last until one comes.
    async fn wait_for_change(&self, target: &Target) {
        self.inner.wait_for_change(target).await
    }
}

/// Counts calls by outcome and their total latency; shared, so it can be read while a
/// rollout runs (for a dashboard or a test).
#[derive(Debug, Default)]
pub struct DriverStats {
    observe_ok: AtomicU64,
    apply_ok: AtomicU64,
    transient: AtomicU64,
    permanent: AtomicU64,
    micros: AtomicU64,
}

/// A reading of [`DriverStats`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct StatsSnapshot {
    /// Successful observations.
    pub observe_ok: u64,
    /// Accepted actions.
    pub apply_ok: u64,
    /// Calls that failed transiently.
    pub transient_errors: u64,
    /// Calls that failed permanently.
    pub permanent_errors: u64,
    /// Total time spent in the platform, microseconds.
    pub total_micros: u64,
}

impl DriverStats {
    /// The counts now.
    pub fn snapshot(&self) -> StatsSnapshot {
        StatsSnapshot {
            observe_ok: self.observe_ok.load(Ordering::Relaxed),
            apply_ok: self.apply_ok.load(Ordering::Relaxed),
            transient_errors: self.transient.load(Ordering::Relaxed),
            permanent_errors: self.permanent.load(Ordering::Relaxed),
            total_micros: self.micros.load(Ordering::Relaxed),
        }
    }

    fn count<T>(&self, ok: &AtomicU64, started: Instant, result: &Result<T, DriverError>) {
        let micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
        self.micros.fetch_add(micros, Ordering::Relaxed);
        let counter = match result {
            Ok(_) => ok,
            Err(e) if e.kind == ErrorKind::Transient => &self.transient,
            Err(_) => &self.permanent,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// Counts every call into a shared [`DriverStats`] and traces it (`driver.observe`,
/// `driver.apply` debug spans).
#[derive(Debug, Clone, Default)]
pub struct StatsLayer {
    stats: Arc<DriverStats>,
}

impl StatsLayer {
    /// A layer with fresh counters.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }
    /// The counters (take them before handing the layer over).
    pub fn stats(&self) -> Arc<DriverStats> {
        self.stats.clone()
    }
}

impl<D: Driver> DriverLayer<D> for StatsLayer {
    type Driver = Stats<D>;
    fn layer(&self, inner: D) -> Stats<D> {
        Stats {
            inner,
            stats: self.stats.clone(),
        }
    }
}

/// A driver that counts its calls into a shared [`DriverStats`]; built by [`StatsLayer`]
/// (named after its layer, as tower's `Timeout` is after `TimeoutLayer`).
#[derive(Debug, Clone)]
pub struct Stats<D> {
    inner: D,
    stats: Arc<DriverStats>,
}

#[async_trait]
impl<D: Driver> Driver for Stats<D> {
    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }
    async fn observe(&self, target: &Target) -> Result<FleetState, DriverError> {
        let span = tracing::debug_span!("driver.observe", %target);
        let started = Instant::now();
        let result = self.inner.observe(target).instrument(span).await;
        self.stats.count(&self.stats.observe_ok, started, &result);
        result
    }
    async fn apply(&self, target: &Target, action: &Action) -> Result<(), DriverError> {
        let span = tracing::debug_span!("driver.apply", %target, action = %action.describe());
        let started = Instant::now();
        let result = self.inner.apply(target, action).instrument(span).await;
        self.stats.count(&self.stats.apply_ok, started, &result);
        result
    }
    async fn preflight(&self, target: &Target, candidate: &Revision) -> Result<(), DriverError> {
        self.inner.preflight(target, candidate).await
    }
    async fn wait_for_change(&self, target: &Target) {
        self.inner.wait_for_change(target).await
    }
}

/// Observes the real platform but never changes it: every action is accepted and written
/// down. For "what would this rollout do right now" previews.
#[derive(Debug, Clone, Default)]
pub struct DryRunLayer {
    log: Arc<Mutex<Vec<(Target, Action)>>>,
}

impl DryRunLayer {
    /// A layer with an empty log.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }
    /// What the wrapped driver was asked to do, in order.
    pub fn actions(&self) -> Vec<(Target, Action)> {
        self.log.lock().map(|l| l.clone()).unwrap_or_default()
    }
}

impl<D: Driver> DriverLayer<D> for DryRunLayer {
    type Driver = DryRun<D>;
    fn layer(&self, inner: D) -> DryRun<D> {
        DryRun {
            inner,
            log: self.log.clone(),
        }
    }
}

/// A driver that only pretends to act. See [`DryRunLayer`].
#[derive(Debug, Clone)]
pub struct DryRun<D> {
    inner: D,
    log: Arc<Mutex<Vec<(Target, Action)>>>,
}

#[async_trait]
impl<D: Driver> Driver for DryRun<D> {
    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }
    async fn observe(&self, target: &Target) -> Result<FleetState, DriverError> {
        self.inner.observe(target).await
    }
    async fn preflight(&self, target: &Target, candidate: &Revision) -> Result<(), DriverError> {
        self.inner.preflight(target, candidate).await
    }
    async fn wait_for_change(&self, target: &Target) {
        self.inner.wait_for_change(target).await
    }
    async fn apply(&self, target: &Target, action: &Action) -> Result<(), DriverError> {
        let mut log = self
            .log
            .lock()
            .map_err(|_| DriverError::permanent(action.describe(), "dry-run log poisoned"))?;
        log.push((target.clone(), action.clone()));
        Ok(())
    }
}
