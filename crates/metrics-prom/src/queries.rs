//! Ready-made PromQL templates for one revision's RED metrics (rate, errors, duration), with
//! shipcore's `{{revision}}`-style variables left in for the validators to render, so the same
//! template measures the canary and (rendered with the stable revision) the baseline.
//!
//! Labels: by default a revision is selected with `revision="{{revision}}"`, a Prometheus
//! *target* label set in the scrape configuration (static `labels:`, or relabelled from a
//! Kubernetes pod label), because the revision id is what the engine knows. The demo service
//! also labels its own series with `version` (its `--version`); select by that with
//! `StandardQueries::new(r#"version="{{version}}""#)`.

use crate::config::ConfigError;
use serde::{Deserialize, Serialize};
use shipcore::model::FieldError;
use shipcore::time::serde_duration;
use std::time::Duration;

/// Query templates over a request counter and a latency histogram.
///
/// ```
/// use metrics_prom::StandardQueries;
/// let q = StandardQueries::default();
/// assert_eq!(q.request_rate(),
///     r#"sum(rate(http_requests_total{revision="{{revision}}"}[1m]))"#);
/// let mut vars = std::collections::BTreeMap::new();
/// vars.insert("revision".to_string(), "web-v2".to_string());
/// let p95 = shipcore::metrics::render_template(&q.latency_p95(), &vars).unwrap();
/// assert!(p95.contains(r#"http_request_duration_seconds_bucket{revision="web-v2"}"#));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StandardQueries {
    /// Label matchers (without braces) selecting one revision's series.
    #[serde(default = "default_selector")]
    pub selector: String,
    /// Window of `rate()` and `increase()` (default 1m; at least 4 scrape intervals).
    #[serde(default = "default_window", with = "serde_duration")]
    pub window: Duration,
    /// Request counter (default `http_requests_total`).
    #[serde(default = "default_requests")]
    pub requests_metric: String,
    /// Latency histogram, without `_bucket` (default `http_request_duration_seconds`).
    #[serde(default = "default_duration")]
    pub duration_metric: String,
    /// Label holding the HTTP status code (default `status`).
    #[serde(default = "default_status_label")]
    pub status_label: String,
    /// Regular expression of failing status codes (default `5..`).
    #[serde(default = "default_error_status")]
    pub error_status: String,
}

fn default_selector() -> String {
    r#"revision="{{revision}}""#.into()
}
fn default_window() -> Duration {
    Duration::from_secs(60)
}
fn default_requests() -> String {
    "http_requests_total".into()
}
fn default_duration() -> String {
    "http_request_duration_seconds".into()
}
fn default_status_label() -> String {
    "status".into()
}
fn default_error_status() -> String {
    "5..".into()
}

impl Default for StandardQueries {
    fn default() -> Self {
        StandardQueries {
            selector: default_selector(),
            window: default_window(),
            requests_metric: default_requests(),
            duration_metric: default_duration(),
            status_label: default_status_label(),
            error_status: default_error_status(),
        }
    }
}

/// A duration in PromQL / Prometheus config syntax, in the largest unit that is exact:
/// `2m`, `90s`, `1500ms`, `0s`.
///
/// ```
/// use std::time::Duration;
/// assert_eq!(metrics_prom::prom_duration(Duration::from_secs(120)), "2m");
/// assert_eq!(metrics_prom::prom_duration(Duration::from_millis(1500)), "1500ms");
/// ```
pub fn prom_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms == 0 {
        return "0s".into();
    }
    for (unit, size) in [
        ("d", 86_400_000u128),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1000),
    ] {
        if ms % size == 0 {
            return format!("{}{unit}", ms / size);
        }
    }
    format!("{ms}ms")
}

/// `s` without its `{{name}}` template variables.
fn strip_vars(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        match rest[start..].find("}}") {
            Some(end) => rest = &rest[start + end + 2..],
            None => {
                rest = &rest[start..];
                break;
            }
        }
    }
    out.push_str(rest);
    out
}

impl StandardQueries {
    /// Templates selecting a revision with `selector` (label matchers without braces, e.g.
    /// `service="{{service}}",revision="{{revision}}"`), other settings default.
    pub fn new(selector: impl Into<String>) -> Self {
        StandardQueries {
            selector: selector.into(),
            ..Self::default()
        }
    }

    /// With another `rate()` window.
    #[must_use]
    pub fn with_window(mut self, window: Duration) -> Self {
        self.window = window;
        self
    }

