//! [`CloudWatchSource`]: a [`MetricsSource`] over CloudWatch `GetMetricData`.
//!
//! Windows: a range query reads `[range.start, range.end]` (its `step` is not used: the
//! query's `period` is CloudWatch's resolution); an instant query reads the `lookback`
//! (default 5 min, at least one period) ending at `at`, or at the machine's clock when the
//! query has no `at`. Results:
//!
//! | query | instant | range |
//! |---|---|---|
//! | `metric` | a vector of one sample: the window's periods folded by the statistic (`Sum`, `SampleCount`: summed; `Minimum`: least; `Average`: mean of the periods; `Maximum`, percentiles, trimmed: the worst period) | a matrix, one sample per period |
//! | `ratio` | `ΣSum(numerator) / ΣSum(denominator)` over the periods the denominator has | one ratio per period |
//! | `expression` | the latest period's value | a matrix |
//!
//! No data points give an empty vector or matrix, and a zero denominator NaN: shipcore's
//! validators read both as "no data", never as a pass.
//!
//! Pages (`NextToken`) are followed up to `max_pages`, and more than `max_datapoints` values
//! are refused: either is a `Protocol` error, not a partial answer.

use crate::config::{CloudWatchConfig, ConfigError};
use crate::query::{self, CloudWatchQuery, MetricSpec, EXPRESSION_ID};
use async_trait::async_trait;
use aws_sdk_cloudwatch::config::http::HttpResponse;
use aws_sdk_cloudwatch::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_cloudwatch::primitives::DateTime;
use aws_sdk_cloudwatch::types::{
    Dimension, DimensionFilter, Metric, MetricDataQuery, MetricStat, ScanBy, StandardUnit,
    StatusCode,
};
use shipcore::metrics::{
    MetricQuery, MetricsError, MetricsErrorKind, MetricsSource, QueryResult, Sample, Series,
};
use shipcore::time::Timestamp;
use std::collections::BTreeMap;
use std::time::Duration;

/// Queries CloudWatch.
///
/// ```no_run
/// # async fn f() -> Result<(), Box<dyn std::error::Error>> {
/// use shipcore::metrics::{MetricQuery, MetricsSource};
/// use shipcore_metrics_cloudwatch::{alb, CloudWatchConfig, CloudWatchSource};
/// let cw = CloudWatchSource::connect(CloudWatchConfig::new("eu-west-1")).await?;
/// let q = alb::error_rate("targetgroup/web-v2/0f3c", "app/web/9e1d");
/// println!("5xx share: {}", cw.query(&MetricQuery::instant(q)).await?.single_value()?);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct CloudWatchSource {
    client: aws_sdk_cloudwatch::Client,
    lookback: Duration,
    max_pages: u32,
    max_datapoints: usize,
    timeout: Duration,
}

/// One id's data points by timestamp (ms).
type Points = BTreeMap<u64, f64>;

impl CloudWatchSource {
    /// A source over `client` with the default lookback (5 min) and bounds. Turn the
    /// client's own retries off (`RetryConfig::disabled()`): shipcore retries and journals.
    pub fn new(client: aws_sdk_cloudwatch::Client) -> Self {
        let d = CloudWatchConfig::new("");
        CloudWatchSource {
            client,
            lookback: d.lookback,
            max_pages: d.max_pages,
            max_datapoints: d.max_datapoints,
            timeout: d.timeout,
        }
    }

    /// Checks `cfg` and builds an SDK client from it (credentials and, without
    /// `cfg.region`, the region from the standard AWS chain), with retries off.
    pub async fn connect(cfg: CloudWatchConfig) -> Result<Self, ConfigError> {
        cfg.check()?;
        let sdk = cfg.sdk_config().await?;
        Ok(CloudWatchSource {
            client: aws_sdk_cloudwatch::Client::new(&sdk),
            lookback: cfg.lookback,
            max_pages: cfg.max_pages,
            max_datapoints: cfg.max_datapoints,
            timeout: cfg.timeout,
        })
    }

    /// With another instant-query window (at least one period is read all the same).
    #[must_use]
    pub fn with_lookback(mut self, lookback: Duration) -> Self {
        self.lookback = lookback;
        self
    }

