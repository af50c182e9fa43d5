//! Strategy configuration from JSON (`{"type": "canary", ...}`): decoding and planning for a
//! range of fleets (first deploy or not, 1 to u32::MAX replicas, every capability set) must
//! answer, never panic or run away; a plan a strategy makes for a driver passes that
//! driver's `Plan::validate`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shipcore::driver::Capabilities;
use shipcore::model::{Revision, Target};
use shipcore::strategy::{PlanContext, Strategy, StrategyConfig};

const REPLICAS: [u32; 7] = [1, 2, 3, 10, 97, 1_000_000, u32::MAX];

fn revision(id: &str, version: &str) -> Revision {
    Revision::new(
        id,
        semver::Version::parse(version).expect("a version"),
        format!("web:{version}"),
    )
}

fuzz_target!(|data: &[u8]| {
    let Ok(config) = serde_json::from_slice::<StrategyConfig>(data) else {
        return;
    };
    let _ = config.name();
    let text = serde_json::to_string(&config).expect("a strategy serializes");
    let back: StrategyConfig = serde_json::from_str(&text).expect("a serialized strategy decodes");
    assert_eq!(
        back, config,
        "strategy changed in a JSON round trip: {text}"
    );
    for caps in [Capabilities::ALL, Capabilities::default()] {
        for stable in [Some(revision("web-v1", "1.0.0")), None] {
            for replicas in REPLICAS {
                let ctx = PlanContext {
                    target: Target::new("web", "production"),
                    stable: stable.clone(),
                    candidate: revision("web-v2", "2.0.0"),
                    replicas,
                    capabilities: caps,
                };
                if let Ok(plan) = config.plan(&ctx) {
                    let _ = plan.describe();
                    if let Err(e) = plan.validate(&caps) {
                        panic!(
                            "{} made a plan its driver refuses: {e}\n{plan:?}",
                            config.name()
                        );
                    }
                }
            }
        }
    }
});
