//! [`ComposeDriver`]: the [`Driver`] for one compose service. Each revision runs as its
//! own generated compose service beside the others; state is read back from
//! `compose ps`, healthchecks and an optional HTTP probe; traffic goes through an optional
//! [`Router`].

use crate::cli::ComposeCliRunner;
use crate::config::{ComposeConfig, ConfigError, HealthcheckRunner};
use crate::engine_api::{Endpoint as EngineEndpoint, EngineClient};
use crate::project::ProjectModel;
use crate::ps::{self, Container};
use crate::revision::{check_artifact, check_revision, service_name};
use crate::router::{Endpoint, RevisionRoute, Router, ServerState};
use crate::shares::{effective, freeze_for_newcomer, proportional, Live, ShareStore, Shares};
use async_trait::async_trait;
use shipcore::driver::{Capabilities, Driver, DriverError};
use shipcore::model::{Action, FleetState, Revision, RevisionId, RevisionState, Target, WeightSet};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Mutex, OnceCell};

/// Default grace between SIGTERM and SIGKILL (compose's own default).
const DEFAULT_STOP_GRACE: Duration = Duration::from_secs(10);

/// One container of one revision, as the driver sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instance {
    /// Which revision.
    pub revision: RevisionId,
    /// Container name.
    pub name: String,
    /// Container id.
    pub id: String,
    /// Engine state (`running`, `exited`…).
    pub state: String,
    /// Healthcheck status (empty without one).
    pub health: String,
    /// Running, healthy (when it has a healthcheck), passing the HTTP probe (when set) and,
    /// behind a router, registered and up there.
    pub ready: bool,
    /// Host address of the traffic port, when published.
    pub addr: Option<SocketAddr>,
}

/// The Docker Compose v2 driver for one service of one project. See the crate
/// documentation for how revisions, readiness and traffic map onto compose.
pub struct ComposeDriver {
    cfg: ComposeConfig,
    cli: ComposeCliRunner,
    engine: EngineClient,
    router: Option<Arc<dyn Router>>,
    shares: ShareStore,
    model: OnceCell<ProjectModel>,
    driver_runs_checks: OnceCell<bool>,
    apply_lock: Mutex<()>,
}

impl std::fmt::Debug for ComposeDriver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ComposeDriver")
            .field("project", &self.cfg.project)
            .field("service", &self.cfg.service)
            .field("router", &self.router.is_some())
            .finish()
    }
}

impl ComposeDriver {
    /// A driver for `cfg`, checked (names, files, port) before anything runs.
    pub fn new(cfg: ComposeConfig) -> Result<Self, ConfigError> {
        cfg.validate()?;
        let endpoint =
            EngineEndpoint::resolve(cfg.docker_host.as_deref()).map_err(|problem| ConfigError {
                field: "docker_host".into(),
                problem,
            })?;
        let shares = ShareStore::new(
            cfg.state_dir
                .join(format!("{}.{}.shares.json", cfg.project, cfg.service)),
        );
        Ok(ComposeDriver {
            cli: ComposeCliRunner::new(cfg.clone()),
            engine: EngineClient::new(endpoint, cfg.command_timeout),
            router: None,
            shares,
            model: OnceCell::new(),
            driver_runs_checks: OnceCell::new(),
            apply_lock: Mutex::new(()),
            cfg,
        })
    }

    /// Puts `router` in front of the revisions: `Route` becomes possible and instances are
    /// registered, weighted and drained in it.
    pub fn with_router(mut self, router: Arc<dyn Router>) -> Self {
        self.router = Some(router);
        self
    }

    /// The configuration.
    pub fn config(&self) -> &ComposeConfig {
        &self.cfg
    }

    /// The engine API client the driver uses.
    pub fn engine(&self) -> &EngineClient {
        &self.engine
    }

    /// Where the traffic shares are kept.
    pub fn shares_path(&self) -> &std::path::Path {
        self.shares.path()
    }

    /// Checks the platform before anything changes: the engine answers, the compose CLI
    /// runs and resolves the project, and the service exists in it.
    pub async fn validate(&self) -> Result<(), DriverError> {
        self.engine.version().await?;
        self.model().await.map(|_| ())
    }

