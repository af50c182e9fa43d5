//! Statistical judge: Kayenta's Mann–Whitney classifier (and the earlier p-value rule) per
//! metric, directions, critical metrics, weighted score with pass/marginal thresholds, minimum
//! samples, range queries; verdicts of both rules against the reference file written by
//! `scripts/reference/mann_whitney_reference.py`.

#![allow(clippy::unwrap_used)]

mod validators_support;

use shipcore::validator::{JudgeConfig, JudgeRule, MetricClass, ValidatorConfig, ValidatorDeps};
use shipcore::validator::{Outcome, Validator};
use std::sync::Arc;
use std::time::Duration;
use validators_support::*;

/// `n` values spread evenly-ish around `center` by ±`spread` (deterministic noise).
fn noisy(center: f64, spread: f64, n: usize, seed: u64) -> Vec<f64> {
    let mut s = seed;
    (0..n)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let u = (s >> 11) as f64 / (1u64 << 53) as f64; // [0, 1)
            center + spread * (2.0 * u - 1.0)
        })
        .collect()
}

fn build(src: &Arc<Scripted>, json: &str) -> Arc<dyn Validator> {
    ValidatorConfig::from_json(json)
        .unwrap()
        .build(&ValidatorDeps::with_metrics(src.clone()))
        .unwrap()
}

fn push(src: &Scripted, metric: &str, cand: &[f64], stable: &[f64]) {
    src.push(&format!("{metric}{{revision=\"v2\"}}"), Ok(matrix(cand)));
    src.push(&format!("{metric}{{revision=\"v1\"}}"), Ok(matrix(stable)));
}

const TWO: &str = r#"{"type": "judge", "name": "judge", "window": "10m", "step": "30s",
  "metrics": [
    {"name": "errors", "query": "errors{revision=\"{{revision}}\"}", "weight": 3},
    {"name": "latency", "query": "latency{revision=\"{{revision}}\"}"}
  ]}"#;

#[tokio::test]
async fn same_distributions_pass_with_full_score_and_range_queries_end_at_now() {
    let src = Arc::new(Scripted::new());
    let v = build(&src, TWO);
    push(
        &src,
        "errors",
        &noisy(0.01, 0.002, 20, 1),
        &noisy(0.01, 0.002, 20, 2),
    );
    push(
        &src,
        "latency",
        &noisy(0.2, 0.02, 20, 3),
        &noisy(0.2, 0.02, 20, 4),
    );
    let r = v.validate(&ctx(1_000_000)).await.unwrap();
    assert_eq!(r.outcome, Outcome::Pass, "{}", r.message);
    let score = r.measurements.iter().find(|m| m.name == "score").unwrap();
    assert_eq!((score.value, score.threshold), (100.0, Some(95.0)));
    assert!(r
        .measurements
        .iter()
        .any(|m| m.name == "latency.p_value" && m.threshold.unwrap() > 0.019));
    for q in src.seen() {
        let range = q.range.unwrap();
        assert_eq!((range.start.0, range.end.0), (400_000, 1_000_000));
        assert_eq!(range.step, Duration::from_secs(30));
    }
}

#[tokio::test]
async fn a_large_significant_increase_lowers_the_score() {
    let src = Arc::new(Scripted::new());
    let v = build(&src, TWO);
    // Latency +50%: bad; errors fine. Score = 3 / 4 = 75 -> marginal, inconclusive.
    push(
        &src,
        "errors",
        &noisy(0.01, 0.002, 20, 1),
        &noisy(0.01, 0.002, 20, 2),
    );
    push(
        &src,
        "latency",
        &noisy(0.3, 0.02, 20, 3),
        &noisy(0.2, 0.02, 20, 4),
    );
    let r = v.validate(&ctx(1_000_000)).await.unwrap();
    assert_eq!(r.outcome, Outcome::Inconclusive, "{}", r.message);
    assert!(
        r.message.starts_with("marginal: score 75 below pass 95"),
        "{}",
        r.message
    );
    assert!(r.message.contains("latency HIGH (+5"), "{}", r.message);
    // Kayenta reports the mean ratio; the interval of the shift clears 25 % of the estimate.
    let get = |name: &str| r.measurements.iter().find(|m| m.name == name).unwrap();
    let ratio = get("latency.ratio");
    assert!(ratio.value > 1.4 && ratio.value < 1.6, "{}", ratio.value);
    let (low, shift) = (get("latency.ci_low"), get("latency.shift"));
    assert!(low.value > low.threshold.unwrap(), "{low:?}");
    assert_eq!(low.threshold, Some(0.25 * shift.value.abs()));
    // Errors bad too -> score 0 -> fail.
    push(
        &src,
        "errors",
        &noisy(0.05, 0.002, 20, 1),
        &noisy(0.01, 0.002, 20, 2),
    );
    push(
        &src,
        "latency",
        &noisy(0.3, 0.02, 20, 3),
        &noisy(0.2, 0.02, 20, 4),
    );
    let r = v.validate(&ctx(1_000_000)).await.unwrap();
    assert_eq!(r.outcome, Outcome::Fail, "{}", r.message);
    assert!(
        r.message.starts_with("score 0 below marginal 75"),
        "{}",
        r.message
    );
}