    /// The instant-query window.
    pub fn lookback(&self) -> Duration {
        self.lookback
    }

    /// The SDK client.
    pub fn client(&self) -> &aws_sdk_cloudwatch::Client {
        &self.client
    }

    /// `[start, end]` of `q` for a query of `period`.
    fn window(&self, q: &MetricQuery, period: Duration) -> Result<(u64, u64), MetricsError> {
        let bad = |m: &str| MetricsError::new(MetricsErrorKind::BadQuery, &q.expr, m);
        if let Some(r) = &q.range {
            if r.end <= r.start {
                return Err(bad("range: the window must end after it starts"));
            }
            return Ok((r.start.as_millis(), r.end.as_millis()));
        }
        let end = match q.at {
            Some(t) => t.as_millis(),
            None => std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis().min(u64::MAX as u128) as u64)
                .unwrap_or(0),
        };
        let len = self.lookback.max(period).as_millis().min(u64::MAX as u128) as u64;
        if end < len {
            return Err(bad("at: the window would start before 1970"));
        }
        Ok((end - len, end))
    }

    /// `m` with its prefix patterns replaced by the one series `ListMetrics` finds (pages
    /// bounded by `max_pages`); `None` when there is none; an error when there are several.
    async fn resolve(
        &self,
        expr: &str,
        m: &MetricSpec,
    ) -> Result<Option<MetricSpec>, MetricsError> {
        if !m.has_patterns() {
            return Ok(Some(m.clone()));
        }
        let filters: Vec<DimensionFilter> = m
            .dimensions
            .iter()
            .map(|(k, v)| {
                let f = DimensionFilter::builder().name(k);
                if v.ends_with('*') { f } else { f.value(v) }.build()
            })
            .collect();
        let mut found: Vec<BTreeMap<String, String>> = vec![];
        let mut token: Option<String> = None;
        for _ in 0..self.max_pages {
            let resp = self
                .client
                .list_metrics()
                .namespace(&m.namespace)
                .metric_name(&m.name)
                .set_dimensions(Some(filters.clone()))
                .set_next_token(token.clone())
                .send()
                .await
                .map_err(|e| sdk_error(expr, self.timeout, e))?;
            for metric in resp.metrics() {
                let dims: BTreeMap<String, String> = metric
                    .dimensions()
                    .iter()
                    .map(|d| {
                        (
                            d.name().unwrap_or_default().to_string(),
                            d.value().unwrap_or_default().to_string(),
                        )
                    })
                    .collect();
                if m.selects(&dims) && !found.contains(&dims) {
                    found.push(dims);
                }
            }
            match resp.next_token() {
                Some(t) if !t.is_empty() => token = Some(t.to_string()),
                _ => {
                    return match found.as_slice() {
                        [] => Ok(None),
                        [one] => Ok(Some(MetricSpec {
                            dimensions: one.clone(),
                            ..m.clone()
                        })),
                        several => {
                            let shown: Vec<String> =
                                several.iter().take(5).map(|d| format!("{d:?}")).collect();
                            Err(MetricsError::new(
                                MetricsErrorKind::BadQuery,
                                expr,
                                format!(
                                    "the dimension pattern of {} selects {} series, not one                                      (make the prefix narrower): {}",
                                    m.name,
                                    several.len(),
                                    shown.join(", ")
                                ),
                            ))
                        }
                    };
                }
            }
        }
        Err(MetricsError::new(
            MetricsErrorKind::Protocol,
            expr,
            format!(
                "ListMetrics did not end within {} pages (max_pages)",
                self.max_pages
            ),
        ))
    }

    /// Runs `queries` over `[start, end]`, following pages; the data points of every id.
    async fn fetch(
        &self,
        expr: &str,
        queries: Vec<MetricDataQuery>,
        (start, end): (u64, u64),
    ) -> Result<BTreeMap<String, Points>, MetricsError> {
        let mut out: BTreeMap<String, Points> = BTreeMap::new();
        let mut token: Option<String> = None;
        let mut total = 0usize;
        let protocol = |m: String| MetricsError::new(MetricsErrorKind::Protocol, expr, m);
        for page in 0..self.max_pages {
            let resp = self
                .client
                .get_metric_data()
                .set_metric_data_queries(Some(queries.clone()))
                .start_time(DateTime::from_millis(start as i64))
                .end_time(DateTime::from_millis(end as i64))
                .scan_by(ScanBy::TimestampAscending)
                .set_next_token(token.clone())
                .send()
                .await
                .map_err(|e| sdk_error(expr, self.timeout, e))?;
            for r in resp.metric_data_results() {
                let id = r.id().unwrap_or_default().to_string();
                match r.status_code() {
                    Some(StatusCode::Forbidden) => {
                        return Err(MetricsError::new(
                            MetricsErrorKind::Unauthorized,
                            expr,
                            format!("CloudWatch refused the data of {id:?} (Forbidden)"),
                        ))
                    }
                    Some(StatusCode::InternalError) => {
                        return Err(MetricsError::new(
                            MetricsErrorKind::Unavailable,
                            expr,
                            format!(
                                "CloudWatch could not compute {id:?} (InternalError){}",
                                messages(r.messages())
                            ),
                        ))
                    }
                    _ => {}
                }
                if r.timestamps().len() != r.values().len() {
                    return Err(protocol(format!(
                        "{id:?} has {} timestamps but {} values",
                        r.timestamps().len(),
                        r.values().len()
                    )));
                }
                total += r.values().len();
                if total > self.max_datapoints {
                    return Err(protocol(format!(
                        "the answer has more than {} data points (max_datapoints); narrow the \
                         window or use a longer period",
                        self.max_datapoints
                    )));
                }
                let points = out.entry(id).or_default();
                for (t, v) in r.timestamps().iter().zip(r.values()) {
                    let ms = t
                        .to_millis()
                        .ok()
                        .and_then(|m| u64::try_from(m).ok())
                        .ok_or_else(|| protocol(format!("a timestamp out of range: {t}")))?;
                    points.insert(ms, *v);
                }
            }
            match resp.next_token() {
                Some(t) if !t.is_empty() => token = Some(t.to_string()),
                _ => return Ok(out),
            }
            tracing::debug!(expr, page, "GetMetricData: next page");
        }
        Err(protocol(format!(
            "the answer did not end within {} pages (max_pages)",
            self.max_pages
        )))
    }
}

