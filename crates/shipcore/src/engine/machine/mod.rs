//! The rollout state machine: `Rollout::handle(&Stamped) -> Vec<Effect>`. Pure: no clock,
//! no I/O, no randomness. Every request it makes carries an id and stays *outstanding* until
//! answered, so after a crash `Input::Resumed` re-issues exactly what was in flight.

use super::analysis::{AnalysisRun, Decision};
use super::event::{AnalysisResult, AnalysisScope, Event, EventKind, StartInfo};
use super::io::{Command, Effect, GateWatch, Input, MeasureResult, Stamped};
use super::ops::{expand_step, promote_full_ops, rollback_ops, Op};
use super::phase::{Phase, RolloutStatus};
use super::spec::{FailurePolicy, RolloutSpec};
use crate::driver::{Capabilities, DriverError};
use crate::gate::GateOutcome;
use crate::model::{Action, FleetState, Revision, RevisionId, Role, WeightSet};
use crate::notifier::Notification;
use crate::time::{format_duration, Timestamp};
use std::collections::VecDeque;
use std::sync::Arc;

mod answers;
mod commands;
mod judgments;
mod lifecycle;

/// Attempts at verifying stable's health after a rollback before giving up.
const VERIFY_ATTEMPTS: u32 = 3;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    NotStarted,
    Gating,
    Steps,
    Promoting,
    Rollback,
    Frozen,
    Done,
}

/// What the op in flight waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wait {
    Request(u64),
    Timer(u64),
    Person,
}

/// What a wait on the fleet waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Goal {
    /// `role`'s revision at exactly `replicas`, all ready.
    Converge { role: Role, replicas: u32 },
    /// Ready replicas behind every revision the route at the front of the ops gives traffic
    /// to. An `optional` route is dropped instead of waited for when they are missing.
    Serve { optional: bool },
}

/// Waiting for the fleet to reach a goal before the deadline.
#[derive(Debug, Clone, Copy)]
struct Readiness {
    goal: Goal,
    deadline: Timestamp,
    wait: Wait,
    /// Failed observations in a row.
    failures: u32,
}

#[derive(Debug, Clone)]
enum Running {
    Apply {
        id: u64,
        action: Arc<Action>,
        attempt: u32,
    },
    Backoff {
        timer: u64,
        action: Arc<Action>,
        attempt: u32,
    },
    AwaitReady(Readiness),
    Sleep {
        timer: u64,
    },
    WaitPromotion,
    Analysis {
        run: AnalysisRun,
        wait: Wait,
    },
    Gate {
        name: String,
        wait: Wait,
        /// When the gate first answered `Wait` or `AwaitPerson` at this op.
        since: Option<Timestamp>,
    },
    Verify {
        validators: Arc<[String]>,
        attempt: u32,
        wait: Wait,
    },
}

impl Running {
    fn waiting_on(&self) -> Option<u64> {
        match self {
            Running::Apply { id, .. } => Some(*id),
            Running::Backoff { timer, .. } | Running::Sleep { timer } => Some(*timer),
            Running::AwaitReady(Readiness { wait, .. })
            | Running::Analysis { wait, .. }
            | Running::Gate { wait, .. }
            | Running::Verify { wait, .. } => match wait {
                Wait::Request(id) | Wait::Timer(id) => Some(*id),
                Wait::Person => None,
            },
            Running::WaitPromotion => None,
        }
    }
    fn waits_for_person(&self) -> bool {
        matches!(
            self,
            Running::WaitPromotion
                | Running::Analysis {
                    wait: Wait::Person,
                    ..
                }
        )
    }
}

/// A gate lost its hold (a lock) while the rollout ran: fleet changes stopped, the rollout
/// paused until a person resumes it, which takes the gate again first.
#[derive(Debug, Clone)]
struct Lost {
    gate: String,
    /// The loss interrupted a full promotion, which goes on after the gate passes again.
    promoting: bool,
}

#[derive(Debug, Clone)]
struct Background {
    run: AnalysisRun,
    wait: u64,
}

