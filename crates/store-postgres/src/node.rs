//! [`PgEngineNode`]: one engine process among several on a database. It claims queued
//! runs and runs whose lease expired (up to its concurrency limit), bumps their fencing
//! token, renews its leases on a timer, starts or resumes each with a
//! [`PgJournal`](crate::PgJournal), changes the fleet only under a live lease, and marks
//! runs done.

use crate::error::StoreError;
use crate::guard::{HeldLease, LeaseGuard, LeaseTable};
use crate::queue::{Claimed, RunQueue};
use crate::store::PgStore;
use shipcore::clock::Clock;
use shipcore::driver::Driver;
use shipcore::engine::{Engine, EngineBuilder, RolloutSpec, RunError};
use shipcore::journal::JournalError;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::Instrument;

/// How a node claims and keeps runs.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct NodeConfig {
    /// This engine's name, recorded as the owner of the runs it claims (unique per process).
    pub name: String,
    /// How long a claim or renewal keeps a run (default 10 s). Another engine takes over a
    /// run whose owner did not renew within it.
    pub lease: Duration,
    /// How often leases are renewed (default a third of `lease`).
    pub renew_every: Duration,
    /// How often the queue is asked for work (default 500 ms).
    pub poll_every: Duration,
    /// Most runs driven at once by this node (default 16).
    pub max_concurrent_runs: usize,
}

impl NodeConfig {
    /// Defaults for an engine named `name`.
    pub fn new(name: impl Into<String>) -> Self {
        NodeConfig {
            name: name.into(),
            lease: Duration::from_secs(10),
            renew_every: Duration::from_millis(3333),
            poll_every: Duration::from_millis(500),
            max_concurrent_runs: 16,
        }
    }
}

/// Builds a [`PgEngineNode`]: [`PgEngineNode::builder`].
#[must_use = "a builder does nothing until `build` is called"]
pub struct PgEngineNodeBuilder {
    store: PgStore,
    config: NodeConfig,
    driver: Arc<dyn Driver>,
    clock: Arc<dyn Clock>,
    configure: Option<Configure>,
}

/// What the caller registers on every run's engine.
type Configure = Arc<dyn Fn(EngineBuilder) -> EngineBuilder + Send + Sync>;

impl std::fmt::Debug for PgEngineNodeBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgEngineNodeBuilder")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl PgEngineNodeBuilder {
    /// The lease length; renewals every third of it unless set after.
    pub fn lease(mut self, lease: Duration) -> Self {
        self.config.lease = lease;
        self.config.renew_every = (lease / 3).max(Duration::from_millis(1));
        self
    }
    /// How often leases are renewed.
    pub fn renew_every(mut self, d: Duration) -> Self {
        self.config.renew_every = d.max(Duration::from_millis(1));
        self
    }
    /// How often the queue is asked for work.
    pub fn poll_every(mut self, d: Duration) -> Self {
        self.config.poll_every = d.max(Duration::from_millis(1));
        self
    }
    /// Most runs driven at once (at least one).
    pub fn max_concurrent_runs(mut self, n: usize) -> Self {
        self.config.max_concurrent_runs = n.max(1);
        self
    }
    /// Registers validators, gates and notifiers on the engines of the node's runs (each
    /// run gets an engine of its own, whose driver is guarded by that run's lease).
    pub fn engine(
        mut self,
        f: impl Fn(EngineBuilder) -> EngineBuilder + Send + Sync + 'static,
    ) -> Self {
        self.configure = Some(Arc::new(f));
        self
    }
    /// The node, not yet working: [`PgEngineNode::start`].
    pub fn build(self) -> PgEngineNode {
        let leases = LeaseTable::default();
        let (stop, _) = watch::channel(false);
        PgEngineNode {
            inner: Arc::new(Inner {
                queue: self.store.queue(),
                store: self.store,
                config: self.config,
                driver: self.driver,
                clock: self.clock,
                configure: self.configure,
                engines: Mutex::new(HashMap::new()),
                leases,
                runs: Mutex::new(HashMap::new()),
                stop,
                renewals_paused: Arc::new(AtomicBool::new(false)),
                loops: Mutex::new(Vec::new()),
            }),
        }
    }
}

struct Inner {
    store: PgStore,
    queue: RunQueue,
    config: NodeConfig,
    driver: Arc<dyn Driver>,
    clock: Arc<dyn Clock>,
    configure: Option<Configure>,
    /// The engine of each run this node drives, by run id.
    engines: Mutex<HashMap<String, Engine>>,
    leases: LeaseTable,
    /// Runs this node drives, by id.
    runs: Mutex<HashMap<String, Option<JoinHandle<()>>>>,
    stop: watch::Sender<bool>,
    renewals_paused: Arc<AtomicBool>,
    loops: Mutex<Vec<JoinHandle<()>>>,
}

