//! Crash safety with real kills and a real full disk (a test binary with its own `main`,
//! `harness = false`).
//!
//! One seed drives everything: printed first, `SHIPCORE_CRASH_SEED=N` replays it. For a
//! good and a bad simulated canary, the parent runs the rollout once in-process as the
//! reference, and checks that a child process run without a kill writes a byte-identical
//! journal (determinism across processes). Then:
//!
//! - **Kill chains** until at least `SHIPCORE_CRASH_KILLS` (default 120) children were
//!   killed: a child runs the rollout with a file journal and a file-persisted simulator,
//!   is killed with SIGKILL once its journal has a random number of lines (plus a random
//!   few hundred microseconds, so kills land mid-call and mid-append), and the next child
//!   resumes from the journal; one to four kills per chain, then a last child finishes.
//!   While the first child of a chain runs, the parent must be refused the journal
//!   (`JournalError::Locked`, naming the child's pid).
//! - **Disk-full runs**: the journal lives on a 64 KiB tmpfs filled to a random point
//!   (mounted when root, as CI runs; skipped with a message otherwise, a failure with
//!   `SHIPCORE_E2E=1`). The child hits ENOSPC, retries, and stalls; the parent frees the
//!   space and either lets the same process retry or kills it and resumes in a new one.
//!
//! After every kill and at the end of every run: every entry a child had acknowledged
//! (append returned `Ok`; the child logs it) is in the journal, unchanged; the run ends in
//! the reference's phase with the reference's fleet; and no apply request was answered
//! `applied` twice (a resume never re-applies an action whose completion was journaled).
//!
//! Child mode: `crash_safety child <dir> <journal> <sim seed> <good|bad> [diskfull]`.
#![allow(clippy::unwrap_used)]

mod sim_rollout;
mod tmpfs_support;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use shipcore::engine::Phase;
use shipcore::journal::{Entry, FileJournal, Journal, JournalError};
use shipcore::testing::{SimRng, SimWorld};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Real time each driver call takes in a child, so a kill can land anywhere.
const PACE: Duration = Duration::from_millis(1);
/// Kills per run unless `SHIPCORE_CRASH_KILLS` says otherwise.
const DEFAULT_KILLS: usize = 120;

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
        let journal = PathBuf::from(&args[3]);
        let seed: u64 = args[4].parse().unwrap();
        let bad = args[5] == "bad";
        let diskfull = args.get(6).map(String::as_str) == Some("diskfull");
        child(&dir, &journal, seed, bad, diskfull);
        return;
    }
    // `cargo test` passes filters and flags; this binary has one test and runs it.
    if args.iter().any(|a| a == "--list") {
        println!("crash_safety: test");
        return;
    }
    let seed = match std::env::var("SHIPCORE_CRASH_SEED") {
        Ok(s) => s
            .parse()
            .unwrap_or_else(|_| panic!("SHIPCORE_CRASH_SEED={s:?} is not a number")),
        Err(_) => {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64;
            shipcore::testing::SimRng::new(nanos ^ u64::from(std::process::id())).next_u64()
        }
    };
    let want_kills: usize = std::env::var("SHIPCORE_CRASH_KILLS")
        .ok()
        .map(|s| s.parse().expect("SHIPCORE_CRASH_KILLS is not a number"))
        .unwrap_or(DEFAULT_KILLS);
    println!("crash_safety: seed {seed} (replay with SHIPCORE_CRASH_SEED={seed})");
    let started = Instant::now();
    let mut rng = SimRng::new(seed);
    let refs: Vec<Reference> = [true, false]
        .into_iter()
        .map(|bad| Reference::new(rng.next_u64() % 1000, bad, seed))
        .collect();

    let mut kills = 0;
    let mut chains = 0;
    let mut unkilled = 0;
    while kills < want_kills {
        let r = &refs[chains % refs.len()];
        let (k, u) = kill_chain(r, &mut rng);
        kills += k;
        unkilled += u;
        chains += 1;
        assert!(
            chains < want_kills * 4,
            "seed {seed}: only {kills} kills in {chains} chains: children finish too early"
        );
    }
    println!(
        "crash_safety: {kills} SIGKILLs in {chains} chains ({unkilled} children finished before \
         their kill), every resumed rollout matched its reference ({:.1?})",
        started.elapsed()
    );

    let disk_started = Instant::now();
    let mut disk_runs = 0;
    for (i, r) in [&refs[0], &refs[1], &refs[1], &refs[0]]
        .into_iter()
        .enumerate()
    {
        let kill = i >= 2;
        match disk_full_run(r, &mut rng, kill) {
            Some(()) => disk_runs += 1,
            None => break,
        }
    }
    if disk_runs > 0 {
        println!(
            "crash_safety: {disk_runs} disk-full runs (64 KiB tmpfs, filled at a random point; \
             retried in-process and killed-then-resumed) matched their references ({:.1?})",
            disk_started.elapsed()
        );
    }
    println!(
        "crash_safety: seed {seed}, {kills} kill points, {disk_runs} disk-full runs, {:.1?} in all",
        started.elapsed()
    );
}

