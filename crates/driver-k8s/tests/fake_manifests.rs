//! `dump_manifests` writes what the fake holds as manifests that
//! `scripts/ci/k8s-validate.sh` (kubernetes-validate --strict, Kubernetes 1.33) accepts,
//! and the script rejects an invalid one. Skips with a printed reason when
//! kubernetes-validate is missing, unless SHIPCORE_E2E=1.

use std::path::{Path, PathBuf};
use std::process::Command;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Service;
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;
use shipcore_driver_k8s::fake::FakeApiServer;

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/ci/k8s-validate.sh")
}

fn validator_present() -> bool {
    let found = Command::new("sh")
        .args(["-c", "command -v kubernetes-validate"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        if std::env::var("SHIPCORE_E2E").as_deref() == Ok("1") {
            panic!("SHIPCORE_E2E=1 but kubernetes-validate is missing (pip install kubernetes-validate)");
        }
        eprintln!(
            "skipping: kubernetes-validate not found (set SHIPCORE_E2E=1 to make this a failure)"
        );
    }
    found
}

#[tokio::test]
async fn dumped_manifests_are_valid_for_kubernetes_1_33_strict() {
    let fake = FakeApiServer::new();
    let deployments: Api<Deployment> = Api::default_namespaced(fake.client());
    let services: Api<Service> = Api::default_namespaced(fake.client());
    let d: Deployment = serde_json::from_value(json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web-2-0-0", "labels": {"app.kubernetes.io/managed-by": "shipcore"}},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}},
                              "spec": {"containers": [{"name": "app", "image": "web:2", "ports": [{"containerPort": 8080}]}]}}}
    }))
    .expect("deployment");
    deployments
        .patch(
            "web-2-0-0",
            &PatchParams::apply("shipcore"),
            &Patch::Apply(d),
        )
        .await
        .expect("apply");
    let s: Service = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "web-2-0-0"},
        "spec": {"selector": {"app": "web"}, "ports": [{"name": "http", "port": 80, "targetPort": 8080}]}
    }))
    .expect("service");
    services
        .patch(
            "web-2-0-0",
            &PatchParams::apply("shipcore"),
            &Patch::Apply(s),
        )
        .await
        .expect("apply svc");

    let dir = tempfile::tempdir().expect("tempdir");
    let files = fake.dump_manifests(dir.path()).expect("dump");
    assert_eq!(files.len(), 2, "{files:?}");
    let text = std::fs::read_to_string(&files[0]).expect("read");
    assert!(
        !text.contains("status:") && !text.contains("resourceVersion"),
        "{text}"
    );

    if !validator_present() {
        return;
    }
    let out = Command::new("bash")
        .arg(script())
        .arg(dir.path())
        .output()
        .expect("run script");
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{log}");
    assert!(log.contains("2 manifest(s), 0 invalid"), "{log}");

    // The script does fail on an invalid manifest.
    std::fs::write(
        dir.path().join("broken.yaml"),
        text.replace("replicas:", "replicaz:"),
    )
    .expect("write");
    let out = Command::new("bash")
        .arg(script())
        .arg(dir.path())
        .output()
        .expect("run script");
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!out.status.success(), "{log}");
    assert!(
        log.contains("INVALID") && log.contains("broken.yaml"),
        "{log}"
    );
}
