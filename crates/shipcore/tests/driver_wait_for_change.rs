//! A driver with a change feed (`Driver::wait_for_change`) ends the engine's wait for ready
//! replicas as soon as it sees a change, instead of after the poll interval.
#![allow(clippy::unwrap_used)]

use shipcore::clock::SystemClock;
use shipcore::model::RevisionState;
use shipcore::prelude::*;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Replicas become ready `boot` after a deploy; each change bumps a generation that
/// `wait_for_change` waits on (when `feed` is on).
struct Booting {
    fleet: Arc<Mutex<FleetState>>,
    generation: tokio::sync::watch::Sender<u64>,
    seen: Mutex<u64>,
    boot: Duration,
    feed: bool,
}

impl Booting {
    fn new(boot: Duration, feed: bool) -> Self {
        Booting {
            fleet: Arc::default(),
            generation: tokio::sync::watch::channel(0).0,
            seen: Mutex::new(0),
            boot,
            feed,
        }
    }
}

#[shipcore::async_trait]
impl Driver for Booting {
    fn capabilities(&self) -> Capabilities {
        Capabilities {
            weighted_traffic: true,
            side_by_side: true,
            ..Capabilities::default()
        }
    }
    async fn observe(&self, _: &Target) -> Result<FleetState, DriverError> {
        *self.seen.lock().unwrap() = *self.generation.borrow();
        Ok(self.fleet.lock().unwrap().clone())
    }
    async fn apply(&self, _: &Target, action: &Action) -> Result<(), DriverError> {
        let mut fleet = self.fleet.lock().unwrap();
        match action {
            Action::Deploy { revision, replicas } => {
                fleet.revisions.retain(|r| r.revision != revision.id);
                fleet.revisions.push(RevisionState {
                    revision: revision.id.clone(),
                    desired: *replicas,
                    ready: 0,
                    updated: *replicas,
                    weight: 0,
                });
                let (shared, tx, boot, id) = (
                    self.fleet.clone(),
                    self.generation.clone(),
                    self.boot,
                    revision.id.clone(),
                );
                tokio::spawn(async move {
                    tokio::time::sleep(boot).await;
                    for r in shared.lock().unwrap().revisions.iter_mut() {
                        if r.revision == id {
                            r.ready = r.desired;
                        }
                    }
                    tx.send_modify(|g| *g += 1);
                });
            }
            Action::Route { weights } => {
                for r in fleet.revisions.iter_mut() {
                    r.weight = weights.of(&r.revision);
                }
            }
            Action::Retire { revision } => fleet.revisions.retain(|r| &r.revision != revision),
            other => return Err(DriverError::permanent(other.describe(), "not supported")),
        }
        Ok(())
    }
    async fn wait_for_change(&self, _: &Target) {
        if !self.feed {
            return std::future::pending().await;
        }
        let seen = *self.seen.lock().unwrap();
        let mut rx = self.generation.subscribe();
        let _ = rx.wait_for(|g| *g > seen).await;
    }
}

fn spec(poll: Duration) -> RolloutSpec {
    let v2 = Revision::new("web-v2", "2.0.0".parse().unwrap(), "web:2");
    let plan = Plan {
        strategy: "canary".into(),
        replicas: 2,
        steps: vec![
            Step::Scale {
                role: Role::Candidate,
                replicas: 2,
            },
            Step::Promote,
        ],
    };
    let mut spec = RolloutSpec::new("web-2", Target::new("web", "prod"), None, v2, plan);
    spec.poll_interval = poll;
    spec.progress_deadline = Duration::from_secs(600);
    spec
}

async fn run(driver: Booting, poll: Duration) -> (shipcore::engine::RunReport, Duration) {
    let started = Instant::now();
    let mut runner = Runner::builder(
        Arc::new(driver),
        Arc::new(SystemClock),
        Arc::new(MemoryJournal::new()),
    )
    .build();
    let report = tokio::time::timeout(Duration::from_secs(20), runner.start(spec(poll)))
        .await
        .expect("the rollout ended")
        .expect("the rollout ran");
    (report, started.elapsed())
}

#[tokio::test]
async fn a_change_ends_the_wait_for_readiness_before_the_poll_interval() {
    // Poll every 60 s; replicas are ready 100 ms after the deploy. Without the change feed
    // the engine would look again only after a minute.
    let (report, took) = run(
        Booting::new(Duration::from_millis(100), true),
        Duration::from_secs(60),
    )
    .await;
    assert_eq!(report.status.phase, Phase::Succeeded, "{report:?}");
    assert!(
        took < Duration::from_secs(10),
        "took {took:?}: the change did not wake the engine"
    );
    assert!(
        took >= Duration::from_millis(100),
        "took {took:?}: it did not wait for readiness"
    );
}

#[tokio::test]
async fn without_a_change_feed_the_engine_polls() {
    // Same driver, no feed: readiness is seen at the first poll, 1 s after the deploy.
    let (report, took) = run(
        Booting::new(Duration::from_millis(100), false),
        Duration::from_secs(1),
    )
    .await;
    assert_eq!(report.status.phase, Phase::Succeeded, "{report:?}");
    assert!(
        took >= Duration::from_secs(1),
        "took {took:?}: it cannot have seen readiness before polling"
    );
}

/// Observe always fails (transiently); the change feed never stops talking.
struct Failing;

#[shipcore::async_trait]
impl Driver for Failing {
    fn capabilities(&self) -> Capabilities {
        Capabilities {
            weighted_traffic: true,
            side_by_side: true,
            ..Capabilities::default()
        }
    }
    async fn observe(&self, _: &Target) -> Result<FleetState, DriverError> {
        Err(DriverError::transient("observe", "apiserver unavailable"))
    }
    async fn apply(&self, _: &Target, _: &Action) -> Result<(), DriverError> {
        Ok(())
    }
    async fn wait_for_change(&self, _: &Target) {}
}

#[tokio::test]
async fn a_change_never_cuts_a_backoff_after_a_failed_observe_short() {
    // Three attempts, 200 ms then 400 ms apart: a feed that always reports a change must
    // not turn those backoffs into an immediate hammering of a failing API.
    let mut spec = spec(Duration::from_secs(60));
    spec.retry.max_attempts = 3;
    spec.retry.initial_backoff = Duration::from_millis(200);
    spec.retry.max_backoff = Duration::from_secs(1);
    let started = Instant::now();
    let mut runner = Runner::builder(
        Arc::new(Failing),
        Arc::new(SystemClock),
        Arc::new(MemoryJournal::new()),
    )
    .build();
    let report = tokio::time::timeout(Duration::from_secs(20), runner.start(spec))
        .await
        .expect("the rollout ended")
        .expect("the rollout ran");
    let took = started.elapsed();
    assert_ne!(report.status.phase, Phase::Succeeded, "{report:?}");
    assert!(
        took >= Duration::from_millis(600),
        "took {took:?}: the backoffs were cut short"
    );
}
