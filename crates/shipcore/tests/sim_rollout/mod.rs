//! One simulated canary shared by the determinism and crash-safety tests: a world seeded
//! from a number, a 10% → 50% → 100% plan judged by an error-rate threshold, and a runner
//! over any journal. `bad` injects a 12% error rate into the candidate.
#![allow(dead_code)]

use async_trait::async_trait;
use shipcore::driver::{Capabilities, Driver, DriverError};
use shipcore::engine::{RolloutSpec, Runner};
use shipcore::journal::Journal;
use shipcore::model::{
    Action, AnalysisPolicy, AnalysisStep, FleetState, Plan, Revision, Role, Step, Target,
};
use shipcore::testing::{Failure, SimWorld};
use shipcore::validator::ThresholdConfig;
use std::sync::Arc;
use std::time::Duration;

pub fn target() -> Target {
    Target::new("checkout", "production")
}
pub fn v1() -> Revision {
    Revision::new("checkout-v1", "1.4.0".parse().unwrap(), "checkout:1.4.0")
}
pub fn v2() -> Revision {
    Revision::new("checkout-v2", "1.5.0".parse().unwrap(), "checkout:1.5.0")
}

/// Faults every run gets: a bad candidate if asked, and a flaky platform API (5% of calls
/// fail transiently, a third of successful applies lose their response), so retries and
/// re-issued actions are part of what must be deterministic and crash-safe.
pub fn configure(world: &SimWorld, bad: bool) {
    if bad {
        world
            .driver
            .inject(&v2(), Failure::error_rate(0.12))
            .unwrap();
    }
    world.driver.set_transient_fault_rate(0.05).unwrap();
    world.driver.set_lost_response_share(0.3).unwrap();
}

/// A fresh world with v1 serving on 4 replicas.
pub fn world(seed: u64, bad: bool) -> SimWorld {
    let w = SimWorld::new(seed);
    w.driver.seed_stable(&target(), &v1(), 4);
    configure(&w, bad);
    w
}

pub fn spec() -> RolloutSpec {
    let analysis = || {
        Step::Analysis(AnalysisStep {
            validators: vec!["error-rate".into()],
            policy: AnalysisPolicy::every(Duration::from_secs(60), 3),
        })
    };
    let mut steps = Vec::new();
    for (percent, replicas) in [(10, 1), (50, 2), (100, 4)] {
        steps.push(Step::Scale {
            role: Role::Candidate,
            replicas,
        });
        steps.push(Step::SetWeight { percent });
        steps.push(analysis());
    }
    steps.push(Step::Promote);
    steps.push(Step::Retire {
        role: Role::Stable,
        after: Duration::from_secs(60),
    });
    let plan = Plan {
        strategy: "canary".into(),
        replicas: 4,
        steps,
    };
    RolloutSpec::new("checkout-1.5.0", target(), Some(v1()), v2(), plan)
}

/// A runner on `world` with the error-rate validator, over `driver` (the world's, or a
/// wrapper around it).
pub fn runner(world: &SimWorld, driver: Arc<dyn Driver>, journal: Arc<dyn Journal>) -> Runner {
    let error_rate =
        ThresholdConfig::above("error-rate", r#"error_rate{revision="{{revision}}"}"#, 0.05)
            .build(world.metrics_arc())
            .unwrap();
    Runner::builder(driver, world.clock_arc(), journal)
        .validator(Arc::new(error_rate))
        .build()
}

/// The fleet reduced to what an end state is judged on: per revision, desired and ready
/// replicas and traffic share.
pub fn end_state(fleet: &FleetState) -> Vec<(String, u32, u32, u8)> {
    fleet
        .revisions
        .iter()
        .filter(|r| r.desired > 0 || r.ready > 0 || r.weight > 0)
        .map(|r| {
            (
                r.revision.as_str().to_string(),
                r.desired,
                r.ready,
                r.weight,
            )
        })
        .collect()
}

/// Wraps a driver and waits `delay` of real time before every call, so that a process
/// running the rollout lives long enough to be killed at a chosen point.
pub struct Paced {
    pub inner: Arc<dyn Driver>,
    pub delay: Duration,
}

#[async_trait]
impl Driver for Paced {
    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }
    async fn observe(&self, target: &Target) -> Result<FleetState, DriverError> {
        std::thread::sleep(self.delay);
        self.inner.observe(target).await
    }
    async fn apply(&self, target: &Target, action: &Action) -> Result<(), DriverError> {
        std::thread::sleep(self.delay);
        self.inner.apply(target, action).await
    }
}
