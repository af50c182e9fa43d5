//! Wall time of a one-hour canary (five weight steps, an analysis every minute) run by the
//! real runner on the simulator with a `SimClock` and a `MemoryJournal`. Target: ≤ 1 ms.
#![allow(clippy::unwrap_used)]

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use shipcore::engine::Phase;
use shipcore::journal::MemoryJournal;
use shipcore_benches::{canary_spec, sim_runner, world};
use std::sync::Arc;

fn one_hour(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let mut group = c.benchmark_group("one_hour_canary");
    group.bench_function("simulated", |b| {
        b.iter_batched(
            || {
                let w = world(7);
                let runner = sim_runner(&w, Arc::new(MemoryJournal::new())).unwrap();
                let spec = canary_spec("bench", &w).unwrap();
                (w, runner, spec)
            },
            // The world, runner (with its journal) and report are dropped untimed.
            |(w, mut runner, spec)| {
                let report = rt.block_on(runner.start(spec)).unwrap();
                assert_eq!(report.status.phase, Phase::Succeeded);
                (w, runner, report)
            },
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

criterion_group!(benches, one_hour);
criterion_main!(benches);
