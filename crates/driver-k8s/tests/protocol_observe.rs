//! Protocol tests for observe, the watch, preflight and error classification, against a
//! scripted tower-test apiserver answering real Kubernetes `Status` bodies.
#![allow(clippy::unwrap_used)]

mod protocol_support;

use protocol_support::*;
use serde_json::json;
use shipcore::driver::{Driver, ErrorKind};
use shipcore::model::{Action, Revision, Target};
use shipcore_driver_k8s::{K8sConfig, ParentRef, RouteConfig};
use std::time::Duration;

const DEPLOYS: &str = "/apis/apps/v1/namespaces/default/deployments";
const ROUTES: &str = "/apis/gateway.networking.k8s.io/v1/namespaces/default/httproutes";

fn cfg() -> K8sConfig {
    K8sConfig::for_container("app", 8080).retire_delay(Duration::ZERO)
}

fn routed() -> K8sConfig {
    cfg().route(RouteConfig::Owned {
        name: "web".into(),
        parent_refs: vec![ParentRef::gateway("gw")],
        hostnames: vec![],
        matches: vec![],
    })
}

fn target() -> Target {
    Target::new("web", "prod")
}

#[tokio::test]
async fn observe_lists_by_label_and_reads_weights_from_the_route() {
    let (d, log) = driver(routed(), |s, _| {
        if s.path.starts_with(DEPLOYS) {
            let mut stale = owned_deployment("web-v2", "v2", 3, 3);
            stale["metadata"]["generation"] = json!(2);
            list(
                "DeploymentList",
                vec![owned_deployment("web-v1", "v1", 2, 5), stale],
                "9",
            )
        } else {
            (
                200,
                json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
                "metadata": {"name": "web"}, "spec": {"rules": [{"backendRefs": [
                    {"name": "web-v1", "weight": 2}, {"name": "web-v2"}, {"name": "other", "weight": 50}]}]}}),
            )
        }
    });
    let f = d.observe(&target()).await.unwrap();
    assert_eq!(
        lines(&log),
        [format!("GET {DEPLOYS}"), format!("GET {ROUTES}/web")]
    );
    let q = &snapshot(&log)[0].query;
    assert!(
        q.contains("labelSelector=shipcore.io%2Fservice%3Dweb"),
        "{q}"
    );
    let v1 = f.get(&"v1".into()).unwrap();
    // Available 5 of 2 desired: capped.
    assert_eq!((v1.desired, v1.ready, v1.weight), (2, 2, 67));
    let v2 = f.get(&"v2".into()).unwrap();
    // generation 2 not yet observed: not trusted.
    assert_eq!((v2.desired, v2.ready, v2.weight), (3, 0, 33));
}

#[tokio::test]
async fn a_deadline_failure_is_permanent_for_the_revision_deployed_last_only() {
    let failed = || {
        let mut d = owned_deployment("web-v2", "v2", 2, 0);
        d["status"]["conditions"] = json!([{"type": "Progressing", "status": "False",
            "reason": "ProgressDeadlineExceeded", "message": "ReplicaSet \"web-v2-5d9\" has timed out progressing."}]);
        d
    };
    let (d, _) = driver(cfg(), move |s, _| match s.method.as_str() {
        "GET" if s.path == DEPLOYS => list(
            "DeploymentList",
            vec![owned_deployment("web-v1", "v1", 2, 2), failed()],
            "5",
        ),
        "GET" => not_found(),
        _ => echo(s),
    });
    // Nobody waits for v2 (a fresh process): reported unready, no error.
    let f = d.observe(&target()).await.unwrap();
    assert_eq!(f.ready_of(&"v2".into()), 0);
    assert_eq!(f.weight_of(&"v1".into()), 100);
    let v2 = Revision::new("v2", "2.0.0".parse().unwrap(), "web:bad");
    d.apply(
        &target(),
        &Action::Deploy {
            revision: v2,
            replicas: 2,
        },
    )
    .await
    .unwrap();
    let e = d.observe(&target()).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Permanent);
    assert!(
        e.message.contains("revision v2") && e.message.contains("timed out progressing"),
        "{e}"
    );
    // Restoring stable: the caller now waits for v1, so observe works again.
    let v1 = Revision::new("v1", "1.0.0".parse().unwrap(), "web:1");
    d.apply(
        &target(),
        &Action::Deploy {
            revision: v1,
            replicas: 2,
        },
    )
    .await
    .unwrap();
    assert!(d.observe(&target()).await.is_ok());
}

