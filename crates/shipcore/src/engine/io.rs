//! The engine's vocabulary: [`Input`]s it is fed (each stamped with the time it happened and
//! journaled before it is handled) and [`Effect`]s it asks the runner to perform.

use super::event::Event;
use super::spec::RolloutSpec;
use crate::driver::{Capabilities, DriverError};
use crate::gate::GateOutcome;
use crate::model::{Action, FleetState, Role};
use crate::notifier::Notification;
use crate::time::Timestamp;
use crate::validator::{ValidatorError, Verdict};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// An operator's instruction, given through a rollout handle or a command line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Command {
    /// Stop advancing to the next step.
    Pause,
    /// Continue after a pause (also accepts an inconclusive analysis and goes on; after a
    /// gate lost its lock, takes the gate again first and re-runs the interrupted step).
    Resume,
    /// Skip the current step (`full: false`) or every remaining step (`full: true`).
    Promote {
        /// Skip all remaining steps and go straight to the end state.
        #[serde(default)]
        full: bool,
    },
    /// Stop and roll back.
    Abort,
    /// Start again after a rollback or abort, re-run a frozen step, or retry a failed rollback.
    Retry,
    /// Approve a manual-approval gate by name.
    Approve {
        /// The gate's name.
        gate: String,
    },
}

/// One validator's result for one measurement.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum MeasureResult {
    /// The validator judged.
    Verdict(Verdict),
    /// The validator could not measure.
    Error(ValidatorError),
}

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
    /// A timer set with [`Effect::WakeAt`] fired.
    TimerFired {
        /// The timer's id.
        id: u64,
    },
    /// An operator's command.
    Command(Command),
}

/// How to watch a gate that waits for a person (see [`Effect::CheckGate`]).
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
    },
    /// Check one gate; answer with `GateChecked`. With `watch`, a gate waiting for a
    /// person: wait `watch.every` first, and keep asking (every `recheck_after` it answers)
    /// while it answers `AwaitPerson` with the same reason; answer only with a changed
    /// answer, so repeated answers are neither fed nor journaled. A watch is cancelled like
    /// a timer ([`Effect::CancelTimer`] with its id).
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
        /// Ask later and answer only a change.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        watch: Option<GateWatch>,
    },
    /// Fire `TimerFired { id }` at `at`.
    WakeAt {
        /// Timer id.
        id: u64,
        /// When.
        at: Timestamp,
    },
    /// Forget a timer set earlier (its firing would be ignored anyway).
    CancelTimer {
        /// Timer id.
        id: u64,
    },
    /// Append to the rollout's event log.
    Record(Event),
    /// Tell people.
    Notify(Notification),
}

impl Effect {
    /// The request id of effects that expect an answer.
    pub fn request_id(&self) -> Option<u64> {
        match self {
            Effect::Apply { id, .. }
            | Effect::Observe { id }
            | Effect::Measure { id, .. }
            | Effect::CheckGate { id, .. }
            | Effect::WakeAt { id, .. } => Some(*id),
            _ => None,
        }
    }
}
