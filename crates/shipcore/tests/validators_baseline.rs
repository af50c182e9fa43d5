//! Baseline comparison: candidate vs stable on one template, ratio and tolerance rules,
//! minimum sample size, no stable revision, and no-data handling.

#![allow(clippy::unwrap_used)]

mod validators_support;

use shipcore::metrics::{MetricsError, MetricsErrorKind};
use shipcore::validator::{Outcome, Validator};
use shipcore::validator::{ValidatorConfig, ValidatorDeps};
use std::sync::Arc;
use validators_support::*;

const CFG: &str = r#"{"type": "baseline", "name": "vs-stable",
  "sample_size": {"query": "requests{revision=\"{{revision}}\"}", "min": 100},
  "rules": [
    {"metric": "error_rate", "query": "error_rate{revision=\"{{revision}}\"}", "tolerance": 0.01},
    {"metric": "latency_p95", "query": "latency_p95{revision=\"{{revision}}\"}", "ratio": 1.1, "unit": "s"}
  ]}"#;

fn build(src: &Arc<Scripted>, json: &str) -> Arc<dyn Validator> {
    ValidatorConfig::from_json(json)
        .unwrap()
        .build(&ValidatorDeps::with_metrics(src.clone()))
        .unwrap()
}

/// Scripts one round: (requests, error rate, p95) for candidate v2 and stable v1.
fn script(src: &Scripted, cand: (f64, f64, f64), stable: (f64, f64, f64)) {
    for (rev, (n, e, p)) in [("v2", cand), ("v1", stable)] {
        src.push(&format!("requests{{revision=\"{rev}\"}}"), Ok(vector(n)));
        src.push(&format!("error_rate{{revision=\"{rev}\"}}"), Ok(vector(e)));
        src.push(&format!("latency_p95{{revision=\"{rev}\"}}"), Ok(vector(p)));
    }
}

#[tokio::test]
async fn within_tolerance_and_ratio_passes() {
    let src = Arc::new(Scripted::new());
    let v = build(&src, CFG);
    script(&src, (500.0, 0.015, 0.21), (5000.0, 0.01, 0.2));
    let r = v.validate(&ctx(42_000)).await.unwrap();
    assert_eq!(r.outcome, Outcome::Pass, "{}", r.message);
    let e = r
        .measurements
        .iter()
        .find(|m| m.name == "error_rate")
        .unwrap();
    assert_eq!(e.value, 0.015);
    assert!((e.threshold.unwrap() - 0.02).abs() < 1e-12);
    let p = r
        .measurements
        .iter()
        .find(|m| m.name == "latency_p95")
        .unwrap();
    assert!((p.threshold.unwrap() - 0.22).abs() < 1e-12);
    assert_eq!(p.unit, "s");
    let b = r
        .measurements
        .iter()
        .find(|m| m.name == "latency_p95.baseline")
        .unwrap();
    assert_eq!(b.value, 0.2);
    // Both sides were queried at engine time, from one template.
    let seen = src.seen();
    assert_eq!(seen.len(), 6);
    assert!(seen.iter().all(|q| q.at.unwrap().0 == 42_000));
}

#[tokio::test]
async fn error_rate_past_baseline_plus_tolerance_fails() {
    let src = Arc::new(Scripted::new());
    let v = build(&src, CFG);
    script(&src, (500.0, 0.05, 0.2), (5000.0, 0.01, 0.2));
    let r = v.validate(&ctx(0)).await.unwrap();
    assert_eq!(r.outcome, Outcome::Fail);
    assert!(
        r.message
            .contains("error_rate 0.05 above limit 0.02 (baseline 0.01)"),
        "{}",
        r.message
    );
}

#[tokio::test]
async fn p95_past_ratio_fails() {
    let src = Arc::new(Scripted::new());
    let v = build(&src, CFG);
    script(&src, (500.0, 0.01, 0.25), (5000.0, 0.01, 0.2));
    let r = v.validate(&ctx(0)).await.unwrap();
    assert_eq!(r.outcome, Outcome::Fail);
    assert!(
        r.message.contains("latency_p95 0.25 above limit 0.22"),
        "{}",
        r.message
    );
}

