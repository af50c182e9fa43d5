//! The statistical judge: for each metric, a range query over the last `window` for the
//! candidate and for the stable revision (one template, `{{revision}}` rendered per side), a
//! comparison of the two samples, and a weighted score.
//!
//! Per metric: fewer than `min_samples` finite values on a side (or none, or a non-finite
//! result) is **no data**. Otherwise the metric is classified *high*, *low* or *pass* by the
//! configured [`JudgeRule`]:
//!
//! - **`kayenta`** (the default): Kayenta's `MannWhitneyClassifier` as its `NetflixACAJudge`
//!   runs it (tolerance 0.25, confidence 0.98, effect size = mean ratio with the default
//!   allowed increase and decrease of 1.0). Samples that are identical, or hold one value
//!   between them, pass. Otherwise the confidence interval of the Hodges–Lehmann shift of
//!   candidate − stable is computed as R's `wilcox.test(conf.int = TRUE)` computes it (see
//!   [`shift_confidence_interval`]); with `bound = tolerance × |estimate|`, the metric is
//!   *high* when the lower limit is above `bound` and the mean ratio candidate/stable is at
//!   least 1 (or undefined, a mean of 0), *low* when the upper limit is below `-bound` and the
//!   ratio is at most 1. The tolerance is relative to the estimate itself: a tight shift of a
//!   few percent is high, a wide interval around a large shift is not. Kayenta called R's
//!   `wilcox.test` until 2018; its Scala port since then always uses the normal
//!   approximation (`shift_confidence_interval_normal` in `mann_whitney.rs`),
//!   where R (and this judge) count exactly for untied samples of fewer than 50 values a
//!   side. On the 307 reference pairs of `scripts/reference/mann_whitney_reference.py` the
//!   two give the same verdict every time. Each side holding a single distinct value gives the point interval
//!   `candidate − stable` (Kayenta adds noise of 1e-5 of the value instead).
//! - **`significant_shift`** (this crate's earlier rule, kept as an alternative): *high* when
//!   the Mann–Whitney p-value is below `1 - confidence` and the relative shift
//!   `HL / |median(stable)|` is above `tolerance`; *low* when significant and below
//!   `-tolerance`. A median of zero on the stable side makes any nonzero shift infinitely
//!   large.
//!
//! Whether high or low is bad is the metric's `direction` (`increase`, `decrease`, `either`).
//!
//! The judgement: score = 100 × (weight of passing metrics) / (weight of metrics with data;
//! metrics with `must_have_data` count as failing when they have none). A bad *critical*
//! metric fails the whole judgement; a critical metric without data makes it inconclusive;
//! no metric with data is inconclusive; score >= `pass` (default 95) passes, >= `marginal`
//! (default 75) is inconclusive ("marginal"), below fails. Defaults: rule `kayenta`,
//! confidence 0.98, tolerance 0.25, at least 10 samples per side.

use super::config::ConfigError;
use super::mann_whitney::{
    mann_whitney_u, median_in_place, shift_confidence_interval, ShiftInterval,
};
use super::{finite, non_empty, num, render_query, stable_vars, verr};
use crate::metrics::{MetricQuery, MetricsSource, QueryRange};
use crate::model::FieldError;
use crate::time::{serde_duration, Timestamp};
use crate::validator::{
    Measurement, Outcome, ValidationContext, Validator, ValidatorError, Verdict,
};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

/// Which change of a metric is bad.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Higher is worse (errors, latency). The default.
    #[default]
    Increase,
    /// Lower is worse (throughput, success rate).
    Decrease,
    /// Any significant change is bad.
    Either,
}

/// How the judge classifies one metric (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JudgeRule {
    /// Kayenta's `MannWhitneyClassifier`: the confidence interval of the Hodges–Lehmann shift
    /// against `tolerance × |estimate|`, the mean ratio giving the direction. The default.
    #[default]
    Kayenta,
    /// The earlier rule of this crate: `p < 1 - confidence` and a shift beyond
    /// `tolerance × |median(stable)|`.
    SignificantShift,
}

/// How one metric compares, before its direction says whether that is bad.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricClass {
    /// No change the rule calls significant.
    Pass,
    /// The candidate is higher.
    High,
    /// The candidate is lower.
    Low,
}

