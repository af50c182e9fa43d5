//! The analysis policy held to Argo Rollouts (issue 18) as the engine runs it (Argo's own test
//! cases replay through the analysis run in `src/engine/analysis_argo_tests.rs`): the worst verdict
//! decides, errors are not measurements, the consecutive-success limit is a requirement.
//! Also the engine's side of it: NaN is never a pass, a measurement after an error comes
//! sooner, and `AnalysisPolicy::validate` refuses what Argo refuses and bounds every value.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use shipcore::clock::SimClock;
use shipcore::driver::Capabilities;
use shipcore::engine::{AnalysisResult, AnalysisScope, EventKind, Phase, Runner};
use shipcore::journal::MemoryJournal;
use shipcore::model::{AnalysisPolicy, AnalysisStep, Plan, Role, Step};
use shipcore::strategy::PlanError;
use shipcore::time::Timestamp;
use shipcore::validator::{Measurement, Outcome, ValidatorError, Verdict};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// No limit (Argo's `failureLimit: -1`).
const NONE: u32 = AnalysisPolicy::NO_FAILURE_LIMIT;

fn invalid(p: &AnalysisPolicy) -> (String, String) {
    match p.validate("steps[2].policy") {
        Err(PlanError::Invalid(shipcore::model::FieldError { field, problem })) => (field, problem),
        other => panic!("expected an invalid field, got {other:?}"),
    }
}

#[test]
fn validate_refuses_what_argo_refuses() {
    // count 1 with failure limit 2: the run could never fail.
    let (field, problem) = invalid(&AnalysisPolicy {
        failure_limit: 2,
        ..AnalysisPolicy::every(Duration::from_secs(60), 1)
    });
    assert_eq!(field, "steps[2].policy.count");
    assert!(
        problem.contains("below failure_limit + consecutive_success_limit (2 + 0)"),
        "{problem}"
    );
    // count below inconclusive limit.
    let (field, problem) = invalid(&AnalysisPolicy {
        inconclusive_limit: 4,
        ..AnalysisPolicy::every(Duration::from_secs(60), 3)
    });
    assert_eq!(field, "steps[2].policy.count");
    assert!(
        problem.contains("below inconclusive_limit (4)"),
        "{problem}"
    );
    // count below the success limit, with no failure limit.
    let (field, _) = invalid(&AnalysisPolicy {
        failure_limit: NONE,
        consecutive_success_limit: Some(5),
        ..AnalysisPolicy::every(Duration::from_secs(60), 4)
    });
    assert_eq!(field, "steps[2].policy.count");
    // no failure limit and no success limit: nothing could fail the run.
    let (field, problem) = invalid(&AnalysisPolicy {
        failure_limit: NONE,
        ..AnalysisPolicy::every(Duration::from_secs(60), 4)
    });
    assert_eq!(field, "steps[2].policy.failure_limit");
    assert!(
        problem.contains("needs a consecutive_success_limit"),
        "{problem}"
    );
}

#[test]
fn validate_bounds_count_and_every_limit() {
    // Issue 9, item 15: a count of 4294967295 used to pass, then abort the process.
    let (field, problem) = invalid(&AnalysisPolicy::every(Duration::from_secs(60), u32::MAX));
    assert_eq!(field, "steps[2].policy.count");
    assert_eq!(problem, "4294967295 is more than the maximum of 100000");
    assert!(
        AnalysisPolicy::every(Duration::from_secs(1), AnalysisPolicy::MAX_COUNT)
            .validate("p")
            .is_ok()
    );
    let background = AnalysisPolicy {
        count: None,
        ..AnalysisPolicy::default()
    };
    let too_big = AnalysisPolicy::MAX_LIMIT + 1;
    for (name, p) in [
        (
            "failure_limit",
            AnalysisPolicy {
                failure_limit: too_big,
                ..background.clone()
            },
        ),
        (
            "inconclusive_limit",
            AnalysisPolicy {
                inconclusive_limit: too_big,
                ..background.clone()
            },
        ),
        (
            "consecutive_error_limit",
            AnalysisPolicy {
                consecutive_error_limit: too_big,
                ..background.clone()
            },
        ),
        (
            "consecutive_success_limit",
            AnalysisPolicy {
                consecutive_success_limit: Some(too_big),
                ..background.clone()
            },
        ),
    ] {
        let (field, problem) = invalid(&p);
        assert_eq!(field, format!("steps[2].policy.{name}"));
        assert!(
            problem.contains("more than the maximum of 100000"),
            "{problem}"
        );
    }
}

