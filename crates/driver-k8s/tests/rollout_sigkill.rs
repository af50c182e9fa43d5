//! SIGKILL + resume on the fake apiserver: a child process (this test binary re-executed
//! with `SHIPCORE_K8S_SIGKILL_CHILD` set, running only `child_runs_a_canary`) runs a Gateway
//! canary with a `K8sDriver` connected through the loopback fake's kubeconfig and a
//! `FileJournal`; the parent SIGKILLs it once the candidate holds 25 % of the HTTPRoute,
//! then resumes the rollout in-process from the journal against the same fake and checks
//! the end state: all traffic and replicas on the candidate, the stable retired, no
//! duplicate object, and a journal that resumes again to the same finished rollout.
#![allow(clippy::unwrap_used)]

mod rollout_support;

use rollout_support::*;
use serde_json::json;
use shipcore::engine::Phase;
use shipcore_driver_k8s::{K8sConfig, K8sDriver, ParentRef, RouteConfig};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Set in the child: `<kubeconfig>` and `<journal>` separated by a newline.
const CHILD_ENV: &str = "SHIPCORE_K8S_SIGKILL_CHILD";

/// The driver configuration of `rollout_support::env(true)`, for the child's own driver.
fn config() -> K8sConfig {
    K8sConfig::for_container("app", 8080)
        .retire_delay(Duration::from_millis(20))
        .progress_deadline(Duration::from_secs(60))
        .route(RouteConfig::Owned {
            name: "web".into(),
            parent_refs: vec![ParentRef::gateway("public")],
            hostnames: vec!["web.example.com".into()],
            matches: vec![],
        })
}

fn v1() -> shipcore::model::Revision {
    rev("v1", "1.0.0", "registry/web:1.0.0")
}

fn v2() -> shipcore::model::Revision {
    rev("v2", "2.0.0", "registry/web:2.0.0")
}

/// The child's entry point; a no-op in an ordinary test run.
#[test]
fn child_runs_a_canary() {
    let Ok(args) = std::env::var(CHILD_ENV) else {
        return;
    };
    let (kubeconfig, journal) = args.split_once('\n').unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let kc = kube::config::Kubeconfig::read_from(kubeconfig).unwrap();
        let cfg = kube::Config::from_custom_kubeconfig(kc, &Default::default())
            .await
            .unwrap();
        let env = Env {
            // Only `spec` and `runner` use this Env: its fake is never read.
            fake: shipcore_driver_k8s::fake::FakeApiServer::new(),
            driver: Arc::new(K8sDriver::from_kube_config(cfg, config()).unwrap()),
            target: shipcore::model::Target::new("web", "production"),
        };
        // Long pauses: the parent kills this process during the first one.
        let strategy = canary(json!({
            "steps": [{"set_weight": 25}, {"pause": "2s"}, {"set_weight": 50}, {"pause": "300ms"}],
            "scale_down_delay": "0s"
        }));
        let s = spec("sigkill", &env, Some(v1()), v2(), 4, &strategy);
        let report = runner(&env, Path::new(journal)).start(s).await.unwrap();
        // Reaching here means the parent did not kill us in time: it fails on our exit code.
        eprintln!("child finished unkilled: {:?}", report.status.phase);
        std::process::exit(3);
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sigkilled_canary_resumes_from_its_journal_to_the_same_end_state() {
    let env = env(true);
    let lb = env.fake.serve().await.unwrap();
    seed(&env, &v1(), 4).await;
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("journal");

    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "child_runs_a_canary",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(
            CHILD_ENV,
            format!("{}\n{}", lb.kubeconfig.display(), journal.display()),
        )
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();

    // Kill once the candidate takes a quarter of the traffic (mid-canary, in the pause).
    let start = Instant::now();
    while !kubectl(&env).1.contains(&("web-v2".to_string(), 25)) {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("the child exited before the kill: {status}");
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the canary never reached 25 %: {:?}",
            kubectl(&env)
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    child.kill().unwrap(); // SIGKILL on Unix
    let status = child.wait().unwrap();
    assert!(!status.success(), "{status}");
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(status.signal(), Some(9), "killed by SIGKILL: {status}");
    }
    let lines = std::fs::read_to_string(&journal).unwrap().lines().count();
    assert!(lines > 0, "the child journaled nothing");
    // Killed mid-canary: both revisions are up, the route splits 75/25.
    let (deploys, weights) = kubectl(&env);
    assert_eq!(deploys.len(), 2, "{deploys:?}");
    assert_eq!(
        weights,
        vec![("web-v1".to_string(), 75), ("web-v2".to_string(), 25)],
        "{weights:?}"
    );

    // A new process: a new driver on the same cluster, a new runner on the same journal.
    let env2 = Env {
        fake: env.fake.clone(),
        driver: Arc::new(K8sDriver::new(env.fake.client(), config()).unwrap()),
        target: env.target.clone(),
    };
    let report = tokio::time::timeout(Duration::from_secs(30), runner(&env2, &journal).resume())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(report.status.phase, Phase::Succeeded, "{:?}", report.status);
    let v1 = v1();
    let v2 = v2();
    let fleet = wait_fleet(&env2, |f| f.get(&v1.id).is_none()).await;
    assert_eq!(fleet.ready_of(&v2.id), 4, "{fleet:?}");
    assert_eq!(fleet.weight_of(&v2.id), 100, "{fleet:?}");
    assert_eq!(
        kubectl(&env2),
        (
            vec![("web-v2".to_string(), 4)],
            vec![("web-v2".to_string(), 100)]
        )
    );
    // No duplicate or leftover object: one Deployment, one Service, one HTTPRoute.
    let names = |plural: &str, api: &str| -> Vec<String> {
        env.fake
            .objects(api, plural, Some("default"))
            .iter()
            .map(|o| o["metadata"]["name"].as_str().unwrap_or("").to_string())
            .collect()
    };
    assert_eq!(names("deployments", "apps/v1"), vec!["web-v2"]);
    assert_eq!(names("services", "v1"), vec!["web-v2"]);
    assert_eq!(
        names("httproutes", "gateway.networking.k8s.io/v1"),
        vec!["web"]
    );
    assert!(std::fs::read_to_string(&journal).unwrap().lines().count() > lines);

    // The journal still resumes: to the same finished rollout, with nothing re-applied.
    env.fake.clear_requests();
    let again = tokio::time::timeout(Duration::from_secs(30), runner(&env2, &journal).resume())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(again.status.phase, Phase::Succeeded);
    assert_eq!(again.status.steps, report.status.steps);
    let writes: Vec<_> = env
        .fake
        .requests()
        .into_iter()
        .filter(|r| r.method != http::Method::GET)
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    assert!(
        writes.is_empty(),
        "a finished rollout wrote again: {writes:?}"
    );
    drop(lb);
}
