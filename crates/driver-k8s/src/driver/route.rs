//! The `HTTPRoute`: a driver-owned route is applied whole; a user-owned one is read,
//! only our backendRefs are changed, and it is written back with its resourceVersion,
//! re-reading on a 409 a bounded number of times.

use super::apply::{check_owned, FIELD_MANAGER};
use super::K8sDriver;
use crate::config::RouteConfig;
use crate::error::{classify, is_not_found, is_stale_conflict};
use crate::objects;
use kube::api::{Patch, PatchParams, PostParams};
use kube::core::DynamicObject;
use serde_json::Value;
use shipcore::driver::DriverError;
use shipcore::model::{Target, WeightSet};
use std::collections::BTreeMap;
use tracing::Instrument;

impl K8sDriver {
    /// `Route`: weights summing to 100, every revision given traffic deployed with ready
    /// replicas; revisions left out get 0.
    pub(super) async fn route(
        &self,
        target: &Target,
        weights: &WeightSet,
        op: &str,
    ) -> Result<(), DriverError> {
        if self.cfg.route.is_none() {
            return Err(DriverError::permanent(
                op,
                "no HTTPRoute configured: weighted traffic needs K8sConfig::route (without one, traffic follows ready replicas)",
            ));
        }
        if weights.total() != 100 {
            return Err(DriverError::permanent(
                op,
                format!("route weights sum to {}, not 100", weights.total()),
            ));
        }
        let views = self.list_revisions(target, op).await?;
        for (id, w) in &weights.0 {
            if *w == 0 {
                continue;
            }
            match views.iter().find(|v| &v.revision == id) {
                None => {
                    return Err(DriverError::permanent(
                        op,
                        format!(
                            "revision {id} is not deployed to {target}: it cannot take traffic"
                        ),
                    ))
                }
                // Traffic only ever goes to ready pods (flagger #1898): wait for them.
                Some(v) if v.ready == 0 => {
                    return Err(DriverError::transient(
                        op,
                        format!("revision {id} has no ready replicas yet; not routing {w}% to it"),
                    ))
                }
                Some(_) => {}
            }
        }
        let backends: Vec<(String, u32)> = views
            .iter()
            .map(|v| (v.name.clone(), u32::from(weights.of(&v.revision))))
            .collect();
        let ours: Vec<String> = views.iter().map(|v| v.name.clone()).collect();
        self.write_route(target, &ours, backends, op).await
    }

    /// Adds Service `name` to the route if it is not there: at weight 0 beside revisions
    /// that take traffic, at 100 when none does (a first deploy).
    pub(super) async fn route_add(
        &self,
        target: &Target,
        name: &str,
        op: &str,
    ) -> Result<(), DriverError> {
        let views = self.list_revisions(target, op).await?;
        let mut ours: Vec<String> = views.iter().map(|v| v.name.clone()).collect();
        if !ours.iter().any(|n| n == name) {
            ours.push(name.to_string());
        }
        let current = self.read_route(target, op).await?;
        let weights = current
            .as_ref()
            .map(|r| objects::route_weights(r, &ours))
            .unwrap_or_default();
        if weights.contains_key(name) {
            return Ok(());
        }
        let serving = weights.values().any(|w| *w > 0);
        let mut backends = as_backends(&ours, &weights);
        backends.retain(|(n, _)| n != name);
        backends.push((name.to_string(), if serving { 0 } else { 100 }));
        self.write_route(target, &ours, backends, op).await
    }

    /// Removes Service `name` from the route; true if it was there.
    pub(super) async fn route_remove(
        &self,
        target: &Target,
        name: &str,
        op: &str,
    ) -> Result<bool, DriverError> {
        let views = self.list_revisions(target, op).await?;
        let mut ours: Vec<String> = views.iter().map(|v| v.name.clone()).collect();
        if !ours.iter().any(|n| n == name) {
            ours.push(name.to_string());
        }
        let Some(current) = self.read_route(target, op).await? else {
            return Ok(false);
        };
        let weights = objects::route_weights(&current, &ours);
        if !weights.contains_key(name) {
            return Ok(false);
        }
        let mut backends = as_backends(&ours, &weights);
        backends.retain(|(n, _)| n != name);
        self.write_route(target, &ours, backends, op).await?;
        Ok(true)
    }

