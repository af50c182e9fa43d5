//! Configuration of the directory migrator as data: [`PgDirConfig`] rejects unknown fields
//! and [`PgDirConfig::build`] checks every value, naming the field it finds wrong.

use crate::dir_migrator::PgDirMigrator;
use serde::{Deserialize, Serialize};
use shipcore::model::FieldError;
use shipcore::time::serde_duration;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

/// A migrator configuration value is wrong, shown as
/// `invalid postgres migrator configuration: field: problem`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid postgres migrator configuration: {0}")]
pub struct ConfigError(pub FieldError);

shipcore::field_error_wrapper!(ConfigError);

/// Configuration of a [`PgDirMigrator`].
///
/// ```
/// let c: shipcore_migrate_postgres::PgDirConfig = serde_json::from_str(r#"{
///     "url": "postgres://app@127.0.0.1:5432/app",
///     "dir": "migrations",
///     "lock_timeout": "2m"
/// }"#).unwrap();
/// assert_eq!(c.table, "shipcore_migrations");
/// assert!(c.build().is_ok());
/// ```
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct PgDirConfig {
    /// The name plan steps and records use (default `postgres`).
    #[serde(default = "default_name")]
    pub name: String,
    /// The database, as a `postgres://` URL (libpq key=value strings work too). Shown
    /// without its password in `Debug` and messages.
    pub url: String,
    /// The migrations directory, with `expand/` and `contract/` subdirectories.
    pub dir: PathBuf,
    /// The table that records applied migrations (default `shipcore_migrations`; may be
    /// schema-qualified, `ops.migrations`). Created on the first apply.
    #[serde(default = "default_table")]
    pub table: String,
    /// How long an apply waits for the migration lock another applier holds before giving
    /// up with a transient error (default 5m).
    #[serde(default = "default_lock_timeout", with = "serde_duration")]
    pub lock_timeout: Duration,
    /// How long connecting may take (default 10s).
    #[serde(default = "default_connect_timeout", with = "serde_duration")]
    pub connect_timeout: Duration,
}

fn default_name() -> String {
    "postgres".into()
}
fn default_table() -> String {
    "shipcore_migrations".into()
}
fn default_lock_timeout() -> Duration {
    Duration::from_secs(300)
}
fn default_connect_timeout() -> Duration {
    Duration::from_secs(10)
}

impl fmt::Debug for PgDirConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgDirConfig")
            .field("name", &self.name)
            .field("url", &shipcore::redact::Url(&self.url))
            .field("dir", &self.dir)
            .field("table", &self.table)
            .field("lock_timeout", &self.lock_timeout)
            .field("connect_timeout", &self.connect_timeout)
            .finish()
    }
}

impl PgDirConfig {
    /// A configuration with the defaults.
    pub fn new(url: impl Into<String>, dir: impl Into<PathBuf>) -> Self {
        PgDirConfig {
            name: default_name(),
            url: url.into(),
            dir: dir.into(),
            table: default_table(),
            lock_timeout: default_lock_timeout(),
            connect_timeout: default_connect_timeout(),
        }
    }

    /// The same, with another table.
    #[must_use]
    pub fn table(mut self, table: impl Into<String>) -> Self {
        self.table = table.into();
        self
    }

    /// The same, with another name.
    #[must_use]
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// The same, with another lock timeout.
    #[must_use]
    pub fn lock_timeout(mut self, timeout: Duration) -> Self {
        self.lock_timeout = timeout;
        self
    }

    /// Checks every value and builds the migrator (it connects only when used).
    pub fn build(&self) -> Result<PgDirMigrator, ConfigError> {
        if self.name.trim().is_empty() {
            return Err(FieldError::new("name", "must not be empty").into());
        }
        let pg = self
            .url
            .parse::<tokio_postgres::Config>()
            .map_err(|e| FieldError::new("url", format!("is not a PostgreSQL URL: {e}")))?;
        if self.dir.as_os_str().is_empty() {
            return Err(FieldError::new("dir", "must not be empty").into());
        }
        check_table(&self.table)?;
        if self.lock_timeout.is_zero() {
            return Err(FieldError::new("lock_timeout", "must be greater than zero").into());
        }
        if self.connect_timeout.is_zero() {
            return Err(FieldError::new("connect_timeout", "must be greater than zero").into());
        }
        Ok(PgDirMigrator::from_parts(self.clone(), pg))
    }
}

/// `table` or `schema.table`, each part `[A-Za-z_][A-Za-z0-9_]*` of at most 63 bytes.
fn check_table(table: &str) -> Result<(), ConfigError> {
    let parts: Vec<&str> = table.split('.').collect();
    if parts.len() > 2 {
        return Err(FieldError::new("table", "must be `table` or `schema.table`").into());
    }
    for p in parts {
        let ok = !p.is_empty()
            && p.len() <= 63
            && p.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
            && p.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !ok {
            return Err(FieldError::new(
                "table",
                format!("{p:?} is not a plain identifier (letters, digits, '_', at most 63)"),
            )
            .into());
        }
    }
    Ok(())
}

/// `"a"."b"` for `a.b`: the table name quoted for SQL (it was checked by `build`).
pub(crate) fn quoted_table(table: &str) -> String {
    table
        .split('.')
        .map(|p| format!("\"{p}\""))
        .collect::<Vec<_>>()
        .join(".")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_values_name_their_field() {
        let ok = PgDirConfig::new("postgres://u@127.0.0.1/db", "m");
        assert!(ok.build().is_ok());
        let e = ok.clone().table("a.b.c").build().unwrap_err();
        assert_eq!(e.field, "table");
        let e = ok.clone().table("x; drop").build().unwrap_err();
        assert_eq!(e.field, "table");
        let e = ok.clone().lock_timeout(Duration::ZERO).build().unwrap_err();
        assert_eq!(e.field, "lock_timeout");
        let e = PgDirConfig::new("postgres://u@h:notaport/db", "m")
            .build()
            .unwrap_err();
        assert_eq!(e.field, "url");
        let e = serde_json::from_str::<PgDirConfig>(r#"{"url": "x", "dir": "m", "tabel": "t"}"#)
            .unwrap_err();
        assert!(e.to_string().contains("tabel"), "{e}");
    }

    #[test]
    fn debug_hides_the_password() {
        let c = PgDirConfig::new("postgres://u:hunter2@127.0.0.1/db", "m");
        assert!(!format!("{c:?}").contains("hunter2"));
        assert_eq!(quoted_table("ops.m"), "\"ops\".\"m\"");
    }
}
