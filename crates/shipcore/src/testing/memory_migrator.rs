//! An in-memory [`Migrator`] for tests: scripted migrations that apply, fail or fail to
//! connect, with every apply counted, so a test can check that nothing ran twice.

use crate::migrate::{
    AppliedMigration, MigrateError, MigrateErrorKind, Migration, MigrationOutcome, MigrationPhase,
    Migrator, PhaseReport,
};
use async_trait::async_trait;
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

/// What a scripted migration does when applied.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Script {
    /// It applies.
    Applies,
    /// It fails with this message; nothing of it is applied.
    Fails(String),
}

#[derive(Debug, Default)]
struct State {
    migrations: Vec<(Migration, Script)>,
    applied: Vec<String>,
    runs: BTreeMap<String, u32>,
    unreachable: u32,
}

/// Migrations in memory, applied in the order they were added, each at most once.
///
/// ```
/// use shipcore::migrate::{MigrationPhase, Migrator};
/// use shipcore::testing::MemoryMigrator;
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let db = MemoryMigrator::new("db")
///     .migration("0001_add_email", MigrationPhase::Expand)
///     .failing("0002_bad", MigrationPhase::Contract, "column \"x\" does not exist");
/// let report = db.apply(MigrationPhase::Expand).await.unwrap();
/// assert!(report.succeeded());
/// assert!(db.apply(MigrationPhase::Expand).await.unwrap().migrations.is_empty());
/// assert!(!db.apply(MigrationPhase::Contract).await.unwrap().succeeded());
/// assert_eq!(db.applied().await.unwrap(), ["0001_add_email"]);
/// # });
/// ```
#[derive(Debug)]
pub struct MemoryMigrator {
    name: String,
    took: Duration,
    state: Mutex<State>,
}

impl MemoryMigrator {
    /// A migrator named `name` with no migrations.
    pub fn new(name: impl Into<String>) -> Self {
        MemoryMigrator {
            name: name.into(),
            took: Duration::from_millis(10),
            state: Mutex::new(State::default()),
        }
    }

    /// Adds a migration of `phase` that applies.
    #[must_use]
    pub fn migration(self, id: &str, phase: MigrationPhase) -> Self {
        self.push(Migration::new(id, phase), Script::Applies)
    }

    /// Adds a migration of `phase` that fails with `error`.
    #[must_use]
    pub fn failing(self, id: &str, phase: MigrationPhase, error: &str) -> Self {
        self.push(Migration::new(id, phase), Script::Fails(error.into()))
    }

    /// The next `n` calls fail as a database that cannot be reached would (transient).
    pub fn unreachable_for(&self, n: u32) {
        self.lock().unreachable = n;
    }

    /// How many times migration `id` was run (applied or failed).
    pub fn runs_of(&self, id: &str) -> u32 {
        self.lock().runs.get(id).copied().unwrap_or(0)
    }

    /// Whether migration `id` is applied.
    pub fn is_applied(&self, id: &str) -> bool {
        self.lock().applied.iter().any(|a| a == id)
    }

    fn push(self, m: Migration, script: Script) -> Self {
        self.lock().migrations.push((m, script));
        self
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave State half-changed in a way that
        // matters to a test: take it anyway.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn reachable(&self, what: &str) -> Result<(), MigrateError> {
        let mut s = self.lock();
        if s.unreachable > 0 {
            s.unreachable -= 1;
            return Err(MigrateError::new(
                MigrateErrorKind::Transient,
                what,
                "connection refused (simulated)",
            ));
        }
        Ok(())
    }
}

#[async_trait]
impl Migrator for MemoryMigrator {
    fn name(&self) -> &str {
        &self.name
    }

    async fn pending(&self, phase: MigrationPhase) -> Result<Vec<Migration>, MigrateError> {
        self.reachable("pending")?;
        let s = self.lock();
        Ok(s.migrations
            .iter()
            .filter(|(m, _)| m.phase == phase && !s.applied.contains(&m.id))
            .map(|(m, _)| m.clone())
            .collect())
    }

    async fn apply(&self, phase: MigrationPhase) -> Result<PhaseReport, MigrateError> {
        self.reachable("apply")?;
        let mut s = self.lock();
        let mut report = PhaseReport::default();
        let todo: Vec<(Migration, Script)> = s
            .migrations
            .iter()
            .filter(|(m, _)| m.phase == phase && !s.applied.contains(&m.id))
            .cloned()
            .collect();
        for (m, script) in todo {
            *s.runs.entry(m.id.clone()).or_default() += 1;
            let outcome = match script {
                Script::Applies => {
                    s.applied.push(m.id.clone());
                    MigrationOutcome::Applied
                }
                Script::Fails(error) => MigrationOutcome::Failed { error },
            };
            let failed = matches!(outcome, MigrationOutcome::Failed { .. });
            report.migrations.push(AppliedMigration {
                id: m.id,
                phase,
                duration: self.took,
                outcome,
            });
            if failed {
                break;
            }
        }
        Ok(report)
    }

    async fn applied(&self) -> Result<Vec<String>, MigrateError> {
        self.reachable("applied")?;
        Ok(self.lock().applied.clone())
    }
}