const TWO_OLD_RULE: &str = r#"{"type": "judge", "name": "judge", "window": "10m", "step": "30s",
  "rule": "significant_shift",
  "metrics": [
    {"name": "errors", "query": "errors{revision=\"{{revision}}\"}", "weight": 3},
    {"name": "latency", "query": "latency{revision=\"{{revision}}\"}"}
  ]}"#;

/// +10 % latency, clearly significant with this little noise.
fn push_tight_ten_percent(src: &Scripted) {
    push(
        src,
        "errors",
        &noisy(0.01, 0.002, 20, 1),
        &noisy(0.01, 0.002, 20, 2),
    );
    push(
        src,
        "latency",
        &noisy(0.22, 0.002, 20, 3),
        &noisy(0.2, 0.002, 20, 4),
    );
}

#[tokio::test]
async fn a_significant_but_small_change_is_tolerated_by_the_significant_shift_rule() {
    // The earlier rule: the shift is under 25 % of the stable median, so it passes.
    let src = Arc::new(Scripted::new());
    let v = build(&src, TWO_OLD_RULE);
    push_tight_ten_percent(&src);
    let r = v.validate(&ctx(1_000_000)).await.unwrap();
    assert_eq!(r.outcome, Outcome::Pass, "{}", r.message);
    let p = r
        .measurements
        .iter()
        .find(|m| m.name == "latency.p_value")
        .unwrap();
    assert!(p.value < 1e-6, "{}", p.value);
    assert!(r.measurements.iter().any(|m| m.name == "latency.effect"));
}

#[tokio::test]
async fn a_tight_small_change_is_high_for_kayenta() {
    // Kayenta's tolerance is relative to the estimate: the interval of a tight +10 % shift
    // lies far above 25 % of the shift, so latency is HIGH and the score drops to 75.
    // (The earlier rule, the old default, passed it.)
    let src = Arc::new(Scripted::new());
    let v = build(&src, TWO);
    push_tight_ten_percent(&src);
    let r = v.validate(&ctx(1_000_000)).await.unwrap();
    assert_eq!(r.outcome, Outcome::Inconclusive, "{}", r.message);
    assert!(r.message.contains("latency HIGH (+10."), "{}", r.message);
}

#[tokio::test]
async fn a_failing_critical_metric_fails_whatever_the_score() {
    let src = Arc::new(Scripted::new());
    let v = build(
        &src,
        r#"{"type": "judge", "name": "judge", "window": "10m", "thresholds": {"pass": 90, "marginal": 50},
          "metrics": [
            {"name": "errors", "query": "errors{revision=\"{{revision}}\"}", "critical": true},
            {"name": "latency", "query": "latency{revision=\"{{revision}}\"}", "weight": 20}
          ]}"#,
    );
    push(
        &src,
        "errors",
        &noisy(0.05, 0.002, 20, 1),
        &noisy(0.01, 0.002, 20, 2),
    );
    push(
        &src,
        "latency",
        &noisy(0.2, 0.02, 20, 3),
        &noisy(0.2, 0.02, 20, 4),
    );
    let r = v.validate(&ctx(1_000_000)).await.unwrap();
    assert_eq!(r.outcome, Outcome::Fail, "{}", r.message);
    assert!(
        r.message.starts_with("critical metric failed: errors"),
        "{}",
        r.message
    );
    let score = r.measurements.iter().find(|m| m.name == "score").unwrap();
    assert!(score.value > 95.0);
}

