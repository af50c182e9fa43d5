//! File gate: existence and age, judged against the engine's time (`GateContext.now`).
#![allow(clippy::unwrap_used)]

use shipcore::gate::{FileConfig, FileGate, GateConfig};
use shipcore::gate::{Gate, GateContext, GateOutcome};
use shipcore::model::{Revision, Target};
use shipcore::time::Timestamp;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

fn ctx(now: Timestamp) -> GateContext {
    GateContext {
        rollout_id: "r1".into(),
        target: Target::new("db", "production"),
        candidate: Revision::new("db-v2", "2.0.0".parse().unwrap(), "db:2.0.0"),
        stable: None,
        now,
        approvals: vec![],
        waiting_since: None,
    }
}

const HOUR: Duration = Duration::from_secs(3600);

/// A file whose modification time is exactly `mtime`.
fn file_at(dir: &std::path::Path, name: &str, mtime: Timestamp) -> std::path::PathBuf {
    let path = dir.join(name);
    let f = std::fs::File::create(&path).unwrap();
    f.set_modified(UNIX_EPOCH + Duration::from_millis(mtime.0))
        .unwrap();
    path
}

#[tokio::test]
async fn existing_file_passes_and_missing_file_blocks() {
    let dir = tempfile::tempdir().unwrap();
    let runbook = file_at(dir.path(), "RUNBOOK.md", Timestamp(1_000));
    let now = ctx(Timestamp(10_000_000_000));
    assert_eq!(
        FileGate::exists("runbook", &runbook).check(&now).await,
        GateOutcome::Pass
    );

    let missing = dir.path().join("rollback.sh");
    let out = FileGate::exists("rollback", &missing).check(&now).await;
    assert_eq!(
        out,
        GateOutcome::block(format!("{} does not exist", missing.display()))
    );
}

#[tokio::test]
async fn backup_age_is_judged_on_engine_time() {
    let dir = tempfile::tempdir().unwrap();
    // A backup taken "in 2023", far from the wall clock: only ctx.now matters.
    let taken = Timestamp(1_700_000_000_000);
    let backup = file_at(dir.path(), "db.dump", taken);
    let gate = FileGate::exists("backup", &backup).max_age(24 * HOUR);

    assert_eq!(
        gate.check(&ctx(taken.plus(23 * HOUR))).await,
        GateOutcome::Pass
    );
    assert_eq!(
        gate.check(&ctx(taken.plus(24 * HOUR))).await,
        GateOutcome::Pass
    );
    match gate.check(&ctx(taken.plus(25 * HOUR))).await {
        GateOutcome::Block { reason } => {
            assert!(
                reason.contains("db.dump is 25h old, more than the allowed 24h"),
                "{reason}"
            )
        }
        other => panic!("expected Block, got {other:?}"),
    }
    // A file modified "after" the engine's now (clock skew) counts as fresh.
    assert_eq!(
        gate.check(&ctx(Timestamp(taken.0 - 1_000))).await,
        GateOutcome::Pass
    );
}

#[tokio::test]
async fn fresh_file_passes_against_wall_clock_now() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fresh");
    std::fs::write(&path, "x").unwrap();
    let now = Timestamp(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64,
    );
    let cfg = GateConfig::from_json(&format!(
        r#"{{"type": "file", "name": "fresh", "path": {:?}, "max_age": "1h"}}"#,
        path.display().to_string()
    ))
    .unwrap();
    assert_eq!(
        cfg.build().unwrap().check(&ctx(now)).await,
        GateOutcome::Pass
    );
    assert_eq!(
        cfg.build()
            .unwrap()
            .check(&ctx(now.plus(2 * HOUR)))
            .await
            .clone(),
        GateOutcome::block(format!(
            "{} is 2h old, more than the allowed 1h",
            path.display()
        ))
    );
}

#[test]
fn config_errors_name_the_field() {
    let c = |v: serde_json::Value| {
        serde_json::from_value::<FileConfig>(v)
            .unwrap()
            .build()
            .unwrap_err()
    };
    assert_eq!(
        c(serde_json::json!({"name": "f", "path": ""})).field,
        "path"
    );
    assert_eq!(
        c(serde_json::json!({"name": "f", "path": "x", "max_age": "0s"})).field,
        "max_age"
    );
    assert_eq!(
        c(serde_json::json!({"name": " ", "path": "x"})).field,
        "name"
    );
    let e = GateConfig::from_json(r#"{"type": "file", "name": "f", "path": "x", "maxage": "1h"}"#)
        .unwrap_err();
    assert!(e.problem.contains("unknown field `maxage`"), "{e}");
}
