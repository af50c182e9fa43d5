//! Bad input through the real engine, against the real compose CLI and Podman: an unknown
//! service, a compose file that is missing, an image that does not exist. With the
//! driver's ComposePreflight gate the rollout is Blocked with the driver's message (which
//! names the problem) before any step runs; without it, a missing image fails the first
//! deploy before anything is created and the rollout ends RolledBack saying why. In every
//! case no container exists afterwards (checked with `podman ps -a` on the project label).
//!
//! Runs only with SHIPCORE_E2E=1 (fails loudly if a part is missing); skipped otherwise.
#![allow(clippy::unwrap_used)]

mod support;

use shipcore::engine::{EventKind, Phase, RunReport};
use shipcore::model::{Revision, Target};
use shipcore::strategy::{Rolling, StrategyConfig};
use shipcore_driver_compose::{ComposeConfig, ComposeDriver, ComposePreflight};
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;
use support::engine::{self, rev};
use support::scenario::containers_of;
use support::{Env, Project};

/// Runs a first deploy of `candidate` x2 (rolling) through the engine with `cfg`, with
/// or without the preflight gate.
async fn run(cfg: ComposeConfig, candidate: Revision, gate: bool, journal: &Path) -> RunReport {
    let target = Target::new(cfg.service.clone(), "e2e");
    let driver = Arc::new(ComposeDriver::new(cfg).unwrap());
    let mut spec = engine::spec(
        "bad-input",
        &*driver,
        &target,
        None,
        candidate,
        2,
        &StrategyConfig::Rolling(Rolling::default()),
    );
    let (builder, _) = engine::runner(driver.clone(), journal, Instant::now());
    let mut builder = builder;
    if gate {
        spec.gates = vec![ComposePreflight::NAME.into()];
        builder = builder.gate(Arc::new(ComposePreflight::new(driver)));
    }
    builder.build().start(spec).await.unwrap()
}

fn assert_blocked(report: &RunReport, needle: &str) {
    assert_eq!(report.status.phase, Phase::Blocked, "{:?}", report.status);
    let reason = report.status.reason.clone().unwrap_or_default();
    assert!(reason.contains(needle), "{needle:?} not in {reason:?}");
    assert!(
        !report
            .events
            .iter()
            .any(|e| matches!(e.kind, EventKind::StepStarted { .. })),
        "a step ran before the gate blocked: {:?}",
        report.events
    );
}

fn assert_nothing_created(env: &Env, project: &Project) {
    let left = containers_of(env, &project.name);
    assert!(left.is_empty(), "containers were created: {left:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn engine_refuses_bad_input_before_anything_changes() {
    let Some(env) = support::env("engine_refuses_bad_input_before_anything_changes").await else {
        return;
    };
    let images = support::images(&env);
    let project = Project::web(&env, "badrollout", &images.v1);
    let journal = |n: &str| project.dir.path().join(format!("{n}.journal"));
    let good = rev("v1", "1.0.0", &images.v1);

    // Unknown service: the compose project has only `web`.
    let mut cfg = project.config();
    cfg.service = "api".into();
    let report = run(cfg, good.clone(), true, &journal("service")).await;
    eprintln!("unknown service: {:?}", report.status.reason);
    assert_blocked(&report, "no such service: \"api\"");
    assert_nothing_created(&env, &project);

    // Missing compose file: the driver cannot even be built; its error names the field
    // and the file, and there is no runner to start.
    let mut cfg = project.config();
    cfg.files = vec![project.dir.path().join("missing.yaml")];
    let e = ComposeDriver::new(cfg).unwrap_err();
    eprintln!("missing compose file: {e}");
    assert_eq!(e.field, "files[0]");
    assert!(e.problem.contains("missing.yaml does not exist"), "{e}");
    // A file that disappears after the driver was built: the gate blocks with compose's
    // own message naming it.
    let gone = project.dir.path().join("gone.yaml");
    std::fs::copy(&project.file, &gone).unwrap();
    let mut cfg = project.config();
    cfg.files = vec![gone.clone()];
    let target = Target::new("web", "e2e");
    let driver = Arc::new(ComposeDriver::new(cfg).unwrap());
    std::fs::remove_file(&gone).unwrap();
    let spec = {
        let mut s = engine::spec(
            "bad-file",
            &*driver,
            &target,
            None,
            good.clone(),
            2,
            &StrategyConfig::Rolling(Rolling::default()),
        );
        s.gates = vec![ComposePreflight::NAME.into()];
        s
    };
    let (builder, _) = engine::runner(driver.clone(), &journal("file"), Instant::now());
    let report = builder
        .gate(Arc::new(ComposePreflight::new(driver)))
        .build()
        .start(spec)
        .await
        .unwrap();
    eprintln!("compose file removed: {:?}", report.status.reason);
    assert_blocked(&report, "gone.yaml");
    assert_nothing_created(&env, &project);

    // An image that does not exist: blocked by the gate…
    let missing = rev(
        "v9",
        "9.0.0",
        "localhost/shipcore-compose-e2e:does-not-exist",
    );
    let report = run(project.config(), missing.clone(), true, &journal("image")).await;
    eprintln!("missing image (gate): {:?}", report.status.reason);
    assert_blocked(
        &report,
        "no such image: localhost/shipcore-compose-e2e:does-not-exist",
    );
    assert_nothing_created(&env, &project);
    // …and without the gate the first deploy fails permanently (no retries) before
    // anything is created; the engine rolls back (nothing to restore) and says why.
    let report = run(project.config(), missing, false, &journal("image-nogate")).await;
    eprintln!("missing image (no gate): {:?}", report.status.reason);
    assert_eq!(
        report.status.phase,
        Phase::RolledBack,
        "{:?}",
        report.status
    );
    let reason = report.status.reason.clone().unwrap_or_default();
    assert!(
        reason.contains("deploy v9 x2 failed")
            && reason.contains("no such image: localhost/shipcore-compose-e2e:does-not-exist"),
        "{reason}"
    );
    let retries = report
        .events
        .iter()
        .filter(|e| {
            matches!(
                &e.kind,
                EventKind::DriverFailed {
                    will_retry: true,
                    ..
                }
            )
        })
        .count();
    assert_eq!(retries, 0, "a permanent error must not be retried");
    assert_nothing_created(&env, &project);
}
