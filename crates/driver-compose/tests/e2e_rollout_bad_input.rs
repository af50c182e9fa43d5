//! Bad input through the real engine, against the real compose CLI and Podman: an unknown
//! service, a compose file that is missing, an image that does not exist. The engine calls
//! the driver's preflight before it journals or changes anything, so `Runner::start`
//! refuses each with `RunError::Preflight` and the driver's message (which names the
//! problem), with or without the ComposePreflight gate; the gate alone, re-checked inside
//! a plan, blocks with the same message. In every case no container exists afterwards
//! (checked with `podman ps -a` on the project label) and the journal is empty.
//!
//! Runs only with SHIPCORE_E2E=1 (fails loudly if a part is missing); skipped otherwise.
#![allow(clippy::unwrap_used)]

mod support;

use shipcore::driver::Driver;
use shipcore::engine::{RunError, RunReport};
use shipcore::model::{Revision, Target};
use shipcore::strategy::{Rolling, StrategyConfig};
use shipcore_driver_compose::{ComposeConfig, ComposeDriver, ComposePreflight};
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;
use support::engine::{self, rev};
use support::scenario::containers_of;
use support::{Env, Project};

/// Starts a first deploy of `candidate` x2 (rolling) through the engine with `cfg`, with
/// or without the preflight gate.
async fn run(
    cfg: ComposeConfig,
    candidate: Revision,
    gate: bool,
    journal: &Path,
) -> Result<RunReport, RunError> {
    let target = Target::new(cfg.service.clone(), "e2e");
    let driver = Arc::new(ComposeDriver::new(cfg).unwrap());
    run_with(driver, &target, candidate, gate, journal).await
}

/// The same with a driver already built.
async fn run_with(
    driver: Arc<ComposeDriver>,
    target: &Target,
    candidate: Revision,
    gate: bool,
    journal: &Path,
) -> Result<RunReport, RunError> {
    let mut spec = engine::spec(
        "bad-input",
        &*driver,
        target,
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
    builder.build().start(spec).await
}

/// Refused by the driver's preflight, naming the problem, with nothing journaled.
fn assert_refused(result: Result<RunReport, RunError>, needle: &str, journal: &Path) {
    let err = match result {
        Err(e) => e,
        Ok(report) => panic!("started: {:?}", report.status),
    };
    assert!(matches!(err, RunError::Preflight(_)), "{err}");
    assert!(err.to_string().contains(needle), "{needle:?} not in {err}");
    let journaled = std::fs::read(journal).unwrap_or_default();
    assert!(journaled.is_empty(), "something was journaled");
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
    for gate in [false, true] {
        let j = journal(&format!("service-{gate}"));
        let result = run(cfg.clone(), good.clone(), gate, &j).await;
        eprintln!("unknown service (gate {gate}): {:?}", result.as_ref().err());
        assert_refused(result, "no such service: \"api\"", &j);
        assert_nothing_created(&env, &project);
    }

    // Missing compose file: the driver cannot even be built; its error names the field
    // and the file, and there is no runner to start.
    let mut cfg = project.config();
    cfg.files = vec![project.dir.path().join("missing.yaml")];
    let e = ComposeDriver::new(cfg).unwrap_err();
    eprintln!("missing compose file: {e}");
    assert_eq!(e.field, "files[0]");
    assert!(e.problem.contains("missing.yaml does not exist"), "{e}");
    // A file that disappears after the driver was built: the preflight refuses with
    // compose's own message naming it, and the gate says the same.
    let gone = project.dir.path().join("gone.yaml");
    std::fs::copy(&project.file, &gone).unwrap();
    let mut cfg = project.config();
    cfg.files = vec![gone.clone()];
    let target = Target::new("web", "e2e");
    let driver = Arc::new(ComposeDriver::new(cfg).unwrap());
    std::fs::remove_file(&gone).unwrap();
    let e = driver.preflight(&target, &good).await.unwrap_err();
    assert!(e.to_string().contains("gone.yaml"), "{e}");
    let j = journal("file");
    let result = run_with(driver, &target, good.clone(), true, &j).await;
    assert_refused(result, "gone.yaml", &j);
    assert_nothing_created(&env, &project);

    // An image that does not exist: refused before anything is created, with or without
    // the gate; the gate on its own blocks with the same message.
    let missing = rev(
        "v9",
        "9.0.0",
        "localhost/shipcore-compose-e2e:does-not-exist",
    );
    let needle = "no such image: localhost/shipcore-compose-e2e:does-not-exist";
    for gate in [false, true] {
        let j = journal(&format!("image-{gate}"));
        let result = run(project.config(), missing.clone(), gate, &j).await;
        eprintln!("missing image (gate {gate}): {:?}", result.as_ref().err());
        assert_refused(result, needle, &j);
        assert_nothing_created(&env, &project);
    }
    let driver = Arc::new(ComposeDriver::new(project.config()).unwrap());
    let ctx = shipcore::gate::GateContext {
        rollout_id: "gate-only".into(),
        target: Target::new("web", "e2e"),
        candidate: missing,
        stable: None,
        now: shipcore::time::Timestamp(0),
        approvals: Vec::new(),
        waiting_since: None,
    };
    let outcome = shipcore::gate::Gate::check(&ComposePreflight::new(driver), &ctx).await;
    assert!(
        matches!(&outcome, shipcore::gate::GateOutcome::Block { reason } if reason.contains(needle)),
        "{outcome:?}"
    );
    assert_nothing_created(&env, &project);
}
