//! 10,000 canaries running at once in one tokio runtime, journaling to a journal that keeps
//! nothing: wall time, and heap from a counting global allocator. Three ways: a runner per
//! rollout, each on its own simulated world and clock, keeping its event log or streaming
//! events through a hook; and one `Engine` running all of them on one simulated world (10,000
//! services) and one clock, events streamed. Targets: ≤ 1 s and ≤ 20 KB per rollout with
//! runners; ≤ 1 s and ≤ 12 KB per one-hour canary in one engine (medians of repetitions).
//!
//! One simulated clock shared by 10,000 rollouts runs ahead as each sleeps on it: every wait
//! still lasts at least its simulated duration, but the runs interleave differently from one
//! repetition to the next (a [`SimClock`](shipcore::clock::SimClock) is deterministic for one
//! rollout per clock), and a wait for ready replicas can see hours pass between two polls,
//! so the engine case gives each rollout a progress deadline of a simulated week.
//! `SHIPCORE_BENCH_ONLY=short_canary/events_streamed` (any part of a case's name) runs only
//! the matching cases; `SHIPCORE_BENCH_ROLLOUTS=n` runs n at once instead of 10,000 and
//! `SHIPCORE_BENCH_REPS=n` repeats each case n times; `SHIPCORE_BENCH_WEIGH=0` leaves out
//! the runs that count the heap, so a profiler sees only the timed ones.
#![allow(clippy::unwrap_used)]

use shipcore::engine::{Engine, Phase, RolloutSpec, Runner};
use shipcore::model::Target;
use shipcore::testing::SimWorld;
use shipcore_benches::{
    error_rate, error_rate_of_target, shaped_spec, shaped_spec_for, stable, world, CountingAlloc,
    NullJournal, Shape, YieldingClock, REPLICAS,
};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc::new();

const ROLLOUTS: usize = 10_000;

/// Rollouts started and not finished, and the most at once.
static ALIVE: AtomicUsize = AtomicUsize::new(0);
static MOST_ALIVE: AtomicUsize = AtomicUsize::new(0);

struct Figures {
    /// Building every world, spec and runner.
    setup_time: Duration,
    /// Setting up, then running all to their end.
    wall: Duration,
    /// Heap held by the worlds, runners and specs before any rollout runs.
    setup: isize,
    /// The most heap held at once while they ran (setup included).
    peak: isize,
    /// The most rollouts running at once.
    most_alive: usize,
}

/// Events streamed through `on_event` by runners that do not keep them.
static STREAMED: Streamed = Streamed::new();

/// A counter each thread adds to in its own cache line (one shared counter would be a line
/// that every worker writes for every event, which the library's hook does not cost).
struct Streamed([Padded; 16]);

#[repr(align(128))]
struct Padded(AtomicUsize);

static NEXT_SLOT: AtomicUsize = AtomicUsize::new(0);
thread_local! {
    static SLOT: usize = NEXT_SLOT.fetch_add(1, Ordering::Relaxed) % 16;
}

impl Streamed {
    const fn new() -> Self {
        Streamed([const { Padded(AtomicUsize::new(0)) }; 16])
    }
    fn add_one(&self) {
        SLOT.with(|slot| self.0[*slot].0.fetch_add(1, Ordering::Relaxed));
    }
    fn total(&self) -> usize {
        self.0.iter().map(|p| p.0.load(Ordering::Relaxed)).sum()
    }
    fn reset(&self) {
        for p in &self.0 {
            p.0.store(0, Ordering::Relaxed);
        }
    }
}

/// `keep`: each runner keeps its event log for its report (the default); otherwise it
/// streams events through a hook (counted here) and keeps none, as a process running
/// thousands of rollouts would, sending them to its own store.
fn one(i: usize, shape: Shape, keep: bool) -> (Runner, RolloutSpec) {
    let w = world(i as u64);
    let spec = shaped_spec(&format!("r{i}"), &w, shape).unwrap();
    let validator = Arc::new(error_rate(&w).unwrap());
    let clock = Arc::new(YieldingClock(w.clock.clone()));
    let mut builder =
        Runner::builder(w.driver_arc(), clock, Arc::new(NullJournal::new())).validator(validator);
    if !keep {
        builder = builder.keep_events(false).on_event(|_| {
            STREAMED.add_one();
        });
    }
    let runner = builder.build();
    (runner, spec)
}