    /// Checks the settings.
    pub fn check(&self) -> Result<(), ConfigError> {
        let name_ok = |s: &str| {
            !s.is_empty()
                && !s.starts_with(|c: char| c.is_ascii_digit())
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
        };
        if self.selector.trim().is_empty() {
            return Err(FieldError::new(
                "selector",
                "must select the revision's series (e.g. revision=\"{{revision}}\")",
            )
            .into());
        }
        if strip_vars(&self.selector).contains(['{', '}']) {
            return Err(FieldError::new(
                "selector",
                "give label matchers without the surrounding braces",
            )
            .into());
        }
        if self.window.as_millis() == 0 {
            return Err(FieldError::new("window", "must be at least 1ms").into());
        }
        for (field, v) in [
            ("requests_metric", &self.requests_metric),
            ("duration_metric", &self.duration_metric),
            ("status_label", &self.status_label),
        ] {
            if !name_ok(v) {
                return Err(
                    FieldError::new(field, format!("{v:?} is not a Prometheus name")).into(),
                );
            }
        }
        if self.error_status.is_empty() || self.error_status.contains('"') {
            return Err(FieldError::new(
                "error_status",
                "must be a non-empty regular expression without double quotes",
            )
            .into());
        }
        Ok(())
    }

    fn w(&self) -> String {
        prom_duration(self.window)
    }

    /// Share of requests that failed, 0..1: `(5xx rate or 0) / all requests' rate`. No
    /// series at all gives an empty result; series without requests in the window give NaN.
    pub fn error_rate(&self) -> String {
        format!(
            "(sum(rate({m}{{{s},{l}=~\"{e}\"}}[{w}])) or vector(0)) / sum(rate({m}{{{s}}}[{w}]))",
            m = self.requests_metric,
            s = self.selector,
            l = self.status_label,
            e = self.error_status,
            w = self.w()
        )
    }

    /// The `q` latency quantile (0..1) in seconds, from the histogram's buckets.
    pub fn latency_quantile(&self, q: f64) -> String {
        format!(
            "histogram_quantile({q}, sum by (le) (rate({m}_bucket{{{s}}}[{w}])))",
            m = self.duration_metric,
            s = self.selector,
            w = self.w()
        )
    }

    /// 95th percentile latency, seconds.
    pub fn latency_p95(&self) -> String {
        self.latency_quantile(0.95)
    }

    /// 99th percentile latency, seconds.
    pub fn latency_p99(&self) -> String {
        self.latency_quantile(0.99)
    }

    /// Requests per second.
    pub fn request_rate(&self) -> String {
        format!(
            "sum(rate({m}{{{s}}}[{w}]))",
            m = self.requests_metric,
            s = self.selector,
            w = self.w()
        )
    }

    /// Requests in the window (for a minimum sample size).
    pub fn request_count(&self) -> String {
        format!(
            "sum(increase({m}{{{s}}}[{w}]))",
            m = self.requests_metric,
            s = self.selector,
            w = self.w()
        )
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn error_rate_counts_missing_5xx_series_as_zero() {
        let q = StandardQueries::default().with_window(Duration::from_secs(30));
        assert_eq!(
            q.error_rate(),
            "(sum(rate(http_requests_total{revision=\"{{revision}}\",status=~\"5..\"}[30s])) \
             or vector(0)) / sum(rate(http_requests_total{revision=\"{{revision}}\"}[30s]))"
        );
    }

    #[test]
    fn templates_render_with_the_context_variables() {
        let q = StandardQueries::new(r#"service="{{service}}",version="{{version}}""#);
        let vars: BTreeMap<String, String> = [("service", "web"), ("version", "2.0.0")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let p99 = shipcore::metrics::render_template(&q.latency_p99(), &vars).unwrap();
        assert_eq!(
            p99,
            "histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket\
             {service=\"web\",version=\"2.0.0\"}[1m])))"
        );
        let n = shipcore::metrics::render_template(&q.request_count(), &vars).unwrap();
        assert!(
            n.starts_with("sum(increase(http_requests_total{service=\"web\""),
            "{n}"
        );
    }

    #[test]
    fn durations_use_the_largest_exact_unit() {
        assert_eq!(prom_duration(Duration::from_secs(90)), "90s");
        assert_eq!(prom_duration(Duration::from_secs(3600)), "1h");
        assert_eq!(prom_duration(Duration::from_secs(86_400 * 2)), "2d");
        assert_eq!(prom_duration(Duration::ZERO), "0s");
    }

    #[test]
    fn check_names_the_field() {
        let mut q = StandardQueries::default();
        assert!(q.check().is_ok());
        q.window = Duration::ZERO;
        assert_eq!(q.check().unwrap_err().field, "window");
        let q = StandardQueries::new("{revision=\"x\"}");
        assert_eq!(q.check().unwrap_err().field, "selector");
        let q = StandardQueries::new("{revision=\"{{revision}}\"}");
        assert_eq!(q.check().unwrap_err().field, "selector");
        let q = StandardQueries {
            requests_metric: "http-requests".into(),
            ..Default::default()
        };
        assert_eq!(q.check().unwrap_err().field, "requests_metric");
    }
}
