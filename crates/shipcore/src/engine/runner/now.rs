//! What a run does without awaiting: journaling an input when the journal appends at once,
//! and performing the effects that need no I/O (events, nothing to notify, a measurement
//! a validator takes at once). Each would otherwise be a future written into the run's
//! task; at thousands of runs those writes land on cold memory at every step.

use super::Runner;
use crate::engine::event::Event;
use crate::engine::io::{Effect, Input, Stamped};
use crate::engine::machine::Rollout;
use crate::engine::pending::Pending;
use crate::engine::run_error::RunError;
use crate::engine::shared::Shared;
use crate::engine::spec::RolloutSpec;
use crate::model::Role;
use crate::validator::{MeasureResult, ValidationContext};
use std::sync::Arc;

impl Runner {
    /// Stamps `input` and journals it at once if the journal can, then lets the machine
    /// handle it. When the journal must be awaited, the stamped input comes back unhandled
    /// (boxed, so a run's task keeps eight bytes for it) for [`feed_stamped`].
    ///
    /// [`feed_stamped`]: Runner::feed_stamped
    pub(super) fn feed_now(
        &self,
        machine: &mut Rollout,
        input: Input,
        queue: &mut Pending,
    ) -> Result<Option<Box<Stamped>>, RunError> {
        let stamped = Stamped::new(self.clock().now().max(machine.now()), input);
        if !self.append_now(&stamped)? {
            return Ok(Some(Box::new(stamped)));
        }
        self.handle_journaled(machine, &stamped, queue);
        Ok(None)
    }

    /// Lets the machine handle `stamped`, already journaled, and shows handles the result.
    pub(super) fn handle_journaled(
        &self,
        machine: &mut Rollout,
        stamped: &Stamped,
        queue: &mut Pending,
    ) {
        queue.handle(machine, stamped);
        if let Some(remote) = self.remote.get() {
            queue.publish(machine, &remote.status_tx);
        }
    }

    /// Performs `effect` if it needs no I/O; otherwise hands it back for
    /// [`perform`](Runner::perform). An answer fed here whose journal must be awaited is
    /// left in `unjournaled`, which the caller feeds before anything else.
    pub(super) fn perform_now(
        &mut self,
        machine: &mut Rollout,
        effect: Effect,
        queue: &mut Pending,
        events: &mut Vec<Event>,
        step_span: &mut tracing::Span,
        unjournaled: &mut Option<Box<Stamped>>,
    ) -> Result<Option<Effect>, RunError> {
        match effect {
            Effect::Record(ev) => self.record(ev, events, step_span),
            // Nothing to perform: the report takes the causes from the machine.
            Effect::RollbackCause { .. } => {}
            Effect::KeepGatesAlive
                if self.shared.gates.is_empty() || machine.held_gates().is_empty() => {}
            Effect::FinishGates { .. } if self.shared.gates.is_empty() => {}
            Effect::Notify(_) if self.shared.notifiers.is_empty() => {}
            Effect::Measure {
                id,
                validators,
                subject,
                breached_since,
            } if validators.len() == 1 => {
                let spec = machine.shared_spec();
                let breached = breached_since.first().copied().flatten();
                let ctx = judging_ctx(&mut self.judging, &spec, subject);
                let measured =
                    self.shared
                        .measure_one_now(ctx, &validators[0], breached, step_span);
                let Some(result) = measured else {
                    // The validator cannot measure at once: `perform` awaits it, without
                    // asking again.
                    return Ok(Some(Effect::Measure {
                        id,
                        validators,
                        subject,
                        breached_since,
                    }));
                };
                let results: Arc<[MeasureResult]> = Arc::new([result]);
                *unjournaled = self.feed_now(machine, Input::Measured { id, results }, queue)?;
            }
            other => return Ok(Some(other)),
        }
        Ok(None)
    }
}

/// The context the validators judge `subject` in, kept in `judging`: built at the run's
/// first measurement and reused (only its time changes) until the subject does.
pub(super) fn judging_ctx<'a>(
    judging: &'a mut Option<(Role, Box<ValidationContext>)>,
    spec: &RolloutSpec,
    subject: Role,
) -> &'a mut ValidationContext {
    if judging.as_ref().is_some_and(|(role, _)| *role != subject) {
        *judging = None;
    }
    let (_, ctx) = judging
        .get_or_insert_with(|| (subject, Box::new(Shared::validation_context(spec, subject))));
    ctx
}
