//! What runs and where traffic goes: each container's readiness (healthcheck, HTTP probe,
//! router), the revisions that have containers, the shares in force, and bringing the
//! router in line with all of it.

use super::ComposeDriver;
use crate::ps::Container;
use crate::router::{Endpoint, RevisionRoute, ServerState};
use crate::shares::{effective, proportional, Live, Shares};
use shipcore::driver::DriverError;
use shipcore::model::RevisionId;
use std::collections::BTreeMap;
use std::net::SocketAddr;

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

impl ComposeDriver {
    /// Readiness of each container: running, healthy when it has a healthcheck (run by the
    /// driver on engines that schedule none), and passing the HTTP probe when set.
    pub(super) async fn instances_of(
        &self,
        containers: &[Container],
    ) -> Result<Vec<Instance>, DriverError> {
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

    pub(super) fn live(instances: &[Instance]) -> Vec<Live> {
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
    pub(super) fn shares_in_force(&self, live: &[Live]) -> Result<Shares, DriverError> {
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
}
