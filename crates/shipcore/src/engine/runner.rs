//! The async runner: performs a [`Rollout`]'s effects against the driver, validators,
//! gates, notifiers and clock, journaling every input *before* the machine handles it.
//! `start` begins a rollout; `resume` replays a journal and continues where it stopped.

use super::command::Command;
use super::command_queue::{self, CommandReceiver, CommandSender};
use super::event::{Event, EventKind};
use super::handle::RolloutHandle;
use super::io::{Effect, Input, Stamped};
use super::machine::{Rollout, WatchedGate};
use super::pending::Pending;
use super::run_error::RunError;
use super::shared::Shared;
use super::spec::RolloutSpec;
use super::status_cell::{self, StatusSender};
use crate::clock::Clock;
use crate::driver::Driver;
use crate::gate::{Gate, GateOutcome};
use crate::journal::Journal;
use crate::model::FleetState;
use crate::model::{Phase, Role, RolloutStatus};
use crate::notify::Notifier;
use crate::time::Timestamp;
use crate::validator::{ValidationContext, Validator};
use std::collections::VecDeque;
use std::sync::{Arc, OnceLock};
use tracing::Instrument;

mod now;

/// What a finished (or stopped) run leaves.
#[derive(Debug, Clone)]
pub struct RunReport {
    /// Where the rollout stands.
    pub status: RolloutStatus,
    /// The whole event log, replayed part included (empty with `keep_events(false)`).
    pub events: Vec<Event>,
    /// The last fleet the engine observed.
    pub fleet: Option<FleetState>,
    /// The rollout's request, once started (what a record takes from it, such as the
    /// stable revision's artifact, is the same as from the journal).
    pub spec: Option<Arc<RolloutSpec>>,
    /// Why each rollback started, in the order of the `rollback_started` events in
    /// `events` ([`Rollout::rollback_causes`]).
    pub rollback_causes: Vec<super::io::RollbackCause>,
}

/// Runs rollouts. Build with [`Runner::builder`].
///
/// To act on a rollout while it runs, take a [`handle`](Runner::handle) *before* starting
/// it, `tokio::spawn` the runner, and send commands through the handle; the run returns when
/// the rollout settles, or when it waits for a person and no handle is left. On a simulated
/// clock ([`SimClock`](crate::clock::SimClock)) time jumps ahead at once, so a timed pause
/// or an analysis is over before a command could arrive: only waits for a person (a pause
/// without a duration, an inconclusive analysis, an approval) can be acted on live. Use
/// [`RunnerBuilder::command_at`] to script commands at simulated instants instead.
///
/// ```
/// use shipcore::prelude::*;
/// use shipcore::testing::SimWorld;
/// use std::sync::Arc;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let world = SimWorld::new(1);
/// let target = Target::new("web", "production");
/// let v1 = Revision::new("web-v1", "1.0.0".parse().unwrap(), "web:1");
/// let v2 = Revision::new("web-v2", "2.0.0".parse().unwrap(), "web:2");
/// world.driver.seed_stable(&target, &v1, 2);
/// // Blue-green: deploy v2 beside v1, wait for a person, switch, retire v1.
/// let plan = Plan { strategy: "blue_green".into(), replicas: 2, steps: vec![
///     Step::Scale { role: Role::Candidate, replicas: 2 },
///     Step::Pause { duration: None },
///     Step::Promote,
///     Step::Retire { role: Role::Stable, after: Default::default() },
/// ]};
/// let spec = RolloutSpec::new("web-2", target.clone(), Some(v1), v2.clone(), plan);
/// let mut runner = Runner::builder(world.driver_arc(), world.clock_arc(),
///     Arc::new(MemoryJournal::new())).build();
/// let mut handle = runner.handle();
/// let run = tokio::spawn(async move { runner.start(spec).await });
///
/// let paused = handle.wait_for(|s| s.phase == Phase::Paused).await;
/// assert_eq!(paused.reason.as_deref(), Some("waiting for promotion"));
/// handle.promote().unwrap();
/// let report = run.await.unwrap().unwrap();
/// assert_eq!(report.status.phase, Phase::Succeeded);
/// assert_eq!(world.driver.fleet(&target).weight_of(&v2.id), 100);
/// # }
/// ```
pub struct Runner {
    /// The collaborators shared with every run of the same engine.
    shared: Arc<Shared>,
    journal: Arc<dyn Journal>,
    scheduled: VecDeque<(Timestamp, Command)>,
    /// Made when the first handle is taken.
    remote: OnceLock<Remote>,
    /// Where the last run ended, for a handle taken afterwards.
    ended: Option<RolloutStatus>,
    /// What the validators were last told, and about which revision: built at the run's
    /// first measurement and reused (only its time changes) until the subject does.
    judging: Option<(Role, Box<ValidationContext>)>,
}

