//! Helpers shared by the integration tests: the binary, the examples, snapshots.
#![allow(dead_code, clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The workspace's `examples/rollouts/NAME`.
pub fn example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/rollouts")
        .join(name)
}

/// The folder of example files.
pub fn examples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/rollouts")
}

/// `shipctl --state-dir STATE ARGS…`, as an assert_cmd command.
pub fn shipctl(state: &Path) -> assert_cmd::Command {
    let mut c = assert_cmd::Command::cargo_bin("shipctl").unwrap();
    c.arg("--state-dir").arg(state).env("NO_COLOR", "1");
    c
}

/// The same, as a child process (for runs another process must reach).
pub fn spawn(state: &Path, args: &[&str]) -> Child {
    Command::new(assert_cmd::cargo::cargo_bin("shipctl"))
        .arg("--state-dir")
        .arg(state)
        .args(args)
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Polls `shipctl status ID` until its output contains `want` (20 s at most).
pub fn wait_status(state: &Path, id: &str, want: &str) -> String {
    let start = Instant::now();
    loop {
        let out = shipctl(state).args(["status", id]).output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        if text.contains(want) {
            return text;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "status of {id} never showed {want:?}; last: {text} {}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Compares `actual` with `tests/snapshots/NAME`; `SHIPCTL_BLESS=1` rewrites the snapshot.
pub fn snapshot(name: &str, actual: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/snapshots")
        .join(name);
    if std::env::var_os("SHIPCTL_BLESS").is_some() {
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (SHIPCTL_BLESS=1 writes it)", path.display()));
    assert_eq!(
        actual,
        expected,
        "output differs from {} (SHIPCTL_BLESS=1 rewrites it)",
        path.display()
    );
}
