//! Preflight, read-only: names, the namespace, the Gateway API when a route is configured,
//! the permissions of every verb the driver uses (SelfSubjectAccessReview), a `dryRun=All`
//! apply of the candidate's Deployment, ownership, and the route's conditions.

use crate::config::RouteConfig;
use crate::driver::K8sDriver;
use crate::error::{classify, is_not_found};
use crate::names;
use crate::objects;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec,
};
use k8s_openapi::api::core::v1::{Namespace, Service};
use kube::api::{Patch, PatchParams, PostParams};
use kube::Api;
use serde_json::Value;
use shipcore::driver::DriverError;
use shipcore::model::{Revision, Target};

const OP: &str = "preflight";

/// Every (group, resource, subresource, verb) the driver uses.
pub fn verbs(
    route: Option<&RouteConfig>,
) -> Vec<(&'static str, &'static str, &'static str, &'static str)> {
    let mut v = vec![
        ("apps", "deployments", "", "get"),
        ("apps", "deployments", "", "list"),
        ("apps", "deployments", "", "watch"),
        ("apps", "deployments", "", "patch"),
        ("apps", "deployments", "", "delete"),
        ("apps", "deployments", "scale", "patch"),
        ("", "services", "", "get"),
        ("", "services", "", "patch"),
        ("", "services", "", "delete"),
        ("", "pods", "", "list"),
        ("autoscaling", "horizontalpodautoscalers", "", "list"),
    ];
    match route {
        Some(RouteConfig::Owned { .. }) => {
            v.push((objects::GATEWAY_GROUP, "httproutes", "", "get"));
            v.push((objects::GATEWAY_GROUP, "httproutes", "", "patch"));
        }
        Some(RouteConfig::UserOwned { .. }) => {
            v.push((objects::GATEWAY_GROUP, "httproutes", "", "get"));
            v.push((objects::GATEWAY_GROUP, "httproutes", "", "update"));
        }
        None => {}
    }
    v
}

/// Runs every check; the first failure is a permanent error saying what to fix (a
/// transient one when the API could not be reached).
pub async fn check(
    d: &K8sDriver,
    target: &Target,
    candidate: &Revision,
) -> Result<(), DriverError> {
    let span = tracing::info_span!("k8s.preflight", target = %target, candidate = %candidate.id);
    tracing::Instrument::instrument(run(d, target, candidate), span).await
}

impl K8sDriver {
    /// [`check`]: what `Driver::preflight` runs.
    pub(crate) async fn preflight_checks(
        &self,
        target: &Target,
        candidate: &Revision,
    ) -> Result<(), DriverError> {
        check(self, target, candidate).await
    }
}

async fn run(d: &K8sDriver, target: &Target, candidate: &Revision) -> Result<(), DriverError> {
    crate::driver::check_revision_id(OP, &candidate.id)?;
    let ns = d.namespace(target);
    if !names::is_dns1123_label(&ns) {
        return Err(DriverError::permanent(
            OP,
            format!("namespace {ns:?} is not a DNS-1123 label"),
        ));
    }
    let client = d.client().clone();
    match Api::<Namespace>::all(client.clone()).get(&ns).await {
        Ok(_) => {}
        Err(e) if is_not_found(&e) => {
            return Err(DriverError::permanent(
                OP,
                format!("namespace {ns} does not exist"),
            ))
        }
        // A namespaced Role cannot read namespaces: the access reviews below still run.
        Err(kube::Error::Api(s)) if s.code == 403 => {}
        Err(e) => return Err(classify(OP, &e)),
    }
    let route = d.config().route_config();
    if route.is_some() {
        let gv = format!("{}/{}", objects::GATEWAY_GROUP, objects::GATEWAY_VERSION);
        let served = match client.list_api_group_resources(&gv).await {
            Ok(list) => list.resources.iter().any(|r| r.name == "httproutes"),
            Err(e) if is_not_found(&e) => false,
            Err(e) => return Err(classify(OP, &e)),
        };
        if !served {
            return Err(DriverError::permanent(
                OP,
                format!("{gv} httproutes is not served: install the Gateway API CRDs (v1) or configure no route"),
            ));
        }
    }
    access(d, &ns, route).await?;

    let name = names::object_name(&target.service, &candidate.id);
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &ns);
    let existing = crate::driver::get_opt(&deployments, &name, OP).await?;
    if let Some(x) = &existing {
        crate::driver::check_owned(OP, "Deployment", &x.metadata, Some(&candidate.id))?;
    }
    let services: Api<Service> = Api::namespaced(client.clone(), &ns);
    if let Some(x) = crate::driver::get_opt(&services, &name, OP).await? {
        crate::driver::check_owned(OP, "Service", &x.metadata, Some(&candidate.id))?;
    }
    let replicas = existing
        .as_ref()
        .and_then(|x| x.spec.as_ref().and_then(|s| s.replicas))
        .map_or(1, |r| r.max(0) as u32);
    let object = objects::deployment(d.config(), target, &ns, candidate, replicas)
        .map_err(|e| DriverError::permanent(OP, e.to_string()))?;
    let mut params = PatchParams::apply(crate::driver::FIELD_MANAGER).dry_run();
    if existing.is_some() {
        params = params.force();
    }
    deployments
        .patch(&name, &params, &Patch::Apply(&object))
        .await
        .map_err(|e| classify(OP, &e))?;

    if let Some(rc) = route {
        route_conditions(d, target, rc).await?;
    }
    Ok(())
}

