//! Gates answer "may this proceed?": before a rollout (the blocking checklist) and inside it
//! (manual approval, promotion windows). The engine checks them in order; the first `Block`
//! stops the rollout before anything changes. A gate that waits for a person answers
//! [`GateOutcome::AwaitPerson`] and the rollout pauses as at an indefinite `Pause` step. A
//! gate that takes something (a lock) keeps it through [`Gate::keep_alive`], which can
//! report it lost, and gives it back in [`Gate::on_finish`] when the rollout ends.
//!
//! The gates built in for the pre-rollout checklist and for checks inside a
//! rollout: a command, an HTTP endpoint, a file, manual approval, deploy windows and freezes,
//! and a per-service lock; plus [`check_all`] and the [`GateConfig`] that builds them.
//!
//! ```
//! use shipcore::gate::GateConfig;
//! let cfg: GateConfig = serde_json::from_str(
//!     r#"{"type": "file", "name": "runbook", "path": "RUNBOOK.md"}"#).unwrap();
//! let gate = cfg.build().unwrap();
//! assert_eq!(gate.name(), "runbook");
//! ```

mod approval;
mod checklist;
mod command;
mod config;
mod file;
mod file_lock;
mod http;
mod lock;
mod severity;
mod window;

pub use approval::{ApprovalConfig, ApprovalGate, TimeoutAction};
pub use checklist::{check_all, ChecklistEntry, ChecklistResult};
pub use command::{
    CommandConfig, CommandGate, CommandRun, COMMAND_MAX_TAIL_BYTES, COMMAND_MAX_TIMEOUT,
};
pub use config::{ConfigError, GateConfig};
pub use file::{FileConfig, FileGate};
pub use file_lock::FileLock;
pub use http::{HttpConfig, HttpGate, JsonExpect};
pub use lock::{
    LockConfig, LockError, LockGate, LockHolder, LockKey, LockOutcome, Refresh, RolloutLock,
};
pub use severity::Severity;
pub use window::{
    DeployWindow, Freeze, FreezePeriod, Weekday, WindowConfig, WindowPreset, WindowRule,
};

use crate::model::Phase;
use crate::model::{Revision, Target};
use crate::time::Timestamp;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// A gate's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum GateOutcome {
    /// Go on.
    Pass,
    /// Stop the rollout; the reason goes into the record.
    Block {
        /// Why.
        reason: String,
    },
    /// Not yet; ask again later (a window opens, a service comes up).
    Wait {
        /// When to ask again.
        #[serde(with = "crate::time::serde_duration")]
        retry_after: Duration,
        /// What is awaited.
        reason: String,
    },
    /// Not until a person acts (approves): the rollout pauses as at an indefinite `Pause`
    /// step (phase `Paused`), and a run with no handle left to act through returns. An
    /// approval through the handle asks again at once. With `recheck_after`, the runner
    /// also asks again after that long (a file to look for, a timeout to apply), without
    /// journaling answers that repeat this one: only a changed answer reaches the engine.
    /// So `reason` must stay the same while nothing changes (no countdown in it).
    AwaitPerson {
        /// What the person must do.
        reason: String,
        /// Ask again after this long even without a command (`None`: only a command can
        /// change the answer).
        #[serde(
            default,
            with = "crate::time::serde_opt_duration",
            skip_serializing_if = "Option::is_none"
        )]
        recheck_after: Option<Duration>,
    },
}

impl GateOutcome {
    /// A block with a reason.
    pub fn block(reason: impl Into<String>) -> Self {
        GateOutcome::Block {
            reason: reason.into(),
        }
    }
    /// A wait with a reason.
    pub fn wait(retry_after: Duration, reason: impl Into<String>) -> Self {
        GateOutcome::Wait {
            retry_after,
            reason: reason.into(),
        }
    }
    /// A wait for a person, asked again after `recheck_after` if set.
    pub fn await_person(reason: impl Into<String>, recheck_after: Option<Duration>) -> Self {
        GateOutcome::AwaitPerson {
            reason: reason.into(),
            recheck_after,
        }
    }
    /// The reason of a block or wait.
    pub fn reason(&self) -> Option<&str> {
        match self {
            GateOutcome::Pass => None,
            GateOutcome::Block { reason }
            | GateOutcome::Wait { reason, .. }
            | GateOutcome::AwaitPerson { reason, .. } => Some(reason),
        }
    }
}

