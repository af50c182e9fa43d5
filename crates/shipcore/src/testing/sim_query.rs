//! The query vocabulary of [`SimMetrics`](super::SimMetrics): `metric{label="value", ...}`
//! with a handful of metric names and `=` matchers only. Parsing only; evaluation lives
//! with the metrics source.

use crate::metrics::{MetricsError, MetricsErrorKind};

/// The metrics the simulator knows.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum SimMetric {
    /// Fraction of failed requests over the last minute (0..=1).
    ErrorRate,
    /// Latency quantile in seconds (0.5, 0.95 or 0.99).
    Latency(f64),
    /// Requests per second.
    RequestRate,
}

impl SimMetric {
    /// Every metric name, for error messages.
    pub const NAMES: &'static str =
        "error_rate, latency_p50, latency_p95, latency_p99, request_rate";

    fn from_name(name: &str) -> Option<SimMetric> {
        Some(match name {
            "error_rate" => SimMetric::ErrorRate,
            "latency_p50" => SimMetric::Latency(0.5),
            "latency_p95" => SimMetric::Latency(0.95),
            "latency_p99" => SimMetric::Latency(0.99),
            "request_rate" => SimMetric::RequestRate,
            _ => return None,
        })
    }
}

/// Labels a selector may use.
pub const LABELS: [&str; 5] = ["revision", "version", "service", "environment", "namespace"];

/// A parsed query.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SimQuery {
    /// Which metric.
    pub metric: SimMetric,
    /// `label = value` matchers, in the order written.
    pub matchers: Vec<(String, String)>,
}

impl SimQuery {
    /// The value a label must have, if the query says.
    #[cfg(test)]
    pub fn label(&self, name: &str) -> Option<&str> {
        self.matchers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Parses `error_rate`, `latency_p95{revision="web-v2"}`,
/// `request_rate{service="web", environment='production'}` (the metrics source uses
/// [`parse_ref`], the same parser without copies).
#[cfg(test)]
pub fn parse(expr: &str) -> Result<SimQuery, MetricsError> {
    parse_ref(expr).map(SimQuery::from)
}

/// A parsed query borrowing its label values from the expression: what [`parse`] gives,
/// without allocating (for the metrics source, which parses every query it answers).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct QueryRef<'a> {
    /// Which metric.
    pub(crate) metric: SimMetric,
    matchers: [(&'a str, &'a str); LABELS.len()],
    len: usize,
}

impl<'a> QueryRef<'a> {
    /// `label = value` matchers, in the order written.
    pub(crate) fn matchers(&self) -> &[(&'a str, &'a str)] {
        self.matchers.get(..self.len).unwrap_or_default()
    }

    /// The value a label must have, if the query says.
    pub(crate) fn label(&self, name: &str) -> Option<&'a str> {
        self.matchers()
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| *v)
    }
}

impl From<QueryRef<'_>> for SimQuery {
    fn from(q: QueryRef<'_>) -> Self {
        SimQuery {
            metric: q.metric,
            matchers: q
                .matchers()
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }
}

impl<'a> From<&'a SimQuery> for QueryRef<'a> {
    /// Borrows the matchers (only the first five, all a parsed query can have).
    fn from(q: &'a SimQuery) -> Self {
        let mut r = QueryRef {
            metric: q.metric,
            matchers: [("", ""); LABELS.len()],
            len: 0,
        };
        for (slot, (k, v)) in r.matchers.iter_mut().zip(&q.matchers) {
            *slot = (k.as_str(), v.as_str());
            r.len += 1;
        }
        r
    }
}

