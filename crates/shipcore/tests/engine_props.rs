//! Property tests of the engine over random canary plans, random verdicts and random driver
//! faults: traffic weights stay valid, every rollout ends fully on one revision (or in a
//! state that says a person must act, with the reason recorded), and replaying the journal
//! rebuilds the same state and the same event log.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use proptest::prelude::*;
use shipcore::clock::SimClock;
use shipcore::driver::{Capabilities, DriverError};
use shipcore::engine::{Effect, Phase, Rollout, RolloutSpec, Runner, Stamped};
use shipcore::journal::{Journal, MemoryJournal};
use shipcore::model::{Action, AnalysisPolicy, AnalysisStep, Plan, Role, Step};
use shipcore::time::Timestamp;
use shipcore::validator::{Outcome, Verdict};
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Clone)]
struct Case {
    replicas: u32,
    weights: Vec<u8>,
    pause_secs: Vec<u64>,
    verdicts: Vec<u8>,
    faults: Vec<(usize, bool)>,
    failure_limit: u32,
    with_health: bool,
}

fn case() -> impl Strategy<Value = Case> {
    (
        1u32..8,
        proptest::collection::btree_set(1u8..100, 0..4),
        proptest::collection::vec(0u64..600, 0..4),
        proptest::collection::vec(0u8..10, 1..40),
        proptest::collection::vec((0usize..30, any::<bool>()), 0..4),
        0u32..3,
        any::<bool>(),
    )
        .prop_map(
            |(replicas, weights, pause_secs, verdicts, faults, failure_limit, with_health)| Case {
                replicas,
                weights: weights.into_iter().collect(),
                pause_secs,
                verdicts,
                faults,
                failure_limit,
                with_health,
            },
        )
}

fn plan(c: &Case) -> Plan {
    let mut steps = vec![Step::Scale {
        role: Role::Candidate,
        replicas: 1.max(c.replicas / 2),
    }];
    for (i, w) in c.weights.iter().enumerate() {
        steps.push(Step::SetWeight { percent: *w });
        if let Some(p) = c.pause_secs.get(i) {
            steps.push(Step::Pause {
                duration: Some(Duration::from_secs(*p)),
            });
        }
        steps.push(Step::Analysis(AnalysisStep {
            validators: vec!["v".into()],
            policy: AnalysisPolicy {
                failure_limit: c.failure_limit,
                ..AnalysisPolicy::every(Duration::from_secs(30), 2)
            },
        }));
    }
    steps.push(Step::Scale {
        role: Role::Candidate,
        replicas: c.replicas,
    });
    steps.push(Step::Promote);
    steps.push(Step::Retire {
        role: Role::Stable,
        after: Duration::from_secs(10),
    });
    Plan {
        strategy: "canary".into(),
        replicas: c.replicas,
        steps,
    }
}

/// Runs a case; returns the final phase, the journal and the driver.
fn run(
    c: &Case,
) -> (
    shipcore::engine::RunReport,
    Vec<serde_json::Value>,
    Arc<FakeDriver>,
) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(async {
        let d = FakeDriver::with_stable(Capabilities::ALL, &v1(), c.replicas);
        let mut faults = Vec::new();
        let mut sorted = c.faults.clone();
        sorted.sort();
        for (pos, permanent) in sorted {
            while faults.len() < pos {
                faults.push(None);
            }
            faults.push(Some(if permanent {
                DriverError::permanent("apply", "injected permanent fault")
            } else {
                DriverError::transient("apply", "injected transient fault")
            }));
        }
        let verdicts = c.verdicts.clone();
        let calls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let v = FnValidator::new("v", move |ctx| {
            if ctx.candidate.id == v1().id {
                return Ok(Verdict::new("v", Outcome::Pass, "stable healthy"));
            }
            let n = calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let outcome = match verdicts[n % verdicts.len()] {
                0 => Outcome::Fail,
                1 => Outcome::Inconclusive,
                _ => Outcome::Pass,
            };
            Ok(Verdict::new("v", outcome, "scripted"))
        });
        let driver = Arc::new(FaultyDriver {
            inner: d.clone(),
            faults: std::sync::Mutex::new(faults.into()),
        });
        let journal = Arc::new(MemoryJournal::new());
        let mut spec = RolloutSpec::new(
            "prop",
            shipcore::model::Target::new("web", "prod"),
            Some(v1()),
            v2(),
            plan(c),
        );
        if c.with_health {
            spec.health_validators = vec!["v".into()];
        }
        spec.background_analysis = None;
        let mut r = Runner::builder(
            driver,
            Arc::new(SimClock::new(Timestamp::ZERO)),
            journal.clone(),
        )
        .validator(v)
        .build();
        let report = r.start(spec).await.unwrap();
        let entries = journal
            .read_all()
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.payload)
            .collect();
        (report, entries, d)
    })
}