impl std::fmt::Debug for Runner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runner")
            .field("engine", &self.shared)
            .field("scheduled", &self.scheduled.len())
            .field("handles", &self.remote.get().is_some())
            .field("ended", &self.ended)
            .finish_non_exhaustive()
    }
}

/// A runner's remote control: the operator's commands in, the status out. Made when the
/// first handle is taken, so a runner nobody holds a handle to (one of thousands in a
/// process) allocates neither channel.
struct Remote {
    /// The runner's own sender, dropped when a run starts: from then on only handles keep
    /// the channel open (and the runner waiting for a person).
    commands_tx: Option<CommandSender>,
    commands_rx: CommandReceiver,
    status_tx: StatusSender,
}

impl Remote {
    /// Channels showing `status`; `live`: commands can still reach a run.
    fn new(status: RolloutStatus, live: bool) -> Self {
        let (tx, commands_rx) = command_queue::queue();
        let (status_tx, _) = status_cell::channel(status);
        Remote {
            commands_tx: live.then_some(tx),
            commands_rx,
            status_tx,
        }
    }
}

/// The next command from a handle; `None` when there is no handle left (or never was).
async fn next_command(remote: &mut OnceLock<Remote>) -> Option<Command> {
    match remote.get_mut() {
        Some(r) => r.commands_rx.recv().await,
        None => None,
    }
}

/// Whether a handle may still send a command.
fn commands_open(remote: &OnceLock<Remote>) -> bool {
    remote.get().is_some_and(|r| !r.commands_rx.is_closed())
}

/// Builds a [`Runner`] with an engine of its own: [`Runner::builder`]. To run many
/// rollouts on the same collaborators, build an [`Engine`](super::Engine) once and take
/// its [`runner`](super::Engine::runner)s instead.
#[must_use = "a builder does nothing until `build` is called"]
pub struct RunnerBuilder {
    engine: super::EngineBuilder,
    journal: Arc<dyn Journal>,
    scheduled: VecDeque<(Timestamp, Command)>,
}

impl RunnerBuilder {
    /// Registers a validator under its name.
    pub fn validator(mut self, v: Arc<dyn Validator>) -> Self {
        self.engine = self.engine.validator(v);
        self
    }
    /// Registers a gate under its name.
    pub fn gate(mut self, g: Arc<dyn Gate>) -> Self {
        self.engine = self.engine.gate(g);
        self
    }
    /// Registers a migrator under its name.
    pub fn migrator(mut self, m: Arc<dyn crate::migrate::Migrator>) -> Self {
        self.engine = self.engine.migrator(m);
        self
    }
    /// Adds a notifier.
    pub fn notifier(mut self, n: Arc<dyn Notifier>) -> Self {
        self.engine = self.engine.notifier(n);
        self
    }
    /// Calls `f` for every event as it is recorded (live output).
    pub fn on_event(mut self, f: impl Fn(&Event) + Send + Sync + 'static) -> Self {
        self.engine = self.engine.on_event(f);
        self
    }
    /// Whether [`RunReport::events`] holds the event log (default `true`); see
    /// [`EngineBuilder::keep_events`](super::EngineBuilder::keep_events).
    pub fn keep_events(mut self, keep: bool) -> Self {
        self.engine = self.engine.keep_events(keep);
        self
    }
    /// Delivers `cmd` when engine time reaches `at`: a scripted operator, deterministic
    /// under a simulated clock.
    pub fn command_at(mut self, at: Timestamp, cmd: Command) -> Self {
        schedule(&mut self.scheduled, at, cmd);
        self
    }
    /// The runner.
    pub fn build(self) -> Runner {
        let mut runner = Runner::of(self.engine.build_shared(), self.journal);
        runner.scheduled = self.scheduled;
        runner
    }
}