fn messages(m: &[aws_sdk_cloudwatch::types::MessageData]) -> String {
    let text: Vec<String> = m
        .iter()
        .map(|m| {
            format!(
                "{}: {}",
                m.code().unwrap_or("?"),
                m.value().unwrap_or_default()
            )
        })
        .collect();
    if text.is_empty() {
        String::new()
    } else {
        format!(" ({})", shipcore::redact::endpoint_text(&text.join("; ")))
    }
}

fn stat_query(id: &str, m: &MetricSpec, return_data: bool) -> MetricDataQuery {
    let dims: Vec<Dimension> = m
        .dimensions
        .iter()
        .map(|(k, v)| Dimension::builder().name(k).value(v).build())
        .collect();
    let metric = Metric::builder()
        .namespace(&m.namespace)
        .metric_name(&m.name)
        .set_dimensions(Some(dims))
        .build();
    let mut stat = MetricStat::builder()
        .metric(metric)
        .period(m.period_secs())
        .stat(&m.stat);
    if let Some(u) = &m.unit {
        stat = stat.unit(StandardUnit::from(u.as_str()));
    }
    MetricDataQuery::builder()
        .id(id)
        .metric_stat(stat.build())
        .return_data(return_data)
        .build()
}

fn labels(m: &MetricSpec) -> BTreeMap<String, String> {
    let mut l = m.dimensions.clone();
    l.insert("namespace".into(), m.namespace.clone());
    l.insert("metric".into(), m.name.clone());
    l.insert("stat".into(), m.stat.clone());
    l
}

fn samples(points: &Points) -> Vec<Sample> {
    points
        .iter()
        .map(|(t, v)| Sample {
            at: Timestamp(*t),
            value: *v,
        })
        .collect()
}

