//! `shipctl run` with the ECS driver against moto (PyPI `moto[server]`, the AWS control
//! plane double), as the driver's own end-to-end tests use it: their support code (included
//! below) starts a private moto server, makes the VPC, ALB listeners, cluster and base task
//! definition, and plays ECS's scheduler (moto runs no tasks). The real binary reads a
//! rollout file with `driver: {ecs: ...}` and finds AWS through the environment
//! (`AWS_ENDPOINT_URL`, `AWS_REGION`, static credentials), as a CI job would.
//!
//! Needs `--features ecs`; skipped without moto, FAILS under SHIPCORE_E2E=1 when moto is
//! missing (scripts/ci/e2e-ecs.sh runs it).
#![cfg(feature = "ecs")]
#![allow(clippy::unwrap_used)]

#[path = "../../driver-ecs/tests/support/mod.rs"]
mod support;

use shipcore_driver_ecs::EcsDriver;
use std::path::Path;
use std::process::Output;
use std::sync::Arc;
use std::time::Duration;
use support::rollout::{seed, w, Recorder};
use support::{Moto, World};

/// `shipctl --state-dir STATE ARGS…` with the AWS environment pointing at `world`'s moto,
/// run to its end without blocking the runtime the scheduler plays ECS on.
async fn shipctl(world: &World, state: &Path, args: &[&str]) -> Output {
    let mut c = tokio::process::Command::new(assert_cmd::cargo::cargo_bin("shipctl"));
    c.arg("--state-dir")
        .arg(state)
        .args(args)
        .env("NO_COLOR", "1")
        .env("AWS_ENDPOINT_URL", world.moto.endpoint())
        .env("AWS_REGION", Moto::REGION)
        .env("AWS_ACCESS_KEY_ID", Moto::ACCESS_KEY_ID)
        .env("AWS_SECRET_ACCESS_KEY", Moto::SECRET_ACCESS_KEY)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_SESSION_TOKEN");
    tokio::time::timeout(Duration::from_secs(120), c.output())
        .await
        .expect("shipctl did not finish in 120 s")
        .unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// v1 -> v2 of `web` in `prod` (the support code's target and revisions), a 50% canary
/// with weights on the world's production listener.
fn rollout(world: &World) -> String {
    format!(
        "\
target: {{service: web, environment: prod}}
stable: {{id: v1, version: 1.0.0, artifact: 'web:1.0.0'}}
candidate: {{id: v2, version: 2.0.0, artifact: 'web:2.0.0'}}
replicas: 2
strategy:
  canary:
    steps: [{{set_weight: 50}}, {{pause: 600ms}}]
    scale_down_delay: 0s
poll_interval: 200ms
progress_deadline: 30s
driver:
  ecs:
    cluster: {cluster}
    task_definition: {family}
    container: {container}
    network: {{subnets: [{subnet}], security_groups: [{sg}]}}
    traffic:
      listener: '{listener}'
      target_group: {{port: 8080, vpc_id: {vpc}}}
    deregistration_wait: 500ms
",
        cluster = support::CLUSTER,
        family = support::FAMILY,
        container = support::CONTAINER,
        subnet = world.subnet,
        sg = world.sg,
        listener = world.listener,
        vpc = world.vpc,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shipctl_run_rolls_a_canary_out_on_ecs_through_the_alb() {
    let Some(world) = World::start().await else {
        return;
    };
    // v1 serving, deployed by the driver as an earlier rollout would have.
    let cfg = world.traffic_config().build().unwrap();
    let driver = Arc::new(EcsDriver::new(cfg, &world.sdk));
    seed(&*driver, 2).await;
    let rec = Recorder::start(&world);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("rollout.yaml");
    std::fs::write(&file, rollout(&world)).unwrap();
    let out = shipctl(
        &world,
        &dir.path().join("state"),
        &["run", file.to_str().unwrap()],
    )
    .await;
    let stdout = text(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        text(&out.stderr)
    );
    assert!(stdout.contains("succeeded"), "{stdout}");
    tokio::time::sleep(Duration::from_millis(200)).await;
    // The listener went 100/0 -> 50/50 -> 0/100, and only v2 is left.
    assert_eq!(
        rec.weights(),
        [
            w(&[("web-v1", 100)]),
            w(&[("web-v1", 50), ("web-v2", 50)]),
            w(&[("web-v2", 100)])
        ]
    );
    assert_eq!(world.services().await, ["web-v2x2"]);
    assert_eq!(world.target_groups().await, ["web-v2"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_ecs_section_exits_2_naming_the_field_and_changes_nothing() {
    let Some(world) = World::start().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let good = rollout(&world);
    let listener = format!("listener: '{}'", world.listener);
    for (from, to, field) in [
        (
            listener.as_str(),
            "listener: web-alb",
            "driver.ecs.traffic.listener",
        ),
        (
            "target_group: {port: 8080",
            "target_group: {port: 0",
            "driver.ecs.traffic.target_group.port",
        ),
        (
            "deregistration_wait",
            "deregistration_delay",
            "driver.ecs.deregistration_delay",
        ),
    ] {
        assert!(good.contains(from), "{from}");
        let file = dir.path().join("bad.yaml");
        std::fs::write(&file, good.replace(from, to)).unwrap();
        let out = shipctl(
            &world,
            &dir.path().join("state"),
            &["run", file.to_str().unwrap()],
        )
        .await;
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{to}: {stderr}");
        assert!(
            stderr.contains(&format!(": {field}: ")),
            "{to}: wanted {field} in {stderr}"
        );
    }
    assert_eq!(world.services().await, Vec::<String>::new());
}
