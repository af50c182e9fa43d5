//! The [`Engine`]: the collaborators every rollout shares (driver, clock, validators,
//! gates, notifiers), built once and cloned freely, which starts, resumes and lists many
//! concurrent runs under a concurrency limit and shuts them down so each can be resumed.

use super::event::Event;
use super::handle::RolloutHandle;
use super::run_error::RunError;
use super::runner::{RunReport, Runner};
use super::runs::Runs;
use super::shared::Shared;
use super::spec::RolloutSpec;
use crate::clock::Clock;
use crate::driver::Driver;
use crate::gate::Gate;
use crate::journal::Journal;
use crate::migrate::Migrator;
use crate::model::RolloutStatus;
use crate::notify::Notifier;
use crate::validator::Validator;
use std::sync::Arc;
use tokio::task::JoinHandle;

/// Runs rollouts: one engine per process (or per driver), many rollouts at once.
///
/// An `Engine` holds what every rollout shares; each rollout brings its own journal. Clone
/// it freely (clones share everything, including the runs). Two ways to run a rollout:
///
/// - [`start`](Self::start) / [`resume`](Self::resume) spawn it on the tokio runtime and
///   return a [`RunningRollout`] at once. The engine lists it ([`runs`](Self::runs)) and
///   keeps a [`handle`](Self::handle) to it until it ends, so a spawned rollout that waits
///   for a person waits until a command arrives or the engine shuts down.
/// - [`runner`](Self::runner) gives a [`Runner`] the caller drives itself (in a test, or
///   on a task of its own); it returns when the rollout settles or waits for a person with
///   no handle left.
///
/// At most [`max_concurrent_runs`](EngineBuilder::max_concurrent_runs) rollouts are driven
/// at once; the others wait, still [`Pending`](super::Phase::Pending), for a slot.
/// [`shutdown`](Self::shutdown) stops every run at its next wait and returns when none is
/// left. Every input a run handled is in its journal, so each resumes where it stopped.
///
/// ```
/// use shipcore::prelude::*;
/// use shipcore::testing::SimWorld;
/// use std::sync::Arc;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let world = SimWorld::new(1);
/// let engine = Engine::builder(world.driver_arc(), world.clock_arc())
///     .max_concurrent_runs(100)
///     .build();
/// let v1 = Revision::new("v1", "1.0.0".parse().unwrap(), "app:1");
/// let v2 = Revision::new("v2", "2.0.0".parse().unwrap(), "app:2");
/// let mut running = Vec::new();
/// for service in ["api", "web", "worker"] {
///     let target = Target::new(service, "production");
///     world.driver.seed_stable(&target, &v1, 2);
///     let plan = Plan { strategy: "recreate".into(), replicas: 2, steps: vec![
///         Step::Scale { role: Role::Candidate, replicas: 2 },
///         Step::Promote,
///         Step::Retire { role: Role::Stable, after: Default::default() },
///     ]};
///     let spec = RolloutSpec::new(format!("{service}-2"), target, Some(v1.clone()), v2.clone(), plan);
///     running.push(engine.start(spec, Arc::new(MemoryJournal::new())).unwrap());
/// }
/// for run in running {
///     assert_eq!(run.finished().await.unwrap().status.phase, Phase::Succeeded);
/// }
/// assert!(engine.runs().is_empty());
/// # }
/// ```
#[derive(Clone)]
pub struct Engine {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.shared.fmt(f)
    }
}

/// Builds an [`Engine`]: [`Engine::builder`].
#[must_use = "a builder does nothing until `build` is called"]
pub struct EngineBuilder {
    shared: Shared,
}

impl std::fmt::Debug for EngineBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.shared.fmt(f)
    }
}

impl EngineBuilder {
    /// Registers a validator under its name (a second one of the same name replaces it).
    pub fn validator(mut self, v: Arc<dyn Validator>) -> Self {
        let name = v.name().to_string();
        self.shared.validators.insert(&name, v);
        self
    }
    /// Registers a gate under its name (a second one of the same name replaces it).
    pub fn gate(mut self, g: Arc<dyn Gate>) -> Self {
        let name = g.name().to_string();
        self.shared.gates.insert(&name, g);
        self
    }
    /// Registers a migrator under its name, for plans' migration steps (a second one of the
    /// same name replaces it).
    pub fn migrator(mut self, m: Arc<dyn Migrator>) -> Self {
        let name = m.name().to_string();
        self.shared.migrators.insert(&name, m);
        self
    }
    /// Adds a notifier; every rollout's notifications go to every notifier.
    pub fn notifier(mut self, n: Arc<dyn Notifier>) -> Self {
        self.shared.notifiers.push(n);
        self
    }
    /// Calls `f` for every event of every rollout as it is recorded (live output). The
    /// event's rollout is the one whose task calls `f`; tell them apart with
    /// [`tracing`]'s `rollout` span, or by the run's own hook on a [`Runner`].
    pub fn on_event(mut self, f: impl Fn(&Event) + Send + Sync + 'static) -> Self {
        self.shared.on_event = Some(Arc::new(f));
        self
    }
    /// Whether [`RunReport::events`] holds the event log (default `true`). A process running
    /// thousands of rollouts streams events through [`on_event`](Self::on_event) instead;
    /// the journal still holds everything, and
    /// [`record::replay_journal`](crate::record::replay_journal) rebuilds the log from it.
    pub fn keep_events(mut self, keep: bool) -> Self {
        self.shared.keep_events = keep;
        self
    }
    /// Drives at most `n` rollouts at once (at least one); the others wait for a slot
    /// before they start or resume. Default: no limit.
    pub fn max_concurrent_runs(mut self, n: usize) -> Self {
        self.shared.runs = Runs::with_limit(n);
        self
    }
    /// The engine.
    pub fn build(self) -> Engine {
        Engine {
            shared: self.build_shared(),
        }
    }
    pub(super) fn build_shared(mut self) -> Arc<Shared> {
        // Registered once and read for the engine's life: no room left from registering.
        self.shared.validators.shrink_to_fit();
        self.shared.gates.shrink_to_fit();
        self.shared.migrators.shrink_to_fit();
        self.shared.notifiers.shrink_to_fit();
        Arc::new(self.shared)
    }
}

