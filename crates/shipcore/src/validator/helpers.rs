//! What the built-in validators share: rendering templates for where the text goes,
//! config checks, and combining outcomes.

use super::{version_string, ConfigError, Num, Outcome, ValidationContext, ValidatorError};
use crate::metrics::{MetricQuery, MetricsSource, ValueProblem};
use crate::model::FieldError;
use crate::template::{self, Placement};
use crate::time::Timestamp;
use std::collections::BTreeMap;

/// Renders `template` for `placement` (see [`crate::template`]: values are escaped or
/// checked for where they land), naming the validator when a variable is missing or a value
/// cannot be placed safely.
pub(crate) fn render_for(
    validator: &str,
    template: &str,
    vars: &BTreeMap<String, String>,
    placement: Placement,
) -> Result<String, ValidatorError> {
    template::render(template, vars, placement).map_err(|e| ValidatorError {
        validator: validator.to_string(),
        message: e.to_string(),
    })
}

/// Renders a PromQL query template: values inside string literals are escaped by PromQL
/// rules, values outside them must be name characters.
pub(crate) fn render_query(
    validator: &str,
    template: &str,
    vars: &BTreeMap<String, String>,
) -> Result<String, ValidatorError> {
    render_for(validator, template, vars, Placement::PromQl)
}

/// Renders a whole URL template: values after the host are percent-encoded, values in the
/// host and port must be host characters.
pub(crate) fn render_url(
    validator: &str,
    template: &str,
    vars: &BTreeMap<String, String>,
) -> Result<String, ValidatorError> {
    render_for(validator, template, vars, Placement::Url)
}

/// Renders the part of a URL after its host (a path appended to a base URL): values are
/// percent-encoded.
pub(crate) fn render_url_path(
    validator: &str,
    template: &str,
    vars: &BTreeMap<String, String>,
) -> Result<String, ValidatorError> {
    render_for(validator, template, vars, Placement::UrlPath)
}

/// Renders a file path template: a value cannot hold `/` or be `.` or `..`.
pub(crate) fn render_file(
    validator: &str,
    template: &str,
    vars: &BTreeMap<String, String>,
) -> Result<String, ValidatorError> {
    render_for(validator, template, vars, Placement::FileName)
}

/// Renders one command argument: values are restricted to `[A-Za-z0-9._:+-]` and may not
/// start the argument with `-`.
pub(crate) fn render_arg(
    validator: &str,
    template: &str,
    vars: &BTreeMap<String, String>,
) -> Result<String, ValidatorError> {
    render_for(validator, template, vars, Placement::Argument)
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
        return Err(FieldError::new(field, "must not be empty").into());
    }
    Ok(())
}

/// Checks that a number is finite.
pub(crate) fn finite(field: &str, value: f64) -> Result<(), ConfigError> {
    if !value.is_finite() {
        return Err(FieldError::new(field, format!("must be a finite number, not {value}")).into());
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
    let query = MetricQuery::at(render_query(validator, template, vars)?, now);
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
