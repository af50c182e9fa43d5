//! Validator configuration as data: [`ValidatorConfig`] is tagged by `"type"`, rejects
//! unknown fields, and [`ValidatorConfig::build`] checks the values and makes the validator.
//! Every problem is a [`ConfigError`] naming the field.

use super::{
    BaselineConfig, HttpHealthConfig, JudgeConfig, LogPatternConfig, SmokeConfig, ThresholdConfig,
};
use crate::metrics::MetricsSource;
use crate::model::FieldError;
use crate::validator::Validator;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// A validator configuration value is wrong: a [`FieldError`] (which field, what is wrong),
/// shown as `invalid validator configuration: field: problem`. `e.field` and `e.problem` read
/// the inner error's fields (`critical`, `metrics[1].tolerance`; `<json>` for syntax errors).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid validator configuration: {0}")]
pub struct ConfigError(pub FieldError);

crate::field_error_wrapper!(ConfigError);

/// What validators need from outside their configuration.
#[derive(Clone, Default)]
pub struct ValidatorDeps {
    /// Where metric validators (threshold, baseline, judge) get their numbers.
    pub metrics: Option<Arc<dyn MetricsSource>>,
}

impl ValidatorDeps {
    /// Dependencies with a metrics source.
    pub fn with_metrics(metrics: Arc<dyn MetricsSource>) -> Self {
        ValidatorDeps {
            metrics: Some(metrics),
        }
    }

    /// The metrics source, or an error saying the validator needs one.
    pub fn metrics(&self) -> Result<Arc<dyn MetricsSource>, ConfigError> {
        self.metrics.clone().ok_or_else(|| {
            FieldError::new(
                "metrics",
                "this validator queries metrics, but no metrics source was given",
            )
            .into()
        })
    }
}

impl std::fmt::Debug for ValidatorDeps {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ValidatorDeps")
            .field("metrics", &self.metrics.as_ref().map(|_| "<MetricsSource>"))
            .finish()
    }
}

/// Any built-in validator, as configuration. Serialized with a `"type"` tag:
/// `{"type": "metric_threshold", "name": "errors", "query": "...", "critical": 0.05}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum ValidatorConfig {
    /// A metric past a warning / critical level (for a duration).
    MetricThreshold(ThresholdConfig),
    /// The candidate compared with the stable revision.
    Baseline(BaselineConfig),
    /// Canary vs stable samples judged with a Mann–Whitney U test and a weighted score.
    Judge(JudgeConfig),
    /// A health endpoint: status, JSON body, version, dependencies.
    HttpHealth(HttpHealthConfig),
    /// A list of requests with expected statuses and body fields.
    Smoke(SmokeConfig),
    /// Lines matching a pattern in a log file or a command's output.
    LogPattern(LogPatternConfig),
}

impl ValidatorConfig {
    /// Parses one validator from JSON; syntax and unknown-field errors are reported with
    /// field `<json>` and serde's message (which names the field).
    pub fn from_json(text: &str) -> Result<ValidatorConfig, ConfigError> {
        serde_json::from_str(text).map_err(|e| FieldError::new("<json>", e.to_string()).into())
    }

    /// The validator's name.
    pub fn name(&self) -> &str {
        match self {
            ValidatorConfig::MetricThreshold(c) => &c.name,
            ValidatorConfig::Baseline(c) => &c.name,
            ValidatorConfig::Judge(c) => &c.name,
            ValidatorConfig::HttpHealth(c) => &c.name,
            ValidatorConfig::Smoke(c) => &c.name,
            ValidatorConfig::LogPattern(c) => &c.name,
        }
    }

    /// Checks the values without building (no dependencies needed).
    pub fn check(&self) -> Result<(), ConfigError> {
        match self {
            ValidatorConfig::MetricThreshold(c) => c.check(),
            ValidatorConfig::Baseline(c) => c.check(),
            ValidatorConfig::Judge(c) => c.check(),
            ValidatorConfig::HttpHealth(c) => c.check(),
            ValidatorConfig::Smoke(c) => c.check(),
            ValidatorConfig::LogPattern(c) => c.check(),
        }
    }

    /// Whether the validator needs [`ValidatorDeps::metrics`].
    pub fn needs_metrics(&self) -> bool {
        matches!(
            self,
            ValidatorConfig::MetricThreshold(_)
                | ValidatorConfig::Baseline(_)
                | ValidatorConfig::Judge(_)
        )
    }

    /// Checks the values and builds the validator.
    pub fn build(&self, deps: &ValidatorDeps) -> Result<Arc<dyn Validator>, ConfigError> {
        Ok(match self {
            ValidatorConfig::MetricThreshold(c) => Arc::new(c.build(deps.metrics()?)?),
            ValidatorConfig::Baseline(c) => Arc::new(c.build(deps.metrics()?)?),
            ValidatorConfig::Judge(c) => Arc::new(c.build(deps.metrics()?)?),
            ValidatorConfig::HttpHealth(c) => Arc::new(c.build()?),
            ValidatorConfig::Smoke(c) => Arc::new(c.build()?),
            ValidatorConfig::LogPattern(c) => Arc::new(c.build()?),
        })
    }
}
