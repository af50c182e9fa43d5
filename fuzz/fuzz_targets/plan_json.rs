//! Plans and rollout specs from JSON (what a plan file and the journal's `Started` input
//! hold): decoding, validation against every driver capability set and the dry-run text
//! must answer, never panic; a decoded plan survives a JSON round trip unchanged.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shipcore::driver::Capabilities;
use shipcore::engine::RolloutSpec;
use shipcore::model::Plan;

fn capability_sets() -> [Capabilities; 2] {
    [Capabilities::ALL, Capabilities::default()]
}

fn check_plan(plan: &Plan) {
    for caps in capability_sets() {
        let _ = plan.validate(&caps);
    }
    let _ = plan.describe();
    let text = serde_json::to_string(plan).expect("a plan serializes");
    let back: Plan = serde_json::from_str(&text).expect("a serialized plan decodes");
    assert_eq!(&back, plan, "plan changed in a JSON round trip: {text}");
}

fuzz_target!(|data: &[u8]| {
    if let Ok(plan) = serde_json::from_slice::<Plan>(data) {
        check_plan(&plan);
    }
    if let Ok(spec) = serde_json::from_slice::<RolloutSpec>(data) {
        let _ = spec.validate();
        check_plan(&spec.plan);
        let text = serde_json::to_string(&spec).expect("a spec serializes");
        let back: RolloutSpec = serde_json::from_str(&text).expect("a serialized spec decodes");
        assert_eq!(back, spec, "spec changed in a JSON round trip: {text}");
    }
});
