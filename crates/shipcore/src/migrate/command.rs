//! [`CommandMigrator`]: the team's own migration tool (`sqlx migrate run`, `refinery`,
//! `diesel migration run`, `npm run db:migrate`) run as a [`Migrator`], one command per
//! phase, with an optional status command listing what is applied. Output is captured,
//! bounded and redacted; the exit status decides the outcome.
//!
//! Idempotency is the tool's job: shipcore calls the phase's command again when a rollout
//! resumes after a crash mid-step, and relies on the tool to skip what it already applied
//! (every tool named above records applied migrations in the database and does). Atomicity
//! is the tool's job too: a failed run may leave what the tool did not roll back, and
//! the report says only what the tool's status says.

use super::{
    AppliedMigration, MigrateError, MigrateErrorKind, Migration, MigrationOutcome, MigrationPhase,
    Migrator, PhaseReport,
};
use crate::gate::{COMMAND_MAX_TAIL_BYTES, COMMAND_MAX_TIMEOUT};
use crate::model::FieldError;
use crate::time::{format_duration, serde_duration};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;
use tracing::Instrument;

/// A migrator configuration value is wrong, shown as
/// `invalid migrator configuration: field: problem`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid migrator configuration: {0}")]
pub struct MigratorConfigError(pub FieldError);

crate::field_error_wrapper!(MigratorConfigError);

/// What to run for one phase.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct PhaseCommand {
    /// The command that applies the phase, as argv (no shell): `["sqlx", "migrate", "run"]`.
    pub run: Vec<String>,
    /// Optional: a command printing the phase's pending migration ids, one per line (empty
    /// lines and lines starting with `#` are skipped). Without it, the phase is one opaque
    /// migration named `<migrator>:<phase>`, run every time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending: Option<Vec<String>>,
}

impl PhaseCommand {
    /// Runs `argv` for the phase, with no pending command.
    pub fn new(argv: &[&str]) -> Self {
        PhaseCommand {
            run: argv.iter().map(|s| s.to_string()).collect(),
            pending: None,
        }
    }

    /// The same, with a command listing pending ids.
    #[must_use]
    pub fn with_pending(mut self, argv: &[&str]) -> Self {
        self.pending = Some(argv.iter().map(|s| s.to_string()).collect());
        self
    }
}

/// Configuration of a [`CommandMigrator`].
///
/// ```
/// let c: shipcore::migrate::CommandMigratorConfig = serde_json::from_str(r#"{
///     "name": "sqlx",
///     "expand": {"run": ["sqlx", "migrate", "run"]},
///     "status": ["sh", "-c", "psql -tA -c 'select version from _sqlx_migrations'"],
///     "env": {"DATABASE_URL": "postgres://app@127.0.0.1/app"},
///     "timeout": "5m"
/// }"#).unwrap();
/// assert!(c.build().is_ok());
/// ```
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct CommandMigratorConfig {
    /// The name plan steps and records use.
    pub name: String,
    /// What the expand phase runs (absent: the phase has nothing to do).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expand: Option<PhaseCommand>,
    /// What the contract phase runs (absent: the phase has nothing to do).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contract: Option<PhaseCommand>,
    /// Optional: a command printing every applied migration id, one per line, in the order
    /// applied. Without it [`Migrator::applied`] answers a configuration error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<Vec<String>>,
    /// Working directory (default: the current one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cwd: Option<PathBuf>,
    /// Extra environment variables. Values of variables whose name looks secret
    /// (`DB_PASSWORD`, `API_TOKEN`, see [`crate::redact::is_secret_header`]) are hidden in
    /// `Debug` and in the captured output.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    /// How long one command may run before its process group is killed (default 30m, at
    /// most 24h).
    #[serde(default = "default_timeout", with = "serde_duration")]
    pub timeout: Duration,
    /// How many bytes of the end of stdout and of stderr to keep (default 4000, at most
    /// 1 MiB).
    #[serde(default = "default_tail")]
    pub tail_bytes: usize,
    /// Exit codes that mean "could not reach the database, nothing applied, retry"
    /// (for example 75, `EX_TEMPFAIL`): reported as a transient error instead of a failed
    /// migration.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub transient_exit_codes: Vec<i32>,
}

fn default_timeout() -> Duration {
    Duration::from_secs(1800)
}
fn default_tail() -> usize {
    4000
}

