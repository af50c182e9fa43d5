//! The rollout state machine: `Rollout::handle(&Stamped) -> Vec<Effect>`. Pure: no clock,
//! no I/O, no randomness. Every request it makes carries an id and stays *outstanding* until
//! answered, so after a crash `Input::Resumed` re-issues exactly what was in flight.

use super::analysis::{AnalysisRun, Decision};
use super::event::{AnalysisResult, AnalysisScope, Event, EventKind};
use super::io::{Command, Effect, Input, MeasureResult, Stamped};
use super::ops::{expand_step, promote_full_ops, rollback_ops, Op};
use super::phase::{Phase, RolloutStatus};
use super::spec::{FailurePolicy, RolloutSpec};
use crate::driver::{Capabilities, DriverError};
use crate::gate::GateOutcome;
use crate::model::{Action, FleetState, Revision, Role};
use crate::notifier::Notification;
use crate::time::{format_duration, Timestamp};
use crate::validator::Outcome;
use std::collections::{BTreeMap, VecDeque};

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

#[derive(Debug, Clone)]
enum Running {
    Apply {
        id: u64,
        action: Action,
        attempt: u32,
    },
    Backoff {
        timer: u64,
        action: Action,
        attempt: u32,
    },
    AwaitReady {
        role: Role,
        replicas: u32,
        deadline: Timestamp,
        wait: Wait,
        failures: u32,
    },
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
    },
    Verify {
        validators: Vec<String>,
        attempt: u32,
        wait: Wait,
    },
}

