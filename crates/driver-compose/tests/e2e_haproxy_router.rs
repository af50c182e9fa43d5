//! HaproxyRouter against a real HAProxy 2.6, with plain HTTP servers on 127.0.0.1 as the
//! endpoints (no containers): weights follow revision shares, a new endpoint that fails
//! its health check gets no traffic, drain waits for an open request, endpoints no longer
//! listed leave service, and errors are classified (no free slot, unknown backend, no
//! socket).
//!
//! Runs only with SHIPCORE_E2E=1 (fails loudly if HAProxy is missing); skipped otherwise.
#![allow(clippy::unwrap_used)]

mod support;

use shipcore::driver::ErrorKind;
use shipcore::model::RevisionId;
use shipcore_driver_compose::router::{
    Endpoint, HaproxyRouter, RevisionRoute, Router, ServerState,
};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A server answering `name` on `/`, 200 or 503 on `/health`, and `/slow` after 1.5 s.
async fn server(name: &'static str, healthy: bool) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let mut got = Vec::new();
                let mut buf = [0u8; 1024];
                while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => got.extend_from_slice(&buf[..n]),
                    }
                }
                let head = String::from_utf8_lossy(&got).to_string();
                let path = head.split_whitespace().nth(1).unwrap_or("/").to_string();
                let status = if path == "/health" && !healthy {
                    "503 Service Unavailable"
                } else {
                    "200 OK"
                };
                if path == "/slow" {
                    tokio::time::sleep(Duration::from_millis(1500)).await;
                }
                let resp = format!(
                    "HTTP/1.1 {status}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{name}",
                    name.len()
                );
                let _ = s.write_all(resp.as_bytes()).await;
            });
        }
    });
    addr
}

async fn get(addr: SocketAddr, path: &str) -> Result<String, String> {
    let r = shipcore_driver_compose::internals::get_tcp(addr, path, Duration::from_secs(5)).await?;
    if r.status == 200 {
        Ok(r.text())
    } else {
        Err(format!("status {}", r.status))
    }
}

/// Answers per server name over `n` sequential requests.
async fn spread(proxy: SocketAddr, n: usize) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for _ in 0..n {
        let who = get(proxy, "/").await.unwrap_or_else(|e| e);
        *m.entry(who).or_default() += 1;
    }
    m
}

fn ep(addr: SocketAddr) -> Endpoint {
    Endpoint { addr, ready: false }
}

async fn wait_up(router: &HaproxyRouter, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let st = router.status().await.unwrap();
        if st.iter().filter(|s| s.state == ServerState::Up).count() == n {
            return;
        }
        assert!(Instant::now() < deadline, "never {n} servers up: {st:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn haproxy_router_weights_drains_and_refuses_clearly() {
    let Some(env) = support::env("haproxy_router_weights_drains_and_refuses_clearly").await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let proxy = support::haproxy(&env, dir.path(), 4).await;
    let router = proxy.router();
    let (a, b, c, sick) = (
        server("a", true).await,
        server("b", true).await,
        server("c", true).await,
        server("sick", false).await,
    );
    let v1 = RevisionId::new("v1");
    let v2 = RevisionId::new("v2");

    // v1 on a and b, all traffic; v2 on c, none yet; the endpoints are not known ready, so
    // each waits for HAProxy's own check.
    router
        .apply(&[
            RevisionRoute {
                revision: v1.clone(),
                share: 100,
                endpoints: vec![ep(a), ep(b)],
            },
            RevisionRoute {
                revision: v2.clone(),
                share: 0,
                endpoints: vec![ep(c)],
            },
        ])
        .await
        .unwrap();
    wait_up(&router, 3).await;
    let s = spread(proxy.addr(), 60).await;
    assert_eq!(
        (s.get("a"), s.get("b"), s.get("c")),
        (Some(&30), Some(&30), None),
        "{s:?}"
    );

    // 75 / 25: v1's two servers weigh 37.5 each, v2's one 25.
    let table = |w1: u8, w2: u8, v2_eps: Vec<Endpoint>| {
        vec![
            RevisionRoute {
                revision: v1.clone(),
                share: w1,
                endpoints: vec![ep(a), ep(b)],
            },
            RevisionRoute {
                revision: v2.clone(),
                share: w2,
                endpoints: v2_eps,
            },
        ]
    };
    router.apply(&table(75, 25, vec![ep(c)])).await.unwrap();
    let s = spread(proxy.addr(), 200).await;
    let c_share = *s.get("c").unwrap_or(&0) as f64 / 200.0;
    assert!(
        (0.2..=0.3).contains(&c_share),
        "c got {c_share} at 25%: {s:?}"
    );
    let st = router.status().await.unwrap();
    let weights: BTreeMap<SocketAddr, u32> = st.iter().map(|s| (s.addr, s.weight)).collect();
    assert_eq!(
        (weights[&a], weights[&b], weights[&c]),
        (256, 256, 171),
        "{st:?}"
    );

    // A new v2 endpoint failing its health check takes nothing.
    router
        .apply(&table(50, 50, vec![ep(c), ep(sick)]))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(800)).await;
    let s = spread(proxy.addr(), 100).await;
    assert!(
        !s.contains_key("sick") && s.keys().all(|k| ["a", "b", "c"].contains(&k.as_str())),
        "{s:?}"
    );
    let sick_state = router
        .status()
        .await
        .unwrap()
        .into_iter()
        .find(|s| s.addr == sick)
        .unwrap();
    assert_eq!(sick_state.state, ServerState::Down);

    // Drain waits for the open request, which completes.
    let slow = tokio::spawn(get(proxy.addr(), "/slow"));
    tokio::time::sleep(Duration::from_millis(200)).await;
    let t0 = Instant::now();
    router
        .drain(&[a, b, c], Duration::from_secs(5))
        .await
        .unwrap();
    let waited = t0.elapsed();
    assert!(slow.await.unwrap().is_ok(), "the draining request failed");
    assert!(
        waited >= Duration::from_millis(900),
        "drain returned before the open request ended: {waited:?}"
    );
    assert!(router
        .status()
        .await
        .unwrap()
        .iter()
        .filter(|s| [a, b, c].contains(&s.addr))
        .all(|s| s.state == ServerState::Drain));

    // Listed again: ready again. Not listed: out of service (maintenance).
    router.apply(&table(0, 100, vec![ep(c)])).await.unwrap();
    wait_up(&router, 3).await;
    let s = spread(proxy.addr(), 30).await;
    assert_eq!(s.get("c"), Some(&30), "{s:?}");
    router
        .apply(&[RevisionRoute {
            revision: v2.clone(),
            share: 100,
            endpoints: vec![ep(c)],
        }])
        .await
        .unwrap();
    let st = router.status().await.unwrap();
    assert_eq!(
        st.iter().map(|s| s.addr).collect::<Vec<_>>(),
        vec![c],
        "{st:?}"
    );

    // Errors: more endpoints than slots, an unknown backend, no socket.
    let five: Vec<Endpoint> = (0..5)
        .map(|i| ep(SocketAddr::from(([127, 0, 0, 1], 40000 + i))))
        .collect();
    let e = router
        .apply(&[RevisionRoute {
            revision: v2.clone(),
            share: 100,
            endpoints: five,
        }])
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Permanent, "{e}");
    assert!(e.message.contains("no free server slot"), "{e}");
    let e = HaproxyRouter::new(proxy.spec().socket(), "nope")
        .status()
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Permanent, "{e}");
    let e = HaproxyRouter::new(dir.path().join("none.sock"), "app")
        .status()
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Transient, "{e}");
}
