//! Blue-green, rolling in batches, abort and crash-resume on the fake apiserver through
//! the real engine.
#![allow(clippy::unwrap_used)]

mod rollout_support;

use rollout_support::*;
use serde_json::json;
use shipcore::engine::Phase;
use shipcore::strategy::{PlanContext, Strategy, StrategyConfig};
use std::time::Duration;

fn blue_green() -> StrategyConfig {
    StrategyConfig::BlueGreen(
        serde_json::from_value(json!({"auto_promotion_after": "50ms", "scale_down_delay": "0s"}))
            .unwrap(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blue_green_switches_all_traffic_at_once_through_the_route() {
    let env = env(true);
    let v1 = rev("blue", "1.0.0", "registry/web:1.0.0");
    let v2 = rev("green", "2.0.0", "registry/web:2.0.0");
    seed(&env, &v1, 2).await;
    let report = run(
        &env,
        spec("bg", &env, Some(v1.clone()), v2.clone(), 2, &blue_green()),
    )
    .await;
    assert_eq!(report.status.phase, Phase::Succeeded, "{:?}", report.status);
    // The preview never had production traffic: every route gave green 0 or 100.
    for e in &report.events {
        if let shipcore::engine::EventKind::ActionRequested { action, .. } = &e.kind {
            let shipcore::model::Action::Route { weights } = action.as_ref() else {
                continue;
            };
            assert!(matches!(weights.of(&v2.id), 0 | 100), "{weights:?}");
        }
    }
    wait_fleet(&env, |f| f.get(&v1.id).is_none()).await;
    let (deploys, refs) = kubectl(&env);
    assert_eq!(deploys, [("web-green".to_string(), 2)]);
    assert_eq!(refs, [("web-green".to_string(), 100)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blue_green_is_refused_by_capability_without_a_route() {
    let env = env(false);
    let ctx = PlanContext {
        target: env.target.clone(),
        stable: Some(rev("blue", "1.0.0", "web:1")),
        candidate: rev("green", "2.0.0", "web:2"),
        replicas: 2,
        capabilities: shipcore::driver::Driver::capabilities(env.driver.as_ref()),
    };
    let e = blue_green().plan(&ctx).unwrap_err();
    assert!(
        e.to_string().contains("weighted_traffic") || e.to_string().contains("preview"),
        "{e}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rolling_replaces_stable_in_batches() {
    let env = env(false);
    let v1 = rev("v1", "1.0.0", "registry/web:1.0.0");
    let v2 = rev("v2", "2.0.0", "registry/web:2.0.0");
    seed(&env, &v1, 4).await;
    let rolling = StrategyConfig::Rolling(
        serde_json::from_value(json!({"max_surge": 1, "max_unavailable": 0})).unwrap(),
    );
    let s = spec("rolling", &env, Some(v1.clone()), v2.clone(), 4, &rolling);
    let batches = s
        .plan
        .steps
        .iter()
        .filter(|st| matches!(st, shipcore::model::Step::Scale { .. }))
        .count();
    assert!(batches >= 4, "{}", s.plan.describe());
    let report = run(&env, s).await;
    assert_eq!(report.status.phase, Phase::Succeeded, "{:?}", report.status);
    let f = wait_fleet(&env, |f| f.get(&v1.id).is_none()).await;
    assert_eq!(f.ready_of(&v2.id), 4);
    let (deploys, _) = kubectl(&env);
    assert_eq!(deploys, [("web-v2".to_string(), 4)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abort_mid_canary_gives_stable_all_traffic_and_removes_the_candidate() {
    let env = env(true);
    let v1 = rev("v1", "1.0.0", "registry/web:1.0.0");
    let v2 = rev("v2", "2.0.0", "registry/web:2.0.0");
    seed(&env, &v1, 3).await;
    let strategy =
        canary(json!({"steps": [{"set_weight": 30}, {"pause": {}}], "scale_down_delay": "0s"}));
    let s = spec("abort", &env, Some(v1.clone()), v2.clone(), 3, &strategy);
    let dir = tempfile::tempdir().unwrap();
    let mut runner = runner(&env, &dir.path().join("journal"));
    let mut handle = runner.handle();
    let task = tokio::spawn(async move { runner.start(s).await });
    let paused = tokio::time::timeout(
        Duration::from_secs(10),
        handle.wait_for(|st| st.phase == Phase::Paused),
    )
    .await
    .unwrap();
    assert_eq!(paused.phase, Phase::Paused);
    let (_, refs) = kubectl(&env);
    assert!(refs.contains(&("web-v2".to_string(), 30)), "{refs:?}");
    handle.abort().unwrap();
    let report = tokio::time::timeout(Duration::from_secs(20), task)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(report.status.phase, Phase::Aborted, "{:?}", report.status);
    let f = wait_fleet(&env, |f| f.get(&v2.id).is_none()).await;
    assert_eq!((f.ready_of(&v1.id), f.weight_of(&v1.id)), (3, 100));
    assert_eq!(
        kubectl(&env),
        (
            vec![("web-v1".to_string(), 3)],
            vec![("web-v1".to_string(), 100)]
        )
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crashed_runner_is_resumed_from_its_journal_by_a_new_one() {
    let env = env(true);
    let v1 = rev("v1", "1.0.0", "registry/web:1.0.0");
    let v2 = rev("v2", "2.0.0", "registry/web:2.0.0");
    seed(&env, &v1, 2).await;
    let strategy = canary(
        json!({"steps": [{"set_weight": 50}, {"pause": "300ms"}], "scale_down_delay": "0s"}),
    );
    let s = spec("resume", &env, Some(v1.clone()), v2.clone(), 2, &strategy);
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("journal");
    let mut first = runner(&env, &journal);
    let task = tokio::spawn(async move { first.start(s).await });
    // Crash once the candidate takes half the traffic (mid-pause).
    let start = std::time::Instant::now();
    while !kubectl(&env).1.contains(&("web-v2".to_string(), 50)) {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "{:?}",
            kubectl(&env)
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    task.abort();
    assert!(task.await.unwrap_err().is_cancelled());
    // A new process: a new driver on the same cluster, a new runner on the same journal.
    let env2 = Env {
        fake: env.fake.clone(),
        driver: std::sync::Arc::new(
            shipcore_driver_k8s::K8sDriver::new(env.fake.client(), env.driver.config().clone())
                .unwrap(),
        ),
        target: env.target.clone(),
    };
    let report = tokio::time::timeout(Duration::from_secs(20), runner(&env2, &journal).resume())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(report.status.phase, Phase::Succeeded, "{:?}", report.status);
    wait_fleet(&env2, |f| f.get(&v1.id).is_none()).await;
    assert_eq!(
        kubectl(&env2),
        (
            vec![("web-v2".to_string(), 2)],
            vec![("web-v2".to_string(), 100)]
        )
    );
}
