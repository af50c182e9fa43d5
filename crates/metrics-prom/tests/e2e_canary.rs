//! A whole canary (10% → 50% → 100% with analysis) run by shipcore's real engine on the
//! simulated platform and a real clock, judged by a real Prometheus scraping demo-service
//! processes: bad v2 is rolled back, and Prometheus or data going away never passes.
//!
//! Runs only with SHIPCORE_E2E=1 (fails loudly if Prometheus is missing); skipped otherwise.
#![allow(clippy::unwrap_used)]

mod canary_support;
mod support;

use canary_support::{
    analysis_results, assert_stable_restored, canary, run, source, stage, steps_started, v1, v2,
    wait_for_samples, web, SELECTOR, WINDOW,
};
use metrics_prom::StandardQueries;
use shipcore::clock::{Clock, SystemClock};
use shipcore::engine::{AnalysisResult, EventKind, MeasureResult, Phase};
use shipcore::metrics::{render_template, MetricQuery};
use shipcore::model::{AnalysisPolicy, InconclusiveAction};
use shipcore::record::{CheckStatus, DeploymentRecord, DeploymentStatus, RecordMeta};
use shipcore::validator::{Outcome, ValidationContext};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_v2_is_rolled_back_by_real_prometheus_and_recorded() {
    if !support::e2e_or_skip("e2e_canary") {
        return;
    }
    let st = stage(true);
    let src = source(&st.prom.url);
    wait_for_samples(src.as_ref(), &[v1(), v2()], 100.0).await;
    eprintln!("v1 {} / v2 {} (bad)", st.v1.addr, st.v2.addr);

    // The same validators, run on stable after the rollback, verify that v1 is healthy.
    let mut spec = canary(AnalysisPolicy::every(Duration::from_secs(2), 3));
    spec.health_validators = vec!["error-rate".into(), "latency-p95".into()];
    let (report, driver) = run(spec, &src, |_| {}).await;

    assert_eq!(
        report.status.phase,
        Phase::RolledBack,
        "{:?}",
        report.status
    );
    assert_stable_restored(&report, &driver);
    let results = analysis_results(&report.events);
    assert_eq!(results.len(), 1, "{results:?}");
    assert_eq!(results[0].0, AnalysisResult::Failed, "{results:?}");
    let started = steps_started(&report.events);
    assert!(started.iter().any(|s| s == "set candidate weight 10%"));
    assert!(!started.iter().any(|s| s == "set candidate weight 50%"));

    let record = DeploymentRecord::from_report(&report, &RecordMeta::new("e2e")).unwrap();
    println!("{}", record.to_json().unwrap());
    assert_eq!(record.status, DeploymentStatus::RolledBack);
    let rollback = record.rollback.as_ref().unwrap();
    assert!(rollback.reason.contains("analysis failed"), "{rollback:?}");
    assert_eq!(rollback.restored_version.as_deref(), Some("1.0.0"));
    assert_eq!(rollback.verification, CheckStatus::Passed, "{rollback:?}");
    let v = &record.validation;
    let err = v.error_rate.unwrap();
    assert!((0.05..0.2).contains(&err), "v2 error rate {err}");
    assert_eq!(v.error_rate_unit.as_deref(), Some("ratio"));
    let p95 = v.latency_p95.unwrap();
    assert!((0.3..=0.5).contains(&p95), "v2 p95 {p95}");
    assert_eq!(v.latency_p95_unit.as_deref(), Some("s"));
    eprintln!("measured on v2 by the real Prometheus: error rate {err:.4}, p95 {p95:.3} s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_stopped_mid_analysis_fails_the_run_and_never_passes() {
    if !support::e2e_or_skip("e2e_canary") {
        return;
    }
    let st = stage(false);
    let src = source(&st.prom.url);
    wait_for_samples(src.as_ref(), &[v1(), v2()], 100.0).await;

    // Control: healthy v2 goes through 10% → 50% → 100% on the same queries.
    let (report, driver) = run(
        canary(AnalysisPolicy::every(Duration::from_secs(2), 2)),
        &src,
        |_| {},
    )
    .await;
    assert_eq!(report.status.phase, Phase::Succeeded, "{:?}", report.status);
    let results = analysis_results(&report.events);
    assert_eq!(results.len(), 2, "{results:?}");
    assert!(
        results.iter().all(|(r, _)| *r == AnalysisResult::Passed),
        "{results:?}"
    );
    let f = driver.fleet(&web());
    assert_eq!(
        (f.revisions.len(), f.weight_of(&v2().id)),
        (1, 100),
        "{f:?}"
    );
    let record = DeploymentRecord::from_report(&report, &RecordMeta::new("e2e")).unwrap();
    assert_eq!(record.status, DeploymentStatus::Success);
    let (err, p95) = (
        record.validation.error_rate.unwrap(),
        record.validation.latency_p95.unwrap(),
    );
    eprintln!("healthy v2: error rate {err}, p95 {p95:.4} s");
    assert!(err < 0.01 && p95 < 0.1, "{:?}", record.validation);

    // Again, but Prometheus is killed after the first (passing) measurement.
    let prom = Arc::new(Mutex::new(st.prom));
    let killer = prom.clone();
    let policy = AnalysisPolicy {
        consecutive_error_limit: 1,
        ..AnalysisPolicy::every(Duration::from_secs(2), 6)
    };
    let (report, driver) = run(canary(policy), &src, move |e| {
        if let EventKind::Measured { number: 1, .. } = e.kind {
            killer.lock().unwrap().stop();
            eprintln!("  -- Prometheus stopped");
        }
    })
    .await;

    let measured: Vec<&[MeasureResult]> = report
        .events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::Measured { results, .. } => Some(&results[..]),
            _ => None,
        })
        .collect();
    assert!(measured[0]
        .iter()
        .all(|r| matches!(r, MeasureResult::Verdict(v) if v.outcome == Outcome::Pass)));
    for r in measured[1..].iter().flat_map(|m| m.iter()) {
        let MeasureResult::Error(e) = r else {
            panic!("a value after Prometheus stopped: {r:?}")
        };
        assert!(e.message.contains("Unavailable"), "{e:?}");
    }
    let results = analysis_results(&report.events);
    assert_eq!(results.len(), 1, "{results:?}");
    assert_eq!(results[0].0, AnalysisResult::Failed, "{results:?}");
    assert!(results[0].1.contains("errors in a row"), "{results:?}");
    assert_eq!(
        report.status.phase,
        Phase::RolledBack,
        "{:?}",
        report.status
    );
    assert_stable_restored(&report, &driver);
    let record = DeploymentRecord::from_report(&report, &RecordMeta::new("e2e")).unwrap();
    let errs: u32 = record.validation.validators.iter().map(|s| s.errors).sum();
    assert!(errs >= 2, "{:?}", record.validation);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_data_is_inconclusive_and_the_policy_pauses_or_rolls_back() {
    if !support::e2e_or_skip("e2e_canary") {
        return;
    }
    let st = stage(false);
    let src = source(&st.prom.url);
    wait_for_samples(src.as_ref(), &[v1(), v2()], 50.0).await;
    // v2's process goes away: once its samples leave the window, queries return no data.
    drop(st.v2);
    let q = StandardQueries::new(SELECTOR).with_window(WINDOW);
    let ctx = ValidationContext::new("w", &web(), &v2(), None, SystemClock.now());
    let expr = render_template(&q.request_rate(), &ctx.vars).unwrap();
    let deadline = Instant::now() + WINDOW * 3;
    while src
        .query(&MetricQuery::instant(&expr))
        .await
        .unwrap()
        .single_value()
        .is_ok()
    {
        assert!(Instant::now() < deadline, "v2's series did not go away");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    for (action, phase) in [
        (InconclusiveAction::Pause, Phase::Paused),
        (InconclusiveAction::Fail, Phase::RolledBack),
    ] {
        let policy = AnalysisPolicy {
            on_inconclusive: action,
            ..AnalysisPolicy::every(Duration::from_secs(2), 3)
        };
        let (report, driver) = run(canary(policy), &src, |_| {}).await;
        let results = analysis_results(&report.events);
        assert_eq!(results.len(), 1, "{results:?}");
        assert_eq!(results[0].0, AnalysisResult::Inconclusive, "{results:?}");
        assert_eq!(
            report.status.phase, phase,
            "{action:?}: {:?}",
            report.status
        );
        let reason = report.status.reason.clone().unwrap_or_default();
        assert!(reason.contains("inconclusive"), "{reason}");
        if phase == Phase::Paused {
            // Waiting for a person at 10%: the candidate still runs, nothing promoted.
            let f = driver.fleet(&web());
            assert_eq!(f.weight_of(&v2().id), 10, "{f:?}");
        } else {
            assert_stable_restored(&report, &driver);
        }
    }
    drop(st.v1);
}

/// Prometheus down for a whole analysis under the default limits (consecutive_error_limit
/// 4, count 3): every measurement is an error, and the run must not pass.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_down_for_a_whole_analysis_never_passes_with_default_limits() {
    if !support::e2e_or_skip("e2e_canary") {
        return;
    }
    let mut st = stage(false);
    let src = source(&st.prom.url);
    wait_for_samples(src.as_ref(), &[v1(), v2()], 50.0).await;
    st.prom.stop();
    let (report, _driver) = run(
        canary(AnalysisPolicy::every(Duration::from_secs(2), 3)),
        &src,
        |_| {},
    )
    .await;
    let results = analysis_results(&report.events);
    assert!(
        !results.iter().any(|(r, _)| *r == AnalysisResult::Passed),
        "an analysis that measured nothing passed: {results:?}"
    );
    assert_ne!(report.status.phase, Phase::Succeeded, "{:?}", report.status);
}
