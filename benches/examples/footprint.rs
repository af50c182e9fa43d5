//! Where a rollout's memory goes: the heap each part of a short canary holds before it runs
//! (world, spec, validator, runner), the size of a running rollout's future, and what a
//! finished run keeps with its events. Counted by the benches' counting allocator.
//!
//! `cargo run --release -p shipcore-benches --example footprint`
#![allow(clippy::unwrap_used)]

use shipcore::engine::Runner;
use shipcore_benches::*;
use std::collections::BTreeMap;
use std::sync::Arc;

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc::new();

const N: isize = 1000;

/// Bytes per item that `make` holds once all `N` are made.
fn per_item<T>(what: &str, make: impl FnMut(usize) -> T) -> Vec<T> {
    let before = ALLOC.current();
    let items: Vec<T> = (0..N as usize).map(make).collect();
    let per = (ALLOC.current() - before - N * std::mem::size_of::<T>() as isize) / N;
    println!("{what:<10} {per:>6} bytes of heap each");
    items
}

fn main() {
    let worlds = per_item("world", |i| world(i as u64));
    let specs = per_item("spec", |i| {
        shaped_spec("r1", &worlds[i], Shape::SHORT).unwrap()
    });
    let _contexts = per_item("context", |i| {
        let s = &specs[i];
        shipcore::validator::ValidationContext::new(
            &s.id,
            &s.target,
            &s.candidate,
            s.stable.as_ref(),
            shipcore::time::Timestamp(0),
        )
    });
    let validators = per_item("validator", |i| Arc::new(error_rate(&worlds[i]).unwrap()));
    let mut runners = per_item("runner", |i| {
        let clock = Arc::new(YieldingClock(worlds[i].clock.clone()));
        Runner::builder(worlds[i].driver_arc(), clock, Arc::new(NullJournal::new()))
            .validator(validators[i].clone())
            .keep_events(false)
            .build()
    });
    let running = runners[0].start(specs[0].clone());
    println!(
        "a running rollout's future: {} bytes",
        std::mem::size_of_val(&running)
    );
    drop(running);
    println!(
        "a spec: {} bytes, a step {} bytes, a runner: {} bytes (inline, beside their heap)",
        std::mem::size_of::<shipcore::engine::RolloutSpec>(),
        std::mem::size_of::<shipcore::model::Step>(),
        std::mem::size_of::<Runner>()
    );

    let w = world(1);
    let spec = shaped_spec("r1", &w, Shape::SHORT).unwrap();
    let validator = Arc::new(error_rate(&w).unwrap());
    let journal = Arc::new(NullJournal::new());
    let mut runner = Runner::builder(w.driver_arc(), w.clock_arc(), journal)
        .validator(validator)
        .build();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let before = ALLOC.current();
    let report = rt.block_on(runner.start(spec)).unwrap();
    let held = ALLOC.current() - before;
    let mut kinds: BTreeMap<String, usize> = BTreeMap::new();
    for e in &report.events {
        let json = serde_json::to_value(e).unwrap();
        *kinds
            .entry(json["event"].as_str().unwrap().into())
            .or_default() += 1;
    }
    println!(
        "a finished short canary holds {held} bytes more than before it ran, with {} events \
         (capacity {}, {} bytes each): {kinds:?}",
        report.events.len(),
        report.events.capacity(),
        std::mem::size_of::<shipcore::engine::Event>()
    );
}