#[tokio::test]
async fn directions_decide_which_change_is_bad() {
    let src = Arc::new(Scripted::new());
    let v = build(
        &src,
        r#"{"type": "judge", "name": "judge", "window": "5m",
          "metrics": [
            {"name": "rps", "query": "rps{revision=\"{{revision}}\"}", "direction": "decrease"},
            {"name": "cpu", "query": "cpu{revision=\"{{revision}}\"}", "direction": "either"}
          ]}"#,
    );
    // rps up (allowed), cpu steady: pass.
    push(
        &src,
        "rps",
        &noisy(150.0, 5.0, 15, 1),
        &noisy(100.0, 5.0, 15, 2),
    );
    push(
        &src,
        "cpu",
        &noisy(0.5, 0.05, 15, 3),
        &noisy(0.5, 0.05, 15, 4),
    );
    let r = v.validate(&ctx(1_000_000)).await.unwrap();
    assert_eq!(r.outcome, Outcome::Pass, "{}", r.message);
    assert!(r.message.contains("rps higher (allowed)"), "{}", r.message);
    // rps down: bad; cpu down a lot: bad under "either".
    push(
        &src,
        "rps",
        &noisy(50.0, 5.0, 15, 1),
        &noisy(100.0, 5.0, 15, 2),
    );
    push(
        &src,
        "cpu",
        &noisy(0.2, 0.05, 15, 3),
        &noisy(0.5, 0.05, 15, 4),
    );
    let r = v.validate(&ctx(1_000_000)).await.unwrap();
    assert_eq!(r.outcome, Outcome::Fail, "{}", r.message);
    assert!(
        r.message.contains("rps LOW") && r.message.contains("cpu LOW"),
        "{}",
        r.message
    );
}

#[tokio::test]
async fn too_few_samples_and_missing_data_are_never_a_pass() {
    let src = Arc::new(Scripted::new());
    let v = build(&src, TWO);
    // Every metric short of samples: inconclusive, and the verdict says why.
    push(
        &src,
        "errors",
        &noisy(0.05, 0.002, 5, 1),
        &noisy(0.01, 0.002, 20, 2),
    );
    src.push(r#"latency{revision="v2"}"#, Ok(empty()));
    src.push(
        r#"latency{revision="v1"}"#,
        Ok(matrix(&noisy(0.2, 0.02, 20, 4))),
    );
    let r = v.validate(&ctx(1_000_000)).await.unwrap();
    assert_eq!(r.outcome, Outcome::Inconclusive, "{}", r.message);
    assert!(r.message.contains("no metric has data"), "{}", r.message);
    assert!(
        r.message.contains("candidate: 5 samples, need 10"),
        "{}",
        r.message
    );
    assert!(
        r.message.contains("candidate: the query returned no data"),
        "{}",
        r.message
    );
    // All-NaN samples: no data too.
    push(&src, "errors", &[f64::NAN; 20], &noisy(0.01, 0.002, 20, 2));
    push(
        &src,
        "latency",
        &noisy(0.2, 0.02, 20, 3),
        &noisy(0.2, 0.02, 20, 4),
    );
    let r = v.validate(&ctx(1_000_000)).await.unwrap();
    // errors left out of the score; latency alone passes.
    assert_eq!(r.outcome, Outcome::Pass, "{}", r.message);
    assert!(
        r.message
            .contains("errors no data (candidate: the query returned NaN)"),
        "{}",
        r.message
    );
}

#[tokio::test]
async fn critical_or_must_have_data_metrics_without_data() {
    let src = Arc::new(Scripted::new());
    let v = build(
        &src,
        r#"{"type": "judge", "name": "judge", "window": "10m",
          "metrics": [
            {"name": "errors", "query": "errors{revision=\"{{revision}}\"}", "critical": true},
            {"name": "latency", "query": "latency{revision=\"{{revision}}\"}"}
          ]}"#,
    );
    push(&src, "errors", &[], &noisy(0.01, 0.002, 20, 2));
    push(
        &src,
        "latency",
        &noisy(0.2, 0.02, 20, 3),
        &noisy(0.2, 0.02, 20, 4),
    );
    let r = v.validate(&ctx(1_000_000)).await.unwrap();
    assert_eq!(r.outcome, Outcome::Inconclusive, "{}", r.message);
    assert!(
        r.message
            .starts_with("critical metric without data: errors"),
        "{}",
        r.message
    );

    let v = build(
        &src,
        r#"{"type": "judge", "name": "judge", "window": "10m",
          "metrics": [
            {"name": "errors", "query": "errors{revision=\"{{revision}}\"}", "must_have_data": true},
            {"name": "latency", "query": "latency{revision=\"{{revision}}\"}"}
          ]}"#,
    );
    push(&src, "errors", &[], &noisy(0.01, 0.002, 20, 2));
    push(
        &src,
        "latency",
        &noisy(0.2, 0.02, 20, 3),
        &noisy(0.2, 0.02, 20, 4),
    );
    let r = v.validate(&ctx(1_000_000)).await.unwrap();
    assert_eq!(r.outcome, Outcome::Fail, "{}", r.message);
    assert!(
        r.message.starts_with("score 50 below marginal 75"),
        "{}",
        r.message
    );
}

