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
