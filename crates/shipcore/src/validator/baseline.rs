//! Baseline comparison: the canary against the stable revision on the same query template,
//! rendered once with `{{revision}}` = candidate and once with `{{revision}}` = stable (so one
//! template serves both sides; `{{stable_revision}}` is also available).
//!
//! A rule allows the candidate up to `baseline * ratio + tolerance` (`fail_when: above`, the
//! default) or down to `baseline * ratio - tolerance` (`fail_when: below`): "error rate <=
//! baseline + 0.01" is `tolerance: 0.01`; "p95 <= 1.1 x baseline" is `ratio: 1.1`. A baseline
//! of 0 with only a ratio allows nothing, so give error rates a tolerance.
//!
//! Outcomes: no stable revision → Inconclusive; fewer than `sample_size.min` samples (a
//! request-count query per side) → Inconclusive; any rule failing → Fail; else any rule with
//! no data / NaN on either side → Inconclusive; else Pass. A failed query is an error.

use super::config::ConfigError;
use super::{combine, finite, instant_value, non_empty, num, stable_vars, FailWhen};
use crate::metrics::{MetricsSource, ValueProblem};
use crate::model::FieldError;
use crate::validator::{
    Measurement, Outcome, ValidationContext, Validator, ValidatorError, Verdict,
};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// One comparison of the candidate with the baseline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BaselineRule {
    /// Metric name, for measurements and messages (`error_rate`, `latency_p95`).
    pub metric: String,
    /// Query template, rendered for each side.
    pub query: String,
    /// Which side is bad (default `above`: the candidate must not be higher).
    #[serde(default)]
    pub fail_when: FailWhen,
    /// Multiplier of the baseline (default 1).
    #[serde(default = "one")]
    pub ratio: f64,
    /// Absolute allowance added to (above) or taken from (below) the scaled baseline
    /// (default 0).
    #[serde(default)]
    pub tolerance: f64,
    /// Unit for people.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub unit: String,
}

fn one() -> f64 {
    1.0
}

impl BaselineRule {
    /// Candidate must stay at or below `baseline * ratio + tolerance`.
    pub fn at_most(
        metric: impl Into<String>,
        query: impl Into<String>,
        ratio: f64,
        tolerance: f64,
    ) -> Self {
        BaselineRule {
            metric: metric.into(),
            query: query.into(),
            fail_when: FailWhen::Above,
            ratio,
            tolerance,
            unit: String::new(),
        }
    }

    /// The limit for the candidate given the baseline value.
    pub fn limit(&self, baseline: f64) -> f64 {
        match self.fail_when {
            FailWhen::Above => baseline * self.ratio + self.tolerance,
            FailWhen::Below => baseline * self.ratio - self.tolerance,
        }
    }

    fn check(&self) -> Result<(), ConfigError> {
        non_empty("metric", &self.metric)?;
        non_empty("query", &self.query)?;
        finite("ratio", self.ratio)?;
        if self.ratio <= 0.0 {
            return Err(FieldError::new("ratio", "must be greater than zero").into());
        }
        finite("tolerance", self.tolerance)?;
        if self.tolerance < 0.0 {
            return Err(FieldError::new("tolerance", "must not be negative").into());
        }
        Ok(())
    }
}

/// The minimum sample size per side: a query counting requests (or events) in the window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SampleSize {
    /// Query template for the count, rendered for each side.
    pub query: String,
    /// Fewer than this on either side is inconclusive.
    pub min: f64,
}

/// Configuration of a [`BaselineValidator`].
///
/// ```
/// let c: shipcore::validator::BaselineConfig = serde_json::from_str(r#"{
///   "name": "canary-vs-stable",
///   "sample_size": {"query": "requests{revision=\"{{revision}}\"}", "min": 100},
///   "rules": [
///     {"metric": "error_rate", "query": "error_rate{revision=\"{{revision}}\"}", "tolerance": 0.01},
///     {"metric": "latency_p95", "query": "latency_p95{revision=\"{{revision}}\"}", "ratio": 1.1}
///   ]}"#).unwrap();
/// assert!(c.check().is_ok());
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BaselineConfig {
    /// Validator name.
    pub name: String,
    /// The comparisons; all must hold.
    pub rules: Vec<BaselineRule>,
    /// Minimum samples per side.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sample_size: Option<SampleSize>,
}