#[tokio::test]
async fn zero_baseline_makes_any_significant_rise_large() {
    let src = Arc::new(Scripted::new());
    let v = build(
        &src,
        r#"{"type": "judge", "name": "judge", "window": "10m",
          "metrics": [{"name": "errors", "query": "errors{revision=\"{{revision}}\"}"}]}"#,
    );
    push(&src, "errors", &noisy(0.02, 0.005, 20, 1), &[0.0; 20]);
    let r = v.validate(&ctx(1_000_000)).await.unwrap();
    assert_eq!(r.outcome, Outcome::Fail, "{}", r.message);
    // Kayenta: the mean ratio is undefined (ignored), the interval is above zero.
    assert!(
        r.message.contains("errors HIGH (mean 0 on a side"),
        "{}",
        r.message
    );
    assert!(r.measurements.iter().all(|m| !m.value.is_nan()));
    // The earlier rule: any shift from a zero median is infinitely large.
    let old = build(
        &src,
        r#"{"type": "judge", "name": "judge", "window": "10m", "rule": "significant_shift",
          "metrics": [{"name": "errors", "query": "errors{revision=\"{{revision}}\"}"}]}"#,
    );
    push(&src, "errors", &noisy(0.02, 0.005, 20, 1), &[0.0; 20]);
    let r = old.validate(&ctx(1_000_000)).await.unwrap();
    assert_eq!(r.outcome, Outcome::Fail, "{}", r.message);
    assert!(r.message.contains("from a zero median"), "{}", r.message);
    // Identical all-zero samples: nothing to see, pass.
    push(&src, "errors", &[0.0; 20], &[0.0; 20]);
    assert_eq!(
        v.validate(&ctx(1_000_000)).await.unwrap().outcome,
        Outcome::Pass
    );
}

#[tokio::test]
async fn no_stable_revision_is_inconclusive() {
    let src = Arc::new(Scripted::new());
    let v = build(&src, TWO);
    let r = v.validate(&ctx_at(0, false)).await.unwrap();
    assert_eq!(r.outcome, Outcome::Inconclusive);
    assert!(src.seen().is_empty());
}

