//! The rollout engine: a pure, deterministic state machine ([`Rollout`]) that turns inputs
//! into effects, and an async [`Runner`] that performs the effects against a driver,
//! validators, gates and notifiers, journaling every input before it is handled.

mod analysis;
mod event;
mod handle;
mod io;
mod machine;
mod ops;
mod pending;
mod phase;
mod registry;
mod runner;
mod spec;

pub use analysis::{AnalysisRun, Decision};
pub use event::{AnalysisResult, AnalysisScope, Event, EventKind, StartInfo};
pub use handle::{HandleClosed, RolloutHandle};
pub use io::{Command, Effect, GateWatch, Input, MeasureResult, RollbackCause, Stamped};
pub use machine::{Rollout, StartError, WatchedGate};
pub use phase::{Phase, RolloutStatus};
pub use runner::{RunError, RunReport, Runner, RunnerBuilder};
pub use spec::{FailurePolicy, RetryPolicy, RolloutSpec};
