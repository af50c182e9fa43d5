//! Helpers of tests/e2e_canary.rs: demo processes and Prometheus for a canary, the
//! per-revision validators over PrometheusSource, the canary plan, and a runner made of
//! the real engine, SimDriver and the system clock.
#![allow(clippy::unwrap_used)]

use crate::support::{self, Demo, Load, Prometheus};
use metrics_prom::{PrometheusConfig, PrometheusSource, StandardQueries};
use shipcore::clock::{Clock, SystemClock};
use shipcore::engine::{
    AnalysisResult, AnalysisScope, Event, EventKind, RolloutSpec, RunReport, Runner,
};
use shipcore::journal::MemoryJournal;
use shipcore::metrics::{render_template, MetricQuery, MetricsSource};
use shipcore::model::{AnalysisPolicy, AnalysisStep, Plan, Revision, Role, Step, Target};
use shipcore::testing::{SimConfig, SimDriver};
use shipcore::validator::ThresholdConfig;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// `rate()` window: ten 1 s scrapes.
pub const WINDOW: Duration = Duration::from_secs(10);
/// Sim revisions ↔ demo processes: `revision` is the scrape target's label, `version` the
/// demo's own label (its `--version`); the selector needs both to match.
pub const SELECTOR: &str = r#"service="{{service}}",revision="{{revision}}",version="{{version}}""#;

pub fn web() -> Target {
    Target::new("web", "e2e")
}
pub fn v1() -> Revision {
    Revision::new("web-v1", "1.0.0".parse().unwrap(), "demo-service:1.0.0")
}
pub fn v2() -> Revision {
    Revision::new("web-v2", "2.0.0".parse().unwrap(), "demo-service:2.0.0")
}

/// Good v1 and v2 (`v2_bad`: 10% errors, +300 ms), Prometheus scraping both, bounded load.
pub struct Stage {
    /// Good v1.
    pub v1: Demo,
    /// v2, good or bad.
    pub v2: Demo,
    /// Prometheus scraping both.
    pub prom: Prometheus,
    _load: Load,
}

pub fn stage(v2_bad: bool) -> Stage {
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

pub fn source(url: &str) -> Arc<dyn MetricsSource> {
    let cfg = PrometheusConfig::new(url)
        .timeout(Duration::from_secs(2))
        .retries(1, Duration::from_millis(100), Duration::from_millis(200));
    Arc::new(PrometheusSource::new(cfg).unwrap())
}

/// Waits until the window holds `min` requests of every revision, through the same selector.
pub async fn wait_for_samples(src: &dyn MetricsSource, revs: &[Revision], min: f64) {
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
pub fn validators(src: &Arc<dyn MetricsSource>) -> Vec<Arc<dyn shipcore::validator::Validator>> {
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
pub fn canary(policy: AnalysisPolicy) -> RolloutSpec {
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
pub async fn run(
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

pub fn analysis_results(events: &[Event]) -> Vec<(AnalysisResult, String)> {
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

pub fn steps_started(events: &[Event]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::StepStarted { description, .. } => Some(description.clone()),
            _ => None,
        })
        .collect()
}

pub fn assert_stable_restored(report: &RunReport, driver: &SimDriver) {
    let f = driver.fleet(&web());
    assert_eq!(f.revisions.len(), 1, "{f:?}");
    assert_eq!((f.ready_of(&v1().id), f.weight_of(&v1().id)), (2, 100));
    assert!(report.status.phase.is_settled(), "{:?}", report.status);
}