/// [`parse`] without copying: each label appears at most once and must be one of
/// [`LABELS`], so the matchers fit in a fixed array.
pub(crate) fn parse_ref(expr: &str) -> Result<QueryRef<'_>, MetricsError> {
    let bad = |msg: String| MetricsError::new(MetricsErrorKind::BadQuery, expr, msg);
    let s = expr.trim();
    let name_end = name_len(s);
    let name = &s[..name_end];
    if name.is_empty() {
        return Err(bad(format!(
            "expected a metric name ({}) at the start of the query",
            SimMetric::NAMES
        )));
    }
    let metric = SimMetric::from_name(name).ok_or_else(|| {
        bad(format!(
            "unknown metric {name:?}; the simulator knows {}",
            SimMetric::NAMES
        ))
    })?;
    let rest = s[name_end..].trim();
    let mut parsed = QueryRef {
        metric,
        matchers: [("", ""); LABELS.len()],
        len: 0,
    };
    if rest.is_empty() {
        return Ok(parsed);
    }
    let Some(inner) = rest.strip_prefix('{').and_then(|r| r.strip_suffix('}')) else {
        return Err(bad(format!(
            "expected `{{label=\"value\", ...}}` after {name}, found {rest:?}"
        )));
    };
    let mut cur = inner.trim();
    while !cur.is_empty() {
        let eq = name_len(cur);
        let label = &cur[..eq];
        if !LABELS.contains(&label) {
            return Err(bad(format!(
                "unknown label {label:?}; selectors may use {}",
                LABELS.join(", ")
            )));
        }
        cur = skip_space(&cur[eq..]);
        if cur.starts_with("!=") || cur.starts_with("=~") || cur.starts_with("!~") {
            return Err(bad(format!(
                "label {label}: only exact `=` matchers are supported"
            )));
        }
        let Some(after) = cur.strip_prefix('=') else {
            return Err(bad(format!(
                "label {label}: expected `=` and a quoted value"
            )));
        };
        cur = skip_space(after);
        let quote = cur.bytes().next().filter(|c| *c == b'"' || *c == b'\'');
        let Some(q) = quote else {
            return Err(bad(format!("label {label}: the value must be quoted")));
        };
        // An ASCII quote byte is never inside a multi-byte character.
        let Some(close) = cur.as_bytes()[1..].iter().position(|&b| b == q) else {
            return Err(bad(format!("label {label}: unterminated quoted value")));
        };
        let value = &cur[1..1 + close];
        if parsed.label(label).is_some() {
            return Err(bad(format!("label {label} is given twice")));
        }
        // Known and not given before: one of LABELS' free slots.
        let Some(slot) = parsed.matchers.get_mut(parsed.len) else {
            return Err(bad(format!("label {label} is given twice")));
        };
        *slot = (label, value);
        parsed.len += 1;
        cur = skip_space(&cur[close + 2..]);
        if let Some(after) = cur.strip_prefix(',') {
            cur = skip_space(after);
        } else if !cur.is_empty() {
            return Err(bad(format!(
                "expected `,` or `}}` after label {label}, found {cur:?}"
            )));
        }
    }
    Ok(parsed)
}

/// The length of the name (ASCII letters, digits, `_`) that `s` starts with: a byte scan,
/// which stops where a scan by characters would (any other character, ASCII or not).
fn name_len(s: &str) -> usize {
    s.bytes()
        .position(|b| !(b.is_ascii_alphanumeric() || b == b'_'))
        .unwrap_or(s.len())
}

/// `s` without its leading whitespace (Unicode's, as [`str::trim_start`]), with a fast
/// path for the usual case of none.
fn skip_space(s: &str) -> &str {
    match s.bytes().next() {
        Some(b) if b.is_ascii_graphic() => s,
        _ => s.trim_start(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn parses_names_and_selectors() {
        let q = parse("error_rate").unwrap();
        assert_eq!(q.metric, SimMetric::ErrorRate);
        assert!(q.matchers.is_empty());
        let q = parse(" latency_p95{ revision = \"web-v2\" , service='web', } ").unwrap();
        assert_eq!(q.metric, SimMetric::Latency(0.95));
        assert_eq!(q.label("revision"), Some("web-v2"));
        assert_eq!(q.label("service"), Some("web"));
        assert_eq!(q.label("version"), None);
        assert_eq!(
            parse("request_rate{}").unwrap().metric,
            SimMetric::RequestRate
        );
    }

    #[test]
    fn unicode_spaces_and_values_parse_as_characters_say() {
        let q = parse(" error_rate{\u{a0}revision =\u{2003}'wéb-ü'\u{0b}, service=\"ä\"\u{85}} ")
            .unwrap();
        assert_eq!(q.label("revision"), Some("wéb-ü"));
        assert_eq!(q.label("service"), Some("ä"));
        let e = parse("error_rateé").unwrap_err();
        assert!(e.message.contains("after error_rate"), "{}", e.message);
        let e = parse("error_rate{revisioné=\"x\"}").unwrap_err();
        assert!(e.message.contains("expected `=`"), "{}", e.message);
    }

    #[test]
    fn errors_are_bad_queries_that_say_what_is_wrong() {
        for (expr, needle) in [
            ("cpu_usage", "unknown metric \"cpu_usage\""),
            ("", "expected a metric name"),
            ("error_rate{pod=\"x\"}", "unknown label \"pod\""),
            ("error_rate{revision!=\"x\"}", "only exact `=`"),
            ("error_rate{revision=x}", "must be quoted"),
            ("error_rate{revision=\"x}", "unterminated"),
            ("error_rate{revision=\"x\" version=\"1\"}", "expected `,`"),
            ("error_rate{revision=\"a\",revision=\"b\"}", "twice"),
            ("rate(error_rate[5m])", "unknown metric \"rate\""),
            ("error_rate[5m]", "expected `{label"),
        ] {
            let e = parse(expr).unwrap_err();
            assert_eq!(e.kind, MetricsErrorKind::BadQuery, "{expr}");
            assert!(e.message.contains(needle), "{expr}: {}", e.message);
        }
    }
}
