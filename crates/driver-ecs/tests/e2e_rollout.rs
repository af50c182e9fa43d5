//! Whole shipcore rollouts with the real engine on the ECS driver over moto (traffic mode):
//! a canary promoting a good candidate, blue-green through the test listener, linear from a
//! CodeDeploy configuration name, a candidate that never becomes healthy (deadline, then
//! rollback), and a runner dropped mid-canary and resumed from its journal file. Each test
//! asserts, from moto's stored state sampled every 50 ms, the listener weights the rollout
//! went through and the services and target groups left at the end.
//!
//! moto runs no tasks: the support module's background task plays ECS's scheduler
//! (registers each service's task IPs in its target group as desiredCount moves, or
//! withholds them for a candidate that must never become healthy). Skipped without moto,
//! unless SHIPCORE_E2E=1.
#![allow(clippy::unwrap_used)]

mod support;

use shipcore::driver::Driver;
use shipcore::engine::{EventKind, Phase};
use shipcore::strategy::{
    from_codedeploy_name, BlueGreen, Canary, CanaryStep, PauseSpec, StrategyConfig,
};
use shipcore_driver_ecs::EcsDriver;
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::rollout::{run, runner, seed, spec, w, Recorder};

fn canary() -> StrategyConfig {
    StrategyConfig::Canary(Canary {
        steps: vec![
            CanaryStep::SetWeight(10),
            CanaryStep::Pause(PauseSpec(Some(Duration::from_millis(600)))),
            CanaryStep::SetWeight(50),
            CanaryStep::Pause(PauseSpec(Some(Duration::from_millis(600)))),
        ],
        scale_down_delay: Duration::ZERO,
        ..Default::default()
    })
}

