//! PgEngineNode in process, two nodes on one database and a simulated platform in real
//! time: rollouts queued once run once across both nodes within their limits; a node whose
//! lease lapses loses its run to the other, is fenced (its appends refused, no fleet change)
//! and the run finishes once, every step started once.
#![allow(clippy::unwrap_used)]

mod common;

use common::realtime::*;
use common::*;
use shipcore::clock::SystemClock;
use shipcore::model::Target;
use shipcore_store_postgres::{PgEngineNode, PgStore, RunState};
use std::time::{Duration, Instant};

fn node(
    store: &PgStore,
    name: &str,
    driver: std::sync::Arc<shipcore::testing::SimDriver>,
    lease: Duration,
) -> PgEngineNode {
    PgEngineNode::builder(
        store.clone(),
        name,
        driver,
        std::sync::Arc::new(SystemClock),
    )
    .lease(lease)
    .poll_every(Duration::from_millis(50))
    .max_concurrent_runs(3)
    .build()
}

async fn wait_done(store: &PgStore, ids: &[String], limit: Duration) {
    let start = Instant::now();
    loop {
        let mut done = 0;
        for id in ids {
            if store.queue().get(id).await.unwrap().unwrap().state == RunState::Done {
                done += 1;
            }
        }
        if done == ids.len() {
            return;
        }
        assert!(
            start.elapsed() < limit,
            "only {done} of {} runs done after {limit:?}",
            ids.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_share_the_queue_and_run_each_rollout_once() {
    let Some(url) = pg_url("node_share") else {
        return;
    };
    let (store, schema) = fresh_store(&url, "nodeshare").await;
    let sim = driver(1);
    let mut ids = Vec::new();
    for i in 0..8 {
        let target = Target::new(format!("svc{i}"), "production");
        sim.seed_stable(&target, &v1(), 2);
        let s = spec(&format!("r{i}"), &target, 2, Duration::from_millis(100));
        ids.push(s.id.clone());
    }
    let a = node(&store, "node-a", sim.clone(), Duration::from_secs(5));
    let b = node(
        &PgStore::connect(&url, &schema).await.unwrap(),
        "node-b",
        sim.clone(),
        Duration::from_secs(5),
    );
    for (i, id) in ids.iter().enumerate() {
        let target = Target::new(format!("svc{i}"), "production");
        assert!(a
            .enqueue(&spec(id, &target, 2, Duration::from_millis(100)))
            .await
            .unwrap());
    }
    a.start();
    b.start();
    let mut most = 0;
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(2) {
        most = most.max(a.running().len()).max(b.running().len());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    wait_done(&store, &ids, Duration::from_secs(30)).await;
    assert!(
        most <= 3,
        "a node drove {most} runs at once, over its limit of 3"
    );
    let mut owners = std::collections::BTreeSet::new();
    for (i, id) in ids.iter().enumerate() {
        let row = store.queue().get(id).await.unwrap().unwrap();
        assert_eq!(
            (row.token, row.outcome.as_deref()),
            (1, Some("succeeded")),
            "{id} claimed once"
        );
        owners.insert(row.owner.unwrap());
        let lease = shipcore_store_postgres::Lease {
            run: id.clone(),
            owner: String::new(),
            token: 0,
        };
        let j = store.journal(&lease).await.unwrap();
        let (started, end) = steps_and_end(&j).await;
        assert!(
            started.iter().all(|&n| n == 1),
            "{id}: every step started once: {started:?}"
        );
        assert_eq!(end.as_deref(), Some("succeeded"));
        let fleet = sim.fleet(&Target::new(format!("svc{i}"), "production"));
        assert_eq!(fleet.revisions.len(), 1, "{id}: only v2 is left: {fleet:?}");
    }
    assert_eq!(owners.len(), 2, "both nodes took work: {owners:?}");
    a.shutdown().await;
    b.shutdown().await;
    drop_schema(&url, &schema).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_whose_lease_lapses_loses_the_run_and_is_fenced() {
    let Some(url) = pg_url("node_lapse") else {
        return;
    };
    let (store, schema) = fresh_store(&url, "nodelapse").await;
    let sim = driver(2);
    let target = Target::new("web", "production");
    sim.seed_stable(&target, &v1(), 2);
    let lease = Duration::from_millis(1000);
    let a = node(&store, "node-a", sim.clone(), lease);
    let s = spec("web-2", &target, 6, Duration::from_millis(300));
    a.enqueue(&s).await.unwrap();
    a.start();
    // A claims it and works for a while; then its renewals stop (a paused process).
    let t0 = Instant::now();
    while a.running().is_empty() {
        assert!(t0.elapsed() < Duration::from_secs(5));
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    a.set_renewals_paused(true);
    let stalled_at = Instant::now();
    let b = node(
        &PgStore::connect(&url, &schema).await.unwrap(),
        "node-b",
        sim.clone(),
        lease,
    );
    b.start();
    wait_done(&store, &["web-2".to_string()], Duration::from_secs(30)).await;
    let row = store.queue().get("web-2").await.unwrap().unwrap();
    // B took it over (token 2). Under load a lease can move again (A still claims, only
    // its renewals stopped): whoever ends it, the run ended once, successfully.
    assert!(row.token >= 2, "taken over: {row:?}");
    assert_eq!(row.outcome.as_deref(), Some("succeeded"));
    // A stood down from token 1, and the journal's tokens never go back: no entry of an
    // older holder after a newer one's.
    let c = raw(&url).await;
    let tokens: Vec<i64> = c
        .query(
            &format!(
                "SELECT token FROM {schema}.shipcore_journal WHERE run_id = 'web-2' ORDER BY seq"
            ),
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert!(
        tokens.windows(2).all(|w| w[0] <= w[1]),
        "tokens by seq: {tokens:?}"
    );
    assert!(
        tokens.contains(&1) && tokens.iter().any(|&t| t >= 2),
        "{tokens:?}"
    );
    eprintln!(
        "A wrote {} entries under token 1, then tokens {:?}; run done {:?} after A stalled",
        tokens.iter().filter(|&&t| t == 1).count(),
        tokens
            .iter()
            .filter(|&&t| t > 1)
            .collect::<std::collections::BTreeSet<_>>(),
        stalled_at.elapsed()
    );
    let t1 = Instant::now();
    while !a.running().is_empty() || !b.running().is_empty() {
        assert!(
            t1.elapsed() < Duration::from_secs(5),
            "still driving: {:?} {:?}",
            a.running(),
            b.running()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let j = store
        .journal(&shipcore_store_postgres::Lease {
            run: "web-2".into(),
            owner: String::new(),
            token: 0,
        })
        .await
        .unwrap();
    let (started, end) = steps_and_end(&j).await;
    assert!(
        started.iter().all(|&n| n == 1),
        "every step started once: {started:?}"
    );
    assert_eq!(end.as_deref(), Some("succeeded"));
    let fleet = sim.fleet(&target);
    assert_eq!(fleet.revisions.len(), 1, "{fleet:?}");
    a.shutdown().await;
    b.shutdown().await;
    drop_schema(&url, &schema).await;
}
