//! Inputs that crashed a fuzz target (`fuzz/`, run by `scripts/ci/fuzz.sh`), replayed through
//! the check the target made. Each input is also kept in the target's corpus
//! (`fuzz/corpus/<target>/crash-*`), so the fuzzer replays it on every run.

use shipcore::strategy::StrategyConfig;

/// `strategy_config`, crash-bc09e01f8ac944f90dd2673c038407c09ef7e9b4: an interval given as a
/// number of seconds beyond u64::MAX milliseconds was accepted, serialized as
/// `"92654320987654h19m14s"` and refused when read back ("too large"), so a plan holding it
/// could be written to a journal but not resumed from it.
#[test]
fn strategy_with_a_huge_interval_in_seconds_survives_a_json_round_trip() {
    let input = r#"{"type": "linear", "percent": 20, "interval":333555555555555554}"#;
    let config: StrategyConfig = serde_json::from_str(input).expect("the fuzz input decodes");
    let text = serde_json::to_string(&config).expect("it serializes");
    let back: StrategyConfig =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{text} does not read back: {e}"));
    assert_eq!(back, config);
}

/// `plan_json`, crash-f3481cdf03d2228758bd940b3d5b2297871137d9: a pause of `"5ms8m"` was read
/// as 8m5ms and written back as `"8m0.005s"`, which the parser refused ("missing unit"), so
/// a plan with a duration of whole seconds and some milliseconds could be journaled but not
/// resumed. Durations now read decimals, as they are written.
#[test]
fn plan_with_a_duration_in_minutes_and_milliseconds_survives_a_json_round_trip() {
    let input = r#"{"strategy": "canary", "replicas": 4, "steps": [
        {"step": "pause", "duration": "5ms8m"},
        {"step": "pause", "duration": "1h1.250s"}]}"#;
    let plan: shipcore::model::Plan = serde_json::from_str(input).expect("the fuzz input decodes");
    let text = serde_json::to_string(&plan).expect("it serializes");
    let back: shipcore::model::Plan =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{text} does not read back: {e}"));
    assert_eq!(back, plan);
}
