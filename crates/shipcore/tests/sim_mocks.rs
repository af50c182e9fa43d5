//! The mockall mocks of every trait (feature `mock`), each used through an `Arc<dyn Trait>`
//! as the engine holds them, with expectations on arguments and call counts.
#![cfg(feature = "mock")]
#![allow(clippy::unwrap_used)]

use shipcore::clock::{Clock, MockClock};
use shipcore::driver::{Capabilities, Driver, DriverError, MockDriver};
use shipcore::gate::{Gate, GateContext, GateOutcome, MockGate};
use shipcore::journal::{Entry, Journal, MockJournal};
use shipcore::metrics::{MetricQuery, MetricsSource, MockMetricsSource, QueryResult, Sample};
use shipcore::model::{Action, FleetState, Revision, RevisionState, Target};
use shipcore::notify::{MockNotifier, Notification, Notifier, NotifyError};
use shipcore::time::Timestamp;
use shipcore::validator::{MockValidator, Outcome, ValidationContext, Validator, Verdict};
use std::sync::Arc;

fn web() -> Target {
    Target::new("web", "production")
}
fn v2() -> Revision {
    Revision::new("web-v2", "2.0.0".parse().unwrap(), "web:2.0.0")
}

#[tokio::test]
async fn mock_driver() {
    let mut m = MockDriver::new();
    m.expect_capabilities().return_const(Capabilities {
        weighted_traffic: false,
        ..Capabilities::ALL
    });
    m.expect_observe()
        .withf(|t| t.service == "web")
        .times(1)
        .returning(|_| {
            Ok(FleetState {
                revisions: vec![RevisionState {
                    revision: "web-v2".into(),
                    desired: 2,
                    ready: 1,
                    updated: 2,
                    weight: 100,
                }],
                flags: Default::default(),
            })
        });
    m.expect_apply()
        .withf(|_, a| matches!(a, Action::Deploy { replicas: 2, .. }))
        .times(1)
        .returning(|_, a| Err(DriverError::transient(a.describe(), "throttled")));
    let d: Arc<dyn Driver> = Arc::new(m);
    assert!(!d.capabilities().weighted_traffic);
    assert_eq!(d.observe(&web()).await.unwrap().ready_of(&v2().id), 1);
    let e = d
        .apply(
            &web(),
            &Action::Deploy {
                revision: v2(),
                replicas: 2,
            },
        )
        .await
        .unwrap_err();
    assert_eq!(e.operation, "deploy web-v2 x2");
}

#[tokio::test]
async fn mock_validator() {
    let mut m = MockValidator::new();
    m.expect_name().return_const("error-rate".to_string());
    m.expect_validate()
        .withf(|ctx| ctx.vars.get("revision").map(String::as_str) == Some("web-v2"))
        .times(2)
        .returning(|ctx| {
            Ok(Verdict::new(
                "error-rate",
                Outcome::Fail,
                format!("{} too many errors", ctx.candidate.id),
            ))
        });
    let v: Arc<dyn Validator> = Arc::new(m);
    let ctx = ValidationContext::new("r1", &web(), &v2(), None, Timestamp(0));
    assert_eq!(v.name(), "error-rate");
    for _ in 0..2 {
        let verdict = v.validate(&ctx).await.unwrap();
        assert_eq!(
            (verdict.outcome, verdict.message.as_str()),
            (Outcome::Fail, "web-v2 too many errors")
        );
    }
}

#[tokio::test]
async fn mock_metrics_source() {
    let mut m = MockMetricsSource::new();
    m.expect_query()
        .withf(|q| q.expr == "error_rate")
        .returning(|q| {
            Ok(QueryResult::Scalar(Sample {
                at: q.at.unwrap_or_default(),
                value: 0.25,
            }))
        });
    let src: Arc<dyn MetricsSource> = Arc::new(m);
    let r = src
        .query(&MetricQuery::at("error_rate", Timestamp(9)))
        .await
        .unwrap();
    assert_eq!(
        r,
        QueryResult::Scalar(Sample {
            at: Timestamp(9),
            value: 0.25
        })
    );
}

#[tokio::test]
async fn mock_gate() {
    let mut m = MockGate::new();
    m.expect_name().return_const("approval".to_string());
    m.expect_check().returning(|ctx| {
        if ctx.approvals.is_empty() {
            GateOutcome::Block {
                reason: "nobody approved".into(),
            }
        } else {
            GateOutcome::Pass
        }
    });
    let g: Arc<dyn Gate> = Arc::new(m);
    let mut ctx = GateContext {
        rollout_id: "r1".into(),
        target: web(),
        candidate: v2(),
        stable: None,
        now: Timestamp(0),
        approvals: vec![],
        waiting_since: None,
    };
    assert_eq!(g.name(), "approval");
    assert_eq!(
        g.check(&ctx).await,
        GateOutcome::Block {
            reason: "nobody approved".into()
        }
    );
    ctx.approvals.push("alice".into());
    assert_eq!(g.check(&ctx).await, GateOutcome::Pass);
}

#[tokio::test]
async fn mock_clock() {
    let mut m = MockClock::new();
    m.expect_now().return_const(Timestamp(42));
    m.expect_sleep_until()
        .withf(|t| *t == Timestamp(1_000))
        .times(1)
        .return_const(());
    let c: Arc<dyn Clock> = Arc::new(m);
    assert_eq!(c.now(), Timestamp(42));
    c.sleep_until(Timestamp(1_000)).await;
}

#[tokio::test]
async fn mock_notifier() {
    let mut m = MockNotifier::new();
    m.expect_notify()
        .withf(
            |n| matches!(n, Notification::RollbackStarted { reason, .. } if reason == "error rate"),
        )
        .times(1)
        .returning(|_| Err(NotifyError("webhook returned 500".into())));
    let n: Arc<dyn Notifier> = Arc::new(m);
    let e = n
        .notify(&Notification::RollbackStarted {
            rollout_id: "r1".into(),
            reason: "error rate".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(e.to_string(), "notification failed: webhook returned 500");
}

#[tokio::test]
async fn mock_journal() {
    let mut m = MockJournal::new();
    let mut seq = mockall::Sequence::new();
    m.expect_append()
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_| Ok(0));
    m.expect_append()
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_| Ok(1));
    m.expect_read_all().returning(|| {
        Ok(vec![Entry {
            seq: 0,
            payload: serde_json::json!({"input": "start"}),
        }])
    });
    let j: Arc<dyn Journal> = Arc::new(m);
    assert_eq!(
        j.append(&serde_json::json!({"input": "start"}))
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        j.append(&serde_json::json!({"input": "tick"}))
            .await
            .unwrap(),
        1
    );
    let all = j.read_all().await.unwrap();
    assert_eq!(all[0].payload["input"], "start");
}
