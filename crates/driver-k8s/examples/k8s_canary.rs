//! A bad canary, then a good one, through the Kubernetes driver on the fake apiserver (no
//! cluster needed), printing what `kubectl` would see after each rollout.
//!
//! `cargo run -p shipcore-driver-k8s --features testing --example k8s_canary`

use serde_json::{json, Value};
use shipcore::clock::SystemClock;
use shipcore::driver::Driver;
use shipcore::engine::{RolloutSpec, Runner};
use shipcore::journal::MemoryJournal;
use shipcore::model::{Action, Revision, Target};
use shipcore::strategy::{PlanContext, Strategy, StrategyConfig};
use shipcore_driver_k8s::fake::{ControllerSettings, FakeApiServer};
use shipcore_driver_k8s::{K8sConfig, K8sDriver, ParentRef, RouteConfig};
use std::sync::Arc;
use std::time::Duration;

type Res<T> = Result<T, Box<dyn std::error::Error>>;

#[tokio::main]
async fn main() -> Res<()> {
    let fake = FakeApiServer::new();
    // Pods get ready 100 ms after a change; an image containing "broken" never does and
    // its Deployment ends ProgressDeadlineExceeded (60 s scaled by 0.01: 0.6 s).
    fake.set_controller(ControllerSettings {
        ready_after: Duration::from_millis(100),
        bad_images: vec!["broken".into()],
        observe_lag: Duration::from_millis(10),
        deadline_scale: 0.01,
    });
    let cfg = K8sConfig::for_container("app", 8080)
        .progress_deadline(Duration::from_secs(60))
        .retire_delay(Duration::from_millis(50))
        .route(RouteConfig::Owned {
            name: "web".into(),
            parent_refs: vec![ParentRef::gateway("public")],
            hostnames: vec!["web.example.com".into()],
            matches: vec![],
        });
    let driver = Arc::new(K8sDriver::new(fake.client(), cfg)?);
    let target = Target::new("web", "production");
    let v1 = Revision::new("1.0.0", "1.0.0".parse()?, "registry.local/web:1.0.0");
    driver
        .apply(
            &target,
            &Action::Deploy {
                revision: v1.clone(),
                replicas: 4,
            },
        )
        .await?;
    while driver.observe(&target).await?.ready_of(&v1.id) < 4 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    println!("== stable 1.0.0 running");
    kubectl(&fake);

    let bad = Revision::new("2.0.0", "2.0.0".parse()?, "registry.local/web:2.0.0-broken");
    rollout(&driver, &target, &v1, &bad, "canary-bad").await?;
    kubectl(&fake);

    let good = Revision::new("2.0.1", "2.0.1".parse()?, "registry.local/web:2.0.1");
    rollout(&driver, &target, &v1, &good, "canary-good").await?;
    kubectl(&fake);
    Ok(())
}

async fn rollout(
    driver: &Arc<K8sDriver>,
    target: &Target,
    stable: &Revision,
    candidate: &Revision,
    id: &str,
) -> Res<()> {
    let canary: StrategyConfig = StrategyConfig::Canary(serde_json::from_value(json!({
        "steps": [{"set_weight": 25}, {"pause": "200ms"}, {"set_weight": 50}, {"pause": "200ms"}],
        "scale_down_delay": "0s"
    }))?);
    let ctx = PlanContext {
        target: target.clone(),
        stable: Some(stable.clone()),
        candidate: candidate.clone(),
        replicas: 4,
        capabilities: driver.capabilities(),
    };
    let plan = canary.plan(&ctx)?;
    let mut spec = RolloutSpec::new(
        id,
        target.clone(),
        Some(stable.clone()),
        candidate.clone(),
        plan,
    );
    spec.poll_interval = Duration::from_millis(20);
    spec.progress_deadline = Duration::from_secs(10);
    spec.retry.initial_backoff = Duration::from_millis(20);
    println!("\n== {id}: {} -> {}", stable.artifact, candidate.artifact);
    let dyn_driver: Arc<dyn Driver> = driver.clone();
    let mut runner = Runner::builder(
        dyn_driver,
        Arc::new(SystemClock),
        Arc::new(MemoryJournal::new()),
    )
    .on_event(|e| {
        if let shipcore::engine::EventKind::ActionRequested { action, .. } = &e.kind {
            println!("   engine: {}", action.describe());
        }
    })
    .build();
    let report = runner.start(spec).await?;
    println!(
        "   ended {:?}: {}",
        report.status.phase,
        report.status.reason.unwrap_or_default()
    );
    Ok(())
}

/// `kubectl get deploy,svc,httproute` as text.
fn kubectl(fake: &FakeApiServer) {
    println!("$ kubectl get deployments");
    println!("   {:<28} {:>5} {:>9}  IMAGE", "NAME", "READY", "AVAILABLE");
    for d in fake.objects("apps/v1", "deployments", Some("default")) {
        let s = |p: &str| d.pointer(p).and_then(Value::as_i64).unwrap_or(0);
        println!(
            "   {:<28} {:>2}/{:<2} {:>9}  {}",
            d["metadata"]["name"].as_str().unwrap_or(""),
            s("/status/readyReplicas"),
            s("/spec/replicas"),
            s("/status/availableReplicas"),
            d.pointer("/spec/template/spec/containers/0/image")
                .and_then(Value::as_str)
                .unwrap_or("")
        );
    }
    let svcs: Vec<String> = fake
        .objects("v1", "services", Some("default"))
        .iter()
        .filter_map(|s| s["metadata"]["name"].as_str().map(str::to_string))
        .collect();
    println!("$ kubectl get services -o name\n   {}", svcs.join(" "));
    if let Some(r) = fake.object(
        "gateway.networking.k8s.io/v1",
        "httproutes",
        "default",
        "web",
    ) {
        println!("$ kubectl get httproute web -o jsonpath='{{.spec.rules[0].backendRefs}}'");
        for b in r["spec"]["rules"][0]["backendRefs"]
            .as_array()
            .cloned()
            .unwrap_or_default()
        {
            println!(
                "   {} weight={}",
                b["name"].as_str().unwrap_or(""),
                b["weight"]
            );
        }
    }
}
