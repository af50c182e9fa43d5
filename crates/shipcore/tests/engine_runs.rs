//! End-to-end behaviour of the engine through the runner, on an in-memory platform and a
//! simulated clock: success, rollback order, deadlines, retries, policies, commands, gates.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use shipcore::clock::SimClock;
use shipcore::driver::{Capabilities, DriverError};
use shipcore::engine::{Command, EventKind, FailurePolicy, Phase, RunError, Runner};
use shipcore::gate::GateOutcome;
use shipcore::journal::MemoryJournal;
use shipcore::model::{Action, Step, WeightSet};
use shipcore::time::Timestamp;
use shipcore::validator::{Outcome, Verdict};
use std::sync::Arc;
use std::time::Duration;

fn runner(driver: Arc<FakeDriver>) -> shipcore::engine::RunnerBuilder {
    Runner::builder(
        driver,
        Arc::new(SimClock::new(Timestamp::ZERO)),
        Arc::new(MemoryJournal::new()),
    )
}

#[tokio::test]
async fn canary_succeeds_and_ends_fully_on_candidate() {
    let d = FakeDriver::with_stable(Capabilities::ALL, &v1(), 4);
    let mut r = runner(d.clone())
        .validator(FnValidator::constant("ok", Outcome::Pass))
        .build();
    let report = r.start(spec(canary_plan(4, "ok"))).await.unwrap();
    assert_eq!(report.status.phase, Phase::Succeeded, "{:?}", report.status);
    let f = d.fleet();
    assert_eq!(f.revisions.len(), 1);
    assert_eq!(
        (
            f.revisions[0].revision.as_str(),
            f.revisions[0].ready,
            f.revisions[0].weight
        ),
        ("web-v2", 4, 100)
    );
    // Two analyses of 3 measurements each, 60 s apart, and a 30 s retire delay.
    let measured = report
        .events
        .iter()
        .filter(|e| matches!(e.kind, EventKind::Measured { .. }))
        .count();
    assert_eq!(measured, 6);
    let end = report.events.last().unwrap().at;
    assert!(
        end >= Timestamp(2 * 2 * 60_000 + 30_000),
        "simulated time advanced: {end:?}"
    );
}

#[tokio::test]
async fn failing_analysis_rolls_back_traffic_first_then_capacity_then_retire() {
    let d = FakeDriver::with_stable(Capabilities::ALL, &v1(), 4);
    let mut r = runner(d.clone())
        .validator(FnValidator::new("err", |ctx| {
            let outcome = if ctx.candidate.id.as_str() == "web-v2" {
                Outcome::Fail
            } else {
                Outcome::Pass
            };
            Ok(Verdict::new("err", outcome, "error rate 12% > 5%"))
        }))
        .build();
    let mut s = spec(canary_plan(4, "err"));
    s.health_validators = vec!["err".into()];
    let report = r.start(s).await.unwrap();
    assert_eq!(report.status.phase, Phase::RolledBack);
    assert!(
        report
            .status
            .reason
            .as_deref()
            .unwrap()
            .contains("error rate 12%"),
        "{:?}",
        report.status.reason
    );
    let actions = d.actions();
    let rb = actions
        .iter()
        .position(|a| matches!(a, Action::Route { weights } if weights.of(&v1().id) == 100))
        .unwrap();
    assert!(
        matches!(&actions[rb + 1], Action::Deploy { revision, replicas: 4 } if revision.id == v1().id),
        "{actions:?}"
    );
    assert!(
        matches!(&actions[rb + 2], Action::Route { weights } if *weights == WeightSet(vec![(v1().id, 100)]))
    );
    assert!(matches!(&actions[rb + 3], Action::Retire { revision } if *revision == v2().id));
    let f = d.fleet();
    assert_eq!(f.revisions.len(), 1);
    assert_eq!(
        (
            f.revisions[0].revision.as_str(),
            f.revisions[0].ready,
            f.revisions[0].weight
        ),
        ("web-v1", 4, 100)
    );
    // Verification of stable ran and passed.
    assert!(find(&report.events, |k| matches!(
        k,
        EventKind::AnalysisCompleted {
            scope: shipcore::engine::AnalysisScope::RollbackVerification,
            result: shipcore::engine::AnalysisResult::Passed,
            ..
        }
    ))
    .is_some());
}

