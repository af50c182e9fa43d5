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
pub mod gates;
pub mod http_limits;
pub mod journal;
pub mod metrics;
pub mod model;
pub mod notifier;
pub mod notify;
pub mod record;
pub mod redact;
pub mod strategy;
pub mod template;
pub mod time;
pub mod validator;
pub mod validators;
pub mod version;

#[cfg(feature = "testing")]
pub mod testing;

pub mod prelude;

/// The attribute that implements shipcore's async traits ([`driver::Driver`],
/// [`validator::Validator`], [`gate::Gate`], [`metrics::MetricsSource`],
/// [`journal::Journal`], [`notifier::Notifier`]): put `#[shipcore::async_trait]` on the
/// `impl` block, with no dependency of your own on the `async-trait` crate. See
/// [`validator::Validator`] for an example.
pub use async_trait::async_trait;

/// The README's code blocks, compiled and run as doc tests so the front door never rots.
#[cfg(all(doctest, feature = "testing"))]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeDoctests;
