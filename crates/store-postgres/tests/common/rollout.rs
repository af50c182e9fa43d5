//! A one-hour canary on the simulator, judged by a metric threshold: the rollout the
//! engine tests journal in PostgreSQL.
#![allow(dead_code, clippy::unwrap_used)]

use shipcore::engine::{Engine, RolloutSpec};
use shipcore::model::{AnalysisPolicy, AnalysisStep, Plan, Revision, Role, Step, Target};
use shipcore::testing::SimWorld;
use shipcore::validator::ThresholdConfig;
use std::sync::Arc;
use std::time::Duration;

pub fn web() -> Target {
    Target::new("web", "production")
}
pub fn v1() -> Revision {
    Revision::new("web-v1", "1.0.0".parse().unwrap(), "web:1.0.0")
}
pub fn v2() -> Revision {
    Revision::new("web-v2", "2.0.0".parse().unwrap(), "web:2.0.0")
}

/// 10 % → 25 % → 50 %, each judged for ten minutes and paused ten more: about an hour.
pub fn canary_plan() -> Plan {
    let analysis = || {
        Step::Analysis(AnalysisStep {
            validators: vec!["error-rate".into()],
            policy: AnalysisPolicy::every(Duration::from_secs(60), 10),
        })
    };
    let mut steps = vec![Step::Scale {
        role: Role::Candidate,
        replicas: 1,
    }];
    for percent in [10, 25, 50] {
        steps.push(Step::SetWeight { percent });
        steps.push(analysis());
        steps.push(Step::Pause {
            duration: Some(Duration::from_secs(600)),
        });
    }
    steps.push(Step::Scale {
        role: Role::Candidate,
        replicas: 4,
    });
    steps.push(Step::Promote);
    steps.push(Step::Retire {
        role: Role::Stable,
        after: Duration::from_secs(60),
    });
    Plan {
        strategy: "canary".into(),
        replicas: 4,
        steps,
    }
}

pub fn spec(id: &str) -> RolloutSpec {
    RolloutSpec::new(id, web(), Some(v1()), v2(), canary_plan())
}

/// A simulated world with stable v1 at 4 replicas, and an engine on it.
pub fn world_and_engine(seed: u64) -> (SimWorld, Engine) {
    let world = SimWorld::new(seed);
    world.driver.seed_stable(&web(), &v1(), 4);
    let engine = engine_on(&world);
    (world, engine)
}

/// An engine on `world`'s driver, clock and metrics.
pub fn engine_on(world: &SimWorld) -> Engine {
    let validator =
        ThresholdConfig::above("error-rate", "error_rate{revision=\"{{revision}}\"}", 0.05)
            .build(world.metrics_arc())
            .unwrap();
    Engine::builder(world.driver_arc(), world.clock_arc())
        .validator(Arc::new(validator))
        .build()
}
