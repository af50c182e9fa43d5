//! The metric threshold validator: one query (a template rendered with the context's
//! variables) compared with a warning and a critical level, failing only when the critical
//! level has been breached for a `for` duration, as a Prometheus alert fires after `for`.
//!
//! Semantics, judged on engine time (`ValidationContext::now`):
//! - value past critical: the breach lasts since the previous measurement's
//!   [`Verdict::breached_since`] (handed back by the engine as
//!   [`ValidationContext::breached_since`]), or starts now; the verdict says since when in
//!   its own `breached_since`. The validator itself keeps no state: the engine journals the
//!   verdict and carries the window from one measurement of an analysis run to the next,
//!   also across a crash and resume, and a new analysis run starts a new window. While the
//!   breach lasted less than `for`, the verdict is **Pass** with a message
//!   `pending: above critical 0.05 for 30s of 2m` (Prometheus "pending": not firing yet, so a
//!   pending breach does not use up the analysis' inconclusive budget). Once it lasted
//!   `>= for`, **Fail**. With `for = 0` a single breach fails.
//! - value within critical: the pending clock resets (`breached_since` is `None`). Past the
//!   warning level: **Pass** with a `warning:` message and an extra measurement named
//!   `<name>.warning`.
//! - empty result: **Inconclusive** ("no data"); NaN / infinite / several series:
//!   **Inconclusive** naming the problem. Missing data neither starts nor resets the pending
//!   clock (a crashed canary often reports nothing): the verdict passes the context's
//!   `breached_since` on.
//! - query error or an unknown template variable: `Err(ValidatorError)` (the engine then
//!   keeps the window as it was).
//!
//! A rollout journaled before verdicts carried `breached_since` and resumed in the middle
//! of a pending breach restarts its window at the first breaching measurement after the
//! resume (it fails up to `for` later than it would have, never earlier).
//!
//! This validator makes instant queries at `now`; it does not use range queries.

use super::config::ConfigError;
use super::{finite, non_empty, num, verr, Num};
use crate::metrics::{MetricQuery, MetricsError, MetricsSource, QueryResult};
use crate::model::FieldError;
use crate::template::Placement;
use crate::time::{format_duration, serde_duration};
use crate::validator::{
    Measurement, Outcome, ValidationContext, Validator, ValidatorError, Verdict,
};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;

/// Which side of a level is bad.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailWhen {
    /// Values above the level are bad (error rate, latency). The default.
    #[default]
    Above,
    /// Values below the level are bad (success rate, throughput).
    Below,
}

impl FailWhen {
    /// Whether `value` is past `level` on the bad side (strictly).
    pub fn breached(self, value: f64, level: f64) -> bool {
        match self {
            FailWhen::Above => value > level,
            FailWhen::Below => value < level,
        }
    }

    fn word(self) -> &'static str {
        match self {
            FailWhen::Above => "above",
            FailWhen::Below => "below",
        }
    }
}

/// Configuration of a [`MetricThreshold`].
///
/// ```
/// let c: shipcore::validator::ThresholdConfig = serde_json::from_str(r#"{
///     "name": "error-rate", "query": "error_rate{revision=\"{{revision}}\"}",
///     "warning": 0.01, "critical": 0.05, "for": "2m"}"#).unwrap();
/// assert_eq!(c.for_duration, std::time::Duration::from_secs(120));
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThresholdConfig {
    /// Validator name (also the measurement name).
    pub name: String,
    /// Query template; `{{revision}}`, `{{service}}` etc. come from the context's variables.
    pub query: String,
    /// Which side is bad (default `above`).
    #[serde(default)]
    pub fail_when: FailWhen,
    /// A level that never fails anything: a value past it (on the `fail_when` side) but
    /// within `critical` is still a **Pass**, whose message starts with `warning:` and which
    /// carries an extra measurement named `<name>.warning`, so records and reports show that
    /// the candidate came close. It must lie on the good side of `critical` (checked).
    /// Omitted: no warning level.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warning: Option<f64>,
    /// The level that fails: a value past it (strictly, on the `fail_when` side) for at
    /// least `for` is a **Fail**.
    pub critical: f64,
    /// `for` in configuration, as in a Prometheus alert: how long the value must stay past
    /// `critical`, measured in engine time from the first measurement of the analysis run
    /// that breached it, before the verdict is **Fail**. Until then each breaching
    /// measurement is a **Pass** saying `pending: … for 30s of 2m`; a measurement within
    /// `critical` resets the clock; missing data neither starts nor resets it. Default 0: the first breach fails. An
    /// analysis must measure over at least `for` (interval × count) for a sustained breach to
    /// fail it.
    #[serde(rename = "for", default, with = "serde_duration")]
    pub for_duration: Duration,
    /// Unit for people (`ratio`, `s`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub unit: String,
}

impl ThresholdConfig {
    /// A threshold failing at once when `query` is above `critical`.
    pub fn above(name: impl Into<String>, query: impl Into<String>, critical: f64) -> Self {
        ThresholdConfig {
            name: name.into(),
            query: query.into(),
            fail_when: FailWhen::Above,
            warning: None,
            critical,
            for_duration: Duration::ZERO,
            unit: String::new(),
        }
    }