#[test]
fn defaults_and_bad_config() {
    let c: JudgeConfig = serde_json::from_str(
        r#"{"name": "j", "window": "10m", "metrics": [{"name": "m", "query": "q"}]}"#,
    )
    .unwrap();
    assert_eq!((c.confidence, c.tolerance, c.min_samples), (0.98, 0.25, 10));
    assert_eq!(c.rule, JudgeRule::Kayenta);
    assert_eq!((c.thresholds.pass, c.thresholds.marginal), (95.0, 75.0));
    let field = |patch: &str| {
        let json = format!(
            r#"{{"name": "j", "window": "10m", "metrics": [{{"name": "m", "query": "q"}}, {{"name": "n", "query": "q"}}]{patch}}}"#
        );
        serde_json::from_str::<JudgeConfig>(&json)
            .unwrap()
            .check()
            .unwrap_err()
            .0
            .field
    };
    assert_eq!(field(r#", "confidence": 1.0"#), "confidence");
    assert_eq!(field(r#", "tolerance": -0.1"#), "tolerance");
    assert_eq!(field(r#", "min_samples": 2"#), "min_samples");
    assert_eq!(field(r#", "step": "11m""#), "step");
    assert_eq!(
        field(r#", "thresholds": {"pass": 70}"#),
        "thresholds.marginal"
    );
    assert_eq!(field(r#", "thresholds": {"pass": 170}"#), "thresholds.pass");
    let bad_metric = serde_json::from_str::<JudgeConfig>(
        r#"{"name": "j", "window": "10m", "metrics": [{"name": "m", "query": "q"}, {"name": "m", "query": "q", "weight": 0}]}"#,
    )
    .unwrap();
    assert_eq!(bad_metric.check().unwrap_err().field, "metrics[1].name");
    let e = ValidatorConfig::from_json(
        r#"{"type": "judge", "name": "j", "window": "10m", "metrics": [{"name": "m", "query": "q", "dir": "up"}]}"#,
    )
    .unwrap_err();
    assert!(e.problem.contains("unknown field `dir`"), "{}", e.problem);
    let e = ValidatorConfig::from_json(
        r#"{"type": "judge", "name": "j", "window": "10m", "rule": "t_test", "metrics": [{"name": "m", "query": "q"}]}"#,
    )
    .unwrap_err();
    assert!(
        e.problem.contains("unknown variant `t_test`"),
        "{}",
        e.problem
    );
}

fn class(s: &str) -> MetricClass {
    match s {
        "high" => MetricClass::High,
        "low" => MetricClass::Low,
        "pass" => MetricClass::Pass,
        other => panic!("unknown class {other}"),
    }
}

#[test]
fn both_rules_match_the_reference_verdicts() {
    // 307 seeded sample pairs (normal, log-normal, rounded with ties, outliers; 3 to 60
    // values a side) plus edge cases; verdicts computed by the reference script from R's
    // algorithm and SciPy, not from this crate.
    let reference: serde_json::Value =
        serde_json::from_str(include_str!("data/mann_whitney_reference.json")).unwrap();
    let floats = |v: &serde_json::Value| -> Vec<f64> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap())
            .collect()
    };
    let (mut cases, mut disagree) = (0, 0);
    for c in reference["judge"].as_array().unwrap() {
        let name = c["name"].as_str().unwrap();
        let (cand, stable) = (floats(&c["candidate"]), floats(&c["stable"]));
        let k = JudgeRule::Kayenta
            .compare(&cand, &stable, 0.98, 0.25)
            .unwrap();
        let s = JudgeRule::SignificantShift
            .compare(&cand, &stable, 0.98, 0.25)
            .unwrap();
        assert_eq!(k.class, class(c["kayenta"].as_str().unwrap()), "{name}");
        // R's own roots (uniroot, tol 1e-4) give the same verdicts on every case.
        assert_eq!(
            k.class,
            class(c["kayenta_with_r_roots"].as_str().unwrap()),
            "{name}"
        );
        // Kayenta's Scala port (normal approximation always) decides the same.
        assert_eq!(
            k.class,
            class(c["kayenta_normal"].as_str().unwrap()),
            "{name}"
        );
        assert_eq!(
            s.class,
            class(c["significant_shift"].as_str().unwrap()),
            "{name}"
        );
        cases += 1;
        disagree += usize::from(k.class != s.class);
    }
    assert_eq!((cases, disagree), (307, 101));
}

#[test]
fn a_tight_four_percent_shift_is_high_for_kayenta_only() {
    // Issue 10 item 7: a tight 4 % rise, p ~ 1e-5 (exact, 10 vs 10).
    let stable = [
        100.0, 100.5, 99.6, 100.2, 99.9, 100.7, 99.4, 100.1, 99.8, 100.3,
    ];
    let canary: Vec<f64> = stable.iter().map(|v| v * 1.04 + 0.013).collect();
    let k = JudgeRule::Kayenta
        .compare(&canary, &stable, 0.98, 0.25)
        .unwrap();
    assert_eq!(k.class, MetricClass::High);
    let ci = k.interval.unwrap();
    // Reference (R's exact interval): [3.513, 4.517], estimate 4.015.
    assert!(
        (ci.low - 3.513).abs() < 1e-9 && (ci.high - 4.517).abs() < 1e-9,
        "{ci:?}"
    );
    assert!((ci.estimate - 4.015).abs() < 1e-9);
    let s = JudgeRule::SignificantShift
        .compare(&canary, &stable, 0.98, 0.25)
        .unwrap();
    assert_eq!(s.class, MetricClass::Pass);
    assert!(s.p_value < 1e-4);
}