/// A rollout spawned by [`Engine::start`] or [`Engine::resume`].
#[derive(Debug)]
#[must_use = "a spawned rollout runs on; keep this to learn how it ended"]
pub struct RunningRollout {
    handle: RolloutHandle,
    task: JoinHandle<Result<RunReport, RunError>>,
}

impl RunningRollout {
    /// A remote control of the rollout (pause, promote, abort, approve, status).
    pub fn handle(&self) -> RolloutHandle {
        self.handle.clone()
    }
    /// Where the rollout stands now.
    pub fn status(&self) -> RolloutStatus {
        self.handle.status()
    }
    /// Waits for the run to end and returns its report, or why it could not run
    /// ([`RunError::ShutDown`] when the engine shut down first).
    pub async fn finished(self) -> Result<RunReport, RunError> {
        match self.task.await {
            Ok(result) => result,
            Err(e) => Err(RunError::TaskFailed(e.to_string())),
        }
    }
}

impl Engine {
    /// A builder with the two collaborators every engine needs.
    pub fn builder(driver: Arc<dyn Driver>, clock: Arc<dyn Clock>) -> EngineBuilder {
        EngineBuilder {
            shared: Shared::new(driver, clock),
        }
    }

    /// A run of this engine on `journal`, driven by the caller: [`Runner::start`] or
    /// [`Runner::resume`]. It counts against the concurrency limit while it drives a
    /// rollout and stops when the engine shuts down, but is not listed by [`runs`](Self::runs).
    pub fn runner(&self, journal: Arc<dyn Journal>) -> Runner {
        Runner::of(self.shared.clone(), journal)
    }

    /// Checks `spec` against this engine's driver and registered names, running nothing.
    pub fn preflight(&self, spec: &RolloutSpec) -> Result<(), RunError> {
        self.shared.preflight(spec)
    }

    /// Spawns a new rollout of `spec` on an empty `journal`. The spec is checked first
    /// ([`preflight`](Self::preflight)); everything else [`Runner::start`] refuses (a
    /// journal in use, the driver's preflight) ends the run with that error.
    ///
    /// Must be called within a tokio runtime.
    pub fn start(
        &self,
        spec: RolloutSpec,
        journal: Arc<dyn Journal>,
    ) -> Result<RunningRollout, RunError> {
        if self.shared.runs.is_stopping() {
            return Err(RunError::ShutDown);
        }
        self.preflight(&spec)?;
        // Boxed: a task keeps what it captured for as long as it runs.
        let spec = Box::new(spec);
        Ok(self.spawn(journal, move |mut runner| async move {
            runner.start_boxed(spec, true).await
        }))
    }

    /// Spawns the rollout `journal` holds, continued where it stopped ([`Runner::resume`]).
    ///
    /// Must be called within a tokio runtime.
    pub fn resume(&self, journal: Arc<dyn Journal>) -> Result<RunningRollout, RunError> {
        if self.shared.runs.is_stopping() {
            return Err(RunError::ShutDown);
        }
        Ok(self.spawn(journal, |mut runner| async move { runner.resume().await }))
    }

    /// Spawns `go` on a runner of its own. The runner's `rollout` span covers the whole
    /// run; the task adds no span of its own.
    fn spawn<F, Fut>(&self, journal: Arc<dyn Journal>, go: F) -> RunningRollout
    where
        F: FnOnce(Runner) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = Result<RunReport, RunError>> + Send,
    {
        let runner = self.runner(journal);
        let handle = runner.handle();
        let listed = self.shared.runs.list(handle.clone());
        let task = tokio::spawn(async move {
            let result = go(runner).await;
            drop(listed);
            result
        });
        RunningRollout { handle, task }
    }

    /// Where every spawned run that has not ended stands, in the order they were spawned.
    pub fn runs(&self) -> Vec<RolloutStatus> {
        self.shared.runs.statuses()
    }

    /// A handle to the spawned run of rollout `id`, while it has not ended.
    pub fn handle(&self, id: &str) -> Option<RolloutHandle> {
        self.shared
            .runs
            .handles()
            .into_iter()
            .find(|h| h.status.with(|s| s.id == id))
    }

    /// How many runs drive a rollout now (spawned or driven through a [`Runner`]).
    pub fn active(&self) -> usize {
        self.shared.runs.active()
    }

    /// The concurrency limit ([`EngineBuilder::max_concurrent_runs`]); `usize::MAX` when
    /// there is none.
    pub fn max_concurrent_runs(&self) -> usize {
        self.shared.runs.limit()
    }

    /// Stops the engine gracefully: no rollout starts or resumes from now on (they return
    /// [`RunError::ShutDown`]), every run stops at its next wait (an effect being performed
    /// is finished and its answer journaled first), and this returns once no run drives a
    /// rollout. Every journal can then be resumed by a new engine.
    pub async fn shutdown(&self) {
        self.shared.runs.shut_down().await;
    }

    /// Whether [`shutdown`](Self::shutdown) was called.
    pub fn is_shutting_down(&self) -> bool {
        self.shared.runs.is_stopping()
    }
}
