//! What a run keeps beside its machine: the effects waiting to be performed, in one buffer
//! the machine appends to and the runner drains from the front (reused for the whole run,
//! so handling an input allocates nothing here), and the status last shown to handles. The
//! timers (and the gates watched on them) are the machine's own
//! ([`Rollout::poll_timeout`]).

use super::io::{Effect, Stamped};
use super::machine::Rollout;
use crate::model::RolloutStatus;
use tokio::sync::watch;

/// Effects in order, and the status handles last saw.
pub(super) struct Pending {
    effects: Vec<Effect>,
    head: usize,
    published: RolloutStatus,
}

impl Pending {
    /// Nothing waiting; handles were shown `published`.
    pub(super) fn new(published: RolloutStatus) -> Self {
        Pending {
            effects: Vec::new(),
            head: 0,
            published,
        }
    }

    /// Lets `machine` handle `input`, queueing its effects after those already waiting.
    pub(super) fn handle(&mut self, machine: &mut Rollout, input: &Stamped) {
        machine.handle_into(input, &mut self.effects);
    }

    /// Queues `effects` after those already waiting (a new machine's first).
    pub(super) fn extend(&mut self, effects: Vec<Effect>) {
        self.effects.extend(effects);
    }

    /// The next effect to perform.
    pub(super) fn pop_front(&mut self) -> Option<Effect> {
        let slot = self.effects.get_mut(self.head)?;
        // A placeholder without heap data takes the effect's slot until the buffer drains.
        let effect = std::mem::replace(slot, Effect::Observe { id: 0 });
        self.head += 1;
        if self.head == self.effects.len() {
            self.effects.clear();
            self.head = 0;
        }
        Some(effect)
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
        let mut p = Pending::new(RolloutStatus {
            id: String::new(),
            phase: crate::model::Phase::Pending,
            step: 0,
            steps: 0,
            reason: None,
        });
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
}
