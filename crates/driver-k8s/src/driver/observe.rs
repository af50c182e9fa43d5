//! Observe: the target's Deployments by label, ready replicas trusted only once the
//! controller saw the latest generation, failures (`ProgressDeadlineExceeded`, pods stuck
//! pulling or crashing past the deadline), and weights from the route.

use super::{key, K8sDriver};
use crate::error::{classify, is_not_found};
use crate::names;
use crate::objects;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Pod;
use kube::api::ListParams;
use kube::Api;
use shipcore::driver::DriverError;
use shipcore::model::{FleetState, RevisionId, RevisionState, Target};
use std::time::Duration;
use tracing::Instrument;

/// Pod waiting reasons that do not fix themselves.
const STUCK: &[&str] = &[
    "ErrImagePull",
    "ImagePullBackOff",
    "InvalidImageName",
    "CrashLoopBackOff",
    "CreateContainerConfigError",
];

/// One revision as its Deployment shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevisionView {
    /// The full revision id (from the annotation).
    pub revision: RevisionId,
    /// The Deployment's (and Service's) name.
    pub name: String,
    /// `spec.replicas`.
    pub desired: u32,
    /// `min(availableReplicas, spec.replicas)`, 0 until `observedGeneration >= generation`.
    pub ready: u32,
    /// `min(updatedReplicas, spec.replicas)`, 0 until the generation is observed.
    pub updated: u32,
    /// Why the revision cannot become ready, if it cannot.
    pub failure: Option<String>,
}

/// A Deployment as a [`RevisionView`]; `None` for one without the revision annotation or
/// being deleted.
pub fn view_of(d: &Deployment) -> Option<RevisionView> {
    if d.metadata.deletion_timestamp.is_some() {
        return None;
    }
    let id = d
        .metadata
        .annotations
        .as_ref()?
        .get(names::REVISION_ID_ANNOTATION)?;
    let desired = d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1).max(0) as u32;
    let status = d.status.clone().unwrap_or_default();
    let trusted = match (status.observed_generation, d.metadata.generation) {
        (Some(seen), Some(gen)) => seen >= gen,
        (Some(_), None) => true,
        (None, _) => false,
    };
    let clamp = |n: Option<i32>| (n.unwrap_or(0).max(0) as u32).min(desired);
    let (ready, updated) = if trusted {
        (
            clamp(status.available_replicas),
            clamp(status.updated_replicas),
        )
    } else {
        (0, 0)
    };
    Some(RevisionView {
        revision: RevisionId::new(id.clone()),
        name: d.metadata.name.clone().unwrap_or_default(),
        desired,
        ready,
        updated,
        failure: revision_failure(d),
    })
}

/// The Deployment's own verdict: a `Progressing` condition with reason
/// `ProgressDeadlineExceeded`, for the generation the controller last saw.
pub fn revision_failure(d: &Deployment) -> Option<String> {
    let status = d.status.as_ref()?;
    let c = status
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == "Progressing")?;
    (c.status == "False" && c.reason.as_deref() == Some("ProgressDeadlineExceeded")).then(|| {
        format!(
            "ProgressDeadlineExceeded: {}",
            c.message
                .as_deref()
                .unwrap_or("no progress within the deadline")
        )
    })
}

/// Views to a fleet: weights from the route's raw weights when it has some for a revision
/// with ready replicas, otherwise following ready replicas (the apex Service, or no
/// routed revision ready), normalised to percentages summing to 100 (or 0).
pub fn fleet_from(
    views: &[RevisionView],
    route_weights: Option<&[(RevisionId, u64)]>,
) -> FleetState {
    let routed = route_weights.filter(|raw| {
        raw.iter()
            .any(|(id, w)| *w > 0 && views.iter().any(|v| &v.revision == id && v.ready > 0))
    });
    let raw: Vec<(RevisionId, u64)> = match routed {
        Some(raw) => views
            .iter()
            .map(|v| {
                let w = raw
                    .iter()
                    .find(|(id, _)| id == &v.revision)
                    .map(|(_, w)| *w);
                (v.revision.clone(), w.unwrap_or(0))
            })
            .collect(),
        None => views
            .iter()
            .map(|v| (v.revision.clone(), u64::from(v.ready)))
            .collect(),
    };
    let pct = shipcore::model::percentages(&raw);
    let mut revisions: Vec<RevisionState> = views
        .iter()
        .zip(pct)
        .map(|(v, (_, weight))| RevisionState {
            revision: v.revision.clone(),
            desired: v.desired,
            ready: v.ready,
            updated: v.updated,
            weight,
        })
        .collect();
    revisions.sort_by(|a, b| a.revision.cmp(&b.revision));
    FleetState {
        revisions,
        flags: Default::default(),
    }
}