/// What a rule decided for one metric, with the numbers behind it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MetricComparison {
    /// The metric's verdict: pass, or significantly high or low.
    pub class: MetricClass,
    /// Two-sided Mann–Whitney p-value (SciPy's `mannwhitneyu`).
    pub p_value: f64,
    /// Relative shift `HL / |median(stable)|` (the `significant_shift` rule's effect size;
    /// infinite from a zero median).
    pub effect: f64,
    /// Confidence interval of the shift (`kayenta` rule; `None` when the samples are
    /// identical or hold a single value, which pass without one).
    pub interval: Option<ShiftInterval>,
    /// `tolerance × |estimate|` (`kayenta` rule).
    pub bound: f64,
    /// Mean ratio candidate / stable; `None` when a mean is 0 (`kayenta` rule).
    pub ratio: Option<f64>,
}

impl JudgeRule {
    /// Classifies `candidate` against `stable` at `confidence` and `tolerance`. `None` when a
    /// sample is empty or holds a non-finite value.
    ///
    /// ```
    /// use shipcore::validator::{JudgeRule, MetricClass};
    /// // A tight 4 % rise: Kayenta calls it high, the earlier rule lets it through.
    /// let stable = [100.0, 100.5, 99.6, 100.2, 99.9, 100.7, 99.4, 100.1, 99.8, 100.3];
    /// let canary: Vec<f64> = stable.iter().map(|v| v * 1.04).collect();
    /// let k = JudgeRule::Kayenta.compare(&canary, &stable, 0.98, 0.25).unwrap();
    /// let s = JudgeRule::SignificantShift.compare(&canary, &stable, 0.98, 0.25).unwrap();
    /// assert_eq!((k.class, s.class), (MetricClass::High, MetricClass::Pass));
    /// ```
    pub fn compare(
        self,
        candidate: &[f64],
        stable: &[f64],
        confidence: f64,
        tolerance: f64,
    ) -> Option<MetricComparison> {
        let mw = mann_whitney_u(candidate, stable)?;
        let mut base = stable.to_vec();
        let scale = median_in_place(&mut base).abs();
        let effect = if mw.shift == 0.0 {
            0.0
        } else if scale == 0.0 {
            f64::INFINITY.copysign(mw.shift)
        } else {
            mw.shift / scale
        };
        let mut out = MetricComparison {
            class: MetricClass::Pass,
            p_value: mw.p_value,
            effect,
            interval: None,
            bound: 0.0,
            ratio: None,
        };
        match self {
            JudgeRule::SignificantShift => {
                let significant = mw.p_value < 1.0 - confidence;
                out.class = if significant && effect > tolerance {
                    MetricClass::High
                } else if significant && effect < -tolerance {
                    MetricClass::Low
                } else {
                    MetricClass::Pass
                };
            }
            JudgeRule::Kayenta => {
                let (mut a, mut b) = (candidate.to_vec(), stable.to_vec());
                a.sort_by(f64::total_cmp);
                b.sort_by(f64::total_cmp);
                let single = a.iter().chain(&b).all(|v| *v == a[0]);
                if a == b || single {
                    return Some(out);
                }
                let ci = shift_confidence_interval(candidate, stable, confidence)?;
                let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
                let (mc, ms) = (mean(candidate), mean(stable));
                let ratio = if mc == 0.0 || ms == 0.0 {
                    None
                } else {
                    Some(mc / ms)
                };
                let bound = tolerance * ci.estimate.abs();
                let up = ratio.map_or(true, |r| r >= 1.0);
                let down = ratio.map_or(true, |r| r <= 1.0);
                out.class = if ci.low > bound && up {
                    MetricClass::High
                } else if ci.high < -bound && down {
                    MetricClass::Low
                } else {
                    MetricClass::Pass
                };
                out.interval = Some(ci);
                out.bound = bound;
                out.ratio = ratio;
            }
        }
        Some(out)
    }
}

/// One metric the judge compares.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JudgeMetric {
    /// Metric name (measurements are `<name>.effect` and `<name>.p_value`).
    pub name: String,
    /// Query template (range query), rendered per side.
    pub query: String,
    /// Which change is bad (default `increase`).
    #[serde(default)]
    pub direction: Direction,
    /// Weight in the score (default 1).
    #[serde(default = "one")]
    pub weight: f64,
    /// A bad critical metric fails the judgement whatever the score.
    #[serde(default)]
    pub critical: bool,
    /// No data counts as a failing metric instead of being left out of the score.
    #[serde(default)]
    pub must_have_data: bool,
    /// Effect-size tolerance for this metric (default: the judge's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tolerance: Option<f64>,
}

