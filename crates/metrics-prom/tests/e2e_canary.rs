//! A whole canary (10% → 50% → 100% with analysis) run by shipcore's real engine on the
//! simulated platform and a real clock, judged by a real Prometheus scraping demo-service
//! processes: bad v2 is rolled back, and Prometheus or data going away never passes.
//!
//! Runs only with SHIPCORE_E2E=1 (fails loudly if Prometheus is missing); skipped otherwise.
#![allow(clippy::unwrap_used)]

mod support;

use metrics_prom::{PrometheusConfig, PrometheusSource, StandardQueries};
use shipcore::clock::{Clock, SystemClock};
use shipcore::engine::{
    AnalysisResult, AnalysisScope, Event, EventKind, MeasureResult, Phase, RolloutSpec, RunReport,
    Runner,
};
use shipcore::journal::MemoryJournal;
use shipcore::metrics::{render_template, MetricQuery, MetricsSource};
use shipcore::model::{
    AnalysisPolicy, AnalysisStep, InconclusiveAction, Plan, Revision, Role, Step, Target,
};
use shipcore::record::{DeploymentRecord, DeploymentStatus, RecordMeta};
use shipcore::testing::{SimConfig, SimDriver};
use shipcore::validator::Outcome;
use shipcore::validators::ThresholdConfig;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::{Demo, Load, Prometheus};

/// `rate()` window: ten 1 s scrapes.
const WINDOW: Duration = Duration::from_secs(10);
/// Sim revisions ↔ demo processes: `revision` is the scrape target's label, `version` the
/// demo's own label (its `--version`); the selector needs both to match.
const SELECTOR: &str = r#"service="{{service}}",revision="{{revision}}",version="{{version}}""#;

fn web() -> Target {
    Target::new("web", "e2e")
}
fn v1() -> Revision {
    Revision::new("web-v1", "1.0.0".parse().unwrap(), "demo-service:1.0.0")
}
fn v2() -> Revision {
    Revision::new("web-v2", "2.0.0".parse().unwrap(), "demo-service:2.0.0")
}

/// Good v1 and v2 (`v2_bad`: 10% errors, +300 ms), Prometheus scraping both, bounded load.
struct Stage {
    v1: Demo,
    v2: Demo,
    prom: Prometheus,
    _load: Load,
}

fn stage(v2_bad: bool) -> Stage {
    let _ = support::prometheus_bin();
    let bin = support::demo_bin();
    let d1 = Demo::start(&bin, &["--version", "1.0.0", "--seed", "1"]);
    let mut args = vec!["--version", "2.0.0", "--seed", "2"];
    if v2_bad {
        args.extend(["--error-rate", "0.1", "--latency-ms", "300"]);
    }
    let d2 = Demo::start(&bin, &args);
    let target = |d: &Demo, r: &Revision| support::Target {
        addr: d.addr.clone(),
        revision: r.id.0.clone(),
    };
    let prom = Prometheus::start(&[target(&d1, &v1()), target(&d2, &v2())]);
    let load = Load::start(vec![d1.url(), d2.url()], 20, Duration::from_secs(120));
    Stage {
        v1: d1,
        v2: d2,
        prom,
        _load: load,
    }
}

fn source(url: &str) -> Arc<dyn MetricsSource> {
    let cfg = PrometheusConfig::new(url)
        .timeout(Duration::from_secs(2))
        .retries(1, Duration::from_millis(100), Duration::from_millis(200));
    Arc::new(PrometheusSource::new(cfg).unwrap())
}