impl K8sDriver {
    /// LIST of the target's Deployments as views (remembering the list's
    /// resourceVersion for the watch).
    pub(crate) async fn list_revisions(
        &self,
        target: &Target,
        op: &str,
    ) -> Result<Vec<RevisionView>, DriverError> {
        let ns = self.namespace(target);
        let lp = ListParams::default().labels(&names::target_selector(target));
        let list = self
            .deployments(&ns)
            .list(&lp)
            .instrument(tracing::debug_span!("k8s.list_deployments", ns = %ns))
            .await
            .map_err(|e| classify(op, &e))?;
        if let Some(rv) = list.metadata.resource_version.clone() {
            self.memory().list_version.insert(key(target), rv);
        }
        let mut views: Vec<RevisionView> = Vec::new();
        for d in &list.items {
            let Some(mut v) = view_of(d) else { continue };
            if views.iter().any(|o| o.revision == v.revision) {
                continue;
            }
            if v.failure.is_none() && v.ready < v.desired && self.older_than_deadline(d) {
                v.failure = self.stuck_pods(&ns, target, &v).await?;
            }
            views.push(v);
        }
        Ok(views)
    }

    fn older_than_deadline(&self, d: &Deployment) -> bool {
        let Some(created) = &d.metadata.creation_timestamp else {
            return false;
        };
        let age = k8s_openapi::jiff::Timestamp::now().as_second() - created.0.as_second();
        Duration::from_secs(age.max(0) as u64) > self.cfg.progress_deadline
    }

    /// A pod of the revision stuck pulling its image or crash-looping, if any.
    async fn stuck_pods(
        &self,
        ns: &str,
        target: &Target,
        v: &RevisionView,
    ) -> Result<Option<String>, DriverError> {
        let pods: Api<Pod> = Api::namespaced(self.client.clone(), ns);
        let selector: Vec<String> = names::selector(target, &v.revision)
            .into_iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let list = match pods
            .list(&ListParams::default().labels(&selector.join(",")))
            .await
        {
            Ok(l) => l,
            Err(e) if is_not_found(&e) => return Ok(None),
            Err(e) => return Err(classify("observe", &e)),
        };
        for p in list.items {
            let statuses = p
                .status
                .and_then(|s| s.container_statuses)
                .unwrap_or_default();
            for cs in statuses {
                let waiting = cs.state.and_then(|s| s.waiting);
                if let Some(reason) = waiting.and_then(|w| w.reason) {
                    if STUCK.contains(&reason.as_str()) {
                        return Ok(Some(format!(
                            "pod {} container {} is in {reason} past the progress deadline",
                            p.metadata.name.unwrap_or_default(),
                            cs.name
                        )));
                    }
                }
            }
        }
        Ok(None)
    }

