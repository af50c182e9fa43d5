//! The schema migrations a rollout applied, as its deployment record lists them: from every
//! attempt, since a schema change stays applied whatever happens to the code afterwards.

use crate::engine::{Event, EventKind};
use crate::migrate::{MigrationOutcome, MigrationPhase};
use crate::time::format_duration;
use serde::{Deserialize, Serialize};

/// One migration a rollout ran.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct MigrationRecord {
    /// The migration's id.
    pub id: String,
    /// The migrator that ran it.
    pub migrator: String,
    /// Expand or contract.
    pub phase: MigrationPhase,
    /// How long it ran (`"1.2s"`).
    pub duration: String,
    /// `duration` in milliseconds.
    pub duration_ms: u64,
    /// `applied` or `failed`.
    pub outcome: String,
    /// The failure, for a failed one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl MigrationRecord {
    /// Whether it was applied (and so is not undone by a rollback of the code).
    pub fn applied(&self) -> bool {
        self.outcome == "applied"
    }
}

/// Every migration the events say was run, in order.
pub(crate) fn migrations_of(events: &[Event]) -> Vec<MigrationRecord> {
    let mut out = Vec::new();
    for e in events {
        let EventKind::Migrated(run) = &e.kind else {
            continue;
        };
        for m in &run.migrations {
            let (outcome, error) = match &m.outcome {
                MigrationOutcome::Applied => ("applied", None),
                MigrationOutcome::Failed { error } => ("failed", Some(error.clone())),
            };
            out.push(MigrationRecord {
                id: m.id.clone(),
                migrator: run.migrator.clone(),
                phase: m.phase,
                duration: format_duration(m.duration),
                duration_ms: m.duration.as_millis() as u64,
                outcome: outcome.to_string(),
                error,
            });
        }
    }
    out
}

/// The report's `## Migrations` section (empty when none ran).
pub(crate) fn migrations_markdown(migrations: &[MigrationRecord]) -> String {
    use std::fmt::Write;
    if migrations.is_empty() {
        return String::new();
    }
    let mut out = String::from(
        "\n## Migrations\n\n| Migration | Migrator | Phase | Took | Outcome |\n|---|---|---|---|---|\n",
    );
    for m in migrations {
        let outcome = match &m.error {
            Some(e) => format!("failed: {}", super::md_cell(e)),
            None => m.outcome.clone(),
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {outcome} |",
            super::md_cell(&m.id),
            super::md_cell(&m.migrator),
            m.phase,
            m.duration
        );
    }
    if migrations.iter().any(MigrationRecord::applied) {
        out += "\nApplied migrations are not undone by a rollback: the schema stays as they left it.\n";
    }
    out
}
