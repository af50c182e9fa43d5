//! Protocol tests for deploy, scale, route and retire: the exact method, path, query,
//! content type and body the driver sends, against a scripted tower-test apiserver.
#![allow(clippy::unwrap_used)]

mod protocol_support;

use protocol_support::*;
use serde_json::json;
use shipcore::driver::{Driver, ErrorKind};
use shipcore::model::{Action, Revision, RevisionId, Target, WeightSet};
use shipcore_driver_k8s::{K8sConfig, ParentRef, RouteConfig};
use std::time::Duration;

const DEPLOYS: &str = "/apis/apps/v1/namespaces/default/deployments";
const SERVICES: &str = "/api/v1/namespaces/default/services";
const ROUTES: &str = "/apis/gateway.networking.k8s.io/v1/namespaces/default/httproutes";
const HPAS: &str = "/apis/autoscaling/v2/namespaces/default/horizontalpodautoscalers";

fn cfg() -> K8sConfig {
    K8sConfig::for_container("app", 8080).retire_delay(Duration::ZERO)
}

fn owned_route_cfg() -> K8sConfig {
    cfg().route(RouteConfig::Owned {
        name: "web".into(),
        parent_refs: vec![ParentRef::gateway("gw")],
        hostnames: vec![],
        matches: vec![],
    })
}

fn v2() -> Revision {
    Revision::new("2.0.0", "2.0.0".parse().unwrap(), "registry/web:2.0.0")
}

fn target() -> Target {
    Target::new("web", "prod")
}

#[tokio::test]
async fn deploy_applies_deployment_then_service_server_side_without_force_when_new() {
    let name = shipcore_driver_k8s::names::object_name("web", &"2.0.0".into());
    let (d, log) = driver(cfg(), |s, _| {
        if s.method == "GET" {
            not_found()
        } else {
            echo(s)
        }
    });
    d.apply(
        &target(),
        &Action::Deploy {
            revision: v2(),
            replicas: 3,
        },
    )
    .await
    .unwrap();
    assert_eq!(
        lines(&log),
        [
            format!("GET {DEPLOYS}/{name}"),
            format!("PATCH {DEPLOYS}/{name}"),
            format!("GET {SERVICES}/{name}"),
            format!("PATCH {SERVICES}/{name}"),
            format!("GET {SERVICES}/web"),
            format!("PATCH {SERVICES}/web"),
        ]
    );
    let log = snapshot(&log);
    let apply = &log[1];
    assert_eq!(apply.content_type, "application/apply-patch+yaml");
    assert!(apply.has_query("fieldManager=shipcore"), "{}", apply.query);
    assert!(!apply.query.contains("force"), "{}", apply.query);
    let b = &apply.body;
    assert_eq!(b["kind"], "Deployment");
    assert_eq!(b["apiVersion"], "apps/v1");
    assert_eq!(b["spec"]["replicas"], 3);
    assert_eq!(b["spec"]["progressDeadlineSeconds"], 600);
    assert_eq!(
        b["spec"]["template"]["spec"]["containers"][0]["image"],
        "registry/web:2.0.0"
    );
    assert_eq!(
        b["metadata"]["annotations"]["shipcore.io/revision-id"],
        "2.0.0"
    );
    assert_eq!(
        b["metadata"]["labels"]["app.kubernetes.io/managed-by"],
        "shipcore"
    );
    assert_eq!(
        b["spec"]["selector"]["matchLabels"],
        json!({"shipcore.io/service": "web", "shipcore.io/environment": "prod", "shipcore.io/revision": "2.0.0"})
    );
    assert_eq!(log[3].body["spec"]["ports"][0]["targetPort"], 8080);
    assert_eq!(
        log[5].body["spec"]["selector"],
        json!({"shipcore.io/service": "web", "shipcore.io/environment": "prod"})
    );
}

#[tokio::test]
async fn deploy_forces_over_its_own_object_and_refuses_a_foreign_one() {
    let name = shipcore_driver_k8s::names::object_name("web", &"2.0.0".into());
    let n = name.clone();
    let (d, log) = driver(cfg(), move |s, _| {
        match (s.method.as_str(), s.path.as_str()) {
            ("GET", p) if p.ends_with(&format!("deployments/{n}")) => {
                (200, owned_deployment(&n, "2.0.0", 3, 3))
            }
            ("GET", p) if p.ends_with(&format!("services/{n}")) => {
                (200, owned_service(&n, "2.0.0"))
            }
            ("GET", _) => not_found(),
            _ => echo(s),
        }
    });
    d.apply(
        &target(),
        &Action::Deploy {
            revision: v2(),
            replicas: 3,
        },
    )
    .await
    .unwrap();
    let l = snapshot(&log);
    assert!(
        l[1].has_query("force=true") && l[1].has_query("fieldManager=shipcore"),
        "{}",
        l[1].query
    );
    assert!(l[3].has_query("force=true"));
    drop(l);

    let (d, log) = driver(cfg(), |s, _| {
        if s.method == "GET" {
            (
                200,
                json!({"apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": "x", "labels": {"app.kubernetes.io/managed-by": "helm"}}}),
            )
        } else {
            echo(s)
        }
    });
    let e = d
        .apply(
            &target(),
            &Action::Deploy {
                revision: v2(),
                replicas: 3,
            },
        )
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Permanent);
    assert!(
        e.message.contains("not managed by shipcore") && e.message.contains("helm"),
        "{e}"
    );
    assert_eq!(lines(&log).len(), 1, "nothing written: {:?}", lines(&log));
}

