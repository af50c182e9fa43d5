//! An engine's runs: the concurrency limit, the live list (with each run's handle) and
//! the shutdown signal every run's waits listen to.

use super::handle::RolloutHandle;
use super::wake_slot::WakeSlot;
use crate::model::RolloutStatus;
use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};

/// Runs of one engine.
pub(super) struct Runs {
    /// Set once by `Engine::shutdown`: no run starts, every run stops at its next wait.
    stopping: AtomicBool,
    /// Every wait for shutdown ([`Runs::stopped`]), woken when `stopping` is set. Each
    /// has a slot of its own, registered here once: a wait polled again (at every wait of
    /// its run) locks only its own slot, not a lock thousands of runs share.
    waiting: Mutex<BTreeMap<u64, Arc<WakeSlot>>>,
    next_wait: AtomicU64,
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
            waiting: Mutex::new(BTreeMap::new()),
            next_wait: AtomicU64::new(0),
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

/// A wait for shutdown: [`Runs::stopped`]. Registered with the engine the first time it
/// is polled and still pending, and removed when dropped.
pub(super) struct Stopped<'a> {
    runs: &'a Runs,
    /// Its key in `runs.waiting`, and its slot.
    slot: Option<(u64, Arc<WakeSlot>)>,
    /// A copy of the waker last left in the slot.
    mine: Option<Waker>,
}

impl Future for Stopped<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        if this.runs.is_stopping() {
            return Poll::Ready(());
        }
        match &this.slot {
            Some((_, slot)) => slot.register(&mut this.mine, cx),
            None => {
                let key = this.runs.next_wait.fetch_add(1, Ordering::Relaxed);
                let slot = Arc::new(WakeSlot::default());
                slot.register(&mut this.mine, cx);
                this.runs.waiting().insert(key, slot.clone());
                this.slot = Some((key, slot));
            }
        }
        // Checked after the waker is in place: a shutdown that set the flag before takes
        // the waker after (`shut_down`), so it is never missed.
        if this.runs.is_stopping() {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

impl Drop for Stopped<'_> {
    fn drop(&mut self) {
        if let Some((key, _)) = self.slot.take() {
            self.runs.waiting().remove(&key);
        }
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

    /// The concurrency limit, `usize::MAX` when there is none.
    pub(super) fn limit(&self) -> usize {
        self.max
    }

    pub(super) fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    /// Resolves once shutdown was asked for.
    pub(super) fn stopped(&self) -> Stopped<'_> {
        Stopped {
            runs: self,
            slot: None,
            mine: None,
        }
    }

    /// The wait-list; a panic elsewhere while it was held leaves plain data, still usable.
    fn waiting(&self) -> MutexGuard<'_, BTreeMap<u64, Arc<WakeSlot>>> {
        self.waiting
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
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
        // Taken under the locks, woken outside them (a waker may run arbitrary code).
        let woken: Vec<Waker> = self
            .waiting()
            .values()
            .filter_map(|slot| slot.take())
            .collect();
        woken.into_iter().for_each(Waker::wake);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::wake_slot::tests::counting;

    #[tokio::test]
    async fn shutdown_wakes_each_pending_wait_once_with_its_latest_waker() {
        let runs = Runs::default();
        let (old, old_waker) = counting();
        let (new, new_waker) = counting();
        let (other, other_waker) = counting();
        let mut wait = Box::pin(runs.stopped());
        let mut second = Box::pin(runs.stopped());
        assert!(wait
            .as_mut()
            .poll(&mut Context::from_waker(&old_waker))
            .is_pending());
        // Polled again by another task: the new waker replaces the old one.
        assert!(wait
            .as_mut()
            .poll(&mut Context::from_waker(&new_waker))
            .is_pending());
        assert!(second
            .as_mut()
            .poll(&mut Context::from_waker(&other_waker))
            .is_pending());
        // A wait never polled, and one dropped, are not registered.
        let never = runs.stopped();
        {
            let mut dropped = Box::pin(runs.stopped());
            let _ = dropped.as_mut().poll(&mut Context::from_waker(&old_waker));
        }
        assert_eq!(runs.waiting().len(), 2);
        runs.shut_down().await;
        assert_eq!(old.0.load(Ordering::SeqCst), 0);
        assert_eq!(new.0.load(Ordering::SeqCst), 1);
        assert_eq!(other.0.load(Ordering::SeqCst), 1);
        assert!(wait
            .as_mut()
            .poll(&mut Context::from_waker(&new_waker))
            .is_ready());
        // A wait made after shutdown ends at once (a test that hung here would fail).
        tokio::time::timeout(std::time::Duration::from_secs(5), never)
            .await
            .expect("a wait after shutdown ends at once");
        drop((wait, second));
        assert!(runs.waiting().is_empty(), "dropped waits leave the list");
    }
}
