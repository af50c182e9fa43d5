//! # shipcore
//!
//! Ship code to production safely, as a library: plan a rollout with a [`strategy`], run it
//! with a deterministic, journaled [`engine`] against any [`driver`], judge it with
//! [`validator`]s and roll back automatically.
//!
//! The engine core is pure (`Rollout::handle(input) -> effects`); time, randomness and I/O
//! enter only through the [`clock::Clock`], [`driver::Driver`], [`validator::Validator`],
//! [`metrics::MetricsSource`] and [`journal::Journal`] traits.
//!
//! Start with [`prelude`] (`use shipcore::prelude::*;`), which also says how to import it
//! next to proptest's prelude. The engine's contract: a rollout that ends
//! [`Succeeded`](engine::Phase::Succeeded) has all traffic and all capacity on the candidate
//! and the stable revision retired ([`model::Plan::validate`] refuses plans that would end
//! any other way); one rolled back or aborted has all traffic on stable and the candidate
//! retired; and the engine never routes traffic to a revision without ready replicas.
#![warn(missing_docs)]
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod clock;
pub mod driver;
pub mod engine;
pub mod gate;
pub mod http_limits;
pub mod journal;
pub mod metrics;
pub mod migrate;
pub mod model;
pub mod notify;
pub mod record;
pub mod redact;
pub mod strategy;
pub mod template;
pub mod time;
pub mod validator;
pub mod version;

#[cfg(feature = "testing")]
pub mod testing;

pub mod prelude;
pub(crate) mod process;

/// The attribute that implements shipcore's async traits ([`driver::Driver`],
/// [`validator::Validator`], [`gate::Gate`], [`metrics::MetricsSource`],
/// [`journal::Journal`], [`notify::Notifier`]): put `#[shipcore::async_trait]` on the
/// `impl` block, with no dependency of your own on the `async-trait` crate. See
/// [`validator::Validator`] for an example.
pub use async_trait::async_trait;

/// The README's code blocks, compiled and run as doc tests so the front door never rots.
#[cfg(all(doctest, feature = "testing"))]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeDoctests;

/// The shape of the public API, checked as doc tests: builders and constructors are
/// `#[must_use]`, growing enums are `#[non_exhaustive]`, internals are not exported.
///
/// Dropping a built value is reported:
///
/// ```compile_fail
/// #![deny(unused_must_use)]
/// use shipcore::model::Monitoring;
/// use std::time::Duration;
/// let monitoring = Monitoring::new(&["error-rate"], Duration::from_secs(600));
/// monitoring.every(Duration::from_secs(30)); // the configured copy is dropped
/// ```
///
/// ```compile_fail
/// #![deny(unused_must_use)]
/// shipcore::driver::TimeoutLayer::new(std::time::Duration::from_secs(5));
/// ```
///
/// while keeping it compiles:
///
/// ```
/// #![deny(unused_must_use)]
/// use shipcore::model::Monitoring;
/// use std::time::Duration;
/// let monitoring = Monitoring::new(&["error-rate"], Duration::from_secs(600));
/// let _monitoring = monitoring.every(Duration::from_secs(30));
/// let _layer = shipcore::driver::TimeoutLayer::new(Duration::from_secs(5));
/// ```
///
/// A match on a phase needs a wildcard arm, so a new phase is not a breaking change:
///
/// ```compile_fail
/// use shipcore::engine::Phase;
/// fn settled(p: Phase) -> bool {
///     match p {
///         Phase::Pending | Phase::Gating | Phase::Progressing | Phase::Paused => false,
///         Phase::Promoting | Phase::RollingBack | Phase::Frozen | Phase::Blocked => false,
///         Phase::Succeeded | Phase::RolledBack | Phase::RollbackFailed | Phase::Aborted => true,
///     }
/// }
/// ```
///
/// ```
/// use shipcore::engine::Phase;
/// fn settled(p: Phase) -> bool {
///     match p {
///         Phase::Succeeded | Phase::RolledBack | Phase::RollbackFailed | Phase::Aborted => true,
///         _ => false,
///     }
/// }
/// assert!(settled(Phase::Succeeded) && !settled(Phase::Pending));
/// ```
///
/// The Mann–Whitney machinery behind the statistical judge is internal; its results are
/// public:
///
/// ```compile_fail
/// use shipcore::validator::mann_whitney_u;
/// ```
///
/// ```
/// use shipcore::validator::{MwMethod, ShiftInterval, StatisticalJudge};
/// ```
///
/// The driver [`driver::StatsLayer`] builds is named after it, as tower names `Timeout`
/// after `TimeoutLayer`:
///
/// ```compile_fail
/// use shipcore::driver::Counted;
/// ```
#[cfg(doctest)]
pub struct ApiShape;

#[cfg(test)]
mod features {
    /// The simulator is for test suites: a plain dependency on shipcore does not compile it.
    #[test]
    fn no_feature_is_on_by_default() {
        let manifest = include_str!("../Cargo.toml");
        let default = manifest
            .lines()
            .find(|l| l.trim_start().starts_with("default"))
            .expect("crates/shipcore/Cargo.toml declares its default features");
        assert_eq!(default.replace(' ', ""), "default=[]", "{default}");
    }
}
