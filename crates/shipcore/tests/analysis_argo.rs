//! The analysis policy held to Argo Rollouts' own test cases (issue 18): the worst verdict
//! decides, errors are not measurements, the consecutive-success limit is a requirement.
//! Also the engine's side of it: NaN is never a pass, a measurement after an error comes
//! sooner, and `AnalysisPolicy::validate` refuses what Argo refuses and bounds every value.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use shipcore::clock::SimClock;
use shipcore::driver::Capabilities;
use shipcore::engine::{
    AnalysisResult, AnalysisRun, AnalysisScope, Decision, EventKind, MeasureResult, Phase, Runner,
};
use shipcore::journal::MemoryJournal;
use shipcore::model::{AnalysisPolicy, AnalysisStep, Plan, Role, Step};
use shipcore::strategy::PlanError;
use shipcore::time::Timestamp;
use shipcore::validator::{Measurement, Outcome, ValidatorError, Verdict};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// An AnalysisRun phase as Argo names it; `Running` means the run has not ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Argo {
    Running,
    Successful,
    Failed,
    Error,
    Inconclusive,
}

/// No limit (Argo's `failureLimit: -1`).
const NONE: u32 = AnalysisPolicy::NO_FAILURE_LIMIT;

/// One case of Argo's: where it came from, one metric's measurements in order
/// (S successful, F failed, I inconclusive, E error), the limits, and Argo's phase.
struct Case {
    source: &'static str,
    sequence: &'static str,
    failure_limit: u32,
    inconclusive_limit: u32,
    success_limit: Option<u32>,
    count: Option<u32>,
    argo: Argo,
}

const fn case(
    source: &'static str,
    sequence: &'static str,
    failure_limit: u32,
    inconclusive_limit: u32,
    success_limit: Option<u32>,
    count: Option<u32>,
    argo: Argo,
) -> Case {
    Case {
        source,
        sequence,
        failure_limit,
        inconclusive_limit,
        success_limit,
        count,
        argo,
    }
}

