//! The directory migrator against a real PostgreSQL (a database of its own per test):
//! order, idempotent second apply, a failing file leaves nothing, concurrent appliers
//! apply once, `no-transaction` files for `CREATE INDEX CONCURRENTLY`, lock timeout.
//! Skips without SHIPCORE_PG_URL unless SHIPCORE_E2E=1.
#![allow(clippy::unwrap_used)]

mod common;

use common::{test_db, write_files};
use shipcore::migrate::{MigrateErrorKind, MigrationOutcome, MigrationPhase, Migrator};
use shipcore_migrate_postgres::{PgDirConfig, PgDirMigrator};
use std::time::Duration;

fn migrator(url: &str, dir: &std::path::Path) -> PgDirMigrator {
    PgDirConfig::new(url, dir).build().unwrap()
}

fn ids(r: &shipcore::migrate::PhaseReport) -> Vec<&str> {
    r.migrations.iter().map(|m| m.id.as_str()).collect()
}

#[tokio::test]
async fn applies_in_order_once_and_records_every_id() {
    let Some(db) = test_db().await else { return };
    let dir = tempfile::tempdir().unwrap();
    write_files(
        dir.path(),
        &[
            (
                "expand/1_users.sql",
                "CREATE TABLE users (id bigint PRIMARY KEY, name text);",
            ),
            // 10 sorts after 2 (numeric order): it needs the column 2 adds.
            (
                "expand/10_seed.sql",
                "INSERT INTO users (id, name, email) VALUES (1, 'a', 'a@x');",
            ),
            (
                "expand/2_email.sql",
                "ALTER TABLE users ADD COLUMN email text;",
            ),
            (
                "contract/20_drop_name.sql",
                "ALTER TABLE users DROP COLUMN name;",
            ),
        ],
    );
    let m = migrator(&db.url, dir.path());
    let pending: Vec<_> = m
        .pending(MigrationPhase::Expand)
        .await
        .unwrap()
        .into_iter()
        .map(|p| (p.id, p.file))
        .collect();
    assert_eq!(
        pending,
        [
            (
                "1_users".to_string(),
                Some("expand/1_users.sql".to_string())
            ),
            (
                "2_email".to_string(),
                Some("expand/2_email.sql".to_string())
            ),
            (
                "10_seed".to_string(),
                Some("expand/10_seed.sql".to_string())
            ),
        ]
    );
    let r = m.apply(MigrationPhase::Expand).await.unwrap();
    assert!(r.succeeded(), "{r:?}");
    assert_eq!(ids(&r), ["1_users", "2_email", "10_seed"]);
    assert!(r
        .migrations
        .iter()
        .all(|x| x.phase == MigrationPhase::Expand));
    assert_eq!(
        m.applied().await.unwrap(),
        ["1_users", "2_email", "10_seed"]
    );

    // Second apply: nothing to do, nothing run again (the INSERT would fail on its key).
    let again = m.apply(MigrationPhase::Expand).await.unwrap();
    assert!(again.migrations.is_empty(), "{again:?}");
    assert!(m.pending(MigrationPhase::Expand).await.unwrap().is_empty());

    // Contract runs separately, later.
    assert!(db.has_column("users", "name").await);
    let c = m.apply(MigrationPhase::Contract).await.unwrap();
    assert_eq!(ids(&c), ["20_drop_name"]);
    assert!(!db.has_column("users", "name").await);
    assert_eq!(
        m.applied().await.unwrap(),
        ["1_users", "2_email", "10_seed", "20_drop_name"]
    );
    // The record row says which phase and checksum.
    let row = db
        .client()
        .await
        .query_one(
            "SELECT phase, no_transaction FROM shipcore_migrations WHERE id = '20_drop_name'",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "contract");
    assert!(!row.get::<_, bool>(1));
}

