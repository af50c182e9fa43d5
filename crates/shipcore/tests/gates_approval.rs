//! Manual approval: through the rollout handle (GateContext.approvals) or a file bound to
//! the rollout and consumed, with a timeout measured on the engine's time from the wait's
//! journaled start, that stops or continues. Under the runner a gate waiting for a person
//! pauses the rollout like an indefinite pause: no spinning, no journal entry per poll.
#![allow(clippy::unwrap_used)]

use async_trait::async_trait;
use shipcore::clock::{Clock, SimClock};
use shipcore::engine::{Phase, RolloutSpec, Runner};
use shipcore::gate::{ApprovalConfig, GateConfig, TimeoutAction};
use shipcore::gate::{Gate, GateContext, GateOutcome};
use shipcore::journal::MemoryJournal;
use shipcore::model::{Plan, Revision, Role, Step, Target};
use shipcore::testing::SimWorld;
use shipcore::time::Timestamp;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

fn ctx(rollout: &str, now: Timestamp, approvals: &[&str]) -> GateContext {
    GateContext {
        rollout_id: rollout.into(),
        target: Target::new("web", "production"),
        candidate: Revision::new("web-v2", "2.0.0".parse().unwrap(), "web:2.0.0"),
        stable: None,
        now,
        approvals: approvals.iter().map(|a| a.to_string()).collect(),
        waiting_since: None,
    }
}

fn since(mut c: GateContext, t: Timestamp) -> GateContext {
    c.waiting_since = Some(t);
    c
}

const MIN: Duration = Duration::from_secs(60);

#[tokio::test]
async fn waits_for_a_person_until_approved_through_the_handle() {
    let gate = ApprovalConfig::new("promote").build().unwrap();
    let clock = SimClock::new(Timestamp(1_000_000));
    match gate.check(&ctx("r1", clock.now(), &[])).await {
        GateOutcome::AwaitPerson {
            recheck_after,
            reason,
        } => {
            // Nothing but a command can change the answer: nothing to ask again for.
            assert_eq!(recheck_after, None);
            assert!(
                reason.contains("approve `promote` through the rollout handle"),
                "{reason}"
            );
        }
        other => panic!("expected AwaitPerson, got {other:?}"),
    }
    clock.advance(5 * MIN);
    // Approving another gate does not count.
    assert!(matches!(
        gate.check(&ctx("r1", clock.now(), &["other"])).await,
        GateOutcome::AwaitPerson { .. }
    ));
    assert_eq!(
        gate.check(&ctx("r1", clock.now(), &["other", "promote"]))
            .await,
        GateOutcome::Pass
    );
}

#[tokio::test]
async fn a_file_approves_one_rollout_once() {
    let dir = tempfile::tempdir().unwrap();
    let template = dir.path().join("approve-{{rollout_id}}");
    let mut cfg = ApprovalConfig::new("promote");
    cfg.approval_file = Some(template);
    let gate = cfg.build().unwrap();
    let file = gate.approval_file("r7").unwrap();
    assert_eq!(file, dir.path().join("approve-r7"));

    match gate.check(&ctx("r7", Timestamp(0), &[])).await {
        GateOutcome::AwaitPerson {
            reason,
            recheck_after,
        } => {
            assert!(
                reason.contains(&format!("or create {}", file.display())),
                "{reason}"
            );
            assert_eq!(
                recheck_after,
                Some(Duration::from_secs(30)),
                "the file is polled"
            );
        }
        other => panic!("expected AwaitPerson, got {other:?}"),
    }
    std::fs::write(dir.path().join("approve-r8"), "").unwrap();
    assert!(matches!(
        gate.check(&ctx("r7", Timestamp(1), &[])).await,
        GateOutcome::AwaitPerson { .. }
    ));
    std::fs::write(&file, "").unwrap();
    assert_eq!(
        gate.check(&ctx("r7", Timestamp(2), &[])).await,
        GateOutcome::Pass
    );
    // Consumed: the same file does not approve the rollout again a day later (a retry).
    assert!(!file.exists(), "the approval file is consumed");
    assert!(matches!(
        gate.check(&ctx("r7", Timestamp(86_400_000), &[])).await,
        GateOutcome::AwaitPerson { .. }
    ));
    // r8's file is still r8's.
    assert!(dir.path().join("approve-r8").exists());
}

#[test]
fn an_approval_file_must_name_the_rollout() {
    let e = GateConfig::from_json(
        r#"{"type": "approval", "name": "p", "approval_file": "/var/lib/shipcore/approved"}"#,
    )
    .unwrap()
    .build()
    .err()
    .unwrap();
    assert_eq!(e.field, "approval_file");
    assert!(e.problem.contains("{{rollout_id}}"), "{e}");
}

