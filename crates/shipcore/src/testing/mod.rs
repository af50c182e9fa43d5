//! The testing kit (feature `testing`): a deterministic fleet simulator ([`SimDriver`]), a
//! simulated metrics source that follows it ([`SimMetrics`]), a serializable seeded RNG
//! ([`SimRng`]) and [`SimWorld`], which bundles them with a [`SimClock`](crate::clock::SimClock).

mod rng;
mod sim_config;
mod sim_driver;
mod sim_metrics;
mod sim_query;
mod sim_state;
mod world;

pub use rng::{mix64, SimRng};
pub use sim_config::{
    Behaviour, CrashLoop, Failure, FaultKey, Latency, SimConfig, SimError, VersionFaults,
};
pub use sim_driver::SimDriver;
pub use sim_metrics::{MetricsInjection, SimMetrics, MAX_RANGE_POINTS};
pub use sim_query::{SimMetric, SimQuery};
pub use sim_state::{
    ready_shares, CallCounts, CallKind, Instance, RevisionRun, RevisionView, ScriptedFault,
    SimSnapshot, TargetRun, SNAPSHOT_FORMAT,
};
pub use world::SimWorld;