#[tokio::test]
async fn rollback_verification_failure_ends_in_rollback_failed() {
    let d = FakeDriver::with_stable(Capabilities::ALL, &v1(), 2);
    let mut r = runner(d.clone())
        .validator(FnValidator::constant("bad", Outcome::Fail))
        .build();
    let mut s = spec(canary_plan(2, "bad"));
    s.health_validators = vec!["bad".into()];
    let report = r.start(s).await.unwrap();
    assert_eq!(report.status.phase, Phase::RollbackFailed);
    let reason = report.status.reason.unwrap();
    assert!(
        reason.contains("rollback failed") && reason.contains("analysis failed"),
        "{reason}"
    );
}

#[tokio::test]
async fn progress_deadline_triggers_rollback() {
    let d = FakeDriver::with_stable(Capabilities::ALL, &v1(), 2);
    d.never_ready(&v2());
    let mut r = runner(d.clone())
        .validator(FnValidator::constant("ok", Outcome::Pass))
        .build();
    let mut s = spec(canary_plan(2, "ok"));
    s.progress_deadline = Duration::from_secs(30);
    let report = r.start(s).await.unwrap();
    assert_eq!(report.status.phase, Phase::RolledBack);
    let reason = report.status.reason.unwrap();
    assert!(
        reason.contains("progress deadline of 30s exceeded") && reason.contains("0/1 ready"),
        "{reason}"
    );
    let failed_at = find(&report.events, |k| matches!(k, EventKind::Failed { .. }))
        .unwrap()
        .at;
    assert!(
        failed_at >= Timestamp(30_000) && failed_at < Timestamp(40_000),
        "{failed_at:?}"
    );
}

#[tokio::test]
async fn transient_errors_are_retried_with_backoff_then_succeed() {
    let d = FakeDriver::with_stable(Capabilities::ALL, &v1(), 2);
    d.fail_next_applies(vec![
        DriverError::transient("deploy", "throttled"),
        DriverError::transient("deploy", "throttled"),
    ]);
    let mut r = runner(d.clone())
        .validator(FnValidator::constant("ok", Outcome::Pass))
        .build();
    let report = r.start(spec(canary_plan(2, "ok"))).await.unwrap();
    assert_eq!(report.status.phase, Phase::Succeeded);
    let retries: Vec<_> = report
        .events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::DriverFailed { will_retry, .. } => Some((*will_retry, e.at)),
            _ => None,
        })
        .collect();
    assert_eq!(retries.len(), 2);
    assert!(retries.iter().all(|(w, _)| *w));
    // Backoff 1 s then 2 s.
    let attempts: Vec<_> = report
        .events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::ActionRequested { attempt, .. } if *attempt > 1 => Some(e.at),
            _ => None,
        })
        .collect();
    assert_eq!(attempts, vec![Timestamp(1_000), Timestamp(3_000)]);
}

#[tokio::test]
async fn retries_are_bounded_and_permanent_errors_fail_at_once() {
    let d = FakeDriver::with_stable(Capabilities::ALL, &v1(), 2);
    d.fail_next_applies(
        (0..5)
            .map(|_| DriverError::transient("deploy", "socket busy"))
            .collect(),
    );
    let mut r = runner(d.clone())
        .validator(FnValidator::constant("ok", Outcome::Pass))
        .build();
    let report = r.start(spec(canary_plan(2, "ok"))).await.unwrap();
    assert_eq!(report.status.phase, Phase::RolledBack);
    assert!(report.status.reason.unwrap().contains("after 5 attempt(s)"));

    let d = FakeDriver::with_stable(Capabilities::ALL, &v1(), 2);
    d.fail_next_applies(vec![DriverError::permanent(
        "deploy",
        "image web:2.0.0 not found",
    )]);
    let mut r = runner(d.clone())
        .validator(FnValidator::constant("ok", Outcome::Pass))
        .build();
    let report = r.start(spec(canary_plan(2, "ok"))).await.unwrap();
    assert_eq!(report.status.phase, Phase::RolledBack);
    assert!(report
        .status
        .reason
        .unwrap()
        .contains("image web:2.0.0 not found"));
    let failures = report
        .events
        .iter()
        .filter(|e| matches!(e.kind, EventKind::DriverFailed { .. }))
        .count();
    assert_eq!(failures, 1, "a permanent error is not retried");
}

