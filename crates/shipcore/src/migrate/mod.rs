//! Database migrations inside a rollout: a [`Migrator`] says what is pending, applies one
//! phase ([`MigrationPhase::Expand`] before traffic, [`MigrationPhase::Contract`] after
//! promotion) and what was applied. The engine runs it from a plan's migration steps.

mod command;

pub use crate::model::MigrationPhase;
use async_trait::async_trait;
pub use command::{CommandMigrator, CommandMigratorConfig, MigratorConfigError, PhaseCommand};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::time::Duration;

/// Whether retrying a migrator call may help.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum MigrateErrorKind {
    /// The database or the tool could not be reached; nothing was applied. Retry.
    Transient,
    /// A migration failed: what it did was undone by its transaction (or, for a tool that
    /// cannot promise that, the report says what is left). Retrying will fail the same way.
    Failed,
    /// The migrator is misconfigured (missing directory, unreadable file, bad command).
    Config,
}

impl fmt::Display for MigrateErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            MigrateErrorKind::Transient => "transient",
            MigrateErrorKind::Failed => "failed",
            MigrateErrorKind::Config => "config",
        })
    }
}

/// A migrator call failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{kind} migration error in {migration}: {message}")]
#[non_exhaustive]
pub struct MigrateError {
    /// Retry, give up, or fix the configuration.
    pub kind: MigrateErrorKind,
    /// The migration (id or file) or the operation concerned.
    pub migration: String,
    /// What went wrong, as the database or tool said it.
    pub message: String,
}

impl MigrateError {
    /// An error of `kind` about `migration`.
    pub fn new(
        kind: MigrateErrorKind,
        migration: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        MigrateError {
            kind,
            migration: migration.into(),
            message: message.into(),
        }
    }
    /// True if a retry may succeed.
    pub fn is_transient(&self) -> bool {
        self.kind == MigrateErrorKind::Transient
    }
}

/// One migration a migrator knows about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Migration {
    /// Stable identifier (a file stem such as `0003_add_email`, or the tool's id).
    pub id: String,
    /// Which phase it belongs to.
    pub phase: MigrationPhase,
    /// The file it comes from, when there is one (for lint messages and records).
    pub file: Option<String>,
}

impl Migration {
    /// A migration with no file.
    pub fn new(id: impl Into<String>, phase: MigrationPhase) -> Self {
        Migration {
            id: id.into(),
            phase,
            file: None,
        }
    }
    /// The file it comes from.
    #[must_use]
    pub fn with_file(mut self, file: impl Into<String>) -> Self {
        self.file = Some(file.into());
        self
    }
}

/// How one migration ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "outcome")]
#[non_exhaustive]
pub enum MigrationOutcome {
    /// Applied and recorded as applied.
    Applied,
    /// Failed; its own changes were rolled back with its transaction.
    Failed {
        /// The database's or tool's message.
        error: String,
    },
}

/// One migration a phase ran.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AppliedMigration {
    /// The migration's id.
    pub id: String,
    /// Its phase.
    pub phase: MigrationPhase,
    /// How long it ran.
    #[serde(with = "crate::time::serde_duration")]
    pub duration: Duration,
    /// How it ended.
    #[serde(flatten)]
    pub outcome: MigrationOutcome,
}

impl AppliedMigration {
    /// A migration of `phase` that ran for `duration` and ended with `outcome` (for
    /// migrators outside shipcore: the struct is `#[non_exhaustive]`).
    pub fn new(
        id: impl Into<String>,
        phase: MigrationPhase,
        duration: Duration,
        outcome: MigrationOutcome,
    ) -> Self {
        AppliedMigration {
            id: id.into(),
            phase,
            duration,
            outcome,
        }
    }
}

/// What applying one phase did: every migration it ran, in order. The phase succeeded when
/// none failed; a migrator stops at the first failure, so only the last entry can be a
/// failure, and the entries before it stay applied.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PhaseReport {
    /// The migrations run, in order.
    pub migrations: Vec<AppliedMigration>,
    /// The tool's output, when the migrator runs one (redacted, bounded).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub output: String,
}

impl PhaseReport {
    /// A report of `migrations`, in the order they ran.
    pub fn new(migrations: Vec<AppliedMigration>) -> Self {
        PhaseReport {
            migrations,
            output: String::new(),
        }
    }
    /// The same report with the tool's output.
    #[must_use]
    pub fn with_output(mut self, output: impl Into<String>) -> Self {
        self.output = output.into();
        self
    }
    /// True when no migration failed.
    pub fn succeeded(&self) -> bool {
        !self
            .migrations
            .iter()
            .any(|m| matches!(m.outcome, MigrationOutcome::Failed { .. }))
    }
}

/// Applies a database's migrations in the two phases of a rollout.
///
/// Contract:
/// - [`apply`](Self::apply) applies every pending migration of the phase, in order, each
///   atomically where the database allows it (PostgreSQL DDL is transactional), records each
///   as applied in the same transaction, and stops at the first failure;
/// - applying is idempotent: a migration already recorded as applied is never run again, so
///   an engine that resumes after a crash mid-step can call `apply` again safely;
/// - [`pending`](Self::pending) and [`applied`](Self::applied) only read.
#[async_trait]
pub trait Migrator: Send + Sync {
    /// The name plan steps and records use.
    fn name(&self) -> &str;
    /// The migrations of `phase` not applied yet, in the order `apply` runs them.
    async fn pending(&self, phase: MigrationPhase) -> Result<Vec<Migration>, MigrateError>;
    /// Applies every pending migration of `phase`. A migration that fails is reported in
    /// the [`PhaseReport`] (not as `Err`); `Err` means the migrator could not run at all.
    async fn apply(&self, phase: MigrationPhase) -> Result<PhaseReport, MigrateError>;
    /// The ids of every migration recorded as applied, in the order they were applied.
    async fn applied(&self) -> Result<Vec<String>, MigrateError>;
}
