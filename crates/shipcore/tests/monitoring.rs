//! Post-deploy monitoring on the simulated platform: a canary plan with
//! `Plan::with_monitoring` watches the candidate at 100% before stable is retired. A healthy
//! candidate is kept and stable retired; one that goes bad during the window is rolled back
//! to the stable revision, which is still running.
#![allow(clippy::unwrap_used)]

use shipcore::engine::{AnalysisScope, EventKind, Phase, RolloutSpec, RunReport, Runner};
use shipcore::gate::Severity;
use shipcore::journal::MemoryJournal;
use shipcore::model::{Action, Plan, Revision, Role, Step, Target};
use shipcore::strategy::{Canary, CanaryStep, PauseSpec, PlanContext, Strategy};
use shipcore::testing::{Failure, SimWorld};
use shipcore::validator::ThresholdConfig;
use std::sync::Arc;
use std::time::Duration;

const MIN: Duration = Duration::from_secs(60);

fn web() -> Target {
    Target::new("web", "production")
}
fn v1() -> Revision {
    Revision::new("web-v1", "1.0.0".parse().unwrap(), "web:1.0.0")
}
fn v2() -> Revision {
    Revision::new("web-v2", "2.0.0".parse().unwrap(), "web:2.0.0")
}

/// 25% for ten minutes, then post-deploy monitoring (P0: one hour, every five minutes).
fn plan(w: &SimWorld) -> Plan {
    let canary = Canary {
        steps: vec![
            CanaryStep::SetWeight(25),
            CanaryStep::Pause(PauseSpec(Some(Severity::P0.pause_per_phase()))),
        ],
        ..Default::default()
    };
    let ctx = PlanContext {
        target: web(),
        stable: Some(v1()),
        candidate: v2(),
        replicas: 4,
        capabilities: w.driver.config().capabilities,
    };
    let monitoring = Severity::P0
        .monitoring(&["error-rate"])
        .every(5 * MIN)
        .to_step()
        .unwrap();
    canary.plan(&ctx).unwrap().with_monitoring(monitoring)
}

fn world() -> SimWorld {
    let w = SimWorld::new(5);
    w.driver.seed_stable(&web(), &v1(), 4);
    w
}

/// Runs the plan; `on_monitoring` is called when the monitoring step starts.
async fn run(w: &SimWorld, on_monitoring: impl Fn() + Send + Sync + 'static) -> RunReport {
    let plan = plan(w);
    let monitoring_at = plan
        .steps
        .iter()
        .position(|s| matches!(s, Step::Analysis(_)))
        .unwrap();
    let validator =
        ThresholdConfig::above("error-rate", "error_rate{revision=\"{{revision}}\"}", 0.05)
            .build(w.metrics_arc())
            .unwrap();
    let mut runner = Runner::builder(
        w.driver_arc(),
        w.clock_arc(),
        Arc::new(MemoryJournal::new()),
    )
    .validator(Arc::new(validator))
    .on_event(move |e| {
        if matches!(e.kind, EventKind::StepStarted { step, .. } if step == monitoring_at) {
            on_monitoring();
        }
    })
    .build();
    let spec = RolloutSpec::new("r1", web(), Some(v1()), v2(), plan);
    runner.start(spec).await.unwrap()
}

fn monitoring_measurements(report: &RunReport, step: usize) -> usize {
    report
        .events
        .iter()
        .filter(|e| {
            matches!(&e.kind, EventKind::Measured { scope: AnalysisScope::Step { step: s }, .. } if *s == step)
        })
        .count()
}

#[test]
fn the_monitoring_step_sits_between_promote_and_the_retirement_of_stable() {
    let steps = plan(&world()).steps;
    let promote = steps.iter().position(|s| *s == Step::Promote).unwrap();
    let Step::Analysis(a) = &steps[promote + 1] else {
        panic!("{steps:?}")
    };
    assert_eq!(a.validators, ["error-rate"]);
    assert_eq!((a.policy.count, a.policy.interval), (Some(12), 5 * MIN));
    assert!(matches!(
        steps[promote + 2],
        Step::Retire {
            role: Role::Stable,
            ..
        }
    ));
    assert_eq!(steps.len(), promote + 3);
}

#[tokio::test]
async fn a_healthy_candidate_is_watched_for_the_window_then_stable_is_retired() {
    let w = world();
    let watched = Arc::new(std::sync::Mutex::new(None));
    let (seen, driver) = (watched.clone(), w.driver.clone());
    let report = run(&w, move || {
        // At the start of the window: all traffic on v2, v1 still running beside it.
        *seen.lock().unwrap() = Some(driver.fleet(&web()));
    })
    .await;
    assert_eq!(report.status.phase, Phase::Succeeded, "{:?}", report.status);

    let during = watched.lock().unwrap().clone().unwrap();
    assert_eq!(during.weight_of(&v2().id), 100);
    assert_eq!(
        during.ready_of(&v1().id),
        4,
        "stable kept through the window"
    );

    let step = plan(&w).steps.len() - 2;
    assert_eq!(monitoring_measurements(&report, step), 12);
    let after = w.driver.fleet(&web());
    assert_eq!(after.revisions.len(), 1, "{after:?}");
    assert_eq!(
        (after.ready_of(&v2().id), after.weight_of(&v2().id)),
        (4, 100)
    );
    assert!(
        w.now().0 >= 70 * 60_000,
        "10 min canary + 1 h window: {}",
        w.now()
    );
}

#[tokio::test]
async fn a_candidate_that_goes_bad_during_monitoring_is_rolled_back_to_stable() {
    let w = world();
    w.driver.record_actions(true);
    let driver = w.driver.clone();
    let report = run(&w, move || {
        driver.inject(&v2(), Failure::error_rate(0.3)).unwrap();
    })
    .await;
    assert_eq!(
        report.status.phase,
        Phase::RolledBack,
        "{:?}",
        report.status
    );
    let reason = report.status.reason.clone().unwrap();
    assert!(reason.contains("analysis failed"), "{reason}");

    let step = plan(&w).steps.len() - 2;
    assert_eq!(
        monitoring_measurements(&report, step),
        1,
        "the first measurement of the window fails"
    );
    let f = w.driver.fleet(&web());
    assert_eq!(f.revisions.len(), 1, "{f:?}");
    assert_eq!((f.ready_of(&v1().id), f.weight_of(&v1().id)), (4, 100));
    // Traffic went back to the running stable first; v2 was retired, v1 never was.
    let actions = w.driver.actions();
    let retired: Vec<_> = actions
        .iter()
        .filter_map(|a| match a {
            Action::Retire { revision } => Some(revision.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(retired, vec![v2().id]);
}
