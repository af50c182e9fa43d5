//! Discovery, SelfSubjectAccessReviews and the loopback server's lifecycle.

use k8s_openapi::api::authorization::v1::SelfSubjectAccessReview;
use kube::api::{Api, PostParams};
use kube::discovery::{self, Discovery};
use serde_json::json;
use shipcore_driver_k8s::fake::FakeApiServer;

#[tokio::test]
async fn kube_discovery_sees_the_served_groups_and_the_gateway_api_can_be_hidden() {
    let fake = FakeApiServer::new();
    let client = fake.client();
    let version = client.apiserver_version().await.expect("version");
    assert_eq!(
        (version.major.as_str(), version.minor.as_str()),
        ("1", "33")
    );
    let d = Discovery::new(client.clone())
        .run()
        .await
        .expect("discovery");
    for g in [
        "",
        "apps",
        "autoscaling",
        "gateway.networking.k8s.io",
        "authorization.k8s.io",
    ] {
        assert!(d.has_group(g), "group {g:?} served");
    }
    let apps = discovery::group(&client, "apps").await.expect("apps");
    let (ar, caps) = apps.recommended_kind("Deployment").expect("deployment");
    assert_eq!(ar.plural, "deployments");
    assert!(
        caps.subresources
            .iter()
            .any(|(sr, _)| sr.plural == "deployments/scale" || sr.plural == "scale"),
        "{caps:?}"
    );
    let gw = discovery::group(&client, "gateway.networking.k8s.io")
        .await
        .expect("gateway");
    assert_eq!(
        gw.recommended_kind("HTTPRoute").map(|(ar, _)| ar.plural),
        Some("httproutes".to_string())
    );

    let hidden = FakeApiServer::new().without_gateway_api();
    let d = Discovery::new(hidden.client())
        .run()
        .await
        .expect("discovery");
    assert!(!d.has_group("gateway.networking.k8s.io"));
    assert!(
        discovery::group(&hidden.client(), "gateway.networking.k8s.io")
            .await
            .is_err()
    );
}

#[tokio::test]
async fn access_reviews_allow_unless_denied() {
    let fake = FakeApiServer::new();
    fake.deny("patch", "deployments");
    let api: Api<SelfSubjectAccessReview> = Api::all(fake.client());
    let review = |verb: &str, resource: &str| -> SelfSubjectAccessReview {
        serde_json::from_value(json!({"spec": {"resourceAttributes": {"verb": verb, "group": "apps", "resource": resource, "namespace": "default"}}}))
            .expect("review")
    };
    let allowed = api
        .create(&PostParams::default(), &review("get", "deployments"))
        .await
        .expect("review");
    assert!(allowed.status.expect("status").allowed);
    let denied = api
        .create(&PostParams::default(), &review("patch", "deployments"))
        .await
        .expect("review");
    let st = denied.status.expect("status");
    assert!(!st.allowed && st.denied == Some(true));
}

#[tokio::test]
async fn loopback_serves_the_same_state_and_stops_on_drop() {
    let fake = FakeApiServer::new();
    let lb = fake.serve().await.expect("serve");
    let text = std::fs::read_to_string(&lb.kubeconfig).expect("kubeconfig");
    assert!(
        text.contains(&format!("server: {}", lb.url)) && text.contains("token: fake-token"),
        "{text}"
    );
    let kc = kube::config::Kubeconfig::read_from(&lb.kubeconfig).expect("parse kubeconfig");
    let config = kube::Config::from_custom_kubeconfig(kc, &Default::default())
        .await
        .expect("config");
    shipcore_driver_k8s::ensure_crypto_provider();
    let client = kube::Client::try_from(config).expect("client");
    let ns: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(client);
    ns.get("default").await.expect("namespace over HTTP");
    fake.create_namespace("prod").expect("ns");
    ns.get("prod").await.expect("shared state");

    let addr = lb.url.trim_start_matches("http://").to_string();
    let path = lb.kubeconfig.clone();
    drop(lb);
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    assert!(
        tokio::net::TcpStream::connect(&addr).await.is_err(),
        "listener closed after drop"
    );
    assert!(!path.exists(), "kubeconfig removed");
}
