//! The rollout state machine: `Rollout::handle(&Stamped) -> Vec<Effect>`. Pure: no clock,
//! no I/O, no randomness. Every request it makes carries an id and stays *outstanding* until
//! answered, so after a crash `Input::Resumed` re-issues exactly what was in flight.

use super::analysis::{AnalysisRun, Decision};
use super::command::Command;
use super::event::{AnalysisResult, AnalysisScope, Event, EventKind, StartInfo};
use super::io::{Effect, GateWatch, Input, RollbackCause, Stamped};
use super::ops::{expand_step, promote_full_ops, rollback_ops, Op};
use super::spec::{FailurePolicy, RolloutSpec};
use crate::driver::{Capabilities, DriverError};
use crate::gate::GateOutcome;
use crate::migrate::{MigrateError, MigrationPhase, PhaseReport};
use crate::model::PlanError;
use crate::model::{Action, FleetState, Revision, RevisionId, Role, Step, WeightSet};
use crate::model::{Phase, RolloutStatus};
use crate::notify::Notification;
use crate::time::{format_duration, Timestamp};
use crate::validator::MeasureResult;
use std::collections::VecDeque;
use std::sync::Arc;

mod answers;
mod commands;
mod judgments;
mod lifecycle;
mod migrations;
#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests;

/// Attempts at verifying stable's health after a rollback before giving up.
const VERIFY_ATTEMPTS: u32 = 3;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Stage {
    Gating,
    /// Running the plan's steps; `active`: step `Rollout::step` has started and not yet
    /// completed (its `step_completed` event is due when its ops are done).
    Steps {
        active: bool,
    },
    Promoting,
    /// Restoring stable.
    Rollback(Arc<RollbackOf>),
    Frozen,
    /// Ended; a rollback that failed is kept for a `retry`, which starts it again.
    Done {
        failed_rollback: Option<Arc<RollbackOf>>,
    },
}

/// A rollback: why, and the phase it ends in when it succeeds.
#[derive(Debug, Clone, PartialEq, Eq)]
struct RollbackOf {
    /// `rolled_back` (after a failure) or `aborted` (an operator's abort).
    end: Phase,
    /// The reason, in words (the `rollback_started` event's).
    reason: String,
    /// The reason, as a kind.
    cause: RollbackCause,
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
        /// Why stable is judged: after a rollback, or after an expand migration.
        purpose: Verification,
    },
    Migrate {
        id: u64,
        migrator: Arc<str>,
        phase: MigrationPhase,
        attempt: u32,
    },
    MigrateBackoff {
        timer: u64,
        migrator: Arc<str>,
        phase: MigrationPhase,
        attempt: u32,
    },
}

/// Why the stable revision is judged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verification {
    /// A rollback restored it: is it healthy? Failing ends the rollback failed.
    Rollback,
    /// An expand migration (step index) changed the schema under it: does the old code
    /// still work? Failing freezes the rollout.
    AfterExpand { step: usize },
}