/// Builds every rollout, starts them all, waits for all.
fn run_all(rt: &tokio::runtime::Runtime, rollouts: usize, shape: Shape, keep: bool) -> Figures {
    let base = ALLOC.current();
    ALLOC.reset_peak();
    MOST_ALIVE.store(0, Ordering::Relaxed);
    let started = Instant::now();
    STREAMED.reset();
    let ready: Vec<_> = (0..rollouts).map(|i| one(i, shape, keep)).collect();
    let setup_time = started.elapsed();
    let setup = ALLOC.current() - base;
    let succeeded = rt.block_on(async {
        // Every rollout waits at the gate until all are spawned, so all are alive at once
        // (without it, the first ones finish before the last ones start).
        let (open, gate) = tokio::sync::watch::channel(false);
        let tasks: Vec<_> = ready
            .into_iter()
            .map(|(mut runner, spec)| {
                let mut gate = gate.clone();
                tokio::spawn(async move {
                    gate.wait_for(|open| *open).await.ok();
                    let alive = ALIVE.fetch_add(1, Ordering::Relaxed) + 1;
                    MOST_ALIVE.fetch_max(alive, Ordering::Relaxed);
                    let phase = runner.start(spec).await.map(|r| r.status.phase);
                    ALIVE.fetch_sub(1, Ordering::Relaxed);
                    phase
                })
            })
            .collect();
        open.send_replace(true);
        let mut succeeded = 0;
        for t in tasks {
            if t.await.unwrap().unwrap() == Phase::Succeeded {
                succeeded += 1;
            }
        }
        succeeded
    });
    let wall = started.elapsed();
    assert_eq!(succeeded, rollouts, "every rollout must succeed");
    if !keep {
        assert!(
            STREAMED.total() > rollouts * 10,
            "the hooks saw every rollout's events"
        );
    }
    Figures {
        setup_time,
        wall,
        setup,
        peak: ALLOC.peak() - base,
        most_alive: MOST_ALIVE.load(Ordering::Relaxed),
    }
}

/// One engine on one world runs every rollout, each on its own service; all are spawned
/// before the clock lets any of them sleep, so all are alive at once.
fn run_engine(rt: &tokio::runtime::Runtime, rollouts: usize, shape: Shape) -> Figures {
    let base = ALLOC.current();
    ALLOC.reset_peak();
    let started = Instant::now();
    STREAMED.reset();
    let w = SimWorld::new(1);
    let specs: Vec<RolloutSpec> = (0..rollouts)
        .map(|i| {
            let target = Target::new(format!("web{i}"), "production");
            w.driver.seed_stable(&target, &stable(), REPLICAS);
            let mut spec = shaped_spec_for(&format!("r{i}"), &w, shape, target).unwrap();
            // The shared clock runs ahead while a rollout waits for ready replicas (see the
            // module docs): a deadline of a simulated week keeps that from failing it.
            spec.progress_deadline = Duration::from_secs(7 * 24 * 3600);
            spec
        })
        .collect();
    let (open, gate) = tokio::sync::watch::channel(false);
    let clock = Arc::new(GatedClock {
        inner: YieldingClock(w.clock.clone()),
        open: std::sync::atomic::AtomicBool::new(false),
        gate,
    });
    let engine = Engine::builder(w.driver_arc(), clock)
        .validator(Arc::new(error_rate_of_target(&w).unwrap()))
        .keep_events(false)
        .on_event(|_| {
            STREAMED.add_one();
        })
        .build();
    let setup_time = started.elapsed();
    let setup = ALLOC.current() - base;
    let (succeeded, most_alive) = rt.block_on(async {
        let running: Vec<_> = specs
            .into_iter()
            .map(|spec| engine.start(spec, Arc::new(NullJournal::new())).unwrap())
            .collect();
        // Every run reaches its first wait on the clock (or ends) before the clock opens.
        while engine.active() < rollouts && !running.iter().all(|r| r.status().phase.is_settled()) {
            let_runs_start().await;
        }
        let most_alive = engine.active();
        open.send_replace(true);
        let mut succeeded = 0;
        for run in running {
            if run.finished().await.unwrap().status.phase == Phase::Succeeded {
                succeeded += 1;
            }
        }
        (succeeded, most_alive)
    });
    let wall = started.elapsed();
    assert_eq!(succeeded, rollouts, "every rollout must succeed");
    assert!(
        STREAMED.total() > rollouts * 10,
        "the hook saw every rollout's events"
    );
    assert!(engine.runs().is_empty());
    Figures {
        setup_time,
        wall,
        setup,
        peak: ALLOC.peak() - base,
        most_alive,
    }
}

