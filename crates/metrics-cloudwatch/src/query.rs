//! The query language of [`CloudWatchSource`](crate::CloudWatchSource): a
//! [`MetricQuery::expr`](shipcore::metrics::MetricQuery::expr) is one JSON object of one of
//! three shapes.
//!
//! ```json
//! {"metric": {"namespace": "AWS/ApplicationELB", "name": "RequestCount",
//!             "dimensions": {"TargetGroup": "targetgroup/web/0f3c", "LoadBalancer": "app/lb/9e1d"},
//!             "stat": "Sum", "period": "60s"}}
//! {"ratio": {"numerator": <metric>, "denominator": <metric>}}
//! {"expression": {"expression": "m1/m2*100", "metrics": {"m1": <metric>, "m2": <metric>},
//!                 "period": "60s"}}
//! ```
//!
//! - `metric`: one `MetricStat` with exactly these dimensions (CloudWatch matches dimension
//!   sets exactly: a missing or extra dimension selects another series, usually none). A
//!   value ending in `*` is a prefix (`targetgroup/web-v2/*`, for a target group whose id
//!   the template cannot know): the source resolves it with `ListMetrics` to exactly one
//!   series with the same dimension names; none is no data, several an error.
//!   `stat` defaults to `Sum` (also `Average`, `Minimum`, `Maximum`, `SampleCount`,
//!   percentiles `p95`, `p99.9`, and the trimmed `tm90`, `wm90`, `tc90`, `ts90`, `IQM`);
//!   `period` defaults to `60s` (1, 5, 10 or 30 s, or a multiple of 60 s).
//! - `ratio`: numerator and denominator are both read as `Sum` over the same periods; the
//!   ratio is computed here from the periods the denominator has data for (a period where
//!   the numerator has none counts as 0, as ALB publishes no `HTTPCode_Target_5XX_Count`
//!   without errors). No denominator data gives an empty result, a zero denominator NaN.
//! - `expression`: CloudWatch metric math, passed through; `metrics` names its inputs (ids:
//!   a lowercase letter, then letters, digits and `_`), which are not returned themselves.
//!
//! Unknown fields are refused. [`CloudWatchQuery::parse`] checks everything it can before
//! a request is made, and its errors name the field (`ratio.numerator.period`).

use serde::{Deserialize, Serialize};
use shipcore::model::FieldError;
use shipcore::time::serde_duration;
use std::collections::BTreeMap;
use std::time::Duration;

/// A query text that is not a valid CloudWatch query: the offending field (`expr` when the
/// text is not the expected JSON at all) and the problem, as shipcore's one field error
/// (made with `QueryError::new(field, problem)`, read as `e.field`, `e.problem`).
pub type QueryError = FieldError;

/// One CloudWatch metric, one statistic, one period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricSpec {
    /// Namespace (`AWS/ApplicationELB`).
    pub namespace: String,
    /// Metric name (`RequestCount`).
    pub name: String,
    /// The series' exact dimensions.
    #[serde(default)]
    pub dimensions: BTreeMap<String, String>,
    /// Statistic (default `Sum`).
    #[serde(default = "default_stat")]
    pub stat: String,
    /// Aggregation period (default 60 s).
    #[serde(default = "default_period", with = "serde_duration")]
    pub period: Duration,
    /// Unit filter (`Count`, `Seconds`); none by default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
}

fn default_stat() -> String {
    "Sum".into()
}
fn default_period() -> Duration {
    Duration::from_secs(60)
}

impl MetricSpec {
    /// `namespace`/`name` with no dimensions, `Sum` over 60 s.
    pub fn new(namespace: impl Into<String>, name: impl Into<String>) -> Self {
        MetricSpec {
            namespace: namespace.into(),
            name: name.into(),
            dimensions: BTreeMap::new(),
            stat: default_stat(),
            period: default_period(),
            unit: None,
        }
    }

    /// With one more dimension.
    #[must_use]
    pub fn dimension(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.dimensions.insert(name.into(), value.into());
        self
    }

    /// With another statistic.
    #[must_use]
    pub fn stat(mut self, stat: impl Into<String>) -> Self {
        self.stat = stat.into();
        self
    }

    /// With another period.
    #[must_use]
    pub fn period(mut self, period: Duration) -> Self {
        self.period = period;
        self
    }

    /// The period in whole seconds (checked by [`CloudWatchQuery::parse`]).
    pub fn period_secs(&self) -> i32 {
        i32::try_from(self.period.as_secs()).unwrap_or(i32::MAX)
    }