impl Running {
    fn waiting_on(&self) -> Option<u64> {
        match self {
            Running::Apply { id, .. } | Running::Migrate { id, .. } => Some(*id),
            Running::Backoff { timer, .. }
            | Running::MigrateBackoff { timer, .. }
            | Running::Sleep { timer } => Some(*timer),
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

/// A rollout as a deterministic state machine, in the sans-IO shape of `quinn-proto`'s
/// `Connection`: built valid from its request ([`Rollout::new`], or
/// [`Rollout::replay_start`] from a journal's first entry), fed [`Stamped`] inputs, it
/// returns the [`Effect`]s to perform; the runner feeds back their results. It keeps its own
/// timers: [`poll_timeout`](Self::poll_timeout) says when it next wants waking and which
/// timer (a timer due is fed back as `Input::TimerFired`, or, for a gate watched for a
/// person, see [`watched_gate`](Self::watched_gate)). The same inputs always produce the
/// same effects and timers, so a journal of inputs is enough to rebuild it.
///
/// ```
/// use shipcore::engine::{Rollout, Effect, RolloutSpec};
/// use shipcore::driver::Capabilities;
/// use shipcore::model::{Plan, Revision, Step, Role, Target};
/// use shipcore::time::Timestamp;
///
/// let spec = RolloutSpec::new("r1", Target::new("web", "prod"), None,
///     Revision::new("web-v1", "1.0.0".parse().unwrap(), "web:1"),
///     Plan { strategy: "recreate".into(), replicas: 2,
///            steps: vec![Step::Scale { role: Role::Candidate, replicas: 2 }, Step::Promote] });
/// let (r, effects) = Rollout::new(spec, Capabilities::ALL, Timestamp(0)).unwrap();
/// // No gates: the first step starts at once and asks the driver to deploy.
/// assert!(effects.iter().any(|e| matches!(e, Effect::Apply { .. })));
/// assert_eq!(r.spec().id, "r1");
/// ```
#[derive(Debug, Clone)]
pub struct Rollout {
    spec: Arc<RolloutSpec>,
    caps: Capabilities,
    phase: Phase,
    reason: Option<String>,
    stage: Stage,
    step: usize,
    ops: VecDeque<Op>,
    current: Option<Running>,
    /// A pause asked for (an operator's `pause`, a background analysis inconclusive, a hold
    /// lost): the rollout stops before its next step until `resume`. Not per stage on
    /// purpose: asked during the steps, it holds through a full promotion's interruption,
    /// and `resume`, `retry` of a freeze, a rollback and a restart from gating drop it.
    operator_paused: bool,
    background: Option<Background>,
    /// Requests in flight, in id order (ids only grow, so pushing keeps the order).
    outstanding: Vec<(u64, Effect)>,
    /// Timers set and not fired or cancelled (and gates watched on them), earliest first.
    timers: Vec<Timer>,
    next_id: u64,
    now: Timestamp,
    last_fleet: Option<Arc<FleetState>>,
    /// An action that changes capacity (deploy, scale, retire) was applied since the last
    /// observation, so `last_fleet` may no longer show which revisions can serve.
    fleet_changed: bool,
    approvals: Vec<String>,
    /// Why each rollback started, in the order of their `rollback_started` events.
    rollback_causes: Vec<RollbackCause>,
    /// A gate's hold lost while the steps or a full promotion ran: fleet changes stop until
    /// `resume` takes the gate again (and then goes on with the promotion it interrupted).
    /// Spans both stages, so it is not stage data.
    lost: Option<Lost>,
    /// Gates passed since gating began: those that may hold something for the rollout.
    passed: Vec<String>,
}

/// A timer the machine set: due at `at`; with `watch`, a gate watched for a person.
#[derive(Debug, Clone)]
struct Timer {
    at: Timestamp,
    id: u64,
    watch: Option<Box<WatchedGate>>,
}

/// A gate waiting for a person, to be asked again when its timer is due (see
/// [`Rollout::watched_gate`]): ask it with these arguments; when it still answers
/// `AwaitPerson` with reason `watch.unchanged`, [`Rollout::rewatch`] it (not journaled, not
/// fed); any other answer is fed as `Input::GateChecked` with the timer's id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchedGate {
    /// The gate's name.
    pub gate: String,
    /// Approvals given so far.
    pub approvals: Vec<String>,
    /// Since when the gate has been waiting at this gate op (`GateContext::waiting_since`).
    pub waiting_since: Option<Timestamp>,
    /// How often to ask, and the answer that is not news.
    pub watch: GateWatch,
}

/// The journal's first entry is not `Input::Start`, so no rollout can be built from it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StartError {
    /// A rollout is built from `Input::Start`; this input came first instead.
    #[error("the first input must be `start` (the rollout's spec), found `{found}`")]
    NotStart {
        /// The input's name, as journaled.
        found: &'static str,
    },
}

impl Rollout {
    /// Starts a rollout of `spec` with a driver that can do `capabilities`, at `at`: the
    /// machine, and the effects of starting it (the `started` event, and the first gate
    /// check or step). A spec or plan that fails validation is refused with the
    /// [`PlanError`] naming the field; nothing is built.
    ///
    /// Journals hold the start as `Input::Start { spec, capabilities }`: rebuild a machine
    /// from one with [`replay_start`](Self::replay_start), which also replays a refused start.
    pub fn new(
        spec: impl Into<Arc<RolloutSpec>>,
        capabilities: Capabilities,
        at: Timestamp,
    ) -> Result<(Rollout, Vec<Effect>), PlanError> {
        let spec = spec.into();
        check_start(&spec, &capabilities)?;
        Ok(Self::build(spec, capabilities, at, Ok(())))
    }

