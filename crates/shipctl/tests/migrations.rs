//! `migrations: {command: ...}` through the real binary on the simulator: a real `sh`
//! migration tool keeping its state in a file, and a real HTTP health endpoint (a thread of
//! this test) the stable is judged with after the expand. A good expand runs before the
//! candidate is deployed and the rollout succeeds; a breaking expand freezes it (exit 3).
#![allow(clippy::unwrap_used)]

mod common;
use common::shipctl;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).to_string()
}

/// The migration tool: `migrate.sh STATE pending|run ID`. `run` appends the id to STATE
/// unless it is there (idempotent); with BREAK set, an expand also creates that file (the
/// schema change breaks the running revision).
const TOOL: &str = r#"#!/bin/sh
state="$1"; cmd="$2"; id="$3"
case "$cmd" in
  pending) grep -qx "$id" "$state" 2>/dev/null || echo "$id" ;;
  run)
    grep -qx "$id" "$state" 2>/dev/null || echo "$id" >> "$state"
    if [ -n "$BREAK" ] && [ "$SHIPCORE_MIGRATION_PHASE" = expand ]; then touch "$BREAK"; fi ;;
  status) cat "$state" 2>/dev/null ;;
  *) echo "unknown command $cmd" >&2; exit 64 ;;
esac
"#;

/// A health endpoint: 200 `{}` until `broken` exists, then 503. Counts the requests that
/// came after the migration tool ran (when `state` exists).
struct Health {
    port: u16,
    after_migration: Arc<AtomicUsize>,
}

fn health(broken: PathBuf, state: PathBuf) -> Health {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let after_migration = Arc::new(AtomicUsize::new(0));
    let count = after_migration.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            let mut buf = [0u8; 4096];
            let _ = conn.read(&mut buf);
            if state.exists() {
                count.fetch_add(1, Ordering::SeqCst);
            }
            let (status, body) = if broken.exists() {
                ("503 Service Unavailable", "{\"status\": \"down\"}")
            } else {
                ("200 OK", "{}")
            };
            let _ = write!(
                conn,
                "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    Health {
        port,
        after_migration,
    }
}

struct World {
    _dir: tempfile::TempDir,
    file: PathBuf,
    state_dir: PathBuf,
    migrations: PathBuf,
    broken: PathBuf,
    health: Health,
}

fn world(break_it: bool) -> World {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    let tool = root.join("migrate.sh");
    std::fs::write(&tool, TOOL).unwrap();
    let migrations = root.join("applied.txt");
    let broken = root.join("broken");
    let health = health(broken.clone(), migrations.clone());
    let env = if break_it {
        format!("    env: {{BREAK: {}}}\n", broken.display())
    } else {
        String::new()
    };
    let yaml = format!(
        "\
target: {{service: web, environment: production}}
stable: {{version: 1.0.0, artifact: web:1}}
candidate: {{version: 2.0.0, artifact: web:2}}
replicas: 2
strategy: {{canary: {{steps: [{{set_weight: 50}}, {{pause: 1s}}]}}}}
validators:
  - {{type: http_health, name: stable-health, url: 'http://127.0.0.1:{port}/health', healthy: [], check_version: false, check_dependencies: false, timeout: 2s}}
health_validators: [stable-health]
migrations:
  contract: true
  command:
    expand: {{run: [sh, migrate.sh, applied.txt, run, 1_add_email], pending: [sh, migrate.sh, applied.txt, pending, 1_add_email]}}
    contract: {{run: [sh, migrate.sh, applied.txt, run, 2_drop_old], pending: [sh, migrate.sh, applied.txt, pending, 2_drop_old]}}
    status: [sh, migrate.sh, applied.txt, status]
{env}",
        port = health.port
    );
    let file = root.join("rollout.yaml");
    std::fs::write(&file, yaml).unwrap();
    World {
        state_dir: root.join("state"),
        _dir: dir,
        file,
        migrations,
        broken,
        health,
    }
}

fn position(haystack: &str, needle: &str) -> usize {
    haystack
        .find(needle)
        .unwrap_or_else(|| panic!("{needle:?} not in:\n{haystack}"))
}

#[test]
fn plan_shows_the_migrate_steps_and_runs_nothing() {
    let w = world(false);
    let out = shipctl(&w.state_dir)
        .arg("plan")
        .arg(&w.file)
        .output()
        .unwrap();
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    let expand = position(&stdout, "1. migrate db: expand");
    let promote = position(&stdout, "promote candidate");
    let contract = position(&stdout, "migrate db: contract");
    assert!(expand < promote && promote < contract, "{stdout}");
    assert!(
        stdout.contains(
            "migrations: db by command (expand: sh migrate.sh applied.txt run 1_add_email"
        ),
        "{stdout}"
    );
    assert!(!w.migrations.exists(), "plan ran the tool");
}

