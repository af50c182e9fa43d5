//! An engine's runs: the concurrency limit, the live list (with each run's handle) and
//! the shutdown signal every run's waits listen to.

use super::handle::RolloutHandle;
use crate::model::RolloutStatus;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};

/// How many `Notify`s carry an engine's shutdown signal.
pub(super) const STOP_SHARDS: usize = 16;

/// Runs of one engine.
pub(super) struct Runs {
    /// Set once by `Engine::shutdown`: no run starts, every run stops at its next wait.
    stopping: AtomicBool,
    /// Wake every run waiting on `stopped` when `stopping` is set. Each wait is registered
    /// with one of them, in turn: a wait polled again locks its `Notify`, and thousands of
    /// runs sharing one would queue on that lock. One for a runner, which runs one rollout;
    /// [`STOP_SHARDS`] for an engine.
    stop: Box<[Notify]>,
    next_stop: AtomicUsize,
    /// At most this many runs drive their rollouts at once (`None`: no limit).
    limit: Option<Arc<Semaphore>>,
    max: usize,
    /// Runs driving a rollout now (any run of this engine, spawned or driven by its owner).
    active: AtomicUsize,
    /// Signalled when `active` drops to zero.
    idle: Notify,
    /// Spawned runs and their handles, by a number given at spawn.
    live: Arc<Mutex<BTreeMap<u64, RolloutHandle>>>,
    next: AtomicU64,
}

impl Default for Runs {
    fn default() -> Self {
        Runs {
            stopping: AtomicBool::new(false),
            stop: Box::new([Notify::new()]),
            next_stop: AtomicUsize::new(0),
            limit: None,
            max: usize::MAX,
            active: AtomicUsize::new(0),
            idle: Notify::new(),
            live: Arc::new(Mutex::new(BTreeMap::new())),
            next: AtomicU64::new(1),
        }
    }
}

impl std::fmt::Debug for Runs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runs")
            .field("active", &self.active.load(Ordering::Relaxed))
            .field("limit", &self.limit.as_ref().map(|_| self.max))
            .field("stopping", &self.is_stopping())
            .finish()
    }
}

/// A run driving its rollout: counted while it lives (and holding its permit).
pub(super) struct Active<'a> {
    runs: &'a Runs,
    _permit: Option<OwnedSemaphorePermit>,
}

impl Drop for Active<'_> {
    fn drop(&mut self) {
        if self.runs.active.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.runs.idle.notify_waiters();
        }
    }
}

/// A spawned run in the live list, removed when dropped (its task ended).
pub(super) struct Listed {
    live: Arc<Mutex<BTreeMap<u64, RolloutHandle>>>,
    key: u64,
}

impl Drop for Listed {
    fn drop(&mut self) {
        if let Ok(mut live) = self.live.lock() {
            live.remove(&self.key);
        }
    }
}

impl Runs {
    pub(super) fn with_limit(limit: usize) -> Self {
        Runs {
            limit: Some(Arc::new(Semaphore::new(limit.max(1)))),
            max: limit.max(1),
            ..Runs::default()
        }
    }

    /// Spreads the shutdown signal over `n` `Notify`s (at least one), for many runs.
    pub(super) fn spread_stop(&mut self, n: usize) {
        self.stop = (0..n.max(1)).map(|_| Notify::new()).collect();
    }

    /// The concurrency limit, `usize::MAX` when there is none.
    pub(super) fn limit(&self) -> usize {
        self.max
    }

    pub(super) fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    /// Resolves once shutdown was asked for.
    pub(super) async fn stopped(&self) {
        let shard = self.next_stop.fetch_add(1, Ordering::Relaxed) % self.stop.len();
        loop {
            // A future made before the check sees a `notify_waiters` that comes after it.
            let woken = self.stop[shard].notified();
            if self.is_stopping() {
                return;
            }
            woken.await;
        }
    }

    /// Waits for a slot under the limit (none when stopping), then counts the run.
    pub(super) async fn enter(&self) -> Option<Active<'_>> {
        let permit = match &self.limit {
            Some(sem) => {
                let acquire = sem.clone().acquire_owned();
                tokio::select! {
                    biased;
                    _ = self.stopped() => return None,
                    permit = acquire => Some(permit.ok()?),
                }
            }
            None => None,
        };
        if self.is_stopping() {
            return None;
        }
        self.active.fetch_add(1, Ordering::AcqRel);
        Some(Active {
            runs: self,
            _permit: permit,
        })
    }

    /// Asks every run to stop and waits until none drives a rollout.
    pub(super) async fn shut_down(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        for stop in &self.stop {
            stop.notify_waiters();
        }
        loop {
            let idle = self.idle.notified();
            if self.active.load(Ordering::Acquire) == 0 {
                return;
            }
            idle.await;
        }
    }

    pub(super) fn active(&self) -> usize {
        self.active.load(Ordering::Relaxed)
    }

    /// Adds a spawned run's handle to the live list until the returned guard drops.
    pub(super) fn list(&self, handle: RolloutHandle) -> Listed {
        let key = self.next.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut live) = self.live.lock() {
            live.insert(key, handle);
        }
        Listed {
            live: self.live.clone(),
            key,
        }
    }

    /// The handles of the spawned runs alive now, in the order they were spawned.
    pub(super) fn handles(&self) -> Vec<RolloutHandle> {
        match self.live.lock() {
            Ok(live) => live.values().cloned().collect(),
            Err(_) => Vec::new(),
        }
    }

    /// Where every spawned run stands, in the order they were spawned.
    pub(super) fn statuses(&self) -> Vec<RolloutStatus> {
        self.handles().iter().map(|h| h.status()).collect()
    }
}
