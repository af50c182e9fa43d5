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

/// Gives a module's configuration error, a newtype around [`FieldError`] that carries the
/// module's own prefix in its `Display`, the conversions every such error needs:
/// `From<FieldError>`, `Deref<Target = FieldError>` (so `e.field` and `e.problem` read
/// through) and `within(prefix)`. One definition for shipcore's gate, validator and notifier
/// configurations and for the drivers' and metrics sources' crates.
///
/// ```
/// use shipcore::model::FieldError;
///
/// /// My driver's configuration error.
/// #[derive(Debug, thiserror::Error)]
/// #[error("my driver configuration: {0}")]
/// pub struct ConfigError(pub FieldError);
/// shipcore::field_error_wrapper!(ConfigError);
///
/// let e = ConfigError::from(FieldError::new("port", "must be above 0")).within("listener");
/// assert_eq!(e.field, "listener.port");
/// assert_eq!(e.to_string(), "my driver configuration: listener.port: must be above 0");
/// ```
#[macro_export]
macro_rules! field_error_wrapper {
    ($name:ident) => {
        impl ::core::convert::From<$crate::model::FieldError> for $name {
            fn from(e: $crate::model::FieldError) -> Self {
                $name(e)
            }
        }

        impl ::core::ops::Deref for $name {
            type Target = $crate::model::FieldError;
            fn deref(&self) -> &$crate::model::FieldError {
                &self.0
            }
        }

        impl $name {
            /// The same error with `prefix.` in front of the field name.
            #[must_use]
            pub fn within(self, prefix: &str) -> Self {
                $name(self.0.within(prefix))
            }
        }
    };
}
