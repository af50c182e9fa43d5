//! The file gate: a file exists (runbook, rollback script) and, optionally, was modified
//! within a maximum age (a backup taken within 24 h). Age is judged against the engine's
//! time (`GateContext.now`), not the wall clock, so simulated time can test it.

use super::config::{check_name, ConfigError};
use crate::gate::{Gate, GateContext, GateOutcome};
use crate::model::FieldError;
use crate::time::{format_duration, serde_opt_duration, Timestamp};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::time::{Duration, UNIX_EPOCH};

/// Configuration of a [`FileGate`].
///
/// ```
/// let c: shipcore::gate::FileConfig = serde_json::from_str(
///     r#"{"name": "backup", "path": "/var/backups/db.dump", "max_age": "24h"}"#).unwrap();
/// assert_eq!(c.max_age, Some(std::time::Duration::from_secs(86_400)));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct FileConfig {
    /// Gate name.
    pub name: String,
    /// The file that must exist.
    pub path: PathBuf,
    /// If set, its modification time must be at most this long before now.
    #[serde(
        default,
        with = "serde_opt_duration",
        skip_serializing_if = "Option::is_none"
    )]
    pub max_age: Option<Duration>,
}

impl FileConfig {
    /// Checks the values and builds the gate.
    pub fn build(&self) -> Result<FileGate, ConfigError> {
        check_name(&self.name)?;
        if self.path.as_os_str().is_empty() {
            return Err(FieldError::new("path", "must not be empty").into());
        }
        if self.max_age == Some(Duration::ZERO) {
            return Err(FieldError::new("max_age", "must be greater than zero").into());
        }
        Ok(FileGate { cfg: self.clone() })
    }
}

/// A file exists, and is recent enough.
#[derive(Debug, Clone)]
pub struct FileGate {
    cfg: FileConfig,
}

impl FileGate {
    /// A gate that only requires `path` to exist.
    pub fn exists(name: impl Into<String>, path: impl Into<PathBuf>) -> Self {
        FileGate {
            cfg: FileConfig {
                name: name.into(),
                path: path.into(),
                max_age: None,
            },
        }
    }

    /// The same gate, also requiring the file to be at most `max_age` old.
    #[must_use]
    pub fn max_age(mut self, max_age: Duration) -> Self {
        self.cfg.max_age = Some(max_age);
        self
    }
}

#[async_trait]
impl Gate for FileGate {
    fn name(&self) -> &str {
        &self.cfg.name
    }

    async fn check(&self, ctx: &GateContext) -> GateOutcome {
        let path = &self.cfg.path;
        let meta = match tokio::fs::metadata(path).await {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return GateOutcome::block(format!("{} does not exist", path.display()))
            }
            Err(e) => return GateOutcome::block(format!("cannot read {}: {e}", path.display())),
        };
        let Some(max_age) = self.cfg.max_age else {
            return GateOutcome::Pass;
        };
        let modified = match meta.modified() {
            Ok(t) => t,
            Err(e) => {
                return GateOutcome::block(format!(
                    "cannot read the modification time of {}: {e}",
                    path.display()
                ))
            }
        };
        let mtime = Timestamp(
            modified
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_millis() as u64)
                .unwrap_or(0),
        );
        let age = ctx.now.since(mtime);
        if age > max_age {
            GateOutcome::block(format!(
                "{} is {} old, more than the allowed {}",
                path.display(),
                format_duration(Duration::from_secs(age.as_secs())),
                format_duration(max_age)
            ))
        } else {
            GateOutcome::Pass
        }
    }
}
