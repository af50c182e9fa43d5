//! The fake apiserver through kube::Api with typed k8s-openapi structs: CRUD, 409s, 422s,
//! dryRun, server-side apply, selectors, the scale subresource and faults.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Namespace, Service};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::core::{DynamicObject, GroupVersionKind};
use kube::discovery::ApiResource;
use serde_json::json;
use shipcore_driver_k8s::fake::{ControllerSettings, FakeApiServer, Fault, FaultAnswer};

fn deployment(name: &str, image: &str) -> Deployment {
    serde_json::from_value(json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "labels": {"app": name, "tier": "web"}},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}},
                         "spec": {"containers": [{"name": "app", "image": image}]}}
        }
    }))
    .expect("valid deployment")
}

fn status_of(e: kube::Error) -> kube::core::Status {
    match e {
        kube::Error::Api(s) => *s,
        other => panic!("expected an API error, got {other:?}"),
    }
}

#[tokio::test]
async fn create_get_list_update_delete_round_trip_typed() {
    let fake = FakeApiServer::new();
    // The controller's status writes bump resourceVersion as on a cluster; keep it still so
    // the replaces below race nothing.
    fake.set_controller(ControllerSettings {
        observe_lag: std::time::Duration::from_secs(3600),
        ..Default::default()
    });
    let api: Api<Deployment> = Api::default_namespaced(fake.client());
    let created = api
        .create(&PostParams::default(), &deployment("web", "web:1"))
        .await
        .expect("create");
    let meta = &created.metadata;
    assert!(meta.uid.is_some() && meta.creation_timestamp.is_some());
    assert_eq!(meta.generation, Some(1));
    assert_eq!(
        created
            .spec
            .as_ref()
            .and_then(|s| s.progress_deadline_seconds),
        Some(600),
        "defaulted"
    );

    let got = api.get("web").await.expect("get");
    assert_eq!(got.metadata.uid, meta.uid);

    let list = api
        .list(&ListParams::default().labels("tier=web,app in (web,other)"))
        .await
        .expect("list");
    assert_eq!(list.items.len(), 1);
    assert!(list.metadata.resource_version.is_some());
    assert!(api
        .list(&ListParams::default().labels("app notin (web)"))
        .await
        .expect("list")
        .items
        .is_empty());
    assert_eq!(
        api.list(&ListParams::default().fields("metadata.name=web"))
            .await
            .expect("list")
            .items
            .len(),
        1
    );

    // A label-only change leaves generation alone; a spec change bumps it.
    let mut changed = got.clone();
    changed
        .metadata
        .labels
        .get_or_insert_default()
        .insert("x".into(), "y".into());
    let after = api
        .replace("web", &PostParams::default(), &changed)
        .await
        .expect("replace");
    assert_eq!(after.metadata.generation, Some(1));
    assert_ne!(
        after.metadata.resource_version,
        got.metadata.resource_version
    );
    let mut spec_change = after.clone();
    spec_change.spec.as_mut().expect("spec").replicas = Some(5);
    let after2 = api
        .replace("web", &PostParams::default(), &spec_change)
        .await
        .expect("replace");
    assert_eq!(after2.metadata.generation, Some(2));

    // Stale resourceVersion: 409 Conflict.
    let st = status_of(
        api.replace("web", &PostParams::default(), &changed)
            .await
            .expect_err("stale"),
    );
    assert_eq!((st.code, st.reason.as_str()), (409, "Conflict"));
    assert!(
        st.message.contains("the object has been modified"),
        "{}",
        st.message
    );

    api.delete("web", &DeleteParams::default())
        .await
        .expect("delete");
    let st = status_of(api.get("web").await.expect_err("gone"));
    assert_eq!((st.code, st.reason.as_str()), (404, "NotFound"));
    assert_eq!(st.message, "deployments.apps \"web\" not found");
    let st = status_of(
        api.delete("web", &DeleteParams::default())
            .await
            .expect_err("gone"),
    );
    assert_eq!(st.code, 404);
}