    /// Checks the values.
    pub fn check(&self) -> Result<(), ConfigError> {
        non_empty("name", &self.name)?;
        non_empty("query", &self.query)?;
        finite("critical", self.critical)?;
        if let Some(w) = self.warning {
            finite("warning", w)?;
            if self.fail_when.breached(w, self.critical) {
                return Err(FieldError::new(
                    "warning",
                    format!(
                        "{} is past the critical level {} (fail_when: {}); the warning level \
                         must come before the critical one",
                        num(w),
                        num(self.critical),
                        self.fail_when.word()
                    ),
                )
                .into());
            }
        }
        Ok(())
    }

    /// Checks the values and builds the validator.
    pub fn build(&self, source: Arc<dyn MetricsSource>) -> Result<MetricThreshold, ConfigError> {
        self.check()?;
        Ok(MetricThreshold {
            cfg: self.clone(),
            critical_text: num(self.critical),
            for_text: format_duration(self.for_duration),
            source,
        })
    }
}

/// Compares one metric with warning and critical levels; see the module docs for semantics.
pub struct MetricThreshold {
    cfg: ThresholdConfig,
    /// `num(cfg.critical)`, written into every message.
    critical_text: String,
    /// `format_duration(cfg.for_duration)`, written into breach messages.
    for_text: String,
    source: Arc<dyn MetricsSource>,
}

impl std::fmt::Debug for MetricThreshold {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetricThreshold")
            .field("cfg", &self.cfg)
            .finish()
    }
}

impl MetricThreshold {
    /// The configuration.
    pub fn config(&self) -> &ThresholdConfig {
        &self.cfg
    }
}

#[async_trait]
impl Validator for MetricThreshold {
    fn name(&self) -> &str {
        &self.cfg.name
    }

    fn measures_traffic(&self) -> bool {
        true
    }

    async fn validate(&self, ctx: &ValidationContext) -> Result<Verdict, ValidatorError> {
        let query = self.query(ctx)?;
        let result = self.source.query(&query).await;
        self.judge(ctx, &query, result)
    }

    fn validate_now(&self, ctx: &ValidationContext) -> Option<Result<Verdict, ValidatorError>> {
        let query = match self.query(ctx) {
            Ok(query) => query,
            Err(e) => return Some(Err(e)),
        };
        let result = self.source.query_now(&query)?;
        Some(self.judge(ctx, &query, result))
    }
}

impl MetricThreshold {
    /// The configured query, rendered for `ctx`, at its instant.
    fn query(&self, ctx: &ValidationContext) -> Result<MetricQuery, ValidatorError> {
        let c = &self.cfg;
        let rendered = (ctx.vars)
            .render(&c.query, Placement::PromQl)
            .map_err(|e| verr(&c.name, e.to_string()))?;
        Ok(MetricQuery::at(rendered, ctx.now))
    }

    /// The verdict on `query`'s answer.
    fn judge(
        &self,
        ctx: &ValidationContext,
        query: &MetricQuery,
        result: Result<QueryResult, MetricsError>,
    ) -> Result<Verdict, ValidatorError> {
        let c = &self.cfg;
        let result = result.map_err(|e| verr(&c.name, e.to_string()))?;
        let value = match result.single_value() {
            Ok(v) => v,
            Err(problem) => {
                // Missing data neither starts nor resets the pending clock: pass it on.
                return Ok(Verdict::new(
                    &c.name,
                    Outcome::Inconclusive,
                    format!("{}: {problem}", query.expr),
                )
                .with_breached_since(ctx.breached_since));
            }
        };
        let side = c.fail_when.word();
        let m = Measurement::new(&c.name, value, Some(c.critical), &c.unit);
        if c.fail_when.breached(value, c.critical) {
            // The breach goes on since the previous measurement said, or starts now.
            let since = ctx.breached_since.unwrap_or(ctx.now);
            let lasted = ctx.now.since(since);
            let (outcome, prefix) = if lasted >= c.for_duration {
                (Outcome::Fail, "")
            } else {
                (Outcome::Pass, "pending: ")
            };
            let msg = format!(
                "{prefix}{} = {} {side} critical {} for {} of {}",
                c.name,
                Num(value),
                self.critical_text,
                format_duration(lasted),
                self.for_text
            );
            return Ok(Verdict::new(&c.name, outcome, msg)
                .with(m)
                .with_breached_since(Some(since)));
        }
        if let Some(w) = c.warning.filter(|w| c.fail_when.breached(value, *w)) {
            let msg = format!(
                "warning: {} = {} {side} warning {} (critical {})",
                c.name,
                Num(value),
                Num(w),
                self.critical_text
            );
            let wm = Measurement::new(format!("{}.warning", c.name), value, Some(w), &c.unit);
            return Ok(Verdict::new(&c.name, Outcome::Pass, msg).with(m).with(wm));
        }
        // The common case, written without `format!`: "<name> = <value> within critical <c>".
        let mut msg = String::with_capacity(c.name.len() + self.critical_text.len() + 48);
        msg.push_str(&c.name);
        msg.push_str(" = ");
        Num(value).push_to(&mut msg);
        msg.push_str(" within critical ");
        msg.push_str(&self.critical_text);
        Ok(Verdict::new(&c.name, Outcome::Pass, msg).with(m))
    }
}
