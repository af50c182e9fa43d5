//! The testing kit under the real engine: a one-hour canary judged by a metric threshold on
//! simulated metrics, on a simulated platform with boot times and API faults.
#![allow(clippy::unwrap_used)]

use shipcore::engine::{Phase, RolloutSpec, Runner};
use shipcore::journal::MemoryJournal;
use shipcore::model::{AnalysisPolicy, AnalysisStep, Plan, Revision, Role, Step, Target};
use shipcore::testing::{Failure, SimWorld};
use shipcore::validator::ThresholdConfig;
use std::sync::Arc;
use std::time::Duration;

fn web() -> Target {
    Target::new("web", "production")
}
fn v1() -> Revision {
    Revision::new("web-v1", "1.0.0".parse().unwrap(), "web:1.0.0")
}
fn v2() -> Revision {
    Revision::new("web-v2", "2.0.0".parse().unwrap(), "web:2.0.0")
}

/// 10 % → 25 % → 50 %, each judged for ten minutes and paused ten more: about an hour.
fn canary_plan() -> Plan {
    let analysis = || {
        Step::Analysis(AnalysisStep {
            validators: vec!["error-rate".into()],
            policy: AnalysisPolicy::every(Duration::from_secs(60), 10),
        })
    };
    let mut steps = vec![Step::Scale {
        role: Role::Candidate,
        replicas: 1,
    }];
    for percent in [10, 25, 50] {
        steps.push(Step::SetWeight { percent });
        steps.push(analysis());
        steps.push(Step::Pause {
            duration: Some(Duration::from_secs(600)),
        });
        if percent == 10 {
            steps.push(Step::Scale {
                role: Role::Candidate,
                replicas: 4,
            });
        }
    }
    steps.push(Step::Promote);
    steps.push(Step::Retire {
        role: Role::Stable,
        after: Duration::from_secs(60),
    });
    Plan {
        strategy: "canary".into(),
        replicas: 4,
        steps,
    }
}

async fn run(world: &SimWorld) -> shipcore::engine::RunReport {
    let validator =
        ThresholdConfig::above("error-rate", "error_rate{revision=\"{{revision}}\"}", 0.05)
            .build(world.metrics_arc())
            .unwrap();
    let mut runner = Runner::builder(
        world.driver_arc(),
        world.clock_arc(),
        Arc::new(MemoryJournal::new()),
    )
    .validator(Arc::new(validator))
    .build();
    runner
        .start(RolloutSpec::new(
            "r1",
            web(),
            Some(v1()),
            v2(),
            canary_plan(),
        ))
        .await
        .unwrap()
}

fn world() -> SimWorld {
    let w = SimWorld::new(2024);
    w.driver.seed_stable(&web(), &v1(), 4);
    w
}

#[tokio::test]
async fn a_healthy_candidate_is_promoted_after_an_hour_of_simulated_time() {
    let w = world();
    let started = std::time::Instant::now();
    let report = run(&w).await;
    assert_eq!(report.status.phase, Phase::Succeeded, "{:?}", report.status);
    let f = w.driver.fleet(&web());
    assert_eq!(f.revisions.len(), 1);
    assert_eq!((f.ready_of(&v2().id), f.weight_of(&v2().id)), (4, 100));
    // 3 x (10 measurements a minute apart + a 10 min pause), boot times, the retire delay.
    assert!(
        w.now().0 >= 55 * 60_000,
        "about an hour of simulated time: {}",
        w.now()
    );
    eprintln!("one-hour canary in {:?} of real time", started.elapsed());
}

#[tokio::test]
async fn a_candidate_with_errors_is_rolled_back_by_its_metrics() {
    let w = world();
    w.driver.inject(&v2(), Failure::error_rate(0.2)).unwrap();
    let report = run(&w).await;
    assert_eq!(
        report.status.phase,
        Phase::RolledBack,
        "{:?}",
        report.status
    );
    let f = w.driver.fleet(&web());
    assert_eq!(f.revisions.len(), 1);
    assert_eq!((f.ready_of(&v1().id), f.weight_of(&v1().id)), (4, 100));
}

#[tokio::test]
async fn transient_api_faults_and_lost_responses_are_retried_through() {
    let w = world();
    w.driver.set_transient_fault_rate(0.1).unwrap();
    w.driver.set_lost_response_share(0.5).unwrap();
    let report = run(&w).await;
    assert_eq!(report.status.phase, Phase::Succeeded, "{:?}", report.status);
    assert_eq!(w.driver.fleet(&web()).weight_of(&v2().id), 100);
    let clean = world();
    run(&clean).await;
    let (faulty, plain) = (w.driver.calls(), clean.driver.calls());
    assert!(
        faulty.total > plain.total,
        "retries made more calls: {faulty:?} vs {plain:?}"
    );
}