    /// Rebuilds a machine from a journal's first entry, which must be `Input::Start`: the
    /// machine and the effects the start had. A start whose spec or plan fails validation
    /// (a journal may hold one) gives a settled rollout, [`Phase::Blocked`], with the
    /// `rejected` event that says why, as it always has. Feed every later entry to
    /// [`handle`](Self::handle).
    pub fn replay_start(first: &Stamped) -> Result<(Rollout, Vec<Effect>), StartError> {
        match &first.input {
            Input::Start { spec, capabilities } => {
                let spec: Arc<RolloutSpec> = Arc::new((**spec).clone());
                let checked = check_start(&spec, capabilities);
                Ok(Self::build(spec, *capabilities, first.at, checked))
            }
            other => Err(StartError::NotStart {
                found: input_name(other),
            }),
        }
    }

    /// Replays one journaled input into `slot`: the first (with `slot` empty) builds the
    /// machine with [`replay_start`](Self::replay_start), every later one is handled.
    /// Returns the input's effects. For callers that replay a journal entry by entry.
    pub fn replay_into(
        slot: &mut Option<Rollout>,
        input: &Stamped,
    ) -> Result<Vec<Effect>, StartError> {
        match slot {
            Some(machine) => Ok(machine.handle(input)),
            None => {
                let (machine, effects) = Self::replay_start(input)?;
                *slot = Some(machine);
                Ok(effects)
            }
        }
    }

    /// The machine of a start that `checked` (its [`check_start`]) accepted or refused (a
    /// refused one ends blocked).
    fn build(
        spec: Arc<RolloutSpec>,
        caps: Capabilities,
        at: Timestamp,
        checked: Result<(), PlanError>,
    ) -> (Rollout, Vec<Effect>) {
        let mut machine = Rollout {
            spec,
            caps,
            phase: Phase::Pending,
            reason: None,
            stage: Stage::Gating,
            step: 0,
            ops: VecDeque::new(),
            current: None,
            operator_paused: false,
            background: None,
            outstanding: Vec::new(),
            timers: Vec::new(),
            next_id: 1,
            now: at,
            last_fleet: None,
            fleet_changed: false,
            approvals: Vec::new(),
            rollback_causes: Vec::new(),
            lost: None,
            passed: Vec::new(),
        };
        let mut out = Vec::with_capacity(8);
        machine.on_start(checked, &mut out);
        machine.pump(&mut out);
        (machine, out)
    }

    /// The current phase.
    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// The rollout's request.
    pub fn spec(&self) -> &RolloutSpec {
        &self.spec
    }

    /// The spec, shared: a cheap handle for callers that keep it while they feed the
    /// machine (the runner does, for every effect).
    pub fn shared_spec(&self) -> Arc<RolloutSpec> {
        self.spec.clone()
    }

    /// Why each rollback of this rollout started, in the order of their `rollback_started`
    /// events (the same causes [`Effect::RollbackCause`] gave as they started).
    pub fn rollback_causes(&self) -> &[RollbackCause] {
        &self.rollback_causes
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
            Stage::Steps { .. } | Stage::Promoting | Stage::Rollback(_)
        ) && self.lost.is_none()
    }

    /// The gates whose holds the runner keeps alive now (at [`Effect::KeepGatesAlive`], and
    /// while it waits): those passed since gating began, while the rollout is past its
    /// gates, not ended, and no hold was lost (none otherwise).
    pub fn held_gates(&self) -> &[String] {
        if self.holds_gates() {
            &self.passed
        } else {
            &[]
        }
    }

