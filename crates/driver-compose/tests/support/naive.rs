//! The naive baseline the engine is compared with: one container of `web` on a fixed
//! loopback port behind its own HAProxy (retries off), updated by a plain
//! `docker compose up -d` that recreates it on the new image, under the standard load.
//! (Compose on Podman cannot publish one fixed port range for several replicas, so the
//! naive service has one container, as in e2e_naive_recreate.rs.)

use super::{Env, Project, Tally};
use shipcore::model::RevisionId;
use shipcore_driver_compose::router::{Endpoint, RevisionRoute, Router, ServerState};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// What the naive update cost.
#[derive(Debug, Clone)]
pub struct NaiveFigures {
    /// Everything the load saw from 2 s before `up -d` to the end of the observation.
    pub tally: Tally,
    /// Time `up -d` took.
    pub up: Duration,
    /// From `up -d` to the first answer of the new version.
    pub to_new: Duration,
    /// Requests and failures from the first answer of the new version to the end.
    pub after_new: Tally,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Runs `from` on a fixed port, starts the standard load through HAProxy, recreates the
/// service on `to` with `compose up -d`, then keeps the load on for `observe` after the
/// new version's first answer. Everything started is stopped before it returns.
pub async fn recreate(
    env: &Env,
    tag: &str,
    from: &str,
    to: &str,
    observe: Duration,
) -> NaiveFigures {
    let port = free_port();
    let project = Project::new(env, tag, &super::web_yaml(from, Some(port)));
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
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    up("naive: compose up of the old version");
    let proxy = super::haproxy(env, project.dir.path(), 1).await;
    let router = proxy.router();
    router
        .apply(&[RevisionRoute {
            revision: RevisionId::new("web"),
            share: 100,
            endpoints: vec![Endpoint { addr, ready: true }],
        }])
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while router.status().await.unwrap().first().map(|s| s.state) != Some(ServerState::Up) {
        assert!(
            Instant::now() < deadline,
            "naive: HAProxy never saw the old version up: {:?}",
            router.status().await
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let load = super::standard_load(proxy.addr());
    tokio::time::sleep(Duration::from_secs(2)).await;
    let new_version = if to.ends_with(":v1") {
        "1.0.0"
    } else {
        "2.0.0"
    };
    project.rewrite(&super::web_yaml(to, Some(port)));
    let t0 = Instant::now();
    up("naive: compose up -d of the new version (recreate)");
    let up_took = t0.elapsed();
    let deadline = Instant::now() + Duration::from_secs(60);
    while load.snapshot().version(new_version) == 0 {
        assert!(
            Instant::now() < deadline,
            "naive: the new version never answered: {:?}",
            load.snapshot()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let to_new = t0.elapsed();
    let mark = load.snapshot();
    tokio::time::sleep(observe).await;
    let tally = load.finish();
    let after_new = tally.since(&mark);
    assert!(tally.total() > 100, "naive: the load hardly ran: {tally:?}");
    NaiveFigures {
        tally,
        up: up_took,
        to_new,
        after_new,
    }
}