#[tokio::test]
async fn scale_merge_patches_the_scale_subresource_and_refuses_under_an_hpa() {
    let (d, log) = driver(cfg(), |s, _| match s.method.as_str() {
        "GET" if s.path.starts_with(HPAS) => list("HorizontalPodAutoscalerList", vec![], "1"),
        "GET" => (200, owned_deployment("web-v1", "v1", 2, 2)),
        _ => (
            200,
            json!({"apiVersion": "autoscaling/v1", "kind": "Scale", "metadata": {"name": "web-v1"}, "spec": {"replicas": 5}}),
        ),
    });
    d.apply(
        &target(),
        &Action::Scale {
            revision: "v1".into(),
            replicas: 5,
        },
    )
    .await
    .unwrap();
    let l = snapshot(&log);
    assert_eq!(l[2].line(), format!("PATCH {DEPLOYS}/web-v1/scale"));
    assert_eq!(l[2].content_type, "application/merge-patch+json");
    assert_eq!(l[2].body, json!({"spec": {"replicas": 5}}));
    assert!(l[2].has_query("fieldManager=shipcore"));
    drop(l);

    let (d, log) = driver(cfg(), |s, _| match s.method.as_str() {
        "GET" if s.path.starts_with(HPAS) => list(
            "HorizontalPodAutoscalerList",
            vec![json!({
            "metadata": {"name": "web-hpa"},
            "spec": {"maxReplicas": 9, "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web-v1"}}})],
            "1",
        ),
        "GET" => (200, owned_deployment("web-v1", "v1", 2, 2)),
        _ => echo(s),
    });
    let e = d
        .apply(
            &target(),
            &Action::Scale {
                revision: "v1".into(),
                replicas: 5,
            },
        )
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Permanent);
    assert!(
        e.message
            .contains("HorizontalPodAutoscaler default/web-hpa"),
        "{e}"
    );
    assert!(lines(&log).iter().all(|l| !l.starts_with("PATCH")));

    // An absent revision: scale to 0 succeeds, to more is refused.
    let (d, _) = driver(cfg(), |_, _| not_found());
    d.apply(
        &target(),
        &Action::Scale {
            revision: "v9".into(),
            replicas: 0,
        },
    )
    .await
    .unwrap();
    let e = d
        .apply(
            &target(),
            &Action::Scale {
                revision: "v9".into(),
                replicas: 1,
            },
        )
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Permanent);
}

fn two_ready() -> protocol_support::Answer {
    list(
        "DeploymentList",
        vec![
            owned_deployment("web-v1", "v1", 2, 2),
            owned_deployment("web-v2", "v2", 2, 2),
        ],
        "40",
    )
}

#[tokio::test]
async fn owned_route_is_applied_whole_with_explicit_group_kind_port_weight() {
    let (d, log) = driver(owned_route_cfg(), |s, _| match s.method.as_str() {
        "GET" if s.path.starts_with(DEPLOYS) => two_ready(),
        "GET" => not_found(),
        _ => echo(s),
    });
    let w = WeightSet(vec![
        (RevisionId::new("v1"), 70),
        (RevisionId::new("v2"), 30),
    ]);
    d.apply(&target(), &Action::Route { weights: w })
        .await
        .unwrap();
    let l = snapshot(&log);
    assert_eq!(l[0].line(), format!("GET {DEPLOYS}"));
    assert!(l[0].query.contains("labelSelector=shipcore.io%2Fservice%3Dweb%2Cshipcore.io%2Fenvironment%3Dprod%2Capp.kubernetes.io%2Fmanaged-by%3Dshipcore"), "{}", l[0].query);
    let apply = l.iter().find(|s| s.method == "PATCH").unwrap();
    assert_eq!(apply.path, format!("{ROUTES}/web"));
    assert_eq!(apply.content_type, "application/apply-patch+yaml");
    assert!(!apply.query.contains("force"));
    assert_eq!(apply.body["spec"]["parentRefs"][0]["name"], "gw");
    assert_eq!(
        apply.body["spec"]["rules"][0]["backendRefs"],
        json!([
            {"group": "", "kind": "Service", "name": "web-v1", "port": 80, "weight": 70},
            {"group": "", "kind": "Service", "name": "web-v2", "port": 80, "weight": 30}
        ])
    );
}

