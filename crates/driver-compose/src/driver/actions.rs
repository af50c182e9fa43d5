//! The actions: converge a revision to a replica count (compose `up --scale` to grow;
//! drain, stop and remove chosen containers to shrink), retire it, route traffic, and
//! remove everything for teardown.

use super::{ComposeDriver, DEFAULT_STOP_GRACE};
use crate::project::ProjectModel;
use crate::ps::Container;
use crate::revision::{check_artifact, check_revision, service_name};
use crate::shares::{freeze_for_newcomer, Shares};
use shipcore::driver::DriverError;
use shipcore::model::{Action, Revision, RevisionId, WeightSet};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

impl ComposeDriver {
    /// The override defining every revision in `containers` plus `extra`.
    pub(super) async fn overlay(
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

    pub(super) fn stop_grace(&self, model: &ProjectModel) -> Duration {
        self.cfg
            .stop_timeout
            .or_else(|| model.stop_grace_period())
            .unwrap_or(DEFAULT_STOP_GRACE)
    }

    /// Takes `victims` out: drained in the router first, then stopped (SIGTERM, grace) and
    /// removed through the engine API, all at once.
    pub(super) async fn remove_containers(
        &self,
        op: &str,
        victims: &[Container],
    ) -> Result<(), DriverError> {
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
    pub(super) async fn converge(
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

    pub(super) async fn deploy(
        &self,
        revision: &Revision,
        replicas: u32,
    ) -> Result<(), DriverError> {
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

    pub(super) async fn scale(
        &self,
        revision: &RevisionId,
        replicas: u32,
    ) -> Result<(), DriverError> {
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

    pub(super) async fn retire(&self, revision: &RevisionId) -> Result<(), DriverError> {
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

    pub(super) async fn route(&self, weights: &WeightSet) -> Result<(), DriverError> {
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
        // Traffic only to revisions that run here (the Driver contract: a route naming a
        // revision the target does not run is permanent and changes nothing). A 0 weight
        // for a revision that is gone is harmless (a retried rollback) and stays allowed.
        let containers = self.containers(&op).await?;
        let deployed = |r: &RevisionId| {
            containers
                .iter()
                .any(|c| c.revision_of(&self.cfg.service).as_ref() == Some(r))
        };
        if let Some((r, w)) = weights.0.iter().find(|(r, w)| *w > 0 && !deployed(r)) {
            return Err(DriverError::permanent(
                op,
                format!(
                    "route sends {w}% to revision {r}, which has no containers: deploy it first"
                ),
            ));
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
