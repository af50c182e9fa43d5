//! Canary rollouts on the fake apiserver through the real engine: through the Gateway
//! route (promoting a good candidate, rolling back a bad image by its progress deadline)
//! and by replica ratio without a route.
#![allow(clippy::unwrap_used)]

mod rollout_support;

use rollout_support::*;
use serde_json::json;
use shipcore::engine::Phase;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_canary_promotes_a_good_candidate() {
    let env = env(true);
    let v1 = rev("1.0.0", "1.0.0", "registry/web:1.0.0");
    let v2 = rev("2.0.0", "2.0.0", "registry/web:2.0.0");
    seed(&env, &v1, 4).await;
    let strategy = canary(
        json!({"steps": [{"set_weight": 25}, {"pause": "50ms"}, {"set_weight": 50}, {"pause": "50ms"}], "scale_down_delay": "0s"}),
    );
    let report = run(
        &env,
        spec(
            "canary-good",
            &env,
            Some(v1.clone()),
            v2.clone(),
            4,
            &strategy,
        ),
    )
    .await;
    assert_eq!(report.status.phase, Phase::Succeeded, "{:?}", report.status);
    let f = wait_fleet(&env, |f| f.get(&v1.id).is_none()).await;
    assert_eq!((f.ready_of(&v2.id), f.weight_of(&v2.id)), (4, 100));
    let (deploys, refs) = kubectl(&env);
    let v2_name = shipcore_driver_k8s::names::object_name("web", &v2.id);
    assert_eq!(deploys, [(v2_name.clone(), 4)]);
    assert_eq!(refs, [(v2_name, 100)]);
    // The route went through 25% and 50% on the way (journaled as actions).
    let routes: Vec<String> = report
        .events
        .iter()
        .filter_map(|e| match &e.kind {
            shipcore::engine::EventKind::ActionRequested { action, .. } => Some(action.describe()),
            _ => None,
        })
        .filter(|d| d.starts_with("route"))
        .collect();
    assert!(routes.iter().any(|r| r.contains("2.0.0=25%")), "{routes:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_canary_rolls_back_a_bad_image_by_its_deadline() {
    let env = env(true);
    let v1 = rev("1.0.0", "1.0.0", "registry/web:1.0.0");
    let bad = rev("2.0.0", "2.0.0", "registry/web:bad");
    seed(&env, &v1, 3).await;
    let strategy =
        canary(json!({"steps": [{"set_weight": 20}, {"pause": "50ms"}], "scale_down_delay": "0s"}));
    let start = std::time::Instant::now();
    let report = run(
        &env,
        spec(
            "canary-bad",
            &env,
            Some(v1.clone()),
            bad.clone(),
            3,
            &strategy,
        ),
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
        reason.contains("2.0.0") && reason.contains("ProgressDeadlineExceeded"),
        "{reason}"
    );
    // Rolled back on the Deployment's own deadline (0.6 s), not the engine's 10 s.
    assert!(
        start.elapsed() < std::time::Duration::from_secs(8),
        "{:?}",
        start.elapsed()
    );
    let f = wait_fleet(&env, |f| f.get(&bad.id).is_none()).await;
    assert_eq!((f.ready_of(&v1.id), f.weight_of(&v1.id)), (3, 100));
    let (deploys, refs) = kubectl(&env);
    assert_eq!(
        deploys,
        [("web-1-0-0".to_string(), 3)]
            .map(|(_, n)| (shipcore_driver_k8s::names::object_name("web", &v1.id), n))
    );
    assert_eq!(refs.len(), 1);
    assert_eq!(refs[0].1, 100);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replica_ratio_canary_without_a_route() {
    let env = env(false);
    let v1 = rev("v1", "1.0.0", "registry/web:1.0.0");
    let v2 = rev("v2", "2.0.0", "registry/web:2.0.0");
    seed(&env, &v1, 4).await;
    let strategy =
        canary(json!({"steps": [{"set_weight": 25}, {"pause": "50ms"}], "scale_down_delay": "0s"}));
    let s = spec(
        "canary-ratio",
        &env,
        Some(v1.clone()),
        v2.clone(),
        4,
        &strategy,
    );
    assert!(s
        .plan
        .steps
        .iter()
        .all(|st| !matches!(st, shipcore::model::Step::SetWeight { .. })));
    let report = run(&env, s).await;
    assert_eq!(report.status.phase, Phase::Succeeded, "{:?}", report.status);
    let f = wait_fleet(&env, |f| f.get(&v1.id).is_none()).await;
    assert_eq!((f.ready_of(&v2.id), f.weight_of(&v2.id)), (4, 100));
    // The apex Service selects every revision of the target.
    let apex = env.fake.object("v1", "services", "default", "web").unwrap();
    assert_eq!(
        apex["spec"]["selector"],
        json!({"shipcore.io/service": "web", "shipcore.io/environment": "production"})
    );
    assert!(env
        .fake
        .object(
            "gateway.networking.k8s.io/v1",
            "httproutes",
            "default",
            "web"
        )
        .is_none());
}
