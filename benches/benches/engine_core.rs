//! Engine transitions per second on the pure core: the inputs of a real simulated one-hour
//! canary, recorded by its journal, replayed through `Rollout::handle` (no I/O at all).
#![allow(clippy::unwrap_used)]

use criterion::{black_box, criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use shipcore::engine::{Phase, Rollout};
use shipcore_benches::record_canary;

fn replay(c: &mut Criterion) {
    let rec = record_canary(7).unwrap();
    let n = rec.inputs.len();
    println!("one-hour canary: {n} journaled inputs (transitions)");
    let mut group = c.benchmark_group("engine_core");
    group.throughput(Throughput::Elements(n as u64));
    group.bench_function("replay_one_hour_canary", |b| {
        b.iter_batched_ref(
            || None,
            |machine| {
                let mut effects = 0;
                for input in &rec.inputs {
                    effects += black_box(Rollout::replay_into(machine, black_box(input)))
                        .unwrap()
                        .len();
                }
                assert_eq!(machine.as_ref().unwrap().phase(), Phase::Succeeded);
                effects
            },
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

criterion_group!(benches, replay);
criterion_main!(benches);
