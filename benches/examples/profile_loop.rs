//! Runs one workload in a loop and prints the mean time per run: a steady target for `perf
//! record` and `valgrind --tool=callgrind` (criterion's harness gets in their way).
//!
//! `cargo run --release -p shipcore-benches --example profile_loop -- <mode> [runs]`, where
//! mode is `core` (the one-hour canary's journaled inputs replayed through the pure machine),
//! `runner` (that canary through the runner, memory journal), `null` (the same with a
//! journal that keeps nothing), `hand` (the hand-written loop
//! making the same calls) or `short` (a short canary, set-up included, events streamed).
#![allow(clippy::unwrap_used)]

use shipcore::engine::{Rollout, Runner};
use shipcore::journal::MemoryJournal;
use shipcore_benches::*;
use std::sync::Arc;
use std::time::Instant;

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let mode = std::env::args().nth(1).unwrap_or_else(|| "runner".into());
    let runs: u32 = std::env::args()
        .nth(2)
        .map(|s| s.parse().unwrap())
        .unwrap_or(5000);
    let recorded = record_canary(7).unwrap();
    let started = Instant::now();
    for _ in 0..runs {
        match mode.as_str() {
            "core" => {
                let mut machine = None;
                for input in &recorded.inputs {
                    std::hint::black_box(Rollout::replay_into(&mut machine, input).unwrap());
                }
            }
            "hand" => {
                let w = world(7);
                let validator = error_rate(&w).unwrap();
                let spec = canary_spec("bench", &w).unwrap();
                rt.block_on(hand_written_canary(&w.driver, &*w.clock, &validator, &spec))
                    .unwrap();
            }
            "short" => {
                let w = world(7);
                let spec = shaped_spec("bench", &w, Shape::SHORT).unwrap();
                let validator = Arc::new(error_rate(&w).unwrap());
                let journal = Arc::new(NullJournal::new());
                let mut runner = Runner::builder(w.driver_arc(), w.clock_arc(), journal)
                    .validator(validator)
                    .keep_events(false)
                    .build();
                rt.block_on(runner.start(spec)).unwrap();
            }
            "runner" => {
                let prepared = prepared_canary(Arc::new(MemoryJournal::new())).unwrap();
                run_prepared(&rt, prepared);
            }
            "null" => {
                let prepared = prepared_canary(Arc::new(NullJournal::new())).unwrap();
                run_prepared(&rt, prepared);
            }
            other => panic!("unknown mode {other:?}: core, runner, null, hand or short"),
        }
    }
    println!(
        "{mode}: {:?} per run ({runs} runs; the one-hour canary has {} journaled inputs)",
        started.elapsed() / runs,
        recorded.inputs.len()
    );
}
