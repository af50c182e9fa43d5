//! Log pattern: only lines appended since the last measurement count, partial lines wait,
//! truncation and rotation restart at the file's beginning, command output as the window.

#![allow(clippy::unwrap_used)]

mod validators_support;

use shipcore::validator::{Outcome, Validator};
use shipcore::validator::{ValidatorConfig, ValidatorDeps};
use std::io::Write;
use std::sync::Arc;
use validators_support::*;

fn build(json: &str) -> Arc<dyn Validator> {
    ValidatorConfig::from_json(json)
        .unwrap()
        .build(&ValidatorDeps::default())
        .unwrap()
}

fn append(path: &std::path::Path, text: &str) {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    f.write_all(text.as_bytes()).unwrap();
}

fn matches(r: &shipcore::validator::Verdict) -> (f64, f64) {
    let m = |n: &str| r.measurements.iter().find(|x| x.name == n).unwrap().value;
    (m("matches"), m("lines"))
}

fn file_validator(dir: &tempfile::TempDir, extra: &str) -> Arc<dyn Validator> {
    let path = dir.path().join("{{revision}}.log");
    build(&format!(
        r#"{{"type": "log_pattern", "name": "errors", "pattern": "ERROR|panic", "max": 1,
            "file": {:?}{extra}}}"#,
        path.to_str().unwrap()
    ))
}

#[tokio::test]
async fn counts_only_lines_appended_since_the_last_measurement() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("v2.log");
    append(&log, "old ERROR before the rollout\nold ERROR again\n");
    let v = file_validator(&dir, "");
    // First measurement starts at the end: the old errors do not count.
    let r = v.validate(&ctx(0)).await.unwrap();
    assert_eq!(r.outcome, Outcome::Pass);
    assert_eq!(matches(&r), (0.0, 0.0));
    assert!(r.message.contains("first measurement"), "{}", r.message);
    // One new error: within max 1.
    append(&log, "GET / 200\nERROR db timeout\nGET / 200\n");
    let r = v.validate(&ctx(1)).await.unwrap();
    assert_eq!(r.outcome, Outcome::Pass, "{}", r.message);
    assert_eq!(matches(&r), (1.0, 3.0));
    assert!(
        r.message.contains("first: ERROR db timeout"),
        "{}",
        r.message
    );
    // Two more plus a partial line (no newline yet): 2 > 1 fails; the partial line waits.
    append(&log, "panic: oh no\nERROR again\nERROR half-writ");
    let r = v.validate(&ctx(2)).await.unwrap();
    assert_eq!(r.outcome, Outcome::Fail, "{}", r.message);
    assert_eq!(matches(&r), (2.0, 2.0));
    append(&log, "ten\n");
    let r = v.validate(&ctx(3)).await.unwrap();
    assert_eq!(matches(&r), (1.0, 1.0));
    assert!(r.message.contains("ERROR half-written"), "{}", r.message);
    // Nothing new: nothing counted.
    assert_eq!(matches(&v.validate(&ctx(4)).await.unwrap()), (0.0, 0.0));
}

#[tokio::test]
async fn truncation_and_rotation_restart_from_the_beginning() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("v2.log");
    append(
        &log,
        "a long line of history that makes the file big enough\n",
    );
    let v = file_validator(&dir, "");
    v.validate(&ctx(0)).await.unwrap();
    // copytruncate: the file shrinks.
    std::fs::write(&log, "ERROR 1\n").unwrap();
    let r = v.validate(&ctx(1)).await.unwrap();
    assert_eq!(matches(&r), (1.0, 1.0));
    assert!(r.message.contains("truncated"), "{}", r.message);
    // Rotation: the file is moved away and a new one created (another inode), even though
    // the new file is as long as the old offset.
    std::fs::rename(&log, dir.path().join("v2.log.1")).unwrap();
    append(&log, "ERROR 2\nERROR 3\n");
    let r = v.validate(&ctx(2)).await.unwrap();
    assert_eq!(matches(&r), (2.0, 2.0));
    assert_eq!(r.outcome, Outcome::Fail);
    assert!(r.message.contains("rotated"), "{}", r.message);
}