/// Argo's cases from `analysis/analysis_test.go` (argoproj/argo-rollouts). Argo's tests set
/// a metric's counters directly; each sequence here is one that reaches those counters with
/// the phase Argo asserts (with `terminating = false`). States no sequence can reach without
/// ending earlier (five failures over a limit of 4 with the last four measurements passing)
/// are left out. The consecutive-error limit is Argo's default, 4.
const ARGO_CASES: &[Case] = &[
    // TestAssessMetricStatusFailureLimit: failureLimit 2, then 3; Failed 3, Count 3.
    case("FailureLimit", "F F F", 2, 0, None, None, Argo::Failed),
    case("FailureLimit", "F F F", 3, 0, None, None, Argo::Running),
    // TestAssessMetricStatusConsecutiveSuccessLimit: failureLimit -1; Failed 3,
    // Successful 4, ConsecutiveSuccess 3, Count 7.
    case(
        "ConsecutiveSuccessLimit",
        "S F F F S S S",
        NONE,
        0,
        Some(3),
        None,
        Argo::Successful,
    ),
    case(
        "ConsecutiveSuccessLimit",
        "S F F F S S S",
        NONE,
        0,
        Some(5),
        None,
        Argo::Running,
    ),
    case(
        "ConsecutiveSuccessLimit",
        "S F F F S S S",
        NONE,
        0,
        Some(5),
        Some(7),
        Argo::Failed,
    ),
    case(
        "ConsecutiveSuccessLimit",
        "S F F F S S S",
        NONE,
        0,
        Some(3),
        Some(7),
        Argo::Successful,
    ),
    case(
        "ConsecutiveSuccessLimit",
        "S F F F S S S",
        NONE,
        0,
        Some(3),
        Some(9),
        Argo::Successful,
    ),
    case(
        "ConsecutiveSuccessLimit",
        "S F F F S S S",
        NONE,
        0,
        Some(5),
        Some(9),
        Argo::Running,
    ),
    // TestAssessMetricStatusFailureLimitAndConsecutiveSuccessLimit: failureLimit 4,
    // consecutiveSuccessLimit 4; without a count, then with count 10.
    case(
        "FailureLimitAndConsecutiveSuccessLimit",
        "S F F F S S S",
        4,
        0,
        Some(4),
        None,
        Argo::Running,
    ),
    case(
        "FailureLimitAndConsecutiveSuccessLimit",
        "F F F F F",
        4,
        0,
        Some(4),
        None,
        Argo::Failed,
    ),
    case(
        "FailureLimitAndConsecutiveSuccessLimit",
        "S F F F S S S S",
        4,
        0,
        Some(4),
        None,
        Argo::Successful,
    ),
    case(
        "FailureLimitAndConsecutiveSuccessLimit",
        "S S S F F F F S S S",
        4,
        0,
        Some(4),
        Some(10),
        Argo::Inconclusive,
    ),
    case(
        "FailureLimitAndConsecutiveSuccessLimit",
        "S S F F F F S S S S",
        4,
        0,
        Some(4),
        Some(10),
        Argo::Successful,
    ),
    case(
        "FailureLimitAndConsecutiveSuccessLimit",
        "S S F F F S S S",
        4,
        0,
        Some(4),
        Some(10),
        Argo::Running,
    ),
    case(
        "FailureLimitAndConsecutiveSuccessLimit",
        "S F F F S S S S",
        4,
        0,
        Some(4),
        Some(10),
        Argo::Successful,
    ),
    // TestAssessMetricStatusInconclusiveLimit: inconclusiveLimit 2, then 3.
    case(
        "InconclusiveLimit",
        "I I I",
        0,
        2,
        None,
        None,
        Argo::Inconclusive,
    ),
    case(
        "InconclusiveLimit",
        "I I I",
        0,
        3,
        None,
        None,
        Argo::Running,
    ),
    // TestAssessMetricStatusConsecutiveErrors: default consecutiveErrorLimit 4.
    case(
        "ConsecutiveErrors",
        "E E E E E",
        0,
        0,
        None,
        None,
        Argo::Error,
    ),
    case(
        "ConsecutiveErrors",
        "E E E E",
        0,
        0,
        None,
        None,
        Argo::Running,
    ),
    // TestAssessMetricStatusCountReached: count 10.
    case(
        "CountReached",
        "S S S S S S S S S S",
        0,
        0,
        None,
        Some(10),
        Argo::Successful,
    ),
    case(
        "CountReached",
        "S S S S S I",
        0,
        0,
        None,
        Some(10),
        Argo::Inconclusive,
    ),
    // TestAssessMetricFailureInconclusiveOrError: default limits.
    case(
        "FailureInconclusiveOrError",
        "F",
        0,
        0,
        None,
        None,
        Argo::Failed,
    ),
    case(
        "FailureInconclusiveOrError",
        "I",
        0,
        0,
        None,
        None,
        Argo::Inconclusive,
    ),
    case(
        "FailureInconclusiveOrError",
        "E E E E E",
        0,
        0,
        None,
        None,
        Argo::Error,
    ),
    // TestRunMeasurementsResetConsecutiveErrorCounter: an error raises Error and
    // ConsecutiveError, not Count (analysis.go, runMeasurements). Issue 18's sequences.
    case(
        "RunMeasurementsResetConsecutiveErrorCounter",
        "S E",
        0,
        0,
        None,
        Some(2),
        Argo::Running,
    ),
    case(
        "RunMeasurementsResetConsecutiveErrorCounter",
        "S E S",
        0,
        0,
        None,
        Some(2),
        Argo::Successful,
    ),
    case(
        "RunMeasurementsResetConsecutiveErrorCounter",
        "E E E E S",
        0,
        0,
        None,
        Some(5),
        Argo::Running,
    ),
    case(
        "RunMeasurementsResetConsecutiveErrorCounter",
        "E E E E S S S S S",
        0,
        0,
        None,
        Some(5),
        Argo::Successful,
    ),
];

fn result(validator: &str, c: char) -> MeasureResult {
    let outcome = match c {
        'S' => Outcome::Pass,
        'F' => Outcome::Fail,
        'I' => Outcome::Inconclusive,
        _ => {
            return MeasureResult::Error(ValidatorError {
                validator: validator.into(),
                message: "backend down".into(),
            })
        }
    };
    MeasureResult::Verdict(Verdict::new(validator, outcome, format!("{c}")))
}

/// Feeds one measurement per letter and returns Argo's name for where the run is after the
/// last one; panics if it ended before the last.
fn replay(run: &mut AnalysisRun, sequences: &[&str]) -> Argo {
    let names = run.validators();
    let rows: Vec<Vec<char>> = sequences
        .iter()
        .map(|s| {
            s.split_whitespace()
                .map(|t| t.chars().next().unwrap())
                .collect()
        })
        .collect();
    let len = rows[0].len();
    for n in 0..len {
        let measurement: Vec<MeasureResult> = rows
            .iter()
            .zip(names.iter())
            .map(|(row, name)| result(name, row[n]))
            .collect();
        match run.record(&measurement) {
            Decision::Continue => {}
            Decision::Done(r, message) => {
                assert_eq!(
                    n + 1,
                    len,
                    "ended at measurement {} of {len}: {message}",
                    n + 1
                );
                return match r {
                    AnalysisResult::Passed => Argo::Successful,
                    AnalysisResult::Inconclusive => Argo::Inconclusive,
                    // shipcore has no separate error result: too many errors fail the run.
                    AnalysisResult::Failed if message.contains("errors in a row") => Argo::Error,
                    AnalysisResult::Failed => Argo::Failed,
                };
            }
        }
    }
    Argo::Running
}