/// Shapes one series: a matrix for range queries, else one sample at `end` (none: empty).
fn shape(
    range: bool,
    labels: BTreeMap<String, String>,
    points: Vec<Sample>,
    instant: Option<f64>,
    end: u64,
) -> QueryResult {
    if range {
        if points.is_empty() {
            return QueryResult::Matrix(vec![]);
        }
        return QueryResult::Matrix(vec![Series {
            labels: labels.into(),
            samples: points,
        }]);
    }
    match instant {
        None => QueryResult::Vector(vec![]),
        Some(value) => QueryResult::Vector(vec![Series {
            labels: labels.into(),
            samples: vec![Sample {
                at: Timestamp(end),
                value,
            }],
        }]),
    }
}

#[async_trait]
impl MetricsSource for CloudWatchSource {
    /// Parses `query.expr` (see [`crate::query`]) and answers it with `GetMetricData`; one
    /// attempt (the engine retries `Unavailable`).
    async fn query(&self, query: &MetricQuery) -> Result<QueryResult, MetricsError> {
        let expr = query.expr.as_str();
        let parsed = CloudWatchQuery::parse(expr)
            .map_err(|e| MetricsError::new(MetricsErrorKind::BadQuery, expr, e.to_string()))?;
        let window = self.window(query, parsed.period())?;
        let range = query.range.is_some();
        let end = window.1;
        match &parsed {
            CloudWatchQuery::Metric(m) => {
                let Some(m) = &self.resolve(expr, m).await? else {
                    return Ok(shape(range, labels(m), vec![], None, end));
                };
                let mut data = self
                    .fetch(expr, vec![stat_query("m", m, true)], window)
                    .await?;
                let points = data.remove("m").unwrap_or_default();
                let values: Vec<f64> = points.values().copied().collect();
                Ok(shape(
                    range,
                    labels(m),
                    samples(&points),
                    query::combine(&m.stat, &values),
                    end,
                ))
            }
            CloudWatchQuery::Ratio {
                numerator,
                denominator,
            } => {
                let Some(den_spec) = self.resolve(expr, denominator).await? else {
                    return Ok(shape(range, labels(numerator), vec![], None, end));
                };
                // A pattern the numerator shares with the denominator takes the same value,
                // so both sides measure the same series (web-v2, never web-v20).
                let mut num_spec = numerator.clone();
                for (k, v) in num_spec.dimensions.iter_mut() {
                    if denominator.dimensions.get(k) == Some(v) {
                        if let Some(r) = den_spec.dimensions.get(k) {
                            v.clone_from(r);
                        }
                    }
                }
                // No numerator series at all (no 5xx ever published): 0 in every period.
                let num_spec = self.resolve(expr, &num_spec).await?;
                let mut qs = vec![stat_query("den", &den_spec, true)];
                if let Some(n) = &num_spec {
                    qs.push(stat_query("num", n, true));
                }
                let mut data = self.fetch(expr, qs, window).await?;
                let num = data.remove("num").unwrap_or_default();
                let den = data.remove("den").unwrap_or_default();
                let pairs = query::pair_periods(&num, &den);
                let per_period: Vec<Sample> = pairs
                    .iter()
                    .map(|(t, n, d)| Sample {
                        at: Timestamp(*t),
                        value: query::ratio(*n, *d),
                    })
                    .collect();
                let instant = (!pairs.is_empty()).then(|| {
                    let (n, d) = pairs
                        .iter()
                        .fold((0.0, 0.0), |(n, d), p| (n + p.1, d + p.2));
                    query::ratio(n, d)
                });
                let mut l = labels(numerator);
                l.insert(
                    "metric".into(),
                    format!("{}/{}", numerator.name, denominator.name),
                );
                Ok(shape(range, l, per_period, instant, end))
            }
            CloudWatchQuery::Expression {
                expression,
                metrics,
                period,
            } => {
                let l: BTreeMap<String, String> =
                    [("expression".to_string(), expression.clone())].into();
                let mut qs: Vec<MetricDataQuery> = Vec::with_capacity(metrics.len() + 1);
                for (id, m) in metrics {
                    match self.resolve(expr, m).await? {
                        Some(m) => qs.push(stat_query(id, &m, false)),
                        None => return Ok(shape(range, l, vec![], None, end)),
                    }
                }
                qs.push(
                    MetricDataQuery::builder()
                        .id(EXPRESSION_ID)
                        .expression(expression)
                        .period(i32::try_from(period.as_secs()).unwrap_or(i32::MAX))
                        .return_data(true)
                        .build(),
                );
                let mut data = self.fetch(expr, qs, window).await?;
                let points = data.remove(EXPRESSION_ID).unwrap_or_default();
                let latest = points.values().next_back().copied();
                Ok(shape(range, l, samples(&points), latest, end))
            }
        }
    }
}

