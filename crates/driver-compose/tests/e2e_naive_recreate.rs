//! The baseline the driver is measured against: a plain `docker compose up -d` that
//! recreates the one container of a service on a new image, behind the same HAProxy (its
//! retries off) and under the same bounded load as the side-by-side test, plus a second
//! loop straight at the published port. Failed requests are printed (FIGURES lines), to
//! compare with the side-by-side shift.
//!
//! Runs only with SHIPCORE_E2E=1 (fails loudly if a part is missing); skipped otherwise.
#![allow(clippy::unwrap_used)]

mod support;

use shipcore::model::RevisionId;
use shipcore_driver_compose::router::{Endpoint, RevisionRoute, Router, ServerState};
use std::time::{Duration, Instant};
use support::{Load, Project};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn naive_compose_up_recreate_drops_requests() {
    let Some(env) = support::env("naive_compose_up_recreate_drops_requests").await else {
        return;
    };
    let images = support::images(&env);
    let port = free_port();
    let project = Project::new(&env, "naive", &support::web_yaml(&images.v1, Some(port)));
    let up = |what: &str| {
        let out = env
            .compose(&project.name, &[&project.file])
            .args(["up", "-d"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{what}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    up("compose up v1");
    let deadline = Instant::now() + Duration::from_secs(30);
    while shipcore_driver_compose::internals::get_tcp(addr, "/health", Duration::from_secs(1))
        .await
        .map(|r| r.status)
        != Ok(200)
    {
        assert!(Instant::now() < deadline, "v1 never answered on {addr}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    let proxy = support::haproxy(&env, project.dir.path(), 1).await;
    let router = proxy.router();
    let table = [RevisionRoute {
        revision: RevisionId::new("web"),
        share: 100,
        endpoints: vec![Endpoint { addr, ready: true }],
    }];
    router.apply(&table).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while router.status().await.unwrap().first().map(|s| s.state) != Some(ServerState::Up) {
        assert!(
            Instant::now() < deadline,
            "HAProxy never saw the server up: {:?}",
            router.status().await
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let load = Load::start(
        proxy.addr(),
        4,
        Duration::from_millis(5),
        200_000,
        Duration::from_secs(120),
    );
    // What a client sees without any proxy: the published port itself.
    let direct = Load::start(
        addr,
        1,
        Duration::from_millis(5),
        50_000,
        Duration::from_secs(120),
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    let before = load.snapshot();
    assert_eq!(before.failed, 0, "failures before the recreate: {before:?}");

    // The naive update: same service, new image, `up -d` recreates the container in place.
    project.rewrite(&support::web_yaml(&images.v2, Some(port)));
    let t0 = Instant::now();
    up("compose up v2 (recreate)");
    let recreate_took = t0.elapsed();
    let deadline = Instant::now() + Duration::from_secs(30);
    while load.snapshot().version("2.0.0") == 0 {
        assert!(
            Instant::now() < deadline,
            "v2 never served: {:?}",
            load.snapshot()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let first_v2 = t0.elapsed();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let total = load.finish();
    let direct = direct.finish();
    eprintln!(
        "FIGURES naive recreate, direct to the published port: {} requests, {} failed ({:.3}%); failures {:?}",
        direct.total(),
        direct.failed,
        100.0 * direct.failed as f64 / direct.total().max(1) as f64,
        direct.failures
    );
    eprintln!(
        "FIGURES naive recreate through HAProxy ({}): {} requests, {} failed ({:.3}%), v1 {} / v2 {}; failures {:?}; `up -d` took {recreate_took:?}, first v2 answer after {first_v2:?}",
        images.app,
        total.total(),
        total.failed,
        100.0 * total.failed as f64 / total.total().max(1) as f64,
        total.version("1.0.0"),
        total.version("2.0.0"),
        total.failures,
    );
    assert!(
        total.version("1.0.0") > 0 && total.version("2.0.0") > 0,
        "{total:?}"
    );
    assert!(total.total() > 500, "the load loop hardly ran: {total:?}");
}
