//! The shipcore driver conformance suite against the fake apiserver, with an owned route
//! (weighted traffic) and without one (replica-ratio traffic behind the apex Service).
#![allow(clippy::unwrap_used)]

use shipcore::model::{Revision, Target};
use shipcore::testing::{conformance, Conformance};
use shipcore_driver_k8s::fake::FakeApiServer;
use shipcore_driver_k8s::{K8sConfig, K8sDriver, ParentRef, RouteConfig};
use std::time::Duration;

fn revisions() -> (Revision, Revision) {
    (
        Revision::new("conf-1.0.0", "1.0.0".parse().unwrap(), "registry/web:1.0.0"),
        Revision::new("conf-2.0.0", "2.0.0".parse().unwrap(), "registry/web:2.0.0"),
    )
}

async fn run(cfg: K8sConfig) {
    let fake = FakeApiServer::new();
    let driver = K8sDriver::new(fake.client(), cfg.retire_delay(Duration::ZERO)).unwrap();
    let (a, b) = revisions();
    let suite = Conformance::new(&driver, Target::new("web", "conformance"), a, b)
        .with_deadline(Duration::from_secs(20), Duration::from_millis(20));
    conformance::run_all(&suite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_with_an_owned_route() {
    run(
        K8sConfig::for_container("app", 8080).route(RouteConfig::Owned {
            name: "web".into(),
            parent_refs: vec![ParentRef::gateway("gw")],
            hostnames: vec!["web.example".into()],
            matches: vec![],
        }),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_without_a_route() {
    run(K8sConfig::for_container("app", 8080)).await;
}