/// Injects scripted faults in front of the fake platform: slot i answers the i-th apply.
struct FaultyDriver {
    inner: Arc<FakeDriver>,
    faults: std::sync::Mutex<std::collections::VecDeque<Option<DriverError>>>,
}

#[async_trait::async_trait]
impl shipcore::driver::Driver for FaultyDriver {
    fn capabilities(&self) -> Capabilities {
        self.inner.caps
    }
    async fn observe(
        &self,
        t: &shipcore::model::Target,
    ) -> Result<shipcore::model::FleetState, DriverError> {
        self.inner.observe(t).await
    }
    async fn apply(&self, t: &shipcore::model::Target, a: &Action) -> Result<(), DriverError> {
        let fault = self.faults.lock().unwrap().pop_front().flatten();
        if let Some(e) = fault {
            return Err(e);
        }
        self.inner.apply(t, a).await
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn rollouts_end_fully_on_one_revision_with_valid_weights(c in case()) {
        let (report, journal, d) = run(&c);
        // Every route the engine asked for is a valid split.
        for a in d.actions() {
            if let Action::Route { weights } = a {
                prop_assert_eq!(weights.total(), 100, "{:?}", weights);
            }
        }
        let fleet = d.fleet();
        let weight_sum: u32 = fleet.revisions.iter().map(|r| r.weight as u32).sum();
        match report.status.phase {
            Phase::Succeeded => {
                prop_assert_eq!(fleet.revisions.len(), 1);
                prop_assert_eq!(&fleet.revisions[0].revision, &v2().id);
                prop_assert_eq!(fleet.revisions[0].ready, c.replicas);
                prop_assert_eq!(fleet.revisions[0].weight, 100);
            }
            Phase::RolledBack => {
                prop_assert_eq!(fleet.revisions.len(), 1, "{:?}", fleet);
                prop_assert_eq!(&fleet.revisions[0].revision, &v1().id);
                prop_assert_eq!(fleet.revisions[0].ready, c.replicas);
                prop_assert_eq!(fleet.revisions[0].weight, 100);
            }
            Phase::RollbackFailed | Phase::Paused => {
                prop_assert!(report.status.reason.as_deref().map(|r| !r.is_empty()).unwrap_or(false));
            }
            other => prop_assert!(false, "unexpected end phase {other}"),
        }
        if !fleet.revisions.is_empty() && report.status.phase != Phase::RollbackFailed {
            prop_assert_eq!(weight_sum, 100, "{:?}", fleet);
        }

        // Replaying the journal rebuilds the same state and the same event log.
        let mut m = None;
        let mut events = Vec::new();
        for payload in &journal {
            let s: Stamped = serde_json::from_value(payload.clone()).unwrap();
            for e in Rollout::replay_into(&mut m, &s).unwrap() {
                if let Effect::Record(ev) = e { events.push(ev); }
            }
        }
        prop_assert_eq!(m.unwrap().status(), report.status);
        prop_assert_eq!(serde_json::to_string(&events).unwrap(), serde_json::to_string(&report.events).unwrap());
    }
}
