//! `migrations: {postgres: ...}` through the real binary (`--features postgres`) on a real
//! PostgreSQL (`SHIPCORE_PG_URL`, from scripts/ci/pg-cluster.sh; skipped without it unless
//! `SHIPCORE_E2E=1`): a directory migrator with its lint and backup gates, the URL from an
//! environment variable and never in any output. Each test uses a database of its own.
#![cfg(feature = "postgres")]
#![allow(clippy::unwrap_used)]

mod common;
use common::shipctl;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).to_string()
}

/// The cluster's admin URL and binaries folder, or `None` after saying why.
fn cluster() -> Option<(String, PathBuf)> {
    let url = std::env::var("SHIPCORE_PG_URL").ok();
    let bin = std::env::var("SHIPCORE_PG_BIN").ok();
    match (url, bin) {
        (Some(u), Some(b)) => Some((u, PathBuf::from(b))),
        _ if std::env::var("SHIPCORE_E2E").is_ok_and(|v| v == "1") => panic!(
            "SHIPCORE_E2E=1 but SHIPCORE_PG_URL/SHIPCORE_PG_BIN are not set: start a cluster \
             with scripts/ci/pg-cluster.sh"
        ),
        _ => {
            eprintln!(
                "SKIP: SHIPCORE_PG_URL is not set (eval \"$(bash scripts/ci/pg-cluster.sh start)\")"
            );
            None
        }
    }
}

/// A database of the test's own, dropped (`WITH (FORCE)`) at the end.
struct Db {
    admin: String,
    bin: PathBuf,
    name: String,
    /// The database's URL, with a password the cluster ignores (trust auth) so the test
    /// can look for it in every output.
    url: String,
}

const PASSWORD: &str = "s3cret-pw-4711";

impl Db {
    fn new(admin: &str, bin: &Path) -> Db {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let name = format!("shipctl_{}_{nanos}", std::process::id());
        let (base, _) = admin.rsplit_once('/').unwrap();
        let base = base.replacen("://shipcore@", &format!("://shipcore:{PASSWORD}@"), 1);
        assert!(
            base.contains(PASSWORD),
            "unexpected admin URL shape: {admin}"
        );
        let db = Db {
            admin: admin.to_string(),
            bin: bin.to_path_buf(),
            url: format!("{base}/{name}"),
            name: name.clone(),
        };
        db.psql(admin, &format!("CREATE DATABASE \"{name}\""));
        db
    }

    fn psql(&self, url: &str, sql: &str) -> String {
        let out = Command::new(self.bin.join("psql"))
            .args([
                "-X",
                "-q",
                "-t",
                "-A",
                "-v",
                "ON_ERROR_STOP=1",
                url,
                "-c",
                sql,
            ])
            .output()
            .unwrap();
        assert!(out.status.success(), "psql {sql}: {}", text(&out.stderr));
        text(&out.stdout).trim().to_string()
    }

    fn sql(&self, sql: &str) -> String {
        self.psql(&self.url, sql)
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        let _ = Command::new(self.bin.join("psql"))
            .args([
                "-X",
                "-q",
                &self.admin,
                "-c",
                &format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name),
            ])
            .output();
    }
}

/// A health endpoint answering 200 `{}` to every request (the stable stays healthy).
fn healthy_endpoint() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for mut conn in listener.incoming().flatten() {
            let mut buf = [0u8; 4096];
            let _ = conn.read(&mut buf);
            let _ = conn
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}");
        }
    });
    port
}

/// A rollout file with a migrations directory (expand adds a column, contract drops one)
/// in a temporary folder; `allow` is the lint gate's allowed rules.
fn world(bin: &Path, allow: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("db/expand")).unwrap();
    std::fs::create_dir_all(root.join("db/contract")).unwrap();
    std::fs::write(
        root.join("db/expand/1_add_email.sql"),
        "ALTER TABLE users ADD COLUMN email text;\n",
    )
    .unwrap();
    std::fs::write(
        root.join("db/contract/2_drop_legacy.sql"),
        "ALTER TABLE users DROP COLUMN legacy;\n",
    )
    .unwrap();
    let yaml = format!(
        "\
target: {{service: users, environment: production}}
stable: {{version: 1.0.0, artifact: users:1}}
candidate: {{version: 2.0.0, artifact: users:2}}
replicas: 2
strategy: {{canary: {{steps: [{{set_weight: 50}}, {{pause: 1s}}]}}}}
validators:
  - {{type: http_health, name: stable-health, url: 'http://127.0.0.1:{port}/', healthy: [], check_version: false, check_dependencies: false}}
health_validators: [stable-health]
migrations:
  name: users-db
  contract: true
  postgres:
    url_env: APP_DATABASE_URL
    dir: db
    table: ops_migrations
    lint: {{allow: [{allow}]}}
    backup: {{dir: backups, pg_dump: '{pg_dump}'}}
",
        port = healthy_endpoint(),
        pg_dump = bin.join("pg_dump").display()
    );
    let file = root.join("rollout.yaml");
    std::fs::write(&file, yaml).unwrap();
    (dir, file)
}

/// No file under `dir` contains `needle`.
fn assert_nowhere(dir: &Path, needle: &str) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            assert_nowhere(&p, needle);
        } else if let Ok(t) = std::fs::read_to_string(&p) {
            assert!(!t.contains(needle), "{} contains the password", p.display());
        }
    }
}

