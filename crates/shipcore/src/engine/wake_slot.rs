//! One waiting task's waker, left where whoever has news for it takes it: a run's wait for
//! a command or for shutdown. A wait polled again by the task that registered keeps a copy
//! of the waker and reads one flag, so it locks nothing (thousands of runs wait at once).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::task::{Context, Waker};

/// The waker of the one task that waits here (one at a time: a run's own wait).
#[derive(Default)]
pub(crate) struct WakeSlot {
    /// Whether `waker` holds one (changed only under its lock).
    set: AtomicBool,
    waker: Mutex<Option<Waker>>,
}

impl WakeSlot {
    /// Whether the slot holds `mine`, the waiter's copy of what it last registered, and
    /// that is `cx`'s waker: then nothing needs doing. Whoever takes the waker wakes it,
    /// so a slot read as set is woken even if it is taken right after.
    pub(crate) fn holds(&self, mine: &Option<Waker>, cx: &Context<'_>) -> bool {
        self.set.load(Ordering::SeqCst) && mine.as_ref().is_some_and(|w| w.will_wake(cx.waker()))
    }

    /// Leaves `cx`'s waker here (unless it is here already), keeping a copy in `mine`.
    pub(crate) fn register(&self, mine: &mut Option<Waker>, cx: &Context<'_>) {
        if self.holds(mine, cx) {
            return;
        }
        let waker = cx.waker().clone();
        let mut slot = self.lock();
        *slot = Some(waker.clone());
        self.set.store(true, Ordering::SeqCst);
        *mine = Some(waker);
    }

    /// Takes the waker, to wake it (or drop it) outside any lock.
    pub(crate) fn take(&self) -> Option<Waker> {
        let mut slot = self.lock();
        self.set.store(false, Ordering::SeqCst);
        slot.take()
    }

    /// Wakes the waiting task, if one waits.
    pub(crate) fn wake(&self) {
        if let Some(waker) = self.take() {
            waker.wake();
        }
    }

    /// The waker; a panic elsewhere while it was held leaves plain data, still usable.
    fn lock(&self) -> MutexGuard<'_, Option<Waker>> {
        self.waker
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;
    use std::sync::Arc;

    /// A waker that counts its wakes.
    pub(crate) struct Counting(pub(crate) AtomicUsize);

    impl std::task::Wake for Counting {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// A counting waker and its count.
    pub(crate) fn counting() -> (Arc<Counting>, Waker) {
        let c = Arc::new(Counting(AtomicUsize::new(0)));
        (c.clone(), Waker::from(c))
    }

    #[test]
    fn the_last_registered_waker_is_woken_once_and_a_taken_slot_is_registered_again() {
        let slot = WakeSlot::default();
        let (old, old_waker) = counting();
        let (new, new_waker) = counting();
        let mut mine = None;
        let cx = Context::from_waker(&old_waker);
        assert!(!slot.holds(&mine, &cx));
        slot.register(&mut mine, &cx);
        assert!(slot.holds(&mine, &cx));
        // Another task's waker replaces it.
        let cx = Context::from_waker(&new_waker);
        assert!(!slot.holds(&mine, &cx));
        slot.register(&mut mine, &cx);
        slot.wake();
        assert_eq!(
            old.0.load(Ordering::SeqCst),
            0,
            "a replaced waker is not woken"
        );
        assert_eq!(new.0.load(Ordering::SeqCst), 1);
        // Taken: the copy no longer counts, and registering puts it back.
        assert!(!slot.holds(&mine, &cx));
        slot.wake();
        assert_eq!(
            new.0.load(Ordering::SeqCst),
            1,
            "an empty slot wakes nobody"
        );
        slot.register(&mut mine, &cx);
        assert!(slot.holds(&mine, &cx));
        slot.wake();
        assert_eq!(new.0.load(Ordering::SeqCst), 2);
    }
}
