//! End to end with real parts: demo-service processes (good v1, good v2, bad v2 with 10%
//! errors and +300 ms), a real Prometheus scraping them every second, bounded load on
//! loopback, and shipcore's MetricThreshold and BaselineValidator judging through
//! PrometheusSource with the ready-made queries. Then Prometheus is killed mid-analysis and
//! the source must answer Unavailable, never a value (what the engine then does with an
//! analysis is tested in tests/e2e_canary.rs).
//!
//! Runs only with SHIPCORE_E2E=1 (fails loudly if Prometheus is missing); skipped otherwise.
#![allow(clippy::unwrap_used)]

mod support;

use metrics_prom::{PrometheusConfig, PrometheusSource, StandardQueries};
use shipcore::metrics::{MetricQuery, MetricsErrorKind, MetricsSource};
use shipcore::model::{Revision, Target};
use shipcore::time::Timestamp;
use shipcore::validator::{BaselineConfig, BaselineRule, SampleSize, ThresholdConfig};
use shipcore::validator::{Outcome, ValidationContext, Validator, Verdict};
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::{Demo, Load, Prometheus};

fn revision(id: &str, version: &str) -> Revision {
    Revision::new(
        id,
        version.parse().unwrap(),
        format!("demo-service:{version}"),
    )
}

fn ctx(candidate: &Revision, stable: &Revision) -> ValidationContext {
    ValidationContext::new(
        "e2e-1",
        &Target::new("web", "e2e"),
        candidate,
        Some(stable),
        Timestamp::now_utc(),
    )
}

fn show(label: &str, v: &Verdict) {
    eprintln!("{label}: {:?} — {}", v.outcome, v.message);
    for m in &v.measurements {
        eprintln!(
            "    {} = {} (limit {:?}) {}",
            m.name, m.value, m.threshold, m.unit
        );
    }
}

