//! The live status a run shows its [`RolloutHandle`](super::RolloutHandle)s: the latest
//! value and a version, like a `watch` channel, but a change wakes only handles that are
//! waiting (a run publishes at every step, and its handles are mostly only read).

use crate::model::RolloutStatus;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard};
use tokio::sync::Notify;

struct Cell {
    /// Bumped by every change.
    version: AtomicU64,
    /// Receivers inside [`StatusReceiver::changed`]: a change with none skips the `Notify`.
    waiting: AtomicUsize,
    /// The sender is gone.
    closed: AtomicBool,
    status: RwLock<RolloutStatus>,
    changed: Notify,
}

/// The run's end: publishes.
pub(crate) struct StatusSender(Arc<Cell>);

/// A handle's end: reads the latest status and waits for changes.
#[derive(Clone)]
pub(crate) struct StatusReceiver {
    cell: Arc<Cell>,
    /// The version this receiver last saw.
    seen: u64,
}

/// The sender is gone and every change was seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Closed;

/// A new cell holding `status`.
pub(crate) fn channel(status: RolloutStatus) -> (StatusSender, StatusReceiver) {
    let cell = Arc::new(Cell {
        version: AtomicU64::new(0),
        waiting: AtomicUsize::new(0),
        closed: AtomicBool::new(false),
        status: RwLock::new(status),
        changed: Notify::new(),
    });
    (StatusSender(cell.clone()), StatusReceiver { cell, seen: 0 })
}

impl Cell {
    /// The status; a panic elsewhere while it was held leaves plain data, still usable.
    fn read(&self) -> RwLockReadGuard<'_, RolloutStatus> {
        self.status
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl StatusSender {
    /// Shows `status`, waking the receivers that wait for a change.
    pub(crate) fn send_replace(&self, status: RolloutStatus) {
        {
            let mut slot = self
                .0
                .status
                .write()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            *slot = status;
            self.0.version.fetch_add(1, Ordering::SeqCst);
        }
        // A receiver counts itself as waiting before it looks at the version: either it
        // sees this change, or this sees it waiting.
        if self.0.waiting.load(Ordering::SeqCst) > 0 {
            self.0.changed.notify_waiters();
        }
    }

    /// A new receiver, which has seen the current status.
    pub(crate) fn subscribe(&self) -> StatusReceiver {
        StatusReceiver {
            cell: self.0.clone(),
            seen: self.0.version.load(Ordering::SeqCst),
        }
    }

    /// A copy of the current status.
    pub(crate) fn get(&self) -> RolloutStatus {
        self.0.read().clone()
    }
}

impl Drop for StatusSender {
    fn drop(&mut self) {
        self.0.closed.store(true, Ordering::SeqCst);
        self.0.changed.notify_waiters();
    }
}

impl StatusReceiver {
    /// A copy of the current status.
    pub(crate) fn get(&self) -> RolloutStatus {
        self.cell.read().clone()
    }

    /// Reads the current status with `f`, without copying it.
    pub(crate) fn with<R>(&self, f: impl FnOnce(&RolloutStatus) -> R) -> R {
        f(&self.cell.read())
    }

    /// A copy of the current status, marked as seen.
    pub(crate) fn get_and_update(&mut self) -> RolloutStatus {
        let status = self.cell.read();
        self.seen = self.cell.version.load(Ordering::SeqCst);
        status.clone()
    }

    /// Whether the status changed since this receiver last saw it.
    #[cfg(test)]
    pub(crate) fn has_changed(&self) -> bool {
        self.cell.version.load(Ordering::SeqCst) != self.seen
    }

    /// Waits for a change not yet seen (and marks it seen); [`Closed`] once the sender is
    /// gone and every change was seen.
    pub(crate) async fn changed(&mut self) -> Result<(), Closed> {
        let cell = self.cell.clone();
        loop {
            let notified = cell.changed.notified();
            tokio::pin!(notified);
            // Registered before the checks: a change after them wakes it.
            notified.as_mut().enable();
            cell.waiting.fetch_add(1, Ordering::SeqCst);
            let _counted = Counted(&cell.waiting);
            let version = cell.version.load(Ordering::SeqCst);
            if version != self.seen {
                self.seen = version;
                return Ok(());
            }
            if cell.closed.load(Ordering::SeqCst) {
                return Err(Closed);
            }
            notified.await;
        }
    }
}

/// Counts a receiver out of `waiting` when its wait ends (or is dropped).
struct Counted<'a>(&'a AtomicUsize);

