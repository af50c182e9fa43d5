//! Native rolling mode with the real engine on moto: one ECS service (`web`) updated in
//! place with a new task definition. moto runs no deployments (its one PRIMARY deployment
//! never moves), so the harness plays ECS: the support module's scheduler sets runningCount
//! to desiredCount, and for the circuit-breaker test a background task does what ECS does
//! when the breaker trips with rollback: it puts the service back on the previous task
//! definition. moto cannot be made to store a FAILED rolloutState (UpdateService ignores
//! `deployments`), so that branch is unit-tested on SDK values (`rolling::tests`), and moto
//! does not store `deploymentConfiguration` either (the builder is unit-tested). Skipped
//! without moto, unless SHIPCORE_E2E=1.
#![allow(clippy::unwrap_used)]

mod support;

use shipcore::driver::Driver;
use shipcore::engine::Phase;
use shipcore::model::{AnalysisPolicy, AnalysisStep};
use shipcore::strategy::{Recreate, StrategyConfig};
use shipcore_driver_ecs::taskdef::{image_of, revision_of};
use shipcore_driver_ecs::{DeploymentHealth, EcsDriver, RollingConfig};
use std::sync::Arc;
use std::time::Duration;
use support::rollout::{run, runner, seed, spec, v2};

/// The revision and image the `web` service runs, from moto.
async fn running(world: &support::World) -> (String, String, i32) {
    let s = world
        .ecs
        .describe_services()
        .include(aws_sdk_ecs::types::ServiceField::Tags)
        .cluster(support::CLUSTER)
        .services("web")
        .send()
        .await
        .unwrap();
    let s = &s.services()[0];
    let td = world
        .ecs
        .describe_task_definition()
        .task_definition(s.task_definition().unwrap())
        .send()
        .await
        .unwrap();
    let td = td.task_definition().unwrap();
    (
        revision_of(td).unwrap(),
        image_of(td, support::CONTAINER).unwrap().to_string(),
        s.desired_count(),
    )
}

fn driver(world: &support::World) -> Arc<EcsDriver> {
    let cfg = world
        .rolling_config()
        .native_rolling(RollingConfig::default())
        .build()
        .unwrap();
    Arc::new(EcsDriver::new(cfg, &world.sdk))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn native_rolling_replaces_the_task_definition_of_one_service() {
    let Some(world) = support::World::start().await else {
        return;
    };
    let d = driver(&world);
    let caps = d.capabilities();
    assert!(caps.native_rolling && !caps.side_by_side && !caps.weighted_traffic);
    seed(&*d, 2).await;
    assert_eq!(running(&world).await, ("v1".into(), "web:1.0.0".into(), 2));
    let dir = tempfile::tempdir().unwrap();
    let strategy = StrategyConfig::Recreate(Recreate::default());
    let report = run(
        runner(d.clone(), &dir.path().join("j")),
        spec(&*d, &strategy, 2, Duration::from_secs(20)),
    )
    .await;
    assert_eq!(report.status.phase, Phase::Succeeded, "{:?}", report.status);
    assert_eq!(running(&world).await, ("v2".into(), "web:2.0.0".into(), 2));
    assert_eq!(
        world.services().await,
        ["webx2"],
        "one service, updated in place"
    );
    let f = d.observe(&support::rollout::web()).await.unwrap();
    assert_eq!(
        (
            f.revisions.len(),
            f.weight_of(&v2().id),
            f.ready_of(&v2().id)
        ),
        (1, 100, 2),
        "{f:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_circuit_breaker_rollback_is_a_failure_never_a_success() {
    let Some(world) = support::World::start().await else {
        return;
    };
    let d = driver(&world);
    seed(&*d, 2).await;
    let s = world
        .ecs
        .describe_services()
        .include(aws_sdk_ecs::types::ServiceField::Tags)
        .cluster(support::CLUSTER)
        .services("web")
        .send()
        .await
        .unwrap();
    let v1_td = s.services()[0].task_definition().unwrap().to_string();
    // ECS's circuit breaker, played by the harness: once the service runs v2, it trips and
    // rolls the service back to v1's task definition.
    let ecs = world.ecs.clone();
    let breaker = tokio::spawn(async move {
        loop {
            let s = ecs
                .describe_services()
                .include(aws_sdk_ecs::types::ServiceField::Tags)
                .cluster(support::CLUSTER)
                .services("web")
                .send()
                .await
                .unwrap();
            let td = s.services()[0]
                .task_definition()
                .unwrap_or_default()
                .to_string();
            if td != v1_td {
                let d = ecs
                    .describe_task_definition()
                    .task_definition(&td)
                    .send()
                    .await
                    .unwrap();
                if revision_of(d.task_definition().unwrap()).as_deref() == Some("v2") {
                    ecs.update_service()
                        .cluster(support::CLUSTER)
                        .service("web")
                        .task_definition(&v1_td)
                        .send()
                        .await
                        .unwrap();
                    return true;
                }
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    });
    let dir = tempfile::tempdir().unwrap();
    // moto runs v2's tasks at once, before any breaker could trip: the analysis after the
    // scale (what a real ECS rollout needs, as the breaker trips minutes after tasks run)
    // asks the driver again, and the driver reports the rollback.
    let strategy = StrategyConfig::Recreate(Recreate {
        analysis: Some(AnalysisStep {
            validators: vec!["ecs-deployment".into()],
            policy: AnalysisPolicy::every(Duration::from_millis(300), 3),
        }),
    });
    let b = runner(d.clone(), &dir.path().join("j"))
        .validator(Arc::new(DeploymentHealth::new(d.clone(), "ecs-deployment")));
    let report = run(b, spec(&*d, &strategy, 2, Duration::from_secs(10))).await;
    assert!(breaker.await.unwrap(), "the breaker tripped");
    assert_ne!(report.status.phase, Phase::Succeeded, "{:?}", report.status);
    let reason = report.status.reason.clone().unwrap_or_default();
    assert!(
        reason.contains("rolled v2 back"),
        "the failure names the circuit breaker's rollback: {reason}"
    );
    assert_eq!(
        running(&world).await,
        ("v1".into(), "web:1.0.0".into(), 2),
        "v1 runs at full size"
    );
}
