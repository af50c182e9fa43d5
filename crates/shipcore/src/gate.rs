//! Gates answer "may this proceed?": before a rollout (the blocking checklist) and inside it
//! (manual approval, promotion windows). The engine checks them in order; the first `Block`
//! stops the rollout before anything changes. A gate that takes something (a lock) gives it
//! back in [`Gate::on_finish`] when the rollout ends.

use crate::engine::Phase;
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
    /// Not yet; ask again later.
    Wait {
        /// When to ask again.
        #[serde(with = "crate::time::serde_duration")]
        retry_after: Duration,
        /// What is awaited.
        reason: String,
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
}

/// What a gate is told about the rollout it guards.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GateContext {
    /// Rollout id.
    pub rollout_id: String,
    /// Where.
    pub target: Target,
    /// What is being deployed.
    pub candidate: Revision,
    /// What runs now, if anything.
    pub stable: Option<Revision>,
    /// The time the engine sees (simulated or real).
    pub now: Timestamp,
    /// Approvals given through the rollout handle so far.
    pub approvals: Vec<String>,
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
    /// Called while the rollout runs (when a step starts and after each analysis
    /// measurement), so a gate that holds something for the rollout can keep it: the lock
    /// gate refreshes its lock, which would otherwise go stale during a long monitoring
    /// window. Errors are the gate's own business (log them). Default: nothing.
    async fn keep_alive(&self, ctx: &GateContext) {
        let _ = ctx;
    }
}
