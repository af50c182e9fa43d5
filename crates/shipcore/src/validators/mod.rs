//! Concrete [`Validator`](crate::validator::Validator)s, each a configuration (serde, unknown
//! fields rejected, [`ValidatorConfig`] tagged by `"type"`) that is checked and built:
//!
//! | `type` | config | validator |
//! |---|---|---|
//! | `metric_threshold` | [`ThresholdConfig`] | [`MetricThreshold`]: warning/critical levels, a `for` duration on engine time |
//! | `baseline` | [`BaselineConfig`] | [`BaselineValidator`]: canary vs stable, ratio/tolerance rules, min samples |
//! | `judge` | [`JudgeConfig`] | [`StatisticalJudge`]: Kayenta's Mann–Whitney classifier per metric (or the earlier p-value rule), weighted score |
//! | `http_health` | [`HttpHealthConfig`] | [`HttpHealth`]: status, JSON `status`, version, dependencies |
//! | `smoke` | [`SmokeConfig`] | [`SmokeTests`]: requests with expected statuses and JSON-path checks |
//! | `log_pattern` | [`LogPatternConfig`] | [`LogPattern`]: matching lines in new log output or a command's output |
//!
//! No data, NaN and query errors are never a pass: empty results and non-finite values give
//! [`Outcome::Inconclusive`] with the problem named,
//! and a failed query is a [`ValidatorError`] (it counts toward the consecutive-error limit).
//!
//! ```
//! use shipcore::validators::{ValidatorConfig, ValidatorDeps};
//! let cfg = ValidatorConfig::from_json(r#"{"type": "metric_threshold", "name": "errors",
//!     "query": "error_rate{revision=\"{{revision}}\"}", "critical": 0.05, "for": "2m"}"#)
//!     .unwrap();
//! // Metric validators need a metrics source; without one, building names the problem.
//! let err = cfg.build(&ValidatorDeps::default()).err().unwrap();
//! assert_eq!(err.field, "metrics");
//! ```

mod baseline;
mod config;
mod format;
mod http;
mod http_health;
mod json_path;
mod judge;
mod log_pattern;
mod mann_whitney;
mod smoke;
mod threshold;

pub use baseline::{BaselineConfig, BaselineRule, BaselineValidator, SampleSize};
pub use config::{ConfigError, ValidatorConfig, ValidatorDeps};
pub use http::Unreachable;
pub use http_health::{HttpHealth, HttpHealthConfig};
pub use json_path::json_lookup;
pub use judge::{
    Direction, JudgeConfig, JudgeMetric, JudgeRule, MetricClass, MetricComparison, ScoreThresholds,
    StatisticalJudge,
};
pub use log_pattern::{LogPattern, LogPatternConfig, LogStart};
pub use mann_whitney::{
    erfc, exact_is_tractable, mann_whitney_u, normal_isf, normal_sf, shift_confidence_interval,
    shift_confidence_interval_normal, MannWhitney, MwMethod, ShiftInterval, EXACT_MAX_PAIRS,
    EXACT_MAX_TOTAL,
};
pub use smoke::{BodyExpect, SmokeConfig, SmokeRequest, SmokeTests};
pub use threshold::{FailWhen, MetricThreshold, ThresholdConfig};

pub(crate) use format::{version_string, Num};

use crate::metrics::{render_template, MetricQuery, MetricsSource, TemplateError, ValueProblem};
use crate::time::Timestamp;
use crate::validator::{Outcome, ValidationContext, ValidatorError};
use std::collections::BTreeMap;

/// Renders a query or URL template, naming the validator when a variable is missing.
pub(crate) fn render(
    validator: &str,
    template: &str,
    vars: &BTreeMap<String, String>,
) -> Result<String, ValidatorError> {
    render_fast(template, vars).map_err(|e| ValidatorError {
        validator: validator.to_string(),
        message: e.to_string(),
    })
}

