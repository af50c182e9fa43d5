//! The shared `Engine`: many rollouts at once on one driver and clock, the concurrency
//! limit, the live list and handles, and a graceful shutdown whose journals resume.

#![allow(clippy::unwrap_used)]
use shipcore::clock::SystemClock;
use shipcore::prelude::*;
use shipcore::testing::SimWorld;
use std::sync::Arc;
use std::time::Duration;

fn v(id: &str, version: &str) -> Revision {
    Revision::new(id, version.parse().unwrap(), format!("app:{version}"))
}

/// Blue-green that waits for a person before it switches.
fn waits_for_person(world: &SimWorld, service: &str) -> RolloutSpec {
    let target = Target::new(service, "production");
    world.driver.seed_stable(&target, &v("v1", "1.0.0"), 1);
    let plan = Plan {
        strategy: "blue_green".into(),
        replicas: 1,
        steps: vec![
            Step::Scale {
                role: Role::Candidate,
                replicas: 1,
            },
            Step::Pause { duration: None },
            Step::Promote,
            Step::Retire {
                role: Role::Stable,
                after: Default::default(),
            },
        ],
    };
    RolloutSpec::new(
        format!("{service}-2"),
        target,
        Some(v("v1", "1.0.0")),
        v("v2", "2.0.0"),
        plan,
    )
}

