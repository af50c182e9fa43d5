//! Checks that the benchmarks measure what they claim: the recorded canary succeeds after an
//! hour with the expected analyses, replays to the same events, and the hand-written loop
//! makes exactly the runner's driver and validator calls.
#![allow(clippy::unwrap_used)]

use shipcore::clock::Clock;
use shipcore::engine::{Effect, EventKind, Phase, Rollout};
use shipcore::journal::MemoryJournal;
use shipcore::model::Step;
use shipcore_benches::*;
use std::sync::Arc;

fn measured(events: &[shipcore::engine::Event]) -> usize {
    events
        .iter()
        .filter(|e| matches!(e.kind, EventKind::Measured { .. }))
        .count()
}

#[test]
fn the_recorded_canary_succeeds_after_an_hour_and_replays_to_the_same_events() {
    let rec = record_canary(7).unwrap();
    assert_eq!(rec.report.status.phase, Phase::Succeeded);
    let analyses = CANARY_STEPS * MEASUREMENTS_PER_STEP as usize;
    assert_eq!(measured(&rec.report.events), analyses);
    let end = rec.report.events.last().unwrap().at;
    assert!(
        (60 * 60_000..62 * 60_000).contains(&end.0),
        "about an hour of simulated time: {end:?}"
    );
    // Start, and at least an answer per measurement and a timer between measurements.
    assert!(rec.inputs.len() > 2 * analyses, "{}", rec.inputs.len());
    let mut machine = None;
    let mut events = Vec::new();
    for input in &rec.inputs {
        for effect in Rollout::replay_into(&mut machine, input).unwrap() {
            if let Effect::Record(ev) = effect {
                events.push(ev);
            }
        }
    }
    assert_eq!(machine.unwrap().phase(), Phase::Succeeded);
    assert_eq!(events, rec.report.events, "replay is deterministic");
}

#[test]
fn the_spec_has_five_weight_steps_each_with_an_analysis() {
    let spec = canary_spec("bench", &world(1)).unwrap();
    let steps = &spec.plan.steps;
    let weights = steps
        .iter()
        .filter(|s| matches!(s, Step::SetWeight { .. }))
        .count();
    let analyses = steps
        .iter()
        .filter(|s| matches!(s, Step::Analysis(_)))
        .count();
    assert_eq!(
        (weights, analyses),
        (CANARY_STEPS, CANARY_STEPS),
        "{steps:?}"
    );
}

#[tokio::test]
async fn the_hand_written_loop_makes_the_runners_calls() {
    let engine = world(11);
    engine.driver.record_actions(true);
    let report = run_canary(&engine, Arc::new(MemoryJournal::new()))
        .await
        .unwrap();
    let by_hand = world(11);
    by_hand.driver.record_actions(true);
    let spec = canary_spec("bench", &by_hand).unwrap();
    let validator = error_rate(&by_hand).unwrap();
    let done = hand_written_canary(&by_hand.driver, &*by_hand.clock, &validator, &spec)
        .await
        .unwrap();
    assert_eq!(done.measured as usize, measured(&report.events));
    assert_eq!(by_hand.driver.calls(), engine.driver.calls());
    assert_eq!(by_hand.driver.actions(), engine.driver.actions());
    assert_eq!(by_hand.clock.now(), engine.clock.now());
    assert_eq!(
        by_hand.driver.fleet(&target()),
        engine.driver.fleet(&target())
    );
}

/// Runs `shape` on a fresh world with a null journal, on `w`'s clock or a yielding one.
async fn run_shape(
    w: &shipcore::testing::SimWorld,
    shape: Shape,
    journal: Arc<NullJournal>,
    yielding: bool,
) -> shipcore::engine::RunReport {
    let spec = shaped_spec("bench", w, shape).unwrap();
    let validator = Arc::new(error_rate(w).unwrap());
    let clock: Arc<dyn Clock> = if yielding {
        Arc::new(YieldingClock(w.clock.clone()))
    } else {
        w.clock_arc()
    };
    let report = shipcore::engine::Runner::builder(w.driver_arc(), clock, journal)
        .validator(validator)
        .build()
        .start(spec)
        .await
        .unwrap();
    assert_eq!(report.status.phase, Phase::Succeeded, "{shape:?}");
    report
}

#[tokio::test]
async fn both_shapes_succeed_on_a_null_journal_and_a_yielding_clock() {
    for shape in [Shape::SHORT, Shape::ONE_HOUR] {
        let journal = Arc::new(NullJournal::new());
        let report = run_shape(&world(3), shape, journal.clone(), true).await;
        let expected = shape.weights.len() * shape.measurements as usize;
        assert_eq!(measured(&report.events), expected, "{shape:?}");
        assert!(journal.appended() as usize > 2 * expected);
    }
}

#[tokio::test]
async fn a_clean_run_sizes_its_event_log_once() {
    for shape in [Shape::SHORT, Shape::ONE_HOUR] {
        let report = run_shape(&world(5), shape, Arc::new(NullJournal::new()), false).await;
        assert_eq!(
            report.events.capacity(),
            report.events.len(),
            "the runner reserves exactly the events a clean {shape:?} run records"
        );
    }
}