impl fmt::Debug for CommandMigratorConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CommandMigratorConfig")
            .field("name", &self.name)
            .field("expand", &self.expand)
            .field("contract", &self.contract)
            .field("status", &self.status)
            .field("cwd", &self.cwd)
            .field("env", &crate::redact::Headers(&self.env))
            .field("timeout", &self.timeout)
            .field("tail_bytes", &self.tail_bytes)
            .field("transient_exit_codes", &self.transient_exit_codes)
            .finish()
    }
}

fn check_argv(field: &str, argv: &[String]) -> Result<(), MigratorConfigError> {
    match argv.first() {
        None => Err(FieldError::new(field, "must name a program (argv, not empty)").into()),
        Some(p) if p.trim().is_empty() => {
            Err(FieldError::new(format!("{field}[0]"), "the program must not be empty").into())
        }
        Some(_) => Ok(()),
    }
}

impl CommandMigratorConfig {
    /// A migrator named `name` with no phase configured yet.
    pub fn new(name: impl Into<String>) -> Self {
        CommandMigratorConfig {
            name: name.into(),
            expand: None,
            contract: None,
            status: None,
            cwd: None,
            env: BTreeMap::new(),
            timeout: default_timeout(),
            tail_bytes: default_tail(),
            transient_exit_codes: Vec::new(),
        }
    }

    /// Checks every value and builds the migrator.
    pub fn build(&self) -> Result<CommandMigrator, MigratorConfigError> {
        if self.name.trim().is_empty() {
            return Err(FieldError::new("name", "must not be empty").into());
        }
        if self.expand.is_none() && self.contract.is_none() {
            return Err(FieldError::new(
                "expand",
                "at least one of expand and contract must be configured",
            )
            .into());
        }
        for (field, phase) in [("expand", &self.expand), ("contract", &self.contract)] {
            if let Some(p) = phase {
                check_argv(&format!("{field}.run"), &p.run)?;
                if let Some(pending) = &p.pending {
                    check_argv(&format!("{field}.pending"), pending)?;
                }
            }
        }
        if let Some(s) = &self.status {
            check_argv("status", s)?;
        }
        if self.timeout.is_zero() || self.timeout > COMMAND_MAX_TIMEOUT {
            return Err(FieldError::new(
                "timeout",
                format!(
                    "{} is out of range: more than zero and at most {}",
                    format_duration(self.timeout),
                    format_duration(COMMAND_MAX_TIMEOUT)
                ),
            )
            .into());
        }
        if self.tail_bytes == 0 || self.tail_bytes > COMMAND_MAX_TAIL_BYTES {
            return Err(FieldError::new(
                "tail_bytes",
                format!(
                    "{} is out of range: 1 to {COMMAND_MAX_TAIL_BYTES} (1 MiB)",
                    self.tail_bytes
                ),
            )
            .into());
        }
        if let Some(k) = self.env.keys().find(|k| k.is_empty() || k.contains('=')) {
            return Err(FieldError::new(
                format!("env.{k}"),
                "a variable name must not be empty or contain '='",
            )
            .into());
        }
        Ok(CommandMigrator { cfg: self.clone() })
    }
}

/// Runs the team's own migration tool (`sqlx migrate run`, `refinery`, `diesel migration
/// run`, `npm run db:migrate`) per phase, with an optional status command listing what is
/// applied. Output is captured, bounded and redacted; the exit status decides the outcome.
///
/// Idempotency is the tool's job: shipcore calls the phase's command again when a rollout
/// resumes after a crash mid-step, and relies on the tool to skip what it already applied
/// (every tool named above records applied migrations in the database and does). Atomicity
/// is the tool's job too: a failed run may leave what the tool did not roll back, and the
/// report says only what the tool's status says.
#[derive(Debug, Clone)]
pub struct CommandMigrator {
    cfg: CommandMigratorConfig,
}

/// What one command did.
struct Run {
    shown: String,
    exit_code: Option<i32>,
    timed_out: bool,
    stdout: String,
    stderr: String,
    duration: Duration,
}

impl Run {
    fn ok(&self) -> bool {
        self.exit_code == Some(0) && !self.timed_out
    }

    fn failure(&self, timeout: Duration) -> String {
        let what = if self.timed_out {
            format!(
                "`{}` ran for more than {} and was killed",
                self.shown,
                format_duration(timeout)
            )
        } else {
            match self.exit_code {
                Some(c) => format!("`{}` exited with code {c}", self.shown),
                None => format!("`{}` was killed by a signal", self.shown),
            }
        };
        let tail = last_lines(if self.stderr.trim().is_empty() {
            &self.stdout
        } else {
            &self.stderr
        });
        if tail.is_empty() {
            what
        } else {
            format!("{what}: {tail}")
        }
    }