/// Inserts `cmd` at `at` after every command due at or before it.
fn schedule(scheduled: &mut VecDeque<(Timestamp, Command)>, at: Timestamp, cmd: Command) {
    let pos = scheduled
        .iter()
        .position(|(t, _)| *t > at)
        .unwrap_or(scheduled.len());
    scheduled.insert(pos, (at, cmd));
}

fn pending_status() -> RolloutStatus {
    RolloutStatus {
        id: String::new(),
        phase: Phase::Pending,
        step: 0,
        steps: 0,
        reason: None,
    }
}

impl Runner {
    /// A builder with the three required parts.
    pub fn builder(
        driver: Arc<dyn Driver>,
        clock: Arc<dyn Clock>,
        journal: Arc<dyn Journal>,
    ) -> RunnerBuilder {
        RunnerBuilder {
            engine: super::Engine::builder(driver, clock),
            journal,
            scheduled: VecDeque::new(),
        }
    }

    /// A run of the engine `shared` on `journal`.
    pub(super) fn of(shared: Arc<Shared>, journal: Arc<dyn Journal>) -> Self {
        Runner {
            shared,
            journal,
            scheduled: VecDeque::new(),
            remote: OnceLock::new(),
            ended: None,
            judging: None,
        }
    }

    /// Delivers `cmd` when engine time reaches `at` (see [`RunnerBuilder::command_at`]).
    #[must_use]
    pub fn command_at(mut self, at: Timestamp, cmd: Command) -> Self {
        schedule(&mut self.scheduled, at, cmd);
        self
    }

    /// A remote control. Take handles before running: the runner stops waiting for
    /// commands once every handle is dropped.
    pub fn handle(&self) -> RolloutHandle {
        let remote = self.remote.get_or_init(|| {
            let status = self.ended.clone().unwrap_or_else(pending_status);
            Remote::new(status, self.ended.is_none())
        });
        let (dead_tx, _) = command_queue::queue();
        RolloutHandle {
            commands: remote.commands_tx.clone().unwrap_or(dead_tx),
            status: remote.status_tx.subscribe(),
        }
    }

    /// Where handles were last shown the rollout (pending when there is no handle).
    fn shown_status(&self) -> RolloutStatus {
        match self.remote.get() {
            Some(r) => r.status_tx.get(),
            None => pending_status(),
        }
    }

    /// Checks a spec against this runner's driver and registries without running anything
    /// (a dry run's last check).
    pub fn preflight(&self, spec: &RolloutSpec) -> Result<(), RunError> {
        self.shared.preflight(spec)
    }

    /// What [`Plan::warnings`](crate::model::Plan::warnings) finds in `spec`'s plan with this
    /// runner's driver and validators (an analysis of a blue-green preview by a validator
    /// that measures traffic). [`start`](Self::start) logs them with `tracing::warn!`; they
    /// never stop a rollout.
    pub fn warnings(&self, spec: &RolloutSpec) -> Vec<crate::model::PlanWarning> {
        self.shared.warnings(spec)
    }