#[tokio::test]
async fn freeze_policy_waits_for_a_person_then_retry_reruns_the_step() {
    let d = FakeDriver::with_stable(Capabilities::ALL, &v1(), 2);
    let calls = Arc::new(std::sync::atomic::AtomicU32::new(0));
    let c = calls.clone();
    let flaky = FnValidator::new("flaky", move |_| {
        let n = c.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let outcome = if n == 0 { Outcome::Fail } else { Outcome::Pass };
        Ok(Verdict::new("flaky", outcome, "migration check"))
    });
    let mut s = spec(canary_plan(2, "flaky"));
    s.failure_policy = FailurePolicy::Freeze;
    let mut r = runner(d.clone()).validator(flaky.clone()).build();
    let report = r.start(s.clone()).await.unwrap();
    assert_eq!(report.status.phase, Phase::Frozen);
    assert_eq!(report.status.step, 2, "frozen at the failing analysis");
    // Nothing was rolled back: the candidate still has its canary replica.
    assert_eq!(d.fleet().ready_of(&v2().id), 1);

    // A person retries: a new runner resumes from the same journal with the command.
    let journal = Arc::new(MemoryJournal::new());
    let mut r1 = Runner::builder(
        d.clone(),
        Arc::new(SimClock::new(Timestamp::ZERO)),
        journal.clone(),
    )
    .validator(flaky.clone())
    .build();
    calls.store(0, std::sync::atomic::Ordering::SeqCst);
    assert_eq!(r1.start(s).await.unwrap().status.phase, Phase::Frozen);
    let mut r2 = Runner::builder(d.clone(), Arc::new(SimClock::new(Timestamp::ZERO)), journal)
        .validator(flaky)
        .command_at(Timestamp(0), Command::Retry)
        .build();
    let report = r2.resume().await.unwrap();
    assert_eq!(report.status.phase, Phase::Succeeded, "{:?}", report.status);
}

/// An operator's pause asks the rollout to stop after the current step. When that step
/// fails and the rollout freezes, `retry` is the person's newer instruction: it re-runs the
/// frozen step at once and goes on, without the earlier pause request (which would
/// otherwise stop it again before the step it was told to retry).
#[tokio::test]
async fn retry_after_a_freeze_reruns_the_step_and_drops_an_earlier_pause_request() {
    let d = FakeDriver::with_stable(Capabilities::ALL, &v1(), 2);
    let calls = Arc::new(std::sync::atomic::AtomicU32::new(0));
    let c = calls.clone();
    let flaky = FnValidator::new("flaky", move |_| {
        let n = c.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let outcome = if n == 1 { Outcome::Fail } else { Outcome::Pass };
        Ok(Verdict::new("flaky", outcome, "error rate"))
    });
    let mut s = spec(canary_plan(2, "flaky"));
    s.failure_policy = FailurePolicy::Freeze;
    let journal = Arc::new(MemoryJournal::new());
    // Paused during the first analysis, between its first measurement (t=0, a pass) and
    // its second (t=60 s, a failure).
    let mut r1 = Runner::builder(
        d.clone(),
        Arc::new(SimClock::new(Timestamp::ZERO)),
        journal.clone(),
    )
    .validator(flaky.clone())
    .command_at(Timestamp(1), Command::Pause)
    .build();
    let frozen = r1.start(s).await.unwrap();
    assert_eq!(frozen.status.phase, Phase::Frozen, "{:?}", frozen.status);
    assert!(frozen.events.iter().any(|e| matches!(
        &e.kind,
        EventKind::CommandReceived {
            command: Command::Pause,
            accepted: true,
            ..
        }
    )));
    let mut r2 = Runner::builder(d.clone(), Arc::new(SimClock::new(Timestamp::ZERO)), journal)
        .validator(flaky)
        .command_at(Timestamp(0), Command::Retry)
        .build();
    let report = r2.resume().await.unwrap();
    assert_eq!(report.status.phase, Phase::Succeeded, "{:?}", report.status);
    let retried_at = report
        .events
        .iter()
        .position(|e| {
            matches!(
                &e.kind,
                EventKind::CommandReceived {
                    command: Command::Retry,
                    ..
                }
            )
        })
        .unwrap();
    assert!(
        !report.events[retried_at..]
            .iter()
            .any(|e| matches!(e.kind, EventKind::Paused { .. })),
        "no pause after the retry"
    );
}