/// A journal that logs every acknowledged append (`seq crc32`) to a side file, so the parent
/// can check that no acknowledged entry is ever lost or changed.
struct Acking {
    inner: FileJournal,
    log: Mutex<std::fs::File>,
}

#[async_trait]
impl Journal for Acking {
    async fn append(&self, payload: &serde_json::Value) -> Result<u64, JournalError> {
        let seq = self.inner.append(payload).await?;
        let crc = crc32fast::hash(serde_json::to_string(payload).unwrap().as_bytes());
        // One small O_APPEND write: survives the process being killed right after.
        let line = format!("{seq} {crc:08x}\n");
        self.log.lock().unwrap().write_all(line.as_bytes()).unwrap();
        Ok(seq)
    }
    async fn read_all(&self) -> Result<Vec<Entry>, JournalError> {
        self.inner.read_all().await
    }
}

fn child(dir: &Path, journal_path: &Path, seed: u64, bad: bool, diskfull: bool) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let world = SimWorld::persisting(seed, dir.join("world.json")).unwrap();
        let fresh = !journal_path.exists();
        if fresh {
            world
                .driver
                .seed_stable(&sim_rollout::target(), &sim_rollout::v1(), 4);
        }
        sim_rollout::configure(&world, bad);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("acks"))
            .unwrap();
        let journal = Arc::new(Acking {
            inner: FileJournal::open(journal_path).unwrap(),
            log: Mutex::new(log),
        });
        let driver = Arc::new(sim_rollout::Paced {
            inner: world.driver_arc(),
            delay: PACE,
        });
        let mut failures = 0;
        let report = loop {
            let mut runner = sim_rollout::runner(&world, driver.clone(), journal.clone());
            let started = !journal.read_all().await.unwrap().is_empty();
            let result = if started {
                runner.resume().await
            } else {
                runner.start(sim_rollout::spec()).await
            };
            match result {
                Ok(report) => break report,
                // A full disk: retry as a runner's caller does after a transient journal
                // error; after two retries, wait until the parent freed space.
                Err(e) if diskfull && e.is_transient() => {
                    failures += 1;
                    assert!(
                        failures < 10,
                        "child: still failing after space was freed: {e}"
                    );
                    if failures == 3 {
                        std::fs::write(dir.join("stalled"), e.to_string()).unwrap();
                        let deadline = Instant::now() + Duration::from_secs(60);
                        while !dir.join("freed").exists() {
                            assert!(Instant::now() < deadline, "space was never freed");
                            std::thread::sleep(Duration::from_millis(1));
                        }
                    }
                }
                Err(e) => panic!("child: {e}"),
            }
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

fn spawn_child(
    dir: &Path,
    journal: &Path,
    seed: u64,
    bad: bool,
    diskfull: bool,
) -> std::process::Child {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.arg("child")
        .arg(dir)
        .arg(journal)
        .arg(seed.to_string())
        .arg(if bad { "bad" } else { "good" });
    if diskfull {
        cmd.arg("diskfull");
    }
    cmd.stdout(Stdio::null())
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
        std::thread::sleep(Duration::from_millis(1));
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

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(f)
}

/// Opens the journal (as the next resume would: the writer is dead), checks that every
/// acknowledged entry is there unchanged, and returns the entries.
fn check_acked(dir: &Path, journal: &Path, what: &str) -> Vec<Entry> {
    let j = FileJournal::open(journal)
        .unwrap_or_else(|e| panic!("{what}: the journal does not reopen: {e}"));
    let entries = block_on(j.read_all()).unwrap();
    drop(j);
    let acks = std::fs::read_to_string(dir.join("acks")).unwrap_or_default();
    let mut n = 0;
    for ack in acks.lines() {
        let (seq, crc) = ack.split_once(' ').unwrap();
        let seq: usize = seq.parse().unwrap();
        let entry = entries.get(seq).unwrap_or_else(|| {
            panic!(
                "{what}: acknowledged entry {seq} is lost (the journal has {})",
                entries.len()
            )
        });
        let got = crc32fast::hash(serde_json::to_string(&entry.payload).unwrap().as_bytes());
        assert_eq!(
            format!("{got:08x}"),
            crc,
            "{what}: acknowledged entry {seq} changed"
        );
        n += 1;
    }
    assert!(n > 0 || entries.is_empty() || acks.is_empty(), "{what}");
    entries
}

/// No apply request is answered `applied` twice: a resume never re-applies an action whose
/// completion was journaled.
fn check_applied_once(entries: &[Entry], what: &str) {
    let mut seen = BTreeMap::new();
    for e in entries {
        if e.payload["input"] == "applied" {
            let id = e.payload["id"].as_u64().unwrap();
            if let Some(first) = seen.insert(id, e.seq) {
                panic!(
                    "{what}: apply request {id} answered `applied` twice (entries {first} and {})",
                    e.seq
                );
            }
        }
    }
    assert!(!seen.is_empty(), "{what}: nothing was applied");
}

/// A reference rollout: its end state and journal.
struct Reference {
    sim_seed: u64,
    bad: bool,
    outcome: Outcome,
    lines: usize,
    bytes: usize,
    run_seed: u64,
}

impl Reference {
    /// Runs the rollout in-process, then once in a child without a kill, which must write
    /// the same journal.
    fn new(sim_seed: u64, bad: bool, run_seed: u64) -> Reference {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rollout.journal");
        let outcome = block_on(async {
            let world = sim_rollout::world(sim_seed, bad);
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
        let journal = std::fs::read(&path).unwrap();
        let want = if bad {
            Phase::RolledBack
        } else {
            Phase::Succeeded
        };
        assert_eq!(outcome.phase, want, "reference run (sim seed {sim_seed})");
        let lines = journal.iter().filter(|&&c| c == b'\n').count();
        assert!(lines > 10, "reference journal has {lines} lines");
        check_applied_once(
            &block_on(FileJournal::open(&path).unwrap().read_all()).unwrap(),
            "reference",
        );

        let cdir = tempfile::tempdir().unwrap();
        let cpath = cdir.path().join("rollout.journal");
        let status = finish(
            spawn_child(cdir.path(), &cpath, sim_seed, bad, false),
            "uninterrupted child",
        );
        assert!(status.success());
        assert!(
            std::fs::read(&cpath).unwrap() == journal,
            "sim seed {sim_seed}: a child process wrote a different journal than the reference"
        );
        assert_eq!(read_outcome(cdir.path()), outcome);
        Reference {
            sim_seed,
            bad,
            outcome,
            lines,
            bytes: journal.len(),
            run_seed,
        }
    }

    fn name(&self) -> String {
        format!(
            "{} canary (seed {}, sim seed {})",
            if self.bad { "bad" } else { "good" },
            self.run_seed,
            self.sim_seed
        )
    }

    /// The end of a run: the outcome matches, acknowledged entries are all there, nothing
    /// applied twice.
    fn check_end(&self, dir: &Path, journal: &Path, what: &str) {
        let got = read_outcome(dir);
        assert_eq!(
            (got.phase, &got.fleet),
            (self.outcome.phase, &self.outcome.fleet),
            "{what}: the resumed rollout ended differently"
        );
        let entries = check_acked(dir, journal, what);
        check_applied_once(&entries, what);
    }
}

/// One rollout killed 1 to 4 times at random journal lengths, then finished. Returns the
/// kills and the children that finished before their kill.
fn kill_chain(r: &Reference, rng: &mut SimRng) -> (usize, usize) {
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("rollout.journal");
    let planned = 1 + (rng.next_u64() % 4) as usize;
    let (mut kills, mut unkilled) = (0, 0);
    let mut points = Vec::new();
    for c in 0..planned {
        let at = lines(&journal);
        if at + 1 >= r.lines {
            break;
        }
        // Somewhere in the rest of the journal: at + 1 ..= total - 1 lines written.
        let k = at + 1 + (rng.next_u64() as usize) % (r.lines - 1 - at);
        let extra = Duration::from_micros(rng.next_u64() % 1500);
        let what = format!("{}, kill {c} at {k} of {} lines", r.name(), r.lines);
        let mut child = spawn_child(dir.path(), &journal, r.sim_seed, r.bad, false);
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut finished = false;
        while lines(&journal) < k {
            if child.try_wait().unwrap().is_some() {
                finished = true;
                break;
            }
            assert!(Instant::now() < deadline, "{what}: child never got there");
            std::thread::sleep(Duration::from_micros(100));
        }
        if !finished && c == 0 {
            // One writer: the journal of a live child is refused, naming the child.
            match FileJournal::open(&journal) {
                Err(JournalError::Locked { holder, .. }) => assert!(
                    holder.contains(&format!("pid {}", child.id())),
                    "{what}: holder {holder:?}"
                ),
                Err(e) if child.try_wait().unwrap().is_some() => {
                    panic!("{what}: reopen after the child ended failed: {e}")
                }
                Err(e) => panic!("{what}: expected Locked, got {e}"),
                Ok(_) => assert!(
                    child.try_wait().unwrap().is_some(),
                    "{what}: a second writer opened the journal of a live child"
                ),
            }
        }
        if !finished {
            std::thread::sleep(extra);
            // SIGKILL; the child may have finished in the meantime, which `wait` tells.
            let _ = child.kill();
        }
        let status = child.wait().unwrap();
        if status.success() {
            // It ended on its own before the kill.
            unkilled += 1;
            let _ = std::fs::remove_file(dir.path().join("outcome.json"));
            break;
        }
        kills += 1;
        // A kill can land after the outcome was written but before the process exited.
        let _ = std::fs::remove_file(dir.path().join("outcome.json"));
        check_acked(dir.path(), &journal, &what);
        points.push(lines(&journal));
    }
    let what = format!("{}, after kills at {points:?} lines", r.name());
    let status = finish(
        spawn_child(dir.path(), &journal, r.sim_seed, r.bad, false),
        &what,
    );
    assert!(status.success(), "{what}: the resumed child failed");
    assert!(read_outcome(dir.path()).resumed, "{what}");
    r.check_end(dir.path(), &journal, &what);
    (kills, unkilled)
}

/// The journal on a small tmpfs filled to a random point: the child stalls on ENOSPC and
/// retries; the parent frees space and lets it go on (`kill` false) or kills it and resumes
/// in a new process. `None` when no tmpfs can be mounted here.
fn disk_full_run(r: &Reference, rng: &mut SimRng, kill: bool) -> Option<()> {
    let fs = tmpfs_support::Tmpfs::mount("64k", "crash_safety disk-full run")?;
    let dir = tempfile::tempdir().unwrap();
    let journal = fs.path().join("rollout.journal");
    // One page for the holder sidecar, then room for part of the journal: tmpfs counts
    // whole pages, so the disk fills at a random page boundary short of the journal's end.
    const PAGE: u64 = 4096;
    let pages = (r.bytes as u64).div_ceil(PAGE);
    assert!(
        pages >= 2,
        "{}: journal of {} bytes is too small",
        r.name(),
        r.bytes
    );
    let room = PAGE * (1 + rng.next_u64() % (pages - 1));
    let filler = fs.fill_leaving(PAGE + room);
    let what = format!(
        "{}, disk full after about {room} of {} journal bytes, {}",
        r.name(),
        r.bytes,
        if kill {
            "killed and resumed"
        } else {
            "retried in-process"
        }
    );
    let mut child = spawn_child(dir.path(), &journal, r.sim_seed, r.bad, true);
    let deadline = Instant::now() + Duration::from_secs(60);
    while !dir.path().join("stalled").exists() {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("{what}: the child ended ({status}) without filling the disk");
        }
        assert!(Instant::now() < deadline, "{what}: child never stalled");
        std::thread::sleep(Duration::from_millis(1));
    }
    if kill {
        let _ = child.kill();
        assert!(!child.wait().unwrap().success(), "{what}");
        check_acked(dir.path(), &journal, &what);
        std::fs::remove_file(&filler).unwrap();
        let status = finish(
            spawn_child(dir.path(), &journal, r.sim_seed, r.bad, false),
            &what,
        );
        assert!(status.success(), "{what}: the resumed child failed");
    } else {
        std::fs::remove_file(&filler).unwrap();
        std::fs::write(dir.path().join("freed"), "").unwrap();
        assert!(finish(child, &what).success(), "{what}: the child failed");
    }
    r.check_end(dir.path(), &journal, &what);
    drop(fs);
    Some(())
}
