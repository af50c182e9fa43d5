//! Manual approval: through the rollout handle (GateContext.approvals) or a file, with a
//! timeout measured on the engine's time that stops or continues.
#![allow(clippy::unwrap_used)]

use shipcore::clock::{Clock, SimClock};
use shipcore::gate::{Gate, GateContext, GateOutcome};
use shipcore::gates::{ApprovalConfig, GateConfig, TimeoutAction};
use shipcore::model::{Revision, Target};
use shipcore::time::Timestamp;
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

const MIN: Duration = Duration::from_secs(60);

#[tokio::test]
async fn waits_until_approved_through_the_handle() {
    let gate = ApprovalConfig::new("promote").build().unwrap();
    let clock = SimClock::new(Timestamp(1_000_000));
    match gate.check(&ctx("r1", clock.now(), &[])).await {
        GateOutcome::Wait {
            retry_after,
            reason,
        } => {
            assert_eq!(retry_after, Duration::from_secs(30));
            assert!(
                reason.contains("approve `promote` through the rollout handle"),
                "{reason}"
            );
        }
        other => panic!("expected Wait, got {other:?}"),
    }
    assert_eq!(gate.first_asked("r1"), Some(Timestamp(1_000_000)));
    clock.advance(5 * MIN);
    // Approving another gate does not count.
    assert!(matches!(
        gate.check(&ctx("r1", clock.now(), &["other"])).await,
        GateOutcome::Wait { .. }
    ));
    assert_eq!(
        gate.check(&ctx("r1", clock.now(), &["other", "promote"]))
            .await,
        GateOutcome::Pass
    );
    assert_eq!(gate.first_asked("r1"), None);
}

#[tokio::test]
async fn a_file_approves_a_process() {
    let dir = tempfile::tempdir().unwrap();
    let template = dir.path().join("approve-{rollout_id}");
    let mut cfg = ApprovalConfig::new("promote");
    cfg.approval_file = Some(template);
    let gate = cfg.build().unwrap();
    let file = gate.approval_file("r7").unwrap();
    assert_eq!(file, dir.path().join("approve-r7"));

    match gate.check(&ctx("r7", Timestamp(0), &[])).await {
        GateOutcome::Wait { reason, .. } => {
            assert!(
                reason.contains(&format!("or create {}", file.display())),
                "{reason}"
            )
        }
        other => panic!("expected Wait, got {other:?}"),
    }
    std::fs::write(dir.path().join("approve-r8"), "").unwrap();
    assert!(matches!(
        gate.check(&ctx("r7", Timestamp(1), &[])).await,
        GateOutcome::Wait { .. }
    ));
    std::fs::write(&file, "").unwrap();
    assert_eq!(
        gate.check(&ctx("r7", Timestamp(2), &[])).await,
        GateOutcome::Pass
    );
}

async fn run_until_decided(on_timeout: TimeoutAction) -> (GateOutcome, Timestamp, Vec<Duration>) {
    let mut cfg = ApprovalConfig::new("promote");
    cfg.timeout = Some(60 * MIN);
    cfg.on_timeout = on_timeout;
    cfg.poll_interval = 25 * MIN;
    let gate = cfg.build().unwrap();
    let clock = SimClock::new(Timestamp(5_000_000));
    let mut waits = Vec::new();
    for _ in 0..10 {
        match gate.check(&ctx("r1", clock.now(), &[])).await {
            GateOutcome::Wait { retry_after, .. } => {
                waits.push(retry_after);
                clock.sleep_until(clock.now().plus(retry_after)).await;
            }
            decided => return (decided, clock.now(), waits),
        }
    }
    panic!("the approval gate never decided")
}

#[tokio::test]
async fn timeout_stops_when_configured_to_stop() {
    let (out, at, waits) = run_until_decided(TimeoutAction::Stop).await;
    assert_eq!(
        out,
        GateOutcome::block("no approval for `promote` within 1h; stopping as configured")
    );
    // Asked at 0, 25m, 50m; the last wait is shortened to end exactly at the timeout.
    assert_eq!(waits, vec![25 * MIN, 25 * MIN, 10 * MIN]);
    assert_eq!(at, Timestamp(5_000_000).plus(60 * MIN));
}

#[tokio::test]
async fn timeout_continues_when_configured_to_continue() {
    let (out, at, _) = run_until_decided(TimeoutAction::Continue).await;
    assert_eq!(out, GateOutcome::Pass);
    assert_eq!(at, Timestamp(5_000_000).plus(60 * MIN));
}

#[tokio::test]
async fn rollouts_are_timed_separately() {
    let mut cfg = ApprovalConfig::new("promote");
    cfg.timeout = Some(10 * MIN);
    let gate = cfg.build().unwrap();
    let t0 = Timestamp(0);
    assert!(matches!(
        gate.check(&ctx("a", t0, &[])).await,
        GateOutcome::Wait { .. }
    ));
    assert!(matches!(
        gate.check(&ctx("b", t0.plus(8 * MIN), &[])).await,
        GateOutcome::Wait { .. }
    ));
    assert!(matches!(
        gate.check(&ctx("a", t0.plus(11 * MIN), &[])).await,
        GateOutcome::Block { .. }
    ));
    match gate.check(&ctx("b", t0.plus(11 * MIN), &[])).await {
        GateOutcome::Wait { reason, .. } => assert!(reason.contains("(7m left)"), "{reason}"),
        other => panic!("b was asked at 8m and must still wait, got {other:?}"),
    }
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
