//! The rollout engine: a pure, deterministic state machine ([`Rollout`]) that turns inputs
//! into effects; an [`Engine`] holding the collaborators every rollout shares (driver,
//! clock, validators, gates, notifiers) that runs many rollouts at once; and the per-rollout
//! [`Runner`] that performs one machine's effects, journaling every input before it is handled.

mod analysis;
mod command;
mod command_queue;
mod event;
mod event_line;
mod handle;
mod io;
mod journaled;
mod machine;
mod ops;
mod pending;
mod registry;
mod run_error;
mod runner;
mod runs;
mod service;
mod shared;
mod spec;
mod status_cell;
mod wake_slot;

pub use crate::model::{Phase, RolloutStatus};
pub use crate::validator::MeasureResult;
pub use command::Command;
pub use event::{AnalysisResult, AnalysisScope, Event, EventKind, MigrationRun, StartInfo};
pub use event_line::{EventLine, LineStyle};
pub use handle::{HandleClosed, RolloutHandle};
pub use io::{Effect, GateWatch, Input, RollbackCause, Stamped};
pub use journaled::{decode_entry, BadEntry};
pub use machine::{Rollout, StartError, WatchedGate};
pub use run_error::RunError;
pub use runner::{RunReport, Runner, RunnerBuilder};
pub use service::{Engine, EngineBuilder, RunningRollout};
pub use spec::{FailurePolicy, RetryPolicy, RolloutSpec};