#[tokio::test]
async fn a_failing_file_leaves_nothing_and_stops_the_phase() {
    let Some(db) = test_db().await else { return };
    let dir = tempfile::tempdir().unwrap();
    write_files(
        dir.path(),
        &[
            ("expand/1_t.sql", "CREATE TABLE t (a int);"),
            (
                "expand/2_bad.sql",
                "ALTER TABLE t ADD COLUMN c text;\nCREATE TABLE t2 (x int);\nSELECT no_such_column FROM t;\n",
            ),
            ("expand/3_after.sql", "CREATE TABLE t3 (x int);"),
        ],
    );
    let m = migrator(&db.url, dir.path());
    let r = m.apply(MigrationPhase::Expand).await.unwrap();
    assert!(!r.succeeded());
    assert_eq!(ids(&r), ["1_t", "2_bad"], "stops at the failure");
    let MigrationOutcome::Failed { error } = &r.migrations[1].outcome else {
        panic!("{r:?}")
    };
    assert!(error.starts_with("line 3: "), "{error}");
    assert!(error.contains("no_such_column"), "{error}");
    // Nothing of the failed file is left, and it is not recorded.
    assert!(!db.has_column("t", "c").await);
    assert!(!db.has_table("t2").await);
    assert!(!db.has_table("t3").await);
    assert_eq!(m.applied().await.unwrap(), ["1_t"]);

    // Fixed, it applies on the next run, with what came after it.
    std::fs::write(
        dir.path().join("expand/2_bad.sql"),
        "ALTER TABLE t ADD COLUMN c text;\nCREATE TABLE t2 (x int);\n",
    )
    .unwrap();
    let r = m.apply(MigrationPhase::Expand).await.unwrap();
    assert!(r.succeeded(), "{r:?}");
    assert_eq!(ids(&r), ["2_bad", "3_after"]);
    assert!(db.has_column("t", "c").await);
}

#[tokio::test]
async fn concurrent_appliers_apply_each_file_once() {
    let Some(db) = test_db().await else { return };
    let dir = tempfile::tempdir().unwrap();
    write_files(
        dir.path(),
        &[
            (
                "expand/1_slow.sql",
                "CREATE TABLE c (v int);\nSELECT pg_sleep(0.5);\nINSERT INTO c VALUES (1);",
            ),
            ("expand/2_more.sql", "INSERT INTO c VALUES (2);"),
        ],
    );
    // Two migrators, as two engines would have.
    let a = migrator(&db.url, dir.path());
    let b = migrator(&db.url, dir.path());
    let (ra, rb) = tokio::join!(
        a.apply(MigrationPhase::Expand),
        b.apply(MigrationPhase::Expand)
    );
    let (ra, rb) = (ra.unwrap(), rb.unwrap());
    assert!(ra.succeeded() && rb.succeeded(), "{ra:?} {rb:?}");
    let mut all: Vec<&str> = ids(&ra).into_iter().chain(ids(&rb)).collect();
    all.sort_unstable();
    assert_eq!(all, ["1_slow", "2_more"], "each applied by exactly one");
    let n: i64 = db
        .client()
        .await
        .query_one("SELECT count(*) FROM c", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 2);
}

#[tokio::test]
async fn a_second_applier_gives_up_after_the_lock_timeout_with_a_transient_error() {
    let Some(db) = test_db().await else { return };
    let dir = tempfile::tempdir().unwrap();
    write_files(dir.path(), &[("expand/1_slow.sql", "SELECT pg_sleep(2);")]);
    let a = migrator(&db.url, dir.path());
    let b = PgDirConfig::new(&db.url, dir.path())
        .lock_timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let slow = tokio::spawn(async move { a.apply(MigrationPhase::Expand).await });
    tokio::time::sleep(Duration::from_millis(400)).await;
    let err = b.apply(MigrationPhase::Expand).await.unwrap_err();
    assert_eq!(err.kind, MigrateErrorKind::Transient, "{err}");
    assert!(err.message.contains("migration lock"), "{err}");
    let r = slow.await.unwrap().unwrap();
    assert_eq!(ids(&r), ["1_slow"]);
}

