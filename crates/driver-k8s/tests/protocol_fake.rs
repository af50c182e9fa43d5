//! The driver against the fake apiserver's stateful behaviour: preflight (read-only,
//! permissions, Gateway API, namespace), ownership of foreign objects, an HPA, a
//! user-owned route with fields of its own and a 409, injected faults, a hung apiserver
//! over loopback HTTP, and every written object round-tripping through k8s-openapi.
#![allow(clippy::unwrap_used)]

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Service;
use serde_json::{json, Value};
use shipcore::driver::{Driver, ErrorKind};
use shipcore::model::{Action, Revision, RevisionId, Target, WeightSet};
use shipcore_driver_k8s::fake::{FakeApiServer, Fault, FaultAnswer};
use shipcore_driver_k8s::{K8sConfig, K8sDriver, ParentRef, RouteConfig};
use std::time::Duration;

fn owned() -> RouteConfig {
    RouteConfig::Owned {
        name: "web".into(),
        parent_refs: vec![ParentRef::gateway("gw")],
        hostnames: vec![],
        matches: vec![],
    }
}

fn cfg() -> K8sConfig {
    K8sConfig::for_container("app", 8080).retire_delay(Duration::ZERO)
}

fn rev(id: &str) -> Revision {
    Revision::new(id, "1.0.0".parse().unwrap(), format!("registry/web:{id}"))
}

fn target() -> Target {
    Target::new("web", "prod")
}

fn deploy(id: &str, n: u32) -> Action {
    Action::Deploy {
        revision: rev(id),
        replicas: n,
    }
}

#[tokio::test]
async fn preflight_is_read_only_and_names_what_is_missing() {
    let fake = FakeApiServer::new();
    let d = K8sDriver::new(fake.client(), cfg().route(owned())).unwrap();
    d.preflight(&target(), &rev("v1")).await.unwrap();
    let writes: Vec<_> = fake
        .requests()
        .into_iter()
        .filter(|r| r.method != http::Method::GET && !r.path.contains("selfsubjectaccessreviews"))
        .collect();
    assert!(
        writes
            .iter()
            .all(|r| r.query_param("dryRun").as_deref() == Some("All")),
        "{writes:?}"
    );
    assert!(!writes.is_empty(), "the Deployment is dry-run applied");
    assert!(fake.objects("apps/v1", "deployments", None).is_empty());

    fake.deny("patch", "deployments");
    let e = d.preflight(&target(), &rev("v1")).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Permanent);
    assert!(e.message.contains("patch deployments"), "{e}");

    let fake = FakeApiServer::new().without_gateway_api();
    let d = K8sDriver::new(fake.client(), cfg().route(owned())).unwrap();
    let e = d.preflight(&target(), &rev("v1")).await.unwrap_err();
    assert!(e.message.contains("gateway.networking.k8s.io/v1"), "{e}");
    // Without a route the Gateway API is not needed.
    let d = K8sDriver::new(fake.client(), cfg()).unwrap();
    d.preflight(&target(), &rev("v1")).await.unwrap();
    let mut elsewhere = target();
    elsewhere.namespace = Some("missing".into());
    let e = d.preflight(&elsewhere, &rev("v1")).await.unwrap_err();
    assert!(
        e.message.contains("namespace missing does not exist"),
        "{e}"
    );
}

