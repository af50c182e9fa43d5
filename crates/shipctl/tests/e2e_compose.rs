//! `shipctl run` on real parts, inside the Compose end-to-end run: Podman + Docker Compose
//! v2 + HAProxy, the rollout from examples/rollouts/compose/rolling-haproxy.yaml, under the
//! steady load the driver's own e2e tests use (their support code, included below): no
//! request may fail, the run must exit 0, and only v2's containers may be left.
//!
//! Needs `--features compose` and SHIPCORE_E2E=1 (fails loudly if a part is missing; skipped
//! otherwise): `scripts/ci/e2e-compose.sh` runs it.
#![cfg(feature = "compose")]
#![allow(clippy::unwrap_used)]

#[path = "../../driver-compose/tests/support/mod.rs"]
mod support;

use shipcore::model::Target;
use shipcore_driver_compose::ComposeDriver;
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::engine::rev;
use support::scenario::Stack;

const TEST: &str = "shipctl_run_rolls_compose_from_a_yaml_file_without_a_failed_request";

/// `text` with the line `from` replaced by `to` (which must be there).
fn replace_line(text: &str, from: &str, to: &str) -> String {
    assert!(text.contains(from), "the example no longer has {from:?}");
    text.replace(from, to)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shipctl_run_rolls_compose_from_a_yaml_file_without_a_failed_request() {
    let Some(env) = support::env(TEST).await else {
        return;
    };
    let images = support::images(&env);
    // The stack as the driver's e2e tests build it, but with the driver's state where
    // shipctl keeps it (STATE/compose), so both see the same revisions.
    let project = support::Project::web(&env, "shipctl", &images.v1);
    let state = project.dir.path().join("shipctl-state");
    let proxy = support::haproxy(&env, project.dir.path(), 12).await;
    let driver = Arc::new(
        ComposeDriver::new(support::config_for(
            &env,
            &project.name,
            &project.file,
            &state.join("compose"),
        ))
        .unwrap()
        .with_router(Arc::new(proxy.router())),
    );
    let stack = Stack {
        driver,
        proxy,
        project,
        env: env.clone(),
        target: Target::new("web", "e2e"),
        t0: Instant::now(),
    };
    let v1 = rev("v1", "1.0.0", &images.v1);
    stack.seed(&v1, 3).await;

    // The example file, next to the project's compose.yaml and HAProxy folder.
    let example = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/rollouts/compose/rolling-haproxy.yaml");
    let yaml = std::fs::read_to_string(&example).unwrap();
    let yaml = replace_line(
        &yaml,
        "    project: shipcore-e2e-shipctl\n",
        &format!("    project: {}\n", stack.project.name),
    );
    let yaml = replace_line(
        &yaml,
        "    compose_bin: docker-compose ",
        &format!("    compose_bin: {} ", env.compose_bin.display()),
    );
    let file = stack.project.dir.path().join("rollout.yaml");
    std::fs::write(&file, yaml).unwrap();
    assert_eq!(
        stack.proxy.router().socket(),
        stack.project.dir.path().join("haproxy/admin.sock"),
        "the example's haproxy.socket must be where the test's HAProxy listens"
    );

    let load = support::standard_load(stack.proxy.addr());
    tokio::time::sleep(Duration::from_millis(500)).await;
    let started = Instant::now();
    let mut cmd = tokio::process::Command::new(assert_cmd::cargo::cargo_bin("shipctl"));
    cmd.arg("--state-dir")
        .arg(&state)
        .arg("run")
        .arg(&file)
        .env("DOCKER_HOST", &env.docker_host)
        .env("NO_COLOR", "1")
        .kill_on_drop(true);
    if let Some(conf) = &env.containers_conf {
        cmd.env("CONTAINERS_CONF", conf);
    }
    let out = tokio::time::timeout(Duration::from_secs(300), cmd.output())
        .await
        .expect("shipctl run took more than 5 minutes")
        .unwrap();
    let took = started.elapsed();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let tally = load.finish();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    eprintln!("{stdout}{stderr}");
    eprintln!(
        "FIGURES shipctl run (rolling v1->v2 x3, YAML file) on Compose + HAProxy: {} requests, {} failed, {:.1} s; versions {:?}; failures {:?}",
        tally.total(),
        tally.failed,
        took.as_secs_f64(),
        tally.by_version,
        tally.failures
    );
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    assert!(
        stdout.contains("rollout web-2.0.0: succeeded (all steps completed); exit code 0"),
        "{stdout}"
    );
    assert_eq!(
        tally.failed, 0,
        "requests failed during shipctl run: {tally:?}"
    );
    assert!(tally.total() > 500, "the load hardly ran: {tally:?}");
    assert!(tally.version("2.0.0") > 0, "v2 never answered: {tally:?}");
    // Only v2 is left, three replicas, all running; the record says success.
    let containers = stack.containers();
    assert_eq!(
        containers.get("v2 running").copied(),
        Some(3),
        "{containers:?}"
    );
    assert!(
        !containers.keys().any(|k| k.starts_with("v1")),
        "{containers:?}"
    );
    let record = std::fs::read_to_string(state.join("records/web-2.0.0.json")).unwrap();
    assert!(record.contains("\"success\""), "{record}");
}
