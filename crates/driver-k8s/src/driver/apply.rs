//! Deploy, scale and retire: server-side apply of each revision's Deployment and Service
//! (refusing objects shipcore does not manage), the scale subresource, and a retire that
//! takes the revision out of the route and waits before deleting.

use super::{key, K8sDriver};
use crate::error::{classify, is_not_found};
use crate::names::{self, MANAGED_BY_LABEL, MANAGER, REVISION_ID_ANNOTATION};
use crate::objects;
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{DeleteParams, Patch, PatchParams};
use kube::Api;
use shipcore::driver::DriverError;
use shipcore::model::{check_identifier, Revision, RevisionId, Target};
use tracing::Instrument;

/// The field manager of every write.
pub const FIELD_MANAGER: &str = "shipcore";

/// Whether an existing object may be written: absent, or labelled managed-by=shipcore and
/// (for revision objects) annotated with the same revision id.
pub(crate) fn check_owned(
    op: &str,
    kind: &str,
    meta: &ObjectMeta,
    revision: Option<&RevisionId>,
) -> Result<(), DriverError> {
    let name = meta.name.as_deref().unwrap_or("?");
    let managed = meta
        .labels
        .as_ref()
        .and_then(|l| l.get(MANAGED_BY_LABEL))
        .map(String::as_str);
    if managed != Some(MANAGER) {
        return Err(DriverError::permanent(
            op,
            format!(
                "{kind} {name} exists but is not managed by shipcore (label {MANAGED_BY_LABEL}={}); refusing to take it over",
                managed.unwrap_or("<none>")
            ),
        ));
    }
    if let Some(id) = revision {
        let theirs = meta
            .annotations
            .as_ref()
            .and_then(|a| a.get(REVISION_ID_ANNOTATION));
        if theirs.map(String::as_str) != Some(id.as_str()) {
            return Err(DriverError::permanent(
                op,
                format!(
                    "{kind} {name} belongs to revision {:?}, not {id}: the names collide",
                    theirs.map(String::as_str).unwrap_or("<none>")
                ),
            ));
        }
    }
    Ok(())
}

pub(crate) fn check_revision_id(op: &str, id: &RevisionId) -> Result<(), DriverError> {
    check_identifier("revision.id", id.as_str())
        .map_err(|e| DriverError::permanent(op, e.to_string()))
}

impl K8sDriver {
    /// Creates or resizes `revision`: Deployment, then Service, then (with a route) its
    /// backendRef, at weight 0 beside serving revisions.
    pub(super) async fn deploy(
        &self,
        target: &Target,
        revision: &Revision,
        replicas: u32,
        op: &str,
    ) -> Result<(), DriverError> {
        check_revision_id(op, &revision.id)?;
        let ns = self.namespace(target);
        let deployment = objects::deployment(&self.cfg, target, &ns, revision, replicas)
            .map_err(|e| DriverError::permanent(op, e.to_string()))?;
        let service = objects::service(&self.cfg, target, &ns, revision);
        let name = names::object_name(&target.service, &revision.id);

        let deployments = self.deployments(&ns);
        let existing = get_opt(&deployments, &name, op).await?;
        if replicas == 0 {
            self.refuse_with_traffic(target, &name, &revision.id, op)
                .await?;
        }
        if let Some(d) = &existing {
            check_owned(op, "Deployment", &d.metadata, Some(&revision.id))?;
            let current = d.spec.as_ref().and_then(|s| s.replicas);
            if current != Some(i32::try_from(replicas).unwrap_or(i32::MAX)) {
                self.refuse_hpa(&ns, &name, op).await?;
            }
        }
        apply(&deployments, &name, &deployment, existing.is_some(), op).await?;

        let services = self.services(&ns);
        let existing = get_opt(&services, &name, op).await?;
        if let Some(s) = &existing {
            check_owned(op, "Service", &s.metadata, Some(&revision.id))?;
        }
        apply(&services, &name, &service, existing.is_some(), op).await?;

        if self.cfg.route.is_some() {
            self.route_add(target, &name, op).await?;
        } else {
            let apex = objects::apex_service(&self.cfg, target, &ns);
            let apex_name = names::dns1035(&target.service);
            let existing = get_opt(&services, &apex_name, op).await?;
            if let Some(s) = &existing {
                check_owned(op, "Service", &s.metadata, None)?;
            }
            apply(&services, &apex_name, &apex, existing.is_some(), op).await?;
        }
        self.memory()
            .last_deployed
            .insert(key(target), revision.id.clone());
        Ok(())
    }

    /// Sets the replicas of a deployed revision through the scale subresource (a merge
    /// patch: a partial apply would drop the fields the Deployment's apply set).
    pub(super) async fn scale(
        &self,
        target: &Target,
        revision: &RevisionId,
        replicas: u32,
        op: &str,
    ) -> Result<(), DriverError> {
        check_revision_id(op, revision)?;
        let ns = self.namespace(target);
        let name = names::object_name(&target.service, revision);
        let deployments = self.deployments(&ns);
        let Some(d) = get_opt(&deployments, &name, op).await? else {
            if replicas == 0 {
                return Ok(());
            }
            return Err(DriverError::permanent(
                op,
                format!("revision {revision} is not deployed (no Deployment {ns}/{name})"),
            ));
        };
        check_owned(op, "Deployment", &d.metadata, Some(revision))?;
        if replicas == 0 {
            self.refuse_with_traffic(target, &name, revision, op)
                .await?;
        }
        self.refuse_hpa(&ns, &name, op).await?;
        let patch = serde_json::json!({ "spec": { "replicas": replicas } });
        let params = PatchParams {
            field_manager: Some(FIELD_MANAGER.into()),
            ..Default::default()
        };
        deployments
            .patch_scale(&name, &params, &Patch::Merge(&patch))
            .instrument(tracing::debug_span!("k8s.scale", name = %name))
            .await
            .map_err(|e| classify(op, &e))?;
        Ok(())
    }