#[tokio::test]
async fn errors_are_classified_from_status_answers() {
    for (answer, kind, needle) in [
        (
            status(
                429,
                "TooManyRequests",
                "Too many requests, please try again later.",
            ),
            ErrorKind::Transient,
            "429",
        ),
        (
            status(
                503,
                "ServiceUnavailable",
                "the server is currently unable to handle the request",
            ),
            ErrorKind::Transient,
            "503",
        ),
        (
            status(
                504,
                "Timeout",
                "Timeout: request did not complete within requested timeout",
            ),
            ErrorKind::Transient,
            "504",
        ),
        (
            status(500, "InternalError", "Internal error occurred"),
            ErrorKind::Transient,
            "500",
        ),
        (
            status(
                403,
                "Forbidden",
                "deployments.apps is forbidden: User \"ci\" cannot list resource \"deployments\"",
            ),
            ErrorKind::Permanent,
            "forbidden",
        ),
        (
            status(401, "Unauthorized", "Unauthorized"),
            ErrorKind::Permanent,
            "401",
        ),
        (
            status(400, "BadRequest", "unable to parse requirement"),
            ErrorKind::Permanent,
            "400",
        ),
        (
            (502, json!("<html>bad gateway</html>")),
            ErrorKind::Transient,
            "bad gateway",
        ),
    ] {
        let a = answer.clone();
        let (d, _) = driver(cfg(), move |_, _| a.clone());
        let e = d.observe(&target()).await.unwrap_err();
        assert_eq!(e.kind, kind, "{answer:?} -> {e}");
        assert!(e.message.contains(needle), "{e}");
    }
    // 422 on apply: the causes' fields are in the message; permanent.
    let (d, _) = driver(cfg(), |s, _| match s.method.as_str() {
        "GET" => not_found(),
        _ => (
            422,
            json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": "Deployment.apps \"web-v2\" is invalid: spec.template.spec.containers[0].image: Required value",
            "reason": "Invalid", "details": {"name": "web-v2", "group": "apps", "kind": "Deployment",
            "causes": [{"reason": "FieldValueRequired", "message": "Required value", "field": "spec.template.spec.containers[0].image"}]}, "code": 422}),
        ),
    });
    let v2 = Revision::new("v2", "2.0.0".parse().unwrap(), "");
    let e = d
        .apply(
            &target(),
            &Action::Deploy {
                revision: v2,
                replicas: 1,
            },
        )
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Permanent);
    assert!(
        e.message
            .contains("causes: spec.template.spec.containers[0].image: Required value"),
        "{e}"
    );
    // An apply conflict with another manager is permanent, a stale 409 is not.
    let (d, _) = driver(cfg(), |s, _| match s.method.as_str() {
        "GET" => not_found(),
        _ => status(
            409,
            "Conflict",
            "Apply failed with 1 conflict: conflict with \"kubectl\" using apps/v1: .spec.replicas",
        ),
    });
    let v2 = Revision::new("v2", "2.0.0".parse().unwrap(), "web:2");
    let e = d
        .apply(
            &target(),
            &Action::Deploy {
                revision: v2,
                replicas: 1,
            },
        )
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Permanent, "{e}");
}

#[tokio::test]
async fn wait_for_change_watches_from_the_list_version_and_relists_on_410() {
    let (d, log) = driver(cfg(), |s, n| {
        if s.query.contains("watch=true") {
            if n == 1 {
                // First watch: the version is too old.
                (
                    200,
                    json!({"type": "ERROR", "object": {"kind": "Status", "apiVersion": "v1", "metadata": {},
                    "status": "Failure", "message": "too old resource version: 9 (12)", "reason": "Expired", "code": 410}}),
                )
            } else {
                (
                    200,
                    json!({"type": "MODIFIED", "object": owned_deployment("web-v1", "v1", 2, 2)}),
                )
            }
        } else if n == 0 {
            list(
                "DeploymentList",
                vec![owned_deployment("web-v1", "v1", 2, 1)],
                "9",
            )
        } else {
            list(
                "DeploymentList",
                vec![owned_deployment("web-v1", "v1", 2, 1)],
                "12",
            )
        }
    });
    d.observe(&target()).await.unwrap();
    tokio::time::timeout(Duration::from_secs(5), d.wait_for_change(&target()))
        .await
        .unwrap();
    let l = snapshot(&log);
    assert!(
        l[1].has_query("watch=true") && l[1].has_query("resourceVersion=9"),
        "{}",
        l[1].query
    );
    assert!(l[1]
        .query
        .contains("labelSelector=shipcore.io%2Fservice%3Dweb"));
    // 410: relisted, and the new list version differs: something changed.
    assert_eq!(l[2].line(), format!("GET {DEPLOYS}"));
    assert!(!l[2].query.contains("watch"));
    assert_eq!(l.len(), 3);
    drop(l);

    // Unchanged after a relist: watch again from the new version, resolve on its event.
    let (d, log) = driver(cfg(), |s, n| {
        if s.query.contains("watch=true") && n == 1 {
            (
                200,
                json!({"type": "ERROR", "object": {"kind": "Status", "apiVersion": "v1", "metadata": {},
                "status": "Failure", "message": "too old", "reason": "Expired", "code": 410}}),
            )
        } else if s.query.contains("watch=true") {
            (
                200,
                json!({"type": "MODIFIED", "object": owned_deployment("web-v1", "v1", 2, 2)}),
            )
        } else {
            list("DeploymentList", vec![], "9")
        }
    });
    d.observe(&target()).await.unwrap();
    tokio::time::timeout(Duration::from_secs(5), d.wait_for_change(&target()))
        .await
        .unwrap();
    let l = snapshot(&log);
    assert_eq!(
        l.len(),
        4,
        "{:?}",
        l.iter().map(|s| s.line()).collect::<Vec<_>>()
    );
    assert!(l[3].has_query("watch=true") && l[3].has_query("resourceVersion=9"));
}

