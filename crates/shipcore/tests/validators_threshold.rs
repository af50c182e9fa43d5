//! Metric threshold: for-duration pending → fail → recover on engine time, warning level,
//! and NaN / empty / query error as distinct outcomes that are never a pass. The validator
//! keeps no state: [`Run`] hands each verdict's `breached_since` to the next measurement,
//! as the engine does within an analysis run.

#![allow(clippy::unwrap_used)]

mod validators_support;

use shipcore::metrics::{MetricsError, MetricsErrorKind};
use shipcore::time::Timestamp;
use shipcore::validator::{Outcome, ValidationContext, Validator, ValidatorError, Verdict};
use shipcore::validator::{ThresholdConfig, ValidatorConfig, ValidatorDeps};
use std::sync::Arc;
use validators_support::*;

const Q: &str = r#"error_rate{revision="v2"}"#;

fn cfg(json: &str) -> ValidatorConfig {
    ValidatorConfig::from_json(json).unwrap()
}

fn build(src: &Arc<Scripted>, json: &str) -> Arc<dyn Validator> {
    cfg(json)
        .build(&ValidatorDeps::with_metrics(src.clone()))
        .unwrap()
}

/// One analysis run of one validator, measured as the engine measures it: each measurement
/// is told what the previous verdict said in `breached_since`; an error leaves it as it was.
struct Run<'a> {
    v: &'a Arc<dyn Validator>,
    since: Option<Timestamp>,
}

impl<'a> Run<'a> {
    fn of(v: &'a Arc<dyn Validator>) -> Self {
        Run { v, since: None }
    }
    async fn validate(&mut self, ctx: &ValidationContext) -> Result<Verdict, ValidatorError> {
        let ctx = ctx.clone().with_breached_since(self.since);
        let r = self.v.validate(&ctx).await;
        if let Ok(verdict) = &r {
            self.since = verdict.breached_since;
        }
        r
    }
}

const ERRORS: &str = r#"{"type": "metric_threshold", "name": "errors",
    "query": "error_rate{revision=\"{{revision}}\"}",
    "warning": 0.01, "critical": 0.05, "for": "2m", "unit": "ratio"}"#;

#[tokio::test]
async fn for_duration_is_pending_then_fails_then_recovers() {
    let src = Arc::new(Scripted::new());
    let v = build(&src, ERRORS);
    let v = &mut Run::of(&v);
    for x in [0.002, 0.07, 0.08, 0.09, 0.06, 0.002, 0.07] {
        src.push(Q, Ok(vector(x)));
    }
    // t=0: healthy.
    let r = v.validate(&ctx(0)).await.unwrap();
    assert_eq!(r.outcome, Outcome::Pass);
    assert!(r.message.contains("within"), "{}", r.message);
    // t=60s: first breach — pending, not failing.
    let r = v.validate(&ctx(60_000)).await.unwrap();
    assert_eq!(r.outcome, Outcome::Pass, "{}", r.message);
    assert!(r.message.starts_with("pending:"), "{}", r.message);
    assert!(r.message.contains("for 0s of 2m"), "{}", r.message);
    // t=90s: 30s of 2m.
    let r = v.validate(&ctx(90_000)).await.unwrap();
    assert_eq!(r.outcome, Outcome::Pass);
    assert!(
        r.message.contains("above critical 0.05 for 30s of 2m"),
        "{}",
        r.message
    );
    // t=180s: breached for exactly 2m → fail.
    let r = v.validate(&ctx(180_000)).await.unwrap();
    assert_eq!(r.outcome, Outcome::Fail, "{}", r.message);
    assert_eq!(r.measurements[0].value, 0.09);
    assert_eq!(r.measurements[0].threshold, Some(0.05));
    // Still breaching → still failing.
    let r = v.validate(&ctx(190_000)).await.unwrap();
    assert_eq!(r.outcome, Outcome::Fail);
    // Recovers: pass, and the pending clock restarts on the next breach.
    let r = v.validate(&ctx(200_000)).await.unwrap();
    assert_eq!(r.outcome, Outcome::Pass);
    let r = v.validate(&ctx(210_000)).await.unwrap();
    assert_eq!(r.outcome, Outcome::Pass);
    assert!(r.message.starts_with("pending:"), "{}", r.message);
    // Every query was evaluated at engine time.
    let ats: Vec<_> = src.seen().iter().map(|q| q.at.unwrap().0).collect();
    assert_eq!(ats, [0, 60_000, 90_000, 180_000, 190_000, 200_000, 210_000]);
}

