//! [`ComposeDriver`]: the [`Driver`] for one compose service. Each revision runs as its
//! own generated compose service beside the others; state is read back from
//! `compose ps`, healthchecks and an optional HTTP probe; traffic goes through an optional
//! [`Router`]. `state` reads what runs, `actions` changes it.

use crate::cli::ComposeCliRunner;
use crate::config::{ComposeConfig, ConfigError, HealthcheckRunner};
use crate::engine_api::{Endpoint as EngineEndpoint, EngineClient};
use crate::project::ProjectModel;
use crate::ps::{self, Container};
use crate::revision::{check_artifact, check_revision};
use crate::router::Router;
use crate::shares::ShareStore;
use async_trait::async_trait;
use shipcore::driver::{Capabilities, Driver, DriverError};
use shipcore::model::FieldError;
use shipcore::model::{Action, FleetState, Revision, RevisionId, RevisionState, Target};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Mutex, OnceCell};

/// Default grace between SIGTERM and SIGKILL (compose's own default).
const DEFAULT_STOP_GRACE: Duration = Duration::from_secs(10);

mod actions;
mod state;

pub use state::Instance;

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
        let endpoint = EngineEndpoint::resolve(cfg.docker_host.as_deref())
            .map_err(|problem| FieldError::new("docker_host", problem))?;
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
    #[must_use]
    pub fn with_router(mut self, router: Arc<dyn Router>) -> Self {
        self.router = Some(router);
        self
    }

    /// The configuration the driver was built with.
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

    pub(crate) fn check_target(&self, op: &str, target: &Target) -> Result<(), DriverError> {
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

    /// The target is this driver's, the engine answers, the compose files load and define
    /// the service, and the candidate's image exists: what [`ComposePreflight`] checks as a
    /// gate, run by the engine on its own before a rollout starts.
    ///
    /// [`ComposePreflight`]: crate::ComposePreflight
    async fn preflight(&self, target: &Target, candidate: &Revision) -> Result<(), DriverError> {
        self.check_target("preflight", target)?;
        self.validate().await?;
        self.validate_revision(candidate).await
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
