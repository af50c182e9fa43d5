//! What an operator can tell a running rollout, through a
//! [`RolloutHandle`](super::RolloutHandle) or a command line; journaled like every input.

use serde::{Deserialize, Serialize};

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
