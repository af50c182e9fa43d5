//! The runner's overhead: the one-hour canary run by the runner against a hand-written loop
//! making the same driver, validator and clock calls, on a fresh zero-latency simulator, then
//! with 50 µs added per call. Target: runner ≤ 1.05 × hand-written.
#![allow(clippy::unwrap_used)]

use criterion::{BatchSize, Criterion};
use shipcore::engine::{Phase, Runner};
use shipcore::journal::{Journal, MemoryJournal};
use shipcore_benches::{
    canary_spec, error_rate, hand_written_canary, prepared_canary, run_prepared, world,
    NullJournal, Slow,
};
use std::sync::Arc;
use std::time::{Duration, Instant};

type JournalFactory = fn() -> Arc<dyn Journal>;

const JOURNALS: [(&str, JournalFactory); 2] = [
    ("memory_journal", || Arc::new(MemoryJournal::new())),
    ("null_journal", || Arc::new(NullJournal::new())),
];

fn runner_once(
    rt: &tokio::runtime::Runtime,
    journal: JournalFactory,
    per_call: Duration,
) -> Duration {
    let w = world(7);
    let driver = Arc::new(Slow {
        inner: w.driver.clone(),
        per_call,
    });
    let validator = Arc::new(Slow {
        inner: error_rate(&w).unwrap(),
        per_call,
    });
    let mut runner = Runner::builder(driver, w.clock_arc(), journal())
        .validator(validator)
        .build();
    let spec = canary_spec("bench", &w).unwrap();
    let t = Instant::now();
    let report = rt.block_on(runner.start(spec)).unwrap();
    let took = t.elapsed();
    assert_eq!(report.status.phase, Phase::Succeeded);
    drop((runner, report, w));
    took
}

fn hand_once(rt: &tokio::runtime::Runtime, per_call: Duration) -> Duration {
    let w = world(7);
    let driver = Slow {
        inner: w.driver.clone(),
        per_call,
    };
    let validator = Slow {
        inner: error_rate(&w).unwrap(),
        per_call,
    };
    let spec = canary_spec("bench", &w).unwrap();
    let t = Instant::now();
    rt.block_on(hand_written_canary(&driver, &*w.clock, &validator, &spec))
        .unwrap();
    let took = t.elapsed();
    drop((validator, driver, spec, w));
    took
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn criterion_runs(c: &mut Criterion, rt: &tokio::runtime::Runtime) {
    let mut group = c.benchmark_group("engine_overhead");
    group.bench_function("hand_written", |b| {
        b.iter_batched(
            || {
                let w = world(7);
                let validator = error_rate(&w).unwrap();
                let spec = canary_spec("bench", &w).unwrap();
                (w, validator, spec)
            },
            |(w, validator, spec)| {
                rt.block_on(hand_written_canary(&w.driver, &*w.clock, &validator, &spec))
                    .unwrap();
                w
            },
            BatchSize::PerIteration,
        )
    });
    for (name, journal) in JOURNALS {
        group.bench_function(format!("runner_{name}"), |b| {
            b.iter_batched(
                || prepared_canary(journal()).unwrap(),
                |prepared| run_prepared(rt, prepared),
                BatchSize::PerIteration,
            )
        });
    }
    group.finish();
}

/// Interleaved repetitions, so both sides see the same machine load; medians and ratios.
fn ratio(rt: &tokio::runtime::Runtime, reps: usize, per_call: Duration) {
    for _ in 0..reps / 10 + 1 {
        hand_once(rt, per_call);
        runner_once(rt, JOURNALS[0].1, per_call);
    }
    let mut hand = Vec::with_capacity(reps);
    let mut runs: Vec<Vec<Duration>> = vec![Vec::with_capacity(reps); JOURNALS.len()];
    for _ in 0..reps {
        hand.push(hand_once(rt, per_call));
        for (i, (_, journal)) in JOURNALS.iter().enumerate() {
            runs[i].push(runner_once(rt, *journal, per_call));
        }
    }
    let hand = median(hand);
    let inputs = journaled_inputs(rt);
    println!(
        "engine_overhead, {per_call:?} added per driver/validator call ({reps} interleaved \
         repetitions, medians):"
    );
    println!("  hand-written loop          {hand:>10.1?}");
    for ((name, _), run) in JOURNALS.iter().zip(runs) {
        let run = median(run);
        let r = run.as_secs_f64() / hand.as_secs_f64();
        let verdict = if r <= 1.05 { "met" } else { "missed" };
        let overhead = run.saturating_sub(hand);
        let per_input = overhead.as_secs_f64() * 1e6 / inputs as f64;
        println!(
            "  runner, {name:<18} {run:>10.1?}  ratio {r:.3}x (target <= 1.05x: {verdict}), \
             overhead {overhead:.1?} = {per_input:.3} µs per journaled input ({inputs} inputs; \
             target <= 0.25 µs: {})",
            if per_input <= 0.25 { "met" } else { "missed" }
        );
    }
}

/// How many inputs the runner journals for the canary.
fn journaled_inputs(rt: &tokio::runtime::Runtime) -> u64 {
    let w = world(7);
    let journal = Arc::new(NullJournal::new());
    let mut runner = Runner::builder(w.driver_arc(), w.clock_arc(), journal.clone())
        .validator(Arc::new(error_rate(&w).unwrap()))
        .build();
    let report = rt
        .block_on(runner.start(canary_spec("bench", &w).unwrap()))
        .unwrap();
    assert_eq!(report.status.phase, Phase::Succeeded);
    journal.appended()
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    // `cargo bench` passes `--bench`; `cargo test --benches` passes nothing to a harness-less
    // bench (not `--test`), and then one small round checks that it runs.
    let test_mode = !std::env::args().any(|a| a == "--bench");
    let mut c = Criterion::default().configure_from_args();
    criterion_runs(&mut c, &rt);
    c.final_summary();
    // The zero-latency simulator (the target's setting), then calls of 50 µs, still far
    // quicker than any real platform API, to show where the overhead stops mattering.
    ratio(&rt, if test_mode { 3 } else { 201 }, Duration::ZERO);
    ratio(
        &rt,
        if test_mode { 3 } else { 51 },
        Duration::from_micros(50),
    );
}