impl Drop for Counted<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl std::fmt::Debug for StatusReceiver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StatusReceiver")
            .field("status", &*self.cell.read())
            .field("seen", &self.seen)
            .finish()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::model::Phase;
    use std::time::Duration;

    fn status(phase: Phase) -> RolloutStatus {
        RolloutStatus {
            id: "r".into(),
            phase,
            step: 0,
            steps: 1,
            reason: None,
        }
    }

    #[tokio::test]
    async fn a_waiting_receiver_wakes_for_each_change_and_for_the_sender_leaving() {
        let (tx, mut rx) = channel(status(Phase::Pending));
        let mut late = tx.subscribe();
        assert!(!late.has_changed());
        let (seen_tx, mut seen_rx) = tokio::sync::mpsc::unbounded_channel();
        let waiter = tokio::spawn(async move {
            while rx.changed().await.is_ok() {
                seen_tx.send(rx.get().phase).unwrap();
            }
        });
        for phase in [Phase::Progressing, Phase::Paused, Phase::Succeeded] {
            // Sent once the waiter waits, so each change is a wake-up of its own.
            while tx.0.waiting.load(Ordering::SeqCst) == 0 {
                tokio::task::yield_now().await;
            }
            tx.send_replace(status(phase));
            let seen = tokio::time::timeout(Duration::from_secs(5), seen_rx.recv()).await;
            assert_eq!(seen.unwrap(), Some(phase));
        }
        drop(tx);
        tokio::time::timeout(Duration::from_secs(5), waiter)
            .await
            .expect("the sender leaving ends the wait")
            .unwrap();
        // A receiver that saw nothing sees the last change, then that the sender left.
        assert!(late.has_changed());
        assert_eq!(late.changed().await, Ok(()));
        assert_eq!(late.get_and_update().phase, Phase::Succeeded);
        assert_eq!(late.changed().await, Err(Closed));
    }

    #[tokio::test]
    async fn a_change_between_the_check_and_the_wait_is_not_missed() {
        for _ in 0..200 {
            let (tx, mut rx) = channel(status(Phase::Pending));
            let sender = std::thread::spawn(move || {
                tx.send_replace(status(Phase::Progressing));
                tx
            });
            tokio::time::timeout(Duration::from_secs(5), rx.changed())
                .await
                .expect("the change wakes the waiter")
                .unwrap();
            assert_eq!(rx.get().phase, Phase::Progressing);
            drop(sender.join().unwrap());
        }
    }

    #[tokio::test]
    async fn a_change_nobody_waited_for_is_seen_later_and_a_dropped_wait_is_counted_out() {
        let (tx, mut rx) = channel(status(Phase::Pending));
        tx.send_replace(status(Phase::Progressing));
        assert!(rx.has_changed());
        assert_eq!(rx.with(|s| s.phase), Phase::Progressing);
        assert_eq!(tx.get().phase, Phase::Progressing);
        // Sent while nobody waited: the next wait ends at once, carried by the version.
        tokio::time::timeout(Duration::from_secs(5), rx.changed())
            .await
            .expect("a change sent before the wait ends it at once")
            .unwrap();
        assert!(!rx.has_changed());
        // A wait dropped before any change no longer counts as waiting.
        {
            let wait = rx.changed();
            tokio::pin!(wait);
            let polled = poll_once(wait.as_mut()).await;
            assert!(polled.is_none(), "no change yet");
            assert_eq!(tx.0.waiting.load(Ordering::SeqCst), 1);
        }
        assert_eq!(tx.0.waiting.load(Ordering::SeqCst), 0);
    }

    /// Polls `fut` once: its output if it was ready.
    async fn poll_once<F: std::future::Future + Unpin>(mut fut: F) -> Option<F::Output> {
        std::future::poll_fn(|cx| {
            std::task::Poll::Ready(match std::pin::Pin::new(&mut fut).poll(cx) {
                std::task::Poll::Ready(v) => Some(v),
                std::task::Poll::Pending => None,
            })
        })
        .await
    }
}