async fn traffic_driver(world: &support::World) -> Arc<EcsDriver> {
    let cfg = world
        .traffic_config()
        .test_listener(world.test_listener.clone())
        // Long enough for the 50 ms recorder to see traffic gone before the service goes.
        .deregistration_wait(Duration::from_millis(500))
        .build()
        .unwrap();
    Arc::new(EcsDriver::new(cfg, &world.sdk))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn canary_promotes_a_healthy_candidate_90_10_then_50_50_then_0_100() {
    let Some(world) = support::World::start().await else {
        return;
    };
    let driver = traffic_driver(&world).await;
    seed(&*driver, 2).await;
    let rec = Recorder::start(&world);
    let dir = tempfile::tempdir().unwrap();
    let report = run(
        runner(driver.clone(), &dir.path().join("j")),
        spec(&*driver, &canary(), 2, Duration::from_secs(20)),
    )
    .await;
    assert_eq!(report.status.phase, Phase::Succeeded, "{:?}", report.status);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        rec.weights(),
        [
            w(&[("web-v1", 100)]),
            w(&[("web-v1", 90), ("web-v2", 10)]),
            w(&[("web-v1", 50), ("web-v2", 50)]),
            w(&[("web-v2", 100)])
        ]
    );
    assert_eq!(world.services().await, ["web-v2x2"]);
    assert_eq!(world.target_groups().await, ["web-v2"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blue_green_previews_on_the_test_listener_then_switches() {
    let Some(world) = support::World::start().await else {
        return;
    };
    let driver = traffic_driver(&world).await;
    seed(&*driver, 2).await;
    let rec = Recorder::start(&world);
    let bg = StrategyConfig::BlueGreen(BlueGreen {
        auto_promotion_after: Some(Duration::from_millis(800)),
        scale_down_delay: Duration::ZERO,
        ..Default::default()
    });
    let (test_elb, test_listener) = (world.elb.clone(), world.test_listener.clone());
    let preview = tokio::spawn(async move {
        // What the test listener showed while production still went to v1 only.
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            let out = test_elb
                .describe_listeners()
                .listener_arns(&test_listener)
                .send()
                .await
                .unwrap();
            let g =
                shipcore_driver_ecs::listener::forward_groups(out.listeners()[0].default_actions());
            if !g.is_empty() {
                return g.len();
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        0
    });
    let dir = tempfile::tempdir().unwrap();
    let report = run(
        runner(driver.clone(), &dir.path().join("j")),
        spec(&*driver, &bg, 2, Duration::from_secs(20)),
    )
    .await;
    assert_eq!(report.status.phase, Phase::Succeeded, "{:?}", report.status);
    assert_eq!(
        preview.await.unwrap(),
        1,
        "the test listener forwarded to the candidate"
    );
    let weights = rec.weights();
    assert_eq!(
        weights,
        [w(&[("web-v1", 100)]), w(&[("web-v2", 100)])],
        "production switched at once"
    );
    let during: Vec<_> = rec
        .samples()
        .into_iter()
        .filter(|s| s.weights == w(&[("web-v1", 100)]))
        .collect();
    assert!(
        during
            .iter()
            .any(|s| s.services == ["web-v1x2", "web-v2x2"]),
        "the preview ran full size without traffic: {during:?}"
    );
    assert_eq!(world.services().await, ["web-v2x2"]);
    assert_eq!(world.target_groups().await, ["web-v2"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn linear_from_a_codedeploy_name_moves_ten_percent_at_a_time() {
    let Some(world) = support::World::start().await else {
        return;
    };
    let driver = traffic_driver(&world).await;
    seed(&*driver, 2).await;
    let rec = Recorder::start(&world);
    let mut linear =
        from_codedeploy_name("CodeDeployDefault.ECSLinear10PercentEvery1Minutes").unwrap();
    let StrategyConfig::Linear(l) = &mut linear else {
        panic!("{linear:?}")
    };
    // Minutes become 300 ms so the test runs in seconds; the shape is the configuration's.
    l.interval = Duration::from_millis(300);
    l.scale_down_delay = Duration::ZERO;
    let dir = tempfile::tempdir().unwrap();
    let report = run(
        runner(driver.clone(), &dir.path().join("j")),
        spec(&*driver, &linear, 2, Duration::from_secs(20)),
    )
    .await;
    assert_eq!(report.status.phase, Phase::Succeeded, "{:?}", report.status);
    let mut expected = vec![w(&[("web-v1", 100)])];
    for p in (10..100).step_by(10) {
        expected.push(w(&[("web-v1", 100 - p), ("web-v2", p)]));
    }
    expected.push(w(&[("web-v2", 100)]));
    assert_eq!(rec.weights(), expected);
    assert_eq!(world.services().await, ["web-v2x2"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_candidate_that_never_becomes_healthy_is_rolled_back_at_the_deadline() {
    let Some(world) = support::World::start().await else {
        return;
    };
    let driver = traffic_driver(&world).await;
    seed(&*driver, 2).await;
    // The scheduler never registers v2's tasks: its target group stays empty.
    world.withhold.lock().unwrap().insert("web-v2".into());
    let rec = Recorder::start(&world);
    let dir = tempfile::tempdir().unwrap();
    let t = Instant::now();
    let report = run(
        runner(driver.clone(), &dir.path().join("j")),
        spec(&*driver, &canary(), 2, Duration::from_secs(3)),
    )
    .await;
    assert_eq!(
        report.status.phase,
        Phase::RolledBack,
        "{:?}",
        report.status
    );
    let reason = report.status.reason.clone().unwrap_or_default();
    assert!(
        reason.contains("deadline") || reason.contains("progress"),
        "{reason}"
    );
    eprintln!(
        "FIGURES never-healthy candidate: rolled back after {:.1} s (deadline 3 s)",
        t.elapsed().as_secs_f64()
    );
    assert_eq!(
        rec.weights(),
        [w(&[("web-v1", 100)])],
        "the candidate never got traffic"
    );
    assert!(
        rec.samples()
            .iter()
            .any(|s| s.services.contains(&"web-v2x1".to_string())),
        "{:?}",
        rec.samples()
    );
    assert_eq!(world.services().await, ["web-v1x2"]);
    assert_eq!(world.target_groups().await, ["web-v1"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_runner_dropped_mid_canary_resumes_from_its_journal() {
    let Some(world) = support::World::start().await else {
        return;
    };
    let driver = traffic_driver(&world).await;
    seed(&*driver, 2).await;
    let rec = Recorder::start(&world);
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("journal");
    let mut slow = canary();
    if let StrategyConfig::Canary(c) = &mut slow {
        c.steps[1] = CanaryStep::Pause(PauseSpec(Some(Duration::from_secs(3))));
    }
    let s = spec(&*driver, &slow, 2, Duration::from_secs(20));
    let b = runner(driver.clone(), &journal);
    let task = tokio::spawn(async move { b.build().start(s).await });
    let deadline = Instant::now() + Duration::from_secs(20);
    while !rec
        .weights()
        .contains(&w(&[("web-v1", 90), ("web-v2", 10)]))
    {
        assert!(Instant::now() < deadline, "the canary never reached 10%");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    // The crash: the runner and its driver are dropped in the middle of the first pause.
    task.abort();
    assert!(task.await.unwrap_err().is_cancelled());
    drop(driver);
    assert_eq!(
        world.weights(&world.listener).await,
        w(&[("web-v1", 90), ("web-v2", 10)])
    );

    let fresh = traffic_driver(&world).await;
    let t = Instant::now();
    let report = runner(fresh.clone(), &journal)
        .build()
        .resume()
        .await
        .unwrap();
    assert!(
        report.events.iter().any(|e| e.kind == EventKind::Resumed),
        "no Resumed event"
    );
    assert_eq!(report.status.phase, Phase::Succeeded, "{:?}", report.status);
    eprintln!(
        "FIGURES dropped mid-canary, resumed to {} in {:.1} s",
        report.status.phase,
        t.elapsed().as_secs_f64()
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(rec.weights().last().unwrap(), &w(&[("web-v2", 100)]));
    assert!(rec
        .weights()
        .contains(&w(&[("web-v1", 50), ("web-v2", 50)])));
    assert_eq!(world.services().await, ["web-v2x2"]);
    assert_eq!(world.target_groups().await, ["web-v2"]);
    let _ = fresh.capabilities();
}
