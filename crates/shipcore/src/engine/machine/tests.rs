//! The machine's own API: built valid, its timers, the gate lifecycle and rollback causes.

use super::*;
use crate::model::{Plan, Step, Target};
use std::time::Duration;

fn v(id: &str, ver: &str) -> Revision {
    Revision::new(id, ver.parse().unwrap(), format!("{id}:img"))
}

/// A first deploy: `steps`, then the candidate scaled up and promoted.
fn spec(mut steps: Vec<Step>) -> RolloutSpec {
    steps.push(Step::Scale {
        role: Role::Candidate,
        replicas: 2,
    });
    steps.push(Step::Promote);
    RolloutSpec::new(
        "r1",
        Target::new("web", "prod"),
        None,
        v("web-v2", "2.0.0"),
        Plan {
            strategy: "test".into(),
            replicas: 2,
            steps,
        },
    )
}

fn pause(secs: u64) -> Step {
    Step::Pause {
        duration: Some(Duration::from_secs(secs)),
    }
}

fn at(ms: u64, input: Input) -> Stamped {
    Stamped::new(Timestamp(ms), input)
}

fn events(effects: &[Effect]) -> Vec<&EventKind> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Record(ev) => Some(&ev.kind),
            _ => None,
        })
        .collect()
}

fn applies(effects: &[Effect]) -> usize {
    effects
        .iter()
        .filter(|e| matches!(e, Effect::Apply { .. }))
        .count()
}

fn check_gate_id(effects: &[Effect]) -> u64 {
    effects
        .iter()
        .find_map(|e| match e {
            Effect::CheckGate { id, .. } => Some(*id),
            _ => None,
        })
        .expect("a gate check")
}

#[test]
fn new_refuses_a_plan_that_fails_validation_and_names_the_field() {
    let mut bad = spec(vec![pause(1)]);
    bad.plan.replicas = 0;
    let err = Rollout::new(bad, Capabilities::ALL, Timestamp(0)).unwrap_err();
    assert!(err.to_string().contains("replicas"), "{err}");
}

#[test]
fn new_builds_a_started_rollout_with_its_spec() {
    let (r, fx) = Rollout::new(spec(vec![pause(30)]), Capabilities::ALL, Timestamp(7)).unwrap();
    assert_eq!(r.spec().id, "r1");
    assert_eq!(r.now(), Timestamp(7));
    assert_eq!(r.phase(), Phase::Progressing);
    assert!(matches!(events(&fx)[0], EventKind::Started(_)), "{fx:?}");
    assert_eq!(r.status().id, "r1");
}

#[test]
fn a_journaled_refused_start_replays_to_the_same_blocked_rollout_as_before() {
    let mut bad = spec(vec![pause(1)]);
    bad.plan.replicas = 0;
    let start = at(
        5,
        Input::Start {
            spec: Box::new(bad),
            capabilities: Capabilities::ALL,
        },
    );
    let (r, fx) = Rollout::replay_start(&start).unwrap();
    assert_eq!(r.phase(), Phase::Blocked);
    let kinds = events(&fx);
    assert!(matches!(kinds[0], EventKind::Rejected { reason } if reason.contains("replicas")));
    assert!(matches!(
        kinds[1],
        EventKind::PhaseChanged {
            from: Phase::Pending,
            to: Phase::Blocked
        }
    ));
    assert!(
        matches!(kinds[2], EventKind::Finished { phase: Phase::Blocked, reason } if reason.starts_with("plan rejected: "))
    );
    assert_eq!(kinds.len(), 3);
}

#[test]
fn replay_start_refuses_a_journal_whose_first_input_is_not_a_start() {
    let err = Rollout::replay_start(&at(0, Input::Resumed)).unwrap_err();
    assert_eq!(err, StartError::NotStart { found: "resumed" });
    assert!(err.to_string().contains("`resumed`"), "{err}");
    let mut slot = None;
    assert!(Rollout::replay_into(&mut slot, &at(0, Input::TimerFired { id: 1 })).is_err());
    assert!(slot.is_none());
}

#[test]
fn a_second_start_is_ignored() {
    let (mut r, _) = Rollout::new(spec(vec![pause(30)]), Capabilities::ALL, Timestamp(0)).unwrap();
    let before = r.status();
    let fx = r.handle(&at(
        1,
        Input::Start {
            spec: Box::new(spec(vec![])),
            capabilities: Capabilities::ALL,
        },
    ));
    assert!(fx.is_empty(), "{fx:?}");
    assert_eq!(r.status(), before);
}

