//! PostgreSQL migrations for shipcore rollouts, in plain SQL:
//!
//! - [`PgDirMigrator`]: a [`Migrator`](shipcore::migrate::Migrator) over a directory of
//!   `expand/` and `contract/` `.sql` files (layout and naming in [`layout`]), each applied
//!   in its own transaction with its id recorded in the same transaction, under an
//!   advisory lock, so a failed file leaves nothing and nothing is applied twice;
//! - [`MigrationLintGate`]: a [`Gate`](shipcore::gate::Gate) that lints the files with
//!   squawk and blocks unsafe operations, naming file, line and rule;
//! - [`destructive`]: which pending migrations destroy data, and [`PgDump`] to take a
//!   backup before them, or [`BackupGate`] to take it as a gate before the migration step.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use shipcore::migrate::{MigrationPhase, Migrator};
//! use shipcore_migrate_postgres::PgDirConfig;
//! let m = PgDirConfig::new("postgres://app@127.0.0.1/app", "migrations").build()?;
//! let report = m.apply(MigrationPhase::Expand).await?;
//! assert!(report.succeeded());
//! # Ok(()) }
//! ```
#![warn(missing_docs)]
#![cfg_attr(test, allow(clippy::unwrap_used))]

mod backup;
mod backup_gate;
mod config;
mod destructive;
mod dir_migrator;
mod gate;
pub mod layout;
pub mod lint;
pub mod sql;

pub use backup::{Backup, BackupError, BackupErrorKind, PgDump, PgDumpConfig};
pub use backup_gate::BackupGate;
pub use config::{ConfigError, PgDirConfig};
pub use destructive::{destructive, DestructiveMigration};
pub use dir_migrator::PgDirMigrator;
pub use gate::{LintConfig, LintConfigError, MigrationLintGate};
pub use layout::{MigrationFile, NO_TRANSACTION_MARKER};
pub use lint::{Finding, RuleSet};
