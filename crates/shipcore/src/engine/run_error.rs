//! Why a run could not start or continue ([`RunError`]), with whether trying again later
//! may succeed.

use crate::driver::DriverError;
use crate::journal::JournalError;
use crate::model::PlanError;

/// Why a run could not start or continue.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The spec or plan is invalid for this driver.
    #[error("rollout refused: {0}")]
    Plan(#[from] PlanError),
    /// A validator named by the spec is not registered with the runner.
    #[error("validator {name:?} is named by the rollout but not registered (registered: {known})")]
    UnknownValidator {
        /// The missing name.
        name: String,
        /// Registered names.
        known: String,
    },
    /// A gate named by the spec is not registered with the runner.
    #[error("gate {name:?} is named by the rollout but not registered (registered: {known})")]
    UnknownGate {
        /// The missing name.
        name: String,
        /// Registered names.
        known: String,
    },
    /// A migrator named by a migration step is not registered with the engine.
    #[error(
        "migrator {name:?} is named by the rollout's plan but not registered (registered: {known}); register it with EngineBuilder::migrator, or name a registered one in the plan's migrate steps"
    )]
    UnknownMigrator {
        /// The missing name.
        name: String,
        /// Registered names.
        known: String,
    },
    /// The journal failed; the rollout stopped where it was and can be resumed.
    #[error(transparent)]
    Journal(#[from] JournalError),
    /// The driver found, before anything changed, that the candidate cannot be deployed
    /// (unknown service, bad configuration, missing artifact). Nothing was journaled.
    #[error("rollout refused by the driver's preflight: {0}")]
    Preflight(DriverError),
    /// `start` on a journal that already holds a rollout (use `resume`).
    #[error("the journal already holds rollout {0:?}; resume it instead of starting again")]
    AlreadyStarted(String),
    /// `resume` on an empty journal.
    #[error("the journal is empty: nothing to resume")]
    NothingToResume,
    /// A journal entry is not a valid input.
    #[error(transparent)]
    BadEntry(#[from] super::BadEntry),
    /// The engine is shutting down ([`Engine::shutdown`](super::Engine::shutdown)): the run
    /// did not start, or stopped at its next wait with every input it had handled
    /// journaled. Resume it from its journal.
    #[error("the engine is shutting down; the rollout stopped where it was and can be resumed")]
    ShutDown,
    /// A spawned run's task ended without a report (it panicked or was cancelled).
    #[error("the rollout's task ended without a report: {0}")]
    TaskFailed(String),
}

impl RunError {
    /// True when retrying later (after fixing storage) may succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            RunError::Journal(JournalError::Io { .. }) | RunError::ShutDown => true,
            RunError::Preflight(e) => e.is_transient(),
            _ => false,
        }
    }
}
