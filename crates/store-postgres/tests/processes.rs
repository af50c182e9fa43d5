//! Real engine processes (`examples/pg_node`, built by `cargo test`) sharing one
//! PostgreSQL and one fleet kept in it: `kill -9` of the owner mid-analysis, and
//! SIGSTOP/SIGCONT of the owner past its lease. Another process takes the run over within
//! the lease plus one renewal, the old one (when it comes back) is fenced and says so,
//! and the rollout ends as an uninterrupted one: every step started once, the fleet
//! changed in the plan's order (an action in flight at the takeover is re-issued once,
//! idempotently), and nothing of the old owner in the journal or the fleet after it.
#![allow(clippy::unwrap_used)]

mod common;

#[path = "../examples/pg_node/table_driver.rs"]
mod table_driver;

use common::procs::*;
use common::*;
use shipcore::engine::RolloutSpec;
use shipcore::model::{
    AnalysisPolicy, AnalysisStep, FleetState, Plan, Revision, RevisionState, Role, Step, Target,
};
use shipcore_store_postgres::{Lease, PgStore, RunState};
use std::time::{Duration, Instant};

fn v1() -> Revision {
    Revision::new("v1", "1.0.0".parse().unwrap(), "app:1")
}
fn v2() -> Revision {
    Revision::new("v2", "2.0.0".parse().unwrap(), "app:2")
}

