//! Validators answer "is it healthy?" with a [`Verdict`] and the measurements behind it.
//! An analysis (see [`AnalysisPolicy`](crate::model::AnalysisPolicy)) runs them on an
//! interval and judges the run by its limits.
//!
//! The validators built in, each a configuration (serde, unknown
//! fields rejected, [`ValidatorConfig`] tagged by `"type"`) that is checked and built:
//!
//! | `type` | config | validator |
//! |---|---|---|
//! | `metric_threshold` | [`ThresholdConfig`] | [`MetricThreshold`]: warning/critical levels, a `for` duration on engine time |
//! | `baseline` | [`BaselineConfig`] | [`BaselineValidator`]: canary vs stable, ratio/tolerance rules, min samples |
//! | `judge` | [`JudgeConfig`] | [`StatisticalJudge`]: Kayenta's Mann–Whitney classifier per metric (or the earlier p-value rule), weighted score |
//! | `http_health` | [`HttpHealthConfig`] | [`HttpHealth`]: status, JSON `status`, version, dependencies |
//! | `smoke` | [`SmokeConfig`] | [`SmokeTests`]: requests with expected statuses and JSON-path checks |
//! | `log_pattern` | [`LogPatternConfig`] | [`LogPattern`]: matching lines in new log output or a command's output |
//!
//! No data, NaN and query errors are never a pass: empty results and non-finite values give
//! [`Outcome::Inconclusive`] with the problem named,
//! and a failed query is a [`ValidatorError`] (it counts toward the consecutive-error limit).
//!
//! ```
//! use shipcore::validator::{ValidatorConfig, ValidatorDeps};
//! let cfg = ValidatorConfig::from_json(r#"{"type": "metric_threshold", "name": "errors",
//!     "query": "error_rate{revision=\"{{revision}}\"}", "critical": 0.05, "for": "2m"}"#)
//!     .unwrap();
//! // Metric validators need a metrics source; without one, building names the problem.
//! let err = cfg.build(&ValidatorDeps::default()).err().unwrap();
//! assert_eq!(err.field, "metrics");
//! ```

mod baseline;
mod config;
mod format;
mod http;
mod http_health;
mod json_path;
mod judge;
mod log_pattern;
mod mann_whitney;
mod smoke;
mod template_vars;
mod threshold;

pub use baseline::{BaselineConfig, BaselineRule, BaselineValidator, SampleSize};
pub use config::{ConfigError, ValidatorConfig, ValidatorDeps};
pub use http::Unreachable;
pub use http_health::{HttpHealth, HttpHealthConfig};
pub use json_path::json_lookup;
pub use judge::{
    Direction, JudgeConfig, JudgeMetric, JudgeRule, MetricClass, MetricComparison, ScoreThresholds,
    StatisticalJudge,
};
pub use log_pattern::{
    LogPattern, LogPatternConfig, LogStart, LOG_MAX_LINE_BYTES, LOG_MAX_OUTPUT_BYTES,
    LOG_MAX_TIMEOUT,
};
pub use mann_whitney::{MwMethod, ShiftInterval};
pub use smoke::{BodyExpect, SmokeConfig, SmokeRequest, SmokeTests};
pub use template_vars::TemplateVars;
pub use threshold::{FailWhen, MetricThreshold, ThresholdConfig};

pub(crate) use format::{version_string, Num};
pub(crate) use json_path::check_path;
mod helpers;
#[cfg(test)]
mod tests;

pub(crate) use helpers::{
    combine, finite, instant_value, non_empty, num, render_arg, render_file, render_query,
    render_url, render_url_path, stable_vars, verr,
};

use crate::model::{Revision, Target};
use crate::time::Timestamp;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::cell::RefCell;

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

/// A validator's answer: outcome, the measurements behind it, a message for people, and
/// the validator's only memory between measurements, [`breached_since`](Self::breached_since).
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
    /// Since when the condition this validator watches over time (for the metric
    /// threshold: its critical level) has been breached without interruption, as this
    /// measurement saw it; `None` when it is not breached. The engine keeps it and hands it
    /// back as [`ValidationContext::breached_since`] on this validator's next measurement
    /// of the same analysis run, so a validator that waits for a breach to last (a `for`
    /// window) keeps no per-rollout state of its own. It is journaled with the verdict, so
    /// a resumed rollout keeps the window. Not written when `None` (verdicts without it
    /// serialize as before, and older records without it read as `None`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub breached_since: Option<Timestamp>,
}