#[tokio::test]
async fn already_exists_invalid_names_and_immutable_selector() {
    let fake = FakeApiServer::new();
    fake.set_controller(ControllerSettings {
        observe_lag: std::time::Duration::from_secs(3600),
        ..Default::default()
    });
    let api: Api<Deployment> = Api::default_namespaced(fake.client());
    api.create(&PostParams::default(), &deployment("web", "web:1"))
        .await
        .expect("create");
    let st = status_of(
        api.create(&PostParams::default(), &deployment("web", "web:1"))
            .await
            .expect_err("dup"),
    );
    assert_eq!((st.code, st.reason.as_str()), (409, "AlreadyExists"));

    let st = status_of(
        api.create(&PostParams::default(), &deployment("Web_1", "x"))
            .await
            .expect_err("name"),
    );
    assert_eq!((st.code, st.reason.as_str()), (422, "Invalid"));
    let causes = st.details.expect("details").causes;
    assert_eq!(causes[0].field, "metadata.name");

    // Dots are fine in a Deployment name (DNS-1123 subdomain) but not in a Service name.
    api.create(&PostParams::default(), &deployment("web-2.0.0", "x"))
        .await
        .expect("subdomain name");
    let svc: Service = serde_json::from_value(json!({
        "metadata": {"name": "web-2.0.0"}, "spec": {"ports": [{"port": 80}], "selector": {"app": "web"}}
    }))
    .expect("svc");
    let svcs: Api<Service> = Api::default_namespaced(fake.client());
    let st = status_of(
        svcs.create(&PostParams::default(), &svc)
            .await
            .expect_err("dns-1035"),
    );
    assert_eq!(st.code, 422);
    assert!(st.message.contains("DNS-1035"), "{}", st.message);

    let mut moved = api.get("web").await.expect("get");
    let spec = moved.spec.as_mut().expect("spec");
    spec.selector.match_labels = Some([("app".to_string(), "other".to_string())].into());
    spec.template.metadata.as_mut().expect("meta").labels =
        Some([("app".to_string(), "other".to_string())].into());
    let st = status_of(
        api.replace("web", &PostParams::default(), &moved)
            .await
            .expect_err("immutable"),
    );
    assert_eq!(st.code, 422);
    let fields: Vec<String> = st
        .details
        .expect("details")
        .causes
        .into_iter()
        .map(|c| c.field)
        .collect();
    assert_eq!(fields, vec!["spec.selector"]);
    assert!(st.message.contains("field is immutable"), "{}", st.message);
}

#[tokio::test]
async fn dry_run_changes_nothing() {
    let fake = FakeApiServer::new();
    let api: Api<Deployment> = Api::default_namespaced(fake.client());
    let pp = PostParams {
        dry_run: true,
        ..Default::default()
    };
    let answered = api
        .create(&pp, &deployment("web", "web:1"))
        .await
        .expect("dry create");
    assert_eq!(answered.metadata.name.as_deref(), Some("web"));
    assert!(fake
        .object("apps/v1", "deployments", "default", "web")
        .is_none());
    let ssa = PatchParams::apply("shipcore").dry_run();
    api.patch("web", &ssa, &Patch::Apply(deployment("web", "web:1")))
        .await
        .expect("dry apply");
    assert!(fake
        .object("apps/v1", "deployments", "default", "web")
        .is_none());
    // A dry-run apply still validates.
    let st = status_of(
        api.patch("Bad", &ssa, &Patch::Apply(deployment("Bad", "x")))
            .await
            .expect_err("422"),
    );
    assert_eq!(st.code, 422);
    api.create(&PostParams::default(), &deployment("web", "web:1"))
        .await
        .expect("create");
    api.delete("web", &DeleteParams::default().dry_run())
        .await
        .expect("dry delete");
    assert!(fake
        .object("apps/v1", "deployments", "default", "web")
        .is_some());
}

#[tokio::test]
async fn server_side_apply_requires_manager_and_refuses_other_managers_without_force() {
    let fake = FakeApiServer::new();
    let api: Api<Deployment> = Api::default_namespaced(fake.client());
    let st = status_of(
        api.patch(
            "web",
            &PatchParams::default(),
            &Patch::Apply(deployment("web", "web:1")),
        )
        .await
        .expect_err("no manager"),
    );
    assert_eq!(st.code, 422);
    assert_eq!(st.details.expect("details").causes[0].field, "fieldManager");

    let created = api
        .patch(
            "web",
            &PatchParams::apply("shipcore"),
            &Patch::Apply(deployment("web", "web:1")),
        )
        .await
        .expect("apply");
    assert_eq!(created.metadata.generation, Some(1));
    // Same manager, same config: no change at all.
    let again = api
        .patch(
            "web",
            &PatchParams::apply("shipcore"),
            &Patch::Apply(deployment("web", "web:1")),
        )
        .await
        .expect("apply");
    assert_eq!(
        again.metadata.resource_version,
        created.metadata.resource_version
    );
    let st = status_of(
        api.patch(
            "web",
            &PatchParams::apply("other"),
            &Patch::Apply(deployment("web", "web:2")),
        )
        .await
        .expect_err("conflict"),
    );
    assert_eq!((st.code, st.reason.as_str()), (409, "Conflict"));
    assert!(
        st.message.starts_with("Apply failed with 1 conflict"),
        "{}",
        st.message
    );
    assert!(st.message.contains("\"shipcore\""), "{}", st.message);
    let forced = api
        .patch(
            "web",
            &PatchParams::apply("other").force(),
            &Patch::Apply(deployment("web", "web:2")),
        )
        .await
        .expect("forced");
    assert_eq!(forced.metadata.generation, Some(2));
    assert!(fake
        .field_managers("apps/v1", "deployments", "default", "web")
        .contains_key("other"));
}