/// Lets the spawned runs go on while the benchmark waits for them: on a multi-thread
/// runtime this thread (not one of its workers) sleeps a little, since spinning here would
/// take a core from the workers starting the runs; on a current-thread runtime it yields,
/// which is what runs them.
async fn let_runs_start() {
    match tokio::runtime::Handle::current().runtime_flavor() {
        tokio::runtime::RuntimeFlavor::CurrentThread => tokio::task::yield_now().await,
        _ => std::thread::sleep(Duration::from_micros(200)),
    }
}

/// A [`YieldingClock`] whose sleeps wait until the gate opens, in one boxed future per
/// sleep (the gate is read from an atomic once open, not through the channel's lock that
/// every run would share).
struct GatedClock {
    inner: YieldingClock,
    open: std::sync::atomic::AtomicBool,
    gate: tokio::sync::watch::Receiver<bool>,
}

impl GatedClock {
    async fn wait_for_gate(&self) {
        let mut gate = self.gate.clone();
        let _ = gate.wait_for(|open| *open).await;
        self.open.store(true, Ordering::Release);
    }
}

#[shipcore::async_trait]
impl shipcore::clock::Clock for GatedClock {
    fn now(&self) -> shipcore::time::Timestamp {
        self.inner.now()
    }
    async fn sleep_until(&self, t: shipcore::time::Timestamp) {
        if !self.open.load(Ordering::Acquire) {
            // Boxed: the wait for the gate happens once per rollout, and its state would
            // otherwise make every sleep's future four times larger.
            Box::pin(self.wait_for_gate()).await;
        }
        tokio::task::yield_now().await;
        self.inner.0.advance_to(t);
    }
}

fn median<T: Ord + Copy>(mut v: Vec<T>) -> T {
    v.sort();
    v[v.len() / 2]
}

fn kb(bytes: isize, rollouts: usize) -> f64 {
    bytes as f64 / rollouts as f64 / 1000.0
}