#[test]
fn poll_timeout_is_the_timer_due_and_a_fired_timer_is_gone() {
    let (mut r, _) = Rollout::new(
        spec(vec![pause(30), pause(10)]),
        Capabilities::ALL,
        Timestamp(1_000),
    )
    .unwrap();
    let (due, id) = r.poll_timeout().expect("the pause's timer");
    assert_eq!(due, Timestamp(31_000));
    assert!(r.watched_gate(id).is_none(), "a plain timer");
    r.handle(&at(31_000, Input::TimerFired { id }));
    // The first pause is over: the second one's timer is the one due now.
    let (due2, id2) = r.poll_timeout().expect("the second pause's timer");
    assert_ne!(id2, id);
    assert_eq!(due2, Timestamp(41_000));
    // A timer that fired already is stale: nothing happens, nothing changes.
    let fx = r.handle(&at(31_500, Input::TimerFired { id }));
    assert!(fx.is_empty(), "{fx:?}");
    assert_eq!(r.poll_timeout(), Some((due2, id2)));
    let fx = r.handle(&at(41_000, Input::TimerFired { id: id2 }));
    // On to the deploy, which waits on the driver, not on a timer.
    assert_eq!(applies(&fx), 1, "{fx:?}");
    assert_eq!(r.poll_timeout(), None);
}

#[test]
fn a_cancelled_timer_is_never_due() {
    let (mut r, _) = Rollout::new(spec(vec![pause(30)]), Capabilities::ALL, Timestamp(0)).unwrap();
    assert!(r.poll_timeout().is_some());
    // Promote skips the pause: its timer goes with it.
    let fx = r.handle(&at(5, Input::Command(Command::Promote { full: false })));
    assert_eq!(r.poll_timeout(), None);
    assert_eq!(applies(&fx), 1, "on to the deploy: {fx:?}");
}

#[test]
fn a_gate_waiting_for_a_person_is_watched_on_a_timer_and_asked_at_once_on_resume() {
    let mut s = spec(vec![pause(30)]);
    s.gates = vec!["approval".into()];
    let (mut r, fx) = Rollout::new(s, Capabilities::ALL, Timestamp(0)).unwrap();
    let check = check_gate_id(&fx);
    assert_eq!(r.poll_timeout(), None, "asked now, not on a timer");
    r.handle(&at(
        10,
        Input::GateChecked {
            id: check,
            outcome: GateOutcome::AwaitPerson {
                reason: "needs an approval".into(),
                recheck_after: Some(Duration::from_secs(60)),
            },
        },
    ));
    let (due, watch) = r.poll_timeout().expect("the watch");
    assert_eq!(due, Timestamp(60_010));
    let w = r.watched_gate(watch).expect("a watched gate").clone();
    assert_eq!(w.gate, "approval");
    assert_eq!(w.waiting_since, Some(Timestamp(10)));
    assert_eq!(w.watch.unchanged, "needs an approval");
    assert_eq!(w.watch.every, Duration::from_secs(60));
    // Same answer: watched again, later; nothing outstanding besides.
    r.rewatch(watch, Timestamp(120_010));
    assert_eq!(r.poll_timeout(), Some((Timestamp(120_010), watch)));
    assert_eq!(r.outstanding().count(), 0);
    // After a restart the gate is asked at once, with the watch's id.
    let mut resumed = r.clone();
    let fx = resumed.handle(&at(70_000, Input::Resumed));
    assert_eq!(check_gate_id(&fx), watch);
    assert_eq!(resumed.poll_timeout(), None);
    assert_eq!(resumed.outstanding().count(), 1);
    // A changed answer is fed with the watch's id and ends it.
    r.handle(&at(
        80_000,
        Input::GateChecked {
            id: watch,
            outcome: GateOutcome::Pass,
        },
    ));
    assert_eq!(r.phase(), Phase::Progressing);
    let (due, id) = r.poll_timeout().expect("the pause");
    assert_ne!(id, watch);
    assert_eq!(due, Timestamp(110_000));
}

/// The position of the first effect `f` matches.
fn position(effects: &[Effect], f: impl Fn(&Effect) -> bool) -> Option<usize> {
    effects.iter().position(f)
}

fn is_record(e: &Effect, f: impl Fn(&EventKind) -> bool) -> bool {
    matches!(e, Effect::Record(ev) if f(&ev.kind))
}

#[test]
fn holds_are_kept_alive_just_before_a_step_starts_once_a_gate_passed() {
    let mut s = spec(vec![pause(30)]);
    s.gates = vec!["lock".into()];
    let (mut r, fx) = Rollout::new(s, Capabilities::ALL, Timestamp(0)).unwrap();
    assert!(
        !fx.iter().any(|e| matches!(e, Effect::KeepGatesAlive)),
        "nothing held while gating: {fx:?}"
    );
    let check = check_gate_id(&fx);
    let fx = r.handle(&at(
        1,
        Input::GateChecked {
            id: check,
            outcome: GateOutcome::Pass,
        },
    ));
    let keep = position(&fx, |e| matches!(e, Effect::KeepGatesAlive)).expect("keep alive");
    let started = position(&fx, |e| {
        is_record(e, |k| matches!(k, EventKind::StepStarted { .. }))
    })
    .unwrap();
    assert_eq!(keep + 1, started, "{fx:?}");
    assert_eq!(r.held_gates(), ["lock".to_string()]);
}