    /// Whether some dimension value is a prefix pattern (ends in `*`).
    pub fn has_patterns(&self) -> bool {
        self.dimensions.values().any(|v| v.ends_with('*'))
    }

    /// Whether `dims` (a series' dimensions) is what this spec selects: the same names, each
    /// value equal, or starting with the pattern's prefix.
    pub fn selects(&self, dims: &BTreeMap<String, String>) -> bool {
        dims.len() == self.dimensions.len()
            && self.dimensions.iter().all(|(k, want)| {
                dims.get(k).is_some_and(|got| match want.strip_suffix('*') {
                    Some(prefix) => got.starts_with(prefix),
                    None => got == want,
                })
            })
    }

    fn check(&self, at: &str) -> Result<(), QueryError> {
        let f = |name: &str| format!("{at}.{name}");
        for (name, v, max) in [
            ("namespace", &self.namespace, 255),
            ("name", &self.name, 255),
        ] {
            if v.trim().is_empty() {
                return Err(QueryError::new(f(name), "must not be empty"));
            }
            if v.chars().count() > max {
                return Err(QueryError::new(
                    f(name),
                    format!("is longer than {max} characters"),
                ));
            }
        }
        if self.dimensions.len() > 30 {
            return Err(QueryError::new(
                f("dimensions"),
                format!(
                    "has {} dimensions; CloudWatch allows at most 30",
                    self.dimensions.len()
                ),
            ));
        }
        for (k, v) in &self.dimensions {
            if k.trim().is_empty() || k.chars().count() > 255 {
                return Err(QueryError::new(
                    f("dimensions"),
                    format!("dimension name {k:?} must be 1 to 255 characters"),
                ));
            }
            if v.is_empty() || v.chars().count() > 1024 {
                return Err(QueryError::new(
                    format!("{at}.dimensions.{k}"),
                    "must be 1 to 1024 characters",
                ));
            }
            if v.trim_end_matches('*').contains('*') || v.ends_with("**") {
                return Err(QueryError::new(
                    format!("{at}.dimensions.{k}"),
                    "may hold one `*`, only at the end (a prefix)",
                ));
            }
        }
        if !stat_ok(&self.stat) {
            return Err(QueryError::new(
                f("stat"),
                format!(
                    "{:?} is not a CloudWatch statistic (Sum, Average, Minimum, Maximum, \
                     SampleCount, p95, p99.9, tm90, wm90, tc90, ts90, IQM)",
                    self.stat
                ),
            ));
        }
        let p = self.period;
        let secs = p.as_secs();
        if p.subsec_nanos() != 0
            || !(matches!(secs, 1 | 5 | 10 | 30) || (secs > 0 && secs.is_multiple_of(60)))
        {
            return Err(QueryError::new(
                f("period"),
                format!(
                    "{} is not a CloudWatch period (1s, 5s, 10s, 30s or a multiple of 60s)",
                    shipcore::time::format_duration(p)
                ),
            ));
        }
        if secs > i32::MAX as u64 {
            return Err(QueryError::new(f("period"), "is too long"));
        }
        if let Some(u) = &self.unit {
            if u.trim().is_empty() {
                return Err(QueryError::new(f("unit"), "must not be empty when given"));
            }
        }
        Ok(())
    }
}

/// Whether `s` is a statistic CloudWatch accepts in a `MetricStat`.
fn stat_ok(s: &str) -> bool {
    if matches!(
        s,
        "Sum" | "Average" | "Minimum" | "Maximum" | "SampleCount" | "IQM"
    ) {
        return true;
    }
    let num = |t: &str| -> bool {
        let mut parts = t.splitn(2, '.');
        let int = parts.next().unwrap_or("");
        let frac = parts.next();
        let digits = |x: &str| !x.is_empty() && x.bytes().all(|b| b.is_ascii_digit());
        if !digits(int) || int.len() > 3 || frac.is_some_and(|f| !digits(f) || f.len() > 10) {
            return false;
        }
        t.parse::<f64>().is_ok_and(|v| (0.0..=100.0).contains(&v))
    };
    for prefix in ["p", "tm", "wm", "tc", "ts"] {
        if let Some(rest) = s.strip_prefix(prefix) {
            return num(rest);
        }
    }
    false
}

