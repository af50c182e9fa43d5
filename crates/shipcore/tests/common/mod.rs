//! A minimal in-memory platform for engine tests: instant readiness (unless told a revision
//! never becomes ready), scripted driver failures, validators and gates from closures.
#![allow(clippy::unwrap_used)]
#![allow(dead_code)]

use async_trait::async_trait;
use shipcore::driver::{Capabilities, Driver, DriverError};
use shipcore::engine::{Event, EventKind, RolloutSpec};
use shipcore::gate::{Gate, GateContext, GateOutcome};
use shipcore::model::{
    Action, FleetState, Plan, Revision, RevisionId, RevisionState, Role, Step, Target,
};
use shipcore::validator::{Outcome, ValidationContext, Validator, ValidatorError, Verdict};
use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};

#[derive(Default)]
pub struct FakeState {
    pub revisions: BTreeMap<RevisionId, (u32, u8)>,
    pub never_ready: Vec<RevisionId>,
    pub apply_failures: VecDeque<DriverError>,
    pub actions: Vec<Action>,
}

pub struct FakeDriver {
    pub caps: Capabilities,
    pub state: Mutex<FakeState>,
}

impl FakeDriver {
    pub fn new(caps: Capabilities) -> Arc<Self> {
        Arc::new(FakeDriver {
            caps,
            state: Mutex::new(FakeState::default()),
        })
    }
    pub fn with_stable(caps: Capabilities, rev: &Revision, replicas: u32) -> Arc<Self> {
        let d = Self::new(caps);
        d.state
            .lock()
            .unwrap()
            .revisions
            .insert(rev.id.clone(), (replicas, 100));
        d
    }
    pub fn fail_next_applies(&self, errors: Vec<DriverError>) {
        self.state.lock().unwrap().apply_failures.extend(errors);
    }
    pub fn never_ready(&self, rev: &Revision) {
        self.state.lock().unwrap().never_ready.push(rev.id.clone());
    }
    pub fn actions(&self) -> Vec<Action> {
        self.state.lock().unwrap().actions.clone()
    }
    pub fn fleet(&self) -> FleetState {
        let s = self.state.lock().unwrap();
        let revisions = s
            .revisions
            .iter()
            .map(|(id, (n, w))| RevisionState {
                revision: id.clone(),
                desired: *n,
                ready: if s.never_ready.contains(id) { 0 } else { *n },
                updated: *n,
                weight: *w,
            })
            .collect();
        FleetState {
            revisions,
            flags: Default::default(),
        }
    }
}

#[async_trait]
impl Driver for FakeDriver {
    fn capabilities(&self) -> Capabilities {
        self.caps
    }
    async fn observe(&self, _t: &Target) -> Result<FleetState, DriverError> {
        Ok(self.fleet())
    }
    async fn apply(&self, _t: &Target, action: &Action) -> Result<(), DriverError> {
        let mut s = self.state.lock().unwrap();
        if let Some(e) = s.apply_failures.pop_front() {
            return Err(e);
        }
        s.actions.push(action.clone());
        match action {
            Action::Deploy { revision, replicas } => {
                let w = s.revisions.get(&revision.id).map(|r| r.1).unwrap_or(0);
                s.revisions.insert(revision.id.clone(), (*replicas, w));
            }
            Action::Scale { revision, replicas } => {
                let e = s
                    .revisions
                    .get_mut(revision)
                    .ok_or_else(|| DriverError::permanent("scale", "unknown revision"))?;
                e.0 = *replicas;
            }
            Action::Route { weights } => {
                for (_, r) in s.revisions.iter_mut() {
                    r.1 = 0;
                }
                for (id, w) in &weights.0 {
                    if let Some(r) = s.revisions.get_mut(id) {
                        r.1 = *w;
                    }
                }
            }
            Action::Retire { revision } => {
                s.revisions.remove(revision);
            }
            Action::SetFlag { .. } => {}
        }
        Ok(())
    }
}

type VFn = dyn Fn(&ValidationContext) -> Result<Verdict, ValidatorError> + Send + Sync;

