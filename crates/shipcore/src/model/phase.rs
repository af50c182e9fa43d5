//! Where a rollout is in its life, and the status snapshot callers read.

use serde::{Deserialize, Serialize};
use std::fmt;

/// The phase of a rollout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Phase {
    /// Not started.
    Pending,
    /// Checking the pre-rollout gates; nothing has changed yet.
    Gating,
    /// Executing steps.
    Progressing,
    /// Waiting for an operator (pause command, indefinite pause step, inconclusive analysis,
    /// a gate waiting for a person's approval, a gate that lost its lock).
    Paused,
    /// Going straight to the end state after a full promotion.
    Promoting,
    /// Done: all traffic and capacity on the candidate.
    Succeeded,
    /// Restoring the stable revision.
    RollingBack,
    /// Done: stable restored after a failure.
    RolledBack,
    /// The rollback itself failed: a person must act. Everything known is in the events.
    RollbackFailed,
    /// Done: stable restored after an operator abort.
    Aborted,
    /// Stopped by the freeze failure policy: a person must retry or abort.
    Frozen,
    /// A pre-rollout gate blocked it; nothing was changed.
    Blocked,
}

impl Phase {
    /// True when nothing more will happen without an operator command.
    pub fn is_settled(self) -> bool {
        matches!(
            self,
            Phase::Succeeded
                | Phase::RolledBack
                | Phase::RollbackFailed
                | Phase::Aborted
                | Phase::Frozen
                | Phase::Blocked
        )
    }
    /// True for the phases that end a rollout for good (`retry` may still start it again).
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            Phase::Succeeded | Phase::RolledBack | Phase::Aborted | Phase::Blocked
        )
    }
    /// True when a person must act.
    pub fn needs_person(self) -> bool {
        matches!(self, Phase::RollbackFailed | Phase::Frozen | Phase::Paused)
    }
    /// snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Pending => "pending",
            Phase::Gating => "gating",
            Phase::Progressing => "progressing",
            Phase::Paused => "paused",
            Phase::Promoting => "promoting",
            Phase::Succeeded => "succeeded",
            Phase::RollingBack => "rolling_back",
            Phase::RolledBack => "rolled_back",
            Phase::RollbackFailed => "rollback_failed",
            Phase::Aborted => "aborted",
            Phase::Frozen => "frozen",
            Phase::Blocked => "blocked",
        }
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A snapshot of a rollout for callers and handles.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RolloutStatus {
    /// Rollout id (empty before start).
    pub id: String,
    /// Where the rollout is in its life cycle.
    pub phase: Phase,
    /// Index of the step being executed (or the last one reached).
    pub step: usize,
    /// Number of steps in the plan.
    pub steps: usize,
    /// Why the rollout is paused, failed, blocked or rolled back.
    pub reason: Option<String>,
}