async fn until(engine: &Engine, what: &str, pred: impl Fn(&[RolloutStatus]) -> bool) {
    for _ in 0..10_000 {
        if pred(&engine.runs()) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    panic!("{what} never happened: {:?}", engine.runs());
}

fn count(runs: &[RolloutStatus], phase: Phase) -> usize {
    runs.iter().filter(|s| s.phase == phase).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_engine_runs_many_rollouts_lists_them_and_forgets_them_when_they_end() {
    let world = SimWorld::new(3);
    let engine = Engine::builder(world.driver_arc(), world.clock_arc()).build();
    let services: Vec<String> = (0..20).map(|i| format!("svc{i}")).collect();
    let mut running = Vec::new();
    for s in &services {
        let spec = waits_for_person(&world, s);
        running.push(engine.start(spec, Arc::new(MemoryJournal::new())).unwrap());
    }
    until(&engine, "all 20 paused", |runs| {
        runs.len() == 20 && count(runs, Phase::Paused) == 20
    })
    .await;
    let mut ids: Vec<String> = engine.runs().into_iter().map(|s| s.id).collect();
    ids.sort();
    let mut want: Vec<String> = services.iter().map(|s| format!("{s}-2")).collect();
    want.sort();
    assert_eq!(ids, want);
    // Each is reachable by id through the engine, not only through its RunningRollout.
    for s in &services {
        engine.handle(&format!("{s}-2")).unwrap().promote().unwrap();
    }
    assert!(engine.handle("nobody").is_none());
    for (run, s) in running.into_iter().zip(&services) {
        let report = run.finished().await.unwrap();
        assert_eq!(report.status.phase, Phase::Succeeded, "{s}");
        let fleet = world.driver.fleet(&Target::new(s.as_str(), "production"));
        assert_eq!(fleet.weight_of(&v("v2", "2.0.0").id), 100, "{s}");
    }
    assert!(engine.runs().is_empty());
    assert_eq!(engine.active(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_concurrency_limit_holds_the_others_pending_until_a_slot_frees() {
    let world = SimWorld::new(4);
    let engine = Engine::builder(world.driver_arc(), world.clock_arc())
        .max_concurrent_runs(2)
        .build();
    assert_eq!(engine.max_concurrent_runs(), 2);
    let mut running = Vec::new();
    for i in 0..5 {
        let spec = waits_for_person(&world, &format!("svc{i}"));
        running.push(engine.start(spec, Arc::new(MemoryJournal::new())).unwrap());
    }
    until(&engine, "two paused", |runs| {
        count(runs, Phase::Paused) == 2
    })
    .await;
    // Give the held ones every chance to start wrongly.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let runs = engine.runs();
    assert_eq!(count(&runs, Phase::Paused), 2, "{runs:?}");
    assert_eq!(count(&runs, Phase::Pending), 3, "{runs:?}");
    assert_eq!(engine.active(), 2);
    // Promote whichever run pauses, one at a time: each frees a slot for a waiting one.
    let mut promoted = 0;
    while promoted < 5 {
        until(&engine, "a paused run", |runs| {
            count(runs, Phase::Paused) > 0
        })
        .await;
        assert!(engine.active() <= 2);
        let paused = engine
            .runs()
            .into_iter()
            .find(|s| s.phase == Phase::Paused)
            .unwrap();
        engine.handle(&paused.id).unwrap().promote().unwrap();
        until(&engine, "the promoted run to leave", |runs| {
            runs.iter().all(|s| s.id != paused.id)
        })
        .await;
        promoted += 1;
    }
    for run in running {
        assert_eq!(run.finished().await.unwrap().status.phase, Phase::Succeeded);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_stops_every_run_and_a_new_engine_resumes_each_journal() {
    let dir = tempfile::tempdir().unwrap();
    let world = SimWorld::new(5);
    let engine = Engine::builder(world.driver_arc(), world.clock_arc())
        .max_concurrent_runs(3)
        .build();
    let mut running = Vec::new();
    let mut journals = Vec::new();
    for i in 0..5 {
        let path = dir.path().join(format!("svc{i}.journal"));
        let journal: Arc<dyn Journal> = Arc::new(FileJournal::open(&path).unwrap());
        journals.push(path);
        let spec = waits_for_person(&world, &format!("svc{i}"));
        running.push(engine.start(spec, journal).unwrap());
    }
    until(&engine, "three paused", |runs| {
        count(runs, Phase::Paused) == 3
    })
    .await;
    engine.shutdown().await;
    assert!(engine.is_shutting_down());
    assert_eq!(engine.active(), 0);
    for run in running {
        assert!(matches!(run.finished().await, Err(RunError::ShutDown)));
    }
    assert!(engine.runs().is_empty());
    // Nothing starts on an engine that shut down.
    let late = waits_for_person(&world, "late");
    assert!(matches!(
        engine.start(late, Arc::new(MemoryJournal::new())),
        Err(RunError::ShutDown)
    ));

    // A new engine (a new process) resumes every journal: the three that paused resume
    // paused, the two that never got a slot start from their journal's beginning.
    let next = Engine::builder(world.driver_arc(), world.clock_arc()).build();
    let mut resumed = Vec::new();
    for path in &journals {
        let journal: Arc<dyn Journal> = Arc::new(FileJournal::open(path).unwrap());
        if journal.read_all().await.unwrap().is_empty() {
            // Never got a slot: nothing was journaled, so it is started again.
            let i = path.file_stem().unwrap().to_str().unwrap().to_string();
            let spec = waits_for_person(&world, &i);
            resumed.push(next.start(spec, journal).unwrap());
        } else {
            resumed.push(next.resume(journal).unwrap());
        }
    }
    until(&next, "all five paused", |runs| {
        runs.len() == 5 && count(runs, Phase::Paused) == 5
    })
    .await;
    for status in next.runs() {
        next.handle(&status.id).unwrap().promote().unwrap();
    }
    for run in resumed {
        assert_eq!(run.finished().await.unwrap().status.phase, Phase::Succeeded);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_interrupts_a_timed_wait_on_a_real_clock() {
    let world = SimWorld::new(6);
    // The driver is simulated, the clock is the wall clock: the plan opens with an
    // hour-long pause the engine sleeps through on that clock.
    let engine = Engine::builder(world.driver_arc(), Arc::new(SystemClock)).build();
    let mut spec = waits_for_person(&world, "slow");
    spec.plan.steps[1] = Step::Pause {
        duration: Some(Duration::from_secs(3600)),
    };
    spec.plan.steps.swap(0, 1);
    let run = engine.start(spec, Arc::new(MemoryJournal::new())).unwrap();
    until(&engine, "the hour-long pause", |runs| {
        runs.first()
            .is_some_and(|s| s.phase == Phase::Progressing && s.step == 0)
    })
    .await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(engine.active(), 1);
    // A bound that only catches a hang: the pause itself lasts an hour.
    tokio::time::timeout(Duration::from_secs(30), engine.shutdown())
        .await
        .expect("shutdown returns without waiting out the pause");
    assert!(matches!(run.finished().await, Err(RunError::ShutDown)));
}

#[tokio::test(flavor = "current_thread")]
async fn a_runner_of_an_engine_shares_its_collaborators_and_stops_with_it() {
    let world = SimWorld::new(7);
    let engine = Engine::builder(world.driver_arc(), world.clock_arc()).build();
    // A spec naming a validator the engine lacks is refused by the engine's runners too.
    let mut spec = waits_for_person(&world, "api");
    spec.plan.steps[1] = Step::Analysis(AnalysisStep {
        validators: vec!["error-rate".into()],
        policy: AnalysisPolicy::default(),
    });
    let mut refused = engine.runner(Arc::new(MemoryJournal::new()));
    assert!(matches!(
        refused.start(spec.clone()).await,
        Err(RunError::UnknownValidator { name, .. }) if name == "error-rate"
    ));
    assert!(matches!(
        engine.start(spec, Arc::new(MemoryJournal::new())),
        Err(RunError::UnknownValidator { .. })
    ));
    // A runner driven by its owner, with no handle, returns when it waits for a person.
    let mut runner = engine.runner(Arc::new(MemoryJournal::new()));
    let report = runner.start(waits_for_person(&world, "web")).await.unwrap();
    assert_eq!(report.status.phase, Phase::Paused);
    assert!(
        engine.runs().is_empty(),
        "a caller-driven runner is not listed"
    );
    engine.shutdown().await;
    let mut after = engine.runner(Arc::new(MemoryJournal::new()));
    assert!(matches!(
        after.start(waits_for_person(&world, "worker")).await,
        Err(RunError::ShutDown)
    ));
    assert!(format!("{engine:?}").contains("Engine"));
    assert!(format!("{after:?}").contains("Runner"));
}
