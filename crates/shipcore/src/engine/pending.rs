//! What a run keeps beside its machine: the effects waiting to be performed, in one buffer
//! the machine appends to and the runner drains from the front (reused for the whole run,
//! so handling an input allocates nothing here), the timers set (and the gates watched on
//! them), and the status last shown to handles.

use super::io::{Effect, Stamped};
use super::machine::Rollout;
use super::phase::RolloutStatus;
use crate::time::Timestamp;
use tokio::sync::watch;

/// A gate waiting for a person, asked again when its timer fires (see
/// [`Effect::CheckGate`]'s `watch`).
#[derive(Debug, Clone)]
pub(super) struct Watch {
    pub(super) gate: String,
    pub(super) approvals: Vec<String>,
    pub(super) waiting_since: Option<Timestamp>,
    pub(super) unchanged: String,
}

/// Effects in order, timers, and the status handles last saw.
pub(super) struct Pending {
    effects: Vec<Effect>,
    head: usize,
    /// Timers set and not fired, earliest first (a rollout has one or two at a time).
    timers: Vec<(Timestamp, u64)>,
    /// Gates watched: asked when the timer of the same id fires.
    watches: Vec<(u64, Watch)>,
    published: RolloutStatus,
}

impl Pending {
    /// Nothing waiting; handles were shown `published`.
    pub(super) fn new(published: RolloutStatus) -> Self {
        Pending {
            effects: Vec::new(),
            head: 0,
            timers: Vec::new(),
            watches: Vec::new(),
            published,
        }
    }

    /// Lets `machine` handle `input`, queueing its effects after those already waiting.
    pub(super) fn handle(&mut self, machine: &mut Rollout, input: &Stamped) {
        machine.handle_into(input, &mut self.effects);
    }

    /// The next effect to perform.
    pub(super) fn pop_front(&mut self) -> Option<Effect> {
        let slot = self.effects.get_mut(self.head)?;
        // A placeholder without heap data takes the effect's slot until the buffer drains.
        let effect = std::mem::replace(slot, Effect::CancelTimer { id: 0 });
        self.head += 1;
        if self.head == self.effects.len() {
            self.effects.clear();
            self.head = 0;
        }
        Some(effect)
    }

    /// Sets timer `id` to fire at `at`.
    pub(super) fn set_timer(&mut self, id: u64, at: Timestamp) {
        let pos = self.timers.partition_point(|t| *t <= (at, id));
        self.timers.insert(pos, (at, id));
    }

    /// Forgets timer `id` (and the gate watched on it).
    pub(super) fn cancel_timer(&mut self, id: u64) {
        self.timers.retain(|(_, t)| *t != id);
        if !self.watches.is_empty() {
            self.watches.retain(|(w, _)| *w != id);
        }
    }

    /// Asks a gate again at `at` for request `id`.
    pub(super) fn set_watch(&mut self, id: u64, at: Timestamp, watch: Watch) {
        self.set_timer(id, at);
        self.watches.push((id, watch));
    }

    /// The gate watched on timer `id`, taken (the timer is left for `cancel_timer`).
    pub(super) fn take_watch(&mut self, id: u64) -> Option<Watch> {
        let i = self.watches.iter().position(|(w, _)| *w == id)?;
        Some(self.watches.remove(i).1)
    }

    /// The timer to fire next: when, and its id.
    pub(super) fn next_timer(&self) -> Option<(Timestamp, u64)> {
        self.timers.first().copied()
    }

    /// Shows handles `machine`'s status if it changed since they last saw it: compared here,
    /// without taking the channel's lock, since most inputs change nothing they can see.
    pub(super) fn publish(&mut self, machine: &Rollout, status: &watch::Sender<RolloutStatus>) {
        if machine.status_differs(&self.published) {
            self.published = machine.status();
            status.send_replace(self.published.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn effects_come_out_in_the_order_they_went_in_across_refills() {
        let mut p = Pending::new(Rollout::new().status());
        p.effects.push(Effect::Observe { id: 1 });
        p.effects.push(Effect::Observe { id: 2 });
        assert_eq!(p.pop_front(), Some(Effect::Observe { id: 1 }));
        p.effects.push(Effect::Observe { id: 3 });
        assert_eq!(p.pop_front(), Some(Effect::Observe { id: 2 }));
        assert_eq!(p.pop_front(), Some(Effect::Observe { id: 3 }));
        assert_eq!(p.pop_front(), None);
        assert!(
            p.effects.is_empty(),
            "a drained buffer is reused from the start"
        );
        p.effects.push(Effect::Observe { id: 4 });
        assert_eq!(p.pop_front(), Some(Effect::Observe { id: 4 }));
    }

    #[test]
    fn the_earliest_timer_fires_first_and_a_cancelled_one_never() {
        let mut p = Pending::new(Rollout::new().status());
        p.set_timer(1, Timestamp(30));
        p.set_timer(2, Timestamp(10));
        p.set_timer(3, Timestamp(20));
        p.set_timer(4, Timestamp(10));
        assert_eq!(p.next_timer(), Some((Timestamp(10), 2)));
        p.cancel_timer(2);
        assert_eq!(p.next_timer(), Some((Timestamp(10), 4)));
        p.cancel_timer(4);
        p.cancel_timer(3);
        assert_eq!(p.next_timer(), Some((Timestamp(30), 1)));
        p.cancel_timer(1);
        assert_eq!(p.next_timer(), None);
    }
}