#[test]
fn a_good_expand_runs_before_the_deploy_and_the_contract_last() {
    let w = world(false);
    let out = shipctl(&w.state_dir)
        .arg("run")
        .arg(&w.file)
        .output()
        .unwrap();
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    // The tool ran in the rollout file's folder, each phase once, in order.
    let applied = std::fs::read_to_string(&w.migrations).unwrap();
    assert_eq!(applied, "1_add_email\n2_drop_old\n");
    let expand = position(&stdout, "migrate db: expand");
    let deploy = position(&stdout, "-> deploy web-2.0.0");
    let promote = position(&stdout, "promote candidate");
    let contract = position(&stdout, "migrate db: contract");
    assert!(expand < deploy, "expand after the deploy:\n{stdout}");
    assert!(
        promote < contract,
        "contract before the promotion:\n{stdout}"
    );
    // The stable was judged on its health endpoint after the expand.
    assert!(
        w.health.after_migration.load(Ordering::SeqCst) >= 1,
        "the stable was not checked after the expand:\n{stdout}"
    );
    assert!(stdout.contains("succeeded"), "{stdout}");
    let record = std::fs::read_to_string(w.state_dir.join("records/web-2.0.0.json")).unwrap();
    assert!(record.contains("1_add_email"), "{record}");
}

#[test]
fn a_breaking_expand_freezes_with_exit_3_before_the_candidate_is_deployed() {
    let w = world(true);
    let out = shipctl(&w.state_dir)
        .arg("run")
        .arg(&w.file)
        .output()
        .unwrap();
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(3), "{stdout}{}", text(&out.stderr));
    assert!(w.broken.exists());
    assert!(stdout.contains("frozen"), "{stdout}");
    assert!(!stdout.contains("-> deploy web-2.0.0"), "{stdout}");
    // The contract never ran.
    let applied = std::fs::read_to_string(&w.migrations).unwrap();
    assert_eq!(applied, "1_add_email\n");
    assert!(w.health.after_migration.load(Ordering::SeqCst) >= 1);
}

#[test]
fn a_frozen_expand_fixed_then_retried_applies_nothing_twice_and_succeeds() {
    let w = world(true);
    let out = shipctl(&w.state_dir)
        .arg("run")
        .arg(&w.file)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stdout));
    // A person fixes the schema, then retries from the journal (no run is listening): the
    // migrator is registered again, the expand has nothing pending, the stable passes.
    std::fs::remove_file(&w.broken).unwrap();
    let out = shipctl(&w.state_dir)
        .args(["retry", "web-2.0.0"])
        .output()
        .unwrap();
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    assert!(stdout.contains("-> deploy web-2.0.0"), "{stdout}");
    let applied = std::fs::read_to_string(&w.migrations).unwrap();
    assert_eq!(applied, "1_add_email\n2_drop_old\n");
    assert!(!w.broken.exists(), "the expand ran again");
}

#[test]
fn a_failing_expand_fails_before_traffic_with_the_tools_words() {
    let w = world(false);
    let yaml = std::fs::read_to_string(&w.file)
        .unwrap()
        .replace("run, 1_add_email]", "explode, 1_add_email]");
    std::fs::write(&w.file, yaml).unwrap();
    let out = shipctl(&w.state_dir)
        .arg("run")
        .arg(&w.file)
        .output()
        .unwrap();
    let stdout = text(&out.stdout);
    let code = out.status.code();
    assert_eq!(code, Some(1), "{stdout}{}", text(&out.stderr));
    assert!(stdout.contains("unknown command explode"), "{stdout}");
    assert!(!stdout.contains("-> deploy web-2.0.0"), "{stdout}");
}

#[test]
fn a_bad_section_exits_2_naming_the_field() {
    let w = world(false);
    let yaml = std::fs::read_to_string(&w.file).unwrap().replace(
        "  contract: true\n",
        "  contract: true\n  postgres: {url_env: X, dir: m}\n",
    );
    std::fs::write(&w.file, yaml).unwrap();
    let out = shipctl(&w.state_dir)
        .arg("run")
        .arg(&w.file)
        .output()
        .unwrap();
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains(":11:13: migrations.postgres: "), "{stderr}");
    assert!(!w.migrations.exists());
}

/// examples/rollouts/postgres/ parses everywhere; without the `postgres` feature, `plan`
/// refuses it with exit 2 naming the feature (tests/migrations_postgres.rs plans it with).
#[test]
fn the_postgres_example_parses_and_names_the_feature_it_needs() {
    let path = common::example("postgres/users.yaml");
    let loaded = shipctl::file::Loaded::read(&path).unwrap();
    let m = loaded.file.migrations.as_ref().unwrap();
    assert!(m.expand && m.contract && m.postgres.is_some());
    let dir = tempfile::tempdir().unwrap();
    let out = shipctl(dir.path())
        .env("DATABASE_URL", "postgres://app@127.0.0.1:1/app")
        .arg("plan")
        .arg(&path)
        .output()
        .unwrap();
    let stderr = text(&out.stderr);
    if cfg!(feature = "postgres") {
        assert_eq!(out.status.code(), Some(0), "{stderr}");
        assert!(text(&out.stdout).contains("1. migrate users-db: expand"));
    } else {
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(
            stderr.contains(": migrations.postgres: ") && stderr.contains("`--features postgres`"),
            "{stderr}"
        );
    }
}
