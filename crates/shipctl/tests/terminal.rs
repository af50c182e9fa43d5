//! shipctl in a terminal, as a person uses it: tmux runs `shipctl run` of a blue-green that
//! waits for promotion in one pane; in a second pane a shell types `shipctl promote` (or
//! `abort`, or `kill -9` of the run and then `shipctl resume`), and `capture-pane` reads the
//! screen: the live status line while it waits, and the last line the rollout ends on.
//!
//! Needs tmux: without it the tests say they skipped, and with SHIPCORE_E2E=1 they fail.
#![allow(clippy::unwrap_used)]

mod common;
use common::example;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const ID: &str = "web-2.0.0";
/// What pane 0's shell prints when shipctl ends, before its exit code.
const EXITED: &str = "[shipctl exited with ";
/// The live line while the blue-green waits at its pause.
const WAITING: &str = "step 3/6: pause until promoted · waiting: waiting for promotion";

/// Whether tmux can run here; panics under SHIPCORE_E2E=1 when it cannot.
fn have_tmux() -> bool {
    if Command::new("tmux").arg("-V").output().is_ok() {
        return true;
    }
    assert!(
        std::env::var("SHIPCORE_E2E").as_deref() != Ok("1"),
        "SHIPCORE_E2E=1 but tmux is not installed (Debian: apt-get install tmux)"
    );
    eprintln!("skipped: tmux is not installed (Debian: apt-get install tmux)");
    false
}

/// A private tmux server (its own socket and config in a temporary directory), killed when
/// dropped. Session `t`, pane 0 runs shipctl, pane 1 is a shell.
struct Tmux {
    sock: PathBuf,
    conf: PathBuf,
}

impl Tmux {
    /// Starts the server with `command` in pane 0 (followed by the shell printing its exit
    /// code) and a shell in pane 1. Panes stay on screen after their process ends.
    fn start(dir: &Path, command: &str) -> Tmux {
        let tmux = Tmux {
            sock: dir.join("tmux.sock"),
            conf: dir.join("tmux.conf"),
        };
        std::fs::write(
            &tmux.conf,
            "set -g remain-on-exit on\nset -g history-limit 5000\n",
        )
        .unwrap();
        // Colour is wanted on a terminal: the server (and so each pane) runs without NO_COLOR.
        let out = tmux
            .command()
            .args(["new-session", "-d", "-x", "200", "-y", "50", "-s", "t"])
            .arg(with_exit_code(command))
            .env_remove("NO_COLOR")
            .env_remove("TMUX")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "tmux new-session: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        tmux.run(&["split-window", "-t", "t:0.0", "bash --norc --noprofile"]);
        tmux
    }

    fn command(&self) -> Command {
        let mut c = Command::new("tmux");
        c.arg("-S").arg(&self.sock).arg("-f").arg(&self.conf);
        c
    }

