//! Rollouts in real time for the node tests: the simulator on the system clock (short
//! boot times, no faults) and a plan of short real pauses, so leases can lapse mid-run.
#![allow(dead_code, clippy::unwrap_used)]

use shipcore::clock::SystemClock;
use shipcore::engine::{EventKind, RolloutSpec};
use shipcore::journal::Journal;
use shipcore::model::{Plan, Revision, Role, Step, Target};
use shipcore::testing::{SimConfig, SimDriver};
use std::sync::Arc;
use std::time::Duration;

pub fn v1() -> Revision {
    Revision::new("v1", "1.0.0".parse().unwrap(), "app:1")
}
pub fn v2() -> Revision {
    Revision::new("v2", "2.0.0".parse().unwrap(), "app:2")
}

/// A simulated platform on the real clock; instances boot in 20 ms.
pub fn driver(seed: u64) -> Arc<SimDriver> {
    let mut config = SimConfig::seeded(seed);
    config.boot_time = Duration::from_millis(20);
    config.transient_fault_rate = 0.0;
    Arc::new(SimDriver::with_config(Arc::new(SystemClock), config).unwrap())
}

/// A canary on `target` with `pauses` real pauses of `pause` each.
pub fn spec(id: &str, target: &Target, pauses: usize, pause: Duration) -> RolloutSpec {
    let mut steps = vec![Step::Scale {
        role: Role::Candidate,
        replicas: 1,
    }];
    for (i, percent) in (0..pauses).zip([10u8, 20, 30, 40, 50, 60, 70, 80, 90].into_iter().cycle())
    {
        let _ = i;
        steps.push(Step::SetWeight { percent });
        steps.push(Step::Pause {
            duration: Some(pause),
        });
    }
    steps.push(Step::Scale {
        role: Role::Candidate,
        replicas: 2,
    });
    steps.push(Step::Promote);
    steps.push(Step::Retire {
        role: Role::Stable,
        after: Duration::ZERO,
    });
    let plan = Plan {
        strategy: "canary".into(),
        replicas: 2,
        steps,
    };
    let mut s = RolloutSpec::new(id, target.clone(), Some(v1()), v2(), plan);
    s.poll_interval = Duration::from_millis(20);
    s
}

/// How many times each step started, and the final phase, from the run's journal.
pub async fn steps_and_end(journal: &dyn Journal) -> (Vec<usize>, Option<String>) {
    let replayed = shipcore::record::replay_journal(journal).await.unwrap();
    let mut started = Vec::new();
    let mut end = None;
    for e in replayed.events {
        match e.kind {
            EventKind::StepStarted { step, .. } => {
                if started.len() <= step {
                    started.resize(step + 1, 0);
                }
                started[step] += 1;
            }
            EventKind::Finished { phase, .. } => end = Some(phase.as_str().to_string()),
            _ => {}
        }
    }
    (started, end)
}