async fn access(d: &K8sDriver, ns: &str, route: Option<&RouteConfig>) -> Result<(), DriverError> {
    let api: Api<SelfSubjectAccessReview> = Api::all(d.client().clone());
    let mut denied = Vec::new();
    for (group, resource, sub, verb) in verbs(route) {
        let review = SelfSubjectAccessReview {
            metadata: Default::default(),
            spec: SelfSubjectAccessReviewSpec {
                resource_attributes: Some(ResourceAttributes {
                    group: Some(group.into()),
                    namespace: Some(ns.into()),
                    resource: Some(resource.into()),
                    subresource: (!sub.is_empty()).then(|| sub.to_string()),
                    verb: Some(verb.into()),
                    ..Default::default()
                }),
                non_resource_attributes: None,
            },
            status: None,
        };
        match api.create(&PostParams::default(), &review).await {
            Ok(r) => {
                if !r.status.is_some_and(|s| s.allowed) {
                    let what = if sub.is_empty() {
                        resource.to_string()
                    } else {
                        format!("{resource}/{sub}")
                    };
                    denied.push(format!("{verb} {what}"));
                }
            }
            // An apiserver without the authorization API: nothing to ask, the calls will tell.
            Err(e) if is_not_found(&e) => {
                tracing::warn!("SelfSubjectAccessReview not served; permissions not checked");
                return Ok(());
            }
            Err(e) => return Err(classify(OP, &e)),
        }
    }
    if denied.is_empty() {
        Ok(())
    } else {
        Err(DriverError::permanent(
            OP,
            format!(
                "missing permissions in namespace {ns}: {}",
                denied.join(", ")
            ),
        ))
    }
}

/// The route exists when user-owned, is shipcore's when owned, and no parent reports
/// `Accepted` or `ResolvedRefs` as `False`.
async fn route_conditions(
    d: &K8sDriver,
    target: &Target,
    rc: &RouteConfig,
) -> Result<(), DriverError> {
    let Some(route) = d.read_route(target, OP).await? else {
        if let RouteConfig::UserOwned { name, .. } = rc {
            return Err(DriverError::permanent(
                OP,
                format!("the user-owned HTTPRoute {name} does not exist"),
            ));
        }
        return Ok(());
    };
    if matches!(rc, RouteConfig::Owned { .. }) {
        let meta: kube::core::ObjectMeta =
            serde_json::from_value(route.get("metadata").cloned().unwrap_or_default())
                .unwrap_or_default();
        crate::driver::check_owned(OP, "HTTPRoute", &meta, None)?;
    }
    route_problems(&route).map_or(Ok(()), |m| {
        Err(DriverError::permanent(
            OP,
            format!("HTTPRoute {}: {m}", rc.name()),
        ))
    })
}

/// A parent condition `Accepted` or `ResolvedRefs` that is `False`, described.
pub fn route_problems(route: &Value) -> Option<String> {
    let parents = route.pointer("/status/parents")?.as_array()?;
    for p in parents {
        let conditions = p.get("conditions").and_then(Value::as_array)?;
        for c in conditions {
            let ty = c.get("type").and_then(Value::as_str).unwrap_or("");
            let st = c.get("status").and_then(Value::as_str).unwrap_or("");
            if matches!(ty, "Accepted" | "ResolvedRefs") && st == "False" {
                return Some(format!(
                    "{ty}=False ({}): {}",
                    c.get("reason").and_then(Value::as_str).unwrap_or(""),
                    c.get("message").and_then(Value::as_str).unwrap_or("")
                ));
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn route_conditions_false_are_reported() {
        let ok = json!({"status": {"parents": [{"conditions": [{"type": "Accepted", "status": "True"}]}]}});
        assert_eq!(route_problems(&ok), None);
        let bad = json!({"status": {"parents": [{"conditions": [
            {"type": "Accepted", "status": "True"},
            {"type": "ResolvedRefs", "status": "False", "reason": "BackendNotFound", "message": "service web-v3 not found"}]}]}});
        assert!(route_problems(&bad).unwrap().contains("BackendNotFound"));
        assert!(verbs(None).iter().any(|v| v.2 == "scale"));
    }
}
