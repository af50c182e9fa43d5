//! The pg_dump backup helper with the real pg_dump ($SHIPCORE_PG_BIN/pg_dump) against a real
//! PostgreSQL: a complete, restorable dump named by time; clear errors when pg_dump is
//! missing or the database is unreachable. Skips without SHIPCORE_PG_URL unless
//! SHIPCORE_E2E=1.
#![allow(clippy::unwrap_used)]

mod common;

use common::test_db;
use shipcore_migrate_postgres::{BackupErrorKind, PgDumpConfig};
use std::path::PathBuf;

fn pg_bin(tool: &str) -> PathBuf {
    let dir =
        std::env::var("SHIPCORE_PG_BIN").unwrap_or_else(|_| "/usr/lib/postgresql/15/bin".into());
    PathBuf::from(dir).join(tool)
}

#[tokio::test]
async fn takes_a_restorable_dump_named_by_time() {
    let Some(db) = test_db().await else { return };
    db.client()
        .await
        .batch_execute("CREATE TABLE kept (v text); INSERT INTO kept VALUES ('precious');")
        .await
        .unwrap();
    let out = tempfile::tempdir().unwrap();
    let dump = PgDumpConfig::new(&db.url, out.path().join("backups"))
        .pg_dump(pg_bin("pg_dump"))
        .build()
        .unwrap();
    let b = dump.backup().await.unwrap();
    let name = b.path.file_name().unwrap().to_string_lossy().into_owned();
    assert!(
        name.starts_with("mig_") && name.ends_with("Z.dump"),
        "{name}"
    );
    assert!(b.bytes > 0);
    // Only the finished file is there (no .partial left).
    let files: Vec<_> = std::fs::read_dir(out.path().join("backups"))
        .unwrap()
        .collect();
    assert_eq!(files.len(), 1);

    // It is a real dump: pg_restore lists the table and its data.
    let listing = std::process::Command::new(pg_bin("pg_restore"))
        .arg("--list")
        .arg(&b.path)
        .output()
        .unwrap();
    assert!(listing.status.success());
    let text = String::from_utf8_lossy(&listing.stdout);
    assert!(
        text.contains("TABLE public kept") && text.contains("TABLE DATA public kept"),
        "{text}"
    );

    // A second backup gets its own file.
    let b2 = dump.backup().await.unwrap();
    assert_ne!(b.path, b2.path);
}

#[tokio::test]
async fn a_missing_pg_dump_is_a_config_error() {
    let out = tempfile::tempdir().unwrap();
    let dump = PgDumpConfig::new("postgres://u@127.0.0.1:1/db", out.path())
        .pg_dump("/nonexistent/pg_dump")
        .build()
        .unwrap();
    let e = dump.backup().await.unwrap_err();
    assert_eq!(e.kind, BackupErrorKind::Config);
    assert!(e.message.contains("/nonexistent/pg_dump"), "{e}");
}

#[tokio::test]
async fn an_unreachable_database_fails_with_pg_dumps_words_and_leaves_no_file() {
    let bin = pg_bin("pg_dump");
    if !bin.exists() {
        if common::e2e_required() {
            panic!("SHIPCORE_E2E=1 but {} does not exist", bin.display());
        }
        eprintln!("SKIP: no pg_dump at {}", bin.display());
        return;
    }
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let out = tempfile::tempdir().unwrap();
    let dump = PgDumpConfig::new(
        format!("postgres://u:hunter2@127.0.0.1:{port}/db"),
        out.path(),
    )
    .pg_dump(bin)
    .build()
    .unwrap();
    let e = dump.backup().await.unwrap_err();
    assert_eq!(e.kind, BackupErrorKind::Failed);
    assert!(e.message.contains("pg_dump exited with"), "{e}");
    assert!(e.message.contains(&port.to_string()), "{e}");
    assert!(!e.message.contains("hunter2"), "{e}");
    assert_eq!(std::fs::read_dir(out.path()).unwrap().count(), 0);
}

fn ctx() -> shipcore::gate::GateContext {
    shipcore::gate::GateContext {
        rollout_id: "r1".into(),
        target: shipcore::model::Target::new("web", "production"),
        candidate: shipcore::model::Revision::new("web-v2", "2.0.0".parse().unwrap(), "web:2.0.0"),
        stable: None,
        now: shipcore::time::Timestamp(0),
        approvals: vec![],
        waiting_since: None,
    }
}

#[tokio::test]
async fn the_backup_gate_takes_a_dump_only_before_destructive_migrations() {
    use shipcore::gate::{Gate, GateOutcome};
    use shipcore::migrate::{MigrationPhase, Migrator};
    use shipcore_migrate_postgres::{BackupGate, PgDirConfig};
    use std::sync::Arc;
    let Some(db) = test_db().await else { return };
    let dir = tempfile::tempdir().unwrap();
    common::write_files(
        dir.path(),
        &[
            (
                "expand/1_users.sql",
                "CREATE TABLE users (id bigint, name text);",
            ),
            (
                "contract/2_drop.sql",
                "-- the old column\nALTER TABLE users DROP COLUMN name;",
            ),
        ],
    );
    let m = Arc::new(PgDirConfig::new(&db.url, dir.path()).build().unwrap());
    let out = tempfile::tempdir().unwrap();
    let dump = PgDumpConfig::new(&db.url, out.path()).pg_dump(pg_bin("pg_dump"));
    let phases = [MigrationPhase::Expand, MigrationPhase::Contract];
    let gate = BackupGate::new("backup", m.clone(), &phases, dump.build().unwrap());
    assert_eq!(gate.check(&ctx()).await, GateOutcome::Pass);
    let taken = gate.last_backup().expect("a backup before the drop");
    assert!(taken.exists());

    // Nothing destructive pending: no backup.
    let expand_only = BackupGate::new(
        "b",
        m.clone(),
        &[MigrationPhase::Expand],
        dump.build().unwrap(),
    );
    assert_eq!(expand_only.check(&ctx()).await, GateOutcome::Pass);
    assert_eq!(expand_only.last_backup(), None);

    // A backup that fails blocks, naming the destructive file.
    let broken = BackupGate::new(
        "b",
        m.clone(),
        &phases,
        dump.clone()
            .pg_dump("/nonexistent/pg_dump")
            .build()
            .unwrap(),
    );
    let GateOutcome::Block { reason } = broken.check(&ctx()).await else {
        panic!("must block")
    };
    assert!(
        reason.contains("contract/2_drop.sql:2 ban-drop-column"),
        "{reason}"
    );
    assert!(reason.contains("/nonexistent/pg_dump"), "{reason}");

    // Once the contract ran, nothing destructive is pending.
    m.apply(MigrationPhase::Expand).await.unwrap();
    m.apply(MigrationPhase::Contract).await.unwrap();
    assert_eq!(broken.check(&ctx()).await, GateOutcome::Pass);
}
