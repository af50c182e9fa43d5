//! The rollout lock under the real runner: taken by the lock gate before anything changes,
//! held while the rollout runs (a second rollout of the same service is blocked), and given
//! back when it ends (success, rollback, abort, a later gate blocking), kept while frozen.
#![allow(clippy::unwrap_used)]

use async_trait::async_trait;
use shipcore::engine::{Command, FailurePolicy, Phase, RolloutSpec, RunReport, Runner};
use shipcore::gate::{FileLock, LockGate, LockKey, RolloutLock};
use shipcore::gate::{Gate, GateContext, GateOutcome};
use shipcore::journal::MemoryJournal;
use shipcore::model::{AnalysisPolicy, AnalysisStep, Plan, Revision, Role, Step, Target};
use shipcore::testing::SimWorld;
use shipcore::time::Timestamp;
use shipcore::validator::{Outcome, ValidationContext, Validator, ValidatorError, Verdict};
use std::sync::Arc;
use std::time::Duration;

fn web() -> Target {
    Target::new("web", "production")
}
fn v1() -> Revision {
    Revision::new("web-v1", "1.0.0".parse().unwrap(), "web:1.0.0")
}
fn v2() -> Revision {
    Revision::new("web-v2", "2.0.0".parse().unwrap(), "web:2.0.0")
}

