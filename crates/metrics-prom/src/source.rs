//! [`PrometheusSource`]: a [`MetricsSource`] over Prometheus' HTTP API (`/api/v1/query`,
//! `/api/v1/query_range`, POSTed as forms), retrying transient failures with exponential
//! backoff (backon) and classifying the rest.
//!
//! Answers are read in chunks up to `max_response_bytes` (16 MiB by default); a longer one
//! is a `Protocol` error and is read no further. Error messages never carry credentials:
//! the URL has none (refused by [`PrometheusConfig::check`]), reqwest's errors are shown
//! without their URL, and text from the server is cut to
//! [`MAX_ENDPOINT_TEXT`](shipcore::redact::MAX_ENDPOINT_TEXT) bytes. Redirects are followed
//! only within the same origin, so no header reaches another host.

use crate::config::{Auth, ConfigError, PrometheusConfig};
use crate::response::interpret;
use async_trait::async_trait;
use backon::{ExponentialBuilder, Retryable};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use shipcore::http_limits::{read_capped, BodyError};
use shipcore::metrics::{MetricQuery, MetricsError, MetricsErrorKind, MetricsSource, QueryResult};
use shipcore::model::FieldError;
use shipcore::time::Timestamp;

/// Queries one Prometheus server.
///
/// ```no_run
/// # async fn f() -> Result<(), Box<dyn std::error::Error>> {
/// use metrics_prom::{PrometheusConfig, PrometheusSource};
/// use shipcore::metrics::{MetricQuery, MetricsSource};
/// let prom = PrometheusSource::new(PrometheusConfig::new("http://127.0.0.1:9090"))?;
/// let up = prom.query(&MetricQuery::instant("sum(up)")).await?;
/// println!("{} targets up", up.single_value()?);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct PrometheusSource {
    cfg: PrometheusConfig,
    client: reqwest::Client,
    query_url: reqwest::Url,
    range_url: reqwest::Url,
}

