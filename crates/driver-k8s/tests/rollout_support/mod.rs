//! Whole shipcore rollouts on the fake apiserver: a driver on the fake, a stable revision
//! seeded ready, specs planned by the built-in strategies with millisecond pauses, runners
//! on the system clock with a file journal, and "what kubectl would see".
#![allow(dead_code, clippy::unwrap_used)]

use serde_json::Value;
use shipcore::clock::SystemClock;
use shipcore::driver::Driver;
use shipcore::engine::{RolloutSpec, RunReport, Runner};
use shipcore::journal::FileJournal;
use shipcore::model::{Action, FleetState, Revision, Target};
use shipcore::strategy::{PlanContext, Strategy, StrategyConfig};
use shipcore_driver_k8s::fake::{ControllerSettings, FakeApiServer};
use shipcore_driver_k8s::{K8sConfig, K8sDriver, ParentRef, RouteConfig};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

pub struct Env {
    pub fake: FakeApiServer,
    pub driver: Arc<K8sDriver>,
    pub target: Target,
}

pub fn rev(id: &str, version: &str, image: &str) -> Revision {
    Revision::new(id, version.parse().unwrap(), image)
}

/// A fake whose controller makes pods ready after 50 ms, never for images containing
/// "bad" (their Deployments end ProgressDeadlineExceeded after 60 s × 0.01 = 0.6 s).
pub fn env(routed: bool) -> Env {
    let fake = FakeApiServer::new();
    fake.set_controller(ControllerSettings {
        ready_after: Duration::from_millis(50),
        bad_images: vec!["bad".into()],
        observe_lag: Duration::from_millis(10),
        deadline_scale: 0.01,
    });
    let mut cfg = K8sConfig::for_container("app", 8080)
        .retire_delay(Duration::from_millis(20))
        .progress_deadline(Duration::from_secs(60));
    if routed {
        cfg = cfg.route(RouteConfig::Owned {
            name: "web".into(),
            parent_refs: vec![ParentRef::gateway("public")],
            hostnames: vec!["web.example.com".into()],
            matches: vec![],
        });
    }
    let driver = Arc::new(K8sDriver::new(fake.client(), cfg).unwrap());
    Env {
        fake,
        driver,
        target: Target::new("web", "production"),
    }
}

/// Polls `observe` until `done` holds (10 s at most).
pub async fn wait_fleet(env: &Env, done: impl Fn(&FleetState) -> bool) -> FleetState {
    let start = std::time::Instant::now();
    loop {
        let f = env.driver.observe(&env.target).await.unwrap();
        if done(&f) {
            return f;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "fleet never converged: {f:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Deploys `stable` with `replicas` and waits until it serves all the traffic.
pub async fn seed(env: &Env, stable: &Revision, replicas: u32) {
    env.driver
        .apply(
            &env.target,
            &Action::Deploy {
                revision: stable.clone(),
                replicas,
            },
        )
        .await
        .unwrap();
    wait_fleet(env, |f| {
        f.ready_of(&stable.id) == replicas && f.weight_of(&stable.id) == 100
    })
    .await;
}

/// A spec for `strategy`, polling every 20 ms, a 10 s progress deadline, quick retries.
pub fn spec(
    id: &str,
    env: &Env,
    stable: Option<Revision>,
    candidate: Revision,
    replicas: u32,
    strategy: &StrategyConfig,
) -> RolloutSpec {
    let ctx = PlanContext {
        target: env.target.clone(),
        stable: stable.clone(),
        candidate: candidate.clone(),
        replicas,
        capabilities: env.driver.capabilities(),
    };
    let plan = strategy
        .plan(&ctx)
        .unwrap_or_else(|e| panic!("planning {}: {e}", strategy.name()));
    let mut spec = RolloutSpec::new(id, env.target.clone(), stable, candidate, plan);
    spec.poll_interval = Duration::from_millis(20);
    spec.progress_deadline = Duration::from_secs(10);
    spec.retry.initial_backoff = Duration::from_millis(20);
    spec.retry.max_backoff = Duration::from_millis(200);
    spec
}

pub fn runner(env: &Env, journal: &Path) -> Runner {
    let journal = FileJournal::open(journal).unwrap();
    let driver: Arc<dyn Driver> = env.driver.clone();
    Runner::builder(driver, Arc::new(SystemClock), Arc::new(journal)).build()
}

pub async fn run(env: &Env, spec: RolloutSpec) -> RunReport {
    let dir = tempfile::tempdir().unwrap();
    let mut r = runner(env, &dir.path().join("journal"));
    tokio::time::timeout(Duration::from_secs(30), r.start(spec))
        .await
        .unwrap()
        .unwrap()
}

/// Deployment names with their replicas, and the route's backendRefs (name=weight), as
/// `kubectl get deploy` and `kubectl get httproute -o yaml` would show them.
/// (name, count) pairs.
pub type Named = Vec<(String, i64)>;

pub fn kubectl(env: &Env) -> (Named, Named) {
    let deploys = env
        .fake
        .objects("apps/v1", "deployments", Some("default"))
        .iter()
        .map(|d| {
            (
                d["metadata"]["name"].as_str().unwrap_or("").to_string(),
                d["spec"]["replicas"].as_i64().unwrap_or(0),
            )
        })
        .collect();
    let refs = env
        .fake
        .object(
            "gateway.networking.k8s.io/v1",
            "httproutes",
            "default",
            "web",
        )
        .map(|r| backend_weights(&r))
        .unwrap_or_default();
    (deploys, refs)
}

pub fn backend_weights(route: &Value) -> Vec<(String, i64)> {
    route["spec"]["rules"][0]["backendRefs"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|b| {
            (
                b["name"].as_str().unwrap_or("").to_string(),
                b["weight"].as_i64().unwrap_or(1),
            )
        })
        .collect()
}

pub fn canary(json: Value) -> StrategyConfig {
    StrategyConfig::Canary(serde_json::from_value(json).unwrap())
}