#[tokio::test]
async fn scale_subresource_merge_patch_and_dynamic_httproute() {
    let fake = FakeApiServer::new();
    let api: Api<Deployment> = Api::default_namespaced(fake.client());
    api.patch(
        "web",
        &PatchParams::apply("shipcore"),
        &Patch::Apply(deployment("web", "web:1")),
    )
    .await
    .expect("apply");
    let scale = api
        .patch_scale(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 7}})),
        )
        .await
        .expect("scale");
    assert_eq!(scale.spec.and_then(|s| s.replicas), Some(7));
    assert_eq!(
        scale.status.map(|s| s.selector),
        Some(Some("app=web".to_string()))
    );
    let d = api.get("web").await.expect("get");
    assert_eq!(d.spec.and_then(|s| s.replicas), Some(7));
    assert_eq!(d.metadata.generation, Some(2));

    let gvk = GroupVersionKind::gvk("gateway.networking.k8s.io", "v1", "HTTPRoute");
    let ar = ApiResource::from_gvk_with_plural(&gvk, "httproutes");
    let routes: Api<DynamicObject> = Api::namespaced_with(fake.client(), "default", &ar);
    let mut route = DynamicObject::new("web", &ar);
    route.data = json!({"spec": {"rules": [{"backendRefs": [{"group": "", "kind": "Service", "name": "web-a", "port": 80, "weight": 100}]}]}});
    routes
        .create(&PostParams::default(), &route)
        .await
        .expect("route");
    let got = routes.get("web").await.expect("get route");
    assert_eq!(
        got.data.pointer("/spec/rules/0/backendRefs/0/weight"),
        Some(&json!(100))
    );
    let listed = routes.list(&ListParams::default()).await.expect("list");
    assert_eq!(
        listed.items[0].types.as_ref().map(|t| t.kind.as_str()),
        Some("HTTPRoute")
    );

    let no_gw = FakeApiServer::new().without_gateway_api();
    let routes: Api<DynamicObject> = Api::namespaced_with(no_gw.client(), "default", &ar);
    assert_eq!(
        status_of(routes.list(&ListParams::default()).await.expect_err("404")).code,
        404
    );
}

#[tokio::test]
async fn namespaces_missing_namespace_and_faults() {
    let fake = FakeApiServer::new();
    let api: Api<Deployment> = Api::namespaced(fake.client(), "prod");
    assert!(api
        .list(&ListParams::default())
        .await
        .expect("empty list in a missing namespace")
        .items
        .is_empty());
    let st = status_of(
        api.create(&PostParams::default(), &deployment("web", "x"))
            .await
            .expect_err("no ns"),
    );
    assert_eq!(st.code, 404);
    let nss: Api<Namespace> = Api::all(fake.client());
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": "prod"}})).expect("ns");
    nss.create(&PostParams::default(), &ns)
        .await
        .expect("create ns");
    api.create(&PostParams::default(), &deployment("web", "x"))
        .await
        .expect("create in prod");

    fake.inject(Fault::new("/deployments", 2, FaultAnswer::Status(503)).method(http::Method::GET));
    for _ in 0..2 {
        let st = status_of(api.get("web").await.expect_err("injected"));
        assert_eq!((st.code, st.reason.as_str()), (503, "ServiceUnavailable"));
    }
    api.get("web").await.expect("fault spent");
    fake.inject(Fault::new("/deployments/web", 1, FaultAnswer::Status(429)));
    assert_eq!(status_of(api.get("web").await.expect_err("429")).code, 429);

    fake.inject(Fault::new("/deployments/web", 1, FaultAnswer::Hang));
    let hung = tokio::time::timeout(std::time::Duration::from_millis(200), api.get("web")).await;
    assert!(hung.is_err(), "a hanging fault never answers");

    let reqs = fake.requests();
    let last = reqs.last().expect("recorded");
    assert_eq!(
        (last.method.as_str(), last.path.as_str()),
        ("GET", "/apis/apps/v1/namespaces/prod/deployments/web")
    );
    fake.clear_requests();
    assert!(fake.requests().is_empty());

    nss.delete("prod", &DeleteParams::default())
        .await
        .expect("delete ns");
    assert!(
        fake.object("apps/v1", "deployments", "prod", "web")
            .is_none(),
        "contents go with the namespace"
    );
}

