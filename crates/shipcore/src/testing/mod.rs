//! The testing kit (feature `testing`): a deterministic fleet simulator ([`SimDriver`]), a
//! simulated metrics source that follows it ([`SimMetrics`]), a serializable seeded RNG
//! ([`SimRng`]) and [`SimWorld`], which bundles them with a [`SimClock`](crate::clock::SimClock).
//! [`conformance`] checks any [`Driver`](crate::driver::Driver) against the driver contract.
//!
//! Everything is deterministic: the same seed, the same calls and the same clock readings
//! give the same answers, and the platform's whole state is a serializable [`SimSnapshot`].
//!
//! ```
//! use shipcore::driver::Driver;
//! use shipcore::metrics::{MetricQuery, MetricsSource, ValueProblem};
//! use shipcore::model::{Action, Revision, Target};
//! use shipcore::testing::{Failure, SimWorld};
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let world = SimWorld::new(7);
//! let web = Target::new("web", "production");
//! let v1 = Revision::new("web-v1", "1.0.0".parse().unwrap(), "web:1.0.0");
//! let v2 = Revision::new("web-v2", "2.0.0".parse().unwrap(), "web:2.0.0");
//! world.driver.seed_stable(&web, &v1, 3);
//! world.driver.inject(&v2, Failure::error_rate(0.3)).unwrap();
//! world.driver.apply(&web, &Action::Deploy { revision: v2.clone(), replicas: 1 }).await.unwrap();
//! // Booting: no traffic, so no data (not zero).
//! let q = MetricQuery::instant("error_rate{revision=\"web-v2\"}");
//! assert_eq!(world.metrics.query(&q).await.unwrap().single_value(), Err(ValueProblem::Empty));
//! world.advance(std::time::Duration::from_secs(10));
//! assert_eq!(world.driver.observe(&web).await.unwrap().weight_of(&v2.id), 25);
//! let rate = world.metrics.query(&q).await.unwrap().single_value().unwrap();
//! assert!((rate - 0.3).abs() < 0.15);
//! # });
//! ```

pub mod conformance;
mod memory_migrator;
mod rng;
mod sim_config;
mod sim_driver;
mod sim_metrics;
mod sim_query;
mod sim_state;
mod sim_targets;
mod world;

pub use conformance::Conformance;
pub use memory_migrator::{MemoryMigrator, Script};
pub use rng::SimRng;
pub use sim_config::{
    Behaviour, CrashLoop, Failure, FaultKey, Latency, SimConfig, SimError, VersionFaults,
};
pub use sim_driver::SimDriver;
pub use sim_metrics::{MetricsInjection, SimMetrics, MAX_RANGE_POINTS};
pub use sim_state::{
    CallCounts, CallKind, Instance, RevisionRun, RevisionView, ScriptedFault, SimSnapshot,
    TargetRun, SNAPSHOT_FORMAT,
};
pub use sim_targets::TargetRuns;
pub use world::SimWorld;