    /// Starts a new rollout on an empty journal and drives it until it settles (or waits for
    /// a person with no handle left to ask: at an indefinite `Pause`, an inconclusive
    /// analysis, or a gate answering [`GateOutcome::AwaitPerson`] without a recheck time). Before anything is journaled or changed, the
    /// spec is checked ([`preflight`](Self::preflight)) and so is the driver's
    /// [`Driver::preflight`]; either refusal returns an error and leaves the platform as it was.
    /// The driver's preflight runs before the spec's gates are checked, so it is called even
    /// when a gate then blocks the rollout.
    pub fn start(
        &mut self,
        spec: RolloutSpec,
    ) -> impl std::future::Future<Output = Result<RunReport, RunError>> + Send + '_ {
        // Boxed before the future is made, so a rollout's task does not carry a spec-sized
        // slot for as long as it runs.
        self.start_boxed(Box::new(spec), false)
    }

    /// [`start`](Self::start) of a boxed spec; `preflighted`: the engine already checked it
    /// with [`preflight`](Self::preflight) (the machine checks it once more as it is built).
    pub(super) async fn start_boxed(
        &mut self,
        spec: Box<RolloutSpec>,
        preflighted: bool,
    ) -> Result<RunReport, RunError> {
        // One span for the whole run (an engine's task adds none: each level is read at
        // every wake of the task).
        let span = tracing::info_span!("rollout", id = %spec.id, service = %spec.target.service, env = %spec.target.environment);
        self.start_in_span(spec, preflighted).instrument(span).await
    }

    async fn start_in_span(
        &mut self,
        spec: Box<RolloutSpec>,
        preflighted: bool,
    ) -> Result<RunReport, RunError> {
        if !preflighted {
            self.preflight(&spec)?;
        }
        let shared = self.shared.clone();
        let _active = shared.runs.enter().await.ok_or(RunError::ShutDown)?;
        for w in self.warnings(&spec) {
            tracing::warn!(rollout = %spec.id, field = %w.field, "{}", w.message);
        }
        if let Some(first) = self.journal.read_all().await?.first() {
            let id = first
                .payload
                .pointer("/spec/id")
                .and_then(|v| v.as_str())
                .unwrap_or("?")
                .to_string();
            return Err(RunError::AlreadyStarted(id));
        }
        self.driver()
            .preflight(&spec.target, &spec.candidate)
            .await
            .map_err(RunError::Preflight)?;
        let mut events = if self.shared.keep_events {
            Vec::with_capacity(expected_events(&spec))
        } else {
            Vec::new()
        };
        let mut queue = Pending::new(self.shown_status());
        let caps = self.driver().capabilities();
        let now = self.clock().now();
        let (mut machine, effects) = Rollout::new(Arc::from(spec), caps, now)?;
        // Journaled before anything is performed, as ever: the journal's first entry is the
        // start, and it rebuilds this machine on resume.
        let start = Stamped::new(
            now,
            Input::Start {
                spec: Box::new(machine.spec().clone()),
                capabilities: caps,
            },
        );
        if !self.append_now(&start)? {
            self.journal.append_encodable(&start).await?;
        }
        drop(start);
        queue.extend(effects);
        if let Some(remote) = self.remote.get() {
            queue.publish(&machine, &remote.status_tx);
        }
        let driven = self.drive(&mut machine, queue, &mut events).await;
        self.report(&machine, events, driven)
    }

    /// Replays the journal to rebuild the rollout exactly, then continues it: whatever was
    /// in flight when the previous runner stopped is re-issued (actions are idempotent).
    ///
    /// The journal holds the spec, not the validators and gates: build this runner with the
    /// same ones registered under the same names (and the same driver), or `resume` refuses
    /// with [`RunError::UnknownValidator`] / [`RunError::UnknownGate`] before anything runs.
    pub async fn resume(&mut self) -> Result<RunReport, RunError> {
        use tracing::field::Empty;
        let span = tracing::info_span!(
            "rollout",
            id = Empty,
            service = Empty,
            env = Empty,
            resumed = true
        );
        self.resume_in(span.clone()).instrument(span).await
    }

    /// [`resume`](Self::resume) in `span`, which is told the rollout once it is known.
    async fn resume_in(&mut self, span: tracing::Span) -> Result<RunReport, RunError> {
        use tracing::field::display;
        let shared = self.shared.clone();
        let _active = shared.runs.enter().await.ok_or(RunError::ShutDown)?;
        let entries = self.journal.read_all().await?;
        if entries.is_empty() {
            return Err(RunError::NothingToResume);
        }
        let mut machine = None;
        let mut events = Vec::new();
        for entry in entries {
            let stamped = super::decode_entry(&entry)?;
            let effects =
                Rollout::replay_into(&mut machine, &stamped).map_err(|e| super::BadEntry {
                    seq: entry.seq,
                    message: e.to_string(),
                })?;
            for effect in effects {
                if let Effect::Record(ev) = effect {
                    if self.shared.keep_events {
                        events.push(ev);
                    }
                }
            }
        }
        let Some(mut machine) = machine else {
            return Err(RunError::NothingToResume);
        };
        let spec = machine.shared_spec();
        self.preflight(&spec)?;
        // A simulated clock continues from the journal's last instant; a real one is later.
        if self.clock().now() < machine.now() {
            self.clock().sleep_until(machine.now()).await;
        }
        if machine.phase().is_terminal() {
            // The previous runner may have stopped before telling the gates.
            self.shared.finish_gates(&spec, machine.phase()).await;
        }
        span.record("id", display(&spec.id));
        span.record("service", display(&spec.target.service));
        span.record("env", display(&spec.target.environment));
        let mut queue = Pending::new(self.shown_status());
        if !machine.phase().is_settled() {
            self.feed(&mut machine, Input::Resumed, &mut queue).await?;
        }
        let driven = self.drive(&mut machine, queue, &mut events).await;
        self.report(&machine, events, driven)
    }

    /// The report of a run that `drive` ended with `driven`; remembers where the rollout
    /// stands (for handles taken afterwards), even when the journal failed.
    fn report(
        &mut self,
        machine: &Rollout,
        events: Vec<Event>,
        driven: Result<(), RunError>,
    ) -> Result<RunReport, RunError> {
        self.ended = Some(machine.status());
        driven?;
        Ok(RunReport {
            status: machine.status(),
            events,
            fleet: machine.last_fleet().cloned(),
            spec: Some(machine.shared_spec()),
            rollback_causes: machine.rollback_causes().to_vec(),
        })
    }

    /// Journals `input` (flushed), then lets the machine handle it.
    async fn feed(
        &self,
        machine: &mut Rollout,
        input: Input,
        queue: &mut Pending,
    ) -> Result<(), RunError> {
        if let Some(stamped) = self.feed_now(machine, input, queue)? {
            self.feed_stamped(machine, stamped, queue).await?;
        }
        Ok(())
    }

    /// Journals `stamped`, which the journal could not take at once, then lets the machine
    /// handle it. Boxed, so every future that may feed holds eight bytes for it.
    async fn feed_stamped(
        &self,
        machine: &mut Rollout,
        stamped: Box<Stamped>,
        queue: &mut Pending,
    ) -> Result<(), RunError> {
        self.journal.append_encodable(&*stamped).await?;
        self.handle_journaled(machine, &stamped, queue);
        Ok(())
    }

    async fn drive(
        &mut self,
        machine: &mut Rollout,
        mut queue: Pending,
        events: &mut Vec<Event>,
    ) -> Result<(), RunError> {
        self.judging = None;
        // Only external handles keep the runner waiting for commands.
        if let Some(remote) = self.remote.get_mut() {
            remote.commands_tx = None;
        }
        let mut step_span = tracing::Span::none();
        let keep_every = self.shared.keep_alive_every(machine.spec());
        // Due at once: a resumed rollout checks its holds before it changes anything.
        let mut next_keep = self.clock().now();
        let shared = self.shared.clone();
        // One subscription to the shutdown signal for the whole run, registered the first
        // time a wait is actually pending (a simulated clock's waits never are).
        let stopped = shared.runs.stopped();
        tokio::pin!(stopped);
        // An input fed without a future whose journal must be awaited: journaled and
        // handled before anything else happens.
        let mut unjournaled: Option<Box<Stamped>> = None;
        loop {
            if let Some(stamped) = unjournaled.take() {
                self.feed_stamped(machine, stamped, &mut queue).await?;
            }
            if shared.runs.is_stopping() {
                return Err(RunError::ShutDown);
            }
            while let Some(cmd) = self.remote.get_mut().and_then(|r| r.commands_rx.try_recv()) {
                self.feed(machine, Input::Command(cmd), &mut queue).await?;
            }
            if let Some(effect) = queue.pop_front() {
                // What needs no I/O is performed here, without a future in the run's task.
                let Some(effect) = self.perform_now(
                    machine,
                    effect,
                    &mut queue,
                    events,
                    &mut step_span,
                    &mut unjournaled,
                )?
                else {
                    continue;
                };
                self.perform(machine, effect, &mut queue, events, &mut step_span)
                    .await?;
                continue;
            }
            let settled = machine.phase().is_settled();
            let next_timer = if settled {
                None
            } else {
                machine.poll_timeout()
            };
            let next_cmd = self.scheduled.front().map(|(t, _)| *t);
            if let Some(every) = keep_every.filter(|_| !settled && machine.holds_gates()) {
                // Keep gates' holds (locks) alive through every wait: before the next timer
                // or scheduled command, and while waiting for a person on a clock where
                // time passes.
                let other = match (next_timer.map(|(t, _)| t), next_cmd) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
                let waits = other.is_some()
                    || (commands_open(&self.remote) && self.clock().passes_by_itself());
                if waits && other.map_or(true, |o| next_keep <= o) {
                    let cmd = tokio::select! {
                        biased;
                        _ = &mut stopped => return Err(RunError::ShutDown),
                        cmd = next_command(&mut self.remote), if commands_open(&self.remote) => Some(cmd),
                        _ = shared.clock().sleep_until(next_keep) => None,
                    };
                    match cmd {
                        Some(Some(cmd)) => {
                            self.feed(machine, Input::Command(cmd), &mut queue).await?
                        }
                        Some(None) => {}
                        None => {
                            next_keep = self.clock().now().plus(every);
                            self.keep_alive_or_stop(machine, &mut queue).await?;
                        }
                    }
                    continue;
                }
            }
            match (next_timer, next_cmd) {
                (_, Some(at)) if next_timer.map(|(t, _)| at <= t).unwrap_or(true) => {
                    tokio::select! {
                        biased;
                        _ = shared.clock().sleep_until(at) => {}
                        _ = &mut stopped => return Err(RunError::ShutDown),
                    }
                    if let Some((_, cmd)) = self.scheduled.pop_front() {
                        self.feed(machine, Input::Command(cmd), &mut queue).await?;
                    }
                }
                (Some((at, id)), _) => {
                    // Waiting for ready replicas: a change the driver sees ends the wait early.
                    let watched = if machine.fleet_poll_timer() == Some(id) {
                        Some(machine.shared_spec())
                    } else {
                        None
                    };
                    // The timer first: when it is already due (always, on a simulated
                    // clock) nothing else is polled. Commands that came before the wait
                    // were taken at the top of the loop; one that comes with the timer
                    // is taken on the next turn.
                    // The select ends (its futures dropped) before anything is fed, so
                    // a run's task does not carry them beside the feeding.
                    let woke = tokio::select! {
                        biased;
                        _ = shared.clock().sleep_until(at) => Woke::Due,
                        _ = &mut stopped => return Err(RunError::ShutDown),
                        cmd = next_command(&mut self.remote), if commands_open(&self.remote) => Woke::Command(cmd),
                        _ = changed(shared.driver(), watched.as_deref()) => Woke::Changed,
                    };
                    match woke {
                        Woke::Due => match machine.watched_gate(id).cloned() {
                            Some(w) => self.poll_watch(machine, id, w, &mut queue).await?,
                            None => {
                                // Journaled at once when it can be; else at the loop's top.
                                unjournaled =
                                    self.feed_now(machine, Input::TimerFired { id }, &mut queue)?
                            }
                        },
                        Woke::Command(Some(cmd)) => {
                            self.feed(machine, Input::Command(cmd), &mut queue).await?
                        }
                        Woke::Command(None) => {}
                        Woke::Changed => {
                            tracing::debug!(
                                "the driver saw a change: observing before the poll interval"
                            );
                            self.feed(machine, Input::TimerFired { id }, &mut queue)
                                .await?;
                        }
                    }
                }
                (None, _) if settled => return Ok(()),
                (None, _) => {
                    // Waiting for a person.
                    let cmd = tokio::select! {
                        biased;
                        _ = &mut stopped => return Err(RunError::ShutDown),
                        cmd = next_command(&mut self.remote) => cmd,
                    };
                    match cmd {
                        Some(cmd) => self.feed(machine, Input::Command(cmd), &mut queue).await?,
                        None => return Ok(()),
                    }
                }
            }
        }
    }

    /// Asks a watched gate again (after letting other tasks run: a person's approval may
    /// be one of them); feeds its answer only when it changed, else watches on.
    async fn poll_watch(
        &self,
        machine: &mut Rollout,
        id: u64,
        w: WatchedGate,
        queue: &mut Pending,
    ) -> Result<(), RunError> {
        tokio::task::yield_now().await;
        let spec = machine.shared_spec();
        let outcome = Box::pin(self.shared.check_gate(
            &spec,
            &w.gate,
            w.approvals,
            w.waiting_since,
            &tracing::Span::none(),
        ))
        .await;
        match &outcome {
            GateOutcome::AwaitPerson {
                reason,
                recheck_after: Some(every),
            } if *reason == w.watch.unchanged => {
                machine.rewatch(id, self.clock().now().plus(*every));
                Ok(())
            }
            _ => {
                self.feed(machine, Input::GateChecked { id, outcome }, queue)
                    .await
            }
        }
    }

    /// Keeps the gates' holds alive; a hold lost is fed to the machine, which stops.
    async fn keep_alive_or_stop(
        &self,
        machine: &mut Rollout,
        queue: &mut Pending,
    ) -> Result<(), RunError> {
        let spec = machine.shared_spec();
        let lost = Box::pin(self.shared.keep_gates_alive(&spec, machine.held_gates())).await;
        if let Some((gate, reason)) = lost {
            self.feed(machine, Input::GateLost { gate, reason }, queue)
                .await?;
        }
        Ok(())
    }

    /// Performs one effect that [`perform_now`](Runner::perform_now) handed back (it takes
    /// whatever needs no I/O, such as gate work without gates); a request's answer is fed
    /// back to the machine. Rare, large work (gates, notifiers) runs in boxed futures so it
    /// does not swell every rollout's task.
    async fn perform(
        &mut self,
        machine: &mut Rollout,
        effect: Effect,
        queue: &mut Pending,
        events: &mut Vec<Event>,
        step_span: &mut tracing::Span,
    ) -> Result<(), RunError> {
        let spec = machine.shared_spec();
        let target = &spec.target;
        let answer = match effect {
            // Taken by `perform_now`; handled the same way should one arrive here.
            Effect::Record(ev) => {
                self.record(ev, events, step_span);
                None
            }
            Effect::RollbackCause { .. } => None,
            Effect::KeepGatesAlive => {
                let held = machine.held_gates();
                let lost = Box::pin(self.shared.keep_gates_alive(&spec, held)).await;
                lost.map(|(gate, reason)| Input::GateLost { gate, reason })
            }
            Effect::FinishGates { phase } => {
                Box::pin(self.shared.finish_gates(&spec, phase)).await;
                None
            }
            Effect::Notify(n) => {
                Box::pin(self.shared.notify_all(&n)).await;
                None
            }
            Effect::Apply { id, action } => {
                // Cancelled while queued (a hold was lost, an operator aborted): not sent.
                if !machine.is_outstanding(id) {
                    return Ok(());
                }
                // No fleet change without the rollout's holds (locks) renewed first.
                if let Some(lost) = self.hold_lost(machine, &spec).await {
                    return self.feed(machine, lost, queue).await;
                }
                let applied = self.driver().apply(target, &action);
                Some(match applied.instrument(step_span.clone()).await {
                    Ok(()) => Input::Applied { id },
                    Err(error) => Input::ApplyFailed { id, error },
                })
            }
            Effect::Observe { id } => {
                let observed = self.driver().observe(target);
                Some(match observed.instrument(step_span.clone()).await {
                    Ok(fleet) => Input::Observed {
                        id,
                        fleet: Arc::new(fleet),
                    },
                    Err(error) => Input::ObserveFailed { id, error },
                })
            }
            Effect::Measure {
                id,
                validators,
                subject,
                breached_since,
            } => {
                // Only what `perform_now` hands back gets here: a single validator was
                // asked to measure at once already and could not, so it is awaited without
                // being asked again. Several are each asked here first.
                let ask_now = validators.len() != 1;
                let ctx = now::judging_ctx(&mut self.judging, &spec, subject);
                // Not boxed: each validator's future is boxed already (an `async_trait`),
                // so this one is small, and a box per measurement costs more than it saves.
                let results = self
                    .shared
                    .measure(ctx, &validators, &breached_since, step_span, ask_now)
                    .await;
                Some(Input::Measured { id, results })
            }
            Effect::Migrate {
                id,
                migrator,
                phase,
            } => {
                if !machine.is_outstanding(id) {
                    return Ok(());
                }
                // A schema change is a change to what runs: only with the holds renewed.
                if let Some(lost) = self.hold_lost(machine, &spec).await {
                    return self.feed(machine, lost, queue).await;
                }
                let migrated = Box::pin(self.shared.migrate(&migrator, phase))
                    .instrument(step_span.clone())
                    .await;
                Some(match migrated {
                    Ok(report) => Input::Migrated { id, report },
                    Err(error) => Input::MigrateFailed { id, error },
                })
            }
            Effect::CheckGate {
                id,
                gate,
                approvals,
                waiting_since,
            } => {
                let checked =
                    self.shared
                        .check_gate(&spec, &gate, approvals, waiting_since, step_span);
                let outcome = Box::pin(checked).await;
                Some(Input::GateChecked { id, outcome })
            }
        };
        if let Some(input) = answer {
            self.feed(machine, input, queue).await?;
        }
        Ok(())
    }

    /// Renews the rollout's holds (locks) before a change to what runs; the hold found
    /// lost, as the input that says so, if one was.
    async fn hold_lost(&self, machine: &Rollout, spec: &RolloutSpec) -> Option<Input> {
        let held = machine.held_gates();
        if held.is_empty() || self.shared.keep_alive_every(spec).is_none() {
            return None;
        }
        let lost = Box::pin(self.shared.keep_gates_alive(spec, held)).await;
        lost.map(|(gate, reason)| Input::GateLost { gate, reason })
    }

    /// Hands an event to the log, the hook and the report.
    fn record(&self, ev: Event, events: &mut Vec<Event>, step_span: &mut tracing::Span) {
        log_event(&ev);
        if let EventKind::StepStarted { step, description } = &ev.kind {
            *step_span = tracing::info_span!("step", index = step, what = %description);
        }
        if let Some(hook) = &self.shared.on_event {
            hook(&ev);
        }
        if self.shared.keep_events {
            events.push(ev);
        }
    }

    /// Appends `entry` at once if the journal can (true), without a future for it. Only a
    /// flag comes back, so the journal's answer is not kept across the await of the slow
    /// path in every run's task.
    fn append_now(&self, entry: &Stamped) -> Result<bool, crate::journal::JournalError> {
        match self.journal.append_now(entry) {
            Some(appended) => appended.map(|_| true),
            None => Ok(false),
        }
    }

    /// The driver itself, called directly rather than through `Arc`'s own impl.
    fn driver(&self) -> &dyn Driver {
        self.shared.driver()
    }

    /// The clock itself, called directly rather than through `Arc`'s own impl.
    fn clock(&self) -> &dyn Clock {
        self.shared.clock()
    }
}

