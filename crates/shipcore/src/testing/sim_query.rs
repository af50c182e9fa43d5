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

/// `label`'s place in [`LABELS`].
fn label_index(label: &str) -> Option<usize> {
    Some(match label {
        "revision" => 0,
        "version" => 1,
        "service" => 2,
        "environment" => 3,
        "namespace" => 4,
        _ => return None,
    })
}

/// A parsed query, borrowing its label values from the expression (the metrics source
/// parses every query it answers, so parsing allocates nothing).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct QueryRef<'a> {
    /// Which metric.
    pub(crate) metric: SimMetric,
    /// The value each of [`LABELS`] must have, when the query says.
    values: [Option<&'a str>; LABELS.len()],
}

impl<'a> QueryRef<'a> {
    /// The value a label must have, if the query says.
    pub(crate) fn label(&self, name: &str) -> Option<&'a str> {
        label_index(name).and_then(|i| self.values[i])
    }

    /// True when the query has no label matchers.
    #[cfg(test)]
    pub(crate) fn is_bare(&self) -> bool {
        self.values.iter().all(Option::is_none)
    }
}

/// Parses `error_rate`, `latency_p95{revision="web-v2"}`,
/// `request_rate{service="web", environment='production'}`.
#[cfg(test)]
pub fn parse(expr: &str) -> Result<QueryRef<'_>, MetricsError> {
    parse_ref(expr)
}

/// Parses a query: a metric name, then optionally `{label="value", ...}` with each of
/// [`LABELS`] at most once.
pub(crate) fn parse_ref(expr: &str) -> Result<QueryRef<'_>, MetricsError> {
    match parse_plain(expr) {
        Some(q) => Ok(q),
        None => parse_spaced(expr),
    }
}

/// The query as a template usually renders it, `name{label="value",...}` with no space and
/// double quotes, in one pass over its bytes; `None` for anything else (which
/// [`parse_spaced`] parses, or explains).
fn parse_plain(expr: &str) -> Option<QueryRef<'_>> {
    let b = expr.as_bytes();
    let open = b.iter().position(|&c| c == b'{')?;
    let metric = SimMetric::from_name(expr.get(..open)?)?;
    let end = b.len() - 1;
    if b[end] != b'}' || end <= open {
        return None;
    }
    let mut parsed = QueryRef {
        metric,
        values: [None; LABELS.len()],
    };
    let mut i = open + 1;
    while i < end {
        let eq = i + b.get(i..end)?.iter().position(|&c| c == b'=')?;
        let index = label_index(expr.get(i..eq)?)?;
        if b.get(eq + 1) != Some(&b'"') {
            return None;
        }
        let start = eq + 2;
        let close = start + b.get(start..end)?.iter().position(|&c| c == b'"')?;
        if parsed.values[index].is_some() {
            return None;
        }
        // Both ends are ASCII bytes, so character boundaries.
        parsed.values[index] = Some(expr.get(start..close)?);
        i = close + 1;
        if i < end {
            if b[i] != b',' {
                return None;
            }
            i += 1;
        }
    }
    Some(parsed)
}

