//! Which migrations destroy data ([`DESTRUCTIVE_RULES`](crate::lint::DESTRUCTIVE_RULES):
//! a dropped column or table, a type change...), so that the engine requires a fresh
//! backup (the file-age gate) or takes one ([`PgDump`](crate::PgDump)) before them.

use crate::dir_migrator::PgDirMigrator;
use crate::layout::MigrationFile;
use crate::lint::{lint_file, Finding, RuleSet, DESTRUCTIVE_RULES};
use shipcore::migrate::{MigrateError, Migration, MigrationPhase};

/// A migration squawk marks destructive, with what it found.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DestructiveMigration {
    /// The migration.
    pub migration: Migration,
    /// The destructive statements in it.
    pub findings: Vec<Finding>,
}

/// The files among `files` that squawk marks destructive, in order.
pub fn destructive(files: &[MigrationFile]) -> Vec<DestructiveMigration> {
    let rules = match RuleSet::only(DESTRUCTIVE_RULES) {
        Ok(r) => r,
        // The names are squawk's own and tested; an empty set would hide nothing silently
        // because the test below would fail first.
        Err(_) => return Vec::new(),
    };
    files
        .iter()
        .filter_map(|f| {
            let findings: Vec<Finding> = lint_file(f, &rules)
                .into_iter()
                .filter(|x| x.rule != "syntax-error")
                .collect();
            (!findings.is_empty()).then(|| DestructiveMigration {
                migration: f.migration(),
                findings,
            })
        })
        .collect()
}

impl PgDirMigrator {
    /// The pending migrations of `phase` that squawk marks destructive: take a backup
    /// before applying the phase when this is not empty.
    pub async fn destructive(
        &self,
        phase: MigrationPhase,
    ) -> Result<Vec<DestructiveMigration>, MigrateError> {
        Ok(destructive(&self.pending_files(phase).await?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::scan_all;

    #[test]
    fn drops_and_type_changes_are_destructive_additions_are_not() {
        assert!(RuleSet::only(DESTRUCTIVE_RULES).is_ok());
        let d = tempfile::tempdir().unwrap();
        let e = d.path().join("expand");
        std::fs::create_dir(&e).unwrap();
        std::fs::write(e.join("1_add.sql"), "ALTER TABLE t ADD COLUMN b text;").unwrap();
        std::fs::write(
            e.join("2_type.sql"),
            "ALTER TABLE t ALTER COLUMN a TYPE bigint;",
        )
        .unwrap();
        std::fs::write(e.join("3_drop.sql"), "SELECT 1;\nDROP TABLE old_t;").unwrap();
        let found = destructive(&scan_all(d.path()).unwrap());
        let ids: Vec<_> = found.iter().map(|x| x.migration.id.as_str()).collect();
        assert_eq!(ids, ["2_type", "3_drop"]);
        assert_eq!(found[0].findings[0].rule, "changing-column-type");
        assert_eq!(found[1].findings[0].rule, "ban-drop-table");
        assert_eq!(found[1].findings[0].line, 2);
    }
}
