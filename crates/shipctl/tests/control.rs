//! Control from another process: a blue-green run waits for promotion; `shipctl promote`
//! or `abort` from the test reaches it through the socket; a run killed with SIGKILL is
//! continued by `shipctl resume` and promoted to success.
#![allow(clippy::unwrap_used)]

mod common;
use common::{example, shipctl, spawn, wait_status};
use std::io::Read;

const ID: &str = "web-2.0.0";

/// A child run, killed if the test fails before it ends (so no run outlives its test).
struct Run(Option<std::process::Child>);

impl Run {
    fn kill(&mut self) {
        let child = self.0.as_mut().unwrap();
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        if let Some(c) = self.0.as_mut() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn output_of(mut run: Run) -> (Option<i32>, String) {
    let mut child = run.0.take().unwrap();
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

fn start_blue_green(state: &std::path::Path) -> Run {
    let file = example("blue-green.yaml");
    let run = Run(Some(spawn(state, &["run", file.to_str().unwrap()])));
    wait_status(
        state,
        ID,
        "paused at step 3/6 (waiting for promotion) (running)",
    );
    run
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
    run.kill();
    let out = shipctl(dir.path()).args(["status", ID]).output().unwrap();
    let status = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(status.contains("interrupted"), "{status}");

    let resumed = Run(Some(spawn(dir.path(), &["resume", ID])));
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

#[test]
fn approve_reaches_an_approval_gate_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("r.yaml");
    std::fs::write(
        &file,
        "\
target: {service: shop, environment: production}
stable: {version: 1.0.0, artifact: shop:1}
candidate: {version: 1.1.0, artifact: shop:1.1}
replicas: 2
strategy:
  canary:
    steps:
      - set_weight: 50
      - gate: [release-manager]
gates:
  - {type: approval, name: release-manager}
",
    )
    .unwrap();
    let state = dir.path().join("s");
    let run = Run(Some(spawn(&state, &["run", file.to_str().unwrap()])));
    // Once for the pre-rollout checklist, once for the gate step at 50%.
    for at in ["step 1/6", "step 3/6"] {
        wait_status(&state, "shop-1.1.0", &format!("paused at {at}"));
        let out = shipctl(&state)
            .args(["approve", "shop-1.1.0", "release-manager"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0));
    }
    let (code, text) = output_of(run);
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("\"approve\""), "{text}");
}

/// As root, a client of another uid is refused by the peer check even when the socket's
/// mode would let it connect.
#[test]
fn a_peer_of_another_uid_is_refused() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    use std::os::unix::process::CommandExt;
    if std::fs::metadata("/proc/self")
        .map(|m| m.uid())
        .unwrap_or(1)
        != 0
    {
        eprintln!("skipped: needs root to run a client as another uid");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let run = start_blue_green(dir.path());
    // Open the way the mode bits guard, to reach the peer check behind them.
    let set = |p: &std::path::Path, m| {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).unwrap()
    };
    set(dir.path(), 0o755);
    set(&dir.path().join("rollouts"), 0o755);
    set(&dir.path().join("rollouts").join(ID), 0o755);
    set(
        &dir.path().join("rollouts").join(ID).join("control.sock"),
        0o777,
    );
    let out = std::process::Command::new(assert_cmd::cargo::cargo_bin("shipctl"))
        .arg("--state-dir")
        .arg(dir.path())
        .args(["abort", ID])
        .uid(65534)
        .gid(65534)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("refused: uid 65534"), "{stderr}");
    // The rollout did not abort: it still waits, and a promote by the owner finishes it.
    wait_status(dir.path(), ID, "waiting for promotion");
    shipctl(dir.path()).args(["promote", ID]).assert().success();
    let (code, _) = output_of(run);
    assert_eq!(code, Some(0));
}

#[test]
fn retry_after_a_rollback_starts_again_from_the_journal() {
    let dir = tempfile::tempdir().unwrap();
    let out = shipctl(dir.path())
        .arg("run")
        .arg(example("canary-bad.yaml"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    // No run listens any more: retry continues the rollout from its journal.
    let out = shipctl(dir.path())
        .args(["retry", "checkout-1.5.0-bad"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("operator command {\"command\":\"retry\"}"),
        "{text}"
    );
    assert!(text.contains("step 1: scale candidate to 1"), "{text}");
    let record: serde_json::Value = serde_json::from_slice(
        &std::fs::read(dir.path().join("records/checkout-1.5.0-bad.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(record["attempts"], 2);
}

#[test]
fn abort_of_a_killed_run_rolls_it_back_from_the_journal() {
    let dir = tempfile::tempdir().unwrap();
    let mut run = start_blue_green(dir.path());
    run.kill();
    let out = shipctl(dir.path()).args(["abort", ID]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("resumed from the journal"), "{text}");
    assert!(text.contains("rollout web-2.0.0: aborted"), "{text}");
    assert!(
        text.contains("web-1.0.0                3 ready of 3 desired, 100% of traffic"),
        "{text}"
    );
}

#[test]
fn a_closed_stdout_does_not_panic_or_stop_the_rollout() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("shipctl"))
        .arg("--state-dir")
        .arg(dir.path())
        .arg("run")
        .arg(example("canary.yaml"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take()); // as `| head -0` would
    let status = child.wait().unwrap();
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert_eq!(status.code(), Some(0), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(dir.path().join("records/checkout-1.5.0.json").exists());
}

#[test]
fn ctrl_c_stops_the_run_with_exit_code_3_and_it_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let run = start_blue_green(dir.path());
    let pid = run.0.as_ref().unwrap().id().to_string();
    let kill = std::process::Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .unwrap();
    assert!(kill.success());
    let (code, text) = output_of(run);
    assert_eq!(code, Some(3), "{text}");
    assert!(text.contains("interrupted: the rollout stopped where it was; `shipctl resume web-2.0.0` continues it"), "{text}");
    let out = shipctl(dir.path()).args(["status", ID]).output().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("interrupted"));
}
