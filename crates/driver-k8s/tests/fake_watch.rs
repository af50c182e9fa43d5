//! Watches on the fake: events as changes happen, replay from a resourceVersion, 410 Gone
//! for a compacted one, selectors and timeoutSeconds.

use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{
    Api, DeleteParams, ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams,
};
use serde_json::json;
use shipcore_driver_k8s::fake::{ControllerSettings, FakeApiServer};

fn deployment(name: &str) -> Deployment {
    serde_json::from_value(json!({
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {"selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [{"name": "app", "image": "img:1"}]}}}
    }))
    .expect("valid deployment")
}

/// A controller that never touches status within the test, so only our writes make events.
fn quiet() -> ControllerSettings {
    ControllerSettings {
        observe_lag: Duration::from_secs(3600),
        ready_after: Duration::from_secs(3600),
        ..Default::default()
    }
}

fn name_of(ev: &WatchEvent<Deployment>) -> (String, String) {
    match ev {
        WatchEvent::Added(d) => ("ADDED".into(), d.metadata.name.clone().unwrap_or_default()),
        WatchEvent::Modified(d) => (
            "MODIFIED".into(),
            d.metadata.name.clone().unwrap_or_default(),
        ),
        WatchEvent::Deleted(d) => (
            "DELETED".into(),
            d.metadata.name.clone().unwrap_or_default(),
        ),
        WatchEvent::Bookmark(_) => ("BOOKMARK".into(), String::new()),
        WatchEvent::Error(e) => ("ERROR".into(), e.code.to_string()),
    }
}

#[tokio::test]
async fn streams_changes_as_they_happen_and_replays_from_a_resource_version() {
    let fake = FakeApiServer::new();
    fake.set_controller(quiet());
    let api: Api<Deployment> = Api::default_namespaced(fake.client());
    api.create(&PostParams::default(), &deployment("a"))
        .await
        .expect("create a");
    let rv = api
        .list(&ListParams::default())
        .await
        .expect("list")
        .metadata
        .resource_version
        .expect("rv");

    let stream = api
        .watch(
            &WatchParams::default().labels("app in (a,b)").timeout(10),
            &rv,
        )
        .await
        .expect("watch");
    let mut stream = stream.boxed();
    api.create(&PostParams::default(), &deployment("b"))
        .await
        .expect("create b");
    api.create(&PostParams::default(), &deployment("c"))
        .await
        .expect("create c (not selected)");
    api.patch(
        "a",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"replicas": 3}})),
    )
    .await
    .expect("patch a");
    api.delete("b", &DeleteParams::default())
        .await
        .expect("delete b");
    let mut seen = Vec::new();
    while seen.len() < 3 {
        let ev = tokio::time::timeout(Duration::from_secs(5), stream.try_next())
            .await
            .expect("event in time")
            .expect("ok")
            .expect("open");
        seen.push(name_of(&ev));
    }
    assert_eq!(
        seen,
        [
            ("ADDED".into(), "b".into()),
            ("MODIFIED".into(), "a".into()),
            ("DELETED".into(), "b".into())
        ]
    );

    // From the same resourceVersion later: the history is replayed, then the stream goes on.
    let replay: Vec<_> = api
        .watch(
            &WatchParams::default().fields("metadata.name=a").timeout(1),
            &rv,
        )
        .await
        .expect("watch")
        .try_collect()
        .await
        .expect("events");
    let replay: Vec<_> = replay.iter().map(name_of).collect();
    assert_eq!(
        replay,
        [("MODIFIED".to_string(), "a".to_string())],
        "timeoutSeconds ends the stream"
    );

    // Without a resourceVersion ("0"): synthetic ADDED for every current object.
    let initial: Vec<_> = api
        .watch(&WatchParams::default().timeout(1), "0")
        .await
        .expect("watch")
        .try_collect()
        .await
        .expect("ok");
    let names: Vec<_> = initial.iter().map(name_of).collect();
    assert_eq!(
        names,
        [
            ("ADDED".to_string(), "a".to_string()),
            ("ADDED".to_string(), "c".to_string())
        ]
    );
}

