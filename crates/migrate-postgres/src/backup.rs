//! [`PgDump`]: a backup before a destructive migration, with the real `pg_dump`, into a
//! configured directory, one file per backup named by time
//! (`<prefix>-20261202T145501.123Z.dump`, custom format, restorable with `pg_restore`).
//! The file appears only complete (written as `.partial`, renamed at the end), so the
//! file-age gate never takes a half-written dump for a fresh backup.

use serde::{Deserialize, Serialize};
use shipcore::model::FieldError;
use shipcore::time::serde_duration;
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio_postgres::config::Host;
use tracing::Instrument;

/// Why a backup could not be made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum BackupErrorKind {
    /// The configuration is wrong: a bad value, `pg_dump` not found, the directory not
    /// writable.
    Config,
    /// `pg_dump` ran and failed (its message says why: database unreachable, permission...),
    /// or ran past the timeout.
    Failed,
}

/// A backup failed: what kind of failure and what was said.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("backup {kind:?}: {message}")]
#[non_exhaustive]
pub struct BackupError {
    /// Fix the configuration, or look at the database.
    pub kind: BackupErrorKind,
    /// What went wrong (field name for configuration errors; pg_dump's own words).
    pub message: String,
}

impl BackupError {
    fn config(message: impl Into<String>) -> Self {
        BackupError {
            kind: BackupErrorKind::Config,
            message: message.into(),
        }
    }
    fn failed(message: impl Into<String>) -> Self {
        BackupError {
            kind: BackupErrorKind::Failed,
            message: message.into(),
        }
    }
}

impl From<FieldError> for BackupError {
    fn from(e: FieldError) -> Self {
        BackupError::config(e.to_string())
    }
}

/// Configuration of a [`PgDump`].
///
/// ```
/// let c: shipcore_migrate_postgres::PgDumpConfig = serde_json::from_str(r#"{
///     "url": "postgres://app@127.0.0.1:5432/app",
///     "dir": "/var/backups/app",
///     "pg_dump": "/usr/lib/postgresql/15/bin/pg_dump"
/// }"#).unwrap();
/// assert!(c.build().is_ok());
/// ```
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct PgDumpConfig {
    /// The database, as a `postgres://` URL. Its password goes to `pg_dump` through
    /// `PGPASSWORD`, never on the command line.
    pub url: String,
    /// Where backups go (created if missing).
    pub dir: PathBuf,
    /// The `pg_dump` program (default `pg_dump`, looked up in `PATH`).
    #[serde(default = "default_pg_dump")]
    pub pg_dump: PathBuf,
    /// File name prefix (default: the database name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    /// How long `pg_dump` may run before it is killed (default 1h).
    #[serde(default = "default_timeout", with = "serde_duration")]
    pub timeout: Duration,
}

fn default_pg_dump() -> PathBuf {
    PathBuf::from("pg_dump")
}
fn default_timeout() -> Duration {
    Duration::from_secs(3600)
}

impl fmt::Debug for PgDumpConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgDumpConfig")
            .field("url", &shipcore::redact::Url(&self.url))
            .field("dir", &self.dir)
            .field("pg_dump", &self.pg_dump)
            .field("prefix", &self.prefix)
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl PgDumpConfig {
    /// Backups of `url` into `dir` with the defaults.
    pub fn new(url: impl Into<String>, dir: impl Into<PathBuf>) -> Self {
        PgDumpConfig {
            url: url.into(),
            dir: dir.into(),
            pg_dump: default_pg_dump(),
            prefix: None,
            timeout: default_timeout(),
        }
    }

    /// The same, running this `pg_dump`.
    #[must_use]
    pub fn pg_dump(mut self, program: impl Into<PathBuf>) -> Self {
        self.pg_dump = program.into();
        self
    }

    /// Checks the values and builds the helper.
    pub fn build(&self) -> Result<PgDump, BackupError> {
        let pg = self
            .url
            .parse::<tokio_postgres::Config>()
            .map_err(|e| FieldError::new("url", format!("is not a PostgreSQL URL: {e}")))?;
        if self.dir.as_os_str().is_empty() {
            return Err(FieldError::new("dir", "must not be empty").into());
        }
        if self.pg_dump.as_os_str().is_empty() {
            return Err(FieldError::new("pg_dump", "must not be empty").into());
        }
        if self.timeout.is_zero() {
            return Err(FieldError::new("timeout", "must be greater than zero").into());
        }
        let prefix = match &self.prefix {
            Some(p) => p.clone(),
            None => pg.get_dbname().unwrap_or("postgres").to_string(),
        };
        if prefix.is_empty()
            || !prefix
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        {
            return Err(FieldError::new(
                "prefix",
                format!("{prefix:?} must be letters, digits, '_', '-' or '.' (not empty)"),
            )
            .into());
        }
        Ok(PgDump {
            cfg: self.clone(),
            pg,
            prefix,
        })
    }
}

/// A backup that was made.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Backup {
    /// The dump file.
    pub path: PathBuf,
    /// Its size.
    pub bytes: u64,
    /// How long `pg_dump` took.
    pub duration: Duration,
}