/// One engine among several sharing rollouts through PostgreSQL. Clone it freely.
#[derive(Clone)]
pub struct PgEngineNode {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for PgEngineNode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgEngineNode")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

impl PgEngineNode {
    /// A node named `name` on `store`, changing the fleet through `driver` (wrapped in the
    /// lease check), with `clock` for its rollouts.
    pub fn builder(
        store: PgStore,
        name: impl Into<String>,
        driver: Arc<dyn Driver>,
        clock: Arc<dyn Clock>,
    ) -> PgEngineNodeBuilder {
        PgEngineNodeBuilder {
            store,
            config: NodeConfig::new(name),
            driver,
            clock,
            configure: None,
        }
    }

    /// Queues a rollout for whichever node claims it first; false when a run with its id
    /// exists already.
    pub async fn enqueue(&self, spec: &RolloutSpec) -> Result<bool, StoreError> {
        let json = serde_json::to_value(spec).map_err(|e| StoreError::Codec {
            what: format!("spec of rollout {}", spec.id),
            problem: e.to_string(),
        })?;
        self.inner.queue.enqueue(&spec.id, &json).await
    }

    /// The node's settings.
    pub fn config(&self) -> &NodeConfig {
        &self.inner.config
    }

    /// A remote control of run `id` while this node drives it (pause, promote, abort,
    /// approve, status).
    pub fn handle(&self, id: &str) -> Option<shipcore::engine::RolloutHandle> {
        let engine = self.inner.engines.lock().ok()?.get(id).cloned()?;
        engine.handle(id)
    }

    /// Ids of the runs this node drives now.
    pub fn running(&self) -> Vec<String> {
        self.inner
            .runs
            .lock()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// Starts the claim loop and the renewal loop. Must be called within a tokio runtime.
    pub fn start(&self) {
        let claim = tokio::spawn(claim_loop(self.inner.clone()));
        let renew = tokio::spawn(renew_loop(self.inner.clone()));
        if let Ok(mut l) = self.inner.loops.lock() {
            l.push(claim);
            l.push(renew);
        }
    }

    /// For tests: stop (or restart) renewing leases, as a node paused by a long GC or cut
    /// off from the database would; its leases lapse and another node takes its runs.
    #[doc(hidden)]
    pub fn set_renewals_paused(&self, paused: bool) {
        self.inner.renewals_paused.store(paused, Ordering::SeqCst);
    }

    /// Stops claiming, stops every run at its next wait and gives its leases back (so
    /// another node may claim them at once), then returns.
    pub async fn shutdown(&self) {
        let _ = self.inner.stop.send(true);
        let loops = self
            .inner
            .loops
            .lock()
            .map(|mut l| std::mem::take(&mut *l))
            .unwrap_or_default();
        for l in loops {
            let _ = l.await;
        }
        let engines: Vec<Engine> = self
            .inner
            .engines
            .lock()
            .map(|m| m.values().cloned().collect())
            .unwrap_or_default();
        for e in engines {
            e.shutdown().await;
        }
        let runs: Vec<JoinHandle<()>> = self
            .inner
            .runs
            .lock()
            .map(|mut m| m.drain().filter_map(|(_, h)| h).collect())
            .unwrap_or_default();
        for h in runs {
            let _ = h.await;
        }
    }
}

async fn claim_loop(inner: Arc<Inner>) {
    let mut stop = inner.stop.subscribe();
    let mut tick = tokio::time::interval(inner.config.poll_every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => return,
        }
        if *stop.borrow() {
            return;
        }
        let active = inner.runs.lock().map(|m| m.len()).unwrap_or(usize::MAX);
        let room = inner.config.max_concurrent_runs.saturating_sub(active);
        if room == 0 {
            continue;
        }
        let asked = Instant::now();
        match inner
            .queue
            .claim(&inner.config.name, room, inner.config.lease)
            .await
        {
            Ok(claimed) => {
                for c in claimed {
                    spawn_run(&inner, c, asked);
                }
            }
            Err(e) => tracing::warn!(node = %inner.config.name, error = %e, "could not claim runs"),
        }
    }
}

async fn renew_loop(inner: Arc<Inner>) {
    let mut stop = inner.stop.subscribe();
    let mut tick = tokio::time::interval(inner.config.renew_every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => return,
        }
        if *stop.borrow() {
            return;
        }
        if inner.renewals_paused.load(Ordering::SeqCst) {
            continue;
        }
        let held: Vec<_> = inner
            .leases
            .all()
            .into_iter()
            .filter(|h| !h.lost.load(Ordering::SeqCst))
            .collect();
        if held.is_empty() {
            continue;
        }
        let leases: Vec<_> = held.iter().map(|h| h.lease.clone()).collect();
        let sent = Instant::now();
        match inner.queue.renew_many(&leases, inner.config.lease).await {
            Ok(kept) => {
                for h in held {
                    if kept.contains(&h.lease.run) {
                        h.extend(sent + inner.config.lease);
                    } else {
                        h.lost.store(true, Ordering::SeqCst);
                        tracing::warn!(node = %inner.config.name, run = %h.lease.run, token = h.lease.token,
                            "lease lost: another engine claimed the run; this engine stands down");
                    }
                }
            }
            Err(e) => tracing::warn!(node = %inner.config.name, error = %e,
                "could not renew leases; trying again at the next renewal"),
        }
    }
}

