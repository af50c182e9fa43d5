//! A revision's life without a router, on the real compose CLI and engine: readiness from
//! the compose healthcheck (run by the driver, since Podman without systemd schedules none)
//! and the HTTP probe; scale up with `Scale`, down with a smaller `Deploy` (the newest go);
//! a revision whose health never passes stays unready; `Retire` twice; misuse refused.
//!
//! Runs only with SHIPCORE_E2E=1 (fails loudly if a part is missing); skipped otherwise.
#![allow(clippy::unwrap_used)]

mod support;

use shipcore::driver::{Driver, ErrorKind};
use shipcore::model::{Action, Revision, RevisionId, Target};
use shipcore_driver_compose::ComposeDriver;
use std::time::Duration;
use support::Project;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deploy_scale_and_retire_without_a_router() {
    let Some(env) = support::env("deploy_scale_and_retire_without_a_router").await else {
        return;
    };
    let images = support::images(&env);
    let project = Project::web(&env, "life", &images.v1);
    let driver = ComposeDriver::new(project.config()).unwrap();
    let target = Target::new("web", "e2e");
    let caps = driver.capabilities();
    assert!(!caps.weighted_traffic && !caps.preview && caps.side_by_side);
    let v1 = Revision::new("v1", "1.0.0".parse().unwrap(), images.v1.clone());

    driver
        .apply(
            &target,
            &Action::Deploy {
                revision: v1.clone(),
                replicas: 2,
            },
        )
        .await
        .unwrap();
    let fleet = support::wait_ready(&driver, &target, "v1", 2, Duration::from_secs(60)).await;
    assert_eq!(fleet.weight_of(&v1.id), 100);
    let instances = driver.instances().await.unwrap();
    assert_eq!(instances.len(), 2);
    for i in &instances {
        assert_eq!(i.health, "healthy", "the compose healthcheck ran: {i:?}");
        assert!(
            i.ready && i.addr.is_some_and(|a| a.ip().is_loopback()),
            "{i:?}"
        );
    }

    driver
        .apply(
            &target,
            &Action::Scale {
                revision: v1.id.clone(),
                replicas: 3,
            },
        )
        .await
        .unwrap();
    support::wait_ready(&driver, &target, "v1", 3, Duration::from_secs(60)).await;
    let mut names = project.container_names();
    names.sort();
    assert_eq!(names.len(), 3, "{names:?}");

    // Down to one: the newest two go, the first stays.
    driver
        .apply(
            &target,
            &Action::Deploy {
                revision: v1.clone(),
                replicas: 1,
            },
        )
        .await
        .unwrap();
    let left = project.container_names();
    assert_eq!(left, vec![format!("{}-web-v1-1", project.name)], "{left:?}");
    let fleet = driver.observe(&target).await.unwrap();
    assert_eq!((fleet.desired_of(&v1.id), fleet.ready_of(&v1.id)), (1, 1));

    // One revision id, one artifact.
    let other = Revision::new("v1", "1.0.0".parse().unwrap(), images.v2.clone());
    let e = driver
        .apply(
            &target,
            &Action::Deploy {
                revision: other,
                replicas: 1,
            },
        )
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Permanent, "{e}");
    assert!(
        e.message.contains("a revision id names one artifact"),
        "{e}"
    );
    // Scaling what was never deployed.
    let e = driver
        .apply(
            &target,
            &Action::Scale {
                revision: RevisionId::new("v7"),
                replicas: 2,
            },
        )
        .await
        .unwrap_err();
    assert!(e.message.contains("deploy it first"), "{e}");
    // Another target.
    let e = driver
        .observe(&Target::new("api", "e2e"))
        .await
        .unwrap_err();
    assert!(
        e.message.contains("not the driver's compose service"),
        "{e}"
    );

    driver
        .apply(
            &target,
            &Action::Retire {
                revision: v1.id.clone(),
            },
        )
        .await
        .unwrap();
    driver
        .apply(
            &target,
            &Action::Retire {
                revision: v1.id.clone(),
            },
        )
        .await
        .unwrap();
    assert!(driver.observe(&target).await.unwrap().revisions.is_empty());
    assert!(
        project.container_names().is_empty(),
        "{:?}",
        project.container_names()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revision_whose_health_never_passes_is_never_ready() {
    let Some(env) = support::env("a_revision_whose_health_never_passes_is_never_ready").await
    else {
        return;
    };
    let images = support::images(&env);
    // Both applications answer /health with 503 during READY_DELAY_S.
    let yaml = support::web_yaml(&images.v1, None).replace(
        "    stop_grace_period: 2s\n",
        "    stop_grace_period: 2s\n    environment:\n      READY_DELAY_S: \"3600\"\n",
    );
    let project = Project::new(&env, "never", &yaml);
    let driver = ComposeDriver::new(project.config()).unwrap();
    let target = Target::new("web", "e2e");
    let v1 = Revision::new("v1", "1.0.0".parse().unwrap(), images.v1.clone());
    driver
        .apply(
            &target,
            &Action::Deploy {
                revision: v1.clone(),
                replicas: 2,
            },
        )
        .await
        .unwrap();
    let mut last = None;
    for _ in 0..8 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let fleet = driver.observe(&target).await.unwrap();
        assert_eq!(fleet.desired_of(&v1.id), 2, "{fleet:?}");
        assert_eq!(
            fleet.ready_of(&v1.id),
            0,
            "ready although /health says 503: {fleet:?}"
        );
        last = Some(fleet);
    }
    let instances = driver.instances().await.unwrap();
    assert!(
        instances.iter().all(|i| i.state == "running" && !i.ready),
        "{instances:?}"
    );
    assert!(
        instances
            .iter()
            .all(|i| i.health == "unhealthy" || i.health == "starting"),
        "the healthcheck failed: {instances:?} (last fleet {last:?})"
    );
    driver.remove_all().await.unwrap();
    assert!(project.container_names().is_empty());
}