#[tokio::test]
async fn concurrent_index_runs_outside_a_transaction_when_marked() {
    let Some(db) = test_db().await else { return };
    let dir = tempfile::tempdir().unwrap();
    write_files(
        dir.path(),
        &[
            (
                "expand/1_users.sql",
                "CREATE TABLE users (id bigint, email text);",
            ),
            (
                "expand/2_index.sql",
                "-- shipcore: no-transaction\n\
                 CREATE INDEX CONCURRENTLY IF NOT EXISTS users_email ON users (email);\n",
            ),
            (
                "expand/3_unmarked.sql",
                "\nCREATE INDEX CONCURRENTLY users_id ON users (id);\n",
            ),
        ],
    );
    let m = migrator(&db.url, dir.path());
    let r = m.apply(MigrationPhase::Expand).await.unwrap();
    assert_eq!(ids(&r), ["1_users", "2_index", "3_unmarked"]);
    assert_eq!(r.migrations[1].outcome, MigrationOutcome::Applied);
    let MigrationOutcome::Failed { error } = &r.migrations[2].outcome else {
        panic!("{r:?}")
    };
    assert!(error.contains("shipcore: no-transaction"), "{error}");
    let valid: bool = db
        .client()
        .await
        .query_one(
            "SELECT indisvalid FROM pg_index WHERE indexrelid = 'users_email'::regclass",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(valid);
    let row = db
        .client()
        .await
        .query_one(
            "SELECT no_transaction FROM shipcore_migrations WHERE id = '2_index'",
            &[],
        )
        .await
        .unwrap();
    assert!(row.get::<_, bool>(0));
}

#[tokio::test]
async fn a_failure_in_a_no_transaction_file_says_what_stays_applied() {
    let Some(db) = test_db().await else { return };
    let dir = tempfile::tempdir().unwrap();
    write_files(
        dir.path(),
        &[(
            "expand/1_two.sql",
            "-- shipcore: no-transaction\nCREATE TABLE a (x int);\nCREATE TABLE a (x int);\n",
        )],
    );
    let m = migrator(&db.url, dir.path());
    let r = m.apply(MigrationPhase::Expand).await.unwrap();
    let MigrationOutcome::Failed { error } = &r.migrations[0].outcome else {
        panic!("{r:?}")
    };
    assert!(error.contains("statement 2 of 2"), "{error}");
    assert!(error.contains("outside a transaction"), "{error}");
    assert!(db.has_table("a").await, "the first statement stays");
    assert!(
        m.applied().await.unwrap().is_empty(),
        "the file is not recorded"
    );
}

#[tokio::test]
async fn schema_qualified_table_is_created() {
    let Some(db) = test_db().await else { return };
    let dir = tempfile::tempdir().unwrap();
    write_files(dir.path(), &[("expand/1_t.sql", "CREATE TABLE t (a int);")]);
    let m = PgDirConfig::new(&db.url, dir.path())
        .table("ops.applied")
        .build()
        .unwrap();
    m.apply(MigrationPhase::Expand).await.unwrap();
    assert!(db.has_table("ops.applied").await);
    assert_eq!(m.applied().await.unwrap(), ["1_t"]);
}

#[tokio::test]
async fn an_unreachable_database_is_a_transient_error() {
    // Needs no cluster: a port nothing listens on.
    let dir = tempfile::tempdir().unwrap();
    write_files(dir.path(), &[("expand/1_t.sql", "SELECT 1;")]);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let m = migrator(
        &format!("postgres://u:secret@127.0.0.1:{port}/db"),
        dir.path(),
    );
    let err = m.apply(MigrationPhase::Expand).await.unwrap_err();
    assert_eq!(err.kind, MigrateErrorKind::Transient, "{err}");
    assert!(!err.to_string().contains("secret"), "{err}");
}

#[tokio::test]
async fn a_bad_directory_is_a_config_error() {
    let dir = tempfile::tempdir().unwrap();
    write_files(dir.path(), &[("expand/oops.sql", "SELECT 1;")]);
    let m = migrator("postgres://u@127.0.0.1:1/db", dir.path());
    let err = m.apply(MigrationPhase::Expand).await.unwrap_err();
    assert_eq!(err.kind, MigrateErrorKind::Config);
    assert_eq!(err.migration, "expand/oops.sql");
}

/// The applier killed by the next test: runs only when that test starts this binary with
/// `SHIPCORE_MIG_CHILD_URL` and `SHIPCORE_MIG_CHILD_DIR` set; passes at once otherwise.
#[tokio::test]
async fn child_applier() {
    let (Ok(url), Ok(dir)) = (
        std::env::var("SHIPCORE_MIG_CHILD_URL"),
        std::env::var("SHIPCORE_MIG_CHILD_DIR"),
    ) else {
        return;
    };
    let _ = migrator(&url, std::path::Path::new(&dir))
        .apply(MigrationPhase::Expand)
        .await;
}

#[tokio::test]
async fn an_applier_killed_mid_file_leaves_nothing_and_the_resume_applies_once() {
    let Some(db) = test_db().await else { return };
    let dir = tempfile::tempdir().unwrap();
    write_files(
        dir.path(),
        &[(
            "expand/1_slow.sql",
            // Sleeps 60 s only in the applier to be killed (its application_name).
            "CREATE TABLE k (v int);\nINSERT INTO k VALUES (1);\n\
             SELECT pg_sleep(CASE WHEN current_setting('application_name') = 'doomed' THEN 60 ELSE 0 END);\n",
        )],
    );
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["child_applier", "--exact", "--nocapture"])
        .env(
            "SHIPCORE_MIG_CHILD_URL",
            format!("{}?application_name=doomed", db.url),
        )
        .env("SHIPCORE_MIG_CHILD_DIR", dir.path())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Wait until the child is inside the file's transaction (sleeping).
    let probe = db.client().await;
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let n: i64 = probe
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'doomed' \
                 AND query LIKE '%pg_sleep%' AND state = 'active'",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        if n == 1 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the child never started the file"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();

    let m = migrator(&db.url, dir.path());
    let t = std::time::Instant::now();
    let r = m.apply(MigrationPhase::Expand).await.unwrap();
    let took = t.elapsed();
    eprintln!("resume after kill -9 applied in {took:?}");
    assert!(r.succeeded(), "{r:?}");
    assert_eq!(ids(&r), ["1_slow"]);
    assert!(
        took < Duration::from_secs(20),
        "the dead session held the lock: {took:?}"
    );
    let n: i64 = probe
        .query_one("SELECT count(*) FROM k", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 1, "applied exactly once");
    assert_eq!(m.applied().await.unwrap(), ["1_slow"]);
}

#[tokio::test]
async fn a_file_changed_after_it_was_applied_is_refused() {
    let Some(db) = test_db().await else { return };
    let dir = tempfile::tempdir().unwrap();
    write_files(
        dir.path(),
        &[
            ("expand/1_t.sql", "CREATE TABLE t (a int);"),
            ("contract/2_u.sql", "DROP TABLE t;"),
        ],
    );
    let m = migrator(&db.url, dir.path());
    m.apply(MigrationPhase::Expand).await.unwrap();
    std::fs::write(
        dir.path().join("expand/1_t.sql"),
        "CREATE TABLE t (a bigint);",
    )
    .unwrap();
    for err in [
        m.pending(MigrationPhase::Contract).await.unwrap_err(),
        m.apply(MigrationPhase::Contract).await.unwrap_err(),
    ] {
        assert_eq!(err.kind, MigrateErrorKind::Config, "{err}");
        assert_eq!(err.migration, "expand/1_t.sql");
        assert!(
            err.message.contains("changed after it was applied"),
            "{err}"
        );
    }
    assert!(db.has_table("t").await, "the contract did not run");
}
