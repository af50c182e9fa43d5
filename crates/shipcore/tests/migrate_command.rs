//! The command migrator with real processes: a small migration "tool" written in sh keeps
//! its applied ids in a state file, as sqlx or refinery keep theirs in a table. Order,
//! idempotency through the tool's own pending list, a failure midway, timeout, transient
//! exit codes, redaction and bounds of the captured output, configuration errors.
#![allow(clippy::unwrap_used)]

use shipcore::migrate::{
    CommandMigrator, CommandMigratorConfig, MigrateErrorKind, MigrationOutcome, MigrationPhase,
    Migrator, PhaseCommand,
};
use std::path::Path;
use std::time::{Duration, Instant};

/// A tool: `tool.sh run` applies the ids of `todo` not in `state` in order (an id ending
/// in `_bad` fails with a message on stderr); `tool.sh pending` lists them; `tool.sh status`
/// prints `state`.
const TOOL: &str = r##"#!/bin/sh
set -u
cd "$(dirname "$0")"
touch state
case "$1" in
  pending) for id in $(cat todo); do grep -qx "$id" state || echo "$id"; done ;;
  status) echo "# applied"; cat state ;;
  run)
    echo "phase=$SHIPCORE_MIGRATION_PHASE"
    for id in $(cat todo); do
      grep -qx "$id" state && continue
      case "$id" in *_bad) echo "ERROR: relation \"users\" does not exist in $id" >&2; exit 1 ;; esac
      echo "applying $id"
      echo "$id" >> state
    done ;;
esac
"##;

fn tool_dir(todo: &[&str]) -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    write(d.path(), "tool.sh", TOOL);
    write(d.path(), "todo", &(todo.join("\n") + "\n"));
    d
}

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).unwrap();
}

fn migrator(dir: &Path) -> CommandMigrator {
    let tool = dir.join("tool.sh").display().to_string();
    let mut c = CommandMigratorConfig::new("tool");
    c.expand =
        Some(PhaseCommand::new(&["sh", &tool, "run"]).with_pending(&["sh", &tool, "pending"]));
    c.status = Some(vec!["sh".into(), tool, "status".into()]);
    c.build().unwrap()
}

#[tokio::test]
async fn applies_pending_ids_in_order_then_nothing_the_second_time() {
    let d = tool_dir(&["001_users", "002_email"]);
    let m = migrator(d.path());
    let pending: Vec<_> = m
        .pending(MigrationPhase::Expand)
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.id)
        .collect();
    assert_eq!(pending, ["001_users", "002_email"]);
    let r = m.apply(MigrationPhase::Expand).await.unwrap();
    assert!(r.succeeded(), "{r:?}");
    let ids: Vec<_> = r.migrations.iter().map(|x| x.id.as_str()).collect();
    assert_eq!(ids, ["001_users", "002_email"]);
    assert!(r.output.contains("phase=expand"), "{}", r.output);
    assert!(r.output.contains("applying 002_email"), "{}", r.output);
    assert_eq!(m.applied().await.unwrap(), ["001_users", "002_email"]);

    // Nothing pending: the tool is not even run again.
    let again = m.apply(MigrationPhase::Expand).await.unwrap();
    assert!(
        again.migrations.is_empty() && again.output.is_empty(),
        "{again:?}"
    );
    // The contract phase is not configured: nothing to do.
    assert!(m
        .pending(MigrationPhase::Contract)
        .await
        .unwrap()
        .is_empty());
    assert!(m
        .apply(MigrationPhase::Contract)
        .await
        .unwrap()
        .migrations
        .is_empty());
}

#[tokio::test]
async fn a_failure_midway_reports_what_ran_and_the_tools_message() {
    let d = tool_dir(&["001_users", "002_bad", "003_after"]);
    let m = migrator(d.path());
    let r = m.apply(MigrationPhase::Expand).await.unwrap();
    assert!(!r.succeeded());
    assert_eq!(r.migrations.len(), 2, "{r:?}");
    assert_eq!(r.migrations[0].id, "001_users");
    assert_eq!(r.migrations[0].outcome, MigrationOutcome::Applied);
    assert_eq!(r.migrations[1].id, "002_bad");
    let MigrationOutcome::Failed { error } = &r.migrations[1].outcome else {
        panic!("{r:?}")
    };
    assert!(error.contains("exited with code 1"), "{error}");
    assert!(
        error.contains("relation \"users\" does not exist in 002_bad"),
        "{error}"
    );
    assert_eq!(m.applied().await.unwrap(), ["001_users"]);
}