    /// The fleet: views plus weights; a failed revision the caller last deployed (so it
    /// waits for it) is a permanent error naming it, which rolls the rollout back. A failed
    /// revision nobody waits for (stable being restored beside it) is only reported
    /// unready, so a rollback can still observe its way back to stable.
    pub(super) async fn observe_fleet(&self, target: &Target) -> Result<FleetState, DriverError> {
        let span = tracing::debug_span!("k8s.observe", target = %target);
        async {
            let op = "observe";
            let views = self.list_revisions(target, op).await?;
            let waited = self.memory().last_deployed.get(&key(target)).cloned();
            if let Some(v) = views
                .iter()
                .find(|v| v.failure.is_some() && Some(&v.revision) == waited.as_ref())
            {
                return Err(DriverError::permanent(
                    op,
                    format!(
                        "revision {} (Deployment {}) cannot become ready: {}",
                        v.revision,
                        v.name,
                        v.failure.as_deref().unwrap_or_default()
                    ),
                ));
            }
            let route = match &self.cfg.route {
                None => None,
                Some(_) => {
                    let names: Vec<String> = views.iter().map(|v| v.name.clone()).collect();
                    let r = self.read_route(target, op).await?;
                    let w = r
                        .map(|r| objects::route_weights(&r, &names))
                        .unwrap_or_default();
                    Some(
                        views
                            .iter()
                            .filter_map(|v| w.get(&v.name).map(|w| (v.revision.clone(), *w)))
                            .collect::<Vec<_>>(),
                    )
                }
            };
            Ok(fleet_from(&views, route.as_deref()))
        }
        .instrument(span)
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn dep(
        gen: i64,
        observed: Option<i64>,
        replicas: i32,
        available: i32,
        cond: Option<&str>,
    ) -> Deployment {
        let mut v = json!({
            "metadata": {"name": "web-v2", "generation": gen,
                "annotations": {"shipcore.io/revision-id": "v2"}},
            "spec": {"replicas": replicas, "selector": {}, "template": {}},
            "status": {"availableReplicas": available, "updatedReplicas": available}
        });
        if let Some(o) = observed {
            v["status"]["observedGeneration"] = json!(o);
        }
        if let Some(reason) = cond {
            v["status"]["conditions"] = json!([{"type": "Progressing", "status": "False", "reason": reason, "message": "ReplicaSet \"web-v2-abc\" has timed out progressing."}]);
        }
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn ready_is_trusted_only_for_the_observed_generation_and_capped() {
        let v = view_of(&dep(2, Some(1), 3, 3, None)).unwrap();
        assert_eq!((v.desired, v.ready), (3, 0));
        let v = view_of(&dep(2, Some(2), 2, 3, None)).unwrap();
        assert_eq!((v.desired, v.ready, v.updated), (2, 2, 2));
        let v = view_of(&dep(1, None, 2, 2, None)).unwrap();
        assert_eq!(v.ready, 0);
    }

    #[test]
    fn progress_deadline_exceeded_is_a_failure() {
        let v = view_of(&dep(1, Some(1), 2, 0, Some("ProgressDeadlineExceeded"))).unwrap();
        assert!(v.failure.unwrap().contains("timed out progressing"));
        let v = view_of(&dep(1, Some(1), 2, 0, Some("ReplicaSetUpdated"))).unwrap();
        assert!(v.failure.is_none());
    }

    fn view(id: &str, desired: u32, ready: u32) -> RevisionView {
        RevisionView {
            revision: id.into(),
            name: format!("web-{id}"),
            desired,
            ready,
            updated: ready,
            failure: None,
        }
    }

    #[test]
    fn weights_follow_the_route_or_ready_replicas() {
        let views = [view("a", 3, 3), view("b", 1, 1)];
        let f = fleet_from(&views, None);
        assert_eq!(
            (f.weight_of(&"a".into()), f.weight_of(&"b".into())),
            (75, 25)
        );
        let raw = [(RevisionId::new("a"), 1), (RevisionId::new("b"), 2)];
        let f = fleet_from(&views, Some(&raw));
        assert_eq!(
            (f.weight_of(&"a".into()), f.weight_of(&"b".into())),
            (33, 67)
        );
        // A route naming only unready revisions: traffic follows ready replicas.
        let views = [view("a", 3, 0), view("b", 1, 1)];
        let raw = [(RevisionId::new("a"), 100)];
        let f = fleet_from(&views, Some(&raw));
        assert_eq!(f.weight_of(&"b".into()), 100);
        let f = fleet_from(&[view("a", 2, 0)], None);
        assert_eq!(f.weight_of(&"a".into()), 0);
    }
}
