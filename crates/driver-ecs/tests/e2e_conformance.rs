//! The driver conformance suite (`shipcore::testing::conformance::run_all`) against the ECS
//! driver on a real moto server, in traffic mode and in native rolling mode. moto is the
//! control plane only: the support module's background task plays ECS's scheduler
//! (registers each service's task IPs in its target group once the driver scales it).
//! Skipped without moto, unless SHIPCORE_E2E=1.
#![allow(clippy::unwrap_used)]

mod support;

use shipcore::model::{Revision, Target};
use shipcore::testing::{conformance, Conformance};
use shipcore_driver_ecs::EcsDriver;
use std::time::{Duration, Instant};

fn revisions() -> (Revision, Revision) {
    (
        Revision::new("conf-v1", "1.0.0".parse().unwrap(), "web:1.0.0"),
        Revision::new("conf-v2", "2.0.0".parse().unwrap(), "web:2.0.0"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traffic_mode_passes_the_conformance_suite_on_moto() {
    let Some(w) = support::World::start().await else {
        return;
    };
    let driver = EcsDriver::new(w.traffic_config().build().unwrap(), &w.sdk);
    let (v1, v2) = revisions();
    let suite = Conformance::new(&driver, Target::new("web", "conformance"), v1, v2)
        .with_deadline(Duration::from_secs(20), Duration::from_millis(200));
    let t = Instant::now();
    conformance::run_all(&suite).await;
    eprintln!(
        "FIGURES conformance (traffic mode) on moto: {:.1} s",
        t.elapsed().as_secs_f64()
    );
    assert!(w.services().await.is_empty(), "{:?}", w.services().await);
    assert!(
        w.target_groups().await.is_empty(),
        "{:?}",
        w.target_groups().await
    );
    assert!(
        w.weights(&w.listener).await.is_empty(),
        "nothing serves: a fixed 503"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn native_rolling_mode_passes_the_conformance_suite_on_moto() {
    let Some(w) = support::World::start().await else {
        return;
    };
    let driver = EcsDriver::new(w.rolling_config().build().unwrap(), &w.sdk);
    let (v1, v2) = revisions();
    let suite = Conformance::new(&driver, Target::new("web", "conformance"), v1, v2)
        .with_deadline(Duration::from_secs(20), Duration::from_millis(200));
    let t = Instant::now();
    conformance::run_all(&suite).await;
    eprintln!(
        "FIGURES conformance (native rolling) on moto: {:.1} s",
        t.elapsed().as_secs_f64()
    );
    assert!(w.services().await.is_empty(), "{:?}", w.services().await);
}