#[test]
fn an_approval_file_is_a_template_of_the_one_language_with_only_the_rollout_id() {
    let refused = |file: &str| {
        let mut cfg = ApprovalConfig::new("p");
        cfg.approval_file = Some(file.into());
        let e = cfg.build().err().unwrap();
        assert_eq!(e.field, "approval_file", "{file}");
        e.problem.clone()
    };
    // The single-brace spelling of older versions is refused with the fix.
    assert!(refused("/srv/{rollout_id}.ok").contains("write {{rollout_id}}"));
    // Another variable is not known here.
    let p = refused("/srv/{{service}}-{{rollout_id}}.ok");
    assert!(p.contains("{{service}} is not known"), "{p}");

    let mut cfg = ApprovalConfig::new("p");
    cfg.approval_file = Some("/srv/approvals/{{ rollout_id }}.ok".into());
    let gate = cfg.build().unwrap();
    assert_eq!(
        gate.approval_file("web-7"),
        Some(std::path::PathBuf::from("/srv/approvals/web-7.ok"))
    );
    // An id that is not a file name never reaches another directory.
    assert_eq!(gate.approval_file("../../etc/passwd"), None);
    assert_eq!(gate.approval_file(".."), None);
}

/// Asks the gate as the engine does: the wait's start is passed back on every ask.
async fn run_until_decided(
    on_timeout: TimeoutAction,
    file: bool,
) -> (GateOutcome, Timestamp, Vec<Duration>) {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = ApprovalConfig::new("promote");
    cfg.timeout = Some(60 * MIN);
    cfg.on_timeout = on_timeout;
    cfg.poll_interval = 25 * MIN;
    if file {
        cfg.approval_file = Some(dir.path().join("{{rollout_id}}.ok"));
    }
    let gate = cfg.build().unwrap();
    let clock = SimClock::new(Timestamp(5_000_000));
    let start = clock.now();
    let mut waits = Vec::new();
    let mut reasons = Vec::new();
    for _ in 0..10 {
        match gate.check(&since(ctx("r1", clock.now(), &[]), start)).await {
            GateOutcome::AwaitPerson {
                recheck_after: Some(d),
                reason,
            } => {
                waits.push(d);
                reasons.push(reason);
                clock.sleep_until(clock.now().plus(d)).await;
            }
            decided => {
                reasons.dedup();
                assert_eq!(reasons.len(), 1, "the reason stays the same: {reasons:?}");
                return (decided, clock.now(), waits);
            }
        }
    }
    panic!("the approval gate never decided")
}

#[tokio::test]
async fn timeout_stops_when_configured_to_stop() {
    let (out, at, waits) = run_until_decided(TimeoutAction::Stop, false).await;
    assert_eq!(
        out,
        GateOutcome::block("no approval for `promote` within 1h; stopping as configured")
    );
    // Only the timeout can change the answer: asked again once, when it ends.
    assert_eq!(waits, vec![60 * MIN]);
    assert_eq!(at, Timestamp(5_000_000).plus(60 * MIN));
    // With a file to look for: every 25m, the last wait shortened to end at the timeout.
    let (_, at, waits) = run_until_decided(TimeoutAction::Stop, true).await;
    assert_eq!(waits, vec![25 * MIN, 25 * MIN, 10 * MIN]);
    assert_eq!(at, Timestamp(5_000_000).plus(60 * MIN));
}

#[tokio::test]
async fn timeout_continues_when_configured_to_continue() {
    let (out, at, _) = run_until_decided(TimeoutAction::Continue, false).await;
    assert_eq!(out, GateOutcome::Pass);
    assert_eq!(at, Timestamp(5_000_000).plus(60 * MIN));
}

#[tokio::test]
async fn the_timeout_runs_from_the_wait_start_the_engine_passes() {
    let mut cfg = ApprovalConfig::new("promote");
    cfg.timeout = Some(10 * MIN);
    let gate = cfg.build().unwrap();
    let t0 = Timestamp(0);
    // A fresh gate (a restarted process) told the wait began 11 minutes ago stops at once.
    assert!(matches!(
        gate.check(&since(ctx("a", t0.plus(11 * MIN), &[]), t0))
            .await,
        GateOutcome::Block { .. }
    ));
    match gate
        .check(&since(ctx("b", t0.plus(11 * MIN), &[]), t0.plus(8 * MIN)))
        .await
    {
        GateOutcome::AwaitPerson {
            reason,
            recheck_after,
        } => {
            assert!(reason.contains("until 1970-01-01T00:18:00Z"), "{reason}");
            assert_eq!(recheck_after, Some(7 * MIN));
        }
        other => panic!("b was asked at 8m and must still wait, got {other:?}"),
    }
}

// ---- under the runner ----------------------------------------------------------------

