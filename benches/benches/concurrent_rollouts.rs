//! 10,000 canaries running at once in one tokio runtime, each on its own simulated world and
//! clock, journaling to a journal that keeps nothing: wall time, and heap from a counting
//! global allocator. Targets: ≤ 1 s and ≤ 20 KB per rollout (medians of repetitions).
#![allow(clippy::unwrap_used)]

use shipcore::engine::{Phase, RolloutSpec, Runner};
use shipcore_benches::{
    error_rate, shaped_spec, world, CountingAlloc, NullJournal, Shape, YieldingClock,
};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc::new();

const ROLLOUTS: usize = 10_000;

struct Figures {
    wall: Duration,
    /// Heap held by the worlds, runners and specs before any rollout runs.
    setup: usize,
    /// The most heap held at once while they ran (setup included).
    peak: usize,
}

fn one(i: usize, shape: Shape) -> (Runner, RolloutSpec) {
    let w = world(i as u64);
    let spec = shaped_spec(&format!("r{i}"), &w, shape).unwrap();
    let validator = Arc::new(error_rate(&w).unwrap());
    let clock = Arc::new(YieldingClock(w.clock.clone()));
    let runner = Runner::builder(w.driver_arc(), clock, Arc::new(NullJournal::new()))
        .validator(validator)
        .build();
    (runner, spec)
}

/// Builds every rollout, starts them all, waits for all.
fn run_all(rt: &tokio::runtime::Runtime, rollouts: usize, shape: Shape) -> Figures {
    let base = ALLOC.current();
    ALLOC.reset_peak();
    let started = Instant::now();
    let ready: Vec<_> = (0..rollouts).map(|i| one(i, shape)).collect();
    let setup = ALLOC.current().saturating_sub(base);
    let succeeded = rt.block_on(async {
        let tasks: Vec<_> = ready
            .into_iter()
            .map(|(mut runner, spec)| {
                tokio::spawn(async move { runner.start(spec).await.map(|r| r.status.phase) })
            })
            .collect();
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
    Figures {
        wall,
        setup,
        peak: ALLOC.peak().saturating_sub(base),
    }
}

fn median<T: Ord + Copy>(mut v: Vec<T>) -> T {
    v.sort();
    v[v.len() / 2]
}

fn kb(bytes: usize, rollouts: usize) -> f64 {
    bytes as f64 / rollouts as f64 / 1000.0
}

fn measure(rt: &tokio::runtime::Runtime, name: &str, shape: Shape, rollouts: usize, reps: usize) {
    run_all(rt, rollouts / 10, shape); // warm-up: workers, allocator arenas
    let mut walls = Vec::with_capacity(reps);
    let mut setups = Vec::with_capacity(reps);
    let mut peaks = Vec::with_capacity(reps);
    for rep in 1..=reps {
        let f = run_all(rt, rollouts, shape);
        println!(
            "  {name} repetition {rep}: {:.3?}, setup {:.1} KB, peak {:.1} KB per rollout",
            f.wall,
            kb(f.setup, rollouts),
            kb(f.peak, rollouts)
        );
        walls.push(f.wall);
        setups.push(f.setup);
        peaks.push(f.peak);
    }
    let (wall, setup, peak) = (median(walls), median(setups), median(peaks));
    let per = kb(peak, rollouts);
    let met = |ok: bool| if ok { "met" } else { "missed" };
    println!(
        "concurrent_rollouts/{name}: {rollouts} at once ({} weight steps x {} measurements), median of {reps}:",
        shape.weights.len(),
        shape.measurements
    );
    println!(
        "  wall time {wall:.3?} (target <= 1 s: {})",
        met(wall <= Duration::from_secs(1))
    );
    println!(
        "  peak heap {:.1} MiB = {per:.1} KB per rollout, {:.1} KB of it set up before running \
         (target <= 20 KB: {})",
        peak as f64 / (1024.0 * 1024.0),
        kb(setup, rollouts),
        met(per <= 20.0)
    );
}

fn main() {
    let test_mode = std::env::args().any(|a| a == "--test");
    let (rollouts, reps) = if test_mode { (100, 1) } else { (ROLLOUTS, 5) };
    let rt = tokio::runtime::Builder::new_multi_thread().build().unwrap();
    measure(&rt, "short_canary", Shape::SHORT, rollouts, reps);
    measure(
        &rt,
        "one_hour_canary",
        Shape::ONE_HOUR,
        rollouts,
        reps.min(3),
    );
}