/// Waits until the window holds `min` requests of every revision, through the same selector.
async fn wait_for_samples(src: &dyn MetricsSource, revs: &[Revision], min: f64) {
    let q = StandardQueries::new(SELECTOR).with_window(WINDOW);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let mut counts = vec![];
        for r in revs {
            let ctx = shipcore::validator::ValidationContext::new(
                "wait",
                &web(),
                r,
                None,
                SystemClock.now(),
            );
            let expr = render_template(&q.request_count(), &ctx.vars).unwrap();
            let n = src.query(&MetricQuery::instant(expr)).await.unwrap();
            counts.push(n.single_value().unwrap_or(0.0));
        }
        if counts.iter().all(|c| *c >= min) {
            eprintln!("requests per revision in the {WINDOW:?} window: {counts:?}");
            return;
        }
        assert!(
            Instant::now() < deadline,
            "Prometheus did not collect {min} requests per revision in 60 s: {counts:?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Error rate above 5% and p95 above 250 ms fail, through PrometheusSource.
fn validators(src: &Arc<dyn MetricsSource>) -> Vec<Arc<dyn shipcore::validator::Validator>> {
    let q = StandardQueries::new(SELECTOR).with_window(WINDOW);
    q.check().unwrap();
    let mut errors = ThresholdConfig::above("error-rate", q.error_rate(), 0.05);
    errors.warning = Some(0.01);
    errors.unit = "ratio".into();
    let mut p95 = ThresholdConfig::above("latency-p95", q.latency_p95(), 0.25);
    p95.unit = "s".into();
    vec![
        Arc::new(errors.build(src.clone()).unwrap()),
        Arc::new(p95.build(src.clone()).unwrap()),
    ]
}

/// 10% → 50% → 100%, each share judged by `policy` before going on.
fn canary(policy: AnalysisPolicy) -> RolloutSpec {
    let analysis = || {
        Step::Analysis(AnalysisStep {
            validators: vec!["error-rate".into(), "latency-p95".into()],
            policy: policy.clone(),
        })
    };
    let steps = vec![
        Step::Scale {
            role: Role::Candidate,
            replicas: 1,
        },
        Step::SetWeight { percent: 10 },
        analysis(),
        Step::Scale {
            role: Role::Candidate,
            replicas: 2,
        },
        Step::SetWeight { percent: 50 },
        analysis(),
        Step::Promote,
        Step::Retire {
            role: Role::Stable,
            after: Duration::ZERO,
        },
    ];
    let plan = Plan {
        strategy: "canary".into(),
        replicas: 2,
        steps,
    };
    let mut spec = RolloutSpec::new("e2e-canary", web(), Some(v1()), v2(), plan);
    spec.poll_interval = Duration::from_millis(250);
    spec.progress_deadline = Duration::from_secs(30);
    spec
}

/// Runs `spec` with the real engine on SimDriver (half-second boots) and the system clock.
async fn run(
    spec: RolloutSpec,
    src: &Arc<dyn MetricsSource>,
    on_event: impl Fn(&Event) + Send + Sync + 'static,
) -> (RunReport, SimDriver) {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let cfg = SimConfig {
        boot_time: Duration::from_millis(500),
        ..SimConfig::seeded(7)
    };
    let driver = SimDriver::with_config(clock.clone(), cfg).unwrap();
    driver.seed_stable(&web(), &v1(), 2);
    let mut b = Runner::builder(
        Arc::new(driver.clone()),
        clock,
        Arc::new(MemoryJournal::new()),
    )
    .on_event(move |e| {
        eprintln!("  event: {}", serde_json::to_string(&e.kind).unwrap());
        on_event(e);
    });
    for v in validators(src) {
        b = b.validator(v);
    }
    let t = Instant::now();
    let report = b.build().start(spec).await.unwrap();
    eprintln!(
        "rollout settled as {} in {:?}",
        report.status.phase,
        t.elapsed()
    );
    (report, driver)
}

fn analysis_results(events: &[Event]) -> Vec<(AnalysisResult, String)> {
    events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::AnalysisCompleted {
                scope: AnalysisScope::Step { .. },
                result,
                message,
            } => Some((*result, message.clone())),
            _ => None,
        })
        .collect()
}

fn steps_started(events: &[Event]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::StepStarted { description, .. } => Some(description.clone()),
            _ => None,
        })
        .collect()
}

fn assert_stable_restored(report: &RunReport, driver: &SimDriver) {
    let f = driver.fleet(&web());
    assert_eq!(f.revisions.len(), 1, "{f:?}");
    assert_eq!((f.ready_of(&v1().id), f.weight_of(&v1().id)), (2, 100));
    assert!(report.status.phase.is_settled(), "{:?}", report.status);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_v2_is_rolled_back_by_real_prometheus_and_recorded() {
    if !support::e2e_or_skip("e2e_canary") {
        return;
    }
    let st = stage(true);
    let src = source(&st.prom.url);
    wait_for_samples(src.as_ref(), &[v1(), v2()], 100.0).await;
    eprintln!("v1 {} / v2 {} (bad)", st.v1.addr, st.v2.addr);

    let policy = AnalysisPolicy::every(Duration::from_secs(2), 3);
    let (report, driver) = run(canary(policy), &src, |_| {}).await;

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

    let measured: Vec<&Vec<MeasureResult>> = report
        .events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::Measured { results, .. } => Some(results),
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
    let ctx =
        shipcore::validator::ValidationContext::new("w", &web(), &v2(), None, SystemClock.now());
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
#[ignore = "engine bug: AnalysisRun passes by count when every measurement errored below \
            consecutive_error_limit (crates/shipcore/src/engine/analysis.rs); run with \
            --ignored once fixed"]
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