/// One parsed query (see the module docs for the JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum CloudWatchQuery {
    /// One metric statistic.
    Metric(MetricSpec),
    /// `Sum(numerator) / Sum(denominator)` over the same periods, computed here.
    Ratio {
        /// Counted events (5xx answers).
        numerator: MetricSpec,
        /// All events (requests).
        denominator: MetricSpec,
    },
    /// CloudWatch metric math, evaluated by CloudWatch.
    Expression {
        /// The expression (`m1/m2*100`).
        expression: String,
        /// Its inputs by id.
        metrics: BTreeMap<String, MetricSpec>,
        /// The expression's period (default 60 s).
        #[serde(default = "default_period", with = "serde_duration")]
        period: Duration,
    },
}

/// The id the source gives an expression's own result (refused as an input id).
pub(crate) const EXPRESSION_ID: &str = "shipcore_expr";

impl CloudWatchQuery {
    /// Parses and checks `text`.
    ///
    /// ```
    /// use shipcore_metrics_cloudwatch::CloudWatchQuery;
    /// let q = CloudWatchQuery::parse(
    ///     r#"{"metric":{"namespace":"AWS/ApplicationELB","name":"RequestCount"}}"#).unwrap();
    /// assert!(matches!(q, CloudWatchQuery::Metric(ref m) if m.stat == "Sum"));
    /// let e = CloudWatchQuery::parse(
    ///     r#"{"metric":{"namespace":"AWS/ApplicationELB","name":"RequestCount","period":"7s"}}"#)
    ///     .unwrap_err();
    /// assert_eq!(e.field, "metric.period");
    /// ```
    pub fn parse(text: &str) -> Result<Self, QueryError> {
        let q: CloudWatchQuery = serde_json::from_str(text).map_err(|e| {
            QueryError::new(
                "expr",
                format!(
                    "not a CloudWatch query ({e}); expected {{\"metric\":{{...}}}}, \
                     {{\"ratio\":{{...}}}} or {{\"expression\":{{...}}}}"
                ),
            )
        })?;
        q.check()?;
        Ok(q)
    }

    /// Checks every field.
    pub fn check(&self) -> Result<(), QueryError> {
        match self {
            CloudWatchQuery::Metric(m) => m.check("metric"),
            CloudWatchQuery::Ratio {
                numerator,
                denominator,
            } => {
                numerator.check("ratio.numerator")?;
                denominator.check("ratio.denominator")?;
                for (at, m) in [
                    ("ratio.numerator", numerator),
                    ("ratio.denominator", denominator),
                ] {
                    if m.stat != "Sum" {
                        return Err(QueryError::new(
                            format!("{at}.stat"),
                            format!(
                                "a ratio is computed from sums: use \"Sum\", not {:?}",
                                m.stat
                            ),
                        ));
                    }
                }
                if numerator.period != denominator.period {
                    return Err(QueryError::new(
                        "ratio.denominator.period",
                        "must equal the numerator's period (the ratio pairs the same periods)",
                    ));
                }
                Ok(())
            }
            CloudWatchQuery::Expression {
                expression,
                metrics,
                period,
            } => {
                if expression.trim().is_empty() {
                    return Err(QueryError::new(
                        "expression.expression",
                        "must not be empty",
                    ));
                }
                if expression.len() > 2048 {
                    return Err(QueryError::new(
                        "expression.expression",
                        "is longer than 2048 characters",
                    ));
                }
                if metrics.is_empty() {
                    return Err(QueryError::new(
                        "expression.metrics",
                        "must name at least one input metric",
                    ));
                }
                for (id, m) in metrics {
                    let ok = id.starts_with(|c: char| c.is_ascii_lowercase())
                        && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                        && id.len() <= 255;
                    if !ok || id == EXPRESSION_ID {
                        return Err(QueryError::new(
                            "expression.metrics",
                            format!(
                                "{id:?} is not a usable id (a lowercase letter, then letters, \
                                 digits or _; not {EXPRESSION_ID:?})"
                            ),
                        ));
                    }
                    m.check(&format!("expression.metrics.{id}"))?;
                }
                MetricSpec {
                    period: *period,
                    ..MetricSpec::new("x", "x")
                }
                .check("expression")
                .map_err(|e| QueryError::new("expression.period", e.problem))
            }
        }
    }

