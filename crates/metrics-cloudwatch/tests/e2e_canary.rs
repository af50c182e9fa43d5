//! A whole shipcore canary (10% → 50% → 100%, analysis at each share) run by the real
//! engine on the simulated platform (shipcore::testing SimDriver, system clock), judged by
//! CloudWatch on a real moto: the test plays the ALB and puts each revision's per-minute
//! target-group metrics (moto runs nothing itself), and the analysis reads them through
//! CloudWatchSource with the standard ALB templates rendered per revision.
//!
//! A bad candidate (20% 5xx) is rolled back; a good one is promoted; a candidate without
//! data is inconclusive, never passed. Skipped when moto is missing unless SHIPCORE_E2E=1.
#![allow(clippy::unwrap_used)]

#[path = "support/moto.rs"]
mod moto;

mod cw;

use cw::{minutes, put_alb, source, tg, LB};
use shipcore::clock::{Clock, SystemClock};
use shipcore::engine::Phase;
use shipcore::engine::{
    AnalysisResult, AnalysisScope, Event, EventKind, RolloutSpec, RunReport, Runner,
};
use shipcore::journal::MemoryJournal;
use shipcore::metrics::MetricsSource;
use shipcore::model::{
    AnalysisPolicy, AnalysisStep, InconclusiveAction, Plan, Revision, Role, Step, Target,
};
use shipcore::record::{DeploymentRecord, DeploymentStatus, RecordMeta};
use shipcore::testing::{SimConfig, SimDriver};
use shipcore::validator::ThresholdConfig;
use shipcore_metrics_cloudwatch::AlbQueries;
use std::sync::Arc;
use std::time::Duration;

fn web() -> Target {
    Target::new("web", "e2e")
}
fn v1() -> Revision {
    Revision::new("web-v1", "1.0.0".parse().unwrap(), "web:1.0.0")
}
fn v2() -> Revision {
    Revision::new("web-v2", "2.0.0".parse().unwrap(), "web:2.0.0")
}

/// One target group per revision, `targetgroup/<revision id>/<random id>`: the template
/// selects it by prefix, resolved through ListMetrics.
fn queries() -> AlbQueries {
    AlbQueries::new("targetgroup/{{revision}}/*", LB)
}

/// 5xx share above 5% fails; the worst minute's maximum response time above 250 ms fails
/// (moto has no percentiles; on AWS use `p95_latency`).
fn validators(src: Arc<dyn MetricsSource>) -> Vec<Arc<dyn shipcore::validator::Validator>> {
    let q = queries();
    let mut errors = ThresholdConfig::above("error-rate", q.error_rate(), 0.05);
    errors.unit = "ratio".into();
    let mut slow = ThresholdConfig::above("latency-max", q.latency("Maximum"), 0.25);
    slow.unit = "s".into();
    vec![
        Arc::new(errors.build(src.clone()).unwrap()),
        Arc::new(slow.build(src).unwrap()),
    ]
}

fn canary(policy: AnalysisPolicy) -> RolloutSpec {
    let analysis = || {
        Step::Analysis(AnalysisStep {
            validators: vec!["error-rate".into(), "latency-max".into()],
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
    let mut spec = RolloutSpec::new("e2e-cw-canary", web(), Some(v1()), v2(), plan);
    spec.poll_interval = Duration::from_millis(200);
    spec.progress_deadline = Duration::from_secs(30);
    spec
}

async fn run(spec: RolloutSpec, src: Arc<dyn MetricsSource>) -> (RunReport, SimDriver) {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let cfg = SimConfig {
        boot_time: Duration::from_millis(200),
        ..SimConfig::seeded(7)
    };
    let driver = SimDriver::with_config(clock.clone(), cfg).unwrap();
    driver.seed_stable(&web(), &v1(), 2);
    let mut b = Runner::builder(
        Arc::new(driver.clone()),
        clock,
        Arc::new(MemoryJournal::new()),
    );
    for v in validators(src) {
        b = b.validator(v);
    }
    let report = b.build().start(spec).await.unwrap();
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

/// moto plus CloudWatch data: good v1, and v2 with `v2_errors` 5xx of 100 requests a
/// minute (`None`: no data for v2 at all).
async fn stage(v2_errors: Option<f64>) -> Option<(moto::Moto, Arc<dyn MetricsSource>)> {
    let m = moto::Moto::start().await?;
    let src = source(&m).await;
    put_alb(&src, &tg(&v1().id.0), &minutes(5, 100.0, None, 0.05)).await;
    if let Some(e) = v2_errors {
        put_alb(&src, &tg(&v2().id.0), &minutes(5, 100.0, Some(e), 0.08)).await;
    }
    Some((m, Arc::new(src)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_candidate_judged_by_cloudwatch_is_rolled_back() {
    let Some((_moto, src)) = stage(Some(20.0)).await else {
        return;
    };
    let (report, driver) = run(
        canary(AnalysisPolicy::every(Duration::from_secs(1), 2)),
        src,
    )
    .await;
    assert_eq!(
        report.status.phase,
        Phase::RolledBack,
        "{:?}",
        report.status
    );
    let results = analysis_results(&report.events);
    assert_eq!(results.len(), 1, "{results:?}");
    assert_eq!(results[0].0, AnalysisResult::Failed, "{results:?}");
    let f = driver.fleet(&web());
    assert_eq!(f.revisions.len(), 1, "{f:?}");
    assert_eq!(
        (f.ready_of(&v1().id), f.weight_of(&v1().id)),
        (2, 100),
        "{f:?}"
    );
    let record = DeploymentRecord::from_report(&report, &RecordMeta::new("e2e")).unwrap();
    assert_eq!(record.status, DeploymentStatus::RolledBack);
    // The exact share CloudWatch (moto) holds for v2's target group: 100 of 500 requests.
    assert_eq!(
        record.validation.error_rate,
        Some(0.2),
        "{:?}",
        record.validation
    );
    eprintln!(
        "v2 rolled back at error rate {:?}",
        record.validation.error_rate
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_good_candidate_judged_by_cloudwatch_is_promoted() {
    let Some((_moto, src)) = stage(Some(0.0)).await else {
        return;
    };
    let (report, driver) = run(
        canary(AnalysisPolicy::every(Duration::from_secs(1), 2)),
        src,
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
    assert_eq!(
        record.validation.error_rate,
        Some(0.0),
        "{:?}",
        record.validation
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_candidate_without_cloudwatch_data_is_never_passed() {
    let Some((_moto, src)) = stage(None).await else {
        return;
    };
    let policy = AnalysisPolicy {
        on_inconclusive: InconclusiveAction::Fail,
        ..AnalysisPolicy::every(Duration::from_secs(1), 2)
    };
    let (report, driver) = run(canary(policy), src).await;
    let results = analysis_results(&report.events);
    assert_eq!(results.len(), 1, "{results:?}");
    assert_eq!(results[0].0, AnalysisResult::Inconclusive, "{results:?}");
    assert_eq!(
        report.status.phase,
        Phase::RolledBack,
        "{:?}",
        report.status
    );
    let f = driver.fleet(&web());
    assert_eq!(
        (f.revisions.len(), f.weight_of(&v1().id)),
        (1, 100),
        "{f:?}"
    );
}
