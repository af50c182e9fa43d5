//! The migration lint gate with the real squawk linter: each unsafe pattern is blocked
//! naming file, line and rule; an allowed rule passes; safe files pass. The last test lints
//! only what a real PostgreSQL has not applied yet (skips without SHIPCORE_PG_URL unless
//! SHIPCORE_E2E=1).
#![allow(clippy::unwrap_used)]

mod common;

use common::{test_db, write_files};
use shipcore::gate::{Gate, GateContext, GateOutcome};
use shipcore::migrate::{MigrationPhase, Migrator};
use shipcore::model::{Revision, Target};
use shipcore::time::Timestamp;
use shipcore_migrate_postgres::{LintConfig, MigrationLintGate, PgDirConfig};
use std::sync::Arc;

fn ctx() -> GateContext {
    GateContext {
        rollout_id: "r1".into(),
        target: Target::new("web", "production"),
        candidate: Revision::new("web-v2", "2.0.0".parse().unwrap(), "web:2.0.0"),
        stable: None,
        now: Timestamp(0),
        approvals: vec![],
        waiting_since: None,
    }
}

/// The unsafe patterns of the deploy procedure, each with the squawk rule that must
/// catch it. The statement is on line 2 of its file (a comment comes first).
const UNSAFE: &[(&str, &str)] = &[
    ("ALTER TABLE users DROP COLUMN name;", "ban-drop-column"),
    ("ALTER TABLE users RENAME COLUMN name TO full_name;", "renaming-column"),
    ("ALTER TABLE users RENAME TO people;", "renaming-table"),
    ("ALTER TABLE users ALTER COLUMN id TYPE bigint;", "changing-column-type"),
    ("ALTER TABLE users ADD COLUMN age bigint NOT NULL;", "adding-required-field"),
    ("ALTER TABLE users ALTER COLUMN email SET NOT NULL;", "adding-not-nullable-field"),
    ("CREATE INDEX users_email ON users (email);", "require-concurrent-index-creation"),
    ("DROP INDEX users_email;", "require-concurrent-index-deletion"),
    (
        "ALTER TABLE orders ADD CONSTRAINT orders_user_fk FOREIGN KEY (user_id) REFERENCES users (id);",
        "adding-foreign-key-constraint",
    ),
    (
        "ALTER TABLE users ADD CONSTRAINT age_positive CHECK (age > 0);",
        "constraint-missing-not-valid",
    ),
    (
        "ALTER TABLE users ADD CONSTRAINT email_unique UNIQUE (email);",
        "disallowed-unique-constraint",
    ),
    ("DROP TABLE legacy;", "ban-drop-table"),
    (
        "CREATE INDEX CONCURRENTLY users_email ON users (email);",
        "ban-concurrent-index-creation-in-transaction",
    ),
];

fn gate_for(
    sql: &str,
    cfg: impl FnOnce(LintConfig) -> LintConfig,
) -> (tempfile::TempDir, MigrationLintGate) {
    let dir = tempfile::tempdir().unwrap();
    write_files(
        dir.path(),
        &[("expand/0001_change.sql", &format!("-- the change\n{sql}\n"))],
    );
    let gate = cfg(LintConfig::new(dir.path())).build().unwrap();
    (dir, gate)
}

#[tokio::test]
async fn every_unsafe_pattern_is_blocked_naming_file_line_and_rule() {
    for (sql, rule) in UNSAFE {
        let (_dir, gate) = gate_for(sql, |c| c);
        let outcome = gate.check(&ctx()).await;
        let GateOutcome::Block { reason } = &outcome else {
            panic!("{sql} was not blocked: {outcome:?}")
        };
        let expected = format!("expand/0001_change.sql:2: {rule}: ");
        assert!(
            reason.contains(&expected),
            "{sql}: expected {expected} in\n{reason}"
        );
    }
}

