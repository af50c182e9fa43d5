//! Gate configuration as data: [`GateConfig`] is tagged by `"type"`, rejects unknown fields,
//! and [`GateConfig::build`] validates the values and makes the gate. Every problem is a
//! [`ConfigError`] naming the field.

use super::{ApprovalConfig, CommandConfig, FileConfig, HttpConfig, LockConfig, WindowConfig};
use crate::gate::Gate;
use crate::model::FieldError;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// A gate configuration value is wrong: a [`FieldError`] (which field, what is wrong),
/// shown as `invalid gate configuration: field: problem`. `e.field` and `e.problem` read
/// the inner error's fields (`timeout`, `windows[0].start_hour`; `<json>` for syntax errors).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid gate configuration: {0}")]
pub struct ConfigError(pub FieldError);

crate::field_error_wrapper!(ConfigError);

/// Any built-in gate, as configuration. Serialized with a `"type"` tag:
/// `{"type": "command", "name": "tests", "program": "npm", "args": ["test"], "timeout": "10m"}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum GateConfig {
    /// Run a program; exit code 0 passes.
    Command(CommandConfig),
    /// An HTTP endpoint answers as expected.
    Http(HttpConfig),
    /// A file exists (and is recent enough).
    File(FileConfig),
    /// A person approves (through the rollout handle or a file).
    Approval(ApprovalConfig),
    /// Deploy windows and freeze periods.
    Window(WindowConfig),
    /// One rollout per service and environment at a time.
    Lock(LockConfig),
}

impl GateConfig {
    /// Parses one gate from JSON; syntax and unknown-field errors name the field serde saw.
    pub fn from_json(text: &str) -> Result<GateConfig, ConfigError> {
        serde_json::from_str(text).map_err(|e| FieldError::new("<json>", e.to_string()).into())
    }

    /// The gate's name.
    pub fn name(&self) -> &str {
        match self {
            GateConfig::Command(c) => &c.name,
            GateConfig::Http(c) => &c.name,
            GateConfig::File(c) => &c.name,
            GateConfig::Approval(c) => &c.name,
            GateConfig::Window(c) => &c.name,
            GateConfig::Lock(c) => &c.name,
        }
    }

    /// Validates the values and builds the gate.
    pub fn build(&self) -> Result<Arc<dyn Gate>, ConfigError> {
        Ok(match self {
            GateConfig::Command(c) => Arc::new(c.build()?),
            GateConfig::Http(c) => Arc::new(c.build()?),
            GateConfig::File(c) => Arc::new(c.build()?),
            GateConfig::Approval(c) => Arc::new(c.build()?),
            GateConfig::Window(c) => Arc::new(c.build()?),
            GateConfig::Lock(c) => Arc::new(c.build()?),
        })
    }
}

/// Checks that a gate name is usable.
pub(crate) fn check_name(name: &str) -> Result<(), ConfigError> {
    if name.trim().is_empty() {
        return Err(FieldError::new("name", "must not be empty").into());
    }
    Ok(())
}
