//! The shared driver conformance suite (`shipcore::testing::conformance`) against the
//! Compose driver on the real compose CLI and engine: once without a router (side by side
//! only: `Route` and `SetFlag` must be refused permanently) and once with HAProxy in front
//! (weighted traffic: routes are observed back). The suite polls `observe` in real time.
//!
//! Runs only with SHIPCORE_E2E=1 (fails loudly if a part is missing); skipped otherwise.
#![allow(clippy::unwrap_used)]

mod support;

use shipcore::driver::Driver;
use shipcore::model::{Revision, Target};
use shipcore::testing::{conformance, Conformance};
use shipcore_driver_compose::ComposeDriver;
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::Project;

fn revisions(images: &support::Images) -> (Revision, Revision) {
    (
        Revision::new("v1", "1.0.0".parse().unwrap(), images.v1.clone()),
        Revision::new("v2", "2.0.0".parse().unwrap(), images.v2.clone()),
    )
}

fn suite<'a>(driver: &'a dyn Driver, images: &support::Images) -> Conformance<'a> {
    let (v1, v2) = revisions(images);
    Conformance::new(driver, Target::new("web", "e2e"), v1, v2)
        .with_deadline(Duration::from_secs(90), Duration::from_millis(300))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_compose_driver_without_a_router_conforms() {
    let Some(env) = support::env("the_compose_driver_without_a_router_conforms").await else {
        return;
    };
    let images = support::images(&env);
    let project = Project::web(&env, "conform", &images.v1);
    let driver = ComposeDriver::new(project.config()).unwrap();
    let caps = driver.capabilities();
    assert!(!caps.weighted_traffic && !caps.feature_flags && caps.side_by_side);
    let started = Instant::now();
    conformance::run_all(&suite(&driver, &images)).await;
    eprintln!("conformance without a router: {:?}", started.elapsed());
    assert!(
        project.container_names().is_empty(),
        "the suite retires what it deployed: {:?}",
        project.container_names()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_compose_driver_with_haproxy_conforms() {
    let Some(env) = support::env("the_compose_driver_with_haproxy_conforms").await else {
        return;
    };
    let images = support::images(&env);
    let project = Project::web(&env, "conformrt", &images.v1);
    // Two revisions of up to 3 replicas each, with room to spare.
    let proxy = support::haproxy(&env, project.dir.path(), 12).await;
    let driver = ComposeDriver::new(project.config())
        .unwrap()
        .with_router(Arc::new(proxy.router()));
    let caps = driver.capabilities();
    assert!(caps.weighted_traffic && caps.side_by_side && !caps.feature_flags);
    driver.validate().await.unwrap();
    let started = Instant::now();
    conformance::run_all(&suite(&driver, &images)).await;
    eprintln!("conformance with HAProxy: {:?}", started.elapsed());
    assert!(
        project.container_names().is_empty(),
        "the suite retires what it deployed: {:?}",
        project.container_names()
    );
}
