//! Operator control of a running rollout: pause, resume, promote, abort, retry, approve,
//! and a live status. Commands are journaled like every other input.

use super::command::Command;
use super::command_queue::CommandSender;
use super::status_cell::StatusReceiver;
use crate::model::RolloutStatus;

/// The runner has stopped; the command was not delivered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the rollout runner has stopped; command {0:?} was not delivered")]
pub struct HandleClosed(pub Command);

/// A cloneable remote control for one rollout.
#[derive(Debug, Clone)]
pub struct RolloutHandle {
    pub(crate) commands: CommandSender,
    pub(crate) status: StatusReceiver,
}

impl RolloutHandle {
    /// Sends any command.
    pub fn send(&self, cmd: Command) -> Result<(), HandleClosed> {
        self.commands.send(cmd).map_err(HandleClosed)
    }
    /// Stop advancing after the current step.
    pub fn pause(&self) -> Result<(), HandleClosed> {
        self.send(Command::Pause)
    }
    /// Continue after a pause.
    pub fn resume(&self) -> Result<(), HandleClosed> {
        self.send(Command::Resume)
    }
    /// Skip the current pause, analysis or gate.
    pub fn promote(&self) -> Result<(), HandleClosed> {
        self.send(Command::Promote { full: false })
    }
    /// Skip every remaining step and go to the end state.
    pub fn promote_full(&self) -> Result<(), HandleClosed> {
        self.send(Command::Promote { full: true })
    }
    /// Stop and roll back.
    pub fn abort(&self) -> Result<(), HandleClosed> {
        self.send(Command::Abort)
    }
    /// Start again / re-run a frozen step (a pause asked before the freeze is dropped: the
    /// step runs at once) / retry a failed rollback.
    pub fn retry(&self) -> Result<(), HandleClosed> {
        self.send(Command::Retry)
    }
    /// Approve a manual-approval gate.
    pub fn approve(&self, gate: impl Into<String>) -> Result<(), HandleClosed> {
        self.send(Command::Approve { gate: gate.into() })
    }
    /// The latest status.
    pub fn status(&self) -> RolloutStatus {
        self.status.get()
    }
    /// Waits until the status satisfies `pred` (or the runner stops: then the last status).
    pub async fn wait_for(&mut self, pred: impl Fn(&RolloutStatus) -> bool) -> RolloutStatus {
        loop {
            let current = self.status.get_and_update();
            if pred(&current) {
                return current;
            }
            if self.status.changed().await.is_err() {
                return self.status.get();
            }
        }
    }
}