impl Verdict {
    /// A verdict with no measurements.
    pub fn new(validator: impl Into<String>, outcome: Outcome, message: impl Into<String>) -> Self {
        Verdict {
            validator: validator.into(),
            outcome,
            measurements: vec![],
            message: message.into(),
            breached_since: None,
        }
    }
    /// Adds a measurement.
    #[must_use]
    pub fn with(mut self, m: Measurement) -> Self {
        self.measurements.push(m);
        self
    }
    /// Sets [`breached_since`](Self::breached_since): the watched condition has been
    /// breached since `since` (`None`: it is not breached).
    pub fn with_breached_since(mut self, since: Option<Timestamp>) -> Self {
        self.breached_since = since;
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

/// One validator's result for one measurement.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum MeasureResult {
    /// The validator judged.
    Verdict(Verdict),
    /// The validator could not measure.
    Error(ValidatorError),
}

/// What a validator is told about the rollout it judges.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValidationContext {
    /// Rollout id.
    pub rollout_id: String,
    /// The service and environment being judged.
    pub target: Target,
    /// What is being judged.
    pub candidate: Revision,
    /// The baseline, if any.
    pub stable: Option<Revision>,
    /// Engine time (simulated or real).
    pub now: Timestamp,
    /// Template variables: `service`, `environment`, `namespace`, `revision`, `stable_revision`,
    /// `version`, `stable_version`, `rollout_id`.
    pub vars: TemplateVars,
    /// What this validator's previous verdict in the same analysis run said in
    /// [`Verdict::breached_since`]: since when its watched condition has been breached, or
    /// `None` (not breached, the run's first measurement, or a validator that does not use
    /// it). The engine carries it across measurements and across a crash and
    /// [`resume`](crate::engine::Runner::resume) (it is rebuilt from the journaled
    /// verdicts); a measurement that errored leaves it unchanged. A new analysis run
    /// (another step, the background analysis, a rollback verification) starts from
    /// `None`. A validator that waits for a breach to last answers
    /// `breached_since = ctx.breached_since.or(Some(ctx.now))` while breached, `None` once
    /// it is not, and passes `ctx.breached_since` on unchanged when it cannot tell.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub breached_since: Option<Timestamp>,
}

impl ValidationContext {
    /// Builds the context and its template variables.
    ///
    /// The variables depend only on the rollout id, the target and the two revisions, so
    /// the last few sets built on this thread are kept and shared ([`TemplateVars`] is
    /// copy-on-write): an analysis measuring the same rollout every interval builds them
    /// once.
    pub fn new(
        rollout_id: &str,
        target: &Target,
        candidate: &Revision,
        stable: Option<&Revision>,
        now: Timestamp,
    ) -> Self {
        ValidationContext {
            rollout_id: rollout_id.to_string(),
            target: target.clone(),
            candidate: candidate.clone(),
            stable: stable.cloned(),
            now,
            vars: shared_vars(rollout_id, target, candidate, stable),
            breached_since: None,
        }
    }

    /// The same context with [`breached_since`](Self::breached_since) set (what the
    /// validator's previous verdict said).
    pub fn with_breached_since(mut self, since: Option<Timestamp>) -> Self {
        self.breached_since = since;
        self
    }
}

/// How many variable sets each thread keeps (a few rollouts measured in turn).
const RECENT_VARS: usize = 4;

/// One kept set of variables and what it was built from.
struct RecentVars {
    /// Rollout id, service, environment, namespace, candidate id and stable id, one after
    /// the other; `ends` says where each one ends.
    key: String,
    ends: [usize; 6],
    candidate_version: semver::Version,
    /// The stable revision's version, `None` without a stable revision.
    stable_version: Option<semver::Version>,
    vars: TemplateVars,
}

/// The strings the variables are made of, in the order of [`RecentVars::key`].
fn key_parts<'a>(
    rollout_id: &'a str,
    target: &'a Target,
    candidate: &'a Revision,
    stable: Option<&'a Revision>,
) -> [&'a str; 6] {
    [
        rollout_id,
        &target.service,
        &target.environment,
        target.namespace.as_deref().unwrap_or(""),
        &candidate.id.0,
        stable.map_or("", |s| s.id.0.as_str()),
    ]
}

impl RecentVars {
    fn matches(&self, parts: &[&str; 6], candidate: &Revision, stable: Option<&Revision>) -> bool {
        let mut start = 0;
        for (part, &end) in parts.iter().zip(&self.ends) {
            if self.key.get(start..end) != Some(*part) {
                return false;
            }
            start = end;
        }
        self.candidate_version == candidate.version
            && self.stable_version.as_ref() == stable.map(|s| &s.version)
    }
}

thread_local! {
    static RECENT: RefCell<(Vec<RecentVars>, usize)> = const { RefCell::new((Vec::new(), 0)) };
}

/// The variables for these inputs: a kept set if this thread built one lately, else a new
/// one (then kept, replacing the oldest).
fn shared_vars(
    rollout_id: &str,
    target: &Target,
    candidate: &Revision,
    stable: Option<&Revision>,
) -> TemplateVars {
    let parts = key_parts(rollout_id, target, candidate, stable);
    let found = RECENT.with(|recent| {
        let recent = recent.borrow();
        recent
            .0
            .iter()
            .find(|r| r.matches(&parts, candidate, stable))
            .map(|r| r.vars.clone())
    });
    if let Some(vars) = found {
        return vars;
    }
    let vars = build_vars(rollout_id, target, candidate, stable);
    let mut key = String::with_capacity(parts.iter().map(|p| p.len()).sum());
    let mut ends = [0; 6];
    for (part, end) in parts.iter().zip(&mut ends) {
        key.push_str(part);
        *end = key.len();
    }
    let kept = RecentVars {
        key,
        ends,
        candidate_version: candidate.version.clone(),
        stable_version: stable.map(|s| s.version.clone()),
        vars: vars.clone(),
    };
    RECENT.with(|recent| {
        let (kept_sets, next) = &mut *recent.borrow_mut();
        if kept_sets.len() < RECENT_VARS {
            kept_sets.push(kept);
        } else {
            kept_sets[*next] = kept;
            *next = (*next + 1) % RECENT_VARS;
        }
    });
    vars
}

