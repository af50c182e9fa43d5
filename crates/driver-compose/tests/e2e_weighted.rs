//! End to end on real parts: Podman's Docker-compatible socket, docker-compose v2.40 and
//! HAProxy 2.6. Revision v1 x3 is deployed and seen ready; v2 x3 is deployed beside it;
//! traffic moves 0 → 50 → 100 through HAProxy's runtime API while a bounded load loop on
//! loopback counts failed requests; v1 is retired (drained first); v2 is scaled 3 → 1 → 3
//! while it takes all the traffic. The figures are printed.
//!
//! Runs only with SHIPCORE_E2E=1 (fails loudly if a part is missing); skipped otherwise.
#![allow(clippy::unwrap_used)]

mod support;

use shipcore::driver::Driver;
use shipcore::model::{Action, Revision, RevisionId, Target, WeightSet};
use shipcore_driver_compose::router::{Router, ServerState};
use shipcore_driver_compose::ComposeDriver;
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::{Load, Project};

fn rev(id: &str, version: &str, image: &str) -> Revision {
    Revision::new(id, version.parse().unwrap(), image)
}

fn route(pairs: &[(&str, u8)]) -> Action {
    Action::Route {
        weights: WeightSet(
            pairs
                .iter()
                .map(|(r, w)| (RevisionId::new(*r), *w))
                .collect(),
        ),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn side_by_side_weights_shift_through_haproxy_without_failed_requests() {
    let Some(env) =
        support::env("side_by_side_weights_shift_through_haproxy_without_failed_requests").await
    else {
        return;
    };
    let images = support::images(&env);
    let project = Project::web(&env, "weighted", &images.v1);
    let proxy = support::haproxy(&env, project.dir.path(), 12).await;
    let router = Arc::new(proxy.router());
    let driver = ComposeDriver::new(project.config())
        .unwrap()
        .with_router(router.clone());
    let target = Target::new("web", "e2e");
    let caps = driver.capabilities();
    assert!(caps.weighted_traffic && caps.side_by_side && caps.preview && !caps.native_rolling);
    driver.validate().await.unwrap();

    let v1 = rev("v1", "1.0.0", &images.v1);
    let v2 = rev("v2", "2.0.0", &images.v2);
    let started = Instant::now();
    driver
        .apply(
            &target,
            &Action::Deploy {
                revision: v1.clone(),
                replicas: 3,
            },
        )
        .await
        .unwrap();
    let fleet = support::wait_ready(&driver, &target, "v1", 3, Duration::from_secs(60)).await;
    eprintln!("v1 x3 ready in {:?}: {fleet:?}", started.elapsed());
    assert_eq!(
        fleet.weight_of(&v1.id),
        100,
        "the only revision follows its replicas: all traffic"
    );
    // Applying the same deploy again changes nothing (idempotent).
    let names_before = project.container_names();
    driver
        .apply(
            &target,
            &Action::Deploy {
                revision: v1.clone(),
                replicas: 3,
            },
        )
        .await
        .unwrap();
    assert_eq!(project.container_names(), names_before);
    // HAProxy sees three v1 servers up.
    let deadline = Instant::now() + Duration::from_secs(10);
    while router
        .status()
        .await
        .unwrap()
        .iter()
        .filter(|s| s.state == ServerState::Up)
        .count()
        < 3
    {
        assert!(
            Instant::now() < deadline,
            "HAProxy never saw 3 servers up: {:?}",
            router.status().await
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    let load = Load::start(
        proxy.addr(),
        4,
        Duration::from_millis(5),
        200_000,
        Duration::from_secs(240),
    );
    tokio::time::sleep(Duration::from_secs(2)).await;

    // v2 beside v1: it starts dark.
    driver
        .apply(
            &target,
            &Action::Deploy {
                revision: v2.clone(),
                replicas: 3,
            },
        )
        .await
        .unwrap();
    let fleet = support::wait_ready(&driver, &target, "v2", 3, Duration::from_secs(60)).await;
    assert_eq!(
        (fleet.weight_of(&v1.id), fleet.weight_of(&v2.id)),
        (100, 0),
        "{fleet:?}"
    );
    assert_eq!(fleet.ready_of(&v1.id), 3);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let dark = load.snapshot();
    assert_eq!(
        dark.version("2.0.0"),
        0,
        "v2 took traffic before any Route: {dark:?}"
    );

    // 50 / 50.
    driver
        .apply(&target, &route(&[("v1", 50), ("v2", 50)]))
        .await
        .unwrap();
    let fleet = driver.observe(&target).await.unwrap();
    assert_eq!((fleet.weight_of(&v1.id), fleet.weight_of(&v2.id)), (50, 50));
    // A new driver (a resumed rollout in another process) sees the same fleet: state lives
    // in the containers' labels and the shares file, not in the driver's memory.
    let fresh = ComposeDriver::new(project.config())
        .unwrap()
        .with_router(Arc::new(proxy.router()));
    assert_eq!(fresh.observe(&target).await.unwrap(), fleet);
    let mark = load.snapshot();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let half = load.snapshot().since(&mark);
    let share_v2 = half.version("2.0.0") as f64 / half.ok.max(1) as f64;
    eprintln!("at 50/50: {half:?} (v2 share {:.1}%)", share_v2 * 100.0);
    assert!(half.ok > 100, "too little load to judge: {half:?}");
    assert!(
        (0.35..=0.65).contains(&share_v2),
        "v2 share {share_v2} at 50/50: {half:?}"
    );

    // 0 / 100.
    driver
        .apply(&target, &route(&[("v1", 0), ("v2", 100)]))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mark = load.snapshot();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let full = load.snapshot().since(&mark);
    eprintln!("at 0/100: {full:?}");
    assert_eq!(full.version("1.0.0"), 0, "v1 still served at 0%: {full:?}");
    assert!(full.version("2.0.0") > 50, "{full:?}");

    // Retire v1: drained, stopped, removed; twice is fine.
    driver
        .apply(
            &target,
            &Action::Retire {
                revision: v1.id.clone(),
            },
        )
        .await
        .unwrap();
    driver
        .apply(
            &target,
            &Action::Retire {
                revision: v1.id.clone(),
            },
        )
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let fleet = driver.observe(&target).await.unwrap();
    assert!(fleet.get(&v1.id).is_none(), "v1 still observed: {fleet:?}");

    // Scale v2 down while it takes all the traffic: the two leaving are drained first.
    let t0 = Instant::now();
    driver
        .apply(
            &target,
            &Action::Deploy {
                revision: v2.clone(),
                replicas: 1,
            },
        )
        .await
        .unwrap();
    eprintln!("v2 3 -> 1 under load took {:?}", t0.elapsed());
    assert_eq!(router.status().await.unwrap().len(), 1);
    tokio::time::sleep(Duration::from_secs(1)).await;
    driver
        .apply(
            &target,
            &Action::Scale {
                revision: v2.id.clone(),
                replicas: 3,
            },
        )
        .await
        .unwrap();
    support::wait_ready(&driver, &target, "v2", 3, Duration::from_secs(60)).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let total = load.finish();
    assert_eq!(
        (
            fleet.desired_of(&v2.id),
            fleet.ready_of(&v2.id),
            fleet.weight_of(&v2.id)
        ),
        (3, 3, 100)
    );
    let names = project.container_names();
    assert_eq!(names.len(), 3, "{names:?}");
    assert!(names.iter().all(|n| n.contains("-web-v2-")), "{names:?}");
    let servers = router.status().await.unwrap();
    assert_eq!(
        servers.len(),
        3,
        "only v2's servers stay registered: {servers:?}"
    );

    eprintln!(
        "FIGURES side-by-side through HAProxy ({}): {} requests, {} failed ({:.3}%), v1 {} / v2 {}; failures {:?}; whole test {:?}",
        images.app,
        total.total(),
        total.failed,
        100.0 * total.failed as f64 / total.total().max(1) as f64,
        total.version("1.0.0"),
        total.version("2.0.0"),
        total.failures,
        started.elapsed()
    );
    assert!(total.total() > 1000, "the load loop hardly ran: {total:?}");
    assert_eq!(
        total.failed, 0,
        "requests failed while shifting weights and retiring v1: {total:?}"
    );
}
