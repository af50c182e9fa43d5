//! 100 rollouts over 10 targets across three engine processes, with engines killed
//! (`kill -9`) at random and new ones started: every rollout finishes, none runs twice
//! (each step started once, one `finished` event), none is lost, and the deploy lock in
//! PostgreSQL never lets two rollouts change one target at once (per target, each
//! rollout's fleet changes form one unbroken block). The kills come from a printed seed;
//! SHIPCORE_MANY_SEED replays them.
#![allow(clippy::unwrap_used)]

mod common;

#[path = "../examples/pg_node/table_driver.rs"]
mod table_driver;

use common::procs::*;
use common::*;
use shipcore::engine::{EventKind, RolloutSpec};
use shipcore::model::{Plan, Revision, Role, Step, Target};
use shipcore_store_postgres::{Lease, RunState};
use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

const ROLLOUTS: usize = 100;
const TARGETS: usize = 10;

/// A first deploy of revision `c{k}` on target `t{k % 10}`, behind the deploy lock.
fn spec(k: usize) -> RolloutSpec {
    let target = Target::new(format!("t{}", k % TARGETS), "production");
    let candidate = Revision::new(
        format!("c{k}"),
        format!("1.0.{k}").parse().unwrap(),
        format!("app:{k}"),
    );
    let plan = Plan {
        strategy: "recreate".into(),
        replicas: 2,
        steps: vec![
            Step::Scale {
                role: Role::Candidate,
                replicas: 1,
            },
            Step::Pause {
                duration: Some(Duration::from_millis(150)),
            },
            Step::Scale {
                role: Role::Candidate,
                replicas: 2,
            },
            Step::Promote,
        ],
    };
    let mut s = RolloutSpec::new(format!("run-{k}"), target, None, candidate, plan);
    s.gates = vec!["deploy-lock".into()];
    s.poll_interval = Duration::from_millis(50);
    s
}

/// xorshift, from a printed seed.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// The rollout (`c{k}`) an action belongs to: the deployed revision, or the one a route
/// gives traffic to.
fn run_of(action: &str) -> Option<String> {
    if let Some(rest) = action.strip_prefix("deploy ") {
        return rest.split(' ').next().map(str::to_string);
    }
    if let Some(rest) = action.strip_prefix("route ") {
        return rest
            .split(' ')
            .find(|w| !w.ends_with("=0%"))
            .and_then(|w| w.split('=').next())
            .map(str::to_string);
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_rollouts_across_three_engines_with_random_kills_finish_once_each() {
    let Some(url) = pg_url("many_rollouts") else {
        return;
    };
    let (store, schema) = fresh_store(&url, "many").await;
    let c = table_driver::connect(&url, &schema).await.unwrap();
    c.batch_execute(table_driver::TABLES).await.unwrap();
    let seed = std::env::var("SHIPCORE_MANY_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
                | 1
        });
    eprintln!("many_rollouts: seed {seed} (SHIPCORE_MANY_SEED={seed} replays the kills)");
    let mut rng = Rng(seed);
    let dir = tempfile_dir("many");
    let mut generation = 0;
    let mut nodes: Vec<Node> = (0..3)
        .map(|i| Node::spawn(&url, &schema, &format!("node-{i}-g0"), &dir))
        .collect();
    for k in 0..ROLLOUTS {
        let s = spec(k);
        assert!(store
            .queue()
            .enqueue(&s.id, &serde_json::to_value(&s).unwrap())
            .await
            .unwrap());
    }
    let ids: Vec<String> = (0..ROLLOUTS).map(|k| format!("run-{k}")).collect();
    let start = Instant::now();
    let mut kills = 0;
    let mut next_kill = Instant::now() + Duration::from_millis(300 + rng.next() % 700);
    loop {
        let mut done = 0;
        for id in &ids {
            if store.queue().get(id).await.unwrap().unwrap().state == RunState::Done {
                done += 1;
            }
        }
        if done == ROLLOUTS {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(240),
            "only {done} of {ROLLOUTS} done after {:?}",
            start.elapsed()
        );
        if Instant::now() >= next_kill && kills < 8 {
            generation += 1;
            let i = (rng.next() % 3) as usize;
            nodes[i].signal("-KILL");
            let _ = nodes[i].child.wait();
            eprintln!(
                "killed {} at {:?} ({done} done)",
                nodes[i].name,
                start.elapsed()
            );
            nodes[i] = Node::spawn(&url, &schema, &format!("node-{i}-g{generation}"), &dir);
            kills += 1;
            next_kill = Instant::now() + Duration::from_millis(300 + rng.next() % 700);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    eprintln!(
        "{ROLLOUTS} rollouts done in {:?} with {kills} kills",
        start.elapsed()
    );
    assert!(
        kills >= 3,
        "the run was long enough to kill engines {kills} times"
    );

    // None twice, none lost.
    let mut taken_over = 0;
    for id in &ids {
        let row = store.queue().get(id).await.unwrap().unwrap();
        assert_eq!(row.outcome.as_deref(), Some("succeeded"), "{id}");
        if row.token > 1 {
            taken_over += 1;
        }
        let j = store
            .journal(&Lease {
                run: id.clone(),
                owner: String::new(),
                token: 0,
            })
            .await
            .unwrap();
        let replayed = shipcore::record::replay_journal(&j).await.unwrap();
        let mut started = BTreeMap::new();
        let mut finished = 0;
        for e in &replayed.events {
            match e.kind {
                EventKind::StepStarted { step, .. } => *started.entry(step).or_insert(0) += 1,
                EventKind::Finished { .. } => finished += 1,
                _ => {}
            }
        }
        assert_eq!(finished, 1, "{id} finished once");
        assert_eq!(started.len(), 4, "{id}: {started:?}");
        assert!(
            started.values().all(|&n| n == 1),
            "{id}: every step started once: {started:?}"
        );
    }
    eprintln!("{taken_over} rollouts were taken over by another engine");

    // One writer per target: each rollout's fleet changes are one unbroken block.
    let rows = c
        .query("SELECT target, action FROM test_actions ORDER BY id", &[])
        .await
        .unwrap();
    let mut per_target: HashMap<String, Vec<String>> = HashMap::new();
    for r in &rows {
        let (target, action): (String, String) = (r.get(0), r.get(1));
        let run = run_of(&action).unwrap_or_else(|| panic!("unexpected action {action}"));
        let seq = per_target.entry(target).or_default();
        if seq.last() != Some(&run) {
            assert!(
                !seq.contains(&run),
                "two rollouts changed one target at once: {run} again after {seq:?}"
            );
            seq.push(run);
        }
    }
    let total: usize = per_target.values().map(Vec::len).sum();
    assert_eq!(total, ROLLOUTS, "every rollout changed its target");
    drop(nodes);
    let _ = std::fs::remove_dir_all(&dir);
    drop_schema(&url, &schema).await;
}
