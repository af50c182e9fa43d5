//! Bad input against the real compose CLI and engine: an unknown service, a missing or
//! broken compose file, an image that does not exist, an unreachable engine. Each gives a
//! clear, classified error before anything changes, and leaves no container behind.
//!
//! Runs only with SHIPCORE_E2E=1 (fails loudly if a part is missing); skipped otherwise.
#![allow(clippy::unwrap_used)]

mod support;

use shipcore::driver::{Driver, ErrorKind};
use shipcore::model::{Action, Revision, Target};
use shipcore_driver_compose::ComposeDriver;
use support::Project;

fn deploy(id: &str, image: &str) -> Action {
    Action::Deploy {
        revision: Revision::new(id, "1.0.0".parse().unwrap(), image),
        replicas: 2,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_refused_before_anything_runs() {
    let Some(env) = support::env("bad_input_is_refused_before_anything_runs").await else {
        return;
    };
    let images = support::images(&env);
    let project = Project::web(&env, "bad", &images.v1);
    let target = Target::new("web", "e2e");

    // Unknown service: the compose project has only `web`.
    let mut cfg = project.config();
    cfg.service = "api".into();
    let driver = ComposeDriver::new(cfg).unwrap();
    let e = driver.validate().await.unwrap_err();
    eprintln!("unknown service: {e}");
    assert_eq!(e.kind, ErrorKind::Permanent);
    assert!(
        e.message.contains("no such service: \"api\"") && e.message.contains("services: web"),
        "{e}"
    );
    let e = driver
        .apply(&Target::new("api", "e2e"), &deploy("v1", &images.v1))
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Permanent, "{e}");
    assert!(e.message.contains("no such service"), "{e}");

    // Missing compose file: refused by the configuration check, naming the field.
    let mut cfg = project.config();
    cfg.files = vec![project.dir.path().join("nope.yaml")];
    let e = ComposeDriver::new(cfg).unwrap_err();
    eprintln!("missing file: {e}");
    assert_eq!(e.field, "files[0]");
    assert!(e.problem.contains("nope.yaml does not exist"), "{e}");

    // A file that disappears after the check: compose's own error, permanent.
    let gone = project.dir.path().join("gone.yaml");
    std::fs::copy(&project.file, &gone).unwrap();
    let mut cfg = project.config();
    cfg.files = vec![gone.clone()];
    let driver = ComposeDriver::new(cfg).unwrap();
    std::fs::remove_file(&gone).unwrap();
    let e = driver
        .apply(&target, &deploy("v1", &images.v1))
        .await
        .unwrap_err();
    eprintln!("file removed after the check: {e}");
    assert_eq!(e.kind, ErrorKind::Permanent, "{e}");
    assert!(
        e.message.contains("gone.yaml"),
        "the CLI's message is kept: {e}"
    );

    // A broken compose file: compose's validation error, permanent.
    let broken = project.dir.path().join("broken.yaml");
    std::fs::write(
        &broken,
        "services:\n  web:\n    image: x\n    imagee: typo\n",
    )
    .unwrap();
    let mut cfg = project.config();
    cfg.files = vec![broken];
    let e = ComposeDriver::new(cfg)
        .unwrap()
        .validate()
        .await
        .unwrap_err();
    eprintln!("broken file: {e}");
    assert_eq!(e.kind, ErrorKind::Permanent, "{e}");
    assert!(
        e.message.contains("imagee"),
        "the CLI's message is kept: {e}"
    );

    // An image the engine does not have: refused before compose runs.
    let driver = ComposeDriver::new(project.config()).unwrap();
    driver.validate().await.unwrap();
    let e = driver
        .apply(
            &target,
            &deploy("v9", "localhost/shipcore-no-such-image:404"),
        )
        .await
        .unwrap_err();
    eprintln!("missing image: {e}");
    assert_eq!(e.kind, ErrorKind::Permanent, "{e}");
    assert!(
        e.message.contains("no such image") && e.message.contains("shipcore-no-such-image:404"),
        "{e}"
    );
    let fleet = driver.observe(&target).await.unwrap();
    assert!(fleet.revisions.is_empty(), "{fleet:?}");

    // A revision id that cannot name a service.
    let e = driver
        .apply(&target, &deploy("v1/evil", &images.v1))
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Permanent, "{e}");
    assert!(e.message.contains("revision id"), "{e}");

    // Unsupported actions on a driver without a router.
    let e = driver
        .apply(
            &target,
            &Action::Route {
                weights: shipcore::model::WeightSet(vec![("v1".into(), 100)]),
            },
        )
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Permanent, "{e}");
    assert!(e.message.contains("needs a router"), "{e}");
    let e = driver
        .apply(
            &target,
            &Action::SetFlag {
                flag: "f".into(),
                percent: 5,
            },
        )
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Permanent, "{e}");

    // An engine that is not there: transient (it may come back).
    let mut cfg = project.config();
    cfg.docker_host = Some(format!(
        "unix://{}/no-engine.sock",
        project.dir.path().display()
    ));
    let e = ComposeDriver::new(cfg)
        .unwrap()
        .validate()
        .await
        .unwrap_err();
    eprintln!("unreachable engine: {e}");
    assert_eq!(e.kind, ErrorKind::Transient, "{e}");

    assert!(
        project.container_names().is_empty(),
        "bad input left containers: {:?}",
        project.container_names()
    );
}