    /// The query text (JSON) for this query; [`CloudWatchQuery::parse`] reads it back.
    pub fn to_text(&self) -> String {
        // Serializing plain strings, maps and durations cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// The period of the data this query returns.
    pub fn period(&self) -> Duration {
        match self {
            CloudWatchQuery::Metric(m) => m.period,
            CloudWatchQuery::Ratio { denominator, .. } => denominator.period,
            CloudWatchQuery::Expression { period, .. } => *period,
        }
    }
}

/// How an instant query folds the periods of its window into one value.
pub(crate) fn combine(stat: &str, values: &[f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let v = match stat {
        "Sum" | "SampleCount" => values.iter().sum(),
        "Minimum" => values.iter().copied().fold(f64::INFINITY, f64::min),
        "Average" => values.iter().sum::<f64>() / values.len() as f64,
        // Maximum, percentiles and trimmed statistics: the worst period.
        _ => values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
    };
    Some(v)
}

/// Pairs a ratio's periods: for each period the denominator has, `(numerator or 0,
/// denominator)`, by timestamp in milliseconds.
pub(crate) fn pair_periods(
    numerator: &BTreeMap<u64, f64>,
    denominator: &BTreeMap<u64, f64>,
) -> Vec<(u64, f64, f64)> {
    denominator
        .iter()
        .map(|(t, d)| (*t, numerator.get(t).copied().unwrap_or(0.0), *d))
        .collect()
}

/// `num / den`, NaN when `den` is 0 (no events: never read as "no errors").
pub(crate) fn ratio(num: f64, den: f64) -> f64 {
    if den == 0.0 {
        f64::NAN
    } else {
        num / den
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn metric(extra: &str) -> String {
        format!(r#"{{"namespace":"AWS/ApplicationELB","name":"RequestCount"{extra}}}"#)
    }

    #[test]
    fn parses_the_three_shapes_with_defaults() {
        let q = CloudWatchQuery::parse(&format!(
            r#"{{"metric":{}}}"#,
            metric(
                r#","dimensions":{"TargetGroup":"targetgroup/a/1"},"stat":"p99.9","period":"5m""#
            )
        ))
        .unwrap();
        let CloudWatchQuery::Metric(m) = &q else {
            panic!("{q:?}")
        };
        assert_eq!(m.stat, "p99.9");
        assert_eq!(m.period, Duration::from_secs(300));
        assert_eq!(m.dimensions["TargetGroup"], "targetgroup/a/1");
        assert_eq!(CloudWatchQuery::parse(&q.to_text()).unwrap(), q);

        let r = CloudWatchQuery::parse(&format!(
            r#"{{"ratio":{{"numerator":{},"denominator":{}}}}}"#,
            metric(""),
            metric("")
        ))
        .unwrap();
        assert_eq!(r.period(), Duration::from_secs(60));
        let e = CloudWatchQuery::parse(&format!(
            r#"{{"expression":{{"expression":"m1*2","metrics":{{"m1":{}}}}}}}"#,
            metric("")
        ))
        .unwrap();
        assert!(matches!(e, CloudWatchQuery::Expression { .. }));
    }

    #[test]
    fn errors_name_the_field() {
        let field = |text: String| CloudWatchQuery::parse(&text).unwrap_err().field;
        assert_eq!(
            field(format!(r#"{{"metric":{}}}"#, metric(r#","stat":"Median""#))),
            "metric.stat"
        );
        assert_eq!(
            field(format!(r#"{{"metric":{}}}"#, metric(r#","period":"90s""#))),
            "metric.period"
        );
        assert_eq!(
            field(format!(
                r#"{{"metric":{}}}"#,
                metric(r#","period":"1500ms""#)
            )),
            "metric.period"
        );
        assert_eq!(
            field(r#"{"metric":{"namespace":" ","name":"x"}}"#.into()),
            "metric.namespace"
        );
        assert_eq!(
            field(format!(
                r#"{{"metric":{}}}"#,
                metric(r#","dimensions":{"TargetGroup":""}"#)
            )),
            "metric.dimensions.TargetGroup"
        );
        assert_eq!(
            field(format!(
                r#"{{"ratio":{{"numerator":{},"denominator":{}}}}}"#,
                metric(r#","stat":"Average""#),
                metric("")
            )),
            "ratio.numerator.stat"
        );
        assert_eq!(
            field(format!(
                r#"{{"ratio":{{"numerator":{},"denominator":{}}}}}"#,
                metric(""),
                metric(r#","period":"5m""#)
            )),
            "ratio.denominator.period"
        );
        assert_eq!(
            field(format!(
                r#"{{"expression":{{"expression":"M1*2","metrics":{{"M1":{}}}}}}}"#,
                metric("")
            )),
            "expression.metrics"
        );
        assert_eq!(
            field(r#"{"expression":{"expression":"1","metrics":{}}}"#.into()),
            "expression.metrics"
        );
        // Not JSON, an unknown shape, an unknown field: the whole text.
        for bad in [
            "sum(rate(x[1m]))",
            r#"{"metrics":{}}"#,
            &format!(r#"{{"metric":{}}}"#, metric(r#","dimension":{}"#)),
        ] {
            let e = CloudWatchQuery::parse(bad).unwrap_err();
            assert_eq!(e.field, "expr", "{bad}: {e}");
        }
        let e =
            CloudWatchQuery::parse(&format!(r#"{{"metric":{}}}"#, metric(r#","dimension":{}"#)))
                .unwrap_err();
        assert!(e.problem.contains("unknown field `dimension`"), "{e}");
        let e = CloudWatchQuery::parse(r#"{"metric":{"namespace":"n"}}"#).unwrap_err();
        assert!(e.problem.contains("missing field `name`"), "{e}");
    }

    #[test]
    fn prefix_patterns() {
        let m = MetricSpec::new("AWS/ApplicationELB", "RequestCount")
            .dimension("TargetGroup", "targetgroup/web-v2/*")
            .dimension("LoadBalancer", "app/web/1");
        assert!(m.has_patterns());
        let dims = |tg: &str, lb: &str| -> BTreeMap<String, String> {
            [("TargetGroup", tg), ("LoadBalancer", lb)]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        assert!(m.selects(&dims("targetgroup/web-v2/0f3c", "app/web/1")));
        assert!(!m.selects(&dims("targetgroup/web-v20/0f3c", "app/web/1")));
        assert!(!m.selects(&dims("targetgroup/web-v2/0f3c", "app/web/2")));
        let mut extra = dims("targetgroup/web-v2/0f3c", "app/web/1");
        extra.insert("AvailabilityZone".into(), "a".into());
        assert!(!m.selects(&extra));
        let e = CloudWatchQuery::Metric(m.clone().dimension("TargetGroup", "target*group/*"))
            .check()
            .unwrap_err();
        assert_eq!(e.field, "metric.dimensions.TargetGroup");
    }

    #[test]
    fn statistics() {
        for ok in [
            "Sum",
            "p95",
            "p99.9",
            "p100",
            "p0",
            "tm90",
            "wm99.5",
            "IQM",
            "SampleCount",
        ] {
            assert!(stat_ok(ok), "{ok}");
        }
        for bad in [
            "", "sum", "p", "p101", "p9x", "p95.", "p-1", "Median", "tm", "p1e1",
        ] {
            assert!(!stat_ok(bad), "{bad}");
        }
    }

    #[test]
    fn ratio_maths_pairs_periods_and_never_turns_no_traffic_into_zero() {
        let num: BTreeMap<u64, f64> = [(60_000, 5.0), (180_000, 9.0)].into();
        let den: BTreeMap<u64, f64> = [(60_000, 50.0), (120_000, 50.0)].into();
        // 120000 has no numerator point: 0 errors; 180000 has no denominator: dropped.
        let pairs = pair_periods(&num, &den);
        assert_eq!(pairs, vec![(60_000, 5.0, 50.0), (120_000, 0.0, 50.0)]);
        let (n, d) = pairs
            .iter()
            .fold((0.0, 0.0), |(n, d), p| (n + p.1, d + p.2));
        assert_eq!(ratio(n, d), 0.05);
        assert!(ratio(0.0, 0.0).is_nan());
        assert!(ratio(3.0, 0.0).is_nan());
        assert!(pair_periods(&num, &BTreeMap::new()).is_empty());
    }

    #[test]
    fn combining_periods() {
        assert_eq!(combine("Sum", &[1.0, 2.0, 3.0]), Some(6.0));
        assert_eq!(combine("SampleCount", &[1.0, 2.0]), Some(3.0));
        assert_eq!(combine("Minimum", &[4.0, 2.0]), Some(2.0));
        assert_eq!(combine("Maximum", &[4.0, 2.0]), Some(4.0));
        assert_eq!(combine("Average", &[4.0, 2.0]), Some(3.0));
        assert_eq!(combine("p95", &[0.1, 0.4, 0.2]), Some(0.4));
        assert_eq!(combine("Sum", &[]), None);
    }
}