fn spawn_run(inner: &Arc<Inner>, claimed: Claimed, claimed_at: Instant) {
    let lease = claimed.lease.clone();
    let id = lease.run.clone();
    let span =
        tracing::info_span!("node_run", node = %inner.config.name, run = %id, token = lease.token);
    if let Ok(mut m) = inner.runs.lock() {
        m.insert(id.clone(), None);
    };
    let task_inner = inner.clone();
    let task = tokio::spawn(
        async move {
            let inner = task_inner;
            let outcome = drive(&inner, claimed, claimed_at).await;
            match outcome {
                Ok(Some(outcome)) => match inner.queue.finish(&lease, &outcome).await {
                    Ok(true) => tracing::info!(%outcome, "run done"),
                    Ok(false) => tracing::warn!(%outcome, "run ended here but its lease had moved on; not marked done"),
                    Err(e) => tracing::warn!(error = %e, "could not mark the run done; another engine will resume it and find it ended"),
                },
                Ok(None) => {
                    // Stopped without ending (shutdown, transient trouble): let another
                    // engine (or this one) claim it at once.
                    let _ = inner.queue.release(&lease).await;
                }
                Err(why) => tracing::warn!("{why}"),
            }
            if let Ok(mut m) = inner.runs.lock() {
                m.remove(&lease.run);
            };
        }
        .instrument(span),
    );
    // Listed before the task could end (and unlist itself); its handle kept only while
    // it is still listed.
    if let Ok(mut m) = inner.runs.lock() {
        if let Some(slot) = m.get_mut(&id) {
            *slot = Some(task);
        }
    };
}

/// Runs one claimed rollout. `Ok(Some(outcome))`: it ended (mark it done);
/// `Ok(None)`: it stopped and may be claimed again; `Err`: it stood down (fenced).
async fn drive(
    inner: &Arc<Inner>,
    claimed: Claimed,
    claimed_at: Instant,
) -> Result<Option<String>, String> {
    let spec: RolloutSpec = match serde_json::from_value(claimed.spec.clone()) {
        Ok(s) => s,
        Err(e) => return Ok(Some(format!("refused: the queued spec is invalid: {e}"))),
    };
    let held = Arc::new(HeldLease {
        lease: claimed.lease.clone(),
        target: spec.target.clone(),
        lost: AtomicBool::new(false),
        valid_until: Mutex::new(claimed_at + inner.config.lease),
    });
    inner.leases.insert(held.clone());
    let guard = LeaseGuard::new(
        inner.driver.clone(),
        held.clone(),
        inner.queue.clone(),
        inner.config.lease,
        inner.renewals_paused.clone(),
    );
    let mut builder = Engine::builder(Arc::new(guard), inner.clock.clone());
    if let Some(f) = &inner.configure {
        builder = f(builder);
    }
    let engine = builder.build();
    if let Ok(mut m) = inner.engines.lock() {
        m.insert(claimed.lease.run.clone(), engine.clone());
    };
    let result = run_it(inner, &engine, &claimed, spec).await;
    if let Ok(mut m) = inner.engines.lock() {
        m.remove(&claimed.lease.run);
    };
    inner.leases.remove(&held);
    match result {
        Ok(report) => {
            let phase = report.status.phase;
            if phase.is_settled() {
                Ok(Some(phase.as_str().to_string()))
            } else {
                tracing::warn!(phase = %phase.as_str(), "run stopped before it settled; it will be claimed again");
                Ok(None)
            }
        }
        Err(RunError::Journal(JournalError::Fenced { owner_now, token_now, .. })) => Err(format!(
            "run {} stood down: it is owned by {owner_now} with token {token_now} now; nothing more was journaled or applied by this engine",
            claimed.lease.run
        )),
        Err(e) if e.is_transient() => {
            tracing::warn!(error = %e, "run stopped; it will be claimed again");
            Ok(None)
        }
        Err(e) => Ok(Some(format!("failed: {e}"))),
    }
}

async fn run_it(
    inner: &Arc<Inner>,
    engine: &Engine,
    claimed: &Claimed,
    spec: RolloutSpec,
) -> Result<shipcore::engine::RunReport, RunError> {
    let journal = inner.store.journal(&claimed.lease).await.map_err(|e| {
        RunError::Journal(JournalError::Io {
            path: format!("postgres journal of run {}", claimed.lease.run),
            source: std::io::Error::other(e.to_string()),
        })
    })?;
    let journal = Arc::new(journal);
    let running = if claimed.has_journal {
        tracing::info!("resuming a run another engine left");
        engine.resume(journal)?
    } else {
        engine.start(spec, journal)?
    };
    running.finished().await
}