#[tokio::test]
async fn foreign_objects_are_never_taken_over_and_an_hpa_blocks_scaling() {
    let fake = FakeApiServer::new();
    let foreign = json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web-v1", "namespace": "default", "labels": {"app": "web"}},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "app", "image": "theirs"}]}}}});
    fake.put_object(foreign).unwrap();
    let d = K8sDriver::new(fake.client(), cfg()).unwrap();
    let e = d.apply(&target(), &deploy("v1", 2)).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Permanent);
    assert!(e.message.contains("not managed by shipcore"), "{e}");
    let e = d.preflight(&target(), &rev("v1")).await.unwrap_err();
    assert!(e.message.contains("not managed by shipcore"), "{e}");
    let kept = fake
        .object("apps/v1", "deployments", "default", "web-v1")
        .unwrap();
    assert_eq!(
        kept["spec"]["template"]["spec"]["containers"][0]["image"],
        "theirs"
    );
    let e = d
        .apply(
            &target(),
            &Action::Retire {
                revision: "v1".into(),
            },
        )
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Permanent);
    assert!(fake
        .object("apps/v1", "deployments", "default", "web-v1")
        .is_some());

    d.apply(&target(), &deploy("v2", 2)).await.unwrap();
    fake.put_object(json!({"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {"minReplicas": 1, "maxReplicas": 5, "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web-v2"}}}))
        .unwrap();
    let e = d
        .apply(
            &target(),
            &Action::Scale {
                revision: "v2".into(),
                replicas: 4,
            },
        )
        .await
        .unwrap_err();
    assert!(
        e.message.contains("HorizontalPodAutoscaler default/web"),
        "{e}"
    );
    let e = d.apply(&target(), &deploy("v2", 4)).await.unwrap_err();
    assert!(e.message.contains("HorizontalPodAutoscaler"), "{e}");
    // Same replicas: nothing for the HPA to fight over.
    d.apply(&target(), &deploy("v2", 2)).await.unwrap();
    let now = fake
        .object("apps/v1", "deployments", "default", "web-v2")
        .unwrap();
    assert_eq!(now["spec"]["replicas"], 2);
}

async fn ready(d: &K8sDriver, ids: &[&str]) {
    for _ in 0..500 {
        let f = d.observe(&target()).await.unwrap();
        if ids.iter().all(|i| f.ready_of(&(*i).into()) > 0) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("never ready");
}

#[tokio::test]
async fn a_user_owned_route_keeps_its_own_fields_and_survives_a_409() {
    let fake = FakeApiServer::new();
    fake.put_object(json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
        "metadata": {"name": "shop", "namespace": "default", "labels": {"team": "shop"}},
        "spec": {"parentRefs": [{"name": "gw"}], "hostnames": ["shop.example"], "rules": [
            {"matches": [{"path": {"type": "PathPrefix", "value": "/legacy"}}], "backendRefs": [{"name": "legacy", "port": 81}]},
            {"filters": [{"type": "RequestHeaderModifier", "requestHeaderModifier": {"add": [{"name": "x-canary", "value": "1"}]}}],
             "backendRefs": []}]}}))
        .unwrap();
    let before = fake
        .object(
            "gateway.networking.k8s.io/v1",
            "httproutes",
            "default",
            "shop",
        )
        .unwrap();
    let d = K8sDriver::new(
        fake.client(),
        cfg().route(RouteConfig::UserOwned {
            name: "shop".into(),
            conflict_retries: 3,
        }),
    )
    .unwrap();
    d.apply(&target(), &deploy("v1", 1)).await.unwrap();
    d.apply(&target(), &deploy("v2", 1)).await.unwrap();
    ready(&d, &["v1", "v2"]).await;
    fake.inject(
        Fault::new("httproutes/shop", 1, FaultAnswer::Status(409)).method(http::Method::PUT),
    );
    let w = WeightSet(vec![
        (RevisionId::new("v1"), 60),
        (RevisionId::new("v2"), 40),
    ]);
    d.apply(&target(), &Action::Route { weights: w })
        .await
        .unwrap();
    let after = fake
        .object(
            "gateway.networking.k8s.io/v1",
            "httproutes",
            "default",
            "shop",
        )
        .unwrap();
    assert_eq!(after["metadata"]["labels"], before["metadata"]["labels"]);
    assert_eq!(after["spec"]["hostnames"], before["spec"]["hostnames"]);
    assert_eq!(after["spec"]["rules"][0], before["spec"]["rules"][0]);
    assert_eq!(
        after["spec"]["rules"][1]["filters"],
        before["spec"]["rules"][1]["filters"]
    );
    // No rule held ours yet: the rule the user left without backends takes them.
    let refs: Vec<(String, i64)> = after["spec"]["rules"][1]["backendRefs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            (
                b["name"].as_str().unwrap().to_string(),
                b["weight"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        refs,
        [("web-v1".to_string(), 60), ("web-v2".to_string(), 40)]
    );
    let f = d.observe(&target()).await.unwrap();
    assert_eq!(
        (f.weight_of(&"v1".into()), f.weight_of(&"v2".into())),
        (60, 40)
    );
    let puts = fake
        .requests()
        .iter()
        .filter(|r| r.method == http::Method::PUT)
        .count();
    assert!(puts >= 2, "the 409 was retried by re-reading: {puts}");
}

#[tokio::test]
async fn injected_faults_are_transient_and_the_action_succeeds_when_retried() {
    let fake = FakeApiServer::new();
    let d = K8sDriver::new(fake.client(), cfg().route(owned())).unwrap();
    for code in [429u16, 500, 503, 504] {
        fake.inject(Fault::new("deployments", 1, FaultAnswer::Status(code)));
        let e = d.apply(&target(), &deploy("v1", 1)).await.unwrap_err();
        assert_eq!(e.kind, ErrorKind::Transient, "{code}: {e}");
    }
    d.apply(&target(), &deploy("v1", 1)).await.unwrap();
    fake.inject(Fault::new("httproutes", 1, FaultAnswer::Status(500)));
    assert!(d.observe(&target()).await.unwrap_err().is_transient());
    ready(&d, &["v1"]).await;
}

#[tokio::test]
async fn a_hung_apiserver_is_a_transient_timeout_over_loopback_http() {
    let fake = FakeApiServer::new();
    let lb = fake.serve().await.unwrap();
    let kc = kube::config::Kubeconfig::read_from(&lb.kubeconfig).unwrap();
    let mut config = kube::Config::from_custom_kubeconfig(kc, &Default::default())
        .await
        .unwrap();
    let cfg = cfg().timeout(Duration::from_millis(300));
    K8sDriver::tune(&mut config, &cfg);
    assert!(!config.default_retry);
    let d = K8sDriver::from_kube_config(config, cfg).unwrap();
    d.apply(&target(), &deploy("v1", 1)).await.unwrap();
    fake.inject(Fault::new("deployments", 1, FaultAnswer::Hang));
    let start = std::time::Instant::now();
    let e = d.observe(&target()).await.unwrap_err();
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(e.kind, ErrorKind::Transient, "{e}");
    assert!(d.observe(&target()).await.is_ok());
}

#[tokio::test]
async fn every_object_the_driver_writes_round_trips_through_k8s_openapi() {
    let fake = FakeApiServer::new();
    let d = K8sDriver::new(fake.client(), cfg()).unwrap();
    d.apply(&target(), &deploy("v1", 2)).await.unwrap();
    d.apply(&target(), &deploy("2.0.0_build.7", 1))
        .await
        .unwrap();
    let mut checked = 0;
    for r in fake.requests() {
        if r.method != http::Method::PATCH || r.body.is_empty() {
            continue;
        }
        let body: Value = serde_json::from_str(&r.body).unwrap();
        let again = if r.path.contains("/deployments/") {
            serde_json::to_value(serde_json::from_value::<Deployment>(body.clone()).unwrap())
                .unwrap()
        } else {
            serde_json::to_value(serde_json::from_value::<Service>(body.clone()).unwrap()).unwrap()
        };
        assert_eq!(again, body, "{}", r.path);
        checked += 1;
    }
    assert_eq!(
        checked, 6,
        "two Deployments, two Services, the apex Service twice"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pods_stuck_in_err_image_pull_past_the_deadline_fail_the_revision_being_waited_for() {
    use shipcore_driver_k8s::fake::ControllerSettings;
    let fake = FakeApiServer::new();
    // The Deployment itself would only give up after 100 × 1 s: the pods tell first.
    fake.set_controller(ControllerSettings {
        ready_after: Duration::from_millis(20),
        bad_images: vec!["bad".into()],
        observe_lag: Duration::from_millis(5),
        deadline_scale: 100.0,
    });
    let d = K8sDriver::new(
        fake.client(),
        cfg().progress_deadline(Duration::from_secs(1)),
    )
    .unwrap();
    let bad = Revision::new("v2", "2.0.0".parse().unwrap(), "registry/web:bad");
    d.apply(
        &target(),
        &Action::Deploy {
            revision: bad,
            replicas: 1,
        },
    )
    .await
    .unwrap();
    // Before the deadline: unready, no error.
    let f = d.observe(&target()).await.unwrap();
    assert_eq!(f.ready_of(&"v2".into()), 0);
    let start = std::time::Instant::now();
    let e = loop {
        match d.observe(&target()).await {
            Err(e) => break e,
            Ok(_) => {
                assert!(start.elapsed() < Duration::from_secs(5), "never failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    };
    assert_eq!(e.kind, ErrorKind::Permanent);
    assert!(
        e.message.contains("revision v2") && e.message.contains("ErrImagePull"),
        "{e}"
    );
}

#[tokio::test]
async fn a_revision_is_not_scaled_to_zero_while_the_route_sends_it_traffic() {
    let fake = FakeApiServer::new();
    let d = K8sDriver::new(fake.client(), cfg().route(owned())).unwrap();
    d.apply(&target(), &deploy("v1", 2)).await.unwrap();
    d.apply(&target(), &deploy("v2", 2)).await.unwrap();
    ready(&d, &["v1", "v2"]).await;
    let split = |a: u8| Action::Route {
        weights: WeightSet(vec![
            (RevisionId::new("v1"), a),
            (RevisionId::new("v2"), 100 - a),
        ]),
    };
    d.apply(&target(), &split(50)).await.unwrap();
    for action in [
        deploy("v2", 0),
        Action::Scale {
            revision: "v2".into(),
            replicas: 0,
        },
    ] {
        let e = d.apply(&target(), &action).await.unwrap_err();
        assert_eq!(e.kind, ErrorKind::Permanent);
        assert!(e.message.contains("still takes traffic"), "{e}");
    }
    assert_eq!(
        fake.object("apps/v1", "deployments", "default", "web-v2")
            .unwrap()["spec"]["replicas"],
        2
    );
    // Once the traffic left it, it may go to 0.
    d.apply(&target(), &split(100)).await.unwrap();
    d.apply(
        &target(),
        &Action::Scale {
            revision: "v2".into(),
            replicas: 0,
        },
    )
    .await
    .unwrap();
    assert_eq!(
        fake.object("apps/v1", "deployments", "default", "web-v2")
            .unwrap()["spec"]["replicas"],
        0
    );
}