#[test]
fn without_a_gate_passed_nothing_is_kept_alive() {
    let (_, fx) = Rollout::new(spec(vec![pause(30)]), Capabilities::ALL, Timestamp(0)).unwrap();
    assert!(position(&fx, |e| is_record(e, |k| matches!(
        k,
        EventKind::StepStarted { .. }
    )))
    .is_some());
    assert!(
        !fx.iter().any(|e| matches!(e, Effect::KeepGatesAlive)),
        "{fx:?}"
    );
}

#[test]
fn the_gates_are_told_just_before_a_terminal_finish_and_not_when_frozen() {
    let mut s = spec(vec![pause(30)]);
    s.gates = vec!["lock".into()];
    let (mut r, fx) = Rollout::new(s.clone(), Capabilities::ALL, Timestamp(0)).unwrap();
    let check = check_gate_id(&fx);
    let fx = r.handle(&at(
        1,
        Input::GateChecked {
            id: check,
            outcome: GateOutcome::block("closed"),
        },
    ));
    assert_eq!(r.phase(), Phase::Blocked);
    let finish = position(&fx, |e| {
        matches!(
            e,
            Effect::FinishGates {
                phase: Phase::Blocked
            }
        )
    })
    .expect("the gates are told");
    let finished = position(&fx, |e| {
        is_record(e, |k| matches!(k, EventKind::Finished { .. }))
    })
    .unwrap();
    assert_eq!(finish + 1, finished);

    // Frozen is not an end: the gates keep what they hold.
    s.failure_policy = FailurePolicy::Freeze;
    let (mut r, fx) = Rollout::new(s, Capabilities::ALL, Timestamp(0)).unwrap();
    let check = check_gate_id(&fx);
    r.handle(&at(
        1,
        Input::GateChecked {
            id: check,
            outcome: GateOutcome::Pass,
        },
    ));
    let (_, pause_timer) = r.poll_timeout().unwrap();
    let fx = r.handle(&at(30_001, Input::TimerFired { id: pause_timer }));
    let deploy = fx
        .iter()
        .find_map(|e| match e {
            Effect::Apply { id, .. } => Some(*id),
            _ => None,
        })
        .unwrap();
    let fx = r.handle(&at(
        30_002,
        Input::ApplyFailed {
            id: deploy,
            error: DriverError::permanent("deploy", "no such image"),
        },
    ));
    assert_eq!(r.phase(), Phase::Frozen);
    assert!(
        !fx.iter().any(|e| matches!(e, Effect::FinishGates { .. })),
        "{fx:?}"
    );
}

fn causes(effects: &[Effect]) -> Vec<RollbackCause> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::RollbackCause { cause } => Some(*cause),
            _ => None,
        })
        .collect()
}

#[test]
fn an_operator_abort_is_the_rollbacks_cause_right_after_its_event() {
    let (mut r, _) = Rollout::new(spec(vec![pause(30)]), Capabilities::ALL, Timestamp(0)).unwrap();
    let fx = r.handle(&at(5, Input::Command(Command::Abort)));
    let started = position(&fx, |e| {
        is_record(e, |k| matches!(k, EventKind::RollbackStarted { .. }))
    })
    .unwrap();
    assert!(matches!(
        fx[started + 1],
        Effect::RollbackCause {
            cause: RollbackCause::Operator
        }
    ));
    assert_eq!(causes(&fx), [RollbackCause::Operator]);
    assert_eq!(r.rollback_causes(), [RollbackCause::Operator]);
}

#[test]
fn a_failure_rolls_back_with_its_cause_and_a_retried_rollback_keeps_it() {
    let (mut r, _) = Rollout::new(spec(vec![]), Capabilities::ALL, Timestamp(0)).unwrap();
    let deploy = r.outstanding().find_map(|e| e.request_id()).unwrap();
    let fx = r.handle(&at(
        1,
        Input::ApplyFailed {
            id: deploy,
            error: DriverError::permanent("deploy", "no such image"),
        },
    ));
    assert_eq!(r.phase(), Phase::RollingBack);
    assert_eq!(causes(&fx), [RollbackCause::Driver]);
    // The rollback fails too; a retry starts it again, for the same reason.
    let retire = r.outstanding().find_map(|e| e.request_id()).unwrap();
    r.handle(&at(
        2,
        Input::ApplyFailed {
            id: retire,
            error: DriverError::permanent("retire", "forbidden"),
        },
    ));
    assert_eq!(r.phase(), Phase::RollbackFailed);
    let fx = r.handle(&at(3, Input::Command(Command::Retry)));
    assert_eq!(r.phase(), Phase::RollingBack);
    assert_eq!(causes(&fx), [RollbackCause::Driver]);
    assert_eq!(
        r.rollback_causes(),
        [RollbackCause::Driver, RollbackCause::Driver]
    );
}
