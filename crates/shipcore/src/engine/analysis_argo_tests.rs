//! Argo Rollouts' own analysis test cases (`analysis/analysis_test.go`), replayed through the
//! engine's analysis run: the worst verdict decides, errors are not measurements, the
//! consecutive-success limit is a requirement. A unit test: the analysis run is internal.
#![allow(clippy::unwrap_used)]

use super::{AnalysisRun, Decision};
use crate::engine::{AnalysisResult, MeasureResult};
use crate::model::{AnalysisPolicy, AnalysisStep};
use crate::validator::{Outcome, ValidatorError, Verdict};
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
