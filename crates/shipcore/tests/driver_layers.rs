//! Driver layers composed around real drivers: a timeout turns a hung call into a
//! transient error the engine retries through, stats count what the engine did, a dry run
//! leaves the platform untouched.
#![allow(clippy::unwrap_used)]

mod sim_rollout;

use async_trait::async_trait;
use shipcore::driver::{
    Capabilities, Driver, DriverError, DriverExt, DryRun, DryRunLayer, ErrorKind, Stats,
    StatsLayer, Timeout, TimeoutLayer,
};
use shipcore::engine::{Phase, RunError};
use shipcore::journal::MemoryJournal;
use shipcore::model::{Action, FleetState, Target};
use shipcore::testing::{SimDriver, SimWorld};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Hangs on its first `hangs` applies, then passes calls through.
struct HangsFirst {
    inner: Arc<dyn Driver>,
    hangs: AtomicU32,
}

#[async_trait]
impl Driver for HangsFirst {
    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }
    async fn observe(&self, target: &Target) -> Result<FleetState, DriverError> {
        self.inner.observe(target).await
    }
    async fn apply(&self, target: &Target, action: &Action) -> Result<(), DriverError> {
        let left = self.hangs.load(Ordering::SeqCst);
        if left > 0 {
            self.hangs.store(left - 1, Ordering::SeqCst);
            std::future::pending::<()>().await;
        }
        self.inner.apply(target, action).await
    }
}

#[tokio::test]
async fn a_hung_call_times_out_as_a_transient_error() {
    let world = sim_rollout::world(1, false);
    let hung = HangsFirst {
        inner: world.driver_arc(),
        hangs: AtomicU32::new(1),
    }
    .layer(TimeoutLayer::split(
        Duration::from_secs(1),
        Duration::from_millis(20),
    ));
    let action = Action::Retire {
        revision: sim_rollout::v2().id,
    };
    let e = hung
        .apply(&sim_rollout::target(), &action)
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Transient);
    assert!(e.message.contains("no answer within 20ms"), "{e}");
    assert!(
        e.operation.contains("retire web-v2") || e.operation.contains("retire"),
        "{e}"
    );
    // The next call is not hung and passes.
    hung.apply(&sim_rollout::target(), &action).await.unwrap();
}

#[tokio::test]
async fn the_engine_retries_through_timeouts_and_stats_count_every_call() {
    let world = sim_rollout::world(3, false);
    let stats = StatsLayer::new();
    let counts = stats.stats();
    let driver = HangsFirst {
        inner: world.driver_arc(),
        hangs: AtomicU32::new(2),
    }
    .layer(TimeoutLayer::new(Duration::from_millis(20)))
    .layer(stats);
    let mut runner = sim_rollout::runner(&world, Arc::new(driver), Arc::new(MemoryJournal::new()));
    let report = runner.start(sim_rollout::spec()).await.unwrap();
    assert_eq!(report.status.phase, Phase::Succeeded, "{:?}", report.status);
    let seen = counts.snapshot();
    // Two timeouts plus the simulator's own 5% transient faults; every accepted action and
    // observation the simulator saw went through the layer.
    assert!(seen.transient_errors >= 2, "{seen:?}");
    assert_eq!(seen.permanent_errors, 0);
    let platform = world.driver.calls();
    assert!(seen.apply_ok > 5 && seen.observe_ok > 5, "{seen:?}");
    assert_eq!(
        seen.apply_ok + seen.observe_ok + seen.transient_errors,
        platform.total + 2,
        "{seen:?} vs {platform:?}"
    );
}

/// Each layer's driver is named after it, as in tower (`TimeoutLayer` builds a `Timeout`):
/// `StatsLayer` builds a `Stats`, `DryRunLayer` a `DryRun`.
#[tokio::test]
async fn each_layer_builds_the_driver_named_after_it() {
    // No injected faults: the one observation succeeds.
    let world = SimWorld::new(3);
    world
        .driver
        .seed_stable(&sim_rollout::target(), &sim_rollout::v1(), 2);
    let stats = StatsLayer::new();
    let counts = stats.stats();
    let driver: DryRun<Stats<Timeout<SimDriver>>> = world
        .driver
        .clone()
        .layer(TimeoutLayer::new(Duration::from_secs(1)))
        .layer(stats)
        .layer(DryRunLayer::new());
    driver.observe(&sim_rollout::target()).await.unwrap();
    assert_eq!(counts.snapshot().observe_ok, 1);
}

#[tokio::test]
async fn a_dry_run_observes_the_platform_but_never_changes_it() {
    let world = sim_rollout::world(5, false);
    let dry = DryRunLayer::new();
    let driver = world.driver.clone().layer(dry.clone());
    let before = world.driver.fleet(&sim_rollout::target());
    let deploy = Action::Deploy {
        revision: sim_rollout::v2(),
        replicas: 4,
    };
    driver.apply(&sim_rollout::target(), &deploy).await.unwrap();
    world.advance(Duration::from_secs(60));
    assert_eq!(
        driver.observe(&sim_rollout::target()).await.unwrap(),
        before
    );
    assert_eq!(dry.actions(), vec![(sim_rollout::target(), deploy)]);
}

/// Refuses every candidate in preflight, as a driver does for an unknown image.
struct Refuses(Arc<dyn Driver>);

#[async_trait]
impl Driver for Refuses {
    fn capabilities(&self) -> Capabilities {
        self.0.capabilities()
    }
    async fn observe(&self, target: &Target) -> Result<FleetState, DriverError> {
        self.0.observe(target).await
    }
    async fn apply(&self, target: &Target, action: &Action) -> Result<(), DriverError> {
        self.0.apply(target, action).await
    }
    async fn preflight(
        &self,
        _target: &Target,
        candidate: &shipcore::model::Revision,
    ) -> Result<(), DriverError> {
        Err(DriverError::permanent(
            "preflight",
            format!("image {} does not exist", candidate.artifact),
        ))
    }
}

#[tokio::test]
async fn a_driver_preflight_refusal_stops_the_rollout_before_anything_is_journaled_or_changed() {
    let world = sim_rollout::world(9, false);
    world.driver.record_actions(true);
    let journal = Arc::new(MemoryJournal::new());
    // Through the layers too: each forwards the preflight.
    let stats = StatsLayer::new();
    let driver = Refuses(world.driver_arc())
        .layer(TimeoutLayer::new(Duration::from_secs(1)))
        .layer(stats)
        .layer(DryRunLayer::new());
    let mut runner = sim_rollout::runner(&world, Arc::new(driver), journal.clone());
    let err = runner.start(sim_rollout::spec()).await.unwrap_err();
    assert!(matches!(err, RunError::Preflight(_)), "{err}");
    assert!(!err.is_transient());
    assert!(
        err.to_string()
            .contains("image checkout:1.5.0 does not exist"),
        "{err}"
    );
    assert!(journal.entries().is_empty());
    assert!(world.driver.actions().is_empty());
}
