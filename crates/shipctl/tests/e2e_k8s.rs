//! `shipctl` with the Kubernetes driver, as a person runs it: the real binary reads a
//! rollout file whose `driver: {k8s: ...}` points at the driver's fake apiserver, served on
//! 127.0.0.1 with a kubeconfig (crates/driver-k8s/src/fake), whose controller makes pods
//! ready after 50 ms. Needs `--features k8s` (scripts/ci/e2e-k8s.sh runs it).
#![cfg(feature = "k8s")]
#![allow(clippy::unwrap_used)]

use serde_json::Value;
use shipcore_driver_k8s::fake::{ControllerSettings, FakeApiServer, Loopback};
use std::path::Path;
use std::process::Output;
use std::time::Duration;

/// A fake apiserver served on loopback (namespace `shop` too, as the example uses it).
async fn cluster() -> (FakeApiServer, Loopback) {
    let fake = FakeApiServer::new();
    fake.set_controller(ControllerSettings {
        ready_after: Duration::from_millis(50),
        bad_images: vec!["bad".into()],
        observe_lag: Duration::from_millis(10),
        deadline_scale: 0.01,
    });
    fake.create_namespace("shop").unwrap();
    let lb = fake.serve().await.unwrap();
    (fake, lb)
}

/// `shipctl --state-dir STATE ARGS…` run to its end without blocking the runtime the fake
/// serves on.
async fn shipctl(state: &Path, args: &[&str], kubeconfig: Option<&Path>) -> Output {
    let mut c = tokio::process::Command::new(assert_cmd::cargo::cargo_bin("shipctl"));
    c.arg("--state-dir")
        .arg(state)
        .args(args)
        .env("NO_COLOR", "1")
        .env_remove("KUBECONFIG");
    if let Some(k) = kubeconfig {
        c.env("KUBECONFIG", k);
    }
    tokio::time::timeout(Duration::from_secs(60), c.output())
        .await
        .expect("shipctl did not finish in 60 s")
        .unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A canary of `web` through an owned HTTPRoute, with millisecond pauses.
fn rollout(kubeconfig: &Path, artifact: &str, extra: &str) -> String {
    format!(
        "\
target: {{service: web, environment: production}}
stable: none
candidate: {{version: 2.0.0, artifact: '{artifact}'}}
replicas: 2
strategy:
  canary:
    steps: [{{set_weight: 50}}, {{pause: 100ms}}]
    scale_down_delay: 0s
poll_interval: 50ms
progress_deadline: 20s
retry: {{max_attempts: 5, initial_backoff: 20ms, max_backoff: 200ms}}
driver:
  k8s:
    kubeconfig: '{}'
    pod_template:
      spec:
        containers: [{{name: app, image: placeholder, ports: [{{containerPort: 8080}}]}}]
    target_port: 8080
    retire_delay: 0s
    progress_deadline: 60s
    route: {{owned: {{name: web, parent_refs: [{{name: public}}]}}}}
{extra}",
        kubeconfig.display()
    )
}

fn deployments(fake: &FakeApiServer) -> Vec<(String, i64)> {
    fake.objects("apps/v1", "deployments", Some("default"))
        .iter()
        .map(|d| {
            (
                d["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                d["spec"]["replicas"].as_i64().unwrap_or(-1),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shipctl_run_rolls_a_canary_out_on_the_fake_apiserver() {
    let (fake, lb) = cluster().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("rollout.yaml");
    std::fs::write(&file, rollout(&lb.kubeconfig, "registry/web:2.0.0", "")).unwrap();
    let state = dir.path().join("state");
    let out = shipctl(&state, &["run", file.to_str().unwrap()], None).await;
    let stdout = text(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        text(&out.stderr)
    );
    assert!(stdout.contains("succeeded"), "{stdout}");
    // What kubectl would see: the candidate's Deployment at 2 replicas, all the route's
    // traffic on its Service.
    let name = shipcore_driver_k8s::names::object_name("web", &"web-2.0.0".into());
    assert_eq!(deployments(&fake), [(name.clone(), 2)]);
    let route = fake
        .object(
            "gateway.networking.k8s.io/v1",
            "httproutes",
            "default",
            "web",
        )
        .unwrap();
    let refs: Vec<(String, i64)> = route["spec"]["rules"][0]["backendRefs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["name"].as_str().unwrap().to_string(),
                r["weight"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(refs, [(name, 100)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_image_rolls_back_with_exit_1() {
    let (fake, lb) = cluster().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("rollout.yaml");
    std::fs::write(&file, rollout(&lb.kubeconfig, "registry/web:bad", "")).unwrap();
    let out = shipctl(
        &dir.path().join("state"),
        &["run", file.to_str().unwrap()],
        None,
    )
    .await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    // Nothing of the candidate is left.
    assert_eq!(deployments(&fake), []);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_k8s_section_exits_2_naming_the_field_and_changes_nothing() {
    let (fake, lb) = cluster().await;
    let dir = tempfile::tempdir().unwrap();
    let good = rollout(&lb.kubeconfig, "registry/web:2.0.0", "");
    for (from, to, field) in [
        // Refused by the driver's own K8sConfig::validate.
        (
            "parent_refs: [{name: public}]",
            "parent_refs: []",
            "driver.k8s.route.owned.parent_refs",
        ),
        (
            "target_port: 8080",
            "container: web",
            "driver.k8s.container",
        ),
        // Refused by the typed pod template (k8s-openapi).
        (
            "ports: [{containerPort: 8080}]",
            "ports: [{containerPort: http}]",
            "driver.k8s.pod_template.spec.containers[0].ports[0].containerPort",
        ),
        // Unknown fields of the section.
        (
            "retire_delay: 0s",
            "retire_dely: 0s",
            "driver.k8s.retire_dely",
        ),
        // Where the cluster is.
        (
            &format!("kubeconfig: '{}'", lb.kubeconfig.display()),
            "kubeconfig: missing/kubeconfig",
            "driver.k8s.kubeconfig",
        ),
    ] {
        assert!(good.contains(from), "{from}");
        let file = dir.path().join("bad.yaml");
        std::fs::write(&file, good.replace(from, to)).unwrap();
        for cmd in ["plan", "run"] {
            let out = shipctl(
                &dir.path().join("state"),
                &[cmd, file.to_str().unwrap()],
                None,
            )
            .await;
            let stderr = text(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{cmd} {to}: {stderr}");
            assert!(
                stderr.contains(&format!(": {field}: ")),
                "{cmd} {to}: wanted {field} in {stderr}"
            );
            assert!(stderr.contains("bad.yaml:"), "{stderr}");
        }
    }
    assert_eq!(deployments(&fake), []);
}

/// The example files with `driver: {k8s: ...}` plan against the fake apiserver, found
/// through KUBECONFIG as kubectl would find it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_k8s_example_plans_on_the_fake_apiserver() {
    let (fake, lb) = cluster().await;
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/rollouts/k8s");
    let mut n = 0;
    for e in std::fs::read_dir(&dir).unwrap() {
        let path = e.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("yaml") {
            continue;
        }
        n += 1;
        let state = tempfile::tempdir().unwrap();
        let out = shipctl(
            state.path(),
            &["plan", path.to_str().unwrap()],
            Some(&lb.kubeconfig),
        )
        .await;
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}: {}",
            path.display(),
            text(&out.stderr)
        );
        assert!(text(&out.stdout).contains("Dry run: nothing was applied."));
    }
    assert!(n >= 1);
    let all: Vec<Value> = fake.objects("apps/v1", "deployments", None);
    assert!(all.is_empty(), "plan applied {all:?}");
}