/// A failed SDK call as a classified [`MetricsError`].
fn sdk_error<E>(expr: &str, timeout: Duration, e: SdkError<E, HttpResponse>) -> MetricsError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let (kind, message) = match &e {
        SdkError::TimeoutError(_) => (
            MetricsErrorKind::Unavailable,
            format!("CloudWatch did not answer within {}ms", timeout.as_millis()),
        ),
        SdkError::DispatchFailure(d) => (
            MetricsErrorKind::Unavailable,
            if d.is_timeout() {
                format!("CloudWatch did not answer within {}ms", timeout.as_millis())
            } else {
                format!(
                    "cannot reach CloudWatch: {}",
                    shipcore::redact::endpoint_text(&source_chain(&e))
                )
            },
        ),
        SdkError::ConstructionFailure(_) => (
            MetricsErrorKind::BadQuery,
            format!(
                "cannot build the request: {}",
                shipcore::redact::endpoint_text(&source_chain(&e))
            ),
        ),
        SdkError::ResponseError(r) => {
            let (status, body) = status_and_body(r.raw());
            classify(status, None, None, &body)
        }
        SdkError::ServiceError(s) => {
            let (status, body) = status_and_body(s.raw());
            classify(status, s.err().code(), s.err().message(), &body)
        }
        _ => (
            MetricsErrorKind::Protocol,
            format!(
                "CloudWatch call failed: {}",
                shipcore::redact::endpoint_text(&source_chain(&e))
            ),
        ),
    };
    MetricsError::new(kind, expr, message)
}

/// The error and its sources, joined.
fn source_chain(e: &dyn std::error::Error) -> String {
    let mut parts = vec![e.to_string()];
    let mut cur = e.source();
    while let Some(s) = cur {
        parts.push(s.to_string());
        cur = s.source();
    }
    parts.join(": ")
}

/// The status code and the first bytes of the body of a raw HTTP response.
fn status_and_body(r: &HttpResponse) -> (u16, Vec<u8>) {
    let body = r.body().bytes().unwrap_or_default();
    (r.status().as_u16(), body[..body.len().min(1024)].to_vec())
}

const THROTTLING: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottled",
    "RequestThrottledException",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "SlowDown",
];
const UNAUTHORIZED: &[&str] = &[
    "AccessDenied",
    "AccessDeniedException",
    "UnauthorizedOperation",
    "InvalidClientTokenId",
    "UnrecognizedClientException",
    "SignatureDoesNotMatch",
    "IncompleteSignature",
    "ExpiredToken",
    "ExpiredTokenException",
    "MissingAuthenticationToken",
    "OptInRequired",
    "NotAuthorized",
];
const TRANSIENT: &[&str] = &[
    "InternalFailure",
    "InternalServiceError",
    "InternalServiceFault",
    "ServiceUnavailable",
    "ServiceUnavailableException",
    "RequestTimeout",
    "RequestTimeoutException",
];

