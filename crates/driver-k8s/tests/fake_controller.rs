//! The simulated Deployment controller's timeline (paused Tokio time, so exact): observed
//! generation lag, readiness delay, old replicas serving during a rollout, a bad image
//! ending in ProgressDeadlineExceeded after the scaled deadline.

use std::time::Duration;

use k8s_openapi::api::apps::v1::{Deployment, DeploymentStatus};
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;
use shipcore_driver_k8s::fake::{ControllerSettings, FakeApiServer};

fn deployment(image: &str, replicas: i32) -> Deployment {
    serde_json::from_value(json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {"replicas": replicas, "progressDeadlineSeconds": 60,
                 "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "app", "image": image}]}}}
    }))
    .expect("valid deployment")
}

fn settings() -> ControllerSettings {
    ControllerSettings {
        observe_lag: Duration::from_secs(1),
        ready_after: Duration::from_secs(5),
        bad_images: vec!["broken".into()],
        deadline_scale: 0.5,
    }
}

async fn status(api: &Api<Deployment>) -> (i64, DeploymentStatus) {
    let d = api.get("web").await.expect("get");
    (
        d.metadata.generation.unwrap_or(0),
        d.status.unwrap_or_default(),
    )
}

fn condition(st: &DeploymentStatus, kind: &str) -> Option<(String, String)> {
    st.conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == kind)
        .map(|c| (c.status.clone(), c.reason.clone().unwrap_or_default()))
}

async fn apply(api: &Api<Deployment>, image: &str, replicas: i32) {
    api.patch(
        "web",
        &PatchParams::apply("shipcore"),
        &Patch::Apply(deployment(image, replicas)),
    )
    .await
    .expect("apply");
}

#[tokio::test(start_paused = true)]
async fn good_image_becomes_ready_after_the_delay_and_old_replicas_serve_meanwhile() {
    let fake = FakeApiServer::new();
    fake.set_controller(settings());
    let api: Api<Deployment> = Api::default_namespaced(fake.client());
    apply(&api, "web:1", 3).await;
    let (gen, st) = status(&api).await;
    assert_eq!((gen, st.observed_generation), (1, None), "not observed yet");

    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (_, st) = status(&api).await;
    assert_eq!(st.observed_generation, Some(1));
    assert_eq!(
        (
            st.updated_replicas,
            st.ready_replicas,
            st.available_replicas
        ),
        (Some(3), None, None)
    );
    assert_eq!(
        condition(&st, "Progressing"),
        Some(("True".into(), "ReplicaSetUpdated".into()))
    );
    assert_eq!(
        condition(&st, "Available"),
        Some(("False".into(), "MinimumReplicasUnavailable".into()))
    );

    tokio::time::sleep(Duration::from_secs(4)).await;
    let (_, st) = status(&api).await;
    assert_eq!(
        (
            st.replicas,
            st.updated_replicas,
            st.ready_replicas,
            st.available_replicas
        ),
        (Some(3), Some(3), Some(3), Some(3))
    );
    assert_eq!(
        condition(&st, "Progressing"),
        Some(("True".into(), "NewReplicaSetAvailable".into()))
    );
    assert_eq!(
        condition(&st, "Available"),
        Some(("True".into(), "MinimumReplicasAvailable".into()))
    );

    // A new image: the three old replicas keep serving until the new ones are ready.
    apply(&api, "web:2", 3).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (gen, st) = status(&api).await;
    assert_eq!((gen, st.observed_generation), (2, Some(2)));
    assert_eq!(
        (st.replicas, st.updated_replicas, st.available_replicas),
        (Some(6), Some(3), Some(3))
    );
    tokio::time::sleep(Duration::from_secs(4)).await;
    let (_, st) = status(&api).await;
    assert_eq!((st.replicas, st.available_replicas), (Some(3), Some(3)));
}