/// How many events `spec` records when every step goes through first time: the report's
/// log is sized once instead of doubling its way there (a hint; retries and rollbacks add
/// more).
fn expected_events(spec: &RolloutSpec) -> usize {
    use crate::model::Step;
    // A capacity hint only: capped, so a plan's counts never size an allocation.
    const MOST: usize = 4096;
    // Started, three phase changes, Finished.
    let around: usize = 5;
    let steps: usize = spec
        .plan
        .steps
        .iter()
        .map(|step| {
            2 + match step {
                Step::Scale { .. } => 3,
                Step::SetWeight { .. }
                | Step::SetFlag { .. }
                | Step::Promote
                | Step::Retire { .. } => 2,
                Step::Analysis(a) => (a.policy.count.unwrap_or(1) as usize).min(MOST) + 1,
                Step::Gate { .. } => 1,
                Step::Pause { .. } => 0,
                Step::Migrate { .. } => 2,
            }
        })
        .fold(0usize, usize::saturating_add);
    around.saturating_add(steps).min(MOST)
}

fn log_event(ev: &Event) {
    match &ev.kind {
        EventKind::Failed { reason } | EventKind::RollbackStarted { reason } => {
            tracing::warn!(at = ev.at.0, %reason, "{}", kind_name(ev))
        }
        EventKind::Finished { phase, reason } => {
            tracing::info!(at = ev.at.0, %phase, %reason, "finished")
        }
        _ => tracing::debug!(at = ev.at.0, event = kind_name(ev)),
    }
}

fn kind_name(ev: &Event) -> &'static str {
    match &ev.kind {
        EventKind::Failed { .. } => "failed",
        EventKind::RollbackStarted { .. } => "rollback started",
        _ => "event",
    }
}

/// What ended a wait for a timer.
enum Woke {
    /// The timer is due.
    Due,
    /// A handle sent a command (`None`: the last handle is gone).
    Command(Option<Command>),
    /// The driver saw a change on the target.
    Changed,
}

/// Resolves when `driver` reports a change on `spec`'s target; never without a spec.
async fn changed(driver: &dyn Driver, spec: Option<&RolloutSpec>) {
    match spec {
        Some(spec) => driver.wait_for_change(&spec.target).await,
        None => std::future::pending().await,
    }
}