pub struct FnValidator {
    pub name: String,
    pub f: Box<VFn>,
}

impl FnValidator {
    pub fn new(
        name: &str,
        f: impl Fn(&ValidationContext) -> Result<Verdict, ValidatorError> + Send + Sync + 'static,
    ) -> Arc<Self> {
        Arc::new(FnValidator {
            name: name.into(),
            f: Box::new(f),
        })
    }
    pub fn constant(name: &str, outcome: Outcome) -> Arc<Self> {
        let n = name.to_string();
        Self::new(name, move |_| {
            Ok(Verdict::new(n.clone(), outcome, format!("{outcome:?}")))
        })
    }
}

#[async_trait]
impl Validator for FnValidator {
    fn name(&self) -> &str {
        &self.name
    }
    async fn validate(&self, ctx: &ValidationContext) -> Result<Verdict, ValidatorError> {
        (self.f)(ctx)
    }
}

pub struct FnGate {
    pub name: String,
    pub f: Box<dyn Fn(&GateContext) -> GateOutcome + Send + Sync>,
}

impl FnGate {
    pub fn new(
        name: &str,
        f: impl Fn(&GateContext) -> GateOutcome + Send + Sync + 'static,
    ) -> Arc<Self> {
        Arc::new(FnGate {
            name: name.into(),
            f: Box::new(f),
        })
    }
}

#[async_trait]
impl Gate for FnGate {
    fn name(&self) -> &str {
        &self.name
    }
    async fn check(&self, ctx: &GateContext) -> GateOutcome {
        (self.f)(ctx)
    }
}

pub fn v1() -> Revision {
    Revision::new("web-v1", "1.0.0".parse().unwrap(), "web:1.0.0")
}
pub fn v2() -> Revision {
    Revision::new("web-v2", "2.0.0".parse().unwrap(), "web:2.0.0")
}

/// A blue-green that deploys `replicas`, waits for someone to promote it, switches, and
/// retires stable `retire_after` later (no retire step when `None`: only for a first deploy,
/// since a plan must retire the stable revision it replaces).
pub fn promotion_plan(replicas: u32, retire_after: Option<std::time::Duration>) -> Plan {
    let mut steps = vec![
        Step::Scale {
            role: Role::Candidate,
            replicas,
        },
        Step::Pause { duration: None },
        Step::Promote,
    ];
    if let Some(after) = retire_after {
        steps.push(Step::Retire {
            role: Role::Stable,
            after,
        });
    }
    Plan {
        strategy: "blue_green".into(),
        replicas,
        steps,
    }
}

/// A 10 -> 50 -> 100 canary with an analysis after each weight.
pub fn canary_plan(replicas: u32, validator: &str) -> Plan {
    let analysis = || {
        Step::Analysis(shipcore::model::AnalysisStep {
            validators: vec![validator.into()],
            policy: shipcore::model::AnalysisPolicy::every(std::time::Duration::from_secs(60), 3),
        })
    };
    Plan {
        strategy: "canary".into(),
        replicas,
        steps: vec![
            Step::Scale {
                role: Role::Candidate,
                replicas: 1,
            },
            Step::SetWeight { percent: 10 },
            analysis(),
            Step::Scale {
                role: Role::Candidate,
                replicas,
            },
            Step::SetWeight { percent: 50 },
            analysis(),
            Step::Promote,
            Step::Retire {
                role: Role::Stable,
                after: std::time::Duration::from_secs(30),
            },
        ],
    }
}

pub fn spec(plan: Plan) -> RolloutSpec {
    RolloutSpec::new(
        "r1",
        Target::new("web", "production"),
        Some(v1()),
        v2(),
        plan,
    )
}

pub fn kinds(events: &[Event]) -> Vec<String> {
    events
        .iter()
        .map(|e| {
            serde_json::to_value(&e.kind).unwrap()["event"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect()
}

pub fn find(events: &[Event], pred: impl Fn(&EventKind) -> bool) -> Option<&Event> {
    events.iter().find(|e| pred(&e.kind))
}
