//! Command gate: real processes (`true`, `false`, `sh -c …`), exit codes, output tails,
//! timeouts that kill the whole process group.
#![allow(clippy::unwrap_used)]

use shipcore::gate::{CommandConfig, GateConfig};
use shipcore::gate::{Gate, GateContext, GateOutcome};
use shipcore::model::{Revision, Target};
use shipcore::time::Timestamp;
use std::time::{Duration, Instant};

fn ctx() -> GateContext {
    GateContext {
        rollout_id: "r-42".into(),
        target: Target::new("web", "production"),
        candidate: Revision::new("web-v2", "2.1.0".parse().unwrap(), "web:2.1.0"),
        stable: None,
        now: Timestamp(1_700_000_000_000),
        approvals: vec![],
        waiting_since: None,
    }
}

fn gate(program: &str, args: &[&str], timeout: Duration) -> shipcore::gate::CommandGate {
    let mut c = CommandConfig::new("cmd", program, args);
    c.timeout = timeout;
    c.build().unwrap()
}

fn block_reason(o: GateOutcome) -> String {
    match o {
        GateOutcome::Block { reason } => reason,
        other => panic!("expected Block, got {other:?}"),
    }
}

#[tokio::test]
async fn true_passes_and_false_blocks_with_exit_code() {
    let ok = gate("true", &[], Duration::from_secs(10));
    assert_eq!(ok.check(&ctx()).await, GateOutcome::Pass);
    let run = ok.last_run().unwrap();
    assert_eq!(run.exit_code, Some(0));
    assert!(run.passed());

    let bad = gate("false", &[], Duration::from_secs(10));
    let reason = block_reason(bad.check(&ctx()).await);
    assert!(reason.contains("`false` exited with code 1"), "{reason}");
    assert_eq!(bad.last_run().unwrap().exit_code, Some(1));
}

#[tokio::test]
async fn output_tails_are_in_the_reason_and_the_run() {
    let g = gate(
        "sh",
        &["-c", "for i in $(seq 1 500); do echo line$i; done; echo 'migration failed: table locked' >&2; exit 3"],
        Duration::from_secs(10),
    );
    let reason = block_reason(g.check(&ctx()).await);
    assert!(reason.contains("exited with code 3"), "{reason}");
    assert!(
        reason.contains("migration failed: table locked"),
        "{reason}"
    );
    assert!(reason.contains("line500"), "{reason}");
    let run = g.last_run().unwrap();
    // Only the tail is kept: the first lines are gone, the size is bounded.
    assert!(!run.stdout_tail.contains("line1\n"), "{}", run.stdout_tail);
    assert!(run.stdout_tail.len() <= 2000);
    assert_eq!(run.stderr_tail.trim(), "migration failed: table locked");
}

#[tokio::test]
async fn timeout_kills_the_command_and_blocks() {
    let g = gate(
        "sh",
        &["-c", "echo starting; sleep 5"],
        Duration::from_millis(300),
    );
    let started = Instant::now();
    let reason = block_reason(g.check(&ctx()).await);
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(3),
        "took {took:?}: the sleep was not killed"
    );
    assert!(reason.contains("timed out after 300ms"), "{reason}");
    assert!(reason.contains("starting"), "partial output kept: {reason}");
    let run = g.last_run().unwrap();
    assert!(run.timed_out);
    assert_eq!(run.exit_code, None);
}

#[tokio::test]
async fn background_children_do_not_hold_the_gate() {
    // The program exits at once but leaves a child that keeps stdout open.
    let g = gate(
        "sh",
        &["-c", "sleep 30 & echo done"],
        Duration::from_secs(20),
    );
    let started = Instant::now();
    assert_eq!(g.check(&ctx()).await, GateOutcome::Pass);
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(g.last_run().unwrap().stdout_tail.contains("done"));
}

#[tokio::test]
async fn arguments_are_not_shell_words_unless_shell_is_asked() {
    let g = gate("echo", &["$HOME; rm -rf /"], Duration::from_secs(10));
    assert_eq!(g.check(&ctx()).await, GateOutcome::Pass);
    assert_eq!(g.last_run().unwrap().stdout_tail, "$HOME; rm -rf /\n");

    let mut c = CommandConfig::new("shell", "test \"$SHIPCORE_ROLLOUT_ID\" = r-42 && echo $SHIPCORE_SERVICE@$SHIPCORE_ENVIRONMENT $SHIPCORE_VERSION", &[]);
    c.shell = true;
    let g = c.build().unwrap();
    assert_eq!(g.check(&ctx()).await, GateOutcome::Pass);
    assert_eq!(g.last_run().unwrap().stdout_tail, "web@production 2.1.0\n");
}