impl Running {
    fn waiting_on(&self) -> Option<u64> {
        match self {
            Running::Apply { id, .. } => Some(*id),
            Running::Backoff { timer, .. } | Running::Sleep { timer } => Some(*timer),
            Running::AwaitReady { wait, .. }
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
///            steps: vec![Step::Scale { role: Role::Candidate, replicas: 2 }] });
/// let mut r = Rollout::new();
/// let effects = r.handle(&Stamped::new(Timestamp(0), Input::Start {
///     spec: Box::new(spec), capabilities: Capabilities::ALL }));
/// // No gates: the first step starts at once and asks the driver to deploy.
/// assert!(effects.iter().any(|e| matches!(e, Effect::Apply { .. })));
/// ```
#[derive(Debug, Clone)]
pub struct Rollout {
    spec: Option<Box<RolloutSpec>>,
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
    outstanding: BTreeMap<u64, Effect>,
    next_id: u64,
    now: Timestamp,
    last_fleet: Option<FleetState>,
    approvals: Vec<String>,
    rollback_end: Phase,
    rollback_reason: String,
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
            outstanding: BTreeMap::new(),
            next_id: 1,
            now: Timestamp::ZERO,
            last_fleet: None,
            approvals: Vec::new(),
            rollback_end: Phase::RolledBack,
            rollback_reason: String::new(),
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

    /// The last fleet observation.
    pub fn last_fleet(&self) -> Option<&FleetState> {
        self.last_fleet.as_ref()
    }

    /// The latest input time seen.
    pub fn now(&self) -> Timestamp {
        self.now
    }

    /// Requests sent and not yet answered (re-issued on resume).
    pub fn outstanding(&self) -> impl Iterator<Item = &Effect> {
        self.outstanding.values()
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

    /// Handles one input and returns the effects to perform, in order.
    pub fn handle(&mut self, input: &Stamped) -> Vec<Effect> {
        let mut out = Vec::new();
        self.now = self.now.max(input.at);
        match &input.input {
            Input::Start { spec, capabilities } => self.on_start(spec, *capabilities, &mut out),
            Input::Resumed => self.on_resumed(&mut out),
            Input::Command(cmd) => self.on_command(cmd, &mut out),
            answer => {
                let id = match answer {
                    Input::Observed { id, .. }
                    | Input::ObserveFailed { id, .. }
                    | Input::Applied { id }
                    | Input::ApplyFailed { id, .. }
                    | Input::Measured { id, .. }
                    | Input::GateChecked { id, .. }
                    | Input::TimerFired { id } => *id,
                    _ => return out,
                };
                // An answer to nothing outstanding is stale (cancelled or already handled).
                if self.outstanding.remove(&id).is_none() {
                    return out;
                }
                match answer {
                    Input::Observed { fleet, .. } => self.on_observed(id, fleet, &mut out),
                    Input::ObserveFailed { error, .. } => self.on_observe_failed(error, &mut out),
                    Input::Applied { .. } => self.on_applied(id, &mut out),
                    Input::ApplyFailed { error, .. } => self.on_apply_failed(error, &mut out),
                    Input::Measured { results, .. } => self.on_measured(id, results, &mut out),
                    Input::GateChecked { outcome, .. } => self.on_gate(outcome, &mut out),
                    Input::TimerFired { .. } => self.on_timer(id, &mut out),
                    _ => {}
                }
            }
        }
        self.pump(&mut out);
        out
    }

    // ---- emitting -------------------------------------------------------------------

    fn record(&self, out: &mut Vec<Effect>, kind: EventKind) {
        out.push(Effect::Record(Event { at: self.now, kind }));
    }

    fn request(&mut self, out: &mut Vec<Effect>, make: impl FnOnce(u64) -> Effect) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        let effect = make(id);
        self.outstanding.insert(id, effect.clone());
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

    fn measure(&mut self, out: &mut Vec<Effect>, validators: Vec<String>, subject: Role) -> u64 {
        self.request(out, |id| Effect::Measure {
            id,
            validators,
            subject,
        })
    }

    fn set_phase(&mut self, out: &mut Vec<Effect>, to: Phase) {
        if self.phase != to {
            let from = self.phase;
            self.phase = to;
            self.record(out, EventKind::PhaseChanged { from, to });
        }
    }

    fn forget(&mut self, id: u64, out: &mut Vec<Effect>) {
        if let Some(Effect::WakeAt { id, .. }) = self.outstanding.remove(&id) {
            out.push(Effect::CancelTimer { id });
        }
    }

    fn cancel_current(&mut self, out: &mut Vec<Effect>) {
        if let Some(id) = self.current.take().and_then(|c| c.waiting_on()) {
            self.forget(id, out);
        }
    }

    fn cancel_all(&mut self, out: &mut Vec<Effect>) {
        let ids: Vec<u64> = self.outstanding.keys().copied().collect();
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

    // ---- lifecycle ------------------------------------------------------------------

    fn on_start(&mut self, spec: &RolloutSpec, caps: Capabilities, out: &mut Vec<Effect>) {
        if self.stage != Stage::NotStarted {
            return;
        }
        self.spec = Some(Box::new(spec.clone()));
        self.caps = caps;
        let check = spec.validate().and_then(|_| spec.plan.validate(&caps));
        if let Err(e) = check {
            self.record(
                out,
                EventKind::Rejected {
                    reason: e.to_string(),
                },
            );
            self.finish(Phase::Blocked, format!("plan rejected: {e}"), out);
            return;
        }
        self.record(
            out,
            EventKind::Started {
                id: spec.id.clone(),
                service: spec.target.service.clone(),
                environment: spec.target.environment.clone(),
                version: spec.candidate.version.to_string(),
                previous_version: spec.stable.as_ref().map(|s| s.version.to_string()),
                strategy: spec.plan.strategy.clone(),
                steps: spec.plan.steps.len(),
            },
        );
        out.push(Effect::Notify(Notification::Started {
            rollout_id: spec.id.clone(),
            service: spec.target.service.clone(),
            version: spec.candidate.version.to_string(),
        }));
        self.begin_gating(out);
    }

    fn begin_gating(&mut self, out: &mut Vec<Effect>) {
        self.stage = Stage::Gating;
        self.step = 0;
        self.step_active = false;
        self.operator_paused = false;
        self.reason = None;
        self.set_phase(out, Phase::Gating);
        let gates = self
            .spec
            .as_ref()
            .map(|s| s.gates.clone())
            .unwrap_or_default();
        self.ops = gates.into_iter().map(Op::Gate).collect();
    }

    fn on_resumed(&mut self, out: &mut Vec<Effect>) {
        self.record(out, EventKind::Resumed);
        out.extend(self.outstanding.values().cloned());
    }

    /// Starts ops and steps until something waits.
    fn pump(&mut self, out: &mut Vec<Effect>) {
        loop {
            if self.current.is_some() {
                return;
            }
            if let Some(op) = self.ops.pop_front() {
                self.start_op(op, out);
                continue;
            }
            match self.stage {
                Stage::Gating => {
                    self.stage = Stage::Steps;
                    self.set_phase(out, Phase::Progressing);
                    self.start_background(out);
                }
                Stage::Steps => {
                    let Some(spec) = self.spec.clone() else {
                        return;
                    };
                    if self.step_active {
                        self.step_active = false;
                        self.record(out, EventKind::StepCompleted { step: self.step });
                        out.push(Effect::Notify(Notification::StepPassed {
                            rollout_id: spec.id.clone(),
                            step: self.step,
                            description: spec
                                .plan
                                .steps
                                .get(self.step)
                                .map(|s| s.describe())
                                .unwrap_or_default(),
                        }));
                        self.step += 1;
                    }
                    if self.step >= spec.plan.steps.len() {
                        self.finish(Phase::Succeeded, "all steps completed".into(), out);
                        return;
                    }
                    if self.operator_paused {
                        self.set_phase(out, Phase::Paused);
                        return;
                    }
                    self.set_phase(out, Phase::Progressing);
                    self.reason = None;
                    let step = &spec.plan.steps[self.step];
                    self.ops = expand_step(step, &spec, &self.caps).into();
                    self.step_active = true;
                    self.record(
                        out,
                        EventKind::StepStarted {
                            step: self.step,
                            description: step.describe(),
                        },
                    );
                }
                Stage::Promoting => {
                    self.finish(Phase::Succeeded, "promoted in full by operator".into(), out);
                    return;
                }
                Stage::Rollback => {
                    let reason = self.rollback_reason.clone();
                    self.finish(self.rollback_end, reason, out);
                    return;
                }
                Stage::NotStarted | Stage::Frozen | Stage::Done => return,
            }
        }
    }

    fn start_background(&mut self, out: &mut Vec<Effect>) {
        let Some(step) = self
            .spec
            .as_ref()
            .and_then(|s| s.background_analysis.clone())
        else {
            return;
        };
        let delay = step.policy.initial_delay;
        let wait = if delay.is_zero() {
            self.measure(out, step.validators.clone(), Role::Candidate)
        } else {
            self.timer(out, delay)
        };
        self.background = Some(Background {
            run: AnalysisRun::new(step),
            wait,
        });
    }

    fn start_op(&mut self, op: Op, out: &mut Vec<Effect>) {
        match op {
            Op::Apply(action) => self.send_apply(action, 1, out),
            Op::AwaitReady { role, replicas } => {
                let deadline = self.now.plus(
                    self.spec
                        .as_ref()
                        .map(|s| s.progress_deadline)
                        .unwrap_or_default(),
                );
                let id = self.observe(out);
                self.current = Some(Running::AwaitReady {
                    role,
                    replicas,
                    deadline,
                    wait: Wait::Request(id),
                    failures: 0,
                });
            }
            Op::Sleep(d) if d.is_zero() => {}
            Op::Sleep(d) => {
                let timer = self.timer(out, d);
                self.current = Some(Running::Sleep { timer });
            }
            Op::WaitPromotion => {
                self.current = Some(Running::WaitPromotion);
                self.pause_for_person("waiting for promotion".into(), out);
            }
            Op::Analyze(step) => {
                let delay = step.policy.initial_delay;
                let wait = if delay.is_zero() {
                    Wait::Request(self.measure(out, step.validators.clone(), Role::Candidate))
                } else {
                    Wait::Timer(self.timer(out, delay))
                };
                self.current = Some(Running::Analysis {
                    run: AnalysisRun::new(step),
                    wait,
                });
            }
            Op::Gate(name) => {
                let id = self.check_gate(&name, out);
                self.current = Some(Running::Gate {
                    name,
                    wait: Wait::Request(id),
                });
            }
            Op::Verify(validators) => {
                let id = self.measure(out, validators.clone(), Role::Stable);
                self.current = Some(Running::Verify {
                    validators,
                    attempt: 1,
                    wait: Wait::Request(id),
                });
            }
        }
    }

    fn check_gate(&mut self, name: &str, out: &mut Vec<Effect>) -> u64 {
        let approvals = self.approvals.clone();
        let gate = name.to_string();
        self.request(out, |id| Effect::CheckGate {
            id,
            gate,
            approvals,
        })
    }

    fn send_apply(&mut self, action: Action, attempt: u32, out: &mut Vec<Effect>) {
        let a = action.clone();
        let id = self.request(out, |id| Effect::Apply { id, action: a });
        self.record(
            out,
            EventKind::ActionRequested {
                id,
                action: action.clone(),
                attempt,
            },
        );
        self.current = Some(Running::Apply {
            id,
            action,
            attempt,
        });
    }

    fn pause_for_person(&mut self, reason: String, out: &mut Vec<Effect>) {
        self.set_phase(out, Phase::Paused);
        self.reason = Some(reason.clone());
        self.record(out, EventKind::Paused { reason });
    }

    fn finish(&mut self, phase: Phase, reason: String, out: &mut Vec<Effect>) {
        self.cancel_all(out);
        self.stage = Stage::Done;
        self.set_phase(out, phase);
        self.reason = Some(reason.clone());
        self.record(
            out,
            EventKind::Finished {
                phase,
                reason: reason.clone(),
            },
        );
        out.push(Effect::Notify(Notification::Finished {
            rollout_id: self.rollout_id(),
            phase: phase.to_string(),
            reason,
        }));
    }

    /// A failure: the policy decides between rollback and freeze.
    fn fail(&mut self, reason: String, out: &mut Vec<Effect>) {
        self.record(
            out,
            EventKind::Failed {
                reason: reason.clone(),
            },
        );
        match self.stage {
            Stage::Rollback => {
                let why = format!(
                    "rollback failed: {reason} (the rollback was started because: {})",
                    self.rollback_reason
                );
                self.finish(Phase::RollbackFailed, why, out);
            }
            Stage::Gating => self.finish(Phase::Blocked, reason, out),
            Stage::Steps | Stage::Promoting => {
                let policy = self
                    .spec
                    .as_ref()
                    .map(|s| s.failure_policy)
                    .unwrap_or_default();
                match policy {
                    FailurePolicy::Rollback => self.start_rollback(reason, Phase::RolledBack, out),
                    FailurePolicy::Freeze => {
                        self.cancel_all(out);
                        self.stage = Stage::Frozen;
                        self.step_active = false;
                        self.set_phase(out, Phase::Frozen);
                        self.reason = Some(reason);
                    }
                }
            }
            Stage::NotStarted | Stage::Frozen | Stage::Done => {}
        }
    }

    fn start_rollback(&mut self, reason: String, end: Phase, out: &mut Vec<Effect>) {
        self.cancel_all(out);
        self.stage = Stage::Rollback;
        self.rollback_end = end;
        self.rollback_reason = reason.clone();
        self.operator_paused = false;
        self.set_phase(out, Phase::RollingBack);
        self.reason = Some(reason.clone());
        self.record(
            out,
            EventKind::RollbackStarted {
                reason: reason.clone(),
            },
        );
        out.push(Effect::Notify(Notification::RollbackStarted {
            rollout_id: self.rollout_id(),
            reason,
        }));
        if let Some(spec) = self.spec.clone() {
            self.ops = rollback_ops(&spec, &self.caps, self.last_fleet.as_ref()).into();
        }
    }

    // ---- answers --------------------------------------------------------------------

    fn on_applied(&mut self, id: u64, out: &mut Vec<Effect>) {
        if matches!(&self.current, Some(Running::Apply { id: cur, .. }) if *cur == id) {
            self.current = None;
            self.record(out, EventKind::ActionApplied { id });
        }
    }

    fn on_apply_failed(&mut self, error: &DriverError, out: &mut Vec<Effect>) {
        let Some(Running::Apply {
            id,
            action,
            attempt,
        }) = self.current.take()
        else {
            return;
        };
        let max = self
            .spec
            .as_ref()
            .map(|s| s.retry.max_attempts)
            .unwrap_or(1);
        let will_retry = error.is_transient() && attempt < max;
        self.record(
            out,
            EventKind::DriverFailed {
                id,
                error: error.clone(),
                will_retry,
            },
        );
        if will_retry {
            let backoff = self
                .spec
                .as_ref()
                .map(|s| s.retry.backoff(attempt))
                .unwrap_or_default();
            let timer = self.timer(out, backoff);
            self.current = Some(Running::Backoff {
                timer,
                action,
                attempt,
            });
        } else {
            let tries = if error.is_transient() {
                format!(" after {attempt} attempt(s)")
            } else {
                String::new()
            };
            self.fail(
                format!("{} failed{tries}: {}", action.describe(), error.message),
                out,
            );
        }
    }

    fn on_observed(&mut self, id: u64, fleet: &FleetState, out: &mut Vec<Effect>) {
        self.last_fleet = Some(fleet.clone());
        let Some(Running::AwaitReady {
            role,
            replicas,
            deadline,
            wait,
            failures,
        }) = self.current.clone()
        else {
            return;
        };
        if wait != Wait::Request(id) {
            return;
        }
        let Some(rev) = self.revision(role).map(|r| r.id.clone()) else {
            self.current = None;
            return;
        };
        let (desired, ready) = (fleet.desired_of(&rev), fleet.ready_of(&rev));
        if desired == replicas && ready == replicas {
            self.current = None;
            self.record(
                out,
                EventKind::Converged {
                    role,
                    replicas,
                    fleet: fleet.clone(),
                },
            );
        } else if self.now >= deadline {
            let limit = self
                .spec
                .as_ref()
                .map(|s| format_duration(s.progress_deadline))
                .unwrap_or_default();
            self.current = None;
            self.fail(
                format!("progress deadline of {limit} exceeded: {rev} ({role}) has {ready}/{replicas} ready replicas (desired {desired})"),
                out,
            );
        } else {
            let poll = self
                .spec
                .as_ref()
                .map(|s| s.poll_interval)
                .unwrap_or_default();
            let timer = self.timer(out, poll);
            self.current = Some(Running::AwaitReady {
                role,
                replicas,
                deadline,
                wait: Wait::Timer(timer),
                failures,
            });
        }
    }

    fn on_observe_failed(&mut self, error: &DriverError, out: &mut Vec<Effect>) {
        let Some(Running::AwaitReady {
            role,
            replicas,
            deadline,
            wait,
            failures,
        }) = self.current.clone()
        else {
            return;
        };
        let Wait::Request(id) = wait else { return };
        let max = self
            .spec
            .as_ref()
            .map(|s| s.retry.max_attempts)
            .unwrap_or(1);
        let failures = failures + 1;
        let will_retry = error.is_transient() && failures < max && self.now < deadline;
        self.record(
            out,
            EventKind::DriverFailed {
                id,
                error: error.clone(),
                will_retry,
            },
        );
        if will_retry {
            let backoff = self
                .spec
                .as_ref()
                .map(|s| s.retry.backoff(failures))
                .unwrap_or_default();
            let timer = self.timer(out, backoff);
            self.current = Some(Running::AwaitReady {
                role,
                replicas,
                deadline,
                wait: Wait::Timer(timer),
                failures,
            });
        } else {
            self.current = None;
            self.fail(
                format!("observing the fleet failed: {}", error.message),
                out,
            );
        }
    }

    fn on_measured(&mut self, id: u64, results: &[MeasureResult], out: &mut Vec<Effect>) {
        if let Some(bg) = &self.background {
            if bg.wait == id {
                return self.on_background_measured(results, out);
            }
        }
        match self.current.clone() {
            Some(Running::Analysis { mut run, wait }) if wait == Wait::Request(id) => {
                let scope = AnalysisScope::Step { step: self.step };
                let decision = run.record(results);
                self.record(
                    out,
                    EventKind::Measured {
                        scope: scope.clone(),
                        number: run.taken(),
                        results: results.to_vec(),
                    },
                );
                match decision {
                    Decision::Continue => {
                        let timer = self.timer(out, run.step().policy.interval);
                        self.current = Some(Running::Analysis {
                            run,
                            wait: Wait::Timer(timer),
                        });
                    }
                    Decision::Done(result, message) => {
                        self.record(
                            out,
                            EventKind::AnalysisCompleted {
                                scope,
                                result,
                                message: message.clone(),
                            },
                        );
                        match result {
                            AnalysisResult::Passed => self.current = None,
                            AnalysisResult::Failed => {
                                self.current = None;
                                self.fail(format!("analysis failed: {message}"), out);
                            }
                            AnalysisResult::Inconclusive => {
                                if run.step().policy.on_inconclusive
                                    == crate::model::InconclusiveAction::Fail
                                {
                                    self.current = None;
                                    self.fail(format!("analysis inconclusive: {message}"), out);
                                } else {
                                    self.current = Some(Running::Analysis {
                                        run,
                                        wait: Wait::Person,
                                    });
                                    self.pause_for_person(
                                        format!("analysis inconclusive: {message}"),
                                        out,
                                    );
                                }
                            }
                        }
                    }
                }
            }
            Some(Running::Verify {
                validators,
                attempt,
                wait,
            }) if wait == Wait::Request(id) => {
                let healthy = !results.is_empty()
                    && results.iter().all(
                        |r| matches!(r, MeasureResult::Verdict(v) if v.outcome == Outcome::Pass),
                    );
                self.record(
                    out,
                    EventKind::Measured {
                        scope: AnalysisScope::RollbackVerification,
                        number: attempt,
                        results: results.to_vec(),
                    },
                );
                if healthy {
                    self.current = None;
                    self.record(
                        out,
                        EventKind::AnalysisCompleted {
                            scope: AnalysisScope::RollbackVerification,
                            result: AnalysisResult::Passed,
                            message: "stable is healthy".into(),
                        },
                    );
                } else if attempt < VERIFY_ATTEMPTS {
                    let poll = self
                        .spec
                        .as_ref()
                        .map(|s| s.poll_interval)
                        .unwrap_or_default();
                    let timer = self.timer(out, poll);
                    self.current = Some(Running::Verify {
                        validators,
                        attempt,
                        wait: Wait::Timer(timer),
                    });
                } else {
                    self.current = None;
                    let detail: Vec<String> = results.iter().map(describe_result).collect();
                    self.record(
                        out,
                        EventKind::AnalysisCompleted {
                            scope: AnalysisScope::RollbackVerification,
                            result: AnalysisResult::Failed,
                            message: detail.join("; "),
                        },
                    );
                    self.fail(
                        format!(
                            "stable is not healthy after {attempt} checks: {}",
                            detail.join("; ")
                        ),
                        out,
                    );
                }
            }
            _ => {}
        }
    }

    fn on_background_measured(&mut self, results: &[MeasureResult], out: &mut Vec<Effect>) {
        let Some(mut bg) = self.background.take() else {
            return;
        };
        let decision = bg.run.record(results);
        self.record(
            out,
            EventKind::Measured {
                scope: AnalysisScope::Background,
                number: bg.run.taken(),
                results: results.to_vec(),
            },
        );
        match decision {
            Decision::Continue => {
                bg.wait = self.timer(out, bg.run.step().policy.interval);
                self.background = Some(bg);
            }
            Decision::Done(result, message) => {
                self.record(
                    out,
                    EventKind::AnalysisCompleted {
                        scope: AnalysisScope::Background,
                        result,
                        message: message.clone(),
                    },
                );
                match result {
                    AnalysisResult::Passed => {}
                    AnalysisResult::Failed => {
                        self.fail(format!("background analysis failed: {message}"), out)
                    }
                    AnalysisResult::Inconclusive => {
                        if bg.run.step().policy.on_inconclusive
                            == crate::model::InconclusiveAction::Fail
                        {
                            self.fail(format!("background analysis inconclusive: {message}"), out);
                        } else {
                            self.operator_paused = true;
                            self.pause_for_person(
                                format!("background analysis inconclusive: {message}"),
                                out,
                            );
                        }
                    }
                }
            }
        }
    }

    fn on_gate(&mut self, outcome: &GateOutcome, out: &mut Vec<Effect>) {
        let Some(Running::Gate { name, .. }) = self.current.clone() else {
            return;
        };
        self.record(
            out,
            EventKind::GateChecked {
                gate: name.clone(),
                outcome: outcome.clone(),
            },
        );
        match outcome {
            GateOutcome::Pass => self.current = None,
            GateOutcome::Block { reason } => {
                self.current = None;
                let why = format!("gate {name} blocked: {reason}");
                if self.stage == Stage::Gating {
                    self.finish(Phase::Blocked, why, out);
                } else {
                    self.fail(why, out);
                }
            }
            GateOutcome::Wait {
                retry_after,
                reason,
            } => {
                let timer = self.timer(out, *retry_after);
                self.reason = Some(format!("waiting on gate {name}: {reason}"));
                self.current = Some(Running::Gate {
                    name,
                    wait: Wait::Timer(timer),
                });
            }
        }
    }

    fn on_timer(&mut self, id: u64, out: &mut Vec<Effect>) {
        if let Some(bg) = &self.background {
            if bg.wait == id {
                let validators = bg.run.step().validators.clone();
                let wait = self.measure(out, validators, Role::Candidate);
                if let Some(bg) = &mut self.background {
                    bg.wait = wait;
                }
                return;
            }
        }
        let Some(current) = self.current.clone() else {
            return;
        };
        if current.waiting_on() != Some(id) {
            return;
        }
        match current {
            Running::Backoff {
                action, attempt, ..
            } => self.send_apply(action, attempt + 1, out),
            Running::Sleep { .. } => self.current = None,
            Running::AwaitReady {
                role,
                replicas,
                deadline,
                failures,
                ..
            } => {
                let req = self.observe(out);
                self.current = Some(Running::AwaitReady {
                    role,
                    replicas,
                    deadline,
                    wait: Wait::Request(req),
                    failures,
                });
            }
            Running::Analysis { run, .. } => {
                let req = self.measure(out, run.step().validators.clone(), Role::Candidate);
                self.current = Some(Running::Analysis {
                    run,
                    wait: Wait::Request(req),
                });
            }
            Running::Gate { name, .. } => {
                let req = self.check_gate(&name, out);
                self.current = Some(Running::Gate {
                    name,
                    wait: Wait::Request(req),
                });
            }
            Running::Verify {
                validators,
                attempt,
                ..
            } => {
                let req = self.measure(out, validators.clone(), Role::Stable);
                self.current = Some(Running::Verify {
                    validators,
                    attempt: attempt + 1,
                    wait: Wait::Request(req),
                });
            }
            Running::Apply { .. } | Running::WaitPromotion => {}
        }
    }

    // ---- operator commands ----------------------------------------------------------

    fn on_command(&mut self, cmd: &Command, out: &mut Vec<Effect>) {
        let result = self.apply_command(cmd, out);
        let (accepted, note) = match result {
            Ok(()) => (true, String::new()),
            Err(note) => (false, note),
        };
        self.record(
            out,
            EventKind::CommandReceived {
                command: cmd.clone(),
                accepted,
                note,
            },
        );
    }

    fn apply_command(&mut self, cmd: &Command, out: &mut Vec<Effect>) -> Result<(), String> {
        let in_steps = self.stage == Stage::Steps;
        match cmd {
            Command::Pause => {
                if !in_steps {
                    return Err(format!("cannot pause in phase {}", self.phase));
                }
                self.operator_paused = true;
                self.pause_for_person("paused by operator".into(), out);
                Ok(())
            }
            Command::Resume => {
                let waiting = self
                    .current
                    .as_ref()
                    .map(|c| c.waits_for_person())
                    .unwrap_or(false);
                if !in_steps || !(self.operator_paused || waiting) {
                    return Err(format!("nothing to resume in phase {}", self.phase));
                }
                self.operator_paused = false;
                if waiting {
                    self.current = None;
                }
                self.set_phase(out, Phase::Progressing);
                self.reason = None;
                Ok(())
            }
            Command::Promote { full: false } => {
                let skippable = matches!(
                    self.current,
                    Some(
                        Running::WaitPromotion
                            | Running::Sleep { .. }
                            | Running::Analysis { .. }
                            | Running::Gate { .. }
                    )
                );
                if !in_steps || !(skippable || self.operator_paused) {
                    return Err("promote skips a pause, analysis or gate; the current step is changing the fleet".into());
                }
                if skippable {
                    self.cancel_current(out);
                    self.ops.clear();
                }
                self.operator_paused = false;
                Ok(())
            }
            Command::Promote { full: true } => {
                if !in_steps {
                    return Err(format!("cannot promote in phase {}", self.phase));
                }
                self.cancel_all(out);
                let Some(spec) = self.spec.clone() else {
                    return Err("not started".into());
                };
                self.stage = Stage::Promoting;
                self.step = spec.plan.steps.len();
                self.step_active = false;
                self.operator_paused = false;
                self.set_phase(out, Phase::Promoting);
                self.ops = promote_full_ops(&spec, &self.caps).into();
                Ok(())
            }
            Command::Abort => match self.stage {
                Stage::Gating => {
                    self.finish(
                        Phase::Aborted,
                        "aborted by operator before any change".into(),
                        out,
                    );
                    Ok(())
                }
                Stage::Steps | Stage::Promoting | Stage::Frozen => {
                    self.start_rollback("aborted by operator".into(), Phase::Aborted, out);
                    Ok(())
                }
                _ => Err(format!("cannot abort in phase {}", self.phase)),
            },
            Command::Retry => match (self.stage, self.phase) {
                (Stage::Frozen, _) => {
                    self.stage = Stage::Steps;
                    self.reason = None;
                    self.set_phase(out, Phase::Progressing);
                    self.start_background(out);
                    Ok(())
                }
                (Stage::Done, Phase::RollbackFailed) => {
                    let reason = self.rollback_reason.clone();
                    let end = self.rollback_end;
                    self.start_rollback(reason, end, out);
                    Ok(())
                }
                (Stage::Done, Phase::RolledBack | Phase::Aborted | Phase::Blocked) => {
                    self.begin_gating(out);
                    Ok(())
                }
                _ => Err(format!("nothing to retry in phase {}", self.phase)),
            },
            Command::Approve { gate } => {
                if !self.approvals.contains(gate) {
                    self.approvals.push(gate.clone());
                }
                // Re-check a waiting gate of that name at once.
                if let Some(Running::Gate {
                    name,
                    wait: Wait::Timer(t),
                }) = self.current.clone()
                {
                    if &name == gate {
                        self.forget(t, out);
                        let req = self.check_gate(&name, out);
                        self.current = Some(Running::Gate {
                            name,
                            wait: Wait::Request(req),
                        });
                    }
                }
                Ok(())
            }
        }
    }
}

fn describe_result(r: &MeasureResult) -> String {
    match r {
        MeasureResult::Verdict(v) => format!("{}: {:?} {}", v.validator, v.outcome, v.message),
        MeasureResult::Error(e) => format!("{}: error {}", e.validator, e.message),
    }
}