/// Takes backups with `pg_dump`. Build it with [`PgDumpConfig::build`].
#[derive(Debug, Clone)]
pub struct PgDump {
    cfg: PgDumpConfig,
    pg: tokio_postgres::Config,
    prefix: String,
}

impl PgDump {
    /// The arguments naming the database (no password).
    fn connection_args(&self) -> Vec<String> {
        let mut args = Vec::new();
        if let Some(h) = self.pg.get_hosts().first() {
            match h {
                Host::Tcp(host) => args.extend(["--host".to_string(), host.clone()]),
                #[cfg(unix)]
                Host::Unix(dir) => {
                    args.extend(["--host".to_string(), dir.display().to_string()]);
                }
            }
        }
        if let Some(port) = self.pg.get_ports().first() {
            args.extend(["--port".to_string(), port.to_string()]);
        }
        if let Some(user) = self.pg.get_user() {
            args.extend(["--username".to_string(), user.to_string()]);
        }
        if let Some(db) = self.pg.get_dbname() {
            args.extend(["--dbname".to_string(), db.to_string()]);
        }
        args
    }

    /// The path a backup taken at `now` gets.
    fn path_for(&self, now: jiff::Timestamp) -> PathBuf {
        let stamp = now.strftime("%Y%m%dT%H%M%S%.3fZ").to_string();
        self.cfg.dir.join(format!("{}-{stamp}.dump", self.prefix))
    }

    /// Runs `pg_dump` once and returns the finished file.
    pub async fn backup(&self) -> Result<Backup, BackupError> {
        let span = tracing::info_span!("pg_dump", dir = %self.cfg.dir.display(),
            url = %shipcore::redact::url(&self.cfg.url));
        self.run().instrument(span).await
    }

    async fn run(&self) -> Result<Backup, BackupError> {
        tokio::fs::create_dir_all(&self.cfg.dir)
            .await
            .map_err(|e| {
                BackupError::config(format!(
                    "dir: cannot create {}: {e}",
                    self.cfg.dir.display()
                ))
            })?;
        let path = self.path_for(jiff::Timestamp::now());
        let partial = path.with_extension("dump.partial");
        let mut cmd = tokio::process::Command::new(&self.cfg.pg_dump);
        cmd.arg("--format=custom")
            .arg("--no-password")
            .arg("--file")
            .arg(&partial)
            .args(self.connection_args())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        if let Some(pw) = self.pg.get_password() {
            cmd.env("PGPASSWORD", String::from_utf8_lossy(pw).into_owned());
        }
        let started = Instant::now();
        let child = cmd.spawn().map_err(|e| {
            BackupError::config(format!(
                "pg_dump: cannot run {}: {e}",
                self.cfg.pg_dump.display()
            ))
        })?;
        let out = match tokio::time::timeout(self.cfg.timeout, child.wait_with_output()).await {
            Ok(Ok(out)) => out,
            Ok(Err(e)) => {
                remove(&partial).await;
                return Err(BackupError::failed(format!(
                    "waiting for pg_dump failed: {e}"
                )));
            }
            Err(_) => {
                // Dropping the future dropped the child: kill_on_drop killed it.
                remove(&partial).await;
                return Err(BackupError::failed(format!(
                    "pg_dump ran for more than {:?} and was killed",
                    self.cfg.timeout
                )));
            }
        };
        if !out.status.success() {
            remove(&partial).await;
            let stderr = String::from_utf8_lossy(&out.stderr);
            return Err(BackupError::failed(format!(
                "pg_dump exited with {}: {}",
                out.status,
                shipcore::redact::truncate(stderr.trim(), 2000)
            )));
        }
        tokio::fs::rename(&partial, &path).await.map_err(|e| {
            BackupError::failed(format!(
                "cannot rename {} to {}: {e}",
                partial.display(),
                path.display()
            ))
        })?;
        let bytes = tokio::fs::metadata(&path)
            .await
            .map(|m| m.len())
            .unwrap_or(0);
        tracing::info!(path = %path.display(), bytes, "backup written");
        Ok(Backup {
            path,
            bytes,
            duration: started.elapsed(),
        })
    }
}

async fn remove(p: &Path) {
    let _ = tokio::fs::remove_file(p).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_named_by_time_and_no_password_is_passed_as_an_argument() {
        let d = PgDumpConfig::new("postgres://app:s3cret@127.0.0.1:5433/appdb", "/b")
            .build()
            .unwrap();
        let t: jiff::Timestamp = "2026-12-02T14:55:01.123Z".parse().unwrap();
        assert_eq!(
            d.path_for(t),
            PathBuf::from("/b/appdb-20261202T145501.123Z.dump")
        );
        let args = d.connection_args().join(" ");
        assert_eq!(
            args,
            "--host 127.0.0.1 --port 5433 --username app --dbname appdb"
        );
        assert!(!format!("{:?}", d).contains("s3cret"));
    }

    #[test]
    fn bad_values_name_their_field() {
        let mut c = PgDumpConfig::new("postgres://a@h/db", "/b");
        c.prefix = Some("a/b".into());
        assert!(c.build().unwrap_err().message.starts_with("prefix:"));
        let e = PgDumpConfig::new("postgres://a@h:x/db", "/b")
            .build()
            .unwrap_err();
        assert!(e.message.starts_with("url:"), "{e}");
    }
}