fn one() -> f64 {
    1.0
}

/// Score thresholds (0..=100).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScoreThresholds {
    /// At or above: pass (default 95).
    #[serde(default = "default_pass")]
    pub pass: f64,
    /// At or above (and below `pass`): marginal, inconclusive (default 75). Below: fail.
    #[serde(default = "default_marginal")]
    pub marginal: f64,
}

fn default_pass() -> f64 {
    95.0
}
fn default_marginal() -> f64 {
    75.0
}

impl Default for ScoreThresholds {
    fn default() -> Self {
        ScoreThresholds {
            pass: default_pass(),
            marginal: default_marginal(),
        }
    }
}

/// Configuration of a [`StatisticalJudge`].
///
/// ```
/// let c: shipcore::validator::JudgeConfig = serde_json::from_str(r#"{
///   "name": "judge", "window": "10m", "step": "30s",
///   "metrics": [
///     {"name": "errors", "query": "error_rate{revision=\"{{revision}}\"}", "critical": true},
///     {"name": "p95", "query": "latency_p95{revision=\"{{revision}}\"}", "weight": 2}
///   ]}"#).unwrap();
/// assert_eq!(c.confidence, 0.98);
/// assert!(c.check().is_ok());
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct JudgeConfig {
    /// Validator name.
    pub name: String,
    /// The metrics compared.
    pub metrics: Vec<JudgeMetric>,
    /// Length of the range queried, ending at the context's `now`.
    #[serde(with = "serde_duration")]
    pub window: Duration,
    /// Resolution of the range query (default 30s).
    #[serde(default = "default_step", with = "serde_duration")]
    pub step: Duration,
    /// How each metric is classified (default `kayenta`).
    #[serde(default)]
    pub rule: JudgeRule,
    /// Confidence level of the interval / test (default 0.98: significant when p < 0.02).
    #[serde(default = "default_confidence")]
    pub confidence: f64,
    /// Tolerance (default 0.25): under `kayenta` the fraction of `|estimate|` the interval
    /// must clear; under `significant_shift` the relative shift a significant change may have.
    #[serde(default = "default_tolerance")]
    pub tolerance: f64,
    /// Fewer finite samples than this on a side is no data (default 10, at least 3).
    #[serde(default = "default_min_samples")]
    pub min_samples: usize,
    /// Score thresholds.
    #[serde(default)]
    pub thresholds: ScoreThresholds,
}

fn default_step() -> Duration {
    Duration::from_secs(30)
}
fn default_confidence() -> f64 {
    0.98
}
fn default_tolerance() -> f64 {
    0.25
}
fn default_min_samples() -> usize {
    10
}

impl JudgeConfig {
    /// Checks the values.
    pub fn check(&self) -> Result<(), ConfigError> {
        non_empty("name", &self.name)?;
        if self.metrics.is_empty() {
            return Err(FieldError::new("metrics", "must hold at least one metric").into());
        }
        let mut names = HashSet::new();
        for (i, m) in self.metrics.iter().enumerate() {
            let at = |e: ConfigError| e.within(&format!("metrics[{i}]"));
            non_empty("name", &m.name).map_err(at)?;
            non_empty("query", &m.query).map_err(at)?;
            if !names.insert(m.name.as_str()) {
                return Err(at(FieldError::new(
                    "name",
                    format!("{:?} is used twice", m.name),
                )
                .into()));
            }
            finite("weight", m.weight).map_err(at)?;
            if m.weight <= 0.0 {
                return Err(at(
                    FieldError::new("weight", "must be greater than zero").into()
                ));
            }
            if let Some(t) = m.tolerance {
                check_tolerance(t).map_err(at)?;
            }
        }
        if self.window.is_zero() {
            return Err(FieldError::new("window", "must be greater than zero").into());
        }
        if self.step.is_zero() || self.step > self.window {
            return Err(FieldError::new(
                "step",
                "must be greater than zero and at most the window",
            )
            .into());
        }
        if !(self.confidence > 0.5 && self.confidence < 1.0) {
            return Err(
                FieldError::new("confidence", "must be between 0.5 and 1 (e.g. 0.98)").into(),
            );
        }
        check_tolerance(self.tolerance)?;
        if self.min_samples < 3 {
            return Err(FieldError::new("min_samples", "must be at least 3").into());
        }
        let t = self.thresholds;
        finite("thresholds.pass", t.pass)?;
        finite("thresholds.marginal", t.marginal)?;
        if !(0.0..=100.0).contains(&t.pass) {
            return Err(FieldError::new("thresholds.pass", "must be within 0..=100").into());
        }
        if !(0.0..=t.pass).contains(&t.marginal) {
            return Err(FieldError::new("thresholds.marginal", "must be within 0..=pass").into());
        }
        Ok(())
    }