    /// The route as JSON, `None` when it does not exist.
    pub(crate) async fn read_route(
        &self,
        target: &Target,
        op: &str,
    ) -> Result<Option<Value>, DriverError> {
        let Some(rc) = &self.cfg.route else {
            return Ok(None);
        };
        let ns = self.namespace(target);
        match self
            .routes(&ns)
            .get(rc.name())
            .instrument(tracing::debug_span!("k8s.get_route", name = rc.name()))
            .await
        {
            Ok(o) => serde_json::to_value(o)
                .map(Some)
                .map_err(|e| DriverError::transient(op, e.to_string())),
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => Err(classify(op, &e)),
        }
    }

    /// Writes `backends` (Service name, weight) as our part of the route.
    async fn write_route(
        &self,
        target: &Target,
        ours: &[String],
        backends: Vec<(String, u32)>,
        op: &str,
    ) -> Result<(), DriverError> {
        let Some(rc) = &self.cfg.route else {
            return Ok(());
        };
        let ns = self.namespace(target);
        let api = self.routes(&ns);
        let port = self.cfg.service_port;
        match rc {
            RouteConfig::Owned { name, .. } => {
                let existing = self.read_route(target, op).await?;
                if let Some(v) = &existing {
                    let meta: kube::core::ObjectMeta =
                        serde_json::from_value(v.get("metadata").cloned().unwrap_or_default())
                            .unwrap_or_default();
                    check_owned(op, "HTTPRoute", &meta, None)?;
                }
                let desired = objects::owned_route(rc, target, &ns, port, &backends);
                let mut params = PatchParams::apply(FIELD_MANAGER);
                if existing.is_some() {
                    params = params.force();
                }
                api.patch(name, &params, &Patch::Apply(&desired))
                    .instrument(tracing::debug_span!("k8s.apply_route", name = %name))
                    .await
                    .map_err(|e| classify(op, &e))?;
                Ok(())
            }
            RouteConfig::UserOwned {
                name,
                conflict_retries,
            } => {
                let mut attempt = 0;
                loop {
                    let Some(mut v) = self.read_route(target, op).await? else {
                        return Err(DriverError::permanent(
                            op,
                            format!("the user-owned HTTPRoute {ns}/{name} does not exist; create it (shipcore only edits its backendRefs)"),
                        ));
                    };
                    objects::set_user_route_backends(&mut v, ours, &backends, port).map_err(
                        |m| DriverError::permanent(op, format!("HTTPRoute {ns}/{name}: {m}")),
                    )?;
                    let obj: DynamicObject = serde_json::from_value(v)
                        .map_err(|e| DriverError::transient(op, e.to_string()))?;
                    match api
                        .replace(name, &PostParams::default(), &obj)
                        .instrument(
                            tracing::debug_span!("k8s.replace_route", name = %name, attempt),
                        )
                        .await
                    {
                        Ok(_) => return Ok(()),
                        Err(e) if is_stale_conflict(&e) && attempt < *conflict_retries => {
                            attempt += 1;
                            tracing::debug!(name = %name, attempt, "route changed underneath: re-reading");
                        }
                        Err(e) => return Err(classify(op, &e)),
                    }
                }
            }
        }
    }
}

fn as_backends(ours: &[String], weights: &BTreeMap<String, u64>) -> Vec<(String, u32)> {
    ours.iter()
        .filter_map(|n| {
            weights
                .get(n)
                .map(|w| (n.clone(), u32::try_from(*w).unwrap_or(u32::MAX)))
        })
        .collect()
}