fn web() -> Target {
    Target::new("web", "production")
}
fn v1() -> Revision {
    Revision::new("web-v1", "1.0.0".parse().unwrap(), "web:1.0.0")
}
fn v2() -> Revision {
    Revision::new("web-v2", "2.0.0".parse().unwrap(), "web:2.0.0")
}

/// Scale up, 50%, wait for approval, promote, retire stable.
fn spec(id: &str) -> RolloutSpec {
    let plan = Plan {
        strategy: "canary".into(),
        replicas: 2,
        steps: vec![
            Step::Scale {
                role: Role::Candidate,
                replicas: 2,
            },
            Step::SetWeight { percent: 50 },
            Step::Gate {
                gates: vec!["promote".into()],
            },
            Step::Promote,
            Step::Retire {
                role: Role::Stable,
                after: Duration::ZERO,
            },
        ],
    };
    RolloutSpec::new(id, web(), Some(v1()), v2(), plan)
}

fn world() -> SimWorld {
    let w = SimWorld::new(3);
    w.driver.seed_stable(&web(), &v1(), 2);
    w
}

fn runner(w: &SimWorld, journal: Arc<MemoryJournal>, gate: Arc<dyn Gate>) -> Runner {
    Runner::builder(w.driver_arc(), w.clock_arc(), journal)
        .gate(gate)
        .build()
}

fn gate_checks(journal: &MemoryJournal) -> usize {
    journal
        .entries()
        .iter()
        .filter(|e| e.payload["input"] == "gate_checked")
        .count()
}

/// Runs `f` on its own thread and fails after `secs` instead of hanging (a runner that
/// spins on a current-thread runtime cannot be timed out from inside it).
fn within<T: Send + 'static>(secs: u64, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(Duration::from_secs(secs))
        .expect("did not finish: the runner spins or starves the runtime")
}

fn current_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn without_a_handle_the_runner_returns_paused_like_an_indefinite_pause() {
    let (phase, reason, checks, hours) = within(20, || {
        current_thread().block_on(async {
            let w = world();
            let journal = Arc::new(MemoryJournal::new());
            let gate = ApprovalConfig::new("promote").build().unwrap();
            let report = runner(&w, journal.clone(), Arc::new(gate))
                .start(spec("r1"))
                .await
                .unwrap();
            (
                report.status.phase,
                report.status.reason.unwrap_or_default(),
                gate_checks(&journal),
                w.now().0 / 3_600_000,
            )
        })
    });
    assert_eq!(phase, Phase::Paused);
    assert!(reason.contains("approve `promote`"), "{reason}");
    assert_eq!(checks, 1, "one answer journaled, not one per poll");
    assert_eq!(hours, 0, "simulated time does not run on while waiting");
}

#[test]
fn a_handle_approves_on_a_single_threaded_runtime() {
    let (phase, checks) = within(20, || {
        current_thread().block_on(async {
            let w = world();
            let journal = Arc::new(MemoryJournal::new());
            let gate = ApprovalConfig::new("promote").build().unwrap();
            let mut r = runner(&w, journal.clone(), Arc::new(gate));
            let mut handle = r.handle();
            let task = tokio::spawn(async move { r.start(spec("r1")).await.unwrap() });
            let paused = handle.wait_for(|s| s.phase == Phase::Paused).await;
            assert_eq!(paused.phase, Phase::Paused, "{paused:?}");
            handle.approve("promote").unwrap();
            let report = task.await.unwrap();
            (report.status.phase, gate_checks(&journal))
        })
    });
    assert_eq!(phase, Phase::Succeeded);
    assert_eq!(checks, 2, "waiting, then approved");
}

#[test]
fn a_timeout_is_one_recheck_not_a_poll_every_30_seconds() {
    let (phase, checks, at) = within(20, || {
        current_thread().block_on(async {
            let w = world();
            let journal = Arc::new(MemoryJournal::new());
            let mut cfg = ApprovalConfig::new("promote");
            cfg.timeout = Some(24 * 60 * MIN);
            let report = runner(&w, journal.clone(), Arc::new(cfg.build().unwrap()))
                .start(spec("r1"))
                .await
                .unwrap();
            (report.status.phase, gate_checks(&journal), w.now())
        })
    });
    assert_eq!(phase, Phase::RolledBack, "the timeout stops the rollout");
    assert_eq!(checks, 2, "asked when the wait began and when it timed out");
    assert!(at >= Timestamp(0).plus(24 * 60 * MIN), "{at}");
}