/// [`parse_ref`] of any spacing and quoting, with the error that says what is wrong.
fn parse_spaced(expr: &str) -> Result<QueryRef<'_>, MetricsError> {
    let bad = |msg: String| MetricsError::new(MetricsErrorKind::BadQuery, expr, msg);
    let s = trim(expr);
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
    let rest = trim(&s[name_end..]);
    let mut parsed = QueryRef {
        metric,
        values: [None; LABELS.len()],
    };
    if rest.is_empty() {
        return Ok(parsed);
    }
    let Some(inner) = rest.strip_prefix('{').and_then(|r| r.strip_suffix('}')) else {
        return Err(bad(format!(
            "expected `{{label=\"value\", ...}}` after {name}, found {rest:?}"
        )));
    };
    let mut cur = trim(inner);
    while !cur.is_empty() {
        let eq = name_len(cur);
        let label = &cur[..eq];
        let Some(index) = label_index(label) else {
            return Err(bad(format!(
                "unknown label {label:?}; selectors may use {}",
                LABELS.join(", ")
            )));
        };
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
        if parsed.values[index].replace(value).is_some() {
            return Err(bad(format!("label {label} is given twice")));
        }
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

/// `s` without leading and trailing whitespace (Unicode's, as [`str::trim`]), with a
/// fast path for the usual case of none: a string that starts and ends with a visible
/// ASCII character has none to remove.
pub(crate) fn trim(s: &str) -> &str {
    match (s.bytes().next(), s.bytes().next_back()) {
        (Some(first), Some(last)) if first.is_ascii_graphic() && last.is_ascii_graphic() => s,
        _ => s.trim(),
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
        assert!(q.is_bare());
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
    fn the_plain_form_parses_as_the_general_parser_does() {
        let plain = [
            "error_rate{}",
            "error_rate{revision=\"web-v2\"}",
            "latency_p99{service=\"wéb\",environment=\"production\",namespace=\"\",revision=\"r-1\"}",
            "request_rate{version=\"2.0.0\",}",
            "error_rate{revision=\"a=b,c}d\"}",
        ];
        for expr in plain {
            let fast = parse_plain(expr).unwrap_or_else(|| panic!("{expr} is plain"));
            assert_eq!(Ok(fast), parse_spaced(expr), "{expr}");
        }
        // Anything else goes to the general parser, which accepts it (true) or explains
        // what is wrong (false).
        let other = [
            ("error_rate", true),
            (" error_rate{revision=\"x\"}", true),
            ("error_rate {revision=\"x\"}", true),
            ("error_rate{ revision=\"x\"}", true),
            ("error_rate{revision = \"x\"}", true),
            ("error_rate{revision='x'}", true),
            ("error_rate{revision=\"x\" }", true),
            ("error_rate{revision=\"x\"}}", false),
            ("error_rate{revision=\"x\"}garbage", false),
            ("error_rate{revision=\"a\",revision=\"b\"}", false),
            ("error_rate{revision!=\"x\"}", false),
            ("error_rate{revision=x}", false),
            ("error_rate{revision=\"x}", false),
            ("error_rate{pod=\"x\"}", false),
            ("cpu{revision=\"x\"}", false),
            ("{revision=\"x\"}", false),
            ("error_rate}", false),
            ("error_rate{", false),
            ("{", false),
            ("}", false),
        ];
        for (expr, accepted) in other {
            assert_eq!(parse_plain(expr), None, "{expr}");
            match parse_ref(expr) {
                Ok(q) => {
                    assert!(accepted, "{expr} was accepted");
                    assert_eq!(q.metric, SimMetric::ErrorRate, "{expr}");
                }
                Err(e) => {
                    assert!(!accepted, "{expr}: {}", e.message);
                    assert_eq!(e.kind, MetricsErrorKind::BadQuery, "{expr}");
                }
            }
        }
    }

    proptest::proptest! {
        /// Queries built from names, labels, values, quotes and separators, plain or not:
        /// the plain parser takes every plain one, and whatever it takes, the general
        /// parser parses the same way.
        #[test]
        fn the_plain_parser_agrees_with_the_general_one(
            metric in proptest::sample::select(vec!["error_rate", "latency_p95", "cpu", ""]),
            labels in proptest::collection::vec(
                (
                    proptest::sample::select(vec!["revision", "service", "version", "pod", ""]),
                    proptest::sample::select(vec!["", "web-v2", "a=b", "x,y}", "é", "a b"]),
                    proptest::sample::select(vec!["\"", "'", " \"", "\" "]),
                    proptest::sample::select(vec![",", ", ", " ,", "", ",,"]),
                ),
                0..4,
            ),
            close in proptest::sample::select(vec!["}", " }", "}}", ""]),
        ) {
            let mut expr = format!("{metric}{{");
            let mut plain = !metric.is_empty() && metric != "cpu" && close == "}";
            let mut seen = Vec::new();
            for (i, (label, value, quote, sep)) in labels.iter().enumerate() {
                let q = quote.trim();
                expr.push_str(&format!("{label}={quote}{value}{q}"));
                plain &= ["revision", "service", "version"].contains(label)
                    && !seen.contains(label)
                    && *quote == "\"";
                seen.push(*label);
                if i + 1 < labels.len() {
                    expr.push_str(sep);
                    plain &= *sep == ",";
                }
            }
            expr.push_str(close);
            let fast = parse_plain(&expr);
            if plain {
                proptest::prop_assert!(fast.is_some(), "{} is plain", expr);
            }
            if let Some(fast) = fast {
                proptest::prop_assert_eq!(Ok(fast), parse_spaced(&expr));
            }
        }
    }

    #[test]
    fn trim_and_name_len_agree_with_the_standard_library() {
        for s in [
            "",
            " ",
            "a",
            " a",
            "a ",
            "\u{a0}a\u{2003}",
            "a\u{85}",
            "\u{0b}x",
            "é",
            " é ",
            "x y",
            "\t{}\n",
        ] {
            assert_eq!(trim(s), s.trim(), "{s:?}");
        }
        for s in ["", "abc", "ab_9{", "aé", "_x y", "{", "latency_p95 {"] {
            let by_chars = s
                .char_indices()
                .find(|(_, c)| !(c.is_ascii_alphanumeric() || *c == '_'))
                .map_or(s.len(), |(i, _)| i);
            assert_eq!(name_len(s), by_chars, "{s:?}");
        }
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
