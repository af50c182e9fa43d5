//! The platform boundary. A [`Driver`] reports what runs ([`FleetState`]) and makes the
//! fleet look like an [`Action`] says. It declares [`Capabilities`] so impossible plans are
//! refused before they start, and classifies its errors so the engine knows whether to retry.

pub use crate::model::Capabilities;
use crate::model::{Action, FleetState, Revision, Target};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Whether retrying an operation may help.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorKind {
    /// Try again with backoff: timeouts, throttling, a busy socket, a conflict.
    Transient,
    /// Retrying will not help: unknown image, bad configuration, missing permission.
    Permanent,
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ErrorKind::Transient => "transient",
            ErrorKind::Permanent => "permanent",
        })
    }
}

/// A driver failure, classified, with the platform's own message kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{kind} driver error during {operation}: {message}")]
pub struct DriverError {
    /// Retry or give up.
    pub kind: ErrorKind,
    /// What was being done (`observe`, `deploy web-v2 x3`).
    pub operation: String,
    /// The platform's message.
    pub message: String,
}

impl DriverError {
    /// A transient failure.
    pub fn transient(operation: impl Into<String>, message: impl Into<String>) -> Self {
        DriverError {
            kind: ErrorKind::Transient,
            operation: operation.into(),
            message: message.into(),
        }
    }
    /// A permanent failure.
    pub fn permanent(operation: impl Into<String>, message: impl Into<String>) -> Self {
        DriverError {
            kind: ErrorKind::Permanent,
            operation: operation.into(),
            message: message.into(),
        }
    }
    /// True if a retry may succeed.
    pub fn is_transient(&self) -> bool {
        self.kind == ErrorKind::Transient
    }
}

/// Platform operations, and nothing else.
///
/// Contract (see `docs/architecture.md` for how Kubernetes, ECS and Compose map onto it):
/// - `observe` is read-only and reports every revision of the target that has replicas or
///   traffic;
/// - `apply` is idempotent and returns once the platform *accepted* the change; readiness is
///   then seen through `observe`;
/// - errors are classified [`ErrorKind::Transient`] or [`ErrorKind::Permanent`];
/// - the engine sends `Deploy` (never `Scale`: a scale step arrives as a `Deploy` of the
///   whole revision), `Route`, `Retire` and `SetFlag`; see [`Action`].
///
/// In detail (checked, clause by clause, by `shipcore::testing::conformance`, which every
/// driver should run):
/// - once `apply` returned, `observe` reports the desired replicas the action set; ready
///   replicas follow within the platform's time and never exceed desired; a revision is
///   listed once; weights are percentages summing to 100, or to 0 when nothing takes
///   traffic (retire a revision only after routing its traffic away: the others keep their
///   routed weights); the only revision with ready replicas takes all the traffic;
/// - applying the same action twice leaves the fleet as applying it once (no extra
///   replicas); with `weighted_traffic`, `observe` reports the weights a `Route` set (a
///   revision it leaves out gets 0; a 0 weight for an absent revision is ignored);
/// - `Retire` of a revision that is not deployed succeeds, and a retired revision leaves
///   `observe`;
/// - an action wrong on its face (route weights not summing to 100, an empty revision id),
///   one naming a revision the target does not run (`Scale` to more than 0 replicas, a
///   `Route` giving it traffic), and one the [`Capabilities`] exclude (`Route` without
///   `weighted_traffic`, `SetFlag` without `feature_flags`, a second revision with replicas
///   without `side_by_side`) fail with [`ErrorKind::Permanent`] and change nothing.
///
/// An async trait: implement it with `#[shipcore::async_trait]` (see
/// [`Validator`](crate::validator::Validator) for an example of the attribute).
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait Driver: Send + Sync {
    /// What this driver can do.
    fn capabilities(&self) -> Capabilities;
    /// What runs now.
    async fn observe(&self, target: &Target) -> Result<FleetState, DriverError>;
    /// Make the fleet look like `action` says.
    async fn apply(&self, target: &Target, action: &Action) -> Result<(), DriverError>;
    /// Checks, before anything changes, that `candidate` can be deployed to `target`: the
    /// service exists, the configuration loads, the artifact is there. The runner calls it
    /// before a rollout starts and refuses the rollout with this error
    /// (`RunError::Preflight`), so bad input never half-applies. It runs before any gate is
    /// checked, so it is called even for a rollout that a gate then blocks: keep it
    /// read-only. Default: nothing to check.
    async fn preflight(&self, target: &Target, candidate: &Revision) -> Result<(), DriverError> {
        let _ = (target, candidate);
        Ok(())
    }
    /// Resolves when the driver has seen `target`'s state change since its last `observe`
    /// of it (a watch event, a status change), so the engine observes again at once instead
    /// of after its poll interval. While it waits for replicas to become ready, the runner
    /// waits on this beside its poll timer; whichever comes first makes it observe. A
    /// driver without a change feed keeps the default, which never resolves: the engine
    /// then polls every `poll_interval`. Resolving early is always safe (the engine only
    /// observes again), so a driver may resolve on any event it is unsure about.
    async fn wait_for_change(&self, target: &Target) {
        let _ = target;
        std::future::pending::<()>().await
    }
}

/// The boxed future an `async_trait` method returns.
type BoxFuture<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;

/// An `Arc` of a driver is that driver. The methods hand back the inner driver's boxed
/// future as it is (written out instead of `#[async_trait]`, which would box it again).
impl<T: Driver + ?Sized> Driver for std::sync::Arc<T> {
    fn capabilities(&self) -> Capabilities {
        (**self).capabilities()
    }
    fn observe<'a, 'b, 'f>(
        &'a self,
        target: &'b Target,
    ) -> BoxFuture<'f, Result<FleetState, DriverError>>
    where
        'a: 'f,
        'b: 'f,
        Self: 'f,
    {
        (**self).observe(target)
    }
    fn apply<'a, 'b, 'c, 'f>(
        &'a self,
        target: &'b Target,
        action: &'c Action,
    ) -> BoxFuture<'f, Result<(), DriverError>>
    where
        'a: 'f,
        'b: 'f,
        'c: 'f,
        Self: 'f,
    {
        (**self).apply(target, action)
    }
    fn preflight<'a, 'b, 'c, 'f>(
        &'a self,
        target: &'b Target,
        candidate: &'c Revision,
    ) -> BoxFuture<'f, Result<(), DriverError>>
    where
        'a: 'f,
        'b: 'f,
        'c: 'f,
        Self: 'f,
    {
        (**self).preflight(target, candidate)
    }
    fn wait_for_change<'a, 'b, 'f>(&'a self, target: &'b Target) -> BoxFuture<'f, ()>
    where
        'a: 'f,
        'b: 'f,
        Self: 'f,
    {
        (**self).wait_for_change(target)
    }
}

mod layer;
pub use layer::{
    DriverExt, DriverLayer, DriverStats, DryRun, DryRunLayer, Stats, StatsLayer, StatsSnapshot,
    Timeout, TimeoutLayer,
};