/// A rollout as a deterministic state machine.
///
/// Feed it [`Stamped`] inputs; perform the [`Effect`]s it returns and feed back their
/// results. The same inputs always produce the same effects, so a journal of inputs is
/// enough to rebuild it.
///
/// ```
/// use shipcore::engine::{Rollout, Stamped, Input, Effect, RolloutSpec};
/// use shipcore::driver::Capabilities;
/// use shipcore::model::{Plan, Revision, Step, Role, Target};
/// use shipcore::time::Timestamp;
///
/// let spec = RolloutSpec::new("r1", Target::new("web", "prod"), None,
///     Revision::new("web-v1", "1.0.0".parse().unwrap(), "web:1"),
///     Plan { strategy: "recreate".into(), replicas: 2,
///            steps: vec![Step::Scale { role: Role::Candidate, replicas: 2 }, Step::Promote] });
/// let mut r = Rollout::new();
/// let effects = r.handle(&Stamped::new(Timestamp(0), Input::Start {
///     spec: Box::new(spec), capabilities: Capabilities::ALL }));
/// // No gates: the first step starts at once and asks the driver to deploy.
/// assert!(effects.iter().any(|e| matches!(e, Effect::Apply { .. })));
/// ```
#[derive(Debug, Clone)]
pub struct Rollout {
    spec: Option<Arc<RolloutSpec>>,
    caps: Capabilities,
    phase: Phase,
    reason: Option<String>,
    stage: Stage,
    step: usize,
    step_active: bool,
    ops: VecDeque<Op>,
    current: Option<Running>,
    operator_paused: bool,
    background: Option<Background>,
    /// Requests in flight, in id order (ids only grow, so pushing keeps the order).
    outstanding: Vec<(u64, Effect)>,
    next_id: u64,
    now: Timestamp,
    last_fleet: Option<Arc<FleetState>>,
    /// An action that changes capacity (deploy, scale, retire) was applied since the last
    /// observation, so `last_fleet` may no longer show which revisions can serve.
    fleet_changed: bool,
    approvals: Vec<String>,
    rollback_end: Phase,
    rollback_reason: String,
    lost: Option<Lost>,
    /// Gates passed since gating began: those that may hold something for the rollout.
    passed: Vec<String>,
}

impl Default for Rollout {
    fn default() -> Self {
        Self::new()
    }
}

impl Rollout {
    /// A rollout waiting for `Input::Start`.
    pub fn new() -> Self {
        Rollout {
            spec: None,
            caps: Capabilities::default(),
            phase: Phase::Pending,
            reason: None,
            stage: Stage::NotStarted,
            step: 0,
            step_active: false,
            ops: VecDeque::new(),
            current: None,
            operator_paused: false,
            background: None,
            outstanding: Vec::new(),
            next_id: 1,
            now: Timestamp::ZERO,
            last_fleet: None,
            fleet_changed: false,
            approvals: Vec::new(),
            rollback_end: Phase::RolledBack,
            rollback_reason: String::new(),
            lost: None,
            passed: Vec::new(),
        }
    }

    /// The current phase.
    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// The spec, once started.
    pub fn spec(&self) -> Option<&RolloutSpec> {
        self.spec.as_deref()
    }

    /// The spec, once started, shared: a cheap handle for callers that keep it while they
    /// feed the machine (the runner does, for every effect).
    pub fn shared_spec(&self) -> Option<Arc<RolloutSpec>> {
        self.spec.clone()
    }

    /// The last fleet observation.
    pub fn last_fleet(&self) -> Option<&FleetState> {
        self.last_fleet.as_deref()
    }

    /// The latest input time seen.
    pub fn now(&self) -> Timestamp {
        self.now
    }

    /// The poll timer of a wait for ready replicas (not a backoff after a failed observe),
    /// when the rollout waits on one now. The
    /// runner fires it early when the driver reports a change
    /// ([`Driver::wait_for_change`](crate::driver::Driver::wait_for_change)): observing
    /// sooner never changes what the rollout decides, only when.
    pub(crate) fn fleet_poll_timer(&self) -> Option<u64> {
        match &self.current {
            // Only a poll: after a failed observe the timer is a backoff, which a change
            // must not cut short (a failing API would otherwise be asked again at once).
            Some(Running::AwaitReady(Readiness {
                wait: Wait::Timer(id),
                failures: 0,
                ..
            })) => Some(*id),
            _ => None,
        }
    }

