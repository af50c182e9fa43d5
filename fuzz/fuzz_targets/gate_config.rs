//! Gate configuration from JSON: decoding and building (which validates every value) must
//! answer, never panic; a decoded configuration survives a JSON round trip unchanged.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shipcore::gate::GateConfig;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(config) = GateConfig::from_json(text) else {
        return;
    };
    let _ = config.name();
    let _ = config.build();
    let json = serde_json::to_string(&config).expect("a gate configuration serializes");
    let back = GateConfig::from_json(&json).expect("a serialized gate configuration decodes");
    assert_eq!(
        back, config,
        "gate configuration changed in a JSON round trip: {json}"
    );
});
