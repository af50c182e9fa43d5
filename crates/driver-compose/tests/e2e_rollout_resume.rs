//! Crash safety on real parts: a child process (this test binary run again, told by an
//! environment variable to be the child) runs a canary v1 → v2 through the engine with a
//! FileJournal; once the journal shows the first weight applied, the parent kills it with
//! SIGKILL, then resumes the rollout from the same journal with a fresh ComposeDriver. The
//! end must be consistent: fully on v2 (or fully rolled back, if the policy said so), with
//! exactly that revision's containers (podman ps on the project label) and HAProxy servers,
//! under load the whole time.
//!
//! Runs only with SHIPCORE_E2E=1 (fails loudly if a part is missing); skipped otherwise.
#![allow(clippy::unwrap_used)]

mod support;

use shipcore::engine::{EventKind, Phase};
use shipcore::strategy::{Canary, CanaryStep, PauseSpec, StrategyConfig};
use shipcore_driver_compose::router::HaproxyRouter;
use shipcore_driver_compose::ComposeDriver;
use std::path::PathBuf;
use std::process::{Child, Command};
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::engine::{self, rev};
use support::scenario::{only, Stack};

const TEST: &str = "engine_killed_mid_canary_resumes_from_its_journal_to_a_consistent_end";
/// Set in the child: JSON with what it needs to reach the parent's project and HAProxy.
const CHILD: &str = "SHIPCORE_E2E_RESUME_CHILD";

#[derive(serde::Serialize, serde::Deserialize)]
struct ChildArgs {
    project: String,
    file: PathBuf,
    state_dir: PathBuf,
    socket: PathBuf,
    backend: String,
    journal: PathBuf,
    v1: String,
    v2: String,
}

/// Kills (SIGKILL) and reaps the child if the parent fails before it does.
struct ChildGuard(Option<Child>);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn canary() -> StrategyConfig {
    StrategyConfig::Canary(Canary {
        steps: vec![
            CanaryStep::SetWeight(10),
            CanaryStep::Pause(PauseSpec(Some(Duration::from_secs(5)))),
            CanaryStep::SetWeight(50),
            CanaryStep::Pause(PauseSpec(Some(Duration::from_secs(2)))),
            CanaryStep::SetWeight(100),
        ],
        scale_down_delay: Duration::from_secs(1),
        ..Default::default()
    })
}

/// The child: runs the canary until it is killed.
async fn child(env: &support::Env, args: ChildArgs) {
    let cfg = support::config_for(env, &args.project, &args.file, &args.state_dir);
    let driver = Arc::new(
        ComposeDriver::new(cfg)
            .unwrap()
            .with_router(Arc::new(HaproxyRouter::new(&args.socket, &args.backend))),
    );
    let target = shipcore::model::Target::new("web", "e2e");
    let spec = engine::spec(
        "resume-e2e",
        &*driver,
        &target,
        Some(rev("v1", "1.0.0", &args.v1)),
        rev("v2", "2.0.0", &args.v2),
        3,
        &canary(),
    );
    let (builder, _) = engine::runner(driver, &args.journal, Instant::now());
    let report = builder.build().start(spec).await.unwrap();
    eprintln!(
        "child: the rollout ended before the kill: {:?}",
        report.status
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn engine_killed_mid_canary_resumes_from_its_journal_to_a_consistent_end() {
    let Some(env) = support::env(TEST).await else {
        return;
    };
    if let Ok(json) = std::env::var(CHILD) {
        return child(&env, serde_json::from_str(&json).unwrap()).await;
    }
    let images = support::images(&env);
    let stack = Stack::new(&env, &images, "resume").await;
    stack.seed(&rev("v1", "1.0.0", &images.v1), 3).await;
    let journal = stack.journal("resume");
    let cfg = stack.project.config();
    let args = ChildArgs {
        project: cfg.project.clone(),
        file: stack.project.file.clone(),
        state_dir: cfg.state_dir.clone(),
        socket: stack.proxy.spec().socket(),
        backend: stack.proxy.spec().backend.clone(),
        journal: journal.clone(),
        v1: images.v1.clone(),
        v2: images.v2.clone(),
    };
    let load = support::standard_load(stack.proxy.addr());
    let mut guard = ChildGuard(Some(
        Command::new(std::env::current_exe().unwrap())
            .args(["--exact", TEST, "--nocapture", "--test-threads=1"])
            .env(CHILD, serde_json::to_string(&args).unwrap())
            .spawn()
            .unwrap(),
    ));

    // Wait until the journal shows the canary mid-way: the first weight applied and the
    // pause after it begun.
    let deadline = Instant::now() + Duration::from_secs(120);
    let at_kill = loop {
        let (machine, events) = engine::replay_journal(&journal);
        let paused = events.iter().any(|e| {
            matches!(&e.kind, EventKind::StepStarted { description, .. } if description.starts_with("pause"))
        });
        if paused {
            break machine.map(|m| m.status());
        }
        let c = guard.0.as_mut().unwrap();
        assert!(
            c.try_wait().unwrap().is_none(),
            "the child exited before it was killed"
        );
        assert!(
            Instant::now() < deadline,
            "the child's journal never reached the first pause: {:?}",
            machine.map(|m| m.status())
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let mut c = guard.0.take().unwrap();
    c.kill().unwrap(); // SIGKILL on unix
    let status = c.wait().unwrap();
    eprintln!(
        "killed the runner (pid {}, {status}) at {at_kill:?}",
        c.id()
    );
    let mid = stack.containers();
    eprintln!("containers when killed: {mid:?}");
    assert_eq!(
        mid.get("v2 running").copied(),
        Some(1),
        "the canary had one v2 container: {mid:?}"
    );

    // Resume in this process with a fresh driver and router client on the same journal.
    let driver = Arc::new(
        ComposeDriver::new(cfg)
            .unwrap()
            .with_router(Arc::new(HaproxyRouter::new(&args.socket, &args.backend))),
    );
    let (builder, _) = engine::runner(driver, &journal, stack.t0);
    let t = Instant::now();
    let report = builder.build().resume().await.unwrap();
    let resumed_for = t.elapsed();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let tally = load.finish();
    assert!(
        report.events.iter().any(|e| e.kind == EventKind::Resumed),
        "no Resumed event"
    );
    let expected = match report.status.phase {
        Phase::Succeeded => "v2",
        Phase::RolledBack => "v1",
        other => panic!("resumed rollout ended {other}: {:?}", report.status),
    };
    assert_eq!(
        stack.containers(),
        only(expected, 3),
        "exactly {expected}'s containers must be left"
    );
    stack.wait_servers_up(3).await;
    eprintln!(
        "FIGURES kill -9 mid-canary then resume: ended {} after {:.1} s of resumed run; load {} requests, {} failed; failures {:?}",
        report.status.phase,
        resumed_for.as_secs_f64(),
        tally.total(),
        tally.failed,
        tally.failures
    );
    assert_eq!(
        report.status.phase,
        Phase::Succeeded,
        "a healthy v2 ends promoted"
    );
    assert_eq!(
        tally.failed, 0,
        "requests failed across the kill and resume: {tally:?}"
    );
}