    /// Whether gates hold something for the rollout now (past its gates, not ended, no
    /// hold lost): when the runner keeps them alive.
    pub(crate) fn holds_gates(&self) -> bool {
        matches!(
            self.stage,
            Stage::Steps | Stage::Promoting | Stage::Rollback
        ) && self.lost.is_none()
    }

    /// The gates whose holds the runner keeps alive now: those passed since gating began,
    /// while [`holds_gates`](Self::holds_gates) (none otherwise).
    pub(crate) fn held_gates(&self) -> &[String] {
        if self.holds_gates() {
            &self.passed
        } else {
            &[]
        }
    }

    /// Whether request `id` is still wanted (a queued request cancelled before it was
    /// performed is not).
    pub(crate) fn is_outstanding(&self, id: u64) -> bool {
        self.outstanding.iter().any(|(r, _)| *r == id)
    }

    /// Requests sent and not yet answered (re-issued on resume).
    pub fn outstanding(&self) -> impl Iterator<Item = &Effect> {
        self.outstanding.iter().map(|(_, e)| e)
    }

    /// A snapshot for callers.
    pub fn status(&self) -> RolloutStatus {
        RolloutStatus {
            id: self.spec.as_ref().map(|s| s.id.clone()).unwrap_or_default(),
            phase: self.phase,
            step: self.step,
            steps: self.spec.as_ref().map(|s| s.plan.steps.len()).unwrap_or(0),
            reason: self.reason.clone(),
        }
    }

    /// Whether `status` no longer describes this rollout (cheaper than building a new one).
    pub(crate) fn status_differs(&self, status: &RolloutStatus) -> bool {
        let (id, steps) = match &self.spec {
            Some(s) => (s.id.as_str(), s.plan.steps.len()),
            None => ("", 0),
        };
        status.phase != self.phase
            || status.step != self.step
            || status.steps != steps
            || status.reason != self.reason
            || status.id != id
    }

    /// Handles one input and returns the effects to perform, in order.
    pub fn handle(&mut self, input: &Stamped) -> Vec<Effect> {
        let mut out = Vec::with_capacity(4);
        self.handle_into(input, &mut out);
        out
    }

    /// Handles one input and appends the effects to perform, in order, to `out`: the same as
    /// [`handle`](Self::handle) without a new vector per input (the runner reuses one).
    pub fn handle_into(&mut self, input: &Stamped, out: &mut Vec<Effect>) {
        self.now = self.now.max(input.at);
        match &input.input {
            Input::Start { spec, capabilities } => self.on_start(spec, *capabilities, out),
            Input::Resumed => self.on_resumed(out),
            Input::Command(cmd) => self.on_command(cmd, out),
            Input::GateLost { gate, reason } => self.on_gate_lost(gate, reason, out),
            answer => {
                let id = match answer {
                    Input::Observed { id, .. }
                    | Input::ObserveFailed { id, .. }
                    | Input::Applied { id }
                    | Input::ApplyFailed { id, .. }
                    | Input::Measured { id, .. }
                    | Input::GateChecked { id, .. }
                    | Input::TimerFired { id } => *id,
                    _ => return,
                };
                // An answer to nothing outstanding is stale (cancelled or already handled).
                if self.take_outstanding(id).is_none() {
                    return;
                }
                match answer {
                    Input::Observed { fleet, .. } => self.on_observed(id, fleet, out),
                    Input::ObserveFailed { error, .. } => self.on_observe_failed(error, out),
                    Input::Applied { .. } => self.on_applied(id, out),
                    Input::ApplyFailed { error, .. } => self.on_apply_failed(error, out),
                    Input::Measured { results, .. } => self.on_measured(id, results, out),
                    Input::GateChecked { outcome, .. } => self.on_gate(outcome, out),
                    Input::TimerFired { .. } => self.on_timer(id, out),
                    _ => {}
                }
            }
        }
        self.pump(out);
    }

    // ---- emitting -------------------------------------------------------------------