    /// When the machine next wants to be woken, and the id of the timer due then (the
    /// earliest; ties by id). When that time comes, feed `Input::TimerFired { id }`, unless
    /// [`watched_gate`](Self::watched_gate)`(id)` names a gate to ask instead. Timers are
    /// kept while the rollout is settled too (a frozen rollout's are cancelled), so a runner
    /// that stops at a settled phase asks nothing.
    pub fn poll_timeout(&self) -> Option<(Timestamp, u64)> {
        self.timers.first().map(|t| (t.at, t.id))
    }

    /// The gate watched for a person on timer `id`, if that timer is a watch rather than a
    /// plain timer (see [`WatchedGate`]).
    pub fn watched_gate(&self, id: u64) -> Option<&WatchedGate> {
        self.timers
            .iter()
            .find(|t| t.id == id)
            .and_then(|t| t.watch.as_deref())
    }

    /// Watches the gate of timer `id` again from `at`: it still waits for a person with the
    /// same reason. Not an input (the answer was no news): on resume, a watched gate is asked
    /// at once anyway. Does nothing for a timer that is not a watch.
    pub fn rewatch(&mut self, id: u64, at: Timestamp) {
        let Some(i) = self
            .timers
            .iter()
            .position(|t| t.id == id && t.watch.is_some())
        else {
            return;
        };
        let mut timer = self.timers.remove(i);
        timer.at = at;
        self.insert_timer(timer);
    }

    /// Whether request `id` is still wanted (a queued request cancelled before it was
    /// performed is not).
    pub(crate) fn is_outstanding(&self, id: u64) -> bool {
        self.outstanding.iter().any(|(r, _)| *r == id)
    }

    /// Requests sent and not yet answered (re-issued on resume). Timers are not requests:
    /// see [`poll_timeout`](Self::poll_timeout).
    pub fn outstanding(&self) -> impl Iterator<Item = &Effect> {
        self.outstanding.iter().map(|(_, e)| e)
    }

    /// A snapshot for callers.
    pub fn status(&self) -> RolloutStatus {
        RolloutStatus {
            id: self.spec.id.clone(),
            phase: self.phase,
            step: self.step,
            steps: self.spec.plan.steps.len(),
            reason: self.reason.clone(),
        }
    }

    /// Whether `status` no longer describes this rollout (cheaper than building a new one).
    pub(crate) fn status_differs(&self, status: &RolloutStatus) -> bool {
        let (id, steps) = (self.spec.id.as_str(), self.spec.plan.steps.len());
        self.status_moved(status) || status.steps != steps || status.id != id
    }

    /// Whether `status`, once built by this machine, no longer describes it: only the
    /// phase, step and reason move during a rollout (its id and step count never do, and
    /// comparing the id would read two strings per input).
    pub(crate) fn status_moved(&self, status: &RolloutStatus) -> bool {
        status.phase != self.phase || status.step != self.step || status.reason != self.reason
    }