#[tokio::test(start_paused = true)]
async fn bad_image_never_becomes_ready_and_exceeds_the_scaled_deadline() {
    let fake = FakeApiServer::new();
    fake.set_controller(settings());
    let api: Api<Deployment> = Api::default_namespaced(fake.client());
    apply(&api, "registry/broken:1", 2).await;
    // Deadline 60 s × 0.5 = 30 s.
    tokio::time::sleep(Duration::from_secs(29)).await;
    let (_, st) = status(&api).await;
    assert_eq!(st.ready_replicas, None);
    assert_eq!(
        condition(&st, "Progressing"),
        Some(("True".into(), "ReplicaSetUpdated".into()))
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (_, st) = status(&api).await;
    assert_eq!(st.ready_replicas, None);
    assert_eq!(
        condition(&st, "Progressing"),
        Some(("False".into(), "ProgressDeadlineExceeded".into()))
    );

    // Rolling back to a good image recovers.
    apply(&api, "web:1", 2).await;
    tokio::time::sleep(Duration::from_secs(6)).await;
    let (_, st) = status(&api).await;
    assert_eq!(st.available_replicas, Some(2));
    assert_eq!(
        condition(&st, "Progressing"),
        Some(("True".into(), "NewReplicaSetAvailable".into()))
    );
}

#[tokio::test(start_paused = true)]
async fn scaling_to_zero_is_complete_at_once_after_observation() {
    let fake = FakeApiServer::new();
    fake.set_controller(settings());
    let api: Api<Deployment> = Api::default_namespaced(fake.client());
    apply(&api, "web:1", 0).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (_, st) = status(&api).await;
    assert_eq!(st.observed_generation, Some(1));
    assert_eq!(st.replicas, None);
    assert_eq!(
        condition(&st, "Progressing"),
        Some(("True".into(), "NewReplicaSetAvailable".into()))
    );
}

#[tokio::test(start_paused = true)]
async fn fake_pods_show_err_image_pull_then_running_and_go_with_their_deployment() {
    use k8s_openapi::api::core::v1::Pod;
    use kube::api::{DeleteParams, ListParams};
    let fake = FakeApiServer::new();
    fake.set_controller(settings());
    let api: Api<Deployment> = Api::default_namespaced(fake.client());
    let pods: Api<Pod> = Api::default_namespaced(fake.client());
    let waiting = |p: &Pod| -> Option<String> {
        p.status
            .as_ref()?
            .container_statuses
            .as_ref()?
            .first()?
            .state
            .as_ref()?
            .waiting
            .as_ref()?
            .reason
            .clone()
    };
    apply(&api, "registry/broken:1", 2).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let listed = pods
        .list(&ListParams::default().labels("app=web"))
        .await
        .expect("pods");
    assert_eq!(listed.items.len(), 2);
    for p in &listed.items {
        assert_eq!(waiting(p).as_deref(), Some("ErrImagePull"));
        assert!(p
            .metadata
            .labels
            .as_ref()
            .is_some_and(|l| l.contains_key("pod-template-hash")));
    }

    apply(&api, "web:2", 2).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let listed = pods
        .list(&ListParams::default().labels("app=web"))
        .await
        .expect("pods");
    assert_eq!(
        listed.items.len(),
        4,
        "old pods stay until the new ones are ready"
    );
    tokio::time::sleep(Duration::from_secs(5)).await;
    let listed = pods
        .list(&ListParams::default().labels("app=web"))
        .await
        .expect("pods");
    assert_eq!(listed.items.len(), 2);
    for p in &listed.items {
        assert_eq!(
            p.status.as_ref().and_then(|s| s.phase.as_deref()),
            Some("Running")
        );
        assert_eq!(waiting(p), None);
    }

    api.delete("web", &DeleteParams::default())
        .await
        .expect("delete");
    assert!(pods
        .list(&ListParams::default())
        .await
        .expect("pods")
        .items
        .is_empty());
}

#[test]
fn the_controller_follows_the_fake_into_a_new_runtime() {
    let fake = FakeApiServer::new();
    fake.set_controller(ControllerSettings {
        observe_lag: Duration::from_millis(1),
        ready_after: Duration::from_millis(20),
        ..settings()
    });
    for (round, image) in ["web:1", "web:2"].into_iter().enumerate() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async {
            let api: Api<Deployment> = Api::default_namespaced(fake.client());
            apply(&api, image, 1).await;
            for _ in 0..200 {
                let (gen, st) = status(&api).await;
                if st.observed_generation == Some(gen) && st.available_replicas == Some(1) {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            panic!("round {round}: never ready");
        });
    }
}