    fn record(&self, out: &mut Vec<Effect>, kind: EventKind) {
        out.push(Effect::Record(Event { at: self.now, kind }));
    }

    fn request(&mut self, out: &mut Vec<Effect>, make: impl FnOnce(u64) -> Effect) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        let effect = make(id);
        self.outstanding.push((id, effect.clone()));
        out.push(effect);
        id
    }

    fn timer(&mut self, out: &mut Vec<Effect>, after: std::time::Duration) -> u64 {
        let at = self.now.plus(after);
        self.request(out, |id| Effect::WakeAt { id, at })
    }

    fn observe(&mut self, out: &mut Vec<Effect>) -> u64 {
        self.request(out, |id| Effect::Observe { id })
    }

    fn measure(&mut self, out: &mut Vec<Effect>, validators: Arc<[String]>, subject: Role) -> u64 {
        self.request(out, |id| Effect::Measure {
            id,
            validators,
            subject,
            breached_since: Arc::default(),
        })
    }

    /// Measures the candidate for analysis `run`, handing each validator the breach its
    /// previous verdict in the run reported ([`AnalysisRun::breached_since`]).
    fn measure_run(&mut self, out: &mut Vec<Effect>, run: &AnalysisRun) -> u64 {
        self.measure_carrying(out, run.validators(), run.breached_since())
    }

    /// Measures the candidate with `validators`, handing each its carried breach.
    fn measure_carrying(
        &mut self,
        out: &mut Vec<Effect>,
        validators: Arc<[String]>,
        breached_since: Arc<[Option<Timestamp>]>,
    ) -> u64 {
        self.request(out, |id| Effect::Measure {
            id,
            validators,
            subject: Role::Candidate,
            breached_since,
        })
    }

    fn set_phase(&mut self, out: &mut Vec<Effect>, to: Phase) {
        if self.phase != to {
            let from = self.phase;
            self.phase = to;
            self.record(out, EventKind::PhaseChanged { from, to });
        }
    }

    /// Removes request `id` from the outstanding ones and returns it.
    fn take_outstanding(&mut self, id: u64) -> Option<Effect> {
        let i = self.outstanding.iter().position(|(r, _)| *r == id)?;
        Some(self.outstanding.remove(i).1)
    }

    fn forget(&mut self, id: u64, out: &mut Vec<Effect>) {
        match self.take_outstanding(id) {
            Some(Effect::WakeAt { id, .. })
            | Some(Effect::CheckGate {
                id, watch: Some(_), ..
            }) => out.push(Effect::CancelTimer { id }),
            _ => {}
        }
    }

    fn cancel_current(&mut self, out: &mut Vec<Effect>) {
        if let Some(id) = self.current.take().and_then(|c| c.waiting_on()) {
            self.forget(id, out);
        }
    }

    fn cancel_all(&mut self, out: &mut Vec<Effect>) {
        let ids: Vec<u64> = self.outstanding.iter().map(|(id, _)| *id).collect();
        for id in ids {
            self.forget(id, out);
        }
        self.current = None;
        self.ops.clear();
        self.background = None;
    }

    fn rollout_id(&self) -> String {
        self.spec.as_ref().map(|s| s.id.clone()).unwrap_or_default()
    }

    fn revision(&self, role: Role) -> Option<&Revision> {
        let spec = self.spec.as_ref()?;
        match role {
            Role::Candidate => Some(&spec.candidate),
            Role::Stable => spec.stable.as_ref(),
        }
    }
}

/// The first revision `weights` gives traffic to that has no ready replica in `fleet`, with
/// its share.
fn unserved<'a>(weights: &'a WeightSet, fleet: &FleetState) -> Option<(&'a RevisionId, u8)> {
    weights
        .0
        .iter()
        .find(|(rev, w)| *w > 0 && fleet.ready_of(rev) == 0)
        .map(|(rev, w)| (rev, *w))
}

fn describe_result(r: &MeasureResult) -> String {
    match r {
        MeasureResult::Verdict(v) => format!("{}: {:?} {}", v.validator, v.outcome, v.message),
        MeasureResult::Error(e) => format!("{}: error {}", e.validator, e.message),
    }
}
