//! Concrete [`Validator`](crate::validator::Validator)s: metric thresholds with a "for"
//! duration, canary-vs-stable baseline comparison, a statistical judge (Mann–Whitney U),
//! HTTP health, smoke tests and log patterns; plus the [`ValidatorConfig`] that builds them.
//!
//! No data, NaN and query errors are never a pass: empty results and non-finite values give
//! [`Outcome::Inconclusive`](crate::validator::Outcome::Inconclusive) with the problem named,
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

mod config;
mod mann_whitney;
mod threshold;

pub use config::{ConfigError, ValidatorConfig, ValidatorDeps};
pub use mann_whitney::{erfc, mann_whitney_u, normal_sf, MannWhitney, MwMethod, EXACT_MAX_TOTAL};
pub use threshold::{FailWhen, MetricThreshold, ThresholdConfig};

use crate::metrics::render_template;
use crate::validator::ValidatorError;
use std::collections::BTreeMap;

/// Renders a query or URL template, naming the validator when a variable is missing.
pub(crate) fn render(
    validator: &str,
    template: &str,
    vars: &BTreeMap<String, String>,
) -> Result<String, ValidatorError> {
    render_template(template, vars).map_err(|e| ValidatorError {
        validator: validator.to_string(),
        message: e.to_string(),
    })
}

/// A [`ValidatorError`] for `validator`.
pub(crate) fn verr(validator: &str, message: impl Into<String>) -> ValidatorError {
    ValidatorError {
        validator: validator.to_string(),
        message: message.into(),
    }
}

/// Formats a number for messages: at most 4 decimals, trailing zeros dropped.
pub(crate) fn num(v: f64) -> String {
    if !v.is_finite() {
        return format!("{v}");
    }
    let s = format!("{v:.4}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" {
        "0".into()
    } else {
        s.to_string()
    }
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
