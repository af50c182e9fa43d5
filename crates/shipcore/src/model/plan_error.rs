//! Why a plan cannot be made or run: a field with a problem, or a capability the driver
//! lacks. Strategies, the model's own checks and the engine all report it.

use super::FieldError;
use serde::{Deserialize, Serialize};

/// A plan could not be made: names the field and the problem.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum PlanError {
    /// A value is out of range or inconsistent (`steps[2].percent`, `max_surge`).
    #[error(transparent)]
    Invalid(#[from] FieldError),
    /// The plan needs something the driver cannot do.
    #[error(
        "{field}: needs the driver capability `{capability}`, which this driver does not have"
    )]
    Unsupported {
        /// The field that needs it.
        field: String,
        /// The missing [`Capabilities`](super::Capabilities) field.
        capability: String,
    },
}

impl PlanError {
    /// A missing-capability error.
    pub fn unsupported(field: impl Into<String>, capability: impl Into<String>) -> Self {
        PlanError::Unsupported {
            field: field.into(),
            capability: capability.into(),
        }
    }
    /// The field the error is about.
    pub fn field(&self) -> &str {
        match self {
            PlanError::Invalid(FieldError { field, .. }) | PlanError::Unsupported { field, .. } => {
                field
            }
        }
    }

    /// The same error with `prefix.` in front of the field name (a check that names
    /// fields relative to its part of a plan, prefixed only when it fails).
    #[must_use]
    pub fn within(self, prefix: &str) -> Self {
        match self {
            PlanError::Invalid(e) => PlanError::Invalid(e.within(prefix)),
            PlanError::Unsupported { field, capability } => PlanError::Unsupported {
                field: format!("{prefix}.{field}"),
                capability,
            },
        }
    }
}