impl BaselineConfig {
    /// Checks the values.
    pub fn check(&self) -> Result<(), ConfigError> {
        non_empty("name", &self.name)?;
        if self.rules.is_empty() {
            return Err(FieldError::new("rules", "must hold at least one rule").into());
        }
        for (i, r) in self.rules.iter().enumerate() {
            r.check().map_err(|e| e.within(&format!("rules[{i}]")))?;
        }
        if let Some(s) = &self.sample_size {
            non_empty("sample_size.query", &s.query)?;
            finite("sample_size.min", s.min)?;
            if s.min <= 0.0 {
                return Err(FieldError::new("sample_size.min", "must be greater than zero").into());
            }
        }
        Ok(())
    }

    /// Checks the values and builds the validator.
    pub fn build(&self, source: Arc<dyn MetricsSource>) -> Result<BaselineValidator, ConfigError> {
        self.check()?;
        Ok(BaselineValidator {
            cfg: self.clone(),
            source,
        })
    }
}

/// Compares the candidate with the stable revision; see the module docs.
pub struct BaselineValidator {
    cfg: BaselineConfig,
    source: Arc<dyn MetricsSource>,
}

impl std::fmt::Debug for BaselineValidator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BaselineValidator")
            .field("cfg", &self.cfg)
            .finish()
    }
}

fn problem_text(side: &str, expr: &str, p: ValueProblem) -> String {
    format!("{side} {expr}: {p}")
}

#[async_trait]
impl Validator for BaselineValidator {
    fn name(&self) -> &str {
        &self.cfg.name
    }

    fn measures_traffic(&self) -> bool {
        true
    }

    async fn validate(&self, ctx: &ValidationContext) -> Result<Verdict, ValidatorError> {
        let name = self.cfg.name.as_str();
        let src = self.source.as_ref();
        let Some(svars) = stable_vars(ctx) else {
            return Ok(Verdict::new(
                name,
                Outcome::Inconclusive,
                "no stable revision to compare with (first deploy?)",
            ));
        };
        let mut verdict = Verdict::new(name, Outcome::Pass, "");
        if let Some(s) = &self.cfg.sample_size {
            let (ce, cand) = instant_value(name, src, &s.query, &ctx.vars, ctx.now).await?;
            let (se, stab) = instant_value(name, src, &s.query, &svars, ctx.now).await?;
            let mut short = Vec::new();
            for (side, expr, got) in [("candidate", ce, cand), ("stable", se, stab)] {
                match got {
                    Ok(n) => {
                        verdict.measurements.push(Measurement::new(
                            format!("samples.{side}"),
                            n,
                            Some(s.min),
                            "",
                        ));
                        if n < s.min {
                            short.push(format!("{side} has {} samples", num(n)));
                        }
                    }
                    Err(p) => short.push(problem_text(side, &expr, p)),
                }
            }
            if !short.is_empty() {
                verdict.outcome = Outcome::Inconclusive;
                verdict.message = format!(
                    "too few samples (need {} per side): {}",
                    num(s.min),
                    short.join("; ")
                );
                return Ok(verdict);
            }
        }
        let mut outcomes = Vec::new();
        let mut notes = Vec::new();
        for r in &self.cfg.rules {
            let (ce, cand) = instant_value(name, src, &r.query, &ctx.vars, ctx.now).await?;
            let (se, stab) = instant_value(name, src, &r.query, &svars, ctx.now).await?;
            let (c, b) = match (cand, stab) {
                (Ok(c), Ok(b)) => (c, b),
                (Err(p), _) => {
                    outcomes.push(Outcome::Inconclusive);
                    notes.push(problem_text("candidate", &ce, p));
                    continue;
                }
                (_, Err(p)) => {
                    outcomes.push(Outcome::Inconclusive);
                    notes.push(problem_text("stable", &se, p));
                    continue;
                }
            };
            let limit = r.limit(b);
            let bad = r.fail_when.breached(c, limit);
            outcomes.push(if bad { Outcome::Fail } else { Outcome::Pass });
            let cmp = match (bad, r.fail_when) {
                (true, FailWhen::Above) => "above",
                (true, FailWhen::Below) => "below",
                (false, FailWhen::Above) => "<=",
                (false, FailWhen::Below) => ">=",
            };
            notes.push(format!(
                "{} {} {cmp} limit {} (baseline {})",
                r.metric,
                num(c),
                num(limit),
                num(b)
            ));
            verdict
                .measurements
                .push(Measurement::new(&r.metric, c, Some(limit), &r.unit));
            verdict.measurements.push(Measurement::new(
                format!("{}.baseline", r.metric),
                b,
                None,
                &r.unit,
            ));
        }
        verdict.outcome = combine(outcomes);
        verdict.message = notes.join("; ");
        Ok(verdict)
    }
}
