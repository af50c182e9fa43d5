//! The engine's vocabulary: [`Input`]s it is fed (each stamped with the time it happened and
//! journaled before it is handled) and [`Effect`]s it asks the runner to perform.

use super::command::Command;
use super::event::Event;
use super::spec::RolloutSpec;
use crate::driver::{Capabilities, DriverError};
use crate::gate::GateOutcome;
use crate::migrate::{MigrateError, MigrationPhase, PhaseReport};
use crate::model::{Action, FleetState, Role};
use crate::notify::Notification;
use crate::time::Timestamp;
use crate::validator::MeasureResult;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// Something that happened, fed to the engine.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "input", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Input {
    /// Begin a rollout. Always the first input of a journal.
    Start {
        /// The request.
        spec: Box<RolloutSpec>,
        /// What the driver can do, as it said at start.
        capabilities: Capabilities,
    },
    /// The runner restarted (after a crash) and replayed the journal: re-issue whatever was
    /// in flight.
    Resumed,
    /// Answer to [`Effect::Observe`].
    Observed {
        /// The request's id.
        id: u64,
        /// What runs (shared with the machine's last observation and the event that
        /// records convergence).
        fleet: Arc<FleetState>,
    },
    /// [`Effect::Observe`] failed.
    ObserveFailed {
        /// The request's id.
        id: u64,
        /// Why.
        error: DriverError,
    },
    /// [`Effect::Apply`] succeeded.
    Applied {
        /// The request's id.
        id: u64,
    },
    /// [`Effect::Apply`] failed.
    ApplyFailed {
        /// The request's id.
        id: u64,
        /// Why.
        error: DriverError,
    },
    /// Answer to [`Effect::Measure`]: one result per validator, in the order asked.
    Measured {
        /// The request's id.
        id: u64,
        /// Results.
        results: Arc<[MeasureResult]>,
    },
    /// Answer to [`Effect::CheckGate`].
    GateChecked {
        /// The request's id.
        id: u64,
        /// What the gate said.
        outcome: GateOutcome,
    },
    /// A gate lost what it held for the rollout ([`Gate::keep_alive`] said
    /// [`KeepAlive::Lost`]): the engine stops changing the fleet and pauses the rollout.
    ///
    /// [`Gate::keep_alive`]: crate::gate::Gate::keep_alive
    /// [`KeepAlive::Lost`]: crate::gate::KeepAlive::Lost
    GateLost {
        /// The gate's name.
        gate: String,
        /// What was lost, and to whom.
        reason: String,
    },
    /// Answer to [`Effect::Migrate`]: what the phase ran (a failed migration is in the
    /// report, not an error).
    Migrated {
        /// The request's id.
        id: u64,
        /// Every migration the phase ran, in order.
        report: PhaseReport,
    },
    /// [`Effect::Migrate`] could not run the migrator at all.
    MigrateFailed {
        /// The request's id.
        id: u64,
        /// Why, classified.
        error: MigrateError,
    },
    /// A timer the machine set is due (see [`Rollout::poll_timeout`]).
    ///
    /// [`Rollout::poll_timeout`]: super::Rollout::poll_timeout
    TimerFired {
        /// The timer's id.
        id: u64,
    },
    /// An operator's command.
    Command(Command),
}

/// Why a rollback started (see [`Effect::RollbackCause`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum RollbackCause {
    /// An operator's `abort`.
    Operator,
    /// An analysis failed, or was inconclusive with `on_inconclusive: fail` (a step's or
    /// the background analysis).
    Analysis,
    /// The fleet was not ready before the progress deadline.
    ProgressDeadline,
    /// The platform refused an action, or could not be observed, past the retries.
    Driver,
    /// A gate blocked after the rollout began changing the fleet.
    Gate,
    /// A schema migration failed (or its migrator could not run).
    Migration,
}

/// How to watch a gate that waits for a person (see [`WatchedGate`]).
///
/// [`WatchedGate`]: super::machine::WatchedGate
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GateWatch {
    /// Wait this long before asking.
    #[serde(with = "crate::time::serde_duration")]
    pub every: std::time::Duration,
    /// The reason of the answer that is not news.
    pub unchanged: String,
}

/// An input with the time it happened: the unit of the journal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stamped {
    /// When (engine time: simulated or real).
    pub at: Timestamp,
    /// What.
    #[serde(flatten)]
    pub input: Input,
}

