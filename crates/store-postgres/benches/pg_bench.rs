//! Figures for shipcore-store-postgres on a real PostgreSQL (SHIPCORE_PG_URL), as medians:
//! journal appends per second (one writer; 16 writers on 16 runs), takeover time of a run
//! whose owner stopped renewing (lease + claim poll), and 1,000 simulated rollouts across
//! three engine nodes on one database.
//!
//!   eval "$(bash scripts/ci/pg-cluster.sh start)"
//!   cargo bench -p shipcore-store-postgres --bench pg_bench
//!
//! Without SHIPCORE_PG_URL it says so and measures nothing (it fails under SHIPCORE_E2E=1).
#![allow(clippy::unwrap_used)]

use shipcore::engine::RolloutSpec;
use shipcore::journal::Journal;
use shipcore::model::{Plan, Revision, Role, Step, Target};
use shipcore::testing::SimWorld;
use shipcore_store_postgres::{PgEngineNode, PgStore};
use std::time::{Duration, Instant};

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

async fn fresh(url: &str, name: &str) -> PgStore {
    let schema = format!("bench_{name}_{}", std::process::id());
    PgStore::connect(url, &schema).await.unwrap()
}

async fn drop_schema(url: &str, schema: &str) {
    let (c, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    c.batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
        .await
        .unwrap();
}

async fn appends(url: &str, writers: usize, per_writer: usize) -> f64 {
    let store = fresh(url, &format!("append{writers}")).await;
    let q = store.queue();
    for w in 0..writers {
        q.enqueue(&format!("w{w}"), &serde_json::json!({}))
            .await
            .unwrap();
    }
    let claimed = q
        .claim("bench", writers, Duration::from_secs(600))
        .await
        .unwrap();
    let payload = serde_json::json!({"at": 1234567, "input": {"measured": {"validator": "error-rate", "value": 0.0123, "outcome": "pass"}}});
    let start = Instant::now();
    let mut tasks = Vec::new();
    for c in claimed {
        let j = store.journal(&c.lease).await.unwrap();
        let payload = payload.clone();
        tasks.push(tokio::spawn(async move {
            for _ in 0..per_writer {
                j.append(&payload).await.unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let rate = (writers * per_writer) as f64 / start.elapsed().as_secs_f64();
    drop_schema(url, store.schema()).await;
    rate
}

async fn takeover(url: &str, lease: Duration) -> f64 {
    let store = fresh(url, "takeover").await;
    let q = store.queue();
    q.enqueue("r", &serde_json::json!({})).await.unwrap();
    // "dead" claims it and never renews (a killed process right after a renewal).
    let dead = q.claim("dead", 1, lease).await.unwrap().remove(0).lease;
    let claimed_at = Instant::now();
    let poll = Duration::from_millis(100);
    loop {
        if !q.claim("alive", 1, lease).await.unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(poll).await;
    }
    let took = claimed_at.elapsed().as_secs_f64();
    assert!(!q.renew(&dead, lease).await.unwrap());
    drop_schema(url, store.schema()).await;
    took
}

fn recreate(id: &str, target: &Target, v1: &Revision, v2: &Revision) -> RolloutSpec {
    let plan = Plan {
        strategy: "recreate".into(),
        replicas: 2,
        steps: vec![
            Step::Scale {
                role: Role::Candidate,
                replicas: 2,
            },
            Step::Promote,
            Step::Retire {
                role: Role::Stable,
                after: Duration::ZERO,
            },
        ],
    };
    RolloutSpec::new(id, target.clone(), Some(v1.clone()), v2.clone(), plan)
}

async fn thousand(url: &str, n: usize) -> (f64, u64) {
    let store = fresh(url, "thousand").await;
    let world = SimWorld::new(1);
    let v1 = Revision::new("v1", "1.0.0".parse().unwrap(), "app:1");
    let v2 = Revision::new("v2", "2.0.0".parse().unwrap(), "app:2");
    let mut nodes = Vec::new();
    for i in 0..3 {
        let s = PgStore::connect(url, store.schema()).await.unwrap();
        nodes.push(
            PgEngineNode::builder(
                s,
                format!("node-{i}"),
                world.driver_arc(),
                world.clock_arc(),
            )
            .lease(Duration::from_secs(10))
            .poll_every(Duration::from_millis(20))
            .max_concurrent_runs(400)
            .engine(|b| b.keep_events(false))
            .build(),
        );
    }
    for k in 0..n {
        let target = Target::new(format!("svc{k}"), "production");
        world.driver.seed_stable(&target, &v1, 2);
        assert!(nodes[0]
            .enqueue(&recreate(&format!("r{k}"), &target, &v1, &v2))
            .await
            .unwrap());
    }
    let start = Instant::now();
    for node in &nodes {
        node.start();
    }
    let (c, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    let count = format!("SELECT count(*) FILTER (WHERE state = 'done'), count(*) FILTER (WHERE outcome = 'succeeded') FROM {}.shipcore_runs", store.schema());
    loop {
        let row = c.query_one(&count, &[]).await.unwrap();
        let (done, ok): (i64, i64) = (row.get(0), row.get(1));
        if done as usize == n {
            assert_eq!(ok as usize, n);
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(600));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let secs = start.elapsed().as_secs_f64();
    let entries: i64 = c
        .query_one(
            &format!("SELECT count(*) FROM {}.shipcore_journal", store.schema()),
            &[],
        )
        .await
        .unwrap()
        .get(0);
    for node in &nodes {
        node.shutdown().await;
    }
    drop_schema(url, store.schema()).await;
    (secs, entries as u64)
}

#[tokio::main]
async fn main() {
    let Ok(url) = std::env::var("SHIPCORE_PG_URL") else {
        if std::env::var("SHIPCORE_E2E").is_ok_and(|v| v == "1") {
            panic!(
                "SHIPCORE_E2E=1 but SHIPCORE_PG_URL is not set (scripts/ci/pg-cluster.sh start)"
            );
        }
        eprintln!("pg_bench: SHIPCORE_PG_URL is not set (eval \"$(bash scripts/ci/pg-cluster.sh start)\"): nothing measured");
        return;
    };
    let runs = 5;
    let mut one = Vec::new();
    let mut sixteen = Vec::new();
    for _ in 0..runs {
        one.push(appends(&url, 1, 2000).await);
        sixteen.push(appends(&url, 16, 500).await);
    }
    println!(
        "journal appends/s, 1 writer:    median {:.0} (of {runs} runs of 2,000)",
        median(one)
    );
    println!(
        "journal appends/s, 16 writers:  median {:.0} (of {runs} runs of 16 x 500)",
        median(sixteen)
    );
    let lease = Duration::from_secs(2);
    let mut t = Vec::new();
    for _ in 0..runs {
        t.push(takeover(&url, lease).await);
    }
    println!(
        "takeover after the owner stops renewing (lease 2 s, claim poll 100 ms): median {:.2} s",
        median(t)
    );
    let mut walls = Vec::new();
    let mut appended = 0;
    for _ in 0..3 {
        let (secs, entries) = thousand(&url, 1000).await;
        walls.push(secs);
        appended = entries;
    }
    let wall = median(walls);
    println!(
        "1,000 simulated rollouts across 3 engine nodes (400 runs each at most): median {wall:.2} s wall, {appended} journal entries, {:.0} rollouts/s",
        1000.0 / wall
    );
}