    /// Takes `revision` out of the route, waits the retire delay, then deletes its Service
    /// and Deployment (absent is success).
    pub(super) async fn retire(
        &self,
        target: &Target,
        revision: &RevisionId,
        op: &str,
    ) -> Result<(), DriverError> {
        check_revision_id(op, revision)?;
        let ns = self.namespace(target);
        let name = names::object_name(&target.service, revision);
        let deployments = self.deployments(&ns);
        let services = self.services(&ns);
        let d = get_opt(&deployments, &name, op).await?;
        if let Some(d) = &d {
            check_owned(op, "Deployment", &d.metadata, Some(revision))?;
        }
        let s = get_opt(&services, &name, op).await?;
        if let Some(s) = &s {
            check_owned(op, "Service", &s.metadata, Some(revision))?;
        }
        let was_routed = if self.cfg.route.is_some() {
            self.route_remove(target, &name, op).await?
        } else {
            false
        };
        if was_routed && !self.cfg.retire_delay.is_zero() {
            tracing::info!(name = %name, delay = ?self.cfg.retire_delay, "waiting for the gateway before deleting");
            tokio::time::sleep(self.cfg.retire_delay).await;
        }
        let dp = DeleteParams::background();
        if s.is_some() {
            ignore_not_found(services.delete(&name, &dp).await.map(|_| ()), op)?;
        }
        if d.is_some() {
            ignore_not_found(deployments.delete(&name, &dp).await.map(|_| ()), op)?;
        }
        let mut mem = self.memory();
        if mem.last_deployed.get(&key(target)) == Some(revision) {
            mem.last_deployed.remove(&key(target));
        }
        Ok(())
    }

    /// Refuses to scale to 0 a revision the route still sends traffic to: traffic leaves a
    /// revision before its pods do (argo-rollouts #4841).
    async fn refuse_with_traffic(
        &self,
        target: &Target,
        name: &str,
        revision: &RevisionId,
        op: &str,
    ) -> Result<(), DriverError> {
        let Some(route) = self.read_route(target, op).await? else {
            return Ok(());
        };
        let weight = objects::route_weights(&route, &[name.to_string()])
            .get(name)
            .copied()
            .unwrap_or(0);
        if weight > 0 {
            return Err(DriverError::permanent(
                op,
                format!("revision {revision} still takes traffic (route weight {weight}): route it away before scaling it to 0"),
            ));
        }
        Ok(())
    }

    /// Refuses when a HorizontalPodAutoscaler scales Deployment `name`: it owns
    /// `.spec.replicas`, and the two would fight.
    async fn refuse_hpa(&self, ns: &str, name: &str, op: &str) -> Result<(), DriverError> {
        let hpas: Api<HorizontalPodAutoscaler> = Api::namespaced(self.client.clone(), ns);
        let list = match hpas.list(&Default::default()).await {
            Ok(l) => l,
            // Autoscaling not served (a minimal apiserver): no HPA can own the replicas.
            Err(e) if is_not_found(&e) => return Ok(()),
            Err(e) => return Err(classify(op, &e)),
        };
        for h in list.items {
            let Some(spec) = &h.spec else { continue };
            let r = &spec.scale_target_ref;
            if r.kind == "Deployment" && r.name == name {
                return Err(DriverError::permanent(
                    op,
                    format!(
                        "HorizontalPodAutoscaler {ns}/{} scales Deployment {name}: it owns .spec.replicas, so shipcore will not set them; remove the HPA or target another object",
                        h.metadata.name.unwrap_or_default()
                    ),
                ));
            }
        }
        Ok(())
    }
}

/// GET that answers `None` for a 404.
pub(crate) async fn get_opt<K>(api: &Api<K>, name: &str, op: &str) -> Result<Option<K>, DriverError>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    match api.get(name).await {
        Ok(o) => Ok(Some(o)),
        Err(e) if is_not_found(&e) => Ok(None),
        Err(e) => Err(classify(op, &e)),
    }
}

/// Server-side apply as [`FIELD_MANAGER`], forcing only over an object already known to
/// be shipcore's (conflicts are then with its own scale subresource writes or a person's
/// `kubectl scale`, which a rollout must override).
pub(crate) async fn apply<K>(
    api: &Api<K>,
    name: &str,
    object: &K,
    ours: bool,
    op: &str,
) -> Result<K, DriverError>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + serde::Serialize + std::fmt::Debug,
{
    let mut params = PatchParams::apply(FIELD_MANAGER);
    if ours {
        params = params.force();
    }
    api.patch(name, &params, &Patch::Apply(object))
        .instrument(tracing::debug_span!("k8s.apply_object", name = %name, force = ours))
        .await
        .map_err(|e| classify(op, &e))
}

fn ignore_not_found(r: Result<(), kube::Error>, op: &str) -> Result<(), DriverError> {
    match r {
        Ok(()) => Ok(()),
        Err(e) if is_not_found(&e) => Ok(()),
        Err(e) => Err(classify(op, &e)),
    }
}
