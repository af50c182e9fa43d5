//! One writer per target, across real processes (a test binary with its own `main`,
//! `harness = false`).
//!
//! Two child processes of this binary run rollouts of the same service, one after the
//! other, for hours of shared simulated time (a fast clock: one wall second is twenty
//! simulated minutes, read by both from one epoch). Each rollout takes the file lock (TTL
//! one simulated hour, refreshed every twenty minutes), pauses longer than the TTL (a timed
//! pause and an operator pause), and shifts traffic. Rollout ids repeat across the two
//! processes (a retried job), and the parent SIGKILLs a child every few seconds and starts
//! another, whose rollouts take over the dead one's stale lock. Every fleet change a child
//! makes is logged to a shared append-only file as `enter` and `leave` lines around the
//! driver call; the parent logs `kill` before each SIGKILL. At no instant may two processes
//! be inside a fleet change: an `enter` while another process is inside is allowed only
//! after that process was sent its SIGKILL. Child mode: `lock_contention child <dir> <n>`.
#![allow(clippy::unwrap_used)]

use async_trait::async_trait;
use shipcore::clock::Clock;
use shipcore::driver::{Capabilities, Driver, DriverError};
use shipcore::engine::{Command, EventKind, Phase, RolloutSpec, Runner};
use shipcore::gate::{FileLock, LockGate};
use shipcore::gate::{Gate, GateContext, GateOutcome, KeepAlive};
use shipcore::journal::MemoryJournal;
use shipcore::model::{Action, FleetState, Plan, Revision, Role, Step, Target};
use shipcore::testing::{SimRng, SimWorld};
use shipcore::time::Timestamp;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command as Process, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Simulated milliseconds per wall millisecond.
const SCALE: u64 = 1200;
/// Wall time the contention runs.
const RUN: Duration = Duration::from_secs(40);
const MIN: Duration = Duration::from_secs(60);
const SEED: u64 = 20261201;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("child") {
        child(Path::new(&args[2]), args[3].parse().unwrap());
        return;
    }
    if args.iter().any(|a| a == "--list") {
        println!("lock_contention: test");
        return;
    }
    parent();
}

fn wall_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// Shared simulated time: `SCALE` times the wall time since the parent's epoch.
struct FastClock {
    epoch: u64,
}

#[async_trait]
impl Clock for FastClock {
    fn now(&self) -> Timestamp {
        Timestamp(wall_ms().saturating_sub(self.epoch) * SCALE)
    }
    async fn sleep_until(&self, t: Timestamp) {
        let now = self.now();
        if t > now {
            tokio::time::sleep(t.since(now) / SCALE as u32).await;
        }
    }
}

fn log(dir: &Path, line: &str) {
    // One write of a short line to an O_APPEND file: never interleaved with another's.
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(dir.join("fleet.log"))
        .unwrap();
    f.write_all(format!("{line}\n").as_bytes()).unwrap();
}

/// The simulator, kept at the shared time, with every fleet change logged around it.
struct Logged {
    world: SimWorld,
    clock: Arc<FastClock>,
    dir: PathBuf,
}

#[async_trait]
impl Driver for Logged {
    fn capabilities(&self) -> Capabilities {
        self.world.driver.capabilities()
    }
    async fn observe(&self, target: &Target) -> Result<FleetState, DriverError> {
        self.world.clock.advance_to(self.clock.now());
        self.world.driver.observe(target).await
    }
    async fn apply(&self, target: &Target, action: &Action) -> Result<(), DriverError> {
        self.world.clock.advance_to(self.clock.now());
        let pid = std::process::id();
        log(&self.dir, &format!("{pid} enter {}", action.describe()));
        // A fleet change takes a while: a kill can land inside one.
        std::thread::sleep(Duration::from_millis(4));
        let done = self.world.driver.apply(target, action).await;
        log(&self.dir, &format!("{pid} leave"));
        done
    }
}

fn web() -> Target {
    Target::new("web", "production")
}

fn spec(id: &str) -> RolloutSpec {
    let v1 = Revision::new("web-v1", "1.0.0".parse().unwrap(), "web:1.0.0");
    let v2 = Revision::new("web-v2", "2.0.0".parse().unwrap(), "web:2.0.0");
    let plan = Plan {
        strategy: "canary".into(),
        replicas: 2,
        steps: vec![
            Step::Scale {
                role: Role::Candidate,
                replicas: 2,
            },
            Step::SetWeight { percent: 30 },
            // Longer than the lock's TTL.
            Step::Pause {
                duration: Some(70 * MIN),
            },
            Step::SetWeight { percent: 60 },
            Step::Pause {
                duration: Some(10 * MIN),
            },
            Step::SetWeight { percent: 80 },
            Step::Promote,
            Step::Retire {
                role: Role::Stable,
                after: Duration::ZERO,
            },
        ],
    };
    let mut s = RolloutSpec::new(id, web(), Some(v1), v2, plan);
    s.gates = vec!["lock".into()];
    s
}