    /// stdout and stderr, labelled, for the report.
    fn output(&self) -> String {
        let mut out = String::new();
        for (label, text) in [("stdout", &self.stdout), ("stderr", &self.stderr)] {
            if !text.trim().is_empty() {
                out += &format!("{label}:\n{}\n", text.trim_end());
            }
        }
        out
    }
}

/// The last 5 non-empty lines of `text`, joined with ` | `, at most 500 bytes.
fn last_lines(text: &str) -> String {
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let start = lines.len().saturating_sub(5);
    crate::redact::truncate(&lines[start..].join(" | "), 500).into_owned()
}

fn ids_of(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_string)
        .collect()
}

fn userinfo_re() -> &'static regex::Regex {
    static RE: OnceLock<regex::Regex> = OnceLock::new();
    RE.get_or_init(|| {
        // `scheme://user:password@` and `password=...` (libpq key/value, JDBC, DSNs).
        regex::Regex::new(r"(?i)([a-z][a-z0-9+.-]*://)[^\s/@]+@|(password|passwd|pwd)=[^\s&;]+")
            .unwrap_or_else(|_| unreachable!("constant regex"))
    })
}

impl CommandMigrator {
    /// Its configuration.
    pub fn config(&self) -> &CommandMigratorConfig {
        &self.cfg
    }

    fn phase(&self, phase: MigrationPhase) -> Option<&PhaseCommand> {
        match phase {
            MigrationPhase::Expand => self.cfg.expand.as_ref(),
            MigrationPhase::Contract => self.cfg.contract.as_ref(),
        }
    }

    /// `text` with secret env values, URL credentials and `password=` values replaced by
    /// `<redacted>`.
    fn redact(&self, text: &str) -> String {
        let mut out = text.to_string();
        for (k, v) in &self.cfg.env {
            if crate::redact::is_secret_header(k) && v.len() >= 3 {
                out = out.replace(v.as_str(), crate::redact::REDACTED);
            }
        }
        userinfo_re()
            .replace_all(&out, |c: &regex::Captures<'_>| match c.get(1) {
                Some(scheme) => format!("{}{}@", scheme.as_str(), crate::redact::REDACTED),
                None => format!(
                    "{}={}",
                    c.get(2).map_or("password", |m| m.as_str()),
                    crate::redact::REDACTED
                ),
            })
            .into_owned()
    }

    async fn run(
        &self,
        argv: &[String],
        phase: Option<MigrationPhase>,
    ) -> Result<Run, MigrateError> {
        let shown = self.redact(&argv.join(" "));
        let (program, args) = argv.split_first().ok_or_else(|| {
            MigrateError::new(MigrateErrorKind::Config, &self.cfg.name, "empty command")
        })?;
        let mut cmd = tokio::process::Command::new(program);
        cmd.args(args);
        if let Some(dir) = &self.cfg.cwd {
            cmd.current_dir(dir);
        }
        cmd.envs(&self.cfg.env);
        if let Some(p) = phase {
            cmd.env("SHIPCORE_MIGRATION_PHASE", p.as_str());
        }
        let keep = self.cfg.tail_bytes.min(COMMAND_MAX_TAIL_BYTES);
        let timeout = self.cfg.timeout.min(COMMAND_MAX_TIMEOUT);
        let c = crate::process::run_captured(cmd, timeout, keep)
            .await
            .map_err(|e| {
                MigrateError::new(
                    MigrateErrorKind::Config,
                    &self.cfg.name,
                    format!("cannot run `{shown}`: {e}"),
                )
            })?;
        if let Some(e) = c.wait_error {
            return Err(MigrateError::new(
                MigrateErrorKind::Transient,
                &self.cfg.name,
                format!("waiting for `{shown}` failed: {e}"),
            ));
        }
        Ok(Run {
            stdout: self.redact(&c.stdout_tail),
            stderr: self.redact(&c.stderr_tail),
            shown,
            exit_code: c.exit_code,
            timed_out: c.timed_out,
            duration: c.duration,
        })
    }

    /// Runs a listing command (pending, status) and returns the ids it prints.
    async fn list(
        &self,
        argv: &[String],
        phase: Option<MigrationPhase>,
    ) -> Result<Vec<String>, MigrateError> {
        let run = self.run(argv, phase).await?;
        if !run.ok() {
            return Err(self.classify_failure(&run));
        }
        Ok(ids_of(&run.stdout))
    }

    fn classify_failure(&self, run: &Run) -> MigrateError {
        let transient = run
            .exit_code
            .is_some_and(|c| self.cfg.transient_exit_codes.contains(&c));
        MigrateError::new(
            if transient {
                MigrateErrorKind::Transient
            } else {
                MigrateErrorKind::Failed
            },
            &self.cfg.name,
            run.failure(self.cfg.timeout),
        )
    }

    fn opaque_id(&self, phase: MigrationPhase) -> String {
        format!("{}:{}", self.cfg.name, phase)
    }

    async fn apply_phase(&self, phase: MigrationPhase) -> Result<PhaseReport, MigrateError> {
        let Some(cmd) = self.phase(phase) else {
            return Ok(PhaseReport::default());
        };
        let before = match &cmd.pending {
            Some(p) => {
                let ids = self.list(p, Some(phase)).await?;
                if ids.is_empty() {
                    return Ok(PhaseReport::default());
                }
                Some(ids)
            }
            None => None,
        };
        let run = self.run(&cmd.run, Some(phase)).await?;
        if !run.ok()
            && run
                .exit_code
                .is_some_and(|c| self.cfg.transient_exit_codes.contains(&c))
        {
            return Err(self.classify_failure(&run));
        }
        let ids = before
            .clone()
            .unwrap_or_else(|| vec![self.opaque_id(phase)]);
        // One process ran them all: each gets an even share of its time.
        let share = run.duration / u32::try_from(ids.len()).unwrap_or(u32::MAX).max(1);
        let mut report = PhaseReport {
            output: run.output(),
            ..PhaseReport::default()
        };
        if run.ok() {
            report.migrations = ids
                .into_iter()
                .map(|id| AppliedMigration::new(id, phase, share, MigrationOutcome::Applied))
                .collect();
            return Ok(report);
        }
        let error = run.failure(self.cfg.timeout);
        // Which ran before the failure: what the pending command no longer lists.
        let still_pending = match (&cmd.pending, &before) {
            (Some(p), Some(_)) => self.list(p, Some(phase)).await.ok(),
            _ => None,
        };
        for id in ids {
            let done = still_pending.as_ref().is_some_and(|s| !s.contains(&id));
            if done {
                report.migrations.push(AppliedMigration::new(
                    id,
                    phase,
                    share,
                    MigrationOutcome::Applied,
                ));
            } else {
                report.migrations.push(AppliedMigration::new(
                    id,
                    phase,
                    share,
                    MigrationOutcome::Failed { error },
                ));
                break;
            }
        }
        Ok(report)
    }
}