struct Const(&'static str, Outcome);

#[async_trait]
impl Validator for Const {
    fn name(&self) -> &str {
        self.0
    }
    async fn validate(&self, _: &ValidationContext) -> Result<Verdict, ValidatorError> {
        Ok(Verdict::new(self.0, self.1, "constant"))
    }
}

struct Closed;

#[async_trait]
impl Gate for Closed {
    fn name(&self) -> &str {
        "closed"
    }
    async fn check(&self, _: &GateContext) -> GateOutcome {
        GateOutcome::block("closed for the test")
    }
}

/// Scale up, 50%, a pause (or a wait for a person), an analysis, promote, retire stable.
fn plan(pause: Option<Duration>) -> Plan {
    Plan {
        strategy: "canary".into(),
        replicas: 2,
        steps: vec![
            Step::Scale {
                role: Role::Candidate,
                replicas: 2,
            },
            Step::SetWeight { percent: 50 },
            Step::Pause { duration: pause },
            Step::Analysis(AnalysisStep {
                validators: vec!["health".into()],
                policy: AnalysisPolicy::every(Duration::from_secs(60), 2),
            }),
            Step::Promote,
            Step::Retire {
                role: Role::Stable,
                after: Duration::ZERO,
            },
        ],
    }
}

fn spec(id: &str, gates: &[&str]) -> RolloutSpec {
    let mut s = RolloutSpec::new(
        id,
        web(),
        Some(v1()),
        v2(),
        plan(Some(Duration::from_secs(600))),
    );
    s.gates = gates.iter().map(|g| g.to_string()).collect();
    s
}

fn world() -> SimWorld {
    let w = SimWorld::new(11);
    w.driver.seed_stable(&web(), &v1(), 2);
    w
}

fn runner(w: &SimWorld, lock: &Arc<LockGate>, health: Outcome) -> Runner {
    Runner::builder(
        w.driver_arc(),
        w.clock_arc(),
        Arc::new(MemoryJournal::new()),
    )
    .validator(Arc::new(Const("health", health)))
    .gate(lock.clone())
    .gate(Arc::new(Closed))
    .build()
}

fn lock_in(dir: &std::path::Path) -> (Arc<LockGate>, Arc<FileLock>) {
    let file_lock = Arc::new(FileLock::new(dir, Duration::from_secs(6 * 3600)));
    (
        Arc::new(LockGate::new("lock", file_lock.clone())),
        file_lock,
    )
}

async fn holder(lock: &FileLock) -> Option<String> {
    let key = LockKey::for_target(&web());
    lock.holder(&key).await.unwrap().map(|h| h.owner)
}

async fn run(mut r: Runner, spec: RolloutSpec) -> RunReport {
    r.start(spec).await.unwrap()
}

#[tokio::test]
async fn released_when_the_rollout_succeeds_rolls_back_or_is_aborted() {
    let dir = tempfile::tempdir().unwrap();
    let (gate, lock) = lock_in(dir.path());

    let w = world();
    let report = run(runner(&w, &gate, Outcome::Pass), spec("ok", &["lock"])).await;
    assert_eq!(report.status.phase, Phase::Succeeded, "{:?}", report.status);
    assert_eq!(holder(&lock).await, None, "released after success");

    let w = world();
    let report = run(runner(&w, &gate, Outcome::Fail), spec("bad", &["lock"])).await;
    assert_eq!(
        report.status.phase,
        Phase::RolledBack,
        "{:?}",
        report.status
    );
    assert_eq!(holder(&lock).await, None, "released after a rollback");

    let w = world();
    let r = Runner::builder(
        w.driver_arc(),
        w.clock_arc(),
        Arc::new(MemoryJournal::new()),
    )
    .validator(Arc::new(Const("health", Outcome::Pass)))
    .gate(gate.clone())
    .command_at(Timestamp(120_000), Command::Abort)
    .build();
    let report = run(r, spec("aborted", &["lock"])).await;
    assert_eq!(report.status.phase, Phase::Aborted, "{:?}", report.status);
    assert_eq!(holder(&lock).await, None, "released after an abort");
}

#[tokio::test]
async fn released_when_a_later_gate_blocks_and_kept_while_frozen() {
    let dir = tempfile::tempdir().unwrap();
    let (gate, lock) = lock_in(dir.path());
    let w = world();
    let report = run(
        runner(&w, &gate, Outcome::Pass),
        spec("late-block", &["lock", "closed"]),
    )
    .await;
    assert_eq!(report.status.phase, Phase::Blocked, "{:?}", report.status);
    assert_eq!(
        holder(&lock).await,
        None,
        "taken by the lock gate, then given back"
    );

    let mut frozen = spec("frozen", &["lock"]);
    frozen.failure_policy = FailurePolicy::Freeze;
    let report = run(runner(&w, &gate, Outcome::Fail), frozen).await;
    assert_eq!(report.status.phase, Phase::Frozen, "{:?}", report.status);
    assert_eq!(
        holder(&lock).await.as_deref(),
        Some("frozen"),
        "a frozen rollout waits for a person and keeps the service locked"
    );
}

#[tokio::test]
async fn a_second_rollout_is_blocked_while_the_first_runs_and_proceeds_after() {
    let dir = tempfile::tempdir().unwrap();
    let (gate, lock) = lock_in(dir.path());
    let w = world();

    // The first rollout waits for a person at its pause step, holding the lock.
    let mut first = runner(&w, &gate, Outcome::Pass);
    let mut handle = first.handle();
    let mut spec1 = spec("first", &["lock"]);
    spec1.plan = plan(None);
    let task = tokio::spawn(async move { first.start(spec1).await.unwrap() });
    let paused = handle.wait_for(|s| s.phase == Phase::Paused).await;
    assert_eq!(paused.phase, Phase::Paused, "{paused:?}");
    assert_eq!(holder(&lock).await.as_deref(), Some("first"));

    let actions_before = w.driver.calls().total;
    let second = run(runner(&w, &gate, Outcome::Pass), spec("second", &["lock"])).await;
    assert_eq!(second.status.phase, Phase::Blocked, "{:?}", second.status);
    let reason = second.status.reason.clone().unwrap();
    assert!(
        reason.contains("gate lock blocked") && reason.contains("locked by rollout first"),
        "{reason}"
    );
    assert_eq!(
        w.driver.calls().total,
        actions_before,
        "a blocked rollout does not touch the platform"
    );
    assert_eq!(
        holder(&lock).await.as_deref(),
        Some("first"),
        "the blocked rollout leaves the other's lock alone"
    );

    handle.promote().unwrap();
    let first = task.await.unwrap();
    assert_eq!(first.status.phase, Phase::Succeeded, "{:?}", first.status);
    assert_eq!(holder(&lock).await, None);

    // Now v2 is stable; a third rollout (v2 -> v3) takes the lock and runs.
    let v3 = Revision::new("web-v3", "3.0.0".parse().unwrap(), "web:3.0.0");
    let mut third = RolloutSpec::new(
        "third",
        web(),
        Some(v2()),
        v3,
        plan(Some(Duration::from_secs(60))),
    );
    third.gates = vec!["lock".into()];
    let report = run(runner(&w, &gate, Outcome::Pass), third).await;
    assert_eq!(report.status.phase, Phase::Succeeded, "{:?}", report.status);
    assert_eq!(holder(&lock).await, None);
}

#[tokio::test]
async fn resuming_an_ended_rollout_gives_back_a_lock_left_behind() {
    let dir = tempfile::tempdir().unwrap();
    let (gate, lock) = lock_in(dir.path());
    let w = world();
    let journal = Arc::new(MemoryJournal::new());
    let build = |journal: Arc<MemoryJournal>| {
        Runner::builder(w.driver_arc(), w.clock_arc(), journal)
            .validator(Arc::new(Const("health", Outcome::Pass)))
            .gate(gate.clone())
            .build()
    };
    let report = build(journal.clone())
        .start(spec("r1", &["lock"]))
        .await
        .unwrap();
    assert_eq!(report.status.phase, Phase::Succeeded, "{:?}", report.status);
    // As if the runner had died after journaling the end but before telling the gates.
    let key = LockKey::for_target(&web());
    lock.acquire(&key, "r1", w.now()).await.unwrap();
    assert_eq!(holder(&lock).await.as_deref(), Some("r1"));
    let resumed = build(journal).resume().await.unwrap();
    assert_eq!(resumed.status.phase, Phase::Succeeded);
    assert_eq!(holder(&lock).await, None);
}

/// Measures whether the rollout still holds its lock: another rollout trying to take it
/// must be refused, whatever the hour.
struct LockProbe(Arc<FileLock>);

#[async_trait]
impl Validator for LockProbe {
    fn name(&self) -> &str {
        "lock-probe"
    }
    async fn validate(&self, ctx: &ValidationContext) -> Result<Verdict, ValidatorError> {
        let key = LockKey::for_target(&web());
        let outcome = self.0.acquire(&key, "intruder", ctx.now).await.unwrap();
        let held = matches!(outcome, shipcore::gate::LockOutcome::Held(_));
        let (o, msg) = if held {
            (Outcome::Pass, "still held")
        } else {
            (Outcome::Fail, "an intruder took the lock")
        };
        Ok(Verdict::new("lock-probe", o, msg))
    }
}

#[tokio::test]
async fn the_lock_is_kept_fresh_through_a_watch_longer_than_its_ttl() {
    // A 6 h lock and a 24 h post-deploy watch measured every 30 min: without refreshes
    // the lock would go stale at hour 6 and another rollout could take it.
    let dir = tempfile::tempdir().unwrap();
    let (gate, file_lock) = lock_in(dir.path());
    let w = world();
    let mut plan = plan(None);
    plan.steps[2] = Step::Analysis(AnalysisStep {
        validators: vec!["lock-probe".into()],
        policy: AnalysisPolicy::every(Duration::from_secs(1800), 48),
    });
    let mut s = RolloutSpec::new("long", web(), Some(v1()), v2(), plan);
    s.gates = vec!["lock".into()];
    let r = Runner::builder(
        w.driver_arc(),
        w.clock_arc(),
        Arc::new(MemoryJournal::new()),
    )
    .validator(Arc::new(Const("health", Outcome::Pass)))
    .validator(Arc::new(LockProbe(file_lock.clone())))
    .gate(gate)
    .build();
    let report = run(r, s).await;
    assert_eq!(report.status.phase, Phase::Succeeded, "{:?}", report.status);
    assert!(
        w.now().0 >= 23 * 3600 * 1000,
        "most of a day went by: {}",
        w.now()
    );
    assert_eq!(holder(&file_lock).await, None, "released at the end");
}

/// Simulated time with a second rollout acting at one instant: when the runner's sleep
/// crosses `at`, the intruder tries to take the lock (or, `steal`, overwrites it, as a
/// takeover after the lock went stale would).
struct Intruder {
    clock: Arc<shipcore::clock::SimClock>,
    at: Timestamp,
    lock: Arc<FileLock>,
    steal: bool,
    /// What the intruder got, and the driver's apply count then.
    seen: std::sync::Mutex<Option<(String, u64)>>,
    driver: shipcore::testing::SimDriver,
}

#[async_trait]
impl shipcore::clock::Clock for Intruder {
    fn now(&self) -> Timestamp {
        self.clock.now()
    }
    async fn sleep_until(&self, t: Timestamp) {
        let due = t >= self.at && self.seen.lock().unwrap().is_none();
        if due {
            self.clock.advance_to(self.at);
            let key = LockKey::for_target(&web());
            let got = if self.steal {
                let other = shipcore::gate::LockHolder {
                    owner: "other".into(),
                    token: "other-token".into(),
                    pid: 1,
                    host: "other-host".into(),
                    acquired_at: self.at,
                };
                std::fs::write(self.lock.path(&key), serde_json::to_vec(&other).unwrap()).unwrap();
                "stolen".to_string()
            } else {
                format!(
                    "{:?}",
                    self.lock.acquire(&key, "intruder", self.at).await.unwrap()
                )
            };
            *self.seen.lock().unwrap() = Some((got, self.driver.calls().apply));
        }
        self.clock.advance_to(t);
    }
}

const HOUR: Duration = Duration::from_secs(3600);

fn intruder(w: &SimWorld, dir: &std::path::Path, at: Duration, steal: bool) -> Arc<Intruder> {
    Arc::new(Intruder {
        clock: w.clock.clone(),
        at: Timestamp::ZERO.plus(at),
        lock: Arc::new(FileLock::new(dir, 12 * HOUR)),
        steal,
        seen: std::sync::Mutex::new(None),
        driver: w.driver.clone(),
    })
}

fn twelve_hour_lock(dir: &std::path::Path) -> Arc<LockGate> {
    Arc::new(LockGate::new(
        "lock",
        Arc::new(FileLock::new(dir, 12 * HOUR)),
    ))
}

fn paused_13h(id: &str) -> RolloutSpec {
    let mut s = RolloutSpec::new(id, web(), Some(v1()), v2(), plan(Some(13 * HOUR)));
    s.gates = vec!["lock".into()];
    s
}

#[tokio::test]
async fn the_lock_is_refreshed_through_a_pause_longer_than_its_ttl() {
    // A 13 h pause against a 12 h TTL; another rollout tries the lock at 12.5 h.
    let dir = tempfile::tempdir().unwrap();
    let w = world();
    let clock = intruder(&w, dir.path(), 12 * HOUR + HOUR / 2, false);
    let report = Runner::builder(
        w.driver_arc(),
        clock.clone(),
        Arc::new(MemoryJournal::new()),
    )
    .validator(Arc::new(Const("health", Outcome::Pass)))
    .gate(twelve_hour_lock(dir.path()))
    .build()
    .start(paused_13h("long-pause"))
    .await
    .unwrap();
    let (got, _) = clock.seen.lock().unwrap().clone().unwrap();
    assert!(got.starts_with("Held("), "the intruder got {got}");
    assert_eq!(report.status.phase, Phase::Succeeded, "{:?}", report.status);
}

#[tokio::test]
async fn a_rollout_that_loses_its_lock_stops_changing_the_fleet_and_pauses() {
    let dir = tempfile::tempdir().unwrap();
    let w = world();
    let journal = Arc::new(MemoryJournal::new());
    let gate = twelve_hour_lock(dir.path());
    // Another rollout takes the lock 2 h into the pause.
    let clock = intruder(&w, dir.path(), 2 * HOUR, true);
    let report = Runner::builder(w.driver_arc(), clock.clone(), journal.clone())
        .validator(Arc::new(Const("health", Outcome::Pass)))
        .gate(gate.clone())
        .build()
        .start(paused_13h("loser"))
        .await
        .unwrap();
    let (_, applies_then) = clock.seen.lock().unwrap().clone().unwrap();
    assert_eq!(report.status.phase, Phase::Paused, "{:?}", report.status);
    let reason = report.status.reason.clone().unwrap();
    assert!(
        reason.contains("gate lock lost its hold") && reason.contains("rollout other"),
        "{reason}"
    );
    assert_eq!(
        w.driver.calls().apply,
        applies_then,
        "no fleet change after the lock was lost"
    );
    assert!(
        w.now() <= Timestamp::ZERO.plus(4 * HOUR),
        "noticed at the next refresh (ttl / 3), not at the end of the pause: {}",
        w.now()
    );
    assert_eq!(
        holder(&Arc::new(FileLock::new(dir.path(), 12 * HOUR)))
            .await
            .as_deref(),
        Some("other")
    );

    // The other rollout ends; a person resumes: the lock is taken again first, the
    // interrupted step runs again, and the rollout ends.
    std::fs::remove_file(FileLock::new(dir.path(), HOUR).path(&LockKey::for_target(&web())))
        .unwrap();
    let mut again = Runner::builder(w.driver_arc(), w.clock_arc(), journal)
        .validator(Arc::new(Const("health", Outcome::Pass)))
        .gate(gate)
        .build();
    let handle = again.handle();
    let task = tokio::spawn(async move { again.resume().await.unwrap() });
    handle.resume().unwrap();
    let report = task.await.unwrap();
    assert_eq!(report.status.phase, Phase::Succeeded, "{:?}", report.status);
}

#[tokio::test]
async fn a_lock_gate_later_in_the_plan_is_not_lost_before_it_is_reached() {
    let dir = tempfile::tempdir().unwrap();
    let w = world();
    let mut s = paused_13h("late-lock");
    s.gates.clear();
    s.plan.steps.insert(
        3,
        Step::Gate {
            gates: vec!["lock".into()],
        },
    );
    let report = Runner::builder(
        w.driver_arc(),
        w.clock_arc(),
        Arc::new(MemoryJournal::new()),
    )
    .validator(Arc::new(Const("health", Outcome::Pass)))
    .gate(twelve_hour_lock(dir.path()))
    .build()
    .start(s)
    .await
    .unwrap();
    assert_eq!(report.status.phase, Phase::Succeeded, "{:?}", report.status);
}