/// The answer to [`Gate::keep_alive`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeepAlive {
    /// Whatever the gate holds for the rollout is still held (or it holds nothing).
    Held,
    /// The gate lost what it held (a lock taken over): the rollout must stop changing the
    /// fleet. The engine pauses it with this reason.
    Lost {
        /// What was lost, and to whom.
        reason: String,
    },
}

/// What a gate is told about the rollout it guards.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GateContext {
    /// Rollout id.
    pub rollout_id: String,
    /// The service and environment the rollout changes.
    pub target: Target,
    /// What is being deployed.
    pub candidate: Revision,
    /// What runs now, if anything.
    pub stable: Option<Revision>,
    /// The time the engine sees (simulated or real).
    pub now: Timestamp,
    /// Approvals given through the rollout handle so far (for this gate op: a gate that
    /// passed consumes its approval).
    pub approvals: Vec<String>,
    /// Since when this gate has been answering `Wait` or `AwaitPerson` at the current
    /// gate op, as the engine journaled it (`None` at the first check): survives a restart,
    /// so a timeout measured from it is not reset by one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waiting_since: Option<Timestamp>,
}

/// May the rollout proceed?
///
/// An async trait: implement it with the [`async_trait`](crate::async_trait) attribute
/// shipcore re-exports, register the value with
/// [`RunnerBuilder::gate`](crate::engine::RunnerBuilder::gate) and name it in the spec's
/// `gates` or in gate steps. A runner that [`resume`](crate::engine::Runner::resume)s a
/// rollout needs the same gates registered under the same names.
///
/// Gates are checked after [`Driver::preflight`](crate::driver::Driver::preflight): a
/// rollout a gate then blocks has still had the driver's preflight called (it changes
/// nothing).
///
/// ```
/// use shipcore::gate::{Gate, GateContext, GateOutcome};
///
/// /// Blocks rollouts to production on a Friday (days since 1970-01-01; that was a Thursday).
/// struct NoFridays;
///
/// #[shipcore::async_trait]
/// impl Gate for NoFridays {
///     fn name(&self) -> &str {
///         "no-fridays"
///     }
///     async fn check(&self, ctx: &GateContext) -> GateOutcome {
///         let day = ctx.now.0 / 86_400_000;
///         if ctx.target.environment == "production" && day % 7 == 1 {
///             GateOutcome::block("no production deploys on Fridays")
///         } else {
///             GateOutcome::Pass
///         }
///     }
/// }
/// ```
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait Gate: Send + Sync {
    /// Name used in plans and records.
    fn name(&self) -> &str;
    /// Check now. Errors are the gate's own business: report them as `Block` or `Wait`.
    async fn check(&self, ctx: &GateContext) -> GateOutcome;
    /// The rollout this gate guarded ended for good (`phase` is terminal: succeeded, rolled
    /// back, aborted or blocked): give back what `check` took. Called by the runner on every
    /// gate the rollout names, whether it passed, blocked or was never reached, and again when
    /// an ended rollout is resumed, so it must be idempotent. Errors are the gate's own
    /// business (log them). Not called while a person must act (frozen, rollback failed).
    /// Default: nothing.
    async fn on_finish(&self, ctx: &GateContext, phase: Phase) {
        let _ = (ctx, phase);
    }
    /// Called while the rollout runs past its gates (when a step starts, after each
    /// analysis measurement, before each fleet change, and every
    /// [`keep_alive_interval`](Self::keep_alive_interval) through every wait: pauses,
    /// approvals, analyses), so a gate that holds something for the rollout can keep it:
    /// the lock gate refreshes its lock. [`KeepAlive::Lost`] stops the rollout's fleet
    /// changes and pauses it, saying why; a transient error is the gate's own business
    /// (log it and answer `Held`). Default: `Held`.
    async fn keep_alive(&self, ctx: &GateContext) -> KeepAlive {
        let _ = ctx;
        KeepAlive::Held
    }
    /// How often [`keep_alive`](Self::keep_alive) must be called at least, on the
    /// engine's clock (the lock gate: a third of its lock's TTL). Default: `None`, only
    /// at the events above.
    fn keep_alive_interval(&self) -> Option<Duration> {
        None
    }
}
