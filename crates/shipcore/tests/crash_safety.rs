//! Crash safety with a real kill (a test binary with its own `main`, `harness = false`).
//!
//! The parent runs the simulated canary once in-process as the reference. Then, for each
//! seeded kill point K, it starts this same binary as a child that runs the rollout with a
//! file journal and a file-persisted simulator, kills it with SIGKILL once the journal has
//! K lines, and starts another child that resumes from the journal. The resumed rollout
//! must end in the same phase with the same fleet as the reference. A child run without a
//! kill must also write a journal byte-identical to the reference (determinism across
//! processes). Child mode: `crash_safety child <dir> <seed> <good|bad>`.
#![allow(clippy::unwrap_used)]

mod sim_rollout;

use serde::{Deserialize, Serialize};
use shipcore::engine::Phase;
use shipcore::journal::FileJournal;
use shipcore::testing::{SimRng, SimWorld};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

const SEED: u64 = 20261201;
/// Real time each driver call takes in a child, so a kill can land anywhere.
const PACE: Duration = Duration::from_millis(2);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Outcome {
    phase: Phase,
    fleet: Vec<(String, u32, u32, u8)>,
    resumed: bool,
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("child") {
        let dir = PathBuf::from(&args[2]);
        let seed: u64 = args[3].parse().unwrap();
        let bad = args[4] == "bad";
        child(&dir, seed, bad);
        return;
    }
    // `cargo test` passes filters and flags; this binary has one test and runs it.
    if args.iter().any(|a| a == "--list") {
        println!("crash_safety: test");
        return;
    }
    let started = Instant::now();
    let mut rng = SimRng::new(SEED);
    let mut kills = 0;
    for (bad, points) in [(true, 8), (false, 16)] {
        kills += parent(bad, points, &mut rng);
    }
    println!(
        "crash_safety: {kills} SIGKILLs, every resumed rollout matched its reference ({:.1?})",
        started.elapsed()
    );
}

fn child(dir: &Path, seed: u64, bad: bool) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let world = SimWorld::persisting(seed, dir.join("world.json")).unwrap();
        let journal_path = dir.join("rollout.journal");
        let fresh = !journal_path.exists();
        if fresh {
            world
                .driver
                .seed_stable(&sim_rollout::target(), &sim_rollout::v1(), 4);
        }
        sim_rollout::configure(&world, bad);
        let journal = Arc::new(FileJournal::open(&journal_path).unwrap());
        let driver = Arc::new(sim_rollout::Paced {
            inner: world.driver_arc(),
            delay: PACE,
        });
        let mut runner = sim_rollout::runner(&world, driver, journal);
        let report = if fresh {
            runner.start(sim_rollout::spec()).await.unwrap()
        } else {
            runner.resume().await.unwrap()
        };
        let outcome = Outcome {
            phase: report.status.phase,
            fleet: sim_rollout::end_state(&world.driver.fleet(&sim_rollout::target())),
            resumed: !fresh,
        };
        let text = serde_json::to_string(&outcome).unwrap();
        std::fs::write(dir.join("outcome.json"), text).unwrap();
    });
}

fn spawn_child(dir: &Path, seed: u64, bad: bool) -> std::process::Child {
    Command::new(std::env::current_exe().unwrap())
        .arg("child")
        .arg(dir)
        .arg(seed.to_string())
        .arg(if bad { "bad" } else { "good" })
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap()
}

