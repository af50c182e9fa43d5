//! Control from another process: a blue-green run waits for promotion; `shipctl promote`
//! or `abort` from the test reaches it through the socket; a run killed with SIGKILL is
//! continued by `shipctl resume` and promoted to success.
#![allow(clippy::unwrap_used)]

mod common;
use common::{example, shipctl, spawn, wait_status};
use std::io::Read;

const ID: &str = "web-2.0.0";

fn output_of(mut child: std::process::Child) -> (Option<i32>, String) {
    let status = child.wait().unwrap();
    let mut out = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    (status.code(), out + &err)
}

fn start_blue_green(state: &std::path::Path) -> std::process::Child {
    let file = example("blue-green.yaml");
    let child = spawn(state, &["run", file.to_str().unwrap()]);
    wait_status(
        state,
        ID,
        "paused at step 3/6 (waiting for promotion) (running)",
    );
    child
}

#[test]
fn promote_from_another_process_ends_the_run_succeeded() {
    let dir = tempfile::tempdir().unwrap();
    let run = start_blue_green(dir.path());
    // The socket is for this user only.
    {
        use std::os::unix::fs::PermissionsExt;
        let sock = dir.path().join("rollouts").join(ID).join("control.sock");
        let mode = std::fs::metadata(&sock).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    let out = shipctl(dir.path()).args(["promote", ID]).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("promote sent to web-2.0.0"));
    let (code, text) = output_of(run);
    assert_eq!(code, Some(0), "{text}");
    assert!(
        text.contains("operator command {\"command\":\"promote\",\"full\":false}"),
        "{text}"
    );
    assert!(text.contains("rollout web-2.0.0: succeeded"), "{text}");
    // No run listens any more; status reads the record.
    let out = shipctl(dir.path()).args(["status", ID]).output().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("web-2.0.0: success (finished"));
}

#[test]
fn abort_from_another_process_rolls_back_with_exit_code_1() {
    let dir = tempfile::tempdir().unwrap();
    let run = start_blue_green(dir.path());
    let out = shipctl(dir.path()).args(["abort", ID]).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let (code, text) = output_of(run);
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("ROLLING BACK"), "{text}");
    assert!(
        text.contains("web-1.0.0                3 ready of 3 desired, 100% of traffic"),
        "{text}"
    );
}

#[test]
fn a_killed_run_resumes_from_its_journal_and_is_promoted() {
    let dir = tempfile::tempdir().unwrap();
    let mut run = start_blue_green(dir.path());
    run.kill().unwrap(); // SIGKILL
    run.wait().unwrap();
    let out = shipctl(dir.path()).args(["status", ID]).output().unwrap();
    let status = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(status.contains("interrupted"), "{status}");

    let resumed = spawn(dir.path(), &["resume", ID]);
    wait_status(
        dir.path(),
        ID,
        "paused at step 3/6 (waiting for promotion) (running)",
    );
    let out = shipctl(dir.path()).args(["promote", ID]).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let (code, text) = output_of(resumed);
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("resumed from the journal"), "{text}");
    assert!(text.contains("rollout web-2.0.0: succeeded"), "{text}");
    assert!(
        text.contains("web-2.0.0                3 ready of 3 desired, 100% of traffic"),
        "{text}"
    );
}

#[test]
fn pause_and_resume_through_the_socket_are_journaled() {
    let dir = tempfile::tempdir().unwrap();
    let run = start_blue_green(dir.path());
    // Live `resume` is a command to the running process, not a second run.
    let out = shipctl(dir.path()).args(["pause", ID]).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let out = shipctl(dir.path()).args(["resume", ID]).output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("resume sent to web-2.0.0"));
    // The engine's `resume` goes on from the pause it is in (here: the promotion wait).
    let (code, text) = output_of(run);
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("paused: paused by operator"), "{text}");
    let journal =
        std::fs::read_to_string(dir.path().join("rollouts").join(ID).join("journal.jsonl"))
            .unwrap();
    for c in ["\"pause\"", "\"resume\""] {
        assert!(journal.contains(c), "{c} not journaled");
    }
}
