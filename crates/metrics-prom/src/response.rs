//! Turns a Prometheus HTTP API answer (status code + JSON body) into a shipcore
//! [`QueryResult`] or a [`MetricsError`] of the right kind. Sample values arrive as strings:
//! `"NaN"`, `"+Inf"` and `"-Inf"` become the matching `f64`, so that
//! [`QueryResult::single_value`] reports them as problems, never as numbers.

use serde::Deserialize;
use shipcore::metrics::{MetricsError, MetricsErrorKind, QueryResult, Sample, Series};
use shipcore::redact::endpoint_text;
use shipcore::time::Timestamp;
use std::collections::BTreeMap;

/// The answer's envelope, as far as errors need it.
#[derive(Debug, Deserialize)]
struct ErrorEnvelope {
    #[serde(default)]
    status: String,
    #[serde(rename = "errorType", default)]
    error_type: Option<String>,
    #[serde(default)]
    error: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Envelope {
    status: String,
    data: Data,
    #[serde(default)]
    warnings: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(tag = "resultType", content = "result", rename_all = "lowercase")]
enum Data {
    Vector(Vec<RawSeries>),
    Matrix(Vec<RawSeries>),
    Scalar(RawSample),
    String(RawSample),
}

#[derive(Debug, Deserialize)]
struct RawSeries {
    #[serde(default)]
    metric: BTreeMap<String, String>,
    #[serde(default)]
    value: Option<RawSample>,
    #[serde(default)]
    values: Option<Vec<RawSample>>,
    #[serde(default)]
    histogram: Option<serde_json::Value>,
    #[serde(default)]
    histograms: Option<serde_json::Value>,
}

/// `[<unix seconds>, "<value>"]`.
#[derive(Debug, Deserialize)]
struct RawSample(f64, String);

/// Parses a Prometheus sample value: a decimal number, `NaN`, `+Inf` or `-Inf`.
///
/// ```
/// use metrics_prom::parse_value;
/// assert!(parse_value("NaN").unwrap().is_nan());
/// assert_eq!(parse_value("+Inf"), Some(f64::INFINITY));
/// assert_eq!(parse_value("0.25"), Some(0.25));
/// assert_eq!(parse_value("many"), None);
/// ```
pub fn parse_value(s: &str) -> Option<f64> {
    match s {
        "NaN" => Some(f64::NAN),
        "+Inf" | "Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        other => other.parse::<f64>().ok(),
    }
}

fn protocol(expr: &str, message: impl Into<String>) -> MetricsError {
    MetricsError::new(MetricsErrorKind::Protocol, expr, message)
}

fn sample(expr: &str, raw: &RawSample) -> Result<Sample, MetricsError> {
    let RawSample(ts, text) = raw;
    if !ts.is_finite() || *ts < 0.0 {
        return Err(protocol(
            expr,
            format!("sample timestamp {ts} is not a time"),
        ));
    }
    let value = parse_value(text).ok_or_else(|| {
        protocol(
            expr,
            format!("sample value {:?} is not a number", endpoint_text(text)),
        )
    })?;
    Ok(Sample {
        at: Timestamp((ts * 1000.0).round() as u64),
        value,
    })
}

fn series(expr: &str, raw: RawSeries, matrix: bool) -> Result<Series, MetricsError> {
    let samples = if matrix {
        raw.values.unwrap_or_default()
    } else {
        raw.value.into_iter().collect()
    };
    if samples.is_empty() && (raw.histogram.is_some() || raw.histograms.is_some()) {
        return Err(protocol(
            expr,
            "the answer holds native histogram samples, which are not numbers; \
             wrap the query in histogram_quantile() or histogram_count()",
        ));
    }
    Ok(Series {
        labels: raw.metric.into(),
        samples: samples
            .iter()
            .map(|s| sample(expr, s))
            .collect::<Result<_, _>>()?,
    })
}

fn snippet(body: &str) -> String {
    let t = body.trim();
    let mut end = t.len().min(200);
    while !t.is_char_boundary(end) {
        end -= 1;
    }
    if end < t.len() {
        format!("{}…", &t[..end])
    } else {
        t.to_string()
    }
}

/// Classifies an answer: `status` is the HTTP status code, `body` the text, `url` the
/// endpoint (for messages).
pub(crate) fn interpret(
    expr: &str,
    url: &str,
    status: u16,
    body: &str,
) -> Result<QueryResult, MetricsError> {
    if (200..300).contains(&status) {
        return success(expr, url, body);
    }
    let env: Option<ErrorEnvelope> = serde_json::from_str(body).ok();
    let detail = match &env {
        Some(ErrorEnvelope {
            error_type: Some(t),
            error: Some(e),
            ..
        }) => format!("{}: {}", endpoint_text(t), endpoint_text(e)),
        Some(ErrorEnvelope { error: Some(e), .. }) => endpoint_text(e).into_owned(),
        _ => snippet(body),
    };
    let (kind, message) = match status {
        400 | 422 => (
            MetricsErrorKind::BadQuery,
            format!("Prometheus rejected the query (HTTP {status}) {detail}"),
        ),
        401 | 403 => (
            MetricsErrorKind::Unauthorized,
            format!("HTTP {status} from {url}: check the credentials ({detail})"),
        ),
        429 | 500..=599 => (
            MetricsErrorKind::Unavailable,
            format!("HTTP {status} from {url}: {detail}"),
        ),
        _ => (
            MetricsErrorKind::Protocol,
            format!("unexpected HTTP {status} from {url} (is the base URL right?): {detail}"),
        ),
    };
    Err(MetricsError::new(kind, expr, message))
}

fn success(expr: &str, url: &str, body: &str) -> Result<QueryResult, MetricsError> {
    let env: Envelope = match serde_json::from_str(body) {
        Ok(e) => e,
        Err(parse_err) => {
            // A 2xx with {"status":"error"} is still a refusal of the query.
            if let Ok(ErrorEnvelope {
                status,
                error_type,
                error: Some(e),
            }) = serde_json::from_str::<ErrorEnvelope>(body)
            {
                if status == "error" {
                    let t = error_type.unwrap_or_else(|| "error".into());
                    return Err(MetricsError::new(
                        MetricsErrorKind::BadQuery,
                        expr,
                        format!(
                            "Prometheus rejected the query: {}: {}",
                            endpoint_text(&t),
                            endpoint_text(&e)
                        ),
                    ));
                }
            }
            return Err(protocol(
                expr,
                format!(
                    "the answer from {url} is not a Prometheus query result ({parse_err}): {}",
                    snippet(body)
                ),
            ));
        }
    };
    if env.status != "success" {
        return Err(protocol(
            expr,
            format!(
                "answer status is {:?}, not \"success\"",
                endpoint_text(&env.status)
            ),
        ));
    }
    for w in &env.warnings {
        tracing::warn!(expr, warning = %endpoint_text(w), "Prometheus warned about a query");
    }
    match env.data {
        Data::Scalar(s) => Ok(QueryResult::Scalar(sample(expr, &s)?)),
        Data::Vector(v) => Ok(QueryResult::Vector(
            v.into_iter()
                .map(|s| series(expr, s, false))
                .collect::<Result<_, _>>()?,
        )),
        Data::Matrix(v) => Ok(QueryResult::Matrix(
            v.into_iter()
                .map(|s| series(expr, s, true))
                .collect::<Result<_, _>>()?,
        )),
        Data::String(RawSample(_, text)) => Err(MetricsError::new(
            MetricsErrorKind::BadQuery,
            expr,
            format!(
                "the query yields a string ({:?}), not a number",
                endpoint_text(&text)
            ),
        )),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use shipcore::metrics::ValueProblem;

    fn ok(body: &str) -> QueryResult {
        interpret("q", "u", 200, body).unwrap()
    }
    fn err(status: u16, body: &str) -> MetricsError {
        interpret("q", "u", status, body).unwrap_err()
    }

    #[test]
    fn vector_with_labels_and_millisecond_time() {
        let r = ok(
            r#"{"status":"success","data":{"resultType":"vector","result":[
            {"metric":{"revision":"v2"},"value":[1700000000.123,"0.25"]}]}}"#,
        );
        let QueryResult::Vector(v) = &r else {
            panic!("{r:?}")
        };
        assert_eq!(v[0].labels.get("revision").unwrap(), "v2");
        assert_eq!(v[0].samples[0].at, Timestamp(1_700_000_000_123));
        assert_eq!(r.single_value(), Ok(0.25));
    }

    #[test]
    fn special_values_are_problems_not_numbers() {
        let one = |v: &str| {
            ok(&format!(
                r#"{{"status":"success","data":{{"resultType":"vector","result":[{{"metric":{{}},"value":[1,"{v}"]}}]}}}}"#
            ))
            .single_value()
        };
        assert_eq!(one("NaN"), Err(ValueProblem::NaN));
        assert_eq!(one("+Inf"), Err(ValueProblem::Infinite));
        assert_eq!(one("-Inf"), Err(ValueProblem::Infinite));
        assert_eq!(one("1e-3"), Ok(0.001));
    }

    #[test]
    fn a_string_result_is_a_bad_query() {
        let e = err(
            200,
            r#"{"status":"success","data":{"resultType":"string","result":[1,"hi"]}}"#,
        );
        assert_eq!(e.kind, MetricsErrorKind::BadQuery);
    }

    #[test]
    fn native_histograms_are_named() {
        let e = err(
            200,
            r#"{"status":"success","data":{"resultType":"vector","result":[
            {"metric":{},"histogram":[1,{"count":"3"}]}]}}"#,
        );
        assert_eq!(e.kind, MetricsErrorKind::Protocol);
        assert!(e.message.contains("histogram_quantile"), "{e}");
    }

    #[test]
    fn status_codes_map_to_kinds() {
        let body = r#"{"status":"error","errorType":"bad_data","error":"parse error"}"#;
        assert_eq!(err(400, body).kind, MetricsErrorKind::BadQuery);
        assert!(err(400, body).message.contains("bad_data: parse error"));
        assert_eq!(err(422, body).kind, MetricsErrorKind::BadQuery);
        assert_eq!(err(401, "no").kind, MetricsErrorKind::Unauthorized);
        assert_eq!(err(403, "no").kind, MetricsErrorKind::Unauthorized);
        assert_eq!(err(429, "slow down").kind, MetricsErrorKind::Unavailable);
        assert_eq!(err(503, "").kind, MetricsErrorKind::Unavailable);
        assert_eq!(
            err(404, "404 page not found").kind,
            MetricsErrorKind::Protocol
        );
        assert_eq!(err(200, "<html>").kind, MetricsErrorKind::Protocol);
        assert_eq!(err(200, body).kind, MetricsErrorKind::BadQuery);
        let long = "x".repeat(1000);
        assert!(err(502, &long).message.len() < 400);
    }
}