/// Waits until Prometheus has at least `min` requests in the window for every revision.
async fn wait_for_samples(src: &PrometheusSource, q: &StandardQueries, revs: &[&str], min: f64) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let mut counts = vec![];
        for r in revs {
            let vars = [("revision".to_string(), r.to_string())].into();
            let expr = shipcore::metrics::render_template(&q.request_count(), &vars).unwrap();
            let v = src
                .query(&MetricQuery::instant(expr))
                .await
                .unwrap()
                .single_value()
                .unwrap_or(0.0);
            counts.push(v);
        }
        if counts.iter().all(|c| *c >= min) {
            eprintln!("samples per revision in the window: {counts:?}");
            return;
        }
        assert!(
            Instant::now() < deadline,
            "Prometheus did not collect {min} requests per revision in 60 s: {counts:?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_prometheus_judges_good_and_bad_revisions() {
    if !support::e2e_or_skip("e2e_prometheus") {
        return;
    }
    let _ = support::prometheus_bin();
    let bin = support::demo_bin();
    let v1 = Demo::start(&bin, &["--version", "1.0.0"]);
    let v2_good = Demo::start(&bin, &["--version", "2.0.0", "--seed", "2"]);
    let v2_bad = Demo::start(
        &bin,
        &[
            "--version",
            "2.0.1",
            "--error-rate",
            "0.1",
            "--latency-ms",
            "300",
            "--seed",
            "3",
        ],
    );
    let mut prom = Prometheus::start(&[
        support::Target {
            addr: v1.addr.clone(),
            revision: "web-v1".into(),
        },
        support::Target {
            addr: v2_good.addr.clone(),
            revision: "web-v2-good".into(),
        },
        support::Target {
            addr: v2_bad.addr.clone(),
            revision: "web-v2-bad".into(),
        },
    ]);
    let _load = Load::start(
        vec![v1.url(), v2_good.url(), v2_bad.url()],
        20,
        Duration::from_secs(90),
    );

    let src = PrometheusSource::new(
        PrometheusConfig::new(&prom.url)
            .timeout(Duration::from_secs(3))
            .retries(2, Duration::from_millis(100), Duration::from_millis(300)),
    )
    .unwrap();
    let q = StandardQueries::new(r#"service="{{service}}",revision="{{revision}}""#)
        .with_window(Duration::from_secs(30));
    q.check().unwrap();
    wait_for_samples(
        &src,
        &StandardQueries::default().with_window(Duration::from_secs(30)),
        &["web-v1", "web-v2-good", "web-v2-bad"],
        200.0,
    )
    .await;

    // Every target is scraped and its /metrics parsed.
    let up = src
        .query(&MetricQuery::instant("sum(up{job=\"demo\"})"))
        .await
        .unwrap();
    assert_eq!(up.single_value(), Ok(3.0));

    let source: Arc<dyn MetricsSource> = Arc::new(src.clone());
    let (r_v1, r_v2_good, r_v2_bad) = (
        revision("web-v1", "1.0.0"),
        revision("web-v2-good", "2.0.0"),
        revision("web-v2-bad", "2.0.1"),
    );

    // Threshold: error rate above 5% fails; p95 above 250 ms fails.
    let mut errors = ThresholdConfig::above("error-rate", q.error_rate(), 0.05);
    errors.warning = Some(0.01);
    errors.unit = "ratio".into();
    let errors = errors.build(source.clone()).unwrap();
    let mut p95 = ThresholdConfig::above("latency-p95", q.latency_p95(), 0.25);
    p95.unit = "s".into();
    let p95 = p95.build(source.clone()).unwrap();

    let v1_err = errors.validate(&ctx(&r_v1, &r_v1)).await.unwrap();
    let v1_p95 = p95.validate(&ctx(&r_v1, &r_v1)).await.unwrap();
    let bad_err = errors.validate(&ctx(&r_v2_bad, &r_v1)).await.unwrap();
    let bad_p95 = p95.validate(&ctx(&r_v2_bad, &r_v1)).await.unwrap();
    for (l, v) in [
        ("v1 error-rate", &v1_err),
        ("v1 p95", &v1_p95),
        ("v2-bad error-rate", &bad_err),
        ("v2-bad p95", &bad_p95),
    ] {
        show(l, v);
    }
    assert_eq!(v1_err.outcome, Outcome::Pass);
    assert_eq!(v1_err.measurements[0].value, 0.0);
    assert_eq!(v1_p95.outcome, Outcome::Pass);
    assert!(v1_p95.measurements[0].value < 0.05, "{v1_p95:?}");
    assert_eq!(bad_err.outcome, Outcome::Fail);
    let bad_rate = bad_err.measurements[0].value;
    assert!(
        (0.05..0.2).contains(&bad_rate),
        "v2-bad error rate {bad_rate}"
    );
    assert_eq!(bad_p95.outcome, Outcome::Fail);
    let bad_latency = bad_p95.measurements[0].value;
    assert!(
        (0.25..=0.5).contains(&bad_latency),
        "v2-bad p95 {bad_latency}"
    );

    // Baseline: candidate vs stable web-v1 on the same templates.
    let baseline = BaselineConfig {
        name: "canary-vs-stable".into(),
        rules: vec![
            BaselineRule::at_most("error_rate", q.error_rate(), 1.0, 0.01),
            BaselineRule::at_most("latency_p95", q.latency_p95(), 1.1, 0.05),
        ],
        sample_size: Some(SampleSize {
            query: q.request_count(),
            min: 100.0,
        }),
    }
    .build(source.clone())
    .unwrap();
    let good_vs = baseline.validate(&ctx(&r_v2_good, &r_v1)).await.unwrap();
    let bad_vs = baseline.validate(&ctx(&r_v2_bad, &r_v1)).await.unwrap();
    show("baseline v2-good vs v1", &good_vs);
    show("baseline v2-bad vs v1", &bad_vs);
    assert_eq!(good_vs.outcome, Outcome::Pass, "{good_vs:?}");
    assert_eq!(bad_vs.outcome, Outcome::Fail, "{bad_vs:?}");
    let failed: Vec<&str> = bad_vs
        .measurements
        .iter()
        .filter(|m| m.threshold.is_some_and(|t| m.value > t))
        .map(|m| m.name.as_str())
        .collect();
    assert!(
        failed.contains(&"error_rate") && failed.contains(&"latency_p95"),
        "{bad_vs:?}"
    );

    // The demo's own `version` label selects the same series as the `revision` target label.
    let by_version =
        StandardQueries::new(r#"version="{{version}}""#).with_window(Duration::from_secs(30));
    let mut by_version_cfg =
        ThresholdConfig::above("error-rate-by-version", by_version.error_rate(), 0.05);
    by_version_cfg.unit = "ratio".into();
    let v = by_version_cfg
        .build(source.clone())
        .unwrap()
        .validate(&ctx(&r_v2_bad, &r_v1))
        .await
        .unwrap();
    show("v2-bad error-rate by version label", &v);
    assert_eq!(v.outcome, Outcome::Fail);

    // A revision nobody serves: no data, which is inconclusive, never a pass.
    let ghost = revision("web-v9", "9.0.0");
    let none = errors.validate(&ctx(&ghost, &r_v1)).await.unwrap();
    show("unknown revision", &none);
    assert_eq!(none.outcome, Outcome::Inconclusive);

    // Range query over the last 10 s: a matrix with one series per revision.
    let now = Timestamp::now_utc();
    let range = MetricQuery {
        expr: "sum by (revision) (rate(http_requests_total[5s]))".into(),
        at: None,
        range: Some(shipcore::metrics::QueryRange {
            start: Timestamp(now.0 - 10_000),
            end: now,
            step: Duration::from_secs(1),
        }),
    };
    match src.query(&range).await.unwrap() {
        shipcore::metrics::QueryResult::Matrix(series) => {
            assert_eq!(series.len(), 3, "{series:?}");
            assert!(series.iter().all(|s| s.samples.len() >= 5), "{series:?}");
        }
        other => panic!("expected a matrix, got {other:?}"),
    }

    // A PromQL error from the real server.
    let e = src
        .query(&MetricQuery::instant("sum(rate(http_requests_total[1m])"))
        .await
        .unwrap_err();
    eprintln!("bad PromQL: {e}");
    assert_eq!(e.kind, MetricsErrorKind::BadQuery);
    assert!(e.message.contains("bad_data"), "{e}");

    // Prometheus stops mid-analysis: Unavailable, never a value.
    prom.stop();
    let t = Instant::now();
    let e = src
        .query(&MetricQuery::instant(
            q.error_rate()
                .replace("{{service}}", "web")
                .replace("{{revision}}", "web-v2-bad"),
        ))
        .await
        .unwrap_err();
    eprintln!("after stop ({:?}): {e}", t.elapsed());
    assert_eq!(e.kind, MetricsErrorKind::Unavailable);
    let verr = errors.validate(&ctx(&r_v2_bad, &r_v1)).await.unwrap_err();
    assert!(verr.message.contains("Unavailable"), "{verr}");
}