/// Form fields of one API request.
type Form = Vec<(&'static str, String)>;

fn secs(t: Timestamp) -> String {
    let ms = t.as_millis();
    format!("{}.{:03}", ms / 1000, ms % 1000)
}

impl PrometheusSource {
    /// Checks `cfg` and builds the HTTP client.
    pub fn new(cfg: PrometheusConfig) -> Result<Self, ConfigError> {
        cfg.check()?;
        let base = cfg.base_url()?;
        let join = |p: &str| {
            base.join(p)
                .map_err(|e| FieldError::new("url", format!("cannot append {p}: {e}")))
        };
        let (query_url, range_url) = (join("api/v1/query")?, join("api/v1/query_range")?);
        let mut headers = HeaderMap::new();
        for (name, value) in &cfg.headers {
            let n = HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
                FieldError::new(format!("headers.{name}"), "is not a valid header name")
            })?;
            let mut v = HeaderValue::from_str(value).map_err(|_| {
                FieldError::new(format!("headers.{name}"), "is not a valid header value")
            })?;
            // Hidden in the client's `Debug` (it lists its default headers).
            v.set_sensitive(shipcore::redact::is_secret_header(name));
            headers.insert(n, v);
        }
        if let Some(Auth::Bearer { token }) = &cfg.auth {
            let mut v = HeaderValue::from_str(&format!("Bearer {token}"))
                .map_err(|_| FieldError::new("auth.token", "is not a valid header value"))?;
            v.set_sensitive(true);
            headers.insert(reqwest::header::AUTHORIZATION, v);
        }
        let client = reqwest::Client::builder()
            .default_headers(headers)
            .timeout(cfg.timeout)
            .connect_timeout(cfg.connect_timeout)
            .redirect(shipcore::http_limits::same_origin_redirects())
            .build()
            .map_err(|e| FieldError::new("url", format!("cannot build an HTTP client: {e}")))?;
        Ok(PrometheusSource {
            cfg,
            client,
            query_url,
            range_url,
        })
    }

    /// A source for `url` with default settings.
    pub fn from_url(url: impl Into<String>) -> Result<Self, ConfigError> {
        Self::new(PrometheusConfig::new(url))
    }

    /// The configuration.
    pub fn config(&self) -> &PrometheusConfig {
        &self.cfg
    }

    /// The form fields and endpoint of `q`, or why it cannot be sent.
    fn request_parts(&self, q: &MetricQuery) -> Result<(&reqwest::Url, Form), MetricsError> {
        let bad = |m: &str| MetricsError::new(MetricsErrorKind::BadQuery, &q.expr, m);
        if q.expr.trim().is_empty() {
            return Err(bad("the query is empty"));
        }
        let mut form = vec![("query", q.expr.clone())];
        form.push(("timeout", format!("{}ms", self.cfg.timeout.as_millis())));
        match &q.range {
            None => {
                if let Some(at) = q.at {
                    form.push(("time", secs(at)));
                }
                Ok((&self.query_url, form))
            }
            Some(r) => {
                if r.step.is_zero() {
                    return Err(bad("the range's step must be greater than zero"));
                }
                if r.end < r.start {
                    return Err(bad("the range ends before it starts"));
                }
                form.push(("start", secs(r.start)));
                form.push(("end", secs(r.end)));
                form.push(("step", format!("{}", r.step.as_secs_f64())));
                Ok((&self.range_url, form))
            }
        }
    }

    /// One attempt, no retry.
    async fn attempt(&self, q: &MetricQuery) -> Result<QueryResult, MetricsError> {
        let (url, form) = self.request_parts(q)?;
        let mut req = self.client.post(url.clone()).form(&form);
        if let Some(Auth::Basic { username, password }) = &self.cfg.auth {
            req = req.basic_auth(username, Some(password));
        }
        let unavailable = |m: String| MetricsError::new(MetricsErrorKind::Unavailable, &q.expr, m);
        // The URL has no userinfo or query (checked), but is redacted all the same.
        let shown = shipcore::redact::parsed_url(url);
        let resp = req.send().await.map_err(|e| {
            if e.is_timeout() {
                unavailable(format!(
                    "no answer from {shown} within {}ms",
                    self.cfg.timeout.as_millis()
                ))
            } else if e.is_connect() {
                unavailable(format!(
                    "cannot connect to {shown}: {}",
                    shipcore::redact::reqwest_error(e)
                ))
            } else {
                unavailable(format!(
                    "request to {shown} failed: {}",
                    shipcore::redact::reqwest_error(e)
                ))
            }
        })?;
        let status = resp.status().as_u16();
        let cap = self.cfg.max_response_bytes;
        let body = read_capped(resp, cap).await.map_err(|e| match e {
            BodyError::TooLarge { .. } => MetricsError::new(
                MetricsErrorKind::Protocol,
                &q.expr,
                format!(
                    "the answer from {shown} is larger than {cap} bytes (max_response_bytes); \
                     narrow the query (aggregate, shorter range, larger step)"
                ),
            ),
            BodyError::Read { timeout: true, .. } => {
                unavailable(format!("answer from {shown} timed out while being read"))
            }
            BodyError::Read { message, .. } => {
                unavailable(format!("answer from {shown} could not be read: {message}"))
            }
            other => unavailable(format!("answer from {shown} could not be read: {other}")),
        })?;
        let body = String::from_utf8_lossy(&body);
        interpret(&q.expr, &shown, status, &body)
    }
}

#[async_trait]
impl MetricsSource for PrometheusSource {
    /// Runs `query`, retrying [`MetricsErrorKind::Unavailable`] failures up to
    /// `retries` times; other failures return at once.
    async fn query(&self, query: &MetricQuery) -> Result<QueryResult, MetricsError> {
        let backoff = ExponentialBuilder::default()
            .with_min_delay(self.cfg.backoff)
            .with_max_delay(self.cfg.max_backoff)
            .with_max_times(self.cfg.retries)
            .with_jitter();
        let attempts = std::sync::atomic::AtomicUsize::new(0);
        let result = (|| async {
            attempts.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            self.attempt(query).await
        })
        .retry(backoff)
        .when(|e: &MetricsError| e.kind == MetricsErrorKind::Unavailable)
        .notify(|e: &MetricsError, delay| {
            tracing::debug!(expr = %query.expr, error = %e.message, ?delay, "retrying Prometheus query");
        })
        .await;
        let n = attempts.load(std::sync::atomic::Ordering::Relaxed);
        result.map_err(|mut e| {
            if e.kind == MetricsErrorKind::Unavailable && n > 1 {
                e.message = format!("{} (after {n} attempts)", e.message);
            }
            e
        })
    }
}
