//! [`FieldError`]: the one "this field has this problem" error every configuration and plan
//! check returns, on its own or wrapped in its module's error type.

use serde::{Deserialize, Serialize};

/// A value is wrong: which field, and what is wrong with it. Shown as `field: problem`.
///
/// Every configuration type (gates, validators, notifiers, the simulator, strategies, the
/// drivers' and metrics sources' settings) reports bad input with this type, wrapped in its
/// own error where that error has other cases or a prefix (`invalid gate configuration: …`).
///
/// ```
/// use shipcore::model::FieldError;
/// let e = FieldError::new("timeout", "must be greater than zero").within("gates[0]");
/// assert_eq!(e.field, "gates[0].timeout");
/// assert_eq!(e.to_string(), "gates[0].timeout: must be greater than zero");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{field}: {problem}")]
pub struct FieldError {
    /// The field, as a path (`timeout`, `steps[2].percent`, `windows[0].start_hour`;
    /// `<json>` for syntax errors).
    pub field: String,
    /// What is wrong, and what is allowed where that helps.
    pub problem: String,
}

impl FieldError {
    /// An error about `field`.
    pub fn new(field: impl Into<String>, problem: impl Into<String>) -> Self {
        FieldError {
            field: field.into(),
            problem: problem.into(),
        }
    }

    /// The same error with `prefix.` in front of the field name.
    #[must_use]
    pub fn within(self, prefix: &str) -> Self {
        FieldError {
            field: format!("{prefix}.{}", self.field),
            problem: self.problem,
        }
    }
}