#[tokio::test]
async fn preflight_checks_namespace_api_permissions_and_dry_runs_the_apply() {
    let (d, log) = driver(routed(), |s, _| {
        match (s.method.as_str(), s.path.as_str()) {
            ("GET", "/api/v1/namespaces/default") => (
                200,
                json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "default"}}),
            ),
            ("GET", "/apis/gateway.networking.k8s.io/v1") => (
                200,
                json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": "gateway.networking.k8s.io/v1",
            "resources": [{"name": "httproutes", "singularName": "httproute", "namespaced": true, "kind": "HTTPRoute", "verbs": ["get", "patch"]}]}),
            ),
            ("POST", p) if p.ends_with("selfsubjectaccessreviews") => {
                let mut r = s.body.clone();
                let denied = r["spec"]["resourceAttributes"]["verb"] == "delete"
                    && r["spec"]["resourceAttributes"]["resource"] == "services";
                r["status"] = json!({"allowed": !denied});
                (201, r)
            }
            ("GET", _) => not_found(),
            _ => echo(s),
        }
    });
    let v2 = Revision::new("v2", "2.0.0".parse().unwrap(), "web:2");
    let e = d.preflight(&target(), &v2).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Permanent);
    assert!(e.message.contains("delete services"), "{e}");
    assert!(lines(&log).iter().all(|l| !l.starts_with("PATCH")));

    let (d, log) = driver(routed(), |s, _| {
        match (s.method.as_str(), s.path.as_str()) {
            ("GET", "/api/v1/namespaces/default") => (
                200,
                json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "default"}}),
            ),
            ("GET", "/apis/gateway.networking.k8s.io/v1") => (
                200,
                json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": "gateway.networking.k8s.io/v1",
            "resources": [{"name": "httproutes", "singularName": "httproute", "namespaced": true, "kind": "HTTPRoute", "verbs": ["get"]}]}),
            ),
            ("POST", _) => {
                let mut r = s.body.clone();
                r["status"] = json!({"allowed": true});
                (201, r)
            }
            ("GET", _) => not_found(),
            _ => echo(s),
        }
    });
    d.preflight(&target(), &v2).await.unwrap();
    let l = snapshot(&log);
    let apply = l.iter().find(|s| s.method == "PATCH").unwrap();
    assert_eq!(apply.path, format!("{DEPLOYS}/web-v2"));
    assert!(
        apply.has_query("dryRun=All") && apply.has_query("fieldManager=shipcore"),
        "{}",
        apply.query
    );
    assert!(l
        .iter()
        .all(|s| s.method == "GET" || s.method == "POST" || s.query.contains("dryRun=All")));

    // Missing namespace, Gateway API not served.
    let (d, _) = driver(routed(), |_, _| not_found());
    let e = d.preflight(&target(), &v2).await.unwrap_err();
    assert!(
        e.message.contains("namespace default does not exist"),
        "{e}"
    );
    let (d, _) = driver(routed(), |s, _| match s.path.as_str() {
        "/api/v1/namespaces/default" => (
            200,
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "default"}}),
        ),
        _ => not_found(),
    });
    let e = d.preflight(&target(), &v2).await.unwrap_err();
    assert!(e.message.contains("httproutes is not served"), "{e}");
}