#[tokio::test]
async fn abort_rolls_back_and_ends_aborted() {
    let d = FakeDriver::with_stable(Capabilities::ALL, &v1(), 3);
    let mut r = runner(d.clone())
        .validator(FnValidator::constant("ok", Outcome::Pass))
        .command_at(Timestamp(90_000), Command::Abort)
        .build();
    let report = r.start(spec(canary_plan(3, "ok"))).await.unwrap();
    assert_eq!(report.status.phase, Phase::Aborted);
    assert_eq!(d.fleet().weight_of(&v1().id), 100);
    assert_eq!(d.fleet().get(&v2().id), None);
    let cmd = find(&report.events, |k| {
        matches!(k, EventKind::CommandReceived { accepted: true, .. })
    })
    .unwrap();
    assert_eq!(cmd.at, Timestamp(90_000));
}

#[tokio::test]
async fn indefinite_pause_waits_for_promotion() {
    let d = FakeDriver::with_stable(Capabilities::ALL, &v1(), 2);
    let plan = promotion_plan(2, Some(Duration::from_secs(30)));
    // Without anyone to promote, the runner stops in Paused.
    let mut r = runner(d.clone()).build();
    let report = r.start(spec(plan.clone())).await.unwrap();
    assert_eq!(report.status.phase, Phase::Paused);
    assert_eq!(
        d.fleet().weight_of(&v1().id),
        100,
        "no traffic switched before promotion"
    );

    let d = FakeDriver::with_stable(Capabilities::ALL, &v1(), 2);
    let mut r = runner(d.clone())
        .command_at(Timestamp(600_000), Command::Promote { full: false })
        .build();
    let report = r.start(spec(plan)).await.unwrap();
    assert_eq!(report.status.phase, Phase::Succeeded);
    let switched = report
        .events
        .iter()
        .find(|e| {
            matches!(
                &e.kind,
                EventKind::ActionRequested { action, .. } if matches!(&**action, Action::Route { .. })
            )
        })
        .unwrap();
    assert_eq!(switched.at, Timestamp(600_000));
}

#[tokio::test]
async fn operator_pause_holds_the_next_step_until_resume() {
    let d = FakeDriver::with_stable(Capabilities::ALL, &v1(), 2);
    let mut r = runner(d.clone())
        .validator(FnValidator::constant("ok", Outcome::Pass))
        .command_at(Timestamp(10_000), Command::Pause)
        .command_at(Timestamp(3_600_000), Command::Resume)
        .build();
    let report = r.start(spec(canary_plan(2, "ok"))).await.unwrap();
    assert_eq!(report.status.phase, Phase::Succeeded);
    // The step after the analysis in progress at 10 s did not start before the resume.
    let step3 = find(&report.events, |k| {
        matches!(k, EventKind::StepStarted { step: 3, .. })
    })
    .unwrap();
    assert_eq!(step3.at, Timestamp(3_600_000));
}

#[tokio::test]
async fn promote_full_skips_to_the_end_state() {
    let d = FakeDriver::with_stable(Capabilities::ALL, &v1(), 3);
    let mut r = runner(d.clone())
        .validator(FnValidator::constant("ok", Outcome::Pass))
        .command_at(Timestamp(5_000), Command::Promote { full: true })
        .build();
    let report = r.start(spec(canary_plan(3, "ok"))).await.unwrap();
    assert_eq!(report.status.phase, Phase::Succeeded);
    assert!(report.status.reason.unwrap().contains("promoted in full"));
    let f = d.fleet();
    assert_eq!(
        (
            f.revisions.len(),
            f.ready_of(&v2().id),
            f.weight_of(&v2().id)
        ),
        (1, 3, 100)
    );
}

#[tokio::test]
async fn a_blocking_gate_stops_before_anything_changes() {
    let d = FakeDriver::with_stable(Capabilities::ALL, &v1(), 2);
    let mut s = spec(canary_plan(2, "ok"));
    s.gates = vec![
        "tests-pass".into(),
        "deploy-window".into(),
        "never-reached".into(),
    ];
    let mut r = runner(d.clone())
        .validator(FnValidator::constant("ok", Outcome::Pass))
        .gate(FnGate::new("tests-pass", |_| GateOutcome::Pass))
        .gate(FnGate::new("deploy-window", |_| {
            GateOutcome::block("Friday 16:00: next window opens Monday 09:00")
        }))
        .gate(FnGate::new("never-reached", |_| {
            panic!("gates after a block must not run")
        }))
        .build();
    let report = r.start(s).await.unwrap();
    assert_eq!(report.status.phase, Phase::Blocked);
    assert!(report
        .status
        .reason
        .unwrap()
        .contains("deploy-window blocked: Friday"));
    assert!(d.actions().is_empty(), "nothing changed: {:?}", d.actions());
}