#[tokio::test]
async fn without_a_pending_command_the_phase_is_one_opaque_migration() {
    let d = tool_dir(&["001_a"]);
    let tool = d.path().join("tool.sh").display().to_string();
    let mut c = CommandMigratorConfig::new("sqlx");
    c.contract = Some(PhaseCommand::new(&["sh", &tool, "run"]));
    let m = c.build().unwrap();
    let p = m.pending(MigrationPhase::Contract).await.unwrap();
    assert_eq!(p.len(), 1);
    assert_eq!(p[0].id, "sqlx:contract");
    let r = m.apply(MigrationPhase::Contract).await.unwrap();
    assert_eq!(r.migrations[0].id, "sqlx:contract");
    assert!(r.succeeded());
    assert!(r.output.contains("phase=contract"));
    let e = m.applied().await.unwrap_err();
    assert_eq!(e.kind, MigrateErrorKind::Config);
    assert!(e.message.starts_with("status:"), "{e}");
}

#[tokio::test]
async fn a_tool_past_its_timeout_is_killed_and_fails() {
    let mut c = CommandMigratorConfig::new("slow");
    c.expand = Some(PhaseCommand::new(&["sh", "-c", "echo started; sleep 30"]));
    c.timeout = Duration::from_millis(300);
    let m = c.build().unwrap();
    let t = Instant::now();
    let r = m.apply(MigrationPhase::Expand).await.unwrap();
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    let MigrationOutcome::Failed { error } = &r.migrations[0].outcome else {
        panic!("{r:?}")
    };
    assert!(error.contains("was killed"), "{error}");
    assert!(r.output.contains("started"));
}

#[tokio::test]
async fn transient_exit_codes_and_missing_programs_are_errors_of_their_kind() {
    let mut c = CommandMigratorConfig::new("t");
    c.expand = Some(PhaseCommand::new(&[
        "sh",
        "-c",
        "echo 'db unreachable' >&2; exit 75",
    ]));
    c.transient_exit_codes = vec![75];
    let e = c
        .build()
        .unwrap()
        .apply(MigrationPhase::Expand)
        .await
        .unwrap_err();
    assert_eq!(e.kind, MigrateErrorKind::Transient);
    assert!(e.message.contains("db unreachable"), "{e}");

    let mut c = CommandMigratorConfig::new("t");
    c.expand = Some(PhaseCommand::new(&["/nonexistent/sqlx", "migrate", "run"]));
    let e = c
        .build()
        .unwrap()
        .apply(MigrationPhase::Expand)
        .await
        .unwrap_err();
    assert_eq!(e.kind, MigrateErrorKind::Config);
    assert!(e.message.contains("/nonexistent/sqlx migrate run"), "{e}");
}

#[tokio::test]
async fn output_is_redacted_and_bounded() {
    let mut c = CommandMigratorConfig::new("t");
    c.expand = Some(PhaseCommand::new(&[
        "sh",
        "-c",
        "echo \"pw=$DB_PASSWORD url=postgres://app:hunter2@db/app dsn=host=db password=hunter2\"; \
         head -c 100000 /dev/zero | tr '\\0' x; echo; echo last-line",
    ]));
    c.env.insert("DB_PASSWORD".into(), "s3cr3t-value".into());
    c.tail_bytes = 2000;
    let m = c.build().unwrap();
    assert!(!format!("{m:?}").contains("s3cr3t-value"));
    let r = m.apply(MigrationPhase::Expand).await.unwrap();
    assert!(r.output.len() < 2100, "{}", r.output.len());
    assert!(r.output.contains("last-line"));

    let mut c = CommandMigratorConfig::new("t");
    c.expand = Some(PhaseCommand::new(&[
        "sh",
        "-c",
        "echo \"pw=$DB_PASSWORD url=postgres://app:hunter2@db/app dsn=host=db password=hunter2\" >&2; exit 3",
    ]));
    c.env.insert("DB_PASSWORD".into(), "s3cr3t-value".into());
    let r = c
        .build()
        .unwrap()
        .apply(MigrationPhase::Expand)
        .await
        .unwrap();
    let MigrationOutcome::Failed { error } = &r.migrations[0].outcome else {
        panic!("{r:?}")
    };
    for text in [error.as_str(), r.output.as_str()] {
        assert!(!text.contains("s3cr3t-value"), "{text}");
        assert!(!text.contains("hunter2"), "{text}");
        assert!(text.contains("postgres://<redacted>@db/app"), "{text}");
    }
}

#[test]
fn bad_configurations_name_their_field() {
    let e = CommandMigratorConfig::new("t").build().unwrap_err();
    assert_eq!(e.field, "expand");
    let mut c = CommandMigratorConfig::new("t");
    c.expand = Some(PhaseCommand::new(&[]));
    assert_eq!(c.build().unwrap_err().field, "expand.run");
    c.expand = Some(PhaseCommand::new(&["x"]).with_pending(&[""]));
    assert_eq!(c.build().unwrap_err().field, "expand.pending[0]");
    c.expand = Some(PhaseCommand::new(&["x"]));
    c.timeout = Duration::ZERO;
    assert_eq!(c.build().unwrap_err().field, "timeout");
    let e = serde_json::from_str::<CommandMigratorConfig>(
        r#"{"name": "t", "expand": {"run": ["x"], "shell": true}}"#,
    )
    .unwrap_err();
    assert!(e.to_string().contains("shell"), "{e}");
}