fn child(dir: &Path, n: u64) {
    let epoch: u64 = std::fs::read_to_string(dir.join("epoch"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let clock = Arc::new(FastClock { epoch });
    let lock = Arc::new(FileLock::new(dir.join("locks"), 60 * MIN));
    let gate = Arc::new(LockGate::new("lock", lock).retry_after(5 * MIN));
    let pid = std::process::id();
    let mut rng = SimRng::new(SEED ^ (n << 20) ^ pid as u64);
    rt.block_on(async {
        for round in 0.. {
            let world = SimWorld::new(rng.next_u64());
            world.clock.advance_to(clock.now());
            world.driver.seed_stable(
                &web(),
                &Revision::new("web-v1", "1.0.0".parse().unwrap(), "web:1.0.0"),
                2,
            );
            let driver = Arc::new(Logged {
                world,
                clock: clock.clone(),
                dir: dir.to_path_buf(),
            });
            // Ids repeat across the two processes: a retried job is another owner.
            let id = format!("deploy-{}", rng.gen_range(0..3));
            let now = clock.now();
            let log_dir = dir.to_path_buf();
            let waited = std::sync::atomic::AtomicBool::new(false);
            let mut builder =
                Runner::builder(driver, clock.clone(), Arc::new(MemoryJournal::new()))
                    .gate(Arc::new(Logging {
                        inner: gate.clone(),
                        dir: dir.to_path_buf(),
                    }))
                    .on_event(move |ev| match &ev.kind {
                        EventKind::GateChecked { outcome, .. }
                            if matches!(**outcome, GateOutcome::Wait { .. })
                                && !waited.swap(true, std::sync::atomic::Ordering::Relaxed) =>
                        {
                            // Once per rollout: a contention round.
                            log(&log_dir, &format!("{pid} waited"));
                        }
                        EventKind::Paused { reason } if reason.contains("lost its hold") => {
                            log(&log_dir, &format!("{pid} lost"));
                        }
                        _ => {}
                    });
            if round % 2 == 1 {
                // An operator pause longer than the TTL, then a resume.
                builder = builder
                    .command_at(now.plus(20 * MIN), Command::Pause)
                    .command_at(now.plus(110 * MIN), Command::Resume);
            }
            let report = builder.build().start(spec(&id)).await.unwrap();
            log(dir, &format!("{pid} ended {id} {}", report.status.phase));
            if report.status.phase != Phase::Succeeded {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    });
}

/// The lock gate, logging when it took the lock and *before* it gives it back.
struct Logging {
    inner: Arc<LockGate>,
    dir: PathBuf,
}

#[async_trait]
impl Gate for Logging {
    fn name(&self) -> &str {
        self.inner.name()
    }
    async fn check(&self, ctx: &GateContext) -> GateOutcome {
        let outcome = self.inner.check(ctx).await;
        if outcome == GateOutcome::Pass {
            log(&self.dir, &format!("{} locked", std::process::id()));
        }
        outcome
    }
    async fn on_finish(&self, ctx: &GateContext, phase: Phase) {
        log(&self.dir, &format!("{} unlocking", std::process::id()));
        self.inner.on_finish(ctx, phase).await
    }
    async fn keep_alive(&self, ctx: &GateContext) -> KeepAlive {
        self.inner.keep_alive(ctx).await
    }
    fn keep_alive_interval(&self) -> Option<Duration> {
        self.inner.keep_alive_interval()
    }
}

fn spawn(dir: &Path, n: u64) -> Child {
    Process::new(std::env::current_exe().unwrap())
        .arg("child")
        .arg(dir)
        .arg(n.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap()
}

fn kill(dir: &Path, mut c: Child) {
    log(dir, &format!("{} kill", c.id()));
    c.kill().unwrap();
    // Reaped at once, so its pid is gone from /proc and its lock is stale.
    c.wait().unwrap();
}

fn parent() {
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("epoch"), wall_ms().to_string()).unwrap();
    let mut rng = SimRng::new(SEED);
    let mut spawned = 0;
    let mut children = vec![spawn(dir.path(), 0), spawn(dir.path(), 1)];
    spawned += 2;
    let mut kills = 0;
    while started.elapsed() < RUN {
        std::thread::sleep(Duration::from_millis(rng.gen_range(5000..9000)));
        for c in children.iter_mut() {
            if let Some(status) = c.try_wait().unwrap() {
                panic!("a child exited by itself: {status}");
            }
        }
        // Mostly the lock's holder: its stale lock must then be taken over.
        let holder_pid = std::fs::read(dir.path().join("locks/web@production.lock"))
            .ok()
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
            .and_then(|v| v["pid"].as_u64());
        let i = match children
            .iter()
            .position(|c| Some(c.id() as u64) == holder_pid)
        {
            Some(i) if rng.gen_bool(0.75) => i,
            _ => rng.gen_range(0..2) as usize,
        };
        let victim = std::mem::replace(&mut children[i], spawn(dir.path(), spawned));
        spawned += 1;
        kill(dir.path(), victim);
        kills += 1;
    }
    for c in children {
        kill(dir.path(), c);
    }
    let text = std::fs::read_to_string(dir.path().join("fleet.log")).unwrap();
    let report = check(&text);
    let simulated_h = started.elapsed().as_secs_f64() * SCALE as f64 / 3600.0;
    println!(
        "lock_contention: {} rollouts ended ({} succeeded), {} contention rounds (a rollout found the other's lock held and waited), {} stale locks of killed runners taken over, {} locks of live runners taken over (stalled past the TTL) and {} lost and stopped, {} fleet changes, {kills} SIGKILLs mid-run, {simulated_h:.1} simulated hours in {:.1?}: never two processes changing the fleet at once",
        report.ended, report.succeeded, report.waits, report.takeovers, report.live_takeovers, report.lost, report.changes, started.elapsed()
    );
    assert!(
        report.changes > 25,
        "too few fleet changes to mean anything: {report:?}"
    );
    assert!(
        report.succeeded >= 3,
        "too few rollouts got through: {report:?}"
    );
    assert!(
        report.waits > 0,
        "the two processes never contended: {report:?}"
    );
}

#[derive(Debug, Default)]
struct Report {
    changes: usize,
    waits: usize,
    lost: usize,
    takeovers: usize,
    live_takeovers: usize,
    ended: usize,
    succeeded: usize,
}

/// Replays the log: fails at the first fleet change that starts while another process's
/// is open and that process was not killed before.
fn check(text: &str) -> Report {
    let mut r = Report::default();
    // The process inside a fleet change, and whether it has been sent its SIGKILL.
    let mut inside: Option<(String, bool)> = None;
    // The process holding the lock, and whether it has been sent its SIGKILL.
    let mut holder: Option<(String, bool)> = None;
    for (n, line) in text.lines().enumerate() {
        let mut parts = line.splitn(3, ' ');
        let (pid, what) = (parts.next().unwrap(), parts.next().unwrap_or(""));
        match what {
            "enter" => {
                if let Some((other, killed)) = &inside {
                    assert!(
                        *killed,
                        "line {}: {pid} changes the fleet while {other} is changing it:\n{}",
                        n + 1,
                        context(text, n)
                    );
                }
                inside = Some((pid.to_string(), false));
                r.changes += 1;
            }
            "leave" => match &inside {
                Some((p, _)) if p == pid => inside = None,
                _ => panic!(
                    "line {}: {pid} leaves a change it never entered:\n{}",
                    n + 1,
                    context(text, n)
                ),
            },
            "kill" => {
                for (p, killed) in [&mut inside, &mut holder].into_iter().flatten() {
                    if p == pid {
                        *killed = true;
                    }
                }
            }
            "locked" => {
                match &holder {
                    Some((h, true)) if h != pid => r.takeovers += 1,
                    // Only a holder that stalled past the TTL may lose its lock.
                    Some((h, false)) if h != pid => r.live_takeovers += 1,
                    _ => {}
                }
                holder = Some((pid.to_string(), false));
            }
            "waited" => r.waits += 1,
            "lost" => {
                r.lost += 1;
                holder = None;
            }
            "unlocking" => {
                if holder.as_ref().is_some_and(|(h, _)| h == pid) {
                    holder = None;
                }
            }
            "ended" => {
                r.ended += 1;
                if line.ends_with(" succeeded") {
                    r.succeeded += 1;
                }
            }
            other => panic!("line {}: unknown entry {other:?}", n + 1),
        }
    }
    r
}

fn context(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[n.saturating_sub(8)..(n + 2).min(lines.len())].join("\n")
}
