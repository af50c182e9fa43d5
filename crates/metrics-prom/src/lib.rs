//! Prometheus as a shipcore [`MetricsSource`](shipcore::metrics::MetricsSource).
//!
//! - [`PrometheusSource`]: instant and range queries over the HTTP API with optional bearer
//!   or basic auth, extra headers, timeouts and retries of transient failures. Errors come
//!   back as [`MetricsError`](shipcore::metrics::MetricsError) with a kind the caller can act
//!   on: `BadQuery` (PromQL refused, with Prometheus' `errorType: error`), `Unavailable`
//!   (unreachable, timeout, 5xx/429, after retries), `Unauthorized`, `Protocol` (an answer
//!   over `max_response_bytes`, 16 MiB by default, among others). Credentials stay out of
//!   messages and `Debug`: a URL with `user:pass@` is refused (use `auth`), secret header
//!   values are hidden, and text from the server is cut to 512 bytes.
//! - [`StandardQueries`]: ready-made per-revision query templates (error rate, latency
//!   quantiles, request rate and count) for the validators' `{{revision}}` variables.
//! - [`alerts`]: Prometheus alerting-rule files from warning/critical thresholds.
//!
//! Results keep Prometheus' shapes (scalar, vector, matrix); `NaN`, `±Inf` and empty
//! results stay distinct, so [`QueryResult::single_value`](shipcore::metrics::QueryResult::single_value)
//! reports them as problems and no validator can read them as a pass.

#![warn(missing_docs)]

pub mod alerts;
mod config;
mod queries;
mod response;
mod source;

pub use alerts::{render_rules, AlertRuleError, AlertThreshold, RuleGroup};
pub use config::{
    Auth, ConfigError, PrometheusConfig, DEFAULT_MAX_RESPONSE_BYTES, MAX_RESPONSE_BYTES_LIMIT,
    MAX_RETRIES,
};
pub use queries::{prom_duration, StandardQueries};
pub use response::parse_value;
pub use source::PrometheusSource;

/// Classifies one Prometheus answer (HTTP `status`, `body`) exactly as [`PrometheusSource`]
/// does. An entry point for the fuzz targets in `fuzz/`, not part of the API.
#[doc(hidden)]
pub fn fuzz_interpret(
    status: u16,
    body: &str,
) -> Result<shipcore::metrics::QueryResult, shipcore::metrics::MetricsError> {
    response::interpret(
        "fuzz",
        "http://prometheus.invalid/api/v1/query",
        status,
        body,
    )
}