    /// Checks the values and builds the validator.
    pub fn build(&self, source: Arc<dyn MetricsSource>) -> Result<StatisticalJudge, ConfigError> {
        self.check()?;
        Ok(StatisticalJudge {
            cfg: self.clone(),
            source,
        })
    }
}

fn check_tolerance(t: f64) -> Result<(), ConfigError> {
    finite("tolerance", t)?;
    if t < 0.0 {
        return Err(FieldError::new("tolerance", "must not be negative").into());
    }
    Ok(())
}

/// How one metric was classified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    Pass,
    High,
    Low,
    NoData,
}

/// Compares canary and stable samples metric by metric; see the module docs.
pub struct StatisticalJudge {
    cfg: JudgeConfig,
    source: Arc<dyn MetricsSource>,
}

impl std::fmt::Debug for StatisticalJudge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StatisticalJudge")
            .field("cfg", &self.cfg)
            .finish()
    }
}

impl StatisticalJudge {
    /// The finite samples of one side, or why there are too few.
    async fn samples(
        &self,
        m: &JudgeMetric,
        side: &str,
        vars: &BTreeMap<String, String>,
        now: Timestamp,
    ) -> Result<Result<Vec<f64>, String>, ValidatorError> {
        let name = &self.cfg.name;
        let expr = render_query(name, &m.query, vars)?;
        let start = Timestamp(now.0.saturating_sub(self.cfg.window.as_millis() as u64));
        let q = MetricQuery {
            expr: expr.clone(),
            at: Some(now),
            range: Some(QueryRange {
                start,
                end: now,
                step: self.cfg.step,
            }),
        };
        let result = self
            .source
            .query(&q)
            .await
            .map_err(|e| verr(name, e.to_string()))?;
        Ok(match result.all_values() {
            Err(p) => Err(format!("{side}: {p}")),
            Ok(v) if v.len() < self.cfg.min_samples => Err(format!(
                "{side}: {} samples, need {}",
                v.len(),
                self.cfg.min_samples
            )),
            Ok(v) => Ok(v),
        })
    }

    /// Classifies one metric; adds its measurements; returns the class and a note.
    fn classify(
        &self,
        m: &JudgeMetric,
        cand: &[f64],
        stable: &[f64],
        v: &mut Verdict,
    ) -> (Class, String) {
        let tolerance = m.tolerance.unwrap_or(self.cfg.tolerance);
        let alpha = 1.0 - self.cfg.confidence;
        let Some(c) = self
            .cfg
            .rule
            .compare(cand, stable, self.cfg.confidence, tolerance)
        else {
            return (Class::NoData, "no usable samples".into());
        };
        let class = match c.class {
            MetricClass::Pass => Class::Pass,
            MetricClass::High => Class::High,
            MetricClass::Low => Class::Low,
        };
        let p_text = format!("p={}", fmt_p(c.p_value));
        let note = match self.cfg.rule {
            JudgeRule::SignificantShift => {
                v.measurements.push(Measurement::new(
                    format!("{}.effect", m.name),
                    c.effect,
                    Some(tolerance),
                    "",
                ));
                let effect_text = if c.effect.is_finite() {
                    format!("{:+.1}%", c.effect * 100.0)
                } else {
                    let mut d: Vec<f64> = cand
                        .iter()
                        .flat_map(|a| stable.iter().map(move |b| a - b))
                        .collect();
                    format!("{:+} from a zero median", num(median_in_place(&mut d)))
                };
                format!("{effect_text}, {p_text}")
            }
            JudgeRule::Kayenta => {
                let ratio_text = match c.ratio {
                    Some(r) => {
                        v.measurements.push(Measurement::new(
                            format!("{}.ratio", m.name),
                            r,
                            Some(1.0),
                            "",
                        ));
                        format!("{:+.1}%", (r - 1.0) * 100.0)
                    }
                    None => "mean 0 on a side".to_string(),
                };
                match c.interval {
                    Some(ci) => {
                        v.measurements.push(Measurement::new(
                            format!("{}.ci_low", m.name),
                            ci.low,
                            Some(c.bound),
                            "",
                        ));
                        v.measurements.push(Measurement::new(
                            format!("{}.ci_high", m.name),
                            ci.high,
                            Some(-c.bound),
                            "",
                        ));
                        v.measurements.push(Measurement::new(
                            format!("{}.shift", m.name),
                            ci.estimate,
                            None,
                            "",
                        ));
                        format!(
                            "{ratio_text}, shift {} in [{}, {}] vs ±{}, {p_text}",
                            num(ci.estimate),
                            num(ci.low),
                            num(ci.high),
                            num(c.bound)
                        )
                    }
                    None => format!("{ratio_text}, identical or single-valued samples"),
                }
            }
        };
        v.measurements.push(Measurement::new(
            format!("{}.p_value", m.name),
            c.p_value,
            Some(alpha),
            "",
        ));
        (class, note)
    }
}

