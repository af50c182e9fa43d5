//! Readiness by watch: the driver's `wait_for_change` wakes on each Deployment status
//! change on the fake apiserver (never without one, and sooner than a poll would), and a
//! whole canary with a long poll interval, with the watch and with polling only. Prints
//! FIGURES lines; the speed target (median <= 50 ms) is measured by the benchmark
//! `cargo bench -p shipcore-benches --bench k8s_watch`, not asserted here.
#![allow(clippy::unwrap_used)]

mod rollout_support;

use async_trait::async_trait;
use rollout_support::*;
use serde_json::json;
use shipcore::driver::{Capabilities, Driver, DriverError};
use shipcore::engine::Phase;
use shipcore::model::{Action, FleetState, Revision, Target};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The poll interval the watch must beat: an engine without it would look this often.
const POLL_INTERVAL: Duration = Duration::from_secs(1);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_watch_wakes_on_each_status_change_before_a_poll_would() {
    let env = env(false);
    let v1 = rev("v1", "1.0.0", "registry/web:1.0.0");
    seed(&env, &v1, 2).await;
    let mut lat = Vec::new();
    for i in 0..20 {
        env.driver.observe(&env.target).await.unwrap();
        let d = env.driver.clone();
        let t = env.target.clone();
        let waiter = tokio::spawn(async move {
            d.wait_for_change(&t).await;
            Instant::now()
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiter.is_finished(), "woke without a change (round {i})");
        let mut obj = env
            .fake
            .object("apps/v1", "deployments", "default", "web-v1")
            .unwrap();
        obj["status"]["conditions"] =
            json!([{"type": "Available", "status": "True", "reason": format!("round{i}")}]);
        let changed = Instant::now();
        env.fake.put_object(obj).unwrap();
        let woke = tokio::time::timeout(Duration::from_secs(5), waiter)
            .await
            .unwrap()
            .unwrap();
        lat.push(woke - changed);
    }
    // Every wake came from the watch, not from a timer standing in for one: each came
    // sooner than an engine polling every second would have looked (and none came without
    // a change, checked before each one). The speed itself is a benchmark figure.
    for (i, l) in lat.iter().enumerate() {
        assert!(
            *l < POLL_INTERVAL,
            "change {i}: woke after {l:?}, no sooner than a poll"
        );
    }
    lat.sort();
    let median = lat[lat.len() / 2];
    eprintln!(
        "FIGURES watch wake after a status change (bench: k8s_watch): median {:.1} ms, max {:.1} ms over {} changes (polling would wait up to the poll interval)",
        median.as_secs_f64() * 1e3,
        lat[lat.len() - 1].as_secs_f64() * 1e3,
        lat.len()
    );
}

/// The K8s driver without its change feed: the engine polls.
struct PollOnly(Arc<shipcore_driver_k8s::K8sDriver>);

#[async_trait]
impl Driver for PollOnly {
    fn capabilities(&self) -> Capabilities {
        self.0.capabilities()
    }
    async fn observe(&self, target: &Target) -> Result<FleetState, DriverError> {
        self.0.observe(target).await
    }
    async fn apply(&self, target: &Target, action: &Action) -> Result<(), DriverError> {
        self.0.apply(target, action).await
    }
    async fn preflight(&self, target: &Target, candidate: &Revision) -> Result<(), DriverError> {
        self.0.preflight(target, candidate).await
    }
}

async fn timed_canary(watch: bool) -> (Duration, usize, usize) {
    let env = env(true);
    let v1 = rev("v1", "1.0.0", "registry/web:1.0.0");
    let v2 = rev("v2", "2.0.0", "registry/web:2.0.0");
    seed(&env, &v1, 4).await;
    let strategy = canary(
        json!({"steps": [{"set_weight": 25}, {"set_weight": 50}, {"set_weight": 75}], "scale_down_delay": "0s"}),
    );
    let mut s = spec("timed", &env, Some(v1), v2, 4, &strategy);
    s.poll_interval = Duration::from_millis(500);
    let driver: Arc<dyn Driver> = if watch {
        env.driver.clone()
    } else {
        Arc::new(PollOnly(env.driver.clone()))
    };
    let dir = tempfile::tempdir().unwrap();
    let journal = shipcore::journal::FileJournal::open(dir.path().join("j")).unwrap();
    let mut runner = shipcore::engine::Runner::builder(
        driver,
        Arc::new(shipcore::clock::SystemClock),
        Arc::new(journal),
    )
    .build();
    env.fake.clear_requests();
    let start = Instant::now();
    let report = tokio::time::timeout(Duration::from_secs(60), runner.start(s))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(report.status.phase, Phase::Succeeded, "{:?}", report.status);
    (
        start.elapsed(),
        env.fake.requests().len(),
        report.status.steps,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_canary_with_the_watch_beats_polling_every_500ms() {
    let (watched, wreq, steps) = timed_canary(true).await;
    let (polled, preq, _) = timed_canary(false).await;
    eprintln!(
        "FIGURES canary 4 replicas, 3 weight steps ({steps} plan steps), poll interval 500 ms: {:.2} s and {wreq} API requests ({:.1} per step) with the watch, {:.2} s and {preq} requests ({:.1} per step) polling only",
        watched.as_secs_f64(),
        wreq as f64 / steps as f64,
        polled.as_secs_f64(),
        preq as f64 / steps as f64
    );
    assert!(watched < polled, "watch {watched:?} vs poll {polled:?}");
}
