//! The objects the driver writes: each revision's Deployment (from the user's base) and
//! Service, and the Gateway API `HTTPRoute` (as JSON: no typed crate for kube 5 yet).

use crate::config::K8sConfig;
use crate::names;
use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec};
use k8s_openapi::api::core::v1::{Service, ServicePort, ServiceSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use shipcore::model::{Revision, Target};
use std::collections::BTreeMap;

pub use route::*;

mod route;

/// Gateway API group of `HTTPRoute`.
pub const GATEWAY_GROUP: &str = "gateway.networking.k8s.io";
/// Gateway API version used.
pub const GATEWAY_VERSION: &str = "v1";

fn meta(target: &Target, revision: &Revision, ns: &str, extra: Option<&ObjectMeta>) -> ObjectMeta {
    let mut labels: BTreeMap<String, String> =
        extra.and_then(|m| m.labels.clone()).unwrap_or_default();
    labels.extend(names::labels(
        target,
        &revision.id,
        &revision.version.to_string(),
    ));
    let mut annotations: BTreeMap<String, String> = extra
        .and_then(|m| m.annotations.clone())
        .unwrap_or_default();
    annotations.insert(
        names::REVISION_ID_ANNOTATION.into(),
        revision.id.as_str().into(),
    );
    ObjectMeta {
        name: Some(names::object_name(&target.service, &revision.id)),
        namespace: Some(ns.into()),
        labels: Some(labels),
        annotations: Some(annotations),
        ..Default::default()
    }
}

/// The Deployment of `revision` with `replicas`: the base's spec and pod template, the
/// artifact as the chosen container's image, the revision's labels, selector and
/// annotation, and `progressDeadlineSeconds` from the configuration.
pub fn deployment(
    cfg: &K8sConfig,
    target: &Target,
    ns: &str,
    revision: &Revision,
    replicas: u32,
) -> Result<Deployment, crate::config::ConfigError> {
    let index = cfg.container_index()?;
    let (base_meta, mut spec) = match &cfg.base {
        crate::config::Base::Deployment(d) => {
            (d.metadata.clone(), d.spec.clone().unwrap_or_default())
        }
        crate::config::Base::PodTemplate(t) => (
            ObjectMeta::default(),
            DeploymentSpec {
                template: (**t).clone(),
                ..Default::default()
            },
        ),
    };
    let metadata = meta(target, revision, ns, Some(&base_meta));
    let selector = names::selector(target, &revision.id);
    spec.selector = LabelSelector {
        match_labels: Some(selector),
        match_expressions: None,
    };
    spec.replicas = Some(i32::try_from(replicas).unwrap_or(i32::MAX));
    spec.progress_deadline_seconds =
        Some(i32::try_from(cfg.progress_deadline.as_secs()).unwrap_or(i32::MAX));
    spec.paused = None;
    let mut tmeta = spec.template.metadata.clone().unwrap_or_default();
    let mut tlabels = tmeta.labels.clone().unwrap_or_default();
    tlabels.extend(names::labels(
        target,
        &revision.id,
        &revision.version.to_string(),
    ));
    tmeta.labels = Some(tlabels);
    tmeta.name = None;
    tmeta.namespace = None;
    spec.template.metadata = Some(tmeta);
    if let Some(pod) = spec.template.spec.as_mut() {
        if let Some(c) = pod.containers.get_mut(index) {
            c.image = Some(revision.artifact.clone());
        }
    }
    Ok(Deployment {
        metadata,
        spec: Some(spec),
        status: None,
    })
}

/// The Service of `revision`: ClusterIP, its pods by the revision selector, the
/// configured port.
pub fn service(cfg: &K8sConfig, target: &Target, ns: &str, revision: &Revision) -> Service {
    let target_port = cfg.target_port.unwrap_or(cfg.service_port);
    Service {
        metadata: meta(target, revision, ns, None),
        spec: Some(ServiceSpec {
            selector: Some(names::selector(target, &revision.id)),
            ports: Some(vec![ServicePort {
                name: Some("http".into()),
                port: i32::from(cfg.service_port),
                target_port: Some(IntOrString::Int(i32::from(target_port))),
                protocol: Some("TCP".into()),
                ..Default::default()
            }]),
            type_: Some("ClusterIP".into()),
            ..Default::default()
        }),
        status: None,
    }
}

/// The apex Service used without a route: all the target's revisions behind one name,
/// traffic following ready replicas (a replica-ratio canary).
pub fn apex_service(cfg: &K8sConfig, target: &Target, ns: &str) -> Service {
    let target_port = cfg.target_port.unwrap_or(cfg.service_port);
    let mut selector = BTreeMap::new();
    selector.insert(
        names::SERVICE_LABEL.to_string(),
        names::label_value(&target.service),
    );
    selector.insert(
        names::ENVIRONMENT_LABEL.to_string(),
        names::label_value(&target.environment),
    );
    let mut labels = selector.clone();
    labels.insert(names::MANAGED_BY_LABEL.into(), names::MANAGER.into());
    labels.insert(
        "app.kubernetes.io/name".into(),
        names::label_value(&target.service),
    );
    Service {
        metadata: ObjectMeta {
            name: Some(names::dns1035(&target.service)),
            namespace: Some(ns.into()),
            labels: Some(labels),
            ..Default::default()
        },
        spec: Some(ServiceSpec {
            selector: Some(selector),
            ports: Some(vec![ServicePort {
                name: Some("http".into()),
                port: i32::from(cfg.service_port),
                target_port: Some(IntOrString::Int(i32::from(target_port))),
                protocol: Some("TCP".into()),
                ..Default::default()
            }]),
            type_: Some("ClusterIP".into()),
            ..Default::default()
        }),
        status: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::PodTemplateSpec;
    use serde_json::Value;

    fn rev(id: &str) -> Revision {
        Revision::new(id, "2.0.0".parse().unwrap(), "registry/web:2.0.0")
    }

    fn roundtrip<T: serde::Serialize + serde::de::DeserializeOwned>(v: &Value) -> Value {
        let typed: T = serde_json::from_value(v.clone()).unwrap();
        serde_json::to_value(&typed).unwrap()
    }

    #[test]
    fn deployment_takes_image_replicas_labels_and_roundtrips() {
        let cfg = K8sConfig::for_container("app", 8080);
        let t = Target::new("web", "prod");
        let d = deployment(&cfg, &t, "ns1", &rev("2.0.0"), 3).unwrap();
        let spec = d.spec.as_ref().unwrap();
        assert_eq!(spec.replicas, Some(3));
        assert_eq!(spec.progress_deadline_seconds, Some(600));
        let c = &spec.template.spec.as_ref().unwrap().containers[0];
        assert_eq!(c.image.as_deref(), Some("registry/web:2.0.0"));
        let ann = d.metadata.annotations.as_ref().unwrap();
        assert_eq!(ann[names::REVISION_ID_ANNOTATION], "2.0.0");
        let sel = spec.selector.match_labels.as_ref().unwrap();
        let tl = spec
            .template
            .metadata
            .as_ref()
            .unwrap()
            .labels
            .as_ref()
            .unwrap();
        assert!(sel.iter().all(|(k, v)| tl.get(k) == Some(v)));
        let v = serde_json::to_value(&d).unwrap();
        assert_eq!(roundtrip::<Deployment>(&v), v);
        let s = serde_json::to_value(service(&cfg, &t, "ns1", &rev("2.0.0"))).unwrap();
        assert_eq!(roundtrip::<Service>(&s), s);
        assert_eq!(s["spec"]["ports"][0]["targetPort"], 8080);
        let a = serde_json::to_value(apex_service(&cfg, &t, "ns1")).unwrap();
        assert_eq!(roundtrip::<Service>(&a), a);
        assert_eq!(a["metadata"]["name"], "web");
    }

    #[test]
    fn base_deployment_keeps_strategy_and_named_container_gets_the_image() {
        let cfg = K8sConfig::from_yaml(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: base, labels: {team: a}}\nspec:\n  revisionHistoryLimit: 2\n  selector: {matchLabels: {x: y}}\n  template:\n    metadata: {labels: {x: y}}\n    spec:\n      containers:\n      - {name: proxy, image: envoy}\n      - {name: app, image: old}\n",
        )
        .unwrap()
        .container("app");
        let d = deployment(&cfg, &Target::new("web", "e"), "ns", &rev("v2"), 1).unwrap();
        let spec = d.spec.unwrap();
        assert_eq!(spec.revision_history_limit, Some(2));
        let cs = spec.template.spec.unwrap().containers;
        assert_eq!(cs[0].image.as_deref(), Some("envoy"));
        assert_eq!(cs[1].image.as_deref(), Some("registry/web:2.0.0"));
        assert_eq!(d.metadata.labels.unwrap()["team"], "a");
        assert_eq!(d.metadata.name.as_deref(), Some("web-v2"));
        let _ = PodTemplateSpec::default();
    }
}
