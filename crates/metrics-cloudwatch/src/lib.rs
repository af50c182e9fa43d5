//! shipcore's CloudWatch metrics source: `GetMetricData` queries answering canary analyses.
//!
//! - [`CloudWatchSource`]: a [`MetricsSource`](shipcore::metrics::MetricsSource) over
//!   CloudWatch `GetMetricData`, built from an SDK client or [`CloudWatchConfig`] (region,
//!   endpoint, timeouts; SDK retries off, as shipcore retries and journals).
//! - [`query`]: the query language, one JSON object per query: a metric statistic with exact
//!   dimensions (a value ending in `*` is a prefix resolved to exactly one series with
//!   `ListMetrics`), a ratio of two sums computed over the same periods, or a metric-math
//!   expression passed through to CloudWatch.
//! - [`alb`]: standard per-target-group queries for an Application Load Balancer (5xx
//!   share, p95 `TargetResponseTime`, request count) with `{{revision}}`-style variables.
//!
//! No data is never a pass: no data points give an empty result and a zero denominator NaN,
//! which [`QueryResult::single_value`](shipcore::metrics::QueryResult::single_value)
//! reports as problems. Errors are classified: throttling, 5xx and timeouts `Unavailable`
//! (retried by the engine); validation `BadQuery`; access denied `Unauthorized`; an HTML
//! 500 (moto's answer for what it does not implement) `Protocol`, not retried.
//!
//! The AWS SDK is `aws-sdk-cloudwatch` 1.99, the last release speaking the `awsQuery`
//! protocol: later ones speak Smithy RPC v2 CBOR, which moto 5.2.5 (the test double) does
//! not serve. AWS serves both.

#![warn(missing_docs)]

pub mod alb;
mod config;
pub mod query;
mod source;

pub use alb::AlbQueries;
pub use config::{CloudWatchConfig, ConfigError, StaticCredentials};
pub use query::{CloudWatchQuery, MetricSpec, QueryError};
pub use source::{classify, CloudWatchSource};