#[tokio::test]
async fn a_compacted_resource_version_answers_410_gone() {
    let fake = FakeApiServer::new();
    fake.set_controller(quiet());
    let api: Api<Deployment> = Api::default_namespaced(fake.client());
    let created = api
        .create(&PostParams::default(), &deployment("a"))
        .await
        .expect("create");
    let old_rv = created.metadata.resource_version.expect("rv");
    api.patch(
        "a",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"replicas": 3}})),
    )
    .await
    .expect("patch");
    fake.compact();
    let events: Vec<_> = api
        .watch(&WatchParams::default().timeout(5), &old_rv)
        .await
        .expect("watch")
        .try_collect()
        .await
        .expect("ok");
    match events.as_slice() {
        [WatchEvent::Error(e)] => {
            assert_eq!((e.code, e.reason.as_str()), (410, "Expired"));
            assert!(e.is_failure());
        }
        other => panic!("expected one 410 ERROR event, got {other:?}"),
    }
    // The current resourceVersion still works.
    let rv = api
        .list(&ListParams::default())
        .await
        .expect("list")
        .metadata
        .resource_version
        .expect("rv");
    let fresh: Vec<_> = api
        .watch(&WatchParams::default().timeout(1), &rv)
        .await
        .expect("watch")
        .try_collect()
        .await
        .expect("ok");
    assert!(fresh.is_empty(), "{fresh:?}");

    // The history bound works the same way.
    fake.set_history_limit(1);
    api.patch(
        "a",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"replicas": 4}})),
    )
    .await
    .expect("patch");
    api.patch(
        "a",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"replicas": 5}})),
    )
    .await
    .expect("patch");
    let events: Vec<_> = api
        .watch(&WatchParams::default().timeout(5), &rv)
        .await
        .expect("watch")
        .try_collect()
        .await
        .expect("ok");
    assert!(
        matches!(events.as_slice(), [WatchEvent::Error(e)] if e.code == 410),
        "{events:?}"
    );
}

#[tokio::test]
async fn bookmarks_are_accepted_and_status_changes_are_events() {
    let fake = FakeApiServer::new();
    fake.set_controller(ControllerSettings {
        observe_lag: Duration::from_millis(5),
        ready_after: Duration::from_millis(30),
        ..Default::default()
    });
    let api: Api<Deployment> = Api::default_namespaced(fake.client());
    let created = api
        .create(&PostParams::default(), &deployment("a"))
        .await
        .expect("create");
    let rv = created.metadata.resource_version.expect("rv");
    let mut stream = api
        .watch(
            &WatchParams {
                bookmarks: true,
                ..WatchParams::default()
            }
            .timeout(10),
            &rv,
        )
        .await
        .expect("watch")
        .boxed();
    let ready = tokio::time::timeout(Duration::from_secs(5), async {
        while let Some(ev) = stream.try_next().await.expect("ok") {
            if let WatchEvent::Modified(d) = ev {
                let st = d.status.unwrap_or_default();
                if st.ready_replicas == Some(1) && st.observed_generation == Some(1) {
                    return true;
                }
            }
        }
        false
    })
    .await
    .expect("in time");
    assert!(ready, "the controller's status change reached the watch");
}

#[tokio::test]
async fn objects_relabelled_into_or_out_of_a_selector_arrive_as_added_or_deleted() {
    let fake = FakeApiServer::new();
    fake.set_controller(quiet());
    let api: Api<Deployment> = Api::default_namespaced(fake.client());
    api.create(&PostParams::default(), &deployment("a"))
        .await
        .expect("create");
    let rv = api
        .list(&ListParams::default())
        .await
        .expect("list")
        .metadata
        .resource_version
        .expect("rv");
    api.patch(
        "a",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"labels": {"track": "canary"}}})),
    )
    .await
    .expect("in");
    api.patch(
        "a",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"replicas": 2}})),
    )
    .await
    .expect("spec");
    api.patch(
        "a",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"labels": {"track": null}}})),
    )
    .await
    .expect("out");
    let events: Vec<_> = api
        .watch(
            &WatchParams::default().labels("track=canary").timeout(1),
            &rv,
        )
        .await
        .expect("watch")
        .try_collect()
        .await
        .expect("ok");
    let kinds: Vec<String> = events.iter().map(|e| name_of(e).0).collect();
    assert_eq!(kinds, ["ADDED", "MODIFIED", "DELETED"]);
}
