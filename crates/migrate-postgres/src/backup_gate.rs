//! [`BackupGate`]: "backup first", as a gate. Placed before a migration step (a pre-rollout
//! gate before expand, a gate step before contract), it passes at once when no pending
//! migration of its phases is destructive, and otherwise takes a `pg_dump` backup and
//! passes only when the backup is written, so a destructive migration never runs without
//! a fresh backup.

use crate::backup::PgDump;
use crate::destructive::DestructiveMigration;
use crate::dir_migrator::PgDirMigrator;
use async_trait::async_trait;
use shipcore::gate::{Gate, GateContext, GateOutcome};
use shipcore::migrate::MigrationPhase;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Takes a backup when destructive migrations are pending: "backup first", as a gate.
/// Placed before a migration step (a pre-rollout gate before expand, a gate step before
/// contract), it passes at once when no pending migration of its phases is destructive,
/// and otherwise takes a `pg_dump` backup and passes only when the backup is written.
///
/// Every check that finds destructive migrations takes a new backup (a resumed rollout
/// checks again, and gets a fresh one): keep the backup directory on a rotation.
#[derive(Debug)]
pub struct BackupGate {
    name: String,
    migrator: Arc<PgDirMigrator>,
    phases: Vec<MigrationPhase>,
    dump: PgDump,
    last: Mutex<Option<PathBuf>>,
}

impl BackupGate {
    /// A gate named `name` backing up with `dump` before the destructive pending
    /// migrations of `migrator` in `phases`.
    pub fn new(
        name: impl Into<String>,
        migrator: Arc<PgDirMigrator>,
        phases: &[MigrationPhase],
        dump: PgDump,
    ) -> Self {
        BackupGate {
            name: name.into(),
            migrator,
            phases: phases.to_vec(),
            dump,
            last: Mutex::new(None),
        }
    }

    /// The backup the last check took, if it took one.
    pub fn last_backup(&self) -> Option<PathBuf> {
        self.last.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    async fn destructive(
        &self,
    ) -> Result<Vec<DestructiveMigration>, shipcore::migrate::MigrateError> {
        let mut out = Vec::new();
        for p in &self.phases {
            out.extend(self.migrator.destructive(*p).await?);
        }
        Ok(out)
    }
}

fn describe(found: &[DestructiveMigration]) -> String {
    found
        .iter()
        .flat_map(|d| {
            d.findings
                .iter()
                .map(|f| format!("{}:{} {}", f.file, f.line, f.rule))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

#[async_trait]
impl Gate for BackupGate {
    fn name(&self) -> &str {
        &self.name
    }

    async fn check(&self, _ctx: &GateContext) -> GateOutcome {
        let found = match self.destructive().await {
            Ok(f) => f,
            Err(e) if e.is_transient() => {
                return GateOutcome::wait(
                    Duration::from_secs(15),
                    format!("cannot list the pending migrations yet: {e}"),
                )
            }
            Err(e) => {
                return GateOutcome::block(format!("cannot list the pending migrations: {e}"))
            }
        };
        *self.last.lock().unwrap_or_else(|e| e.into_inner()) = None;
        if found.is_empty() {
            return GateOutcome::Pass;
        }
        let what = describe(&found);
        match self.dump.backup().await {
            Ok(b) => {
                tracing::info!(gate = %self.name, path = %b.path.display(), destructive = %what,
                    "backup taken before destructive migrations");
                *self.last.lock().unwrap_or_else(|e| e.into_inner()) = Some(b.path);
                GateOutcome::Pass
            }
            Err(e) => GateOutcome::block(format!(
                "destructive migrations pending ({what}) and the backup before them failed: {e}"
            )),
        }
    }
}