fn fmt_p(p: f64) -> String {
    if p < 1e-4 {
        format!("{p:.1e}")
    } else {
        num(p)
    }
}

#[async_trait]
impl Validator for StatisticalJudge {
    fn name(&self) -> &str {
        &self.cfg.name
    }

    fn measures_traffic(&self) -> bool {
        true
    }

    async fn validate(&self, ctx: &ValidationContext) -> Result<Verdict, ValidatorError> {
        let c = &self.cfg;
        let Some(svars) = stable_vars(ctx) else {
            return Ok(Verdict::new(
                &c.name,
                Outcome::Inconclusive,
                "no stable revision to compare with (first deploy?)",
            ));
        };
        let mut v = Verdict::new(&c.name, Outcome::Pass, "");
        let (mut total, mut good) = (0.0, 0.0);
        let (mut critical_bad, mut critical_nodata) = (Vec::new(), Vec::new());
        let mut notes = Vec::new();
        for m in &c.metrics {
            let cand = self.samples(m, "candidate", &ctx.vars, ctx.now).await?;
            let stable = self.samples(m, "stable", &svars, ctx.now).await?;
            let (class, note) = match (cand, stable) {
                (Ok(a), Ok(b)) => self.classify(m, &a, &b, &mut v),
                (Err(e), _) | (_, Err(e)) => (Class::NoData, e),
            };
            let bad = match class {
                Class::High => matches!(m.direction, Direction::Increase | Direction::Either),
                Class::Low => matches!(m.direction, Direction::Decrease | Direction::Either),
                Class::NoData => m.must_have_data,
                Class::Pass => false,
            };
            let label = match (class, bad) {
                (Class::NoData, _) => "no data",
                (Class::High, true) => "HIGH",
                (Class::Low, true) => "LOW",
                (Class::High, false) => "higher (allowed)",
                (Class::Low, false) => "lower (allowed)",
                (Class::Pass, _) => "pass",
            };
            notes.push(format!("{} {label} ({note})", m.name));
            if class != Class::NoData || m.must_have_data {
                total += m.weight;
                if !bad {
                    good += m.weight;
                }
            }
            if m.critical && bad {
                critical_bad.push(m.name.as_str());
            } else if m.critical && class == Class::NoData {
                critical_nodata.push(m.name.as_str());
            }
        }
        let t = c.thresholds;
        let score = if total > 0.0 {
            100.0 * good / total
        } else {
            f64::NAN
        };
        v.measurements
            .push(Measurement::new("score", score, Some(t.pass), ""));
        let (outcome, head) = if !critical_bad.is_empty() {
            (
                Outcome::Fail,
                format!("critical metric failed: {}", critical_bad.join(", ")),
            )
        } else if total == 0.0 {
            (Outcome::Inconclusive, "no metric has data".to_string())
        } else if score < t.marginal {
            (
                Outcome::Fail,
                format!("score {} below marginal {}", num(score), num(t.marginal)),
            )
        } else if !critical_nodata.is_empty() {
            (
                Outcome::Inconclusive,
                format!(
                    "critical metric without data: {}",
                    critical_nodata.join(", ")
                ),
            )
        } else if score < t.pass {
            (
                Outcome::Inconclusive,
                format!("marginal: score {} below pass {}", num(score), num(t.pass)),
            )
        } else {
            (Outcome::Pass, format!("score {}", num(score)))
        };
        v.outcome = outcome;
        v.message = format!("{head}; {}", notes.join("; "));
        Ok(v)
    }
}