    /// Checks a revision before it is deployed: its id can name a service and its image
    /// exists in the engine (or, with `pull`, can be pulled).
    pub async fn validate_revision(&self, revision: &Revision) -> Result<(), DriverError> {
        let op = format!("deploy {}", revision.id);
        check_revision(&op, &revision.id)?;
        check_artifact(&op, &revision.artifact)?;
        self.model().await?;
        if self.cfg.pull {
            return Ok(());
        }
        if self.engine.image_exists(&revision.artifact).await? {
            Ok(())
        } else {
            Err(DriverError::permanent(
                op,
                format!(
                    "no such image: {} is not in the container engine (pull is off: build or load it first)",
                    revision.artifact
                ),
            ))
        }
    }

    /// The project's base service as compose resolves it (loaded once).
    async fn model(&self) -> Result<&ProjectModel, DriverError> {
        self.model
            .get_or_try_init(|| async {
                let out = self
                    .cli
                    .run(
                        "load compose project",
                        &["config", "--format", "json"],
                        None,
                    )
                    .await?;
                ProjectModel::from_config_json(&out, &self.cfg.service)
                    .map_err(|m| DriverError::permanent("load compose project", m))
            })
            .await
    }

    fn check_target(&self, op: &str, target: &Target) -> Result<(), DriverError> {
        if target.service != self.cfg.service {
            return Err(DriverError::permanent(
                op,
                format!(
                    "target service {:?} is not the driver's compose service {:?}",
                    target.service, self.cfg.service
                ),
            ));
        }
        if let Some(ns) = &target.namespace {
            if ns != &self.cfg.project {
                return Err(DriverError::permanent(
                    op,
                    format!(
                        "target namespace {ns:?} is not the driver's compose project {:?}",
                        self.cfg.project
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Containers of this service's revisions (any state), by `compose ps --all`.
    async fn containers(&self, op: &str) -> Result<Vec<Container>, DriverError> {
        let out = self
            .cli
            .run(op, &["ps", "--all", "--format", "json"], None)
            .await?;
        let all = ps::parse(&out).map_err(|m| DriverError::transient(op, m))?;
        Ok(all
            .into_iter()
            .filter(|c| c.revision_of(&self.cfg.service).is_some())
            .collect())
    }

    async fn runs_checks_itself(&self) -> Result<bool, DriverError> {
        match self.cfg.healthchecks {
            HealthcheckRunner::Engine => Ok(false),
            HealthcheckRunner::Driver => Ok(true),
            HealthcheckRunner::Auto => self
                .driver_runs_checks
                .get_or_try_init(|| self.engine.is_podman())
                .await
                .copied(),
        }
    }

    /// Readiness of each container: running, healthy when it has a healthcheck (run by the
    /// driver on engines that schedule none), and passing the HTTP probe when set.
    async fn instances_of(&self, containers: &[Container]) -> Result<Vec<Instance>, DriverError> {
        let run_checks = self.runs_checks_itself().await?;
        let mut tasks = tokio::task::JoinSet::new();
        for (i, c) in containers.iter().enumerate() {
            let c = c.clone();
            let engine = self.engine.clone();
            let probe = self.cfg.http_probe.clone();
            let probe_addr = c.published(self.cfg.probe_port());
            tasks.spawn(async move {
                let mut health = c.health.clone();
                if run_checks && c.is_running() && !health.is_empty() {
                    // A failed run leaves the last status; readiness then says what it knew.
                    if let Ok(h) = engine.run_healthcheck(&c.id).await {
                        if !h.is_empty() {
                            health = h;
                        }
                    }
                }
                let mut ready = c.is_running() && (health.is_empty() || health == "healthy");
                if ready {
                    if let Some(p) = probe {
                        ready = match probe_addr {
                            Some(addr) => crate::http::get_tcp(addr, &p.path, p.timeout)
                                .await
                                .is_ok_and(|r| r.status == p.expect_status),
                            None => false,
                        };
                    }
                }
                (i, health, ready)
            });
        }
        let mut results: Vec<(usize, String, bool)> = Vec::with_capacity(containers.len());
        while let Some(r) = tasks.join_next().await {
            results.push(r.map_err(|e| {
                DriverError::transient("observe", format!("readiness check task failed: {e}"))
            })?);
        }
        results.sort_by_key(|(i, _, _)| *i);
        // Behind a router, ready also means the router sends it traffic: registered and up
        // by the router's own health check (so a Route right after readiness never points at
        // servers the proxy still holds down).
        let routed_up: Option<Vec<SocketAddr>> = match &self.router {
            Some(router) => Some(
                router
                    .status()
                    .await
                    .map_err(|e| e.into_driver("observe router"))?
                    .into_iter()
                    .filter(|s| s.state == ServerState::Up)
                    .map(|s| s.addr)
                    .collect(),
            ),
            None => None,
        };
        Ok(results
            .into_iter()
            .filter_map(|(i, health, ready)| {
                let c = containers.get(i)?;
                let addr = c.published(self.cfg.port);
                let in_service = match &routed_up {
                    Some(up) => addr.is_some_and(|a| up.contains(&a)),
                    None => true,
                };
                Some(Instance {
                    revision: c.revision_of(&self.cfg.service)?,
                    name: c.name.clone(),
                    id: c.id.clone(),
                    state: c.state.clone(),
                    health,
                    ready: ready && in_service,
                    addr,
                })
            })
            .collect())
    }

    /// Every container of this service's revisions with its readiness and address (for
    /// tests, dashboards, or a metrics scraper's target list).
    pub async fn instances(&self) -> Result<Vec<Instance>, DriverError> {
        let containers = self.containers("list instances").await?;
        self.instances_of(&containers).await
    }

    fn live(instances: &[Instance]) -> Vec<Live> {
        let mut by: BTreeMap<RevisionId, Live> = BTreeMap::new();
        for i in instances {
            let l = by.entry(i.revision.clone()).or_insert_with(|| Live {
                revision: i.revision.clone(),
                containers: 0,
                ready: 0,
            });
            l.containers += 1;
            l.ready += u32::from(i.ready);
        }
        by.into_values().collect()
    }

    /// Shares in force: stored ones through a router, ready replicas without one.
    fn shares_in_force(&self, live: &[Live]) -> Result<Shares, DriverError> {
        if self.router.is_some() {
            Ok(effective(&self.shares.load()?, live))
        } else {
            Ok(proportional(
                &live
                    .iter()
                    .map(|l| (l.revision.clone(), l.ready))
                    .collect::<Vec<_>>(),
            ))
        }
    }

    /// Brings the router in line with what runs: endpoints of every revision, weighted by
    /// the shares in force. A no-op without a router. Every `apply` ends with it.
    pub async fn sync_router(&self) -> Result<(), DriverError> {
        let Some(router) = &self.router else {
            return Ok(());
        };
        let containers = self.containers("sync router").await?;
        let instances = self.instances_of(&containers).await?;
        let live = Self::live(&instances);
        let shares = self.shares_in_force(&live)?;
        let table: Vec<RevisionRoute> = live
            .iter()
            .map(|l| RevisionRoute {
                revision: l.revision.clone(),
                share: shares.get(&l.revision).copied().unwrap_or(0),
                endpoints: instances
                    .iter()
                    .filter(|i| i.revision == l.revision && i.state == "running")
                    .filter_map(|i| {
                        i.addr.map(|addr| Endpoint {
                            addr,
                            ready: i.ready,
                        })
                    })
                    .collect(),
            })
            .collect();
        router
            .apply(&table)
            .await
            .map_err(|e| e.into_driver("sync router"))
    }

    /// The override defining every revision in `containers` plus `extra`.
    async fn overlay(
        &self,
        containers: &[Container],
        extra: Option<(&RevisionId, &str)>,
    ) -> Result<String, DriverError> {
        let mut revs: BTreeMap<RevisionId, String> = BTreeMap::new();
        for c in containers {
            if let (Some(r), Some(a)) = (c.revision_of(&self.cfg.service), c.artifact()) {
                revs.entry(r).or_insert_with(|| a.to_string());
            }
        }
        if let Some((r, a)) = extra {
            revs.insert(r.clone(), a.to_string());
        }
        let list: Vec<(RevisionId, String)> = revs.into_iter().collect();
        Ok(self.model().await?.overlay(&self.cfg, &list))
    }

    fn stop_grace(&self, model: &ProjectModel) -> Duration {
        self.cfg
            .stop_timeout
            .or_else(|| model.stop_grace_period())
            .unwrap_or(DEFAULT_STOP_GRACE)
    }

    /// Takes `victims` out: drained in the router first, then stopped (SIGTERM, grace) and
    /// removed through the engine API, all at once.
    async fn remove_containers(&self, op: &str, victims: &[Container]) -> Result<(), DriverError> {
        if victims.is_empty() {
            return Ok(());
        }
        if let Some(router) = &self.router {
            let addrs: Vec<SocketAddr> = victims
                .iter()
                .filter_map(|c| c.published(self.cfg.port))
                .collect();
            router
                .drain(&addrs, self.cfg.drain_timeout)
                .await
                .map_err(|e| e.into_driver(op))?;
        }
        let grace = self.stop_grace(self.model().await?);
        let mut tasks = tokio::task::JoinSet::new();
        for c in victims {
            let engine = self.engine.clone();
            let id = c.id.clone();
            tasks.spawn(async move {
                engine.stop(&id, grace).await?;
                engine.remove(&id).await
            });
        }
        let mut first_err = None;
        while let Some(r) = tasks.join_next().await {
            let r = r
                .map_err(|e| DriverError::transient(op, format!("stop task failed: {e}")))
                .and_then(|r| r);
            if let Err(e) = r {
                first_err.get_or_insert(e);
            }
        }
        match first_err {
            Some(e) => Err(DriverError {
                operation: op.to_string(),
                ..e
            }),
            None => Ok(()),
        }
    }

    /// Makes `revision` (running `artifact`) have exactly `replicas` containers.
    async fn converge(
        &self,
        op: &str,
        revision: &RevisionId,
        artifact: &str,
        replicas: u32,
    ) -> Result<(), DriverError> {
        self.model().await?;
        let containers = self.containers(op).await?;
        let mine: Vec<&Container> = containers
            .iter()
            .filter(|c| c.revision_of(&self.cfg.service).as_ref() == Some(revision))
            .collect();
        if let Some(other) = mine
            .iter()
            .find_map(|c| c.artifact().filter(|a| *a != artifact))
        {
            return Err(DriverError::permanent(
                op,
                format!("revision {revision} already runs {other}, not {artifact}: a revision id names one artifact"),
            ));
        }
        let current = mine.len() as u32;
        let svc = service_name(&self.cfg.service, revision);
        if replicas > 0 && self.router.is_some() {
            let instances = self.instances_of(&containers).await?;
            let stored = self.shares.load()?;
            if let Some(frozen) = freeze_for_newcomer(&stored, &Self::live(&instances), revision) {
                self.shares.save(&frozen)?;
            }
        }
        if replicas > current || (replicas > 0 && mine.iter().any(|c| !c.is_running())) {
            let overlay = self
                .overlay(&containers, Some((revision, artifact)))
                .await?;
            if self.cfg.pull {
                self.cli
                    .run(op, &["pull", "--quiet", &svc], Some(&overlay))
                    .await?;
            }
            // Never below `current` here: surplus containers are chosen and drained below.
            let scale = format!("{svc}={}", replicas.max(current));
            self.cli
                .run(
                    op,
                    &["up", "--detach", "--no-recreate", "--scale", &scale, &svc],
                    Some(&overlay),
                )
                .await?;
        }
        if replicas < current {
            let mut order: Vec<&Container> = mine.clone();
            // Remove what does not serve first, then the newest.
            order.sort_by_key(|c| {
                (
                    c.is_running(),
                    c.health != "unhealthy",
                    std::cmp::Reverse(c.number()),
                )
            });
            let victims: Vec<Container> = order
                .into_iter()
                .take((current - replicas) as usize)
                .cloned()
                .collect();
            self.remove_containers(op, &victims).await?;
        }
        self.sync_router().await
    }

    async fn deploy(&self, revision: &Revision, replicas: u32) -> Result<(), DriverError> {
        let op = format!("deploy {} x{replicas}", revision.id);
        check_revision(&op, &revision.id)?;
        check_artifact(&op, &revision.artifact)?;
        if replicas > 0 {
            self.validate_revision(revision)
                .await
                .map_err(|e| DriverError {
                    operation: op.clone(),
                    ..e
                })?;
        }
        self.converge(&op, &revision.id, &revision.artifact, replicas)
            .await
    }

    async fn scale(&self, revision: &RevisionId, replicas: u32) -> Result<(), DriverError> {
        let op = format!("scale {revision} to {replicas}");
        check_revision(&op, revision)?;
        let containers = self.containers(&op).await?;
        let artifact = containers
            .iter()
            .filter(|c| c.revision_of(&self.cfg.service).as_ref() == Some(revision))
            .find_map(|c| c.artifact().map(str::to_string));
        match artifact {
            Some(a) => self.converge(&op, revision, &a, replicas).await,
            None if replicas == 0 => Ok(()),
            None => Err(DriverError::permanent(
                op,
                format!("revision {revision} has no containers, so its image is unknown: deploy it first"),
            )),
        }
    }

    async fn retire(&self, revision: &RevisionId) -> Result<(), DriverError> {
        let op = format!("retire {revision}");
        check_revision(&op, revision)?;
        let containers = self.containers(&op).await?;
        let victims: Vec<Container> = containers
            .into_iter()
            .filter(|c| c.revision_of(&self.cfg.service).as_ref() == Some(revision))
            .collect();
        self.remove_containers(&op, &victims).await?;
        if self.router.is_some() {
            let mut stored = self.shares.load()?;
            if stored.remove(revision).is_some() {
                self.shares.save(&stored)?;
            }
        }
        self.sync_router().await
    }

    async fn route(&self, weights: &WeightSet) -> Result<(), DriverError> {
        let op = Action::Route {
            weights: weights.clone(),
        }
        .describe();
        if self.router.is_none() {
            return Err(DriverError::permanent(
                op,
                "weighted traffic needs a router (ComposeDriver::with_router); this driver has none (unsupported)",
            ));
        }
        let total = weights.total();
        if total != 100 {
            return Err(DriverError::permanent(
                op,
                format!("weights sum to {total}, not 100"),
            ));
        }
        for (r, _) in &weights.0 {
            check_revision(&op, r)?;
        }
        let shares: Shares = weights.0.iter().cloned().collect();
        self.shares.save(&shares)?;
        self.sync_router().await
    }

    /// Removes every container of this service's revisions and forgets the stored shares
    /// (test teardown, or giving a service up). Other services of the project are left.
    pub async fn remove_all(&self) -> Result<(), DriverError> {
        let containers = self.containers("remove all revisions").await?;
        self.remove_containers("remove all revisions", &containers)
            .await?;
        if self.router.is_some() {
            self.shares.save(&Shares::new())?;
        }
        self.sync_router().await
    }
}

#[async_trait]
impl Driver for ComposeDriver {
    fn capabilities(&self) -> Capabilities {
        let routed = self.router.is_some();
        Capabilities {
            weighted_traffic: routed,
            side_by_side: true,
            native_rolling: false,
            feature_flags: false,
            preview: routed,
        }
    }

    async fn observe(&self, target: &Target) -> Result<FleetState, DriverError> {
        self.check_target("observe", target)?;
        self.model().await?;
        let containers = self.containers("observe").await?;
        let instances = self.instances_of(&containers).await?;
        let live = Self::live(&instances);
        let shares = self.shares_in_force(&live)?;
        let mut revisions: BTreeMap<RevisionId, RevisionState> = live
            .iter()
            .map(|l| {
                (
                    l.revision.clone(),
                    RevisionState {
                        revision: l.revision.clone(),
                        desired: l.containers,
                        ready: l.ready,
                        updated: l.containers,
                        weight: shares.get(&l.revision).copied().unwrap_or(0),
                    },
                )
            })
            .collect();
        for (r, w) in shares.iter().filter(|(_, w)| **w > 0) {
            revisions.entry(r.clone()).or_insert_with(|| RevisionState {
                revision: r.clone(),
                desired: 0,
                ready: 0,
                updated: 0,
                weight: *w,
            });
        }
        Ok(FleetState {
            revisions: revisions.into_values().collect(),
            flags: Default::default(),
        })
    }

    async fn apply(&self, target: &Target, action: &Action) -> Result<(), DriverError> {
        let op = action.describe();
        self.check_target(&op, target)?;
        let _guard = self.apply_lock.lock().await;
        match action {
            Action::Deploy { revision, replicas } => self.deploy(revision, *replicas).await,
            Action::Scale { revision, replicas } => self.scale(revision, *replicas).await,
            Action::Retire { revision } => self.retire(revision).await,
            Action::Route { weights } => self.route(weights).await,
            Action::SetFlag { .. } => Err(DriverError::permanent(
                op,
                "feature flags are not managed by the Compose driver (unsupported)",
            )),
        }
    }
}