impl Stamped {
    /// `input` at `at`.
    pub fn new(at: Timestamp, input: Input) -> Self {
        Stamped { at, input }
    }
}

/// Work the engine asks the runner to do. Requests carry an id; their answer carries it back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "effect", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Effect {
    /// Perform a driver action; answer with `Applied` / `ApplyFailed`.
    Apply {
        /// Request id.
        id: u64,
        /// The action (shared with the event that records it).
        action: Arc<Action>,
    },
    /// Observe the fleet; answer with `Observed` / `ObserveFailed`.
    Observe {
        /// Request id.
        id: u64,
    },
    /// Run validators once; answer with `Measured`.
    Measure {
        /// Request id.
        id: u64,
        /// Validator names, in order (shared with the analysis that asks).
        validators: Arc<[String]>,
        /// Whose health is judged (the candidate, or stable after a rollback).
        subject: Role,
        /// Per validator, in the order of `validators`: what its previous verdict in the
        /// same analysis run said in [`Verdict::breached_since`](crate::validator::Verdict::breached_since), to be handed back as
        /// [`ValidationContext::breached_since`](crate::validator::ValidationContext::breached_since).
        /// Empty (or shorter than `validators`) means `None` for the rest. Not written
        /// when nothing is breached.
        #[serde(default, skip_serializing_if = "nothing_breached")]
        breached_since: Arc<[Option<Timestamp>]>,
    },
    /// Check one gate now; answer with `GateChecked`. (A gate watched for a person is not
    /// an effect but a timer of the machine: see [`Rollout::watched_gate`].)
    ///
    /// [`Rollout::watched_gate`]: super::Rollout::watched_gate
    CheckGate {
        /// Request id.
        id: u64,
        /// The gate's name.
        gate: String,
        /// Approvals given so far.
        approvals: Vec<String>,
        /// Since when the gate has been waiting at this gate op (`GateContext::waiting_since`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        waiting_since: Option<Timestamp>,
    },
    /// Apply the pending migrations of `phase` with migrator `migrator`; answer with
    /// `Migrated` / `MigrateFailed`. Re-issued on resume: migrators apply only what is
    /// pending, so a migration is never applied twice.
    Migrate {
        /// Request id.
        id: u64,
        /// The migrator's name.
        migrator: String,
        /// Which phase.
        phase: MigrationPhase,
    },
    /// Let the gates that hold something for the rollout (locks) keep it: those
    /// [`Rollout::held_gates`] names when this is performed (none once the rollout stopped
    /// holding them). Emitted before the `step_started` and `measured` events. A gate that
    /// lost its hold is fed back as `Input::GateLost`.
    ///
    /// [`Rollout::held_gates`]: super::Rollout::held_gates
    KeepGatesAlive,
    /// The rollout ended for good in `phase` (a terminal phase): tell every gate the spec
    /// names, so they release what they hold. Emitted before the `finished` event.
    FinishGates {
        /// The terminal phase.
        phase: crate::model::Phase,
    },
    /// A rollback started (the `rollback_started` event just before says so in words):
    /// why, as a kind. Nothing to perform; for records and whoever watches effects.
    RollbackCause {
        /// Why.
        cause: RollbackCause,
    },
    /// Append to the rollout's event log.
    Record(Event),
    /// Tell people.
    Notify(Notification),
}

/// Whether no validator of a measurement request has a breach to carry.
fn nothing_breached(since: &Arc<[Option<Timestamp>]>) -> bool {
    since.iter().all(Option::is_none)
}

impl Effect {
    /// The request id of effects that expect an answer.
    pub fn request_id(&self) -> Option<u64> {
        match self {
            Effect::Apply { id, .. }
            | Effect::Observe { id }
            | Effect::Measure { id, .. }
            | Effect::Migrate { id, .. }
            | Effect::CheckGate { id, .. } => Some(*id),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Effect;
    use crate::engine::Event;

    /// `docs/architecture.md` promises these bounds: effects and events are moved through
    /// the runner's buffer once per input, so their size is paid on every transition.
    #[test]
    fn events_and_effects_stay_small() {
        assert!(
            std::mem::size_of::<Event>() <= 64,
            "{}",
            std::mem::size_of::<Event>()
        );
        assert!(
            std::mem::size_of::<Effect>() <= 80,
            "{}",
            std::mem::size_of::<Effect>()
        );
    }
}
