//! Wall time of a one-hour canary (five weight steps, an analysis every minute) run by the
//! real runner on the simulator with a `SimClock` and a `MemoryJournal`. Target: ≤ 1 ms.
#![allow(clippy::unwrap_used)]

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use shipcore::journal::MemoryJournal;
use shipcore_benches::{prepared_canary, run_prepared};
use std::sync::Arc;

fn one_hour(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let mut group = c.benchmark_group("one_hour_canary");
    group.bench_function("simulated", |b| {
        b.iter_batched(
            || prepared_canary(Arc::new(MemoryJournal::new())).unwrap(),
            // The world, runner (with its journal) and report are dropped untimed.
            |prepared| run_prepared(&rt, prepared),
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

criterion_group!(benches, one_hour);
criterion_main!(benches);