/// A canary whose 20 % step is judged for about 4 s.
fn canary(id: &str, target: &Target) -> RolloutSpec {
    let plan = Plan {
        strategy: "canary".into(),
        replicas: 2,
        steps: vec![
            Step::Scale {
                role: Role::Candidate,
                replicas: 1,
            },
            Step::SetWeight { percent: 20 },
            Step::Analysis(AnalysisStep {
                validators: vec!["healthy".into()],
                policy: AnalysisPolicy::every(Duration::from_millis(400), 10),
            }),
            Step::SetWeight { percent: 50 },
            Step::Pause {
                duration: Some(Duration::from_millis(300)),
            },
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
    let mut s = RolloutSpec::new(id, target.clone(), Some(v1()), v2(), plan);
    s.poll_interval = Duration::from_millis(50);
    s
}

/// What an uninterrupted run of [`canary`] applies, in order.
const EXPECTED: &[&str] = &[
    "deploy v2 x1",
    "route v1=80% v2=20%",
    "route v1=50% v2=50%",
    "deploy v2 x2",
    "route v1=0% v2=100%",
    "retire v1",
];

async fn setup(url: &str, prefix: &str) -> (PgStore, String, tokio_postgres::Client, Target) {
    let (store, schema) = fresh_store(url, prefix).await;
    let c = table_driver::connect(url, &schema).await.unwrap();
    c.batch_execute(table_driver::TABLES).await.unwrap();
    let target = Target::new("web", "production");
    let fleet = FleetState {
        revisions: vec![RevisionState {
            revision: v1().id,
            desired: 2,
            ready: 2,
            updated: 2,
            weight: 100,
        }],
        ..Default::default()
    };
    table_driver::seed(&c, &target, &fleet).await.unwrap();
    (store, schema, c, target)
}

async fn actions(c: &tokio_postgres::Client) -> Vec<(i64, String, String)> {
    c.query("SELECT id, node, action FROM test_actions ORDER BY id", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect()
}

async fn wait_for<F: Fn() -> Fut, Fut: std::future::Future<Output = bool>>(
    what: &str,
    limit: Duration,
    f: F,
) -> Duration {
    let start = Instant::now();
    loop {
        if f().await {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < limit,
            "timed out after {limit:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Checks the end state against an uninterrupted run; returns the action log.
async fn check_end(
    store: &PgStore,
    c: &tokio_postgres::Client,
    target: &Target,
    run: &str,
) -> Vec<(i64, String, String)> {
    let row = store.queue().get(run).await.unwrap().unwrap();
    assert_eq!(
        (row.state, row.outcome.as_deref()),
        (RunState::Done, Some("succeeded"))
    );
    let j = store
        .journal(&Lease {
            run: run.into(),
            owner: String::new(),
            token: 0,
        })
        .await
        .unwrap();
    let replayed = shipcore::record::replay_journal(&j).await.unwrap();
    let mut started = std::collections::BTreeMap::new();
    for e in &replayed.events {
        if let shipcore::engine::EventKind::StepStarted { step, .. } = e.kind {
            *started.entry(step).or_insert(0) += 1;
        }
    }
    assert_eq!(started.len(), 8, "{started:?}");
    assert!(
        started.values().all(|&n| n == 1),
        "every step started once: {started:?}"
    );
    let log = actions(c).await;
    let mut collapsed: Vec<&str> = Vec::new();
    for (_, _, a) in &log {
        if collapsed.last() != Some(&a.as_str()) {
            collapsed.push(a);
        }
    }
    assert_eq!(
        collapsed, EXPECTED,
        "the fleet changed in the plan's order: {log:?}"
    );
    let fleet: FleetState = serde_json::from_str(
        c.query_one(
            "SELECT fleet FROM test_fleet WHERE target = $1",
            &[&target.to_string()],
        )
        .await
        .unwrap()
        .get(0),
    )
    .unwrap();
    assert_eq!(fleet.revisions.len(), 1);
    assert_eq!(
        (
            fleet.revisions[0].revision.as_str(),
            fleet.revisions[0].ready,
            fleet.revisions[0].weight
        ),
        ("v2", 2, 100)
    );
    log
}

async fn owner(store: &PgStore, run: &str) -> Option<(String, u64)> {
    let r = store.queue().get(run).await.unwrap()?;
    (r.state == RunState::Running).then(|| (r.owner.unwrap_or_default(), r.token))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_of_the_owner_mid_analysis_another_process_finishes_the_rollout() {
    let Some(url) = pg_url("processes_kill") else {
        return;
    };
    let (store, schema, c, target) = setup(&url, "kill").await;
    let dir = tempfile_dir("kill");
    let mut nodes: Vec<Node> = (0..3)
        .map(|i| Node::spawn(&url, &schema, &format!("node-{i}"), &dir))
        .collect();
    let s = canary("web-2", &target);
    store
        .queue()
        .enqueue(&s.id, &serde_json::to_value(&s).unwrap())
        .await
        .unwrap();
    // Mid-analysis: the 20 % route is applied and the analysis has run for a while.
    wait_for("the 20% route", Duration::from_secs(20), || async {
        actions(&c)
            .await
            .iter()
            .any(|(_, _, a)| a == "route v1=80% v2=20%")
    })
    .await;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let (first, token) = owner(&store, "web-2").await.unwrap();
    let victim = nodes.iter().position(|n| n.name == first).unwrap();
    nodes[victim].signal("-KILL");
    let _ = nodes[victim].child.wait();
    let killed_at = Instant::now();
    let took = wait_for("a takeover", Duration::from_secs(15), || async {
        matches!(owner(&store, "web-2").await, Some((_, t)) if t > token)
    })
    .await;
    let (second, _) = owner(&store, "web-2").await.unwrap();
    eprintln!("takeover after kill -9 of {first}: {took:?} by {second} (lease {LEASE:?}, renewal every {:?})", LEASE / 3);
    assert_ne!(first, second);
    assert!(
        took <= LEASE + LEASE / 3 + Duration::from_millis(500),
        "takeover took {took:?}"
    );
    wait_for("the run to end", Duration::from_secs(30), || async {
        store.queue().get("web-2").await.unwrap().unwrap().state == RunState::Done
    })
    .await;
    eprintln!("run ended {:?} after the kill", killed_at.elapsed());
    let log = check_end(&store, &c, &target, "web-2").await;
    assert!(
        log.iter().all(|(_, n, _)| n == &first || n == &second),
        "{log:?}"
    );
    drop(nodes);
    let _ = std::fs::remove_dir_all(&dir);
    drop_schema(&url, &schema).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigstop_past_the_lease_then_sigcont_the_old_owner_is_fenced_and_says_so() {
    let Some(url) = pg_url("processes_stop") else {
        return;
    };
    let (store, schema, c, target) = setup(&url, "stop").await;
    let dir = tempfile_dir("stop");
    let nodes: Vec<Node> = (0..3)
        .map(|i| Node::spawn(&url, &schema, &format!("node-{i}"), &dir))
        .collect();
    let s = canary("web-2", &target);
    store
        .queue()
        .enqueue(&s.id, &serde_json::to_value(&s).unwrap())
        .await
        .unwrap();
    wait_for("the 20% route", Duration::from_secs(20), || async {
        actions(&c)
            .await
            .iter()
            .any(|(_, _, a)| a == "route v1=80% v2=20%")
    })
    .await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    let (first, token) = owner(&store, "web-2").await.unwrap();
    let old = nodes.iter().find(|n| n.name == first).unwrap();
    old.signal("-STOP");
    let took = wait_for("a takeover", Duration::from_secs(15), || async {
        matches!(owner(&store, "web-2").await, Some((_, t)) if t > token)
    })
    .await;
    eprintln!("takeover after SIGSTOP of {first}: {took:?}");
    // Let the new owner work a little, then wake the old one while the run goes on.
    tokio::time::sleep(Duration::from_millis(300)).await;
    old.signal("-CONT");
    wait_for("the run to end", Duration::from_secs(30), || async {
        store.queue().get("web-2").await.unwrap().unwrap().state == RunState::Done
    })
    .await;
    wait_for(
        "the old owner to say it stands down",
        Duration::from_secs(10),
        || async {
            let l = old.log();
            l.contains("stood down") || l.contains("stands down")
        },
    )
    .await;
    let log = check_end(&store, &c, &target, "web-2").await;
    let first_new = log
        .iter()
        .find(|(_, n, _)| n != &first)
        .map(|(id, _, _)| *id)
        .unwrap();
    assert!(
        log.iter()
            .filter(|(_, n, _)| n == &first)
            .all(|(id, _, _)| *id < first_new),
        "no fleet change by the old owner after the takeover: {log:?}"
    );
    let late: i64 = c
        .query_one(
            "SELECT count(*) FROM shipcore_journal WHERE run_id = 'web-2' AND token = $1
               AND seq > (SELECT min(seq) FROM shipcore_journal WHERE run_id = 'web-2' AND token > $1)",
            &[&(token as i64)],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        late, 0,
        "the journal holds no entry of the old owner after the takeover"
    );
    eprintln!(
        "old owner's log:\n{}",
        old.log()
            .lines()
            .filter(|l| l.contains("WARN"))
            .take(5)
            .collect::<Vec<_>>()
            .join("\n")
    );
    drop(nodes);
    let _ = std::fs::remove_dir_all(&dir);
    drop_schema(&url, &schema).await;
}
