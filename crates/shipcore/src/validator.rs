//! Validators answer "is it healthy?" with a [`Verdict`] and the measurements behind it.
//! An analysis (see [`AnalysisPolicy`](crate::model::AnalysisPolicy)) runs them on an
//! interval and judges the run by its limits.

use crate::model::{Revision, Target};
use crate::time::Timestamp;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The judgement of one measurement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Healthy.
    Pass,
    /// Unhealthy.
    Fail,
    /// Could not tell (no data, NaN, too few samples). Never counts as a pass.
    Inconclusive,
}

/// One measured value, kept for records and reports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Measurement {
    /// Metric name (`error_rate`, `latency_p95`, `http_status`).
    pub name: String,
    /// The value (may be NaN: then the verdict is not a pass). Non-finite values are
    /// written as the strings `"NaN"`, `"inf"`, `"-inf"` so they survive JSON.
    #[serde(with = "crate::time::serde_f64")]
    pub value: f64,
    /// The threshold or baseline it was compared with, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<f64>,
    /// Unit for people (`%`, `s`, `req/s`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub unit: String,
}

impl Measurement {
    /// A measurement with a threshold.
    pub fn new(
        name: impl Into<String>,
        value: f64,
        threshold: Option<f64>,
        unit: impl Into<String>,
    ) -> Self {
        Measurement {
            name: name.into(),
            value,
            threshold,
            unit: unit.into(),
        }
    }
}

/// A validator's answer: outcome, the measurements behind it, and a message for people.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    /// Which validator.
    pub validator: String,
    /// Pass, fail or inconclusive.
    pub outcome: Outcome,
    /// What was measured.
    #[serde(default)]
    pub measurements: Vec<Measurement>,
    /// One line for people.
    #[serde(default)]
    pub message: String,
}

impl Verdict {
    /// A verdict with no measurements.
    pub fn new(validator: impl Into<String>, outcome: Outcome, message: impl Into<String>) -> Self {
        Verdict {
            validator: validator.into(),
            outcome,
            measurements: vec![],
            message: message.into(),
        }
    }
    /// Adds a measurement.
    pub fn with(mut self, m: Measurement) -> Self {
        self.measurements.push(m);
        self
    }
}

/// A validator could not measure at all (distinct from an unhealthy result): counts toward
/// the consecutive-error limit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("validator {validator} could not measure: {message}")]
pub struct ValidatorError {
    /// Which validator.
    pub validator: String,
    /// What went wrong.
    pub message: String,
}

/// What a validator is told about the rollout it judges.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValidationContext {
    /// Rollout id.
    pub rollout_id: String,
    /// Where.
    pub target: Target,
    /// What is being judged.
    pub candidate: Revision,
    /// The baseline, if any.
    pub stable: Option<Revision>,
    /// Engine time (simulated or real).
    pub now: Timestamp,
    /// Template variables: `service`, `environment`, `namespace`, `revision`, `stable_revision`,
    /// `version`, `stable_version`, `rollout_id`.
    pub vars: BTreeMap<String, String>,
}

impl ValidationContext {
    /// Builds the context and its template variables.
    pub fn new(
        rollout_id: &str,
        target: &Target,
        candidate: &Revision,
        stable: Option<&Revision>,
        now: Timestamp,
    ) -> Self {
        let mut vars = BTreeMap::new();
        vars.insert("rollout_id".into(), rollout_id.to_string());
        vars.insert("service".into(), target.service.clone());
        vars.insert("environment".into(), target.environment.clone());
        vars.insert(
            "namespace".into(),
            target.namespace.clone().unwrap_or_default(),
        );
        vars.insert("revision".into(), candidate.id.0.clone());
        vars.insert("version".into(), candidate.version.to_string());
        if let Some(s) = stable {
            vars.insert("stable_revision".into(), s.id.0.clone());
            vars.insert("stable_version".into(), s.version.to_string());
        }
        ValidationContext {
            rollout_id: rollout_id.to_string(),
            target: target.clone(),
            candidate: candidate.clone(),
            stable: stable.cloned(),
            now,
            vars,
        }
    }
}

/// Is it healthy?
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait Validator: Send + Sync {
    /// Name used in plans and records.
    fn name(&self) -> &str;
    /// Take one measurement and judge it.
    async fn validate(&self, ctx: &ValidationContext) -> Result<Verdict, ValidatorError>;
}
