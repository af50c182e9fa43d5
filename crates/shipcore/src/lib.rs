//! # shipcore
//!
//! Ship code to production safely, as a library: plan a rollout with a [`strategy`], run it
//! with a deterministic, journaled [`engine`] against any [`driver`], judge it with
//! [`validator`]s and roll back automatically.
//!
//! The engine core is pure (`Rollout::handle(input) -> effects`); time, randomness and I/O
//! enter only through the [`clock::Clock`], [`driver::Driver`], [`validator::Validator`],
//! [`metrics::MetricsSource`] and [`journal::Journal`] traits.
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

/// The README's code blocks, compiled and run as doc tests so the front door never rots.
#[cfg(all(doctest, feature = "testing"))]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeDoctests;