#[tokio::test]
async fn route_refuses_bad_weights_absent_revisions_and_waits_for_ready_ones() {
    let (d, log) = driver(owned_route_cfg(), |s, _| match s.method.as_str() {
        "GET" if s.path.starts_with(DEPLOYS) => list(
            "DeploymentList",
            vec![
                owned_deployment("web-v1", "v1", 2, 2),
                owned_deployment("web-v2", "v2", 2, 0),
            ],
            "3",
        ),
        "GET" => not_found(),
        _ => echo(s),
    });
    let route = |p: &[(&str, u8)]| Action::Route {
        weights: WeightSet(p.iter().map(|(r, w)| (RevisionId::new(*r), *w)).collect()),
    };
    let e = d.apply(&target(), &route(&[("v1", 90)])).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Permanent);
    let e = d
        .apply(&target(), &route(&[("v1", 50), ("v9", 50)]))
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Permanent);
    assert!(e.message.contains("v9"));
    let e = d
        .apply(&target(), &route(&[("v1", 50), ("v2", 50)]))
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Transient, "{e}");
    assert!(
        lines(&log).iter().all(|l| !l.starts_with("PATCH")),
        "{:?}",
        lines(&log)
    );

    let (d, _) = driver(cfg(), |_, _| not_found());
    let e = d
        .apply(&target(), &route(&[("v1", 100)]))
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Permanent);
    assert!(e.message.contains("no HTTPRoute configured"));
}

#[tokio::test]
async fn user_owned_route_is_put_with_its_resource_version_and_reread_on_409() {
    let cfg = cfg().route(RouteConfig::UserOwned {
        name: "shop".into(),
        conflict_retries: 2,
    });
    let (d, log) = driver(cfg, |s, n| {
        match s.method.as_str() {
        "GET" if s.path.starts_with(DEPLOYS) => two_ready(),
        "GET" => (200, json!({
            "apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
            "metadata": {"name": "shop", "namespace": "default", "resourceVersion": format!("{}", 100 + n)},
            "spec": {"parentRefs": [{"name": "gw"}], "rules": [
                {"backendRefs": [{"name": "legacy", "port": 81, "weight": 1}, {"name": "web-v1", "port": 80, "weight": 100}]}]}})),
        "PUT" if n < 3 => status(409, "Conflict", "Operation cannot be fulfilled on httproutes.gateway.networking.k8s.io \"shop\": the object has been modified; please apply your changes to the latest version and try again"),
        _ => echo(s),
    }
    });
    let w = WeightSet(vec![
        (RevisionId::new("v1"), 80),
        (RevisionId::new("v2"), 20),
    ]);
    d.apply(&target(), &Action::Route { weights: w })
        .await
        .unwrap();
    assert_eq!(
        lines(&log),
        [
            format!("GET {DEPLOYS}"),
            format!("GET {ROUTES}/shop"),
            format!("PUT {ROUTES}/shop"),
            format!("GET {ROUTES}/shop"),
            format!("PUT {ROUTES}/shop"),
        ]
    );
    let l = snapshot(&log);
    assert_eq!(l[2].body["metadata"]["resourceVersion"], "101");
    assert_eq!(l[4].body["metadata"]["resourceVersion"], "103");
    assert_eq!(l[4].content_type, "application/json");
    assert_eq!(
        l[4].body["spec"]["rules"][0]["backendRefs"],
        json!([
            {"name": "legacy", "port": 81, "weight": 1},
            {"group": "", "kind": "Service", "name": "web-v1", "port": 80, "weight": 80},
            {"group": "", "kind": "Service", "name": "web-v2", "port": 80, "weight": 20}
        ])
    );
}

#[tokio::test]
async fn user_owned_route_conflicts_are_bounded_and_transient() {
    let cfg = cfg().route(RouteConfig::UserOwned {
        name: "shop".into(),
        conflict_retries: 1,
    });
    let (d, log) = driver(cfg, |s, _| {
        match s.method.as_str() {
        "GET" if s.path.starts_with(DEPLOYS) => two_ready(),
        "GET" => (200, json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
            "metadata": {"name": "shop", "resourceVersion": "1"}, "spec": {"rules": [{"backendRefs": []}]}})),
        _ => status(409, "Conflict", "the object has been modified; please apply your changes to the latest version and try again"),
    }
    });
    let w = WeightSet(vec![(RevisionId::new("v1"), 100)]);
    let e = d
        .apply(&target(), &Action::Route { weights: w })
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Transient);
    assert_eq!(
        lines(&log).iter().filter(|l| l.starts_with("PUT")).count(),
        2
    );
}