#[test]
fn a_failure_limit_of_minus_one_is_no_limit_as_in_argo() {
    let p: AnalysisPolicy = serde_json::from_str(
        r#"{"interval": "1m", "count": 7, "failure_limit": -1, "consecutive_success_limit": 5}"#,
    )
    .unwrap();
    assert_eq!(p.failure_limit, AnalysisPolicy::NO_FAILURE_LIMIT);
    assert_eq!(p.failure_limit_text(), "no limit");
    assert!(p.validate("policy").is_ok());
    let json = serde_json::to_value(&p).unwrap();
    assert_eq!(json["failure_limit"], -1);
    assert_eq!(serde_json::from_value::<AnalysisPolicy>(json).unwrap(), p);
    let err = serde_json::from_str::<AnalysisPolicy>(r#"{"interval": "1m", "failure_limit": -2}"#)
        .unwrap_err()
        .to_string();
    assert!(err.contains("-1 for no limit"), "{err}");
}

// ---- Through the runner ----

fn runner(driver: Arc<FakeDriver>) -> shipcore::engine::RunnerBuilder {
    Runner::builder(
        driver,
        Arc::new(SimClock::new(Timestamp::ZERO)),
        Arc::new(MemoryJournal::new()),
    )
}

fn one_analysis_plan(policy: AnalysisPolicy) -> Plan {
    Plan {
        strategy: "canary".into(),
        replicas: 2,
        steps: vec![
            Step::Scale {
                role: Role::Candidate,
                replicas: 1,
            },
            Step::SetWeight { percent: 10 },
            Step::Analysis(AnalysisStep {
                validators: vec!["v".into()],
                policy,
            }),
            Step::Scale {
                role: Role::Candidate,
                replicas: 2,
            },
            Step::Promote,
            Step::Retire {
                role: Role::Stable,
                after: Duration::ZERO,
            },
        ],
    }
}

#[tokio::test]
async fn a_pass_with_a_nan_measurement_never_promotes() {
    // Issue 10, item 4: a custom validator that says Pass over a NaN.
    let d = FakeDriver::with_stable(Capabilities::ALL, &v1(), 2);
    let mut r = runner(d.clone())
        .validator(FnValidator::new("v", |_| {
            Ok(
                Verdict::new("v", Outcome::Pass, "looks fine").with(Measurement::new(
                    "error_rate",
                    f64::NAN,
                    Some(0.05),
                    "%",
                )),
            )
        }))
        .build();
    let report = r
        .start(spec(one_analysis_plan(AnalysisPolicy::every(
            Duration::from_secs(60),
            3,
        ))))
        .await
        .unwrap();
    assert_ne!(report.status.phase, Phase::Succeeded, "{:?}", report.status);
    let completed = find(&report.events, |k| {
        matches!(k, EventKind::AnalysisCompleted { .. })
    })
    .unwrap();
    let EventKind::AnalysisCompleted {
        result, message, ..
    } = &completed.kind
    else {
        unreachable!()
    };
    assert_eq!(*result, AnalysisResult::Inconclusive);
    assert!(
        message.contains("error_rate = NaN, which is never a pass"),
        "{message}"
    );
    assert!(!d.actions().iter().any(
        |a| matches!(a, shipcore::model::Action::Route { weights } if weights.of(&v2().id) == 100)
    ));
}

#[tokio::test]
async fn after_an_error_the_next_measurement_comes_after_ten_seconds_and_it_needs_count_verdicts() {
    // The validator errors on its first call only; count 2, interval 60 s.
    let d = FakeDriver::with_stable(Capabilities::ALL, &v1(), 2);
    let calls = Arc::new(AtomicU32::new(0));
    let c = calls.clone();
    let mut r = runner(d)
        .validator(FnValidator::new("v", move |_| {
            if c.fetch_add(1, Ordering::SeqCst) == 0 {
                Err(ValidatorError {
                    validator: "v".into(),
                    message: "prometheus unreachable".into(),
                })
            } else {
                Ok(Verdict::new("v", Outcome::Pass, "ok"))
            }
        }))
        .build();
    let report = r
        .start(spec(one_analysis_plan(AnalysisPolicy::every(
            Duration::from_secs(60),
            2,
        ))))
        .await
        .unwrap();
    assert_eq!(report.status.phase, Phase::Succeeded, "{:?}", report.status);
    let at: Vec<u64> = report
        .events
        .iter()
        .filter(|e| {
            matches!(
                e.kind,
                EventKind::Measured {
                    scope: AnalysisScope::Step { .. },
                    ..
                }
            )
        })
        .map(|e| e.at.0)
        .collect();
    // Error, then a verdict 10 s later, then one a full interval after that: two verdicts.
    assert_eq!(at.len(), 3, "{at:?}");
    assert_eq!(at[1] - at[0], 10_000, "{at:?}");
    assert_eq!(at[2] - at[1], 60_000, "{at:?}");
}