    fn run(&self, args: &[&str]) -> String {
        let out = self.command().args(args).output().unwrap();
        assert!(
            out.status.success(),
            "tmux {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).to_string()
    }

    /// The pane's whole screen and history, wrapped lines joined; `escapes` keeps colours.
    fn capture(&self, pane: u8, escapes: bool) -> String {
        let target = format!("t:0.{pane}");
        let mut args = vec!["capture-pane", "-p", "-J", "-S", "-", "-t", &target];
        if escapes {
            args.push("-e");
        }
        self.run(&args)
    }

    /// Waits until pane `pane` shows `want` (30 s at most); returns the screen.
    fn wait_for(&self, pane: u8, want: &str) -> String {
        let start = Instant::now();
        loop {
            let screen = self.capture(pane, false);
            if screen.contains(want) {
                return screen;
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "pane {pane} never showed {want:?}; screen:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The process id of the shell in pane `pane`.
    fn pane_pid(&self, pane: u8) -> u32 {
        let pid = self.run(&[
            "display-message",
            "-p",
            "-t",
            &format!("t:0.{pane}"),
            "#{pane_pid}",
        ]);
        pid.trim().parse().unwrap()
    }

    /// Waits until the `nth` shipctl run in pane 0 (1 for the first) has ended; its exit
    /// code, as the pane's shell printed it (tmux's own `pane_dead_status` is not reliable:
    /// tmux 3.3 sometimes leaves the process a zombie).
    fn wait_exit(&self, nth: usize) -> i32 {
        let start = Instant::now();
        loop {
            let screen = self.capture(0, false);
            if let Some(rest) = screen.split(EXITED).nth(nth) {
                return rest.split(']').next().unwrap().trim().parse().unwrap();
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "shipctl run {nth} in pane 0 never ended; screen:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Types `line` and Enter into pane `pane`'s shell.
    fn type_line(&self, pane: u8, line: &str) {
        let target = format!("t:0.{pane}");
        self.run(&["send-keys", "-t", &target, "-l", line]);
        self.run(&["send-keys", "-t", &target, "Enter"]);
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.command().arg("kill-server").output();
    }
}

/// `command`, then the shell prints its exit code (see [`EXITED`]).
fn with_exit_code(command: &str) -> String {
    format!("{command}; echo \"{EXITED}$?]\"")
}

/// The process whose parent is `parent` (shipctl, under pane 0's shell), from /proc.
fn child_of(parent: u32) -> u32 {
    let start = Instant::now();
    loop {
        for entry in std::fs::read_dir("/proc").unwrap().flatten() {
            let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
                continue;
            };
            let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
                continue;
            };
            // `pid (comm) state ppid …`; comm may hold spaces, so read after the last `)`.
            let ppid = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().nth(1))
                .and_then(|p| p.parse::<u32>().ok());
            if ppid == Some(parent) {
                return pid;
            }
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "no child of {parent}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn shipctl_cmd(state: &Path, args: &str) -> String {
    format!(
        "{} --state-dir {} {args}",
        assert_cmd::cargo::cargo_bin("shipctl").display(),
        state.display()
    )
}

/// The last non-empty line of a screen from shipctl (not the shell's exit code line, not
/// tmux's "Pane is dead" note).
fn last_line(screen: &str) -> &str {
    screen
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty() && !l.starts_with("Pane is dead") && !l.starts_with(EXITED))
        .unwrap_or("")
}

/// Starts the blue-green in pane 0 and waits for its live line at the pause.
fn start(dir: &Path) -> (Tmux, PathBuf) {
    let state = dir.join("state");
    let file = example("blue-green.yaml");
    let tmux = Tmux::start(
        dir,
        &shipctl_cmd(&state, &format!("run {}", file.display())),
    );
    let screen = tmux.wait_for(0, WAITING);
    // The live line: traffic and ready replicas per revision (after step 2's scale).
    assert!(
        screen.contains("web-1.0.0 100% 3/3 ready | web-2.0.0 0% 1/1 ready"),
        "{screen}"
    );
    (tmux, state)
}

#[test]
fn promote_from_a_second_pane_ends_the_live_view_in_succeeded() {
    if !have_tmux() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (tmux, state) = start(dir.path());
    tmux.type_line(1, &shipctl_cmd(&state, &format!("promote {ID}")));
    let code = tmux.wait_exit(1);
    let screen = tmux.capture(0, false);
    assert_eq!(code, 0, "{screen}");
    assert_eq!(
        last_line(&screen),
        "rollout web-2.0.0: succeeded (all steps completed); exit code 0",
        "{screen}"
    );
    assert!(
        screen.contains("operator command {\"command\":\"promote\",\"full\":false}"),
        "{screen}"
    );
    assert!(
        screen.contains("web-2.0.0                3 ready of 3 desired, 100% of traffic"),
        "{screen}"
    );
    // The live line is gone once the run ends: it does not linger under the last line.
    assert!(!last_line(&screen).contains("waiting"), "{screen}");
    // On a terminal without NO_COLOR the outcome is green.
    let coloured = tmux.capture(0, true);
    assert!(
        coloured.contains("rollout web-2.0.0: \u{1b}[32msucceeded"),
        "{coloured:?}"
    );
    let second = tmux.wait_for(1, "promote sent to web-2.0.0");
    assert!(
        second.contains("was web-2.0.0: paused at step 3/6 (waiting for promotion)"),
        "{second}"
    );
}

#[test]
fn abort_from_a_second_pane_ends_the_live_view_rolled_back_with_exit_code_1() {
    if !have_tmux() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (tmux, state) = start(dir.path());
    tmux.type_line(1, &shipctl_cmd(&state, &format!("abort {ID}")));
    let code = tmux.wait_exit(1);
    let screen = tmux.capture(0, false);
    assert_eq!(code, 1, "{screen}");
    assert_eq!(
        last_line(&screen),
        "rollout web-2.0.0: aborted (aborted by operator); exit code 1",
        "{screen}"
    );
    assert!(screen.contains("-> retire web-2.0.0"), "{screen}");
    assert!(
        screen.contains("web-1.0.0                3 ready of 3 desired, 100% of traffic"),
        "{screen}"
    );
    let coloured = tmux.capture(0, true);
    assert!(
        coloured.contains("rollout web-2.0.0: \u{1b}[33maborted"),
        "{coloured:?}"
    );
}

#[test]
fn kill_9_of_the_run_then_resume_in_the_same_pane_ends_succeeded() {
    if !have_tmux() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (tmux, state) = start(dir.path());
    let pid = child_of(tmux.pane_pid(0));
    tmux.type_line(1, &format!("kill -9 {pid}"));
    // The shell reports 128 + 9: killed by SIGKILL.
    assert_eq!(tmux.wait_exit(1), 137);
    tmux.type_line(1, &shipctl_cmd(&state, &format!("status {ID}")));
    tmux.wait_for(
        1,
        "web-2.0.0: not running and not finished (interrupted): `shipctl resume web-2.0.0` continues it",
    );
    // The person starts it again in the first pane: resume continues from the journal, at
    // the same pause, and a promote from the second pane finishes it.
    tmux.run(&[
        "respawn-pane",
        "-t",
        "t:0.0",
        &with_exit_code(&shipctl_cmd(&state, &format!("resume {ID}"))),
    ]);
    let screen = tmux.wait_for(0, "resumed from the journal");
    assert!(!screen.contains("finished:"), "{screen}");
    tmux.wait_for(0, WAITING);
    tmux.type_line(1, &shipctl_cmd(&state, &format!("promote {ID}")));
    // respawn-pane starts the pane afresh: this is its first exit line.
    let code = tmux.wait_exit(1);
    let screen = tmux.capture(0, false);
    assert_eq!(code, 0, "{screen}");
    assert_eq!(
        last_line(&screen),
        "rollout web-2.0.0: succeeded (all steps completed); exit code 0",
        "{screen}"
    );
    assert!(
        screen.contains("web-2.0.0                3 ready of 3 desired, 100% of traffic"),
        "{screen}"
    );
    // The resumed run did not start over: after "resumed" come steps 4 to 6 only, and its
    // times count from the rollout's start (the pause began at t+10s).
    let (_, after) = screen.split_once("resumed from the journal").unwrap();
    assert!(
        !after.contains("step 1:") && !after.contains("step 2:"),
        "{screen}"
    );
    assert!(after.contains("step 4: scale candidate to 3"), "{screen}");
    assert!(
        !screen.contains("t+0s      resumed from the journal"),
        "{screen}"
    );
    let record: serde_json::Value =
        serde_json::from_slice(&std::fs::read(state.join("records/web-2.0.0.json")).unwrap())
            .unwrap();
    assert_eq!(record["status"], "success", "{record}");
}
