//! What a run keeps beside its machine: the effects waiting to be performed, in one buffer
//! the machine appends to and the runner drains from the front (reused for the whole run,
//! so handling an input allocates nothing here), and the status last shown to handles. The
//! timers (and the gates watched on them) are the machine's own
//! ([`Rollout::poll_timeout`]).

use super::io::{Effect, Stamped};
use super::machine::Rollout;
use super::status_cell::StatusSender;
use crate::model::RolloutStatus;

/// Effects in order, and the status handles last saw.
pub(super) struct Pending {
    effects: Vec<Effect>,
    head: usize,
    published: RolloutStatus,
    /// Whether `published` was built by the machine this run drives (then only what can
    /// move is compared).
    ours: bool,
}

impl Pending {
    /// Nothing waiting; handles were shown `published`.
    pub(super) fn new(published: RolloutStatus) -> Self {
        Pending {
            effects: Vec::new(),
            head: 0,
            published,
            ours: false,
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
    pub(super) fn publish(&mut self, machine: &Rollout, status: &StatusSender) {
        let differs = if self.ours {
            machine.status_moved(&self.published)
        } else {
            machine.status_differs(&self.published)
        };
        // After this, `published` describes this machine in every field.
        self.ours = true;
        if differs {
            self.published = machine.status();
            status.send_replace(self.published.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::driver::Capabilities;
    use crate::engine::{Command, Input, RolloutSpec};
    use crate::model::{Plan, Revision, Step, Target};
    use crate::time::Timestamp;

    fn rollout(id: &str, steps: usize) -> Rollout {
        let v2 = Revision::new("web-v2", semver::Version::new(2, 0, 0), "web:2");
        let pause = Step::Pause {
            duration: Some(std::time::Duration::from_secs(30)),
        };
        let plan = Plan {
            strategy: "test".into(),
            replicas: 1,
            steps: std::iter::repeat_n(pause, steps)
                .chain([
                    Step::Scale {
                        role: crate::model::Role::Candidate,
                        replicas: 1,
                    },
                    Step::Promote,
                ])
                .collect(),
        };
        let spec = RolloutSpec::new(id, Target::new("web", "prod"), None, v2, plan);
        Rollout::new(spec, Capabilities::ALL, Timestamp(0))
            .unwrap()
            .0
    }

    #[test]
    fn handles_see_every_change_of_the_rollout_driven_and_nothing_else() {
        let (tx, mut rx) = crate::engine::status_cell::channel(RolloutStatus {
            id: String::new(),
            phase: crate::model::Phase::Pending,
            step: 0,
            steps: 0,
            reason: None,
        });
        // Shown a status of another rollout with the same phase, step and reason: its id
        // and step count differ, so this rollout's status is shown all the same.
        let mut machine = rollout("r1", 1);
        let other = RolloutStatus {
            id: "r0".into(),
            steps: 5,
            ..machine.status()
        };
        let mut p = Pending::new(other);
        p.publish(&machine, &tx);
        assert_eq!(rx.get_and_update(), machine.status());
        // Nothing moved: nothing sent.
        p.publish(&machine, &tx);
        assert!(!rx.has_changed());
        // Each later move of the phase, the step or the reason is shown.
        let mut at = 0;
        for cmd in [Command::Pause, Command::Abort] {
            let before = machine.status();
            at += 1;
            p.handle(
                &mut machine,
                &Stamped::new(Timestamp(at), Input::Command(cmd)),
            );
            p.publish(&machine, &tx);
            assert_ne!(machine.status(), before);
            assert!(rx.has_changed());
            assert_eq!(rx.get_and_update(), machine.status());
        }
        assert!(machine.status().reason.is_some(), "{:?}", machine.status());
    }

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