#[tokio::test]
async fn an_allowed_rule_passes() {
    for (sql, rule) in UNSAFE {
        let (_dir, gate) = gate_for(sql, |c| c.allow(*rule));
        let findings = gate.findings().await.unwrap();
        assert!(
            findings.iter().all(|f| f.rule != *rule),
            "{rule} allowed but still reported: {findings:?}"
        );
    }
    // A file whose only problem is the allowed rule passes the gate.
    let (_dir, gate) = gate_for("ALTER TABLE users DROP COLUMN name;", |c| {
        c.allow("ban-drop-column")
    });
    assert_eq!(gate.check(&ctx()).await, GateOutcome::Pass);
}

#[tokio::test]
async fn safe_migrations_pass() {
    let dir = tempfile::tempdir().unwrap();
    write_files(
        dir.path(),
        &[
            ("expand/0001_table.sql", "CREATE TABLE accounts (id bigint PRIMARY KEY, name text);"),
            ("expand/0002_nullable.sql", "ALTER TABLE accounts ADD COLUMN email text;"),
            (
                "expand/0003_index.sql",
                "-- shipcore: no-transaction\nCREATE INDEX CONCURRENTLY IF NOT EXISTS accounts_email ON accounts (email);\n",
            ),
            (
                "expand/0004_fk.sql",
                "ALTER TABLE accounts ADD CONSTRAINT accounts_self_fk FOREIGN KEY (id) REFERENCES accounts (id) NOT VALID;",
            ),
            ("expand/0005_backfill.sql", "UPDATE accounts SET email = name || '@example.invalid' WHERE email IS NULL;"),
        ],
    );
    let gate = LintConfig::new(dir.path()).build().unwrap();
    assert_eq!(gate.findings().await.unwrap(), vec![]);
    assert_eq!(gate.check(&ctx()).await, GateOutcome::Pass);
}

#[tokio::test]
async fn unknown_rules_and_bad_values_name_their_field() {
    let e = LintConfig::new("m")
        .allow("ban-everything")
        .build()
        .unwrap_err();
    assert_eq!(e.field, "allow[0]");
    let mut c = LintConfig::new("m");
    c.include = vec!["require-lock-timeout".into(), "nope".into()];
    assert_eq!(c.build().unwrap_err().field, "include[1]");
    let e = serde_json::from_str::<LintConfig>(r#"{"dir": "m", "allowed": []}"#).unwrap_err();
    assert!(e.to_string().contains("allowed"), "{e}");
}

#[tokio::test]
async fn a_file_that_does_not_parse_blocks() {
    let (_dir, gate) = gate_for("ALTER TABLE users ADD COLUMN (;", |c| c);
    let GateOutcome::Block { reason } = gate.check(&ctx()).await else {
        panic!()
    };
    assert!(
        reason.contains("expand/0001_change.sql:2: syntax-error"),
        "{reason}"
    );
}

#[tokio::test]
async fn only_pending_files_are_linted_when_built_on_a_migrator() {
    let Some(db) = test_db().await else { return };
    let dir = tempfile::tempdir().unwrap();
    write_files(
        dir.path(),
        &[
            (
                "expand/1_users.sql",
                "CREATE TABLE users (id bigint, name text);",
            ),
            ("contract/2_drop.sql", "ALTER TABLE users DROP COLUMN name;"),
        ],
    );
    let m = Arc::new(PgDirConfig::new(&db.url, dir.path()).build().unwrap());
    let pending_gate =
        MigrationLintGate::for_pending(&LintConfig::new(dir.path()), m.clone()).unwrap();
    let GateOutcome::Block { reason } = pending_gate.check(&ctx()).await else {
        panic!("the pending drop must block")
    };
    assert!(
        reason.contains("contract/2_drop.sql:1: ban-drop-column"),
        "{reason}"
    );

    // Once applied (a later rollout), the drop is no longer this rollout's business.
    m.apply(MigrationPhase::Expand).await.unwrap();
    m.apply(MigrationPhase::Contract).await.unwrap();
    assert_eq!(pending_gate.check(&ctx()).await, GateOutcome::Pass);
    // The directory gate still sees it.
    let dir_gate = LintConfig::new(dir.path()).build().unwrap();
    assert!(matches!(
        dir_gate.check(&ctx()).await,
        GateOutcome::Block { .. }
    ));
}
