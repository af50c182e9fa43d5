//! The real-cluster suite: the conformance suite (with an owned HTTPRoute when the Gateway
//! API is served, and without a route) and a replica-ratio canary, in a namespace of its
//! own that is deleted afterwards. Runs only with `SHIPCORE_K8S_E2E=1` and `KUBECONFIG`
//! set; says why it skipped otherwise. `SHIPCORE_K8S_IMAGE` picks the image (default
//! `registry.k8s.io/pause:3.10`, which becomes ready without probes).
#![allow(clippy::unwrap_used)]

use k8s_openapi::api::core::v1::Namespace;
use kube::api::{DeleteParams, PostParams};
use kube::Api;
use shipcore::driver::Driver;
use shipcore::model::{Revision, Target};
use shipcore::testing::{conformance, Conformance};
use shipcore_driver_k8s::{K8sConfig, K8sDriver, ParentRef, RouteConfig};
use std::time::Duration;

fn skip_reason() -> Option<String> {
    if std::env::var("SHIPCORE_K8S_E2E").as_deref() != Ok("1") {
        return Some("SHIPCORE_K8S_E2E is not 1".into());
    }
    if std::env::var_os("KUBECONFIG").is_none() {
        return Some("KUBECONFIG is not set".into());
    }
    None
}

async fn in_namespace<F, Fut>(name: &str, body: F)
where
    F: FnOnce(String) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let client = kube::Client::try_default().await.unwrap();
    let ns = format!("shipcore-e2e-{name}-{}", std::process::id());
    let api: Api<Namespace> = Api::all(client);
    let mut obj = Namespace::default();
    obj.metadata.name = Some(ns.clone());
    api.create(&PostParams::default(), &obj).await.unwrap();
    let outcome = tokio::spawn(body(ns.clone())).await;
    let _ = api.delete(&ns, &DeleteParams::background()).await;
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
}

fn image() -> String {
    std::env::var("SHIPCORE_K8S_IMAGE").unwrap_or_else(|_| "registry.k8s.io/pause:3.10".into())
}

async fn driver(ns: &str, routed: bool) -> K8sDriver {
    let mut cfg = K8sConfig::for_container("app", 8080)
        .namespace(ns)
        .retire_delay(Duration::from_secs(1))
        .progress_deadline(Duration::from_secs(120));
    if routed {
        cfg = cfg.route(RouteConfig::Owned {
            name: "web".into(),
            parent_refs: vec![ParentRef::gateway("shipcore-e2e")],
            hostnames: vec![],
            matches: vec![],
        });
    }
    K8sDriver::connect(cfg).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_on_a_real_cluster() {
    if let Some(why) = skip_reason() {
        eprintln!("skipped conformance_on_a_real_cluster: {why}");
        return;
    }
    in_namespace("conf", |ns| async move {
        let client = kube::Client::try_default().await.unwrap();
        let gateway = client
            .list_api_group_resources("gateway.networking.k8s.io/v1")
            .await
            .is_ok_and(|l| l.resources.iter().any(|r| r.name == "httproutes"));
        let mut modes = vec![false];
        if gateway {
            modes.push(true);
        } else {
            eprintln!("Gateway API not served: the routed conformance run is skipped");
        }
        for routed in modes {
            let d = driver(&ns, routed).await;
            let v1 = Revision::new("conf-v1", "1.0.0".parse().unwrap(), image());
            let v2 = Revision::new("conf-v2", "2.0.0".parse().unwrap(), image());
            let target = Target {
                namespace: Some(ns.clone()),
                ..Target::new("web", "e2e")
            };
            d.preflight(&target, &v1).await.unwrap();
            let suite = Conformance::new(&d, target, v1, v2)
                .with_replicas(1)
                .with_deadline(Duration::from_secs(180), Duration::from_millis(500));
            conformance::run_all(&suite).await;
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_canary_rolls_back_on_a_real_cluster() {
    if let Some(why) = skip_reason() {
        eprintln!("skipped a_bad_canary_rolls_back_on_a_real_cluster: {why}");
        return;
    }
    in_namespace("canary", |ns| async move {
        use shipcore::engine::{Phase, RolloutSpec, Runner};
        use shipcore::model::Action;
        use shipcore::strategy::{PlanContext, Strategy, StrategyConfig};
        use std::sync::Arc;
        let cfg = K8sConfig::for_container("app", 8080)
            .namespace(&ns)
            .retire_delay(Duration::from_secs(1))
            .progress_deadline(Duration::from_secs(30));
        let d = Arc::new(K8sDriver::connect(cfg).await.unwrap());
        let target = Target { namespace: Some(ns.clone()), ..Target::new("web", "e2e") };
        let v1 = Revision::new("v1", "1.0.0".parse().unwrap(), image());
        let bad = Revision::new("v2", "2.0.0".parse().unwrap(), "registry.invalid/shipcore/bad:0");
        d.apply(&target, &Action::Deploy { revision: v1.clone(), replicas: 2 }).await.unwrap();
        let canary: StrategyConfig = StrategyConfig::Canary(
            serde_json::from_value(serde_json::json!({"steps": [{"set_weight": 50}, {"pause": "5s"}], "scale_down_delay": "0s"})).unwrap(),
        );
        let ctx = PlanContext {
            target: target.clone(),
            stable: Some(v1.clone()),
            candidate: bad.clone(),
            replicas: 2,
            capabilities: d.capabilities(),
        };
        let mut spec = RolloutSpec::new("e2e-bad", target.clone(), Some(v1.clone()), bad.clone(), canary.plan(&ctx).unwrap());
        spec.poll_interval = Duration::from_secs(1);
        spec.progress_deadline = Duration::from_secs(180);
        let dyn_driver: Arc<dyn Driver> = d.clone();
        let mut runner = Runner::builder(
            dyn_driver,
            Arc::new(shipcore::clock::SystemClock),
            Arc::new(shipcore::journal::MemoryJournal::new()),
        )
        .build();
        let report = runner.start(spec).await.unwrap();
        assert_eq!(report.status.phase, Phase::RolledBack, "{:?}", report.status);
        let f = d.observe(&target).await.unwrap();
        assert!(f.get(&bad.id).is_none() && f.ready_of(&v1.id) == 2, "{f:?}");
    })
    .await;
}
