//! The names most programs embedding shipcore need, in one import:
//! `use shipcore::prelude::*;`.
//!
//! It brings the engine ([`Runner`], [`RolloutSpec`], [`Phase`], [`RunReport`],
//! [`RolloutHandle`], [`Command`], [`FailurePolicy`]), the model ([`Plan`], [`Step`],
//! [`Role`], [`Revision`], [`Target`], [`Action`]…), the traits to implement ([`Driver`],
//! [`Validator`], [`Gate`], [`MetricsSource`], [`Journal`], [`Notifier`], [`Clock`],
//! [`Migrator`]) with
//! their answer types, the [`async_trait`](macro@async_trait) attribute that implements them, the journals, and
//! the built-in strategies.
//!
//! The strategy trait, [`shipcore::strategy::Strategy`](crate::strategy::Strategy), is
//! imported *without its name* (`as _`): its `plan` method works, and the name stays free
//! for proptest's `Strategy`, so both preludes import side by side. Name it yourself under
//! another name if you need to (`use shipcore::strategy::Strategy as PlanStrategy;`).
//!
//! ```
//! use proptest::prelude::*;
//! use shipcore::prelude::*;
//!
//! // proptest's Strategy…
//! fn replicas() -> impl Strategy<Value = u32> {
//!     1u32..10
//! }
//! // …and shipcore's, by method.
//! let ctx = PlanContext {
//!     target: Target::new("web", "production"),
//!     stable: Some(Revision::new("web-v1", "1.0.0".parse().unwrap(), "web:1")),
//!     candidate: Revision::new("web-v2", "2.0.0".parse().unwrap(), "web:2"),
//!     replicas: 4,
//!     capabilities: Capabilities::ALL,
//! };
//! let plan = Canary::default().plan(&ctx).unwrap();
//! assert!(plan.validate(&ctx.capabilities).is_ok());
//! let _ = replicas();
//! ```

pub use crate::async_trait;
pub use crate::clock::{Clock, SimClock, SystemClock};
pub use crate::driver::{Capabilities, Driver, DriverError, ErrorKind};
pub use crate::engine::{
    Command, Engine, Event, EventKind, FailurePolicy, Phase, RetryPolicy, RolloutHandle,
    RolloutSpec, RolloutStatus, RunError, RunReport, Runner, RunningRollout,
};
pub use crate::gate::{Gate, GateContext, GateOutcome};
pub use crate::journal::{FileJournal, Journal, MemoryJournal};
pub use crate::metrics::MetricsSource;
pub use crate::migrate::Migrator;
pub use crate::model::{
    Action, AnalysisPolicy, AnalysisStep, FleetState, MigrationPhase, Plan, Revision, RevisionId,
    Role, Step, Target, WeightSet,
};
pub use crate::notify::Notifier;
pub use crate::strategy::Strategy as _;
pub use crate::strategy::{
    BlueGreen, Canary, FeatureFlag, Linear, PlanContext, PlanError, Recreate, Rolling,
    StrategyConfig,
};
pub use crate::validator::{
    Measurement, Outcome, ValidationContext, Validator, ValidatorError, Verdict,
};