#[tokio::test]
async fn pending_clock_is_per_rollout_and_revision() {
    let src = Arc::new(Scripted::new());
    let validator = build(&src, ERRORS);
    let v = &mut Run::of(&validator);
    src.push(Q, Ok(vector(0.07)));
    src.push(Q, Ok(vector(0.07)));
    src.push(Q, Ok(vector(0.07)));
    assert_eq!(v.validate(&ctx(0)).await.unwrap().outcome, Outcome::Pass);
    // Another rollout of the same revision starts its own clock (its engine carries its
    // own window; the validator is shared).
    let mut other = ctx(150_000);
    other.rollout_id = "r2".into();
    let r = Run::of(&validator).validate(&other).await.unwrap();
    assert_eq!(r.outcome, Outcome::Pass);
    assert!(r.message.contains("for 0s of 2m"), "{}", r.message);
    // The first rollout's breach has lasted 2m30s.
    assert_eq!(
        v.validate(&ctx(150_000)).await.unwrap().outcome,
        Outcome::Fail
    );
}

#[tokio::test]
async fn zero_for_fails_on_a_single_breach_and_below_direction_works() {
    let src = Arc::new(Scripted::new());
    let v = build(
        &src,
        r#"{"type": "metric_threshold", "name": "success",
            "query": "success_rate{revision=\"{{revision}}\"}",
            "fail_when": "below", "warning": 0.99, "critical": 0.95}"#,
    );
    let q = r#"success_rate{revision="v2"}"#;
    src.push(q, Ok(scalar(0.999)));
    src.push(q, Ok(scalar(0.97)));
    src.push(q, Ok(scalar(0.94)));
    assert_eq!(v.validate(&ctx(0)).await.unwrap().outcome, Outcome::Pass);
    let r = v.validate(&ctx(1)).await.unwrap();
    assert_eq!(r.outcome, Outcome::Pass);
    assert!(
        r.message
            .starts_with("warning: success = 0.97 below warning 0.99"),
        "{}",
        r.message
    );
    let r = v.validate(&ctx(2)).await.unwrap();
    assert_eq!(r.outcome, Outcome::Fail, "{}", r.message);
    assert!(r.message.contains("below critical 0.95"), "{}", r.message);
}

#[tokio::test]
async fn warning_level_is_recorded_as_a_measurement() {
    let src = Arc::new(Scripted::new());
    let v = build(&src, ERRORS);
    src.push(Q, Ok(vector(0.02)));
    let r = v.validate(&ctx(0)).await.unwrap();
    assert_eq!(r.outcome, Outcome::Pass);
    assert!(r.message.starts_with("warning:"), "{}", r.message);
    let w = r
        .measurements
        .iter()
        .find(|m| m.name == "errors.warning")
        .unwrap();
    assert_eq!((w.value, w.threshold), (0.02, Some(0.01)));
    assert_eq!(w.unit, "ratio");
}

#[tokio::test]
async fn nan_empty_and_errors_are_distinct_and_never_pass() {
    let src = Arc::new(Scripted::new());
    let v = build(&src, ERRORS);
    src.push(Q, Ok(empty()));
    src.push(Q, Ok(vector(f64::NAN)));
    src.push(Q, Ok(scalar(f64::INFINITY)));
    src.push(
        Q,
        Err(MetricsError::new(
            MetricsErrorKind::Unavailable,
            Q,
            "connection refused",
        )),
    );
    let r = v.validate(&ctx(0)).await.unwrap();
    assert_eq!(r.outcome, Outcome::Inconclusive);
    assert!(r.message.contains("no data"), "{}", r.message);
    let r = v.validate(&ctx(1)).await.unwrap();
    assert_eq!(r.outcome, Outcome::Inconclusive);
    assert!(r.message.contains("NaN"), "{}", r.message);
    let r = v.validate(&ctx(2)).await.unwrap();
    assert_eq!(r.outcome, Outcome::Inconclusive);
    assert!(r.message.contains("infinite"), "{}", r.message);
    let e = v.validate(&ctx(3)).await.unwrap_err();
    assert_eq!(e.validator, "errors");
    assert!(e.message.contains("connection refused"), "{}", e.message);
}

#[tokio::test]
async fn missing_data_does_not_reset_the_pending_clock() {
    let src = Arc::new(Scripted::new());
    let v = build(&src, ERRORS);
    let v = &mut Run::of(&v);
    src.push(Q, Ok(vector(0.07)));
    src.push(Q, Ok(vector(f64::NAN)));
    src.push(Q, Ok(vector(0.07)));
    assert_eq!(v.validate(&ctx(0)).await.unwrap().outcome, Outcome::Pass);
    assert_eq!(
        v.validate(&ctx(60_000)).await.unwrap().outcome,
        Outcome::Inconclusive
    );
    assert_eq!(
        v.validate(&ctx(120_000)).await.unwrap().outcome,
        Outcome::Fail
    );
}