#[tokio::test]
async fn a_waiting_gate_is_asked_again_and_approval_releases_it() {
    let d = FakeDriver::with_stable(Capabilities::ALL, &v1(), 2);
    let mut plan = canary_plan(2, "ok");
    plan.steps.insert(
        3,
        Step::Gate {
            gates: vec!["approval".into()],
        },
    );
    let mut r = runner(d.clone())
        .validator(FnValidator::constant("ok", Outcome::Pass))
        .gate(FnGate::new("approval", |ctx| {
            if ctx.approvals.iter().any(|a| a == "approval") {
                GateOutcome::Pass
            } else {
                GateOutcome::wait(Duration::from_secs(3600), "waiting for release manager")
            }
        }))
        .command_at(
            Timestamp(1_000_000),
            Command::Approve {
                gate: "approval".into(),
            },
        )
        .build();
    let report = r.start(spec(plan)).await.unwrap();
    assert_eq!(report.status.phase, Phase::Succeeded);
    let passed = find(&report.events, |k| {
        matches!(
            k,
            EventKind::GateChecked { outcome, .. } if **outcome == GateOutcome::Pass
        )
    })
    .unwrap();
    assert_eq!(
        passed.at,
        Timestamp(1_000_000),
        "approval re-checks the gate at once"
    );
}

#[tokio::test]
async fn bad_specs_are_refused_before_anything_runs() {
    let d = FakeDriver::with_stable(Capabilities::default(), &v1(), 2);
    let mut r = runner(d.clone())
        .validator(FnValidator::constant("ok", Outcome::Pass))
        .build();
    let err = r.start(spec(canary_plan(2, "ok"))).await.unwrap_err();
    assert!(
        matches!(&err, RunError::Plan(e) if e.field() == "steps[1].percent"),
        "{err}"
    );
    assert!(err.to_string().contains("weighted_traffic"), "{err}");

    let d = FakeDriver::with_stable(Capabilities::ALL, &v1(), 2);
    let mut r = runner(d.clone()).build();
    let err = r.start(spec(canary_plan(2, "missing"))).await.unwrap_err();
    assert!(
        matches!(&err, RunError::UnknownValidator { name, .. } if name == "missing"),
        "{err}"
    );

    let mut s = spec(canary_plan(2, "ok"));
    s.plan.replicas = 0;
    let mut r = runner(d.clone())
        .validator(FnValidator::constant("ok", Outcome::Pass))
        .build();
    let err = r.start(s).await.unwrap_err();
    assert!(err.to_string().contains("replicas"), "{err}");
    assert!(d.actions().is_empty());
}

#[tokio::test]
async fn first_deploy_rollback_only_removes_the_candidate() {
    let d = FakeDriver::new(Capabilities::ALL);
    let mut s = spec(canary_plan(2, "bad"));
    s.stable = None;
    let mut r = runner(d.clone())
        .validator(FnValidator::constant("bad", Outcome::Fail))
        .build();
    let report = r.start(s).await.unwrap();
    assert_eq!(report.status.phase, Phase::RolledBack);
    assert!(d.fleet().revisions.is_empty());
}

#[tokio::test]
async fn background_analysis_failure_rolls_back_mid_pause() {
    let d = FakeDriver::with_stable(Capabilities::ALL, &v1(), 2);
    let mut plan = canary_plan(2, "ok");
    plan.steps.insert(
        2,
        Step::Pause {
            duration: Some(Duration::from_secs(3600)),
        },
    );
    let mut s = spec(plan);
    s.background_analysis = Some(shipcore::model::AnalysisStep {
        validators: vec!["latency".into()],
        policy: shipcore::model::AnalysisPolicy {
            count: None,
            failure_limit: 2,
            ..Default::default()
        },
    });
    let mut r = runner(d.clone())
        .validator(FnValidator::constant("ok", Outcome::Pass))
        .validator(FnValidator::new("latency", |ctx| {
            let bad = ctx.now >= Timestamp(600_000);
            Ok(Verdict::new(
                "latency",
                if bad { Outcome::Fail } else { Outcome::Pass },
                "p95",
            ))
        }))
        .build();
    let report = r.start(s).await.unwrap();
    assert_eq!(report.status.phase, Phase::RolledBack);
    let failed = find(&report.events, |k| matches!(k, EventKind::Failed { .. })).unwrap();
    // Fails at the third failing measurement (limit 2): 600 s, 660 s, 720 s.
    assert_eq!(failed.at, Timestamp(720_000));
    assert!(report
        .status
        .reason
        .unwrap()
        .contains("background analysis failed"));
}

