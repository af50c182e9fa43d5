//! Where numbers come from. A [`MetricsSource`] answers a query (PromQL for Prometheus, a
//! tiny vocabulary for the simulator) with a [`QueryResult`]. Empty results, NaN, infinities
//! and query errors are distinct outcomes, so no validator can mistake "no data" for "healthy".

use crate::time::Timestamp;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::time::Duration;

mod labels;
pub use labels::Labels;

/// A query to a metrics source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetricQuery {
    /// The expression, already rendered (see [`render_template`]).
    pub expr: String,
    /// Evaluate at this instant (the source's "now" if `None`).
    #[serde(default)]
    pub at: Option<Timestamp>,
    /// For range queries: window length and resolution step.
    #[serde(default)]
    pub range: Option<QueryRange>,
}

impl MetricQuery {
    /// An instant query at the source's now.
    pub fn instant(expr: impl Into<String>) -> Self {
        MetricQuery {
            expr: expr.into(),
            at: None,
            range: None,
        }
    }
    /// An instant query at `at`.
    pub fn at(expr: impl Into<String>, at: Timestamp) -> Self {
        MetricQuery {
            expr: expr.into(),
            at: Some(at),
            range: None,
        }
    }
}

/// A range query's window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueryRange {
    /// Start of the window.
    pub start: Timestamp,
    /// End of the window.
    pub end: Timestamp,
    /// Resolution.
    #[serde(with = "crate::time::serde_duration")]
    pub step: Duration,
}

/// One value at one instant.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    /// When the value was measured.
    pub at: Timestamp,
    /// The value; may be NaN or infinite.
    #[serde(with = "crate::time::serde_f64")]
    pub value: f64,
}

/// A labelled series of samples.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Series {
    /// Labels identifying the series.
    pub labels: Labels,
    /// Samples, oldest first (one for instant vectors).
    pub samples: Vec<Sample>,
}

/// A query's answer, shaped as Prometheus shapes them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data", rename_all = "snake_case")]
pub enum QueryResult {
    /// A single number.
    Scalar(Sample),
    /// One sample per series.
    Vector(Vec<Series>),
    /// Many samples per series.
    Matrix(Vec<Series>),
}

/// Why a result does not yield one usable number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(rename_all = "snake_case")]
pub enum ValueProblem {
    /// No series at all (no traffic, wrong labels).
    #[error("the query returned no data")]
    Empty,
    /// Not a number (0/0: no requests in the window).
    #[error("the query returned NaN")]
    NaN,
    /// Infinite.
    #[error("the query returned an infinite value")]
    Infinite,
    /// More than one series where one was expected.
    #[error("the query returned several series where one was expected")]
    Ambiguous,
}

impl QueryResult {
    /// The single value of a scalar or one-series vector (the last sample of a one-series
    /// matrix), or why there is none.
    ///
    /// ```
    /// use shipcore::metrics::{QueryResult, Sample, ValueProblem};
    /// use shipcore::time::Timestamp;
    /// let nan = QueryResult::Scalar(Sample { at: Timestamp(0), value: f64::NAN });
    /// assert_eq!(nan.single_value(), Err(ValueProblem::NaN));
    /// assert_eq!(QueryResult::Vector(vec![]).single_value(), Err(ValueProblem::Empty));
    /// ```
    pub fn single_value(&self) -> Result<f64, ValueProblem> {
        let v = match self {
            QueryResult::Scalar(s) => s.value,
            QueryResult::Vector(series) | QueryResult::Matrix(series) => match series.as_slice() {
                [] => return Err(ValueProblem::Empty),
                [one] => one.samples.last().ok_or(ValueProblem::Empty)?.value,
                _ => return Err(ValueProblem::Ambiguous),
            },
        };
        check_value(v)
    }

    /// Every finite sample value of every series (for statistical comparison); the problem
    /// if there is none.
    pub fn all_values(&self) -> Result<Vec<f64>, ValueProblem> {
        let vals: Vec<f64> = match self {
            QueryResult::Scalar(s) => vec![s.value],
            QueryResult::Vector(series) | QueryResult::Matrix(series) => series
                .iter()
                .flat_map(|s| s.samples.iter().map(|x| x.value))
                .collect(),
        };
        if vals.is_empty() {
            return Err(ValueProblem::Empty);
        }
        let finite: Vec<f64> = vals.iter().copied().filter(|v| v.is_finite()).collect();
        if finite.is_empty() {
            return Err(check_value(vals[0]).err().unwrap_or(ValueProblem::NaN));
        }
        Ok(finite)
    }
}

fn check_value(v: f64) -> Result<f64, ValueProblem> {
    if v.is_nan() {
        Err(ValueProblem::NaN)
    } else if v.is_infinite() {
        Err(ValueProblem::Infinite)
    } else {
        Ok(v)
    }
}

/// Whether a metrics error may go away on retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum MetricsErrorKind {
    /// The server could not be reached, timed out, or answered 5xx / 429.
    Unavailable,
    /// The query is wrong (PromQL syntax, unknown function): fix the configuration.
    BadQuery,
    /// Authentication or authorization failed.
    Unauthorized,
    /// The answer could not be understood.
    Protocol,
}

/// A metrics query failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("metrics query {expr:?} failed ({kind:?}): {message}")]
pub struct MetricsError {
    /// What kind of failure.
    pub kind: MetricsErrorKind,
    /// The expression of the query that failed.
    pub expr: String,
    /// The source's message.
    pub message: String,
}

impl MetricsError {
    /// An error of `kind` for `expr`.
    pub fn new(
        kind: MetricsErrorKind,
        expr: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        MetricsError {
            kind,
            expr: expr.into(),
            message: message.into(),
        }
    }
}

/// Answers metric queries.
#[async_trait]
pub trait MetricsSource: Send + Sync {
    /// Run one query.
    async fn query(&self, query: &MetricQuery) -> Result<QueryResult, MetricsError>;
    /// Answers `query` without waiting, when this source can: `Some` is exactly what
    /// [`query`](MetricsSource::query) would have answered, `None` that this source cannot
    /// (it asks a server), and the caller awaits `query` instead. A validator judging a
    /// source in memory asks this first, so its measurement needs no future. The default:
    /// `None`.
    fn query_now(&self, query: &MetricQuery) -> Option<Result<QueryResult, MetricsError>> {
        let _ = query;
        None
    }
}

#[cfg(feature = "mock")]
mockall::mock! {
    /// A [`MetricsSource`] a test scripts with expectations (feature `mock`). Its
    /// [`query_now`](MetricsSource::query_now) keeps the default, so it is always asked
    /// through `query`.
    pub MetricsSource {}
    #[async_trait]
    impl MetricsSource for MetricsSource {
        async fn query(&self, query: &MetricQuery) -> Result<QueryResult, MetricsError>;
    }
}

pub use crate::template::{render_template, TemplateError};
