//! The manifests the DRIVER writes during a whole rollout are valid Kubernetes 1.33 objects
//! (`kubernetes-validate --strict` through `scripts/ci/k8s-validate.sh`): a Gateway canary
//! on the fake apiserver, its Deployments and Services dumped at the midpoint (both
//! revisions up, the route split) and at the end. The dumps go to `$SHIPCORE_K8S_MANIFESTS`
//! (`mid/` and `end/` under it, kept for CI to inspect) or to a temporary directory. Skips the
//! validation with a printed reason when kubernetes-validate is missing, unless
//! SHIPCORE_E2E=1 (then that is a failure).
#![allow(clippy::unwrap_used)]

mod rollout_support;

use rollout_support::*;
use serde_json::json;
use shipcore::engine::Phase;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

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
            "skipping the validation: kubernetes-validate not found (set SHIPCORE_E2E=1 to make this a failure)"
        );
    }
    found
}

/// Dumps what the fake holds into `dir` (emptied first) and returns the file names.
fn dump(env: &Env, dir: &Path) -> Vec<String> {
    if dir.exists() {
        std::fs::remove_dir_all(dir).unwrap();
    }
    std::fs::create_dir_all(dir).unwrap();
    let mut names: Vec<String> = env
        .fake
        .dump_manifests(dir)
        .unwrap()
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Runs the validation script on `dir`; asserts it accepts all `count` manifests.
fn validate(dir: &Path, count: usize) {
    let out = Command::new("bash")
        .arg(script())
        .arg(dir)
        .output()
        .unwrap();
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("{log}");
    assert!(out.status.success(), "{}: {log}", dir.display());
    assert!(
        log.contains(&format!("{count} manifest(s), 0 invalid")),
        "{log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_manifests_the_driver_writes_in_a_canary_are_valid_kubernetes_1_33() {
    let env = env(true);
    let v1 = rev("v1", "1.0.0", "registry/web:1.0.0");
    let v2 = rev("v2", "2.0.0", "registry/web:2.0.0");
    seed(&env, &v1, 3).await;
    let strategy = canary(json!({
        "steps": [{"set_weight": 25}, {"pause": "500ms"}, {"set_weight": 50}, {"pause": "50ms"}],
        "scale_down_delay": "0s"
    }));
    let s = spec("manifests", &env, Some(v1), v2, 3, &strategy);
    let tmp = tempfile::tempdir().unwrap();
    let root = std::env::var_os("SHIPCORE_K8S_MANIFESTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| tmp.path().to_path_buf());
    let journal = tmp.path().join("journal");
    let mut r = runner(&env, &journal);
    let task = tokio::spawn(async move { r.start(s).await });

    // Midpoint: the candidate holds a quarter of the traffic, both revisions are up.
    let start = Instant::now();
    while !kubectl(&env).1.contains(&("web-v2".to_string(), 25)) {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "the canary never reached 25 %: {:?}",
            kubectl(&env)
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let mid = root.join("mid");
    let mid_files = dump(&env, &mid);
    assert_eq!(
        mid_files.len(),
        4,
        "two Deployments, two Services: {mid_files:?}"
    );
    for name in ["web-v1", "web-v2"] {
        assert!(
            mid_files.iter().filter(|f| f.contains(name)).count() == 2,
            "{name}: {mid_files:?}"
        );
    }

    let report = tokio::time::timeout(Duration::from_secs(30), task)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(report.status.phase, Phase::Succeeded, "{:?}", report.status);
    let end = root.join("end");
    let end_files = dump(&env, &end);
    assert_eq!(
        end_files.len(),
        2,
        "the candidate's Deployment and Service: {end_files:?}"
    );
    assert!(
        end_files.iter().all(|f| f.contains("web-v2")),
        "{end_files:?}"
    );
    // The dumps are what the driver wrote, without the server's fields.
    for f in mid_files.iter().map(|f| mid.join(f)) {
        let text = std::fs::read_to_string(&f).unwrap();
        assert!(text.contains("shipcore"), "{}: {text}", f.display());
        assert!(
            !text.contains("resourceVersion") && !text.contains("status:"),
            "{}: {text}",
            f.display()
        );
    }

    if !validator_present() {
        return;
    }
    validate(&mid, 4);
    validate(&end, 2);
}