#[tokio::test]
async fn retire_leaves_the_route_first_then_deletes_service_and_deployment_404_is_success() {
    let (d, log) = driver(owned_route_cfg(), |s, _| match s.method.as_str() {
        "GET" if s.path == format!("{DEPLOYS}/web-v2") => {
            (200, owned_deployment("web-v2", "v2", 2, 2))
        }
        "GET" if s.path == format!("{SERVICES}/web-v2") => (200, owned_service("web-v2", "v2")),
        "GET" if s.path.starts_with(DEPLOYS) => two_ready(),
        "GET" => (
            200,
            json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
            "metadata": {"name": "web", "labels": {"app.kubernetes.io/managed-by": "shipcore"}},
            "spec": {"rules": [{"backendRefs": [
                {"group": "", "kind": "Service", "name": "web-v1", "port": 80, "weight": 100},
                {"group": "", "kind": "Service", "name": "web-v2", "port": 80, "weight": 0}]}]}}),
        ),
        "DELETE" if s.path.contains("services") => not_found(),
        "DELETE" => (
            200,
            json!({"kind": "Status", "apiVersion": "v1", "status": "Success", "metadata": {}}),
        ),
        _ => echo(s),
    });
    d.apply(
        &target(),
        &Action::Retire {
            revision: "v2".into(),
        },
    )
    .await
    .unwrap();
    let l = lines(&log);
    let patch = l
        .iter()
        .position(|x| x == &format!("PATCH {ROUTES}/web"))
        .unwrap();
    let del_svc = l
        .iter()
        .position(|x| x == &format!("DELETE {SERVICES}/web-v2"))
        .unwrap();
    let del_dep = l
        .iter()
        .position(|x| x == &format!("DELETE {DEPLOYS}/web-v2"))
        .unwrap();
    assert!(patch < del_svc && del_svc < del_dep, "{l:?}");
    let log = snapshot(&log);
    assert_eq!(
        log[patch].body["spec"]["rules"][0]["backendRefs"],
        json!([{"group": "", "kind": "Service", "name": "web-v1", "port": 80, "weight": 100}])
    );
    assert!(log[patch].has_query("force=true"));
    assert!(
        log[del_dep].body.to_string().contains("Background"),
        "{}",
        log[del_dep].body
    );

    // Never deployed: nothing to delete, success.
    let (d, log) = driver(cfg(), |_, _| not_found());
    d.apply(
        &target(),
        &Action::Retire {
            revision: "v9".into(),
        },
    )
    .await
    .unwrap();
    assert!(lines(&log).iter().all(|l| l.starts_with("GET")));
}

#[tokio::test]
async fn retire_waits_the_delay_after_leaving_the_route() {
    let cfg = owned_route_cfg().retire_delay(Duration::from_millis(300));
    let (d, log) = driver(cfg, |s, _| match s.method.as_str() {
        "GET" if s.path == format!("{DEPLOYS}/web-v2") => {
            (200, owned_deployment("web-v2", "v2", 1, 1))
        }
        "GET" if s.path.starts_with(DEPLOYS) => two_ready(),
        "GET" if s.path.starts_with(ROUTES) => (
            200,
            json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
            "metadata": {"name": "web", "labels": {"app.kubernetes.io/managed-by": "shipcore"}},
            "spec": {"rules": [{"backendRefs": [{"name": "web-v2", "weight": 0}]}]}}),
        ),
        "GET" => not_found(),
        "DELETE" => not_found(),
        _ => echo(s),
    });
    let start = std::time::Instant::now();
    d.apply(
        &target(),
        &Action::Retire {
            revision: "v2".into(),
        },
    )
    .await
    .unwrap();
    assert!(start.elapsed() >= Duration::from_millis(300));
    assert!(lines(&log).last().unwrap().starts_with("DELETE"));
}

#[tokio::test]
async fn set_flag_and_empty_ids_are_refused_permanently_without_a_request() {
    let (d, log) = driver(cfg(), |_, _| not_found());
    let e = d
        .apply(
            &target(),
            &Action::SetFlag {
                flag: "f".into(),
                percent: 5,
            },
        )
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Permanent);
    let mut r = v2();
    r.id = RevisionId::new("");
    let e = d
        .apply(
            &target(),
            &Action::Deploy {
                revision: r,
                replicas: 1,
            },
        )
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Permanent);
    assert!(lines(&log).is_empty());
}
