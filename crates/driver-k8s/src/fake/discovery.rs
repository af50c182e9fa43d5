//! The resource table the fake serves, and the legacy discovery documents built from it
//! (`/version`, `/api`, `/api/v1`, `/apis`, `/apis/<group>/<version>`).

use serde_json::{json, Value};

/// How names of a resource are validated on create.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NameRule {
    /// DNS-1123 subdomain (Deployments, HPAs, HTTPRoutes).
    Subdomain,
    /// DNS-1035 label (Services).
    Label1035,
    /// DNS-1123 label (Namespaces).
    Label1123,
}

/// One served resource.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Resource {
    pub group: &'static str,
    pub version: &'static str,
    pub kind: &'static str,
    pub plural: &'static str,
    pub singular: &'static str,
    pub namespaced: bool,
    pub short_names: &'static [&'static str],
    /// Whether `metadata.generation` is maintained (bumped on spec change).
    pub generation: bool,
    /// Whether list items carry `apiVersion`/`kind` (custom resources do, built-ins do not).
    pub custom: bool,
    pub names: NameRule,
    /// Whether only `create` is served (access reviews).
    pub create_only: bool,
}

impl Resource {
    /// `apps/v1`, or `v1` for the core group.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }
}

const VERBS: &[&str] = &[
    "create", "delete", "get", "list", "patch", "update", "watch",
];

/// The gateway API group, which [`super::FakeApiServer::without_gateway_api`] hides.
pub(crate) const GATEWAY_GROUP: &str = "gateway.networking.k8s.io";

/// Every resource the fake serves.
pub(crate) const RESOURCES: &[Resource] = &[
    Resource {
        group: "",
        version: "v1",
        kind: "Namespace",
        plural: "namespaces",
        singular: "namespace",
        namespaced: false,
        short_names: &["ns"],
        generation: false,
        custom: false,
        names: NameRule::Label1123,
        create_only: false,
    },
    Resource {
        group: "",
        version: "v1",
        kind: "Service",
        plural: "services",
        singular: "service",
        namespaced: true,
        short_names: &["svc"],
        generation: false,
        custom: false,
        names: NameRule::Label1035,
        create_only: false,
    },
    Resource {
        group: "",
        version: "v1",
        kind: "Pod",
        plural: "pods",
        singular: "pod",
        namespaced: true,
        short_names: &["po"],
        generation: false,
        custom: false,
        names: NameRule::Subdomain,
        create_only: false,
    },
    Resource {
        group: "apps",
        version: "v1",
        kind: "Deployment",
        plural: "deployments",
        singular: "deployment",
        namespaced: true,
        short_names: &["deploy"],
        generation: true,
        custom: false,
        names: NameRule::Subdomain,
        create_only: false,
    },
    Resource {
        group: "autoscaling",
        version: "v2",
        kind: "HorizontalPodAutoscaler",
        plural: "horizontalpodautoscalers",
        singular: "horizontalpodautoscaler",
        namespaced: true,
        short_names: &["hpa"],
        generation: false,
        custom: false,
        names: NameRule::Subdomain,
        create_only: false,
    },
    Resource {
        group: GATEWAY_GROUP,
        version: "v1",
        kind: "HTTPRoute",
        plural: "httproutes",
        singular: "httproute",
        namespaced: true,
        short_names: &[],
        generation: true,
        custom: true,
        names: NameRule::Subdomain,
        create_only: false,
    },
    Resource {
        group: "authorization.k8s.io",
        version: "v1",
        kind: "SelfSubjectAccessReview",
        plural: "selfsubjectaccessreviews",
        singular: "selfsubjectaccessreview",
        namespaced: false,
        short_names: &[],
        generation: false,
        custom: false,
        names: NameRule::Subdomain,
        create_only: true,
    },
];

/// The groups in `/apis` order.
const GROUPS: &[(&str, &str)] = &[
    ("apps", "v1"),
    ("autoscaling", "v2"),
    ("authorization.k8s.io", "v1"),
    (GATEWAY_GROUP, "v1"),
];

/// Finds a served resource by group, version and plural.
pub(crate) fn find(
    group: &str,
    version: &str,
    plural: &str,
    gateway: bool,
) -> Option<&'static Resource> {
    RESOURCES.iter().find(|r| {
        r.group == group
            && r.version == version
            && r.plural == plural
            && (gateway || r.group != GATEWAY_GROUP)
    })
}

/// The `/version` document.
pub(crate) fn version() -> Value {
    json!({
        "major": "1", "minor": "33", "gitVersion": "v1.33.0-shipcore-fake", "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean", "buildDate": "2026-01-01T00:00:00Z", "goVersion": "go1.24.0", "compiler": "gc", "platform": "linux/amd64"
    })
}

/// The `/api` document.
pub(crate) fn core_versions() -> Value {
    json!({"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1:6443"}]})
}

/// The `/apis` document.
pub(crate) fn groups(gateway: bool) -> Value {
    let groups: Vec<Value> = GROUPS
        .iter()
        .filter(|(g, _)| gateway || *g != GATEWAY_GROUP)
        .map(|(g, v)| {
            let gv = json!({"groupVersion": format!("{g}/{v}"), "version": v});
            json!({"name": g, "versions": [gv.clone()], "preferredVersion": gv})
        })
        .collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

/// The `/apis/<group>` document, if served.
pub(crate) fn group(name: &str, gateway: bool) -> Option<Value> {
    let (g, v) = GROUPS
        .iter()
        .find(|(g, _)| *g == name && (gateway || *g != GATEWAY_GROUP))?;
    let gv = json!({"groupVersion": format!("{g}/{v}"), "version": v});
    Some(
        json!({"kind": "APIGroup", "apiVersion": "v1", "name": g, "versions": [gv.clone()], "preferredVersion": gv}),
    )
}

/// The `APIResourceList` of one group version, if served.
pub(crate) fn resources(group: &str, version: &str, gateway: bool) -> Option<Value> {
    let served: Vec<&Resource> = RESOURCES
        .iter()
        .filter(|r| {
            r.group == group && r.version == version && (gateway || r.group != GATEWAY_GROUP)
        })
        .collect();
    if served.is_empty() {
        return None;
    }
    let mut list = Vec::new();
    for r in served {
        let verbs: Vec<&str> = if r.create_only {
            vec!["create"]
        } else {
            VERBS.to_vec()
        };
        let mut entry = json!({
            "name": r.plural, "singularName": r.singular, "namespaced": r.namespaced,
            "kind": r.kind, "verbs": verbs,
        });
        if !r.short_names.is_empty() {
            entry["shortNames"] = json!(r.short_names);
        }
        if matches!(
            r.kind,
            "Deployment" | "Service" | "Pod" | "HorizontalPodAutoscaler"
        ) {
            entry["categories"] = json!(["all"]);
        }
        list.push(entry);
        if r.kind == "Deployment" {
            list.push(json!({"name": "deployments/scale", "singularName": "", "namespaced": true, "group": "autoscaling", "version": "v1", "kind": "Scale", "verbs": ["get", "patch", "update"]}));
        }
        if matches!(
            r.kind,
            "Deployment" | "HTTPRoute" | "HorizontalPodAutoscaler" | "Service"
        ) {
            list.push(json!({"name": format!("{}/status", r.plural), "singularName": "", "namespaced": true, "kind": r.kind, "verbs": ["get", "patch", "update"]}));
        }
    }
    let gv = if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    Some(
        json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": list}),
    )
}