#[tokio::test]
async fn live_observers_see_each_action_before_the_platform_is_asked() {
    // The hook runs while the driver has not yet been called for that action: the count
    // of actions the driver applied equals the number of earlier requests.
    let d = FakeDriver::with_stable(Capabilities::ALL, &v1(), 4);
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let (driver, log) = (d.clone(), seen.clone());
    let mut r = runner(d.clone())
        .validator(FnValidator::constant("ok", Outcome::Pass))
        .on_event(move |ev| {
            if let EventKind::ActionRequested { attempt: 1, .. } = ev.kind {
                log.lock().unwrap().push(driver.actions().len());
            }
        })
        .build();
    let report = r.start(spec(canary_plan(4, "ok"))).await.unwrap();
    assert_eq!(report.status.phase, Phase::Succeeded);
    let seen = seen.lock().unwrap().clone();
    assert!(seen.len() > 3, "{seen:?}");
    assert_eq!(seen, (0..seen.len()).collect::<Vec<_>>());
}

#[tokio::test]
async fn without_kept_events_the_report_is_empty_and_the_hook_still_sees_everything() {
    let d = FakeDriver::with_stable(Capabilities::ALL, &v1(), 4);
    let kept = runner(d.clone())
        .validator(FnValidator::constant("ok", Outcome::Pass))
        .build()
        .start(spec(canary_plan(4, "ok")))
        .await
        .unwrap();
    let streamed = Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = streamed.clone();
    let d = FakeDriver::with_stable(Capabilities::ALL, &v1(), 4);
    let report = runner(d)
        .validator(FnValidator::constant("ok", Outcome::Pass))
        .keep_events(false)
        .on_event(move |ev| sink.lock().unwrap().push(ev.clone()))
        .build()
        .start(spec(canary_plan(4, "ok")))
        .await
        .unwrap();
    assert_eq!(report.status, kept.status);
    assert!(report.events.is_empty());
    assert_eq!(*streamed.lock().unwrap(), kept.events);
}

#[tokio::test]
async fn a_handle_promotes_a_waiting_rollout_and_one_taken_after_the_run_shows_its_end() {
    let d = FakeDriver::with_stable(Capabilities::ALL, &v1(), 2);
    let plan = promotion_plan(2, Some(Duration::ZERO));
    let mut r = runner(d.clone()).build();
    let mut handle = r.handle();
    assert_eq!(handle.status().phase, Phase::Pending);
    let task = tokio::spawn(async move {
        let report = r.start(spec(plan)).await.unwrap();
        (r, report)
    });
    let paused = handle.wait_for(|s| s.phase == Phase::Paused).await;
    assert_eq!(paused.phase, Phase::Paused, "{paused:?}");
    handle.promote().unwrap();
    let done = handle.wait_for(|s| s.phase.is_terminal()).await;
    assert_eq!(done.phase, Phase::Succeeded, "{done:?}");
    let (r, report) = task.await.unwrap();
    assert_eq!(report.status.phase, Phase::Succeeded);

    // A handle taken once the run is over sees where it ended; nothing listens any more.
    let late = r.handle();
    assert_eq!(late.status().phase, Phase::Succeeded);
    assert!(late.abort().is_err(), "a finished run takes no commands");
}

#[tokio::test]
async fn a_handle_taken_after_a_run_nobody_watched_shows_where_it_ended() {
    let d = FakeDriver::with_stable(Capabilities::ALL, &v1(), 2);
    let mut r = runner(d.clone())
        .validator(FnValidator::constant("ok", Outcome::Pass))
        .build();
    let report = r.start(spec(canary_plan(2, "ok"))).await.unwrap();
    assert_eq!(report.status.phase, Phase::Succeeded);
    let late = r.handle();
    assert_eq!(late.status(), report.status);
    assert!(late.pause().is_err(), "a finished run takes no commands");
}
