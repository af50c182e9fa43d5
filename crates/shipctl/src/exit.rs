//! Exit codes, and the one error type of the commands: each kind of error has its code, so
//! a CI job can tell bad input from a rollback from a rollout that needs a person.

use crate::file::FileError;
use crate::state::StateError;
use shipcore::engine::Phase;

/// What `shipctl` exits with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// 0: the rollout succeeded (or a command was delivered).
    Succeeded = 0,
    /// 1: rolled back or aborted: stable serves again.
    RolledBack = 1,
    /// 2: bad input (file, arguments, no such rollout): nothing was started.
    BadInput = 2,
    /// 3: the rollback failed, the rollout is frozen, or the run stopped before it settled:
    /// a person must act.
    NeedsPerson = 3,
    /// 4: a gate blocked the rollout before anything changed.
    Blocked = 4,
}

impl Exit {
    /// The code of a rollout that ended in `phase`.
    pub fn of_phase(phase: Phase) -> Exit {
        match phase {
            Phase::Succeeded => Exit::Succeeded,
            Phase::RolledBack | Phase::Aborted => Exit::RolledBack,
            Phase::Blocked => Exit::Blocked,
            _ => Exit::NeedsPerson,
        }
    }

    /// The process exit code.
    pub fn code(self) -> u8 {
        self as u8
    }
}

/// The exit codes, for `--help`.
pub const EXIT_CODES_HELP: &str = "\
Exit codes:
  0  succeeded (for control commands: delivered)
  1  rolled back or aborted
  2  bad input: the file, the arguments, or no such rollout; nothing was started
  3  rollback failed, frozen, or stopped before it settled: a person must act
  4  blocked by a gate before anything changed";

/// Why a command failed.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The rollout file is wrong.
    #[error(transparent)]
    File(#[from] FileError),
    /// An argument or the state directory's content is wrong (no such rollout, a rollout
    /// id used twice).
    #[error("{0}")]
    Usage(String),
    /// The state directory cannot be used.
    #[error(transparent)]
    State(#[from] StateError),
    /// No run is listening for the rollout.
    #[error("{0}")]
    NotListening(String),
    /// The engine refused or failed after the rollout started.
    #[error("{0}")]
    Run(String),
}

impl CliError {
    /// The exit code of this error.
    pub fn exit(&self) -> Exit {
        match self {
            CliError::File(_) | CliError::Usage(_) | CliError::NotListening(_) => Exit::BadInput,
            CliError::State(_) | CliError::Run(_) => Exit::NeedsPerson,
        }
    }
}
