//! The data the engine, strategies and drivers exchange: revisions, the fleet as a driver
//! observes it, the actions a driver performs and what it can do, plans made of steps and
//! why one is refused, and the phase a rollout is in. All of it is plain,
//! serializable data, so a plan can be printed, stored and replayed.

mod action;
mod capabilities;
mod field_error;
mod fleet;
mod migration;
mod monitoring;
mod phase;
mod plan;
mod plan_error;
mod revision;

pub use action::{percentages, Action, WeightSet};
pub use capabilities::Capabilities;
pub use field_error::FieldError;
pub use fleet::{FleetState, RevisionState};
pub use migration::{ContractPolicy, MigrationPhase};
pub use monitoring::Monitoring;
pub use phase::{Phase, RolloutStatus};
pub(crate) use plan::{check_gate_names, check_replicas};
pub use plan::{
    AnalysisPolicy, AnalysisStep, InconclusiveAction, Plan, PlanWarning, Step, MAX_REPLICAS,
};
pub use plan_error::PlanError;
pub use revision::{
    check_identifier, is_identifier, Revision, RevisionId, Role, Target, IDENTIFIER_MAX_LEN,
};