/// Waits for a child for at most a minute; a hung resume is a failure, not a hung test.
fn finish(mut child: std::process::Child, what: &str) -> std::process::ExitStatus {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() > deadline {
            child.kill().unwrap();
            panic!("{what}: did not finish within a minute");
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn lines(path: &Path) -> usize {
    std::fs::read(path)
        .map(|b| b.iter().filter(|&&c| c == b'\n').count())
        .unwrap_or(0)
}

fn read_outcome(dir: &Path) -> Outcome {
    let text = std::fs::read_to_string(dir.join("outcome.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// The reference run in-process; returns its outcome and its journal's bytes.
fn reference(seed: u64, bad: bool) -> (Outcome, Vec<u8>) {
    let dir = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let path = dir.path().join("rollout.journal");
    let outcome = rt.block_on(async {
        let world = sim_rollout::world(seed, bad);
        let journal = Arc::new(FileJournal::open(&path).unwrap());
        let report = sim_rollout::runner(&world, world.driver_arc(), journal)
            .start(sim_rollout::spec())
            .await
            .unwrap();
        Outcome {
            phase: report.status.phase,
            fleet: sim_rollout::end_state(&world.driver.fleet(&sim_rollout::target())),
            resumed: false,
        }
    });
    (outcome, std::fs::read(&path).unwrap())
}

/// Kills `points` children at seeded journal lengths and checks each resumed end state.
fn parent(bad: bool, points: usize, rng: &mut SimRng) -> usize {
    let seed = rng.next_u64() % 1000;
    let (expected, journal) = reference(seed, bad);
    let want = if bad {
        Phase::RolledBack
    } else {
        Phase::Succeeded
    };
    assert_eq!(expected.phase, want, "reference run (seed {seed})");
    let total = journal.iter().filter(|&&c| c == b'\n').count();
    assert!(total > 10, "reference journal has {total} lines");

    // An uninterrupted child writes the same bytes as the in-process reference.
    let dir = tempfile::tempdir().unwrap();
    assert!(finish(spawn_child(dir.path(), seed, bad), "uninterrupted child").success());
    let child_journal = std::fs::read(dir.path().join("rollout.journal")).unwrap();
    assert!(
        child_journal == journal,
        "seed {seed}: a child process wrote a different journal than the reference"
    );
    assert_eq!(read_outcome(dir.path()), expected);

    let mut killed = 0;
    let mut at_lines = Vec::new();
    for i in 0..points {
        // Kill points spread over the whole journal: 1 ..= total - 1 lines written.
        let k = 1 + (rng.next_u64() as usize) % (total - 1);
        let dir = tempfile::tempdir().unwrap();
        let journal_path = dir.path().join("rollout.journal");
        let mut child = spawn_child(dir.path(), seed, bad);
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut finished = false;
        while lines(&journal_path) < k {
            if child.try_wait().unwrap().is_some() {
                finished = true;
                break;
            }
            assert!(Instant::now() < deadline, "child never reached {k} lines");
            std::thread::sleep(Duration::from_micros(200));
        }
        if !finished {
            // SIGKILL; the child may have finished in the meantime, which `wait` tells.
            let _ = child.kill();
        }
        let status = child.wait().unwrap();
        if status.success() {
            // It ended on its own before the kill: resuming an ended journal must still
            // give the same end state.
            assert_eq!(
                read_outcome(dir.path()),
                expected,
                "seed {seed}, unkilled run"
            );
        } else {
            killed += 1;
        }
        // A kill can land after the outcome was written but before the process exited.
        let _ = std::fs::remove_file(dir.path().join("outcome.json"));
        let at = lines(&journal_path);
        let status = finish(spawn_child(dir.path(), seed, bad), "resumed child");
        assert!(status.success(), "kill point {k}: the resumed child failed");
        at_lines.push(at);
        let got = read_outcome(dir.path());
        assert!(got.resumed);
        assert_eq!(
            (got.phase, &got.fleet),
            (expected.phase, &expected.fleet),
            "{} canary, seed {seed}, kill point {i} at {at} of {total} journal lines",
            if bad { "bad" } else { "good" }
        );
    }
    println!(
        "{} canary (seed {seed}, {total} journal lines): killed at {at_lines:?} lines, resumed to {:?}",
        if bad { "bad" } else { "good" },
        expected.phase
    );
    assert!(
        killed * 2 >= points,
        "only {killed} of {points} children were killed before finishing"
    );
    killed
}