#[async_trait]
impl Migrator for CommandMigrator {
    fn name(&self) -> &str {
        &self.cfg.name
    }

    /// The pending command's ids; without one, a single `<name>:<phase>` entry when the
    /// phase is configured (the tool decides what it runs); nothing when it is not.
    async fn pending(&self, phase: MigrationPhase) -> Result<Vec<Migration>, MigrateError> {
        let Some(cmd) = self.phase(phase) else {
            return Ok(Vec::new());
        };
        let span = tracing::info_span!("migrate.pending", migrator = %self.cfg.name, %phase);
        let ids = match &cmd.pending {
            Some(p) => self.list(p, Some(phase)).instrument(span).await?,
            None => vec![self.opaque_id(phase)],
        };
        Ok(ids
            .into_iter()
            .map(|id| Migration::new(id, phase))
            .collect())
    }

    /// Runs the phase's command (after its pending command, when set: nothing pending,
    /// nothing run). Exit code 0: every pending id applied. Another exit code, a signal or
    /// the timeout: the ids the pending command no longer lists are applied, the next one
    /// failed with the end of the tool's stderr. A `transient_exit_codes` code, or a
    /// program that cannot be started (`Config`), is an `Err`.
    async fn apply(&self, phase: MigrationPhase) -> Result<PhaseReport, MigrateError> {
        let span = tracing::info_span!("migrate.apply", migrator = %self.cfg.name, %phase);
        self.apply_phase(phase).instrument(span).await
    }

    /// The status command's ids; a configuration error without one.
    async fn applied(&self) -> Result<Vec<String>, MigrateError> {
        let Some(status) = &self.cfg.status else {
            return Err(MigrateError::new(
                MigrateErrorKind::Config,
                &self.cfg.name,
                "status: no status command is configured, so what is applied is unknown",
            ));
        };
        let span = tracing::info_span!("migrate.applied", migrator = %self.cfg.name);
        self.list(status, None).instrument(span).await
    }
}