/// Builds the variables (keys pushed in sorted order, so the map is built in one pass).
fn build_vars(
    rollout_id: &str,
    target: &Target,
    candidate: &Revision,
    stable: Option<&Revision>,
) -> TemplateVars {
    use crate::validator::version_string;
    let mut pairs: Vec<(String, String)> = Vec::with_capacity(8);
    pairs.push(("environment".into(), target.environment.clone()));
    pairs.push((
        "namespace".into(),
        target.namespace.clone().unwrap_or_default(),
    ));
    pairs.push(("revision".into(), candidate.id.0.clone()));
    pairs.push(("rollout_id".into(), rollout_id.to_string()));
    pairs.push(("service".into(), target.service.clone()));
    if let Some(s) = stable {
        pairs.push(("stable_revision".into(), s.id.0.clone()));
        pairs.push(("stable_version".into(), version_string(&s.version)));
    }
    pairs.push(("version".into(), version_string(&candidate.version)));
    pairs.into_iter().collect()
}

/// Is it healthy?
///
/// An async trait: implement it with the [`async_trait`](crate::async_trait) attribute
/// shipcore re-exports (no dependency of your own on `async-trait`), register the value
/// with [`RunnerBuilder::validator`](crate::engine::RunnerBuilder::validator), and name it
/// in analysis steps by [`name`](Validator::name). A runner that
/// [`resume`](crate::engine::Runner::resume)s a rollout needs the same validators registered
/// under the same names, or it refuses to continue.
///
/// ```
/// use shipcore::validator::{Measurement, Outcome, ValidationContext, Validator, ValidatorError, Verdict};
/// use shipcore::model::{Revision, Target};
/// use shipcore::time::Timestamp;
///
/// /// Fails while the candidate's version is a pre-release.
/// struct NoPreReleases;
///
/// #[shipcore::async_trait]
/// impl Validator for NoPreReleases {
///     fn name(&self) -> &str {
///         "no-pre-releases"
///     }
///     async fn validate(&self, ctx: &ValidationContext) -> Result<Verdict, ValidatorError> {
///         let pre = !ctx.candidate.version.pre.is_empty();
///         let outcome = if pre { Outcome::Fail } else { Outcome::Pass };
///         Ok(Verdict::new(self.name(), outcome, format!("version {}", ctx.candidate.version)))
///     }
/// }
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let rc = Revision::new("web-v2", "2.0.0-rc.1".parse().unwrap(), "web:2-rc1");
/// let ctx = ValidationContext::new("r1", &Target::new("web", "prod"), &rc, None, Timestamp(0));
/// assert_eq!(NoPreReleases.validate(&ctx).await.unwrap().outcome, Outcome::Fail);
/// # });
/// ```
#[async_trait]
pub trait Validator: Send + Sync {
    /// Name used in plans and records.
    fn name(&self) -> &str;
    /// Take one measurement and judge it.
    async fn validate(&self, ctx: &ValidationContext) -> Result<Verdict, ValidatorError>;
    /// Takes the measurement without waiting, when this validator can: `Some` is exactly
    /// what [`validate`](Validator::validate) would have answered, `None` that it cannot,
    /// and the caller awaits `validate` instead. The engine asks this first, so a validator
    /// of a source in memory (a [`MetricThreshold`] on the simulator's metrics) measures
    /// without a future. The default: `None`.
    fn validate_now(&self, ctx: &ValidationContext) -> Option<Result<Verdict, ValidatorError>> {
        let _ = ctx;
        None
    }
    /// Whether this validator judges what the candidate serves (request rate, error rate,
    /// latency), so it has no data while the candidate has no traffic. Used only to warn
    /// about analyses of a blue-green preview ([`Plan::warnings`](crate::model::Plan::warnings)).
    /// Default `false`; the metric validators (threshold, baseline, judge) say `true`.
    fn measures_traffic(&self) -> bool {
        false
    }
}

#[cfg(feature = "mock")]
mockall::mock! {
    /// A [`Validator`] a test scripts with expectations (feature `mock`). Its
    /// [`validate_now`](Validator::validate_now) keeps the default, so the engine always
    /// measures through `validate`.
    pub Validator {}
    #[async_trait]
    impl Validator for Validator {
        fn name(&self) -> &str;
        async fn validate(&self, ctx: &ValidationContext) -> Result<Verdict, ValidatorError>;
        fn measures_traffic(&self) -> bool;
    }
}