#[tokio::test]
async fn missing_program_blocks_with_the_reason() {
    let g = gate(
        "/nonexistent/shipcore-test-program",
        &[],
        Duration::from_secs(5),
    );
    let reason = block_reason(g.check(&ctx()).await);
    assert!(
        reason.contains("could not run `/nonexistent/shipcore-test-program`"),
        "{reason}"
    );
}

#[tokio::test]
async fn cwd_and_env_are_applied() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("marker"), "x").unwrap();
    let mut c = CommandConfig::new(
        "cwd",
        "sh",
        &["-c", "test -f marker && test \"$GREETING\" = hello"],
    );
    c.cwd = Some(dir.path().to_path_buf());
    c.env.insert("GREETING".into(), "hello".into());
    assert_eq!(c.build().unwrap().check(&ctx()).await, GateOutcome::Pass);
}

#[test]
fn config_errors_name_the_field() {
    let err = |json: &str| match GateConfig::from_json(json) {
        Ok(c) => c.build().err().unwrap(),
        Err(e) => e,
    };
    let e = err(r#"{"type": "command", "name": "t", "program": "  "}"#);
    assert_eq!(e.field, "program");
    let e = err(r#"{"type": "command", "name": "t", "program": "npm", "timeout": "0s"}"#);
    assert_eq!(
        (e.field.as_str(), e.problem.as_str()),
        ("timeout", "must be greater than zero")
    );
    let e = err(r#"{"type": "command", "name": "t", "program": "npm", "timeout": "soon"}"#);
    assert!(e.problem.contains("invalid duration \"soon\""), "{e}");
    let e =
        err(r#"{"type": "command", "name": "t", "program": "x", "shell": true, "args": ["a"]}"#);
    assert_eq!(e.field, "args");
    let e = err(r#"{"type": "command", "name": "t", "program": "npm", "argz": []}"#);
    assert!(e.problem.contains("unknown field `argz`"), "{e}");
    let e = err(r#"{"type": "command", "name": "t"}"#);
    assert!(e.problem.contains("missing field `program`"), "{e}");
}

#[tokio::test]
async fn an_unbounded_timeout_or_tail_is_a_config_error_not_a_panic() {
    // u64::MAX seconds used to overflow `Instant + timeout` and panic in `check`.
    let mut c = CommandConfig::new("cmd", "true", &[]);
    c.timeout = Duration::from_secs(u64::MAX);
    let e = c.build().err().unwrap();
    assert_eq!(e.field, "timeout");
    assert!(
        e.problem.contains("at most 1d") || e.problem.contains("at most 24h"),
        "{e}"
    );
    c.timeout = shipcore::gate::COMMAND_MAX_TIMEOUT;
    assert_eq!(c.build().unwrap().check(&ctx()).await, GateOutcome::Pass);

    // A huge tail used to disable trimming: all output was kept in memory.
    let mut c = CommandConfig::new("cmd", "true", &[]);
    c.tail_bytes = usize::MAX;
    let e = c.build().err().unwrap();
    assert_eq!(e.field, "tail_bytes");
    assert!(e.problem.contains("at most 1048576"), "{e}");
}

#[tokio::test]
async fn the_largest_tail_still_trims_a_long_output() {
    let mut c = CommandConfig::new(
        "cmd",
        "head -c 5000000 /dev/zero | tr '\\0' a; echo END",
        &[],
    );
    c.shell = true;
    c.tail_bytes = shipcore::gate::COMMAND_MAX_TAIL_BYTES;
    let g = c.build().unwrap();
    assert_eq!(g.check(&ctx()).await, GateOutcome::Pass);
    let run = g.last_run().unwrap();
    assert_eq!(
        run.stdout_tail.len(),
        shipcore::gate::COMMAND_MAX_TAIL_BYTES
    );
    assert!(
        run.stdout_tail.ends_with("aaaaEND\n"),
        "{:?}",
        &run.stdout_tail[run.stdout_tail.len() - 20..]
    );
}