    /// Handles one input and returns the effects to perform, in order. `Input::Start` is
    /// ignored: the machine was built from it.
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
            Input::Start { .. } => {}
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
                    | Input::Migrated { id, .. }
                    | Input::MigrateFailed { id, .. }
                    | Input::TimerFired { id } => *id,
                    _ => return,
                };
                // An answer to nothing outstanding is stale (cancelled or already handled).
                if !self.take_outstanding(id) {
                    return;
                }
                match answer {
                    Input::Observed { fleet, .. } => self.on_observed(id, fleet, out),
                    Input::ObserveFailed { error, .. } => self.on_observe_failed(error, out),
                    Input::Applied { .. } => self.on_applied(id, out),
                    Input::ApplyFailed { error, .. } => self.on_apply_failed(error, out),
                    Input::Measured { results, .. } => self.on_measured(id, results, out),
                    Input::GateChecked { outcome, .. } => self.on_gate(outcome, out),
                    Input::Migrated { report, .. } => self.on_migrated(id, report, out),
                    Input::MigrateFailed { error, .. } => self.on_migrate_failed(error, out),
                    Input::TimerFired { .. } => self.on_timer(id, out),
                    _ => {}
                }
            }
        }
        self.pump(out);
    }

    // ---- emitting -------------------------------------------------------------------

    fn record(&self, out: &mut Vec<Effect>, kind: EventKind) {
        // The gates' lifecycle, at the events it has always followed: holds renewed as a
        // step starts and at every measurement, released when the rollout ends for good.
        match &kind {
            EventKind::StepStarted { .. } | EventKind::Measured { .. }
                if !self.passed.is_empty() =>
            {
                out.push(Effect::KeepGatesAlive)
            }
            EventKind::Finished { phase, .. } if phase.is_terminal() => {
                out.push(Effect::FinishGates { phase: *phase })
            }
            _ => {}
        }
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

    /// Sets a timer due `after` from now; returns its id.
    fn timer(&mut self, after: std::time::Duration) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        let at = self.now.plus(after);
        self.insert_timer(Timer {
            at,
            id,
            watch: None,
        });
        id
    }

    /// Watches gate `name` (waiting since `since`) for a person: asked when the timer is
    /// due, `watch.every` from now. Returns the timer's id, which its answer carries.
    fn watch_gate(&mut self, name: &str, since: Option<Timestamp>, watch: GateWatch) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        let at = self.now.plus(watch.every);
        let watched = WatchedGate {
            gate: name.to_string(),
            approvals: self.approvals.clone(),
            waiting_since: since,
            watch,
        };
        self.insert_timer(Timer {
            at,
            id,
            watch: Some(Box::new(watched)),
        });
        id
    }

    fn insert_timer(&mut self, timer: Timer) {
        let key = (timer.at, timer.id);
        let pos = self.timers.partition_point(|t| (t.at, t.id) <= key);
        self.timers.insert(pos, timer);
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

    /// Removes request or timer `id` from the outstanding ones; whether it was one.
    fn take_outstanding(&mut self, id: u64) -> bool {
        if let Some(i) = self.outstanding.iter().position(|(r, _)| *r == id) {
            self.outstanding.remove(i);
            return true;
        }
        if let Some(i) = self.timers.iter().position(|t| t.id == id) {
            self.timers.remove(i);
            return true;
        }
        false
    }

    /// Forgets request or timer `id`: its answer, if any comes, is stale.
    fn forget(&mut self, id: u64) {
        self.take_outstanding(id);
    }

    fn cancel_current(&mut self) {
        if let Some(id) = self.current.take().and_then(|c| c.waiting_on()) {
            self.forget(id);
        }
    }

    fn cancel_all(&mut self) {
        self.outstanding.clear();
        self.timers.clear();
        self.current = None;
        self.ops.clear();
        self.background = None;
    }

    fn rollout_id(&self) -> String {
        self.spec.id.clone()
    }

    fn revision(&self, role: Role) -> Option<&Revision> {
        match role {
            Role::Candidate => Some(&self.spec.candidate),
            Role::Stable => self.spec.stable.as_ref(),
        }
    }
}

/// What `Rollout::new` checks of a start (and a journaled start that fails it is blocked).
fn check_start(spec: &RolloutSpec, caps: &Capabilities) -> Result<(), PlanError> {
    spec.validate().and_then(|_| spec.plan.validate(caps))
}

/// An input's name as journaled (its `input` tag).
fn input_name(input: &Input) -> &'static str {
    match input {
        Input::Start { .. } => "start",
        Input::Resumed => "resumed",
        Input::Observed { .. } => "observed",
        Input::ObserveFailed { .. } => "observe_failed",
        Input::Applied { .. } => "applied",
        Input::ApplyFailed { .. } => "apply_failed",
        Input::Measured { .. } => "measured",
        Input::GateChecked { .. } => "gate_checked",
        Input::GateLost { .. } => "gate_lost",
        Input::Migrated { .. } => "migrated",
        Input::MigrateFailed { .. } => "migrate_failed",
        Input::TimerFired { .. } => "timer_fired",
        Input::Command(_) => "command",
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