#[tokio::test]
async fn a_query_error_leaves_the_pending_clock_as_it_was() {
    let src = Arc::new(Scripted::new());
    let v = build(&src, ERRORS);
    let v = &mut Run::of(&v);
    src.push(Q, Ok(vector(0.07)));
    src.push(
        Q,
        Err(MetricsError::new(MetricsErrorKind::Unavailable, Q, "down")),
    );
    src.push(Q, Ok(vector(0.07)));
    assert_eq!(v.validate(&ctx(0)).await.unwrap().outcome, Outcome::Pass);
    assert!(v.validate(&ctx(60_000)).await.is_err());
    let r = v.validate(&ctx(120_000)).await.unwrap();
    assert_eq!(r.outcome, Outcome::Fail, "{}", r.message);
    assert_eq!(r.breached_since, Some(Timestamp(0)));
}

#[tokio::test]
async fn the_validator_keeps_nothing_between_measurements() {
    // Issue 15, item 1: the window used to live in the validator, per rollout id and
    // revision, and was never removed for a rollout that ended mid-breach. Now whatever a
    // measurement is not told in its context does not exist: a rollout that ended in a
    // breach leaves nothing behind, and the same id measured again starts a new window.
    let src = Arc::new(Scripted::new());
    let v = build(&src, ERRORS);
    for _ in 0..3 {
        src.push(Q, Ok(vector(0.07)));
    }
    let r = v.validate(&ctx(0)).await.unwrap();
    assert_eq!(r.breached_since, Some(Timestamp(0)));
    for at in [180_000, 360_000] {
        let r = v.validate(&ctx(at)).await.unwrap();
        assert_eq!(r.outcome, Outcome::Pass, "{}", r.message);
        assert!(r.message.contains("for 0s of 2m"), "{}", r.message);
        assert_eq!(r.breached_since, Some(Timestamp(at)));
    }
    // Told the breach began at 0, the same measurement fails: the window is the context's.
    src.push(Q, Ok(vector(0.07)));
    let told = ctx(180_000).with_breached_since(Some(Timestamp(0)));
    let r = v.validate(&told).await.unwrap();
    assert_eq!(r.outcome, Outcome::Fail, "{}", r.message);
    assert!(r.message.contains("for 3m of 2m"), "{}", r.message);
    assert_eq!(r.breached_since, Some(Timestamp(0)));
    // Within critical: no breach to carry; no data: the told breach is passed on.
    src.push(Q, Ok(vector(0.02)));
    assert_eq!(v.validate(&told).await.unwrap().breached_since, None);
    src.push(Q, Ok(empty()));
    assert_eq!(
        v.validate(&told).await.unwrap().breached_since,
        Some(Timestamp(0))
    );
}

#[tokio::test]
async fn unknown_template_variable_is_an_error() {
    let src = Arc::new(Scripted::new());
    let v = build(
        &src,
        r#"{"type": "metric_threshold", "name": "x", "query": "m{a=\"{{nope}}\"}", "critical": 1}"#,
    );
    let e = v.validate(&ctx(0)).await.unwrap_err();
    assert!(e.message.contains("nope"), "{}", e.message);
    assert!(src.seen().is_empty());
}

#[test]
fn bad_config_names_the_field() {
    let deps = ValidatorDeps::with_metrics(Arc::new(Scripted::new()));
    let err = |json: &str| cfg(json).build(&deps).err().unwrap();
    let e = err(r#"{"type": "metric_threshold", "name": "", "query": "q", "critical": 1}"#);
    assert_eq!(e.field, "name");
    let e = err(r#"{"type": "metric_threshold", "name": "n", "query": " ", "critical": 1}"#);
    assert_eq!(e.field, "query");
    let e = err(
        r#"{"type": "metric_threshold", "name": "n", "query": "q", "critical": 0.05, "warning": 0.1}"#,
    );
    assert_eq!(e.field, "warning");
    assert!(e.problem.contains("critical"), "{}", e.problem);
    let e = ValidatorConfig::from_json(
        r#"{"type": "metric_threshold", "name": "n", "query": "q", "critical": 1, "crit": 2}"#,
    )
    .unwrap_err();
    assert!(e.problem.contains("unknown field `crit`"), "{}", e.problem);
    let e = ValidatorConfig::from_json(
        r#"{"type": "metric_threshold", "name": "n", "query": "q", "critical": 1, "for": "2 min"}"#,
    )
    .unwrap_err();
    assert!(e.problem.contains("invalid duration"), "{}", e.problem);
    let mut c = ThresholdConfig::above("n", "q", f64::NAN);
    assert_eq!(c.check().unwrap_err().field, "critical");
    c.critical = 1.0;
    assert!(c.check().is_ok());
}
