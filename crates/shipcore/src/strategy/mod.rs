//! Strategies turn a rollout's context into a [`Plan`]: pure, synchronous, no I/O. Each
//! validates its own configuration and refuses, with a [`PlanError`] naming the field, what
//! the driver cannot do; the plan it builds is then checked by [`Plan::validate`], the one
//! place that checks a plan's steps (analyses and gates in a configuration are checked with
//! the same rules, [`AnalysisStep::validate`](crate::model::AnalysisStep::validate)).

mod blue_green;
mod canary;
mod canary_step;
mod codedeploy;
mod config;
mod feature_flag;
mod int_or_percent;
mod linear;
mod recreate;
mod rolling;
mod support;

pub use blue_green::BlueGreen;
pub use canary::{Canary, TrafficMode};
pub use canary_step::{CanaryStep, PauseSpec};
pub use codedeploy::from_codedeploy_name;
pub use config::StrategyConfig;
pub use feature_flag::FeatureFlag;
pub use int_or_percent::IntOrPercent;
pub use linear::Linear;
pub use recreate::Recreate;
pub use rolling::Rolling;
pub use support::MAX_PLAN_STEPS;

pub use crate::model::PlanError;
use crate::model::{Capabilities, Plan, Revision, Target};
use serde::{Deserialize, Serialize};

/// What a strategy plans from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanContext {
    /// The service and environment the plan is for.
    pub target: Target,
    /// What runs now (none on a first deploy).
    pub stable: Option<Revision>,
    /// What to deploy.
    pub candidate: Revision,
    /// Replicas the service should end with.
    pub replicas: u32,
    /// What the driver can do.
    pub capabilities: Capabilities,
}

/// Makes a plan. Pure and synchronous: the same context always gives the same plan.
pub trait Strategy: Send + Sync {
    /// Short name (`canary`, `rolling`).
    fn name(&self) -> &'static str;
    /// The plan for `ctx`, or why there cannot be one.
    fn plan(&self, ctx: &PlanContext) -> Result<Plan, PlanError>;
}