#[test]
fn a_directory_migrator_runs_expand_first_and_contract_last_with_its_gates() {
    let Some((admin, bin)) = cluster() else {
        return;
    };
    let db = Db::new(&admin, &bin);
    db.sql("CREATE TABLE users (id bigint PRIMARY KEY, name text, legacy text); INSERT INTO users VALUES (1, 'ada', 'x')");
    let (dir, file) = world(&bin, "ban-drop-column");
    let state = dir.path().join("state");
    let plan = shipctl(&state)
        .env("APP_DATABASE_URL", &db.url)
        .arg("plan")
        .arg(&file)
        .output()
        .unwrap();
    let plan_out = text(&plan.stdout) + &text(&plan.stderr);
    assert_eq!(plan.status.code(), Some(0), "{plan_out}");
    assert!(
        plan_out
            .contains("gates, in order, before anything changes: migration-lint, migration-backup"),
        "{plan_out}"
    );
    assert!(
        plan_out.contains("URL from $APP_DATABASE_URL"),
        "{plan_out}"
    );
    // plan applies nothing.
    assert_eq!(db.sql("SELECT count(*) FROM information_schema.columns WHERE table_name = 'users' AND column_name = 'email'"), "0");

    let out = shipctl(&state)
        .env("APP_DATABASE_URL", &db.url)
        .arg("run")
        .arg(&file)
        .output()
        .unwrap();
    let all = text(&out.stdout) + &text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{all}");
    // Applied in the database, each file recorded once, in order.
    assert_eq!(
        db.sql("SELECT string_agg(column_name, ',' ORDER BY column_name) FROM information_schema.columns WHERE table_name = 'users'"),
        "email,id,name"
    );
    assert_eq!(
        db.sql("SELECT string_agg(id, ',' ORDER BY seq) FROM ops_migrations"),
        "1_add_email,2_drop_legacy"
    );
    let expand = all.find("users-db expand: 1_add_email").expect(&all);
    let deploy = all.find("-> deploy users-2.0.0").expect(&all);
    let contract = all.find("users-db contract: 2_drop_legacy").expect(&all);
    assert!(expand < deploy && deploy < contract, "{all}");
    // The contract drops a column: the backup gate took a dump before anything changed.
    let dumps: Vec<_> = std::fs::read_dir(dir.path().join("backups"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    assert!(dumps.len() == 1 && dumps[0].ends_with(".dump"), "{dumps:?}");
    // The URL's password is in no output and no file of the state directory.
    assert!(
        !all.contains(PASSWORD) && !plan_out.contains(PASSWORD),
        "{all}"
    );
    assert_nowhere(&state, PASSWORD);
}

#[test]
fn an_unsafe_migration_blocks_with_exit_4_and_applies_nothing() {
    let Some((admin, bin)) = cluster() else {
        return;
    };
    let db = Db::new(&admin, &bin);
    db.sql("CREATE TABLE users (id bigint PRIMARY KEY, name text, legacy text)");
    // ban-drop-column is not allowed this time (another rule is, to keep the list valid).
    let (dir, file) = world(&bin, "adding-required-field");
    let out = shipctl(&dir.path().join("state"))
        .env("APP_DATABASE_URL", &db.url)
        .arg("run")
        .arg(&file)
        .output()
        .unwrap();
    let all = text(&out.stdout) + &text(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "{all}");
    assert!(
        all.contains("contract/2_drop_legacy.sql:1: ban-drop-column"),
        "{all}"
    );
    assert_eq!(db.sql("SELECT count(*) FROM information_schema.columns WHERE table_name = 'users' AND column_name = 'email'"), "0");
    assert!(!all.contains(PASSWORD), "{all}");
}

#[test]
fn a_missing_url_variable_exits_2_naming_the_field_and_the_variable() {
    // No database needed: the variable is checked before anything connects.
    let dir = tempfile::tempdir().unwrap();
    let (_w, file) = world(Path::new("/nonexistent"), "ban-drop-column");
    let out = shipctl(&dir.path().join("state"))
        .env_remove("APP_DATABASE_URL")
        .arg("plan")
        .arg(&file)
        .output()
        .unwrap();
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(
            ": migrations.postgres.url_env: the environment variable APP_DATABASE_URL is not set"
        ),
        "{stderr}"
    );
}

#[test]
fn library_refusals_are_placed_under_migrations_postgres_without_the_url() {
    // Nothing connects before the run: no database needed.
    let (w, file) = world(Path::new("/usr/bin"), "ban-drop-column");
    let good = std::fs::read_to_string(&file).unwrap();
    let url = format!("postgres://app:{PASSWORD}@127.0.0.1:1/app");
    for (from, to, env, want) in [
        (
            "allow: [ban-drop-column]",
            "allow: [ban-drop-colum]",
            url.as_str(),
            ": migrations.postgres.lint.allow[0]: ",
        ),
        (
            "table: ops_migrations",
            "table: 'a.b.c'",
            url.as_str(),
            ": migrations.postgres.table: ",
        ),
        (
            "dir: db\n",
            "dir: nowhere\n",
            url.as_str(),
            ": migrations.postgres.dir: ",
        ),
        (
            "",
            "",
            "postgres://app:s3cret-pw-4711@127.0.0.1:notaport/app",
            ": migrations.postgres.url_env: the environment variable APP_DATABASE_URL: is not a PostgreSQL URL",
        ),
    ] {
        std::fs::write(&file, good.replace(from, to)).unwrap();
        let out = shipctl(&w.path().join("state"))
            .env("APP_DATABASE_URL", env)
            .arg("plan")
            .arg(&file)
            .output()
            .unwrap();
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{to}: {stderr}");
        assert!(stderr.contains(want), "{to}: {stderr}");
        assert!(!stderr.contains(PASSWORD), "{to}: {stderr}");
    }
}