/// [`render_template`], the same text and the same errors, finding `{{` and `}}` by a
/// byte scan: `str::find` with a two-byte needle sets up a Two-Way searcher each call,
/// which cost more than the rest of rendering a short query.
fn render_fast(template: &str, vars: &BTreeMap<String, String>) -> Result<String, TemplateError> {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = find_pair(rest, b'{') {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = find_pair(after, b'}') else {
            out.push_str(&rest[start..]);
            return Ok(out);
        };
        let name = after[..end].trim();
        match vars.get(name) {
            Some(v) => out.push_str(v),
            // The reference builds the error.
            None => return render_template(template, vars),
        }
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Where `s` first holds the byte `b` twice in a row (`b` is ASCII, so a char boundary).
fn find_pair(s: &str, b: u8) -> Option<usize> {
    let bytes = s.as_bytes();
    let mut from = 0;
    while let Some(i) = bytes.get(from..)?.iter().position(|&c| c == b) {
        let at = from + i;
        if bytes.get(at + 1) == Some(&b) {
            return Some(at);
        }
        from = at + 1;
    }
    None
}

/// A [`ValidatorError`] for `validator`.
pub(crate) fn verr(validator: &str, message: impl Into<String>) -> ValidatorError {
    ValidatorError {
        validator: validator.to_string(),
        message: message.into(),
    }
}

/// Formats a number for messages: at most 4 decimals, trailing zeros dropped (see [`Num`],
/// which writes the same text without a `String` of its own).
pub(crate) fn num(v: f64) -> String {
    Num(v).to_string()
}

/// Checks that a name or template is not blank.
pub(crate) fn non_empty(field: &str, value: &str) -> Result<(), ConfigError> {
    if value.trim().is_empty() {
        return Err(ConfigError::new(field, "must not be empty"));
    }
    Ok(())
}

/// Checks that a number is finite.
pub(crate) fn finite(field: &str, value: f64) -> Result<(), ConfigError> {
    if !value.is_finite() {
        return Err(ConfigError::new(
            field,
            format!("must be a finite number, not {value}"),
        ));
    }
    Ok(())
}

/// The context's variables with the stable revision in the candidate's place
/// (`{{revision}}` → stable revision id, `{{version}}` → stable version); `None` without a
/// stable revision.
pub(crate) fn stable_vars(ctx: &ValidationContext) -> Option<BTreeMap<String, String>> {
    let stable = ctx.stable.as_ref()?;
    let mut vars = BTreeMap::clone(&ctx.vars);
    vars.insert("revision".into(), stable.id.0.clone());
    vars.insert("version".into(), version_string(&stable.version));
    Some(vars)
}

/// Renders `template` with `vars` and runs it as an instant query at `now`: the rendered
/// expression and its single value or why there is none. A failed query is an error.
pub(crate) async fn instant_value(
    validator: &str,
    source: &dyn MetricsSource,
    template: &str,
    vars: &BTreeMap<String, String>,
    now: Timestamp,
) -> Result<(String, Result<f64, ValueProblem>), ValidatorError> {
    let query = MetricQuery::at(render(validator, template, vars)?, now);
    let result = source
        .query(&query)
        .await
        .map_err(|e| verr(validator, e.to_string()))?;
    Ok((query.expr, result.single_value()))
}

/// Combines outcomes: any fail fails, else any inconclusive is inconclusive, else pass.
pub(crate) fn combine(outcomes: impl IntoIterator<Item = Outcome>) -> Outcome {
    let mut out = Outcome::Pass;
    for o in outcomes {
        match o {
            Outcome::Fail => return Outcome::Fail,
            Outcome::Inconclusive => out = Outcome::Inconclusive,
            Outcome::Pass => {}
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn render_matches_render_template_on_every_shape_of_template() {
        let vars: BTreeMap<String, String> = [("revision", "web-v2"), ("a", "{{a}}"), ("", "e")]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        // Every string of up to 4 pieces from this alphabet, and a few longer ones.
        let pieces = [
            "{",
            "}",
            "{{",
            "}}",
            "a",
            " ",
            "revision",
            "é",
            "x{{ a }}y",
            "{{b}}",
        ];
        let mut templates = vec![String::new()];
        let mut last = vec![String::new()];
        for _ in 0..4 {
            let mut next = Vec::new();
            for t in &last {
                for p in pieces {
                    next.push(format!("{t}{p}"));
                }
            }
            templates.extend(next.iter().cloned());
            last = next;
        }
        templates.push("error_rate{revision=\"{{revision}}\", x=\"{{ a }}\"}".into());
        templates.push("{{{revision}}}}{{{{a}}".into());
        for t in &templates {
            let want = render_template(t, &vars).map_err(|e| e.to_string());
            let got = render_fast(t, &vars).map_err(|e| e.to_string());
            assert_eq!(got, want, "{t:?}");
        }
    }
}
