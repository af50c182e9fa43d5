//! The strategy a plan file names: one tagged enum over the built-in strategies
//! (`{"type": "canary", "steps": [...]}`), itself a [`Strategy`].

use super::{
    BlueGreen, Canary, FeatureFlag, Linear, PlanContext, PlanError, Recreate, Rolling, Strategy,
};
use crate::model::Plan;
use serde::{Deserialize, Serialize};

/// A built-in strategy chosen by configuration, tagged by `type`.
///
/// ```
/// use shipcore::strategy::{StrategyConfig, Strategy};
/// let s: StrategyConfig = serde_json::from_str(
///     r#"{"type": "rolling", "max_surge": 1, "max_unavailable": "0%"}"#,
/// ).unwrap();
/// assert_eq!(s.name(), "rolling");
/// let e = serde_json::from_str::<StrategyConfig>(r#"{"type": "canary", "stepz": []}"#)
///     .unwrap_err();
/// assert!(e.to_string().contains("unknown field `stepz`"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum StrategyConfig {
    /// [`Rolling`].
    Rolling(Rolling),
    /// [`BlueGreen`].
    BlueGreen(BlueGreen),
    /// [`Canary`].
    Canary(Canary),
    /// [`Linear`].
    Linear(Linear),
    /// [`Recreate`].
    Recreate(Recreate),
    /// [`FeatureFlag`].
    FeatureFlag(FeatureFlag),
}

impl StrategyConfig {
    /// The chosen strategy.
    pub fn as_strategy(&self) -> &dyn Strategy {
        match self {
            StrategyConfig::Rolling(s) => s,
            StrategyConfig::BlueGreen(s) => s,
            StrategyConfig::Canary(s) => s,
            StrategyConfig::Linear(s) => s,
            StrategyConfig::Recreate(s) => s,
            StrategyConfig::FeatureFlag(s) => s,
        }
    }
}

impl Strategy for StrategyConfig {
    fn name(&self) -> &'static str {
        self.as_strategy().name()
    }

    fn plan(&self, ctx: &PlanContext) -> Result<Plan, PlanError> {
        self.as_strategy().plan(ctx)
    }
}