/// Classifies an error answer: HTTP `status`, the AWS error `code` and `message` if the
/// SDK could read them, and the start of the `body`. Transient (`Unavailable`): throttling,
/// 5xx, 429. `Unauthorized`: access denied and credential errors, 401/403. `BadQuery`:
/// other 4xx (validation). A 5xx whose body is an HTML page rather than an AWS error is
/// what moto answers for an operation or parameter it does not implement: `Protocol`
/// (permanent), saying so. AWS's own message is cut to 512 bytes.
pub fn classify(
    status: u16,
    code: Option<&str>,
    message: Option<&str>,
    body: &[u8],
) -> (MetricsErrorKind, String) {
    let said = match (code, message) {
        (Some(c), Some(m)) => format!("{c}: {}", shipcore::redact::endpoint_text(m)),
        (Some(c), None) => c.to_string(),
        (None, Some(m)) => shipcore::redact::endpoint_text(m).into_owned(),
        (None, None) => "no AWS error code".to_string(),
    };
    let head = String::from_utf8_lossy(&body[..body.len().min(64)])
        .trim_start()
        .to_ascii_lowercase();
    let html = head.starts_with("<!doctype html") || head.starts_with("<html");
    if let Some(c) = code {
        if THROTTLING.contains(&c) {
            return (
                MetricsErrorKind::Unavailable,
                format!("CloudWatch is throttling (HTTP {status}, {said})"),
            );
        }
        if UNAUTHORIZED.contains(&c) {
            return (
                MetricsErrorKind::Unauthorized,
                format!(
                    "CloudWatch refused the caller (HTTP {status}, {said}); it needs \
                     cloudwatch:GetMetricData (and cloudwatch:ListMetrics for `*` patterns)"
                ),
            );
        }
        if TRANSIENT.contains(&c) {
            return (
                MetricsErrorKind::Unavailable,
                format!("CloudWatch failed (HTTP {status}, {said})"),
            );
        }
    }
    match status {
        500..=599 if code.is_none() && html => (
            MetricsErrorKind::Protocol,
            format!(
                "the endpoint answered HTTP {status} with an HTML page instead of an AWS \
                 error: the operation or a parameter (a percentile statistic, say) is not \
                 implemented there (moto answers unimplemented features this way); not retried"
            ),
        ),
        500..=599 | 429 => (
            MetricsErrorKind::Unavailable,
            format!("CloudWatch answered HTTP {status} ({said})"),
        ),
        401 | 403 => (
            MetricsErrorKind::Unauthorized,
            format!(
                "CloudWatch refused the caller (HTTP {status}, {said}); it needs \
                 cloudwatch:GetMetricData"
            ),
        ),
        400..=499 => (
            MetricsErrorKind::BadQuery,
            format!("CloudWatch refused the query (HTTP {status}, {said})"),
        ),
        _ => (
            MetricsErrorKind::Protocol,
            format!("CloudWatch answered HTTP {status} unexpectedly ({said})"),
        ),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use MetricsErrorKind::*;

    #[test]
    fn error_classes() {
        let k = |status, code: Option<&str>, body: &[u8]| classify(status, code, None, body).0;
        assert_eq!(k(400, Some("Throttling"), b""), Unavailable);
        assert_eq!(k(400, Some("ThrottlingException"), b""), Unavailable);
        assert_eq!(k(503, Some("ServiceUnavailable"), b""), Unavailable);
        assert_eq!(k(500, Some("InternalServiceError"), b""), Unavailable);
        assert_eq!(k(502, None, b"bad gateway"), Unavailable);
        assert_eq!(k(429, None, b""), Unavailable);
        assert_eq!(k(400, Some("InvalidParameterValue"), b""), BadQuery);
        assert_eq!(k(400, Some("ValidationError"), b""), BadQuery);
        assert_eq!(k(400, Some("InvalidParameterCombination"), b""), BadQuery);
        assert_eq!(k(403, Some("AccessDenied"), b""), Unauthorized);
        assert_eq!(k(400, Some("AccessDeniedException"), b""), Unauthorized);
        assert_eq!(k(403, Some("InvalidClientTokenId"), b""), Unauthorized);
        assert_eq!(k(403, None, b""), Unauthorized);
        assert_eq!(k(302, None, b""), Protocol);
        let moto = b"<!doctype html>\n<html lang=en>\n<title>500 Internal Server Error</title>";
        let (kind, msg) = classify(500, None, None, moto);
        assert_eq!(kind, Protocol, "{msg}");
        assert!(
            msg.contains("not implemented") && msg.contains("not retried"),
            "{msg}"
        );
        // An HTML 503 from a proxy that does carry an AWS code stays transient.
        assert_eq!(k(503, Some("ServiceUnavailable"), b"<html>"), Unavailable);
    }

    #[test]
    fn aws_messages_are_cut() {
        let long = "x".repeat(5000);
        let (_, msg) = classify(400, Some("ValidationError"), Some(&long), b"");
        assert!(msg.len() < 1000, "{}", msg.len());
    }
}