#[tokio::test]
async fn too_few_samples_is_inconclusive_even_when_values_look_bad() {
    let src = Arc::new(Scripted::new());
    let v = build(&src, CFG);
    src.push(r#"requests{revision="v2"}"#, Ok(vector(12.0)));
    src.push(r#"requests{revision="v1"}"#, Ok(vector(5000.0)));
    let r = v.validate(&ctx(0)).await.unwrap();
    assert_eq!(r.outcome, Outcome::Inconclusive);
    assert!(
        r.message.contains("too few samples (need 100 per side)"),
        "{}",
        r.message
    );
    assert!(
        r.message.contains("candidate has 12 samples"),
        "{}",
        r.message
    );
    // The rules were not even queried.
    assert_eq!(src.seen().len(), 2);
    // No count at all (empty result) is inconclusive too, naming the side.
    src.push(r#"requests{revision="v2"}"#, Ok(vector(500.0)));
    src.push(r#"requests{revision="v1"}"#, Ok(empty()));
    let r = v.validate(&ctx(0)).await.unwrap();
    assert_eq!(r.outcome, Outcome::Inconclusive);
    assert!(
        r.message
            .contains("stable requests{revision=\"v1\"}: the query returned no data"),
        "{}",
        r.message
    );
}

#[tokio::test]
async fn no_stable_revision_is_inconclusive() {
    let src = Arc::new(Scripted::new());
    let v = build(&src, CFG);
    let r = v.validate(&ctx_at(0, false)).await.unwrap();
    assert_eq!(r.outcome, Outcome::Inconclusive);
    assert!(r.message.contains("no stable revision"), "{}", r.message);
    assert!(src.seen().is_empty());
}

#[tokio::test]
async fn nan_on_one_side_is_inconclusive_but_a_failing_rule_still_fails() {
    let src = Arc::new(Scripted::new());
    let v = build(&src, CFG);
    script(&src, (500.0, f64::NAN, 0.2), (5000.0, 0.01, 0.2));
    let r = v.validate(&ctx(0)).await.unwrap();
    assert_eq!(r.outcome, Outcome::Inconclusive, "{}", r.message);
    assert!(
        r.message
            .contains("candidate error_rate{revision=\"v2\"}: the query returned NaN"),
        "{}",
        r.message
    );
    script(&src, (500.0, f64::NAN, 0.5), (5000.0, 0.01, 0.2));
    assert_eq!(v.validate(&ctx(0)).await.unwrap().outcome, Outcome::Fail);
}

#[tokio::test]
async fn query_error_is_an_error() {
    let src = Arc::new(Scripted::new());
    let v = build(&src, CFG);
    src.push(r#"requests{revision="v2"}"#, Ok(vector(500.0)));
    src.push(
        r#"requests{revision="v1"}"#,
        Err(MetricsError::new(
            MetricsErrorKind::BadQuery,
            "requests",
            "parse error",
        )),
    );
    let e = v.validate(&ctx(0)).await.unwrap_err();
    assert!(e.message.contains("parse error"), "{}", e.message);
}

#[tokio::test]
async fn below_rules_allow_a_drop_down_to_the_limit() {
    let src = Arc::new(Scripted::new());
    let v = build(
        &src,
        r#"{"type": "baseline", "name": "throughput", "rules": [{"metric": "success",
            "query": "success{revision=\"{{revision}}\"}", "fail_when": "below", "ratio": 0.99}]}"#,
    );
    src.push(r#"success{revision="v2"}"#, Ok(scalar(0.99)));
    src.push(r#"success{revision="v1"}"#, Ok(scalar(0.999)));
    src.push(r#"success{revision="v2"}"#, Ok(scalar(0.95)));
    src.push(r#"success{revision="v1"}"#, Ok(scalar(0.999)));
    assert_eq!(v.validate(&ctx(0)).await.unwrap().outcome, Outcome::Pass);
    let r = v.validate(&ctx(0)).await.unwrap();
    assert_eq!(r.outcome, Outcome::Fail);
    assert!(
        r.message.contains("success 0.95 below limit 0.989"),
        "{}",
        r.message
    );
}

#[test]
fn bad_config_names_the_field() {
    let deps = ValidatorDeps::with_metrics(Arc::new(Scripted::new()));
    let field = |json: &str| {
        ValidatorConfig::from_json(json)
            .unwrap()
            .build(&deps)
            .err()
            .unwrap()
            .0
            .field
    };
    assert_eq!(
        field(r#"{"type": "baseline", "name": "b", "rules": []}"#),
        "rules"
    );
    assert_eq!(
        field(
            r#"{"type": "baseline", "name": "b", "rules": [{"metric": "m", "query": "q", "ratio": 0}]}"#
        ),
        "rules[0].ratio"
    );
    assert_eq!(
        field(
            r#"{"type": "baseline", "name": "b", "rules": [{"metric": "m", "query": "q"}, {"metric": "m", "query": "q", "tolerance": -1}]}"#
        ),
        "rules[1].tolerance"
    );
    assert_eq!(
        field(
            r#"{"type": "baseline", "name": "b", "sample_size": {"query": "q", "min": 0}, "rules": [{"metric": "m", "query": "q"}]}"#
        ),
        "sample_size.min"
    );
    let e = ValidatorConfig::from_json(
        r#"{"type": "baseline", "name": "b", "rules": [{"metric": "m", "query": "q", "max": 2}]}"#,
    )
    .unwrap_err();
    assert!(e.problem.contains("unknown field `max`"), "{}", e.problem);
}