#[tokio::test]
async fn seeding_hpas_and_bad_input_answer_errors_not_panics() {
    use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
    use shipcore_driver_k8s::fake::FakeError;
    let fake = FakeApiServer::new();
    fake.put_object(json!({
        "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web-a"}, "minReplicas": 1, "maxReplicas": 5}
    }))
    .expect("seed hpa");
    let hpas: Api<HorizontalPodAutoscaler> = Api::default_namespaced(fake.client());
    let listed = hpas.list(&ListParams::default()).await.expect("list hpas");
    assert_eq!(
        listed.items[0]
            .spec
            .as_ref()
            .map(|s| s.scale_target_ref.name.as_str()),
        Some("web-a")
    );

    assert!(matches!(
        fake.put_object(
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}})
        ),
        Err(FakeError::UnknownKind { .. })
    ));
    assert!(matches!(
        fake.put_object(
            json!({"apiVersion": "v1", "kind": "Service", "metadata": "not an object"})
        ),
        Err(FakeError::Rejected { code: 422, .. })
    ));
    assert!(matches!(
        fake.create_namespace("Not_Valid"),
        Err(FakeError::Rejected { code: 422, .. })
    ));

    // Bodies that are not objects answer 400 Status, whatever the verb.
    let client = fake.client();
    for (method, ct) in [
        ("POST", "application/json"),
        ("PUT", "application/json"),
        ("PATCH", "application/merge-patch+json"),
    ] {
        let uri = if method == "POST" {
            "/api/v1/namespaces/default/services"
        } else {
            "/api/v1/namespaces/default/services/x"
        };
        let req = http::Request::builder()
            .method(method)
            .uri(uri)
            .header("content-type", ct)
            .body(b"[1,2]".to_vec())
            .expect("request");
        let err = client.request::<Service>(req).await.expect_err("400");
        let st = status_of(err);
        assert!(st.code == 400 || st.code == 404, "{method}: {st:?}");
    }
}

#[tokio::test]
async fn creators_cannot_set_status() {
    let fake = FakeApiServer::new();
    fake.set_controller(ControllerSettings {
        observe_lag: std::time::Duration::from_secs(3600),
        ..Default::default()
    });
    let api: Api<Deployment> = Api::default_namespaced(fake.client());
    let mut d = deployment("web", "web:1");
    d.status = Some(k8s_openapi::api::apps::v1::DeploymentStatus {
        ready_replicas: Some(5),
        ..Default::default()
    });
    let created = api
        .create(&PostParams::default(), &d)
        .await
        .expect("create");
    assert_eq!(created.status.and_then(|s| s.ready_replicas), None);
    let mut d2 = deployment("api", "api:1");
    d2.status = d.status.clone();
    let applied = api
        .patch("api", &PatchParams::apply("shipcore"), &Patch::Apply(d2))
        .await
        .expect("apply");
    assert_eq!(applied.status.and_then(|s| s.ready_replicas), None);
}

#[tokio::test]
async fn httproutes_get_the_crd_defaults_and_refuse_bad_weights() {
    let fake = FakeApiServer::new();
    let gvk = GroupVersionKind::gvk("gateway.networking.k8s.io", "v1", "HTTPRoute");
    let ar = ApiResource::from_gvk_with_plural(&gvk, "httproutes");
    let routes: Api<DynamicObject> = Api::default_namespaced_with(fake.client(), &ar);
    let mut route = DynamicObject::new("web", &ar);
    route.data = json!({"spec": {"parentRefs": [{"name": "gw"}], "rules": [{"backendRefs": [{"name": "web-a", "port": 80}]}]}});
    let created = routes
        .create(&PostParams::default(), &route)
        .await
        .expect("route");
    assert_eq!(
        created.data.pointer("/spec/rules/0/backendRefs/0"),
        Some(&json!({"group": "", "kind": "Service", "name": "web-a", "port": 80, "weight": 1}))
    );
    assert_eq!(
        created.data.pointer("/spec/parentRefs/0/kind"),
        Some(&json!("Gateway"))
    );

    let mut bad = DynamicObject::new("bad", &ar);
    bad.data = json!({"spec": {"rules": [{"backendRefs": [{"name": "web-a", "port": 80, "weight": -1}]}]}});
    let st = status_of(
        routes
            .create(&PostParams::default(), &bad)
            .await
            .expect_err("422"),
    );
    assert_eq!(st.code, 422);
    let fields: Vec<String> = st
        .details
        .expect("details")
        .causes
        .into_iter()
        .map(|c| c.field)
        .collect();
    assert_eq!(fields, ["spec.rules[0].backendRefs[0].weight"]);
}
