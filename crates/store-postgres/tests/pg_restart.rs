//! PostgreSQL restarted under load (`pg-cluster.sh restart`: a fast shutdown, which drops
//! every connection, then a start): journal appends wait and retry, nothing acknowledged
//! is lost or doubled, and a rollout journaled in PostgreSQL waits and then finishes.
//! Needs SHIPCORE_PG_DIR (the cluster this test may restart); a test binary of its own, so
//! the restarts do not disturb the other tests.
#![allow(clippy::unwrap_used)]

mod common;

use common::rollout::*;
use common::*;
use serde_json::json;
use shipcore::engine::Phase;
use shipcore::journal::Journal;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const LONG: Duration = Duration::from_secs(120);

fn pg_dir(test: &str) -> Option<String> {
    match std::env::var("SHIPCORE_PG_DIR") {
        Ok(d) if !d.is_empty() => Some(d),
        _ if std::env::var("SHIPCORE_E2E").as_deref() == Ok("1") => {
            panic!("{test}: SHIPCORE_E2E=1 but SHIPCORE_PG_DIR is not set (the cluster to restart)")
        }
        _ => {
            eprintln!("{test}: SKIPPED: SHIPCORE_PG_DIR is not set (start PostgreSQL with scripts/ci/pg-cluster.sh)");
            None
        }
    }
}

/// Restarts the cluster in `dir`, blocking; returns how long it took.
fn restart(dir: &str) -> Duration {
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../scripts/ci/pg-cluster.sh"
    );
    let t = Instant::now();
    let out = std::process::Command::new("bash")
        .args([script, "restart", dir])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "restart failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    t.elapsed()
}

async fn wait_for_entries(url: &str, schema: &str, run: &str, n: i64) {
    let c = raw(url).await;
    loop {
        let have: i64 = c
            .query_one(
                &format!("SELECT count(*) FROM {schema}.shipcore_journal WHERE run_id = $1"),
                &[&run],
            )
            .await
            .unwrap()
            .get(0);
        if have >= n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarts_in_the_middle_of_appends_and_of_a_rollout_lose_nothing() {
    let Some(url) = pg_url("pg_restart") else {
        return;
    };
    let Some(dir) = pg_dir("pg_restart") else {
        return;
    };
    let (store, schema) = fresh_store(&url, "restart").await;
    let q = store.queue();

    // 1. Raw appends from four writers (four runs) through two restarts.
    let mut leases = Vec::new();
    for w in 0..4 {
        q.enqueue(&format!("w{w}"), &json!({})).await.unwrap();
    }
    for c in q.claim("engine-a", 4, LONG).await.unwrap() {
        leases.push(c.lease);
    }
    let stop = Arc::new(AtomicBool::new(false));
    let mut writers = Vec::new();
    for lease in &leases {
        let j = store.journal(lease).await.unwrap();
        let stop = stop.clone();
        writers.push(tokio::spawn(async move {
            let mut acked = Vec::new();
            let mut slowest = Duration::ZERO;
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let t = Instant::now();
                let seq = j.append(&json!({"i": i})).await.unwrap();
                slowest = slowest.max(t.elapsed());
                acked.push((seq, i));
                i += 1;
            }
            (acked, slowest)
        }));
    }
    for _ in 0..2 {
        wait_for_entries(&url, &schema, "w0", 50).await;
        let took = tokio::task::spawn_blocking({
            let dir = dir.clone();
            move || restart(&dir)
        })
        .await
        .unwrap();
        eprintln!("restarted postgres in {took:?}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    stop.store(true, Ordering::Relaxed);
    for (w, h) in writers.into_iter().enumerate() {
        let (acked, slowest) = h.await.unwrap();
        eprintln!(
            "writer {w}: {} appends acknowledged, slowest {slowest:?}",
            acked.len()
        );
        assert!(
            slowest > Duration::from_millis(100),
            "the writer waited through a restart"
        );
        let j = store.journal(&leases[w]).await.unwrap();
        let all = j.read_all().await.unwrap();
        assert_eq!(
            all.len(),
            acked.len(),
            "every acknowledged append, and nothing else"
        );
        for ((seq, i), e) in acked.iter().zip(&all) {
            assert_eq!((e.seq, &e.payload), (*seq, &json!({"i": i})));
        }
    }

    // 2. A rollout journaled in PostgreSQL, with the server restarted in its middle.
    let s = spec("web-restart");
    q.enqueue(&s.id, &serde_json::to_value(&s).unwrap())
        .await
        .unwrap();
    let lease = q.claim("engine-a", 1, LONG).await.unwrap().remove(0).lease;
    let journal = Arc::new(store.journal(&lease).await.unwrap());
    let (_world, engine) = world_and_engine(11);
    let running = engine.start(s, journal.clone()).unwrap();
    wait_for_entries(&url, &schema, "web-restart", 10).await;
    let during = tokio::task::spawn_blocking({
        let dir = dir.clone();
        move || restart(&dir)
    });
    let report = running.finished().await.unwrap();
    during.await.unwrap();
    assert_eq!(report.status.phase, Phase::Succeeded, "{:?}", report.status);
    let c = raw(&url).await;
    let row = c
        .query_one(
            &format!(
                "SELECT count(*) FILTER (WHERE written_at < pg_postmaster_start_time()),
                        count(*) FILTER (WHERE written_at > pg_postmaster_start_time()),
                        count(*), max(seq)
                 FROM {schema}.shipcore_journal WHERE run_id = 'web-restart'"
            ),
            &[],
        )
        .await
        .unwrap();
    let (before, after, total, max): (i64, i64, i64, i64) =
        (row.get(0), row.get(1), row.get(2), row.get(3));
    eprintln!("rollout: {before} entries before the restart, {after} after");
    assert!(
        before >= 10 && after > 0,
        "the restart fell in the middle of the rollout ({before} before, {after} after)"
    );
    assert_eq!(total, max + 1, "dense");
    assert_eq!(journal.read_all().await.unwrap().len() as i64, total);
    assert!(q.finish(&lease, "succeeded").await.unwrap());
    drop_schema(&url, &schema).await;
}