fn policy(c: &Case) -> AnalysisPolicy {
    AnalysisPolicy {
        interval: Duration::from_secs(60),
        count: c.count,
        failure_limit: c.failure_limit,
        inconclusive_limit: c.inconclusive_limit,
        consecutive_success_limit: c.success_limit,
        ..AnalysisPolicy::default()
    }
}

#[test]
fn shipcore_reproduces_argos_own_test_cases() {
    let mut wrong = Vec::new();
    for c in ARGO_CASES {
        let mut run = AnalysisRun::new(AnalysisStep {
            validators: vec!["success-rate".into()],
            policy: policy(c),
        });
        let got = replay(&mut run, &[c.sequence]);
        if got != c.argo {
            wrong.push(format!(
                "{}: `{}` (failure {}, inconclusive {}, success {:?}, count {:?}): Argo {:?}, shipcore {got:?}",
                c.source,
                c.sequence,
                c.failure_limit,
                c.inconclusive_limit,
                c.success_limit,
                c.count,
                c.argo
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn argos_settings_in_the_table_pass_validation_where_a_count_is_set() {
    for c in ARGO_CASES.iter().filter(|c| c.count.is_some()) {
        policy(c)
            .validate("policy")
            .unwrap_or_else(|e| panic!("{} `{}`: {e}", c.source, c.sequence));
    }
}

#[test]
fn the_worst_metric_decides_the_run_as_in_argos_assess_run_status() {
    // TestAssessRunStatus: latency Successful, success-rate Failed -> Failed. Issue 18's
    // case: limits 0, one measurement of (latency: inconclusive, error-rate: failed).
    for (latency, verdict) in [
        ("S", Argo::Failed),
        ("I", Argo::Failed),
        ("F", Argo::Failed),
    ] {
        let mut run = AnalysisRun::new(AnalysisStep {
            validators: vec!["latency".into(), "error-rate".into()],
            policy: AnalysisPolicy::every(Duration::from_secs(60), 3),
        });
        assert_eq!(
            replay(&mut run, &[latency, "F"]),
            verdict,
            "latency {latency}"
        );
    }
    // Error outranks inconclusive (IsWorse: Successful < Inconclusive < Error < Failed).
    let mut run = AnalysisRun::new(AnalysisStep {
        validators: vec!["latency".into(), "error-rate".into()],
        policy: AnalysisPolicy {
            consecutive_error_limit: 0,
            ..AnalysisPolicy::every(Duration::from_secs(60), 3)
        },
    });
    assert_eq!(replay(&mut run, &["I", "E"]), Argo::Error);
}

#[test]
fn every_validator_that_crossed_a_limit_is_named() {
    // TestAssessRunStatusMultipleFailures: two metrics failed; Argo's message names the
    // first, shipcore's names both, worst first.
    let mut run = AnalysisRun::new(AnalysisStep {
        validators: vec![
            "latency".into(),
            "run-forever".into(),
            "failed-metric".into(),
        ],
        policy: AnalysisPolicy::every(Duration::from_secs(60), 3),
    });
    let m = vec![
        result("latency", 'I'),
        result("run-forever", 'F'),
        result("failed-metric", 'F'),
    ];
    let Decision::Done(AnalysisResult::Failed, message) = run.record(&m) else {
        panic!("should fail");
    };
    assert_eq!(
        message,
        "run-forever failed 1 time(s) (limit 0): F; failed-metric failed 1 time(s) (limit 0): F; \
         latency inconclusive 1 time(s) (limit 0): I"
    );
}

#[test]
fn deliberate_difference_no_promotion_without_evidence() {
    // AnalysisPolicy docs, difference 1: Argo passes `F I` at count 2 within the limits.
    let mut run = AnalysisRun::new(AnalysisStep {
        validators: vec!["v".into()],
        policy: AnalysisPolicy {
            failure_limit: 1,
            inconclusive_limit: 1,
            ..AnalysisPolicy::every(Duration::from_secs(60), 2)
        },
    });
    run.record(&[result("v", 'F')]);
    let Decision::Done(AnalysisResult::Inconclusive, message) = run.record(&[result("v", 'I')])
    else {
        panic!("should be inconclusive");
    };
    assert!(message.contains("v: no passing verdict in 2"), "{message}");
}

// ---- AnalysisPolicy::validate ----

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