#[tokio::test]
async fn start_beginning_and_per_rollout_positions() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("v2.log");
    append(&log, "ERROR boot\nok\n");
    let v = file_validator(&dir, r#", "start": "beginning""#);
    assert_eq!(matches(&v.validate(&ctx(0)).await.unwrap()), (1.0, 2.0));
    assert_eq!(matches(&v.validate(&ctx(1)).await.unwrap()), (0.0, 0.0));
    // Another rollout keeps its own position.
    let mut other = ctx(2);
    other.rollout_id = "r2".into();
    assert_eq!(matches(&v.validate(&other).await.unwrap()), (1.0, 2.0));
}

#[tokio::test]
async fn missing_file_is_an_error_not_a_pass() {
    let dir = tempfile::tempdir().unwrap();
    let v = file_validator(&dir, "");
    let e = v.validate(&ctx(0)).await.unwrap_err();
    assert!(e.message.contains("cannot open"), "{}", e.message);
}

#[tokio::test]
async fn command_output_is_the_window() {
    let v = build(
        r#"{"type": "log_pattern", "name": "cmd", "pattern": "^ERROR", "max": 1,
            "command": ["sh", "-c", "printf 'ok\\nERROR a {{revision}}\\n'; printf 'ERROR b\\n' >&2"]}"#,
    );
    let r = v.validate(&ctx(0)).await.unwrap();
    assert_eq!(r.outcome, Outcome::Fail, "{}", r.message);
    assert_eq!(matches(&r), (2.0, 3.0));
    assert!(r.message.contains("first: ERROR a v2"), "{}", r.message);

    let e = build(r#"{"type": "log_pattern", "name": "cmd", "pattern": "x", "command": ["sh", "-c", "echo boom >&2; exit 3"]}"#)
        .validate(&ctx(0))
        .await
        .unwrap_err();
    assert!(
        e.message.contains("exit status: 3") && e.message.contains("boom"),
        "{}",
        e.message
    );

    let started = std::time::Instant::now();
    let e = build(r#"{"type": "log_pattern", "name": "cmd", "pattern": "x", "timeout": "200ms", "command": ["sleep", "5"]}"#)
        .validate(&ctx(0))
        .await
        .unwrap_err();
    assert!(e.message.contains("timed out after 200ms"), "{}", e.message);
    assert!(started.elapsed().as_secs() < 4);
}

#[test]
fn bad_config_names_the_field() {
    let field = |json: &str| {
        ValidatorConfig::from_json(json)
            .unwrap()
            .build(&ValidatorDeps::default())
            .err()
            .unwrap()
            .0
            .field
    };
    assert_eq!(
        field(r#"{"type": "log_pattern", "name": "l", "pattern": "(", "file": "/x"}"#),
        "pattern"
    );
    assert_eq!(
        field(r#"{"type": "log_pattern", "name": "l", "pattern": "x"}"#),
        "file"
    );
    assert_eq!(
        field(
            r#"{"type": "log_pattern", "name": "l", "pattern": "x", "file": "/x", "command": ["ls"]}"#
        ),
        "command"
    );
    assert_eq!(
        field(r#"{"type": "log_pattern", "name": "l", "pattern": "x", "command": []}"#),
        "command"
    );
    let e = ValidatorConfig::from_json(
        r#"{"type": "log_pattern", "name": "l", "pattern": "x", "file": "/x", "path": "/y"}"#,
    )
    .unwrap_err();
    assert!(e.problem.contains("unknown field `path`"), "{}", e.problem);
}

/// True while process `pid` exists and is not a zombie.
fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat
            .rsplit_once(") ")
            .is_some_and(|(_, rest)| rest.starts_with('Z')),
        Err(_) => false,
    }
}

fn gone_within(pid: u32, limit: std::time::Duration) -> bool {
    let start = std::time::Instant::now();
    while start.elapsed() < limit {
        if !alive(pid) {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    false
}

#[tokio::test]
async fn a_timeout_kills_the_whole_process_group_grandchildren_included() {
    let dir = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("grandchild.pid");
    let v = build(&format!(
        r#"{{"type": "log_pattern", "name": "cmd", "pattern": "x", "timeout": "300ms",
            "command": ["sh", "-c", "sleep 30 & echo $! > {}; wait"]}}"#,
        pidfile.display()
    ));
    let e = v.validate(&ctx(0)).await.unwrap_err();
    assert!(e.message.contains("timed out after 300ms"), "{}", e.message);
    let pid: u32 = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(
        gone_within(pid, std::time::Duration::from_secs(3)),
        "grandchild sleep {pid} outlived the timeout"
    );
}

#[tokio::test]
async fn a_background_child_holding_the_output_is_killed_and_the_output_counted() {
    let dir = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("bg.pid");
    let v = build(&format!(
        r#"{{"type": "log_pattern", "name": "cmd", "pattern": "ERROR", "timeout": "20s",
            "command": ["sh", "-c", "sleep 30 & echo $! > {}; echo ERROR once"]}}"#,
        pidfile.display()
    ));
    let started = std::time::Instant::now();
    let r = v.validate(&ctx(0)).await.unwrap();
    assert!(started.elapsed().as_secs() < 5, "{:?}", started.elapsed());
    assert_eq!(matches(&r), (1.0, 1.0), "{}", r.message);
    let pid: u32 = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(gone_within(pid, std::time::Duration::from_secs(3)));
}