/// Times `reps` runs with the allocator not counting (its shared counters would slow
/// threads down), then weighs `reps` runs with it counting.
fn measure(
    rt: &tokio::runtime::Runtime,
    name: &str,
    shape: Shape,
    mode: Mode,
    rollouts: usize,
    reps: usize,
) {
    let name = &format!(
        "{name}/{}",
        match mode {
            Mode::Runners { keep: true } => "events_kept",
            Mode::Runners { keep: false } => "events_streamed",
            Mode::OneEngine => "one_engine",
        }
    );
    let run_all = |rt: &tokio::runtime::Runtime, rollouts: usize, shape: Shape| match mode {
        Mode::Runners { keep } => run_all(rt, rollouts, shape, keep),
        Mode::OneEngine => run_engine(rt, rollouts, shape),
    };
    let target_kb = match mode {
        Mode::Runners { .. } => 20.0,
        Mode::OneEngine => 12.0,
    };
    if let Ok(only) = std::env::var("SHIPCORE_BENCH_ONLY") {
        if !name.contains(&only) {
            return;
        }
    }
    ALLOC.set_counting(false);
    run_all(rt, rollouts / 10, shape); // warm-up: workers, allocator arenas
    let timed: Vec<Figures> = (0..reps).map(|_| run_all(rt, rollouts, shape)).collect();
    ALLOC.set_counting(true);
    // SHIPCORE_BENCH_WEIGH=0: no counted runs, so a profiler sees only the timed ones (the
    // heap figures then print as zero).
    if std::env::var("SHIPCORE_BENCH_WEIGH").is_ok_and(|v| v == "0") {
        let wall = median(timed.iter().map(|f| f.wall).collect());
        println!(
            "concurrent_rollouts/{name}: wall time {wall:.3?}, median of {reps} (not weighed)"
        );
        return;
    }
    let weighed: Vec<Figures> = (0..reps).map(|_| run_all(rt, rollouts, shape)).collect();
    for (rep, (t, w)) in timed.iter().zip(&weighed).enumerate() {
        println!(
            "  {name} repetition {}: {:.3?} ({:.3?} of it setting up), {} running at most; \
             counted: setup {:.1} KB, peak {:.1} KB per rollout",
            rep + 1,
            t.wall,
            t.setup_time,
            t.most_alive.min(w.most_alive),
            kb(w.setup, rollouts),
            kb(w.peak, rollouts)
        );
    }
    let wall = median(timed.iter().map(|f| f.wall).collect());
    let setup_time = median(timed.iter().map(|f| f.setup_time).collect());
    let setup = median(weighed.iter().map(|f| f.setup).collect());
    let peak = median(weighed.iter().map(|f| f.peak).collect());
    let per = kb(peak, rollouts);
    let met = |ok: bool| if ok { "met" } else { "missed" };
    println!(
        "concurrent_rollouts/{name}: {rollouts} at once ({} weight steps x {} measurements), \
         medians of {reps}:",
        shape.weights.len(),
        shape.measurements
    );
    println!(
        "  wall time {wall:.3?}, {setup_time:.3?} of it building worlds and runners (target <= 1 s: {})",
        met(wall <= Duration::from_secs(1))
    );
    println!(
        "  peak heap {:.1} MiB = {per:.1} KB per rollout, {:.1} KB of it set up before running \
         (target <= {target_kb} KB: {})",
        peak as f64 / (1024.0 * 1024.0),
        kb(setup, rollouts),
        met(per <= target_kb)
    );
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` passes nothing to a harness-less
    // bench (not `--test`), and then one small round checks that it runs.
    let test_mode = !std::env::args().any(|a| a == "--bench");
    let (mut rollouts, mut reps) = if test_mode { (100, 1) } else { (ROLLOUTS, 5) };
    let from_env = |name: &str| std::env::var(name).ok().and_then(|n| n.parse().ok());
    if let Some(n) = from_env("SHIPCORE_BENCH_ROLLOUTS") {
        rollouts = n;
    }
    if let Some(n) = from_env("SHIPCORE_BENCH_REPS") {
        reps = n;
    }
    // Runners: a worker per CPU that takes woken rollouts in turn (every tick looks at the
    // shared queue), so all 10,000 are alive at once as real ones would be. Tokio's defaults
    // run a few hundred to their end first (SHIPCORE_BENCH_RUNTIME=default shows it, with
    // the number alive at most). One engine: tokio's defaults, as an embedding service would
    // run it; its clock holds every rollout until all are started, so all are alive at once
    // anyway (the figures print how many were). SHIPCORE_BENCH_RUNTIME=current_thread runs
    // every case on one thread.
    let runtime = |busy: bool| {
        match std::env::var("SHIPCORE_BENCH_RUNTIME").as_deref() {
            Ok("current_thread") => tokio::runtime::Builder::new_current_thread().build(),
            Ok("default") => tokio::runtime::Builder::new_multi_thread().build(),
            _ if busy => tokio::runtime::Builder::new_multi_thread()
                .global_queue_interval(1)
                .event_interval(1)
                .build(),
            _ => tokio::runtime::Builder::new_multi_thread().build(),
        }
        .unwrap()
    };
    let rt = runtime(true);
    for keep in [true, false] {
        let mode = Mode::Runners { keep };
        measure(&rt, "short_canary", Shape::SHORT, mode, rollouts, reps);
        measure(
            &rt,
            "one_hour_canary",
            Shape::ONE_HOUR,
            mode,
            rollouts,
            reps.min(3),
        );
    }
    drop(rt);
    measure(
        &runtime(false),
        "one_hour_canary",
        Shape::ONE_HOUR,
        Mode::OneEngine,
        rollouts,
        reps,
    );
}

/// How the rollouts are run.
#[derive(Clone, Copy)]
enum Mode {
    /// A runner (and a world) per rollout; `keep`: each keeps its event log.
    Runners { keep: bool },
    /// One engine on one world for all.
    OneEngine,
}