#[test]
fn a_polled_file_journals_only_the_answer_that_changed() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("r1.approved");
    let template = dir.path().join("{{rollout_id}}.approved");
    let (phase, checks, minutes) = within(20, move || {
        current_thread().block_on(async {
            let w = world();
            let journal = Arc::new(MemoryJournal::new());
            let mut cfg = ApprovalConfig::new("promote");
            cfg.approval_file = Some(template);
            cfg.poll_interval = Duration::from_secs(30);
            // A person creates the file after about 3 hours of simulated time.
            let gate: Arc<dyn Gate> = Arc::new(Approver {
                inner: cfg.build().unwrap(),
                file,
                asked: AtomicU64::new(0),
            });
            let report = runner(&w, journal.clone(), gate)
                .start(spec("r1"))
                .await
                .unwrap();
            (
                report.status.phase,
                gate_checks(&journal),
                w.now().0 / 60_000,
            )
        })
    });
    assert_eq!(phase, Phase::Succeeded);
    assert!((180..=185).contains(&minutes), "{minutes} min");
    assert_eq!(checks, 2, "360 polls, two journaled answers");
}

/// The approval gate, with a person who creates the approval file at the 360th ask.
struct Approver {
    inner: shipcore::gate::ApprovalGate,
    file: std::path::PathBuf,
    asked: AtomicU64,
}

#[async_trait]
impl Gate for Approver {
    fn name(&self) -> &str {
        self.inner.name()
    }
    async fn check(&self, ctx: &GateContext) -> GateOutcome {
        if self.asked.fetch_add(1, Ordering::SeqCst) == 360 {
            std::fs::write(&self.file, "").unwrap();
        }
        self.inner.check(ctx).await
    }
}

/// A clock that moves only when the test says so; sleeping waits for it.
struct HeldClock(AtomicU64);

#[async_trait]
impl Clock for HeldClock {
    fn now(&self) -> Timestamp {
        Timestamp(self.0.load(Ordering::SeqCst))
    }
    async fn sleep_until(&self, t: Timestamp) {
        while self.now() < t {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
}

#[tokio::test]
async fn a_restart_does_not_reset_the_approval_timeout() {
    let w = world();
    let clock = Arc::new(HeldClock(AtomicU64::new(0)));
    let journal = Arc::new(MemoryJournal::new());
    let approval = || {
        let mut cfg = ApprovalConfig::new("promote");
        cfg.timeout = Some(60 * MIN);
        Arc::new(cfg.build().unwrap()) as Arc<dyn Gate>
    };
    let mut first = Runner::builder(w.driver_arc(), clock.clone(), journal.clone())
        .gate(approval())
        .build();
    let mut handle = first.handle();
    // Approval asked before anything changes (a pre-rollout gate).
    let mut gated = spec("r1");
    gated.plan.steps.remove(2);
    gated.gates = vec!["promote".into()];
    let task = tokio::spawn(async move { first.start(gated).await });
    handle.wait_for(|s| s.phase == Phase::Paused).await;
    // The process dies 50 minutes into the wait and comes back 11 minutes later.
    clock.0.store(50 * 60_000, Ordering::SeqCst);
    task.abort();
    let _ = task.await;
    clock.0.store(61 * 60_000, Ordering::SeqCst);
    let mut second = Runner::builder(w.driver_arc(), clock.clone(), journal.clone())
        .gate(approval())
        .build();
    let report = tokio::time::timeout(Duration::from_secs(10), second.resume())
        .await
        .expect("the resumed rollout waited a new hour instead of timing out")
        .unwrap();
    assert_eq!(report.status.phase, Phase::Blocked, "{:?}", report.status);
    let reason = report.status.reason.unwrap();
    assert!(
        reason.contains("no approval for `promote` within 1h"),
        "{reason}"
    );
    assert_eq!(
        clock.now(),
        Timestamp(61 * 60_000),
        "decided at once on resume"
    );
}

#[test]
fn config_parses_and_errors_name_the_field() {
    let cfg = GateConfig::from_json(
        r#"{"type": "approval", "name": "promote", "timeout": "2h", "on_timeout": "continue"}"#,
    )
    .unwrap();
    match &cfg {
        GateConfig::Approval(a) => {
            assert_eq!(a.timeout, Some(120 * MIN));
            assert_eq!(a.on_timeout, TimeoutAction::Continue);
        }
        other => panic!("{other:?}"),
    }
    let e = GateConfig::from_json(r#"{"type": "approval", "name": "p", "timeout": "0s"}"#)
        .unwrap()
        .build()
        .err()
        .unwrap();
    assert_eq!(e.field, "timeout");
    let e = GateConfig::from_json(r#"{"type": "approval", "name": "p", "poll_interval": 0}"#)
        .unwrap()
        .build()
        .err()
        .unwrap();
    assert_eq!(e.field, "poll_interval");
    let e = GateConfig::from_json(r#"{"type": "approval", "name": "p", "on_timeout": "maybe"}"#)
        .unwrap_err();
    assert!(e.problem.contains("unknown variant `maybe`"), "{e}");
}