#[tokio::test]
async fn long_lines_are_cut_and_huge_output_is_an_error() {
    // One 1 MB line, then a short matching one: two lines, one cut.
    let v = build(
        r#"{"type": "log_pattern", "name": "cmd", "pattern": "ERROR", "max": 0,
            "command": ["sh", "-c", "head -c 1000000 /dev/zero | tr '\\0' a; echo; echo ERROR"]}"#,
    );
    let r = v.validate(&ctx(0)).await.unwrap();
    assert_eq!(matches(&r), (1.0, 2.0), "{}", r.message);
    assert!(
        r.message.contains("1 lines longer than 65536 bytes"),
        "{}",
        r.message
    );
    // The same in a file.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.log");
    append(
        &path,
        &format!("{}ERROR\nERROR short\n", "a".repeat(200_000)),
    );
    let v = build(&format!(
        r#"{{"type": "log_pattern", "name": "f", "pattern": "ERROR", "start": "beginning", "file": {:?}}}"#,
        path.to_str().unwrap()
    ));
    let r = v.validate(&ctx(0)).await.unwrap();
    // The first line's ERROR lies past the first 64 KiB: only the short line matches.
    assert_eq!(matches(&r), (1.0, 2.0), "{}", r.message);
    assert!(r.message.contains("longer than"), "{}", r.message);
    // More than 32 MiB on one stream: an error, not a verdict on part of it.
    let v = build(
        r#"{"type": "log_pattern", "name": "cmd", "pattern": "ERROR", "timeout": "20s",
            "command": ["head", "-c", "40000000", "/dev/zero"]}"#,
    );
    let e = v.validate(&ctx(0)).await.unwrap_err();
    assert!(
        e.message.contains("more than 33554432 bytes on stdout"),
        "{}",
        e.message
    );
}

#[test]
fn a_timeout_beyond_a_day_is_refused() {
    let e = ValidatorConfig::from_json(
        r#"{"type": "log_pattern", "name": "l", "pattern": "x", "command": ["ls"], "timeout": "25h"}"#,
    )
    .unwrap()
    .build(&ValidatorDeps::default())
    .err()
    .unwrap();
    assert_eq!(e.field, "timeout");
    assert!(e.problem.contains("at most 24h"), "{e}");
}
