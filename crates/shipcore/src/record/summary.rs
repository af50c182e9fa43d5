//! The validation summary of a record: per validator the last outcome and counts, the
//! highest error rate and p95 latency seen on the candidate, and the combined outcome of the
//! health checks and smoke tests. Conventions are in the [module docs](super).

use super::meta::RecordMeta;
use crate::engine::{AnalysisScope, Event, EventKind, MeasureResult};
use crate::validator::{Measurement, Outcome};
use serde::{Deserialize, Serialize};

/// The outcome of one check, or of several combined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckStatus {
    /// Healthy.
    Passed,
    /// Unhealthy.
    Failed,
    /// Could not tell.
    Inconclusive,
    /// The validator could not measure.
    Error,
    /// Never ran.
    NotRun,
}

impl CheckStatus {
    /// snake_case name (`"not_run"`).
    pub fn as_str(self) -> &'static str {
        match self {
            CheckStatus::Passed => "passed",
            CheckStatus::Failed => "failed",
            CheckStatus::Inconclusive => "inconclusive",
            CheckStatus::Error => "error",
            CheckStatus::NotRun => "not_run",
        }
    }

    fn severity(self) -> u8 {
        match self {
            CheckStatus::NotRun => 0,
            CheckStatus::Passed => 1,
            CheckStatus::Inconclusive => 2,
            CheckStatus::Error => 3,
            CheckStatus::Failed => 4,
        }
    }

    /// The worst of several outcomes (`failed` > `error` > `inconclusive` > `passed`);
    /// `not_run` when there are none.
    pub fn worst(all: impl IntoIterator<Item = CheckStatus>) -> CheckStatus {
        all.into_iter().fold(CheckStatus::NotRun, |acc, s| {
            if s.severity() > acc.severity() {
                s
            } else {
                acc
            }
        })
    }
}

impl From<Outcome> for CheckStatus {
    fn from(o: Outcome) -> Self {
        match o {
            Outcome::Pass => CheckStatus::Passed,
            Outcome::Fail => CheckStatus::Failed,
            Outcome::Inconclusive => CheckStatus::Inconclusive,
        }
    }
}

/// One validator over the whole rollout.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ValidatorSummary {
    /// Validator name.
    pub name: String,
    /// Its last outcome.
    pub last_outcome: CheckStatus,
    /// Its last message (or error).
    #[serde(default)]
    pub last_message: String,
    /// Passing verdicts.
    pub passed: u32,
    /// Failing verdicts.
    pub failed: u32,
    /// Inconclusive verdicts.
    pub inconclusive: u32,
    /// Times it could not measure.
    pub errors: u32,
    /// The measurements of its last verdict.
    #[serde(default)]
    pub last_measurements: Vec<Measurement>,
}

/// The `validation` block of a record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ValidationSummary {
    /// Combined last outcome of the health-check validators.
    pub health_check: CheckStatus,
    /// Combined last outcome of the smoke-test validators.
    pub smoke_tests: CheckStatus,
    /// Highest `error_rate` measured on the candidate.
    pub error_rate: Option<f64>,
    /// Unit of `errorRate`, as the validator reported it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_rate_unit: Option<String>,
    /// Highest `latency_p95` measured on the candidate.
    pub latency_p95: Option<f64>,
    /// Unit of `latencyP95`, as the validator reported it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_p95_unit: Option<String>,
    /// Every validator that judged the candidate, in order of first appearance.
    #[serde(default)]
    pub validators: Vec<ValidatorSummary>,
}

#[derive(Default)]
struct Highest(Option<(f64, String)>);

impl Highest {
    fn offer(&mut self, m: &Measurement) {
        if m.value.is_finite()
            && self
                .0
                .as_ref()
                .map(|(best, _)| m.value > *best)
                .unwrap_or(true)
        {
            self.0 = Some((m.value, m.unit.clone()));
        }
    }
    fn split(self) -> (Option<f64>, Option<String>) {
        match self.0 {
            Some((v, unit)) => (Some(v), Some(unit).filter(|u| !u.is_empty())),
            None => (None, None),
        }
    }
}

impl ValidationSummary {
    /// Summarizes the candidate's measurements in `events` (analysis steps and background
    /// analysis; rollback verification is left out). Pass the events you want summarized,
    /// e.g. one attempt's.
    pub fn from_events(events: &[Event], meta: &RecordMeta) -> Self {
        let mut validators: Vec<ValidatorSummary> = Vec::new();
        let (mut error_rate, mut latency) = (Highest::default(), Highest::default());
        for ev in events {
            let EventKind::Measured { scope, results, .. } = &ev.kind else {
                continue;
            };
            if *scope == AnalysisScope::RollbackVerification {
                continue;
            }
            for result in results.iter() {
                let name = match result {
                    MeasureResult::Verdict(v) => &v.validator,
                    MeasureResult::Error(e) => &e.validator,
                };
                let pos = match validators.iter().position(|s| &s.name == name) {
                    Some(p) => p,
                    None => {
                        validators.push(ValidatorSummary {
                            name: name.clone(),
                            last_outcome: CheckStatus::NotRun,
                            last_message: String::new(),
                            passed: 0,
                            failed: 0,
                            inconclusive: 0,
                            errors: 0,
                            last_measurements: vec![],
                        });
                        validators.len() - 1
                    }
                };
                let s = &mut validators[pos];
                match result {
                    MeasureResult::Verdict(v) => {
                        match v.outcome {
                            Outcome::Pass => s.passed += 1,
                            Outcome::Fail => s.failed += 1,
                            Outcome::Inconclusive => s.inconclusive += 1,
                        }
                        s.last_outcome = v.outcome.into();
                        s.last_message = v.message.clone();
                        s.last_measurements = v.measurements.clone();
                        for m in &v.measurements {
                            match m.name.as_str() {
                                "error_rate" | "error-rate" => error_rate.offer(m),
                                "latency_p95" | "latency-p95" => latency.offer(m),
                                _ => {}
                            }
                        }
                    }
                    MeasureResult::Error(e) => {
                        s.errors += 1;
                        s.last_outcome = CheckStatus::Error;
                        s.last_message = e.message.clone();
                        s.last_measurements.clear();
                    }
                }
            }
        }
        let combined = |pick: &dyn Fn(&str) -> bool| {
            CheckStatus::worst(
                validators
                    .iter()
                    .filter(|s| pick(&s.name))
                    .map(|s| s.last_outcome),
            )
        };
        let health_check = combined(&|n| meta.is_health_check(n));
        let smoke_tests = combined(&|n| meta.is_smoke_test(n));
        let (error_rate, error_rate_unit) = error_rate.split();
        let (latency_p95, latency_p95_unit) = latency.split();
        ValidationSummary {
            health_check,
            smoke_tests,
            error_rate,
            error_rate_unit,
            latency_p95,
            latency_p95_unit,
            validators,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::time::Timestamp;
    use crate::validator::{ValidatorError, Verdict};

    fn measured(scope: AnalysisScope, results: Vec<MeasureResult>) -> Event {
        Event {
            at: Timestamp(1),
            kind: EventKind::Measured {
                scope,
                number: 1,
                results: results.into(),
            },
        }
    }
    fn verdict(name: &str, outcome: Outcome, ms: &[(&str, f64)]) -> MeasureResult {
        let mut v = Verdict::new(name, outcome, format!("{name} said {outcome:?}"));
        for (n, x) in ms {
            v = v.with(Measurement::new(*n, *x, Some(5.0), "%"));
        }
        MeasureResult::Verdict(v)
    }

    #[test]
    fn counts_last_outcomes_and_highest_values() {
        let step = AnalysisScope::Step { step: 2 };
        let events = vec![
            measured(
                step.clone(),
                vec![
                    verdict("http-health", Outcome::Pass, &[]),
                    verdict("err", Outcome::Pass, &[("error_rate", 1.5)]),
                ],
            ),
            measured(
                AnalysisScope::Background,
                vec![verdict(
                    "err",
                    Outcome::Pass,
                    &[("error-rate", 3.0), ("latency_p95", 0.2)],
                )],
            ),
            measured(
                step,
                vec![
                    MeasureResult::Error(ValidatorError {
                        validator: "http-health".into(),
                        message: "connection refused".into(),
                    }),
                    verdict(
                        "err",
                        Outcome::Fail,
                        &[("error_rate", f64::NAN), ("error_rate_baseline", 9.0)],
                    ),
                    verdict("smoke-login", Outcome::Inconclusive, &[]),
                ],
            ),
            // Stable's verification is not the candidate's health.
            measured(
                AnalysisScope::RollbackVerification,
                vec![verdict("err", Outcome::Pass, &[("error_rate", 50.0)])],
            ),
        ];
        let s = ValidationSummary::from_events(&events, &RecordMeta::default());
        assert_eq!(
            s.error_rate,
            Some(3.0),
            "NaN, baselines and stable's values are ignored"
        );
        assert_eq!(s.error_rate_unit.as_deref(), Some("%"));
        assert_eq!(s.latency_p95, Some(0.2));
        assert_eq!(s.health_check, CheckStatus::Error);
        assert_eq!(s.smoke_tests, CheckStatus::Inconclusive);
        let names: Vec<_> = s.validators.iter().map(|v| v.name.as_str()).collect();
        assert_eq!(names, ["http-health", "err", "smoke-login"]);
        let err = &s.validators[1];
        assert_eq!(
            (
                err.passed,
                err.failed,
                err.inconclusive,
                err.errors,
                err.last_outcome
            ),
            (2, 1, 0, 0, CheckStatus::Failed)
        );
        assert_eq!(s.validators[0].last_message, "connection refused");
    }

    #[test]
    fn nothing_measured_means_not_run_and_null_values() {
        let s = ValidationSummary::from_events(&[], &RecordMeta::default());
        assert_eq!(
            (s.health_check, s.smoke_tests, s.error_rate, s.latency_p95),
            (CheckStatus::NotRun, CheckStatus::NotRun, None, None)
        );
        let json = serde_json::to_value(&s).unwrap_or_default();
        assert_eq!(json["errorRate"], serde_json::Value::Null);
        assert_eq!(json["healthCheck"], "not_run");
    }

    #[test]
    fn meta_lists_override_name_matching() {
        let events = vec![measured(
            AnalysisScope::Step { step: 0 },
            vec![
                verdict("readiness", Outcome::Fail, &[]),
                verdict("health", Outcome::Pass, &[]),
            ],
        )];
        let meta = RecordMeta {
            health_checks: Some(vec!["readiness".into()]),
            ..Default::default()
        };
        assert_eq!(
            ValidationSummary::from_events(&events, &meta).health_check,
            CheckStatus::Failed
        );
        assert_eq!(
            ValidationSummary::from_events(&events, &RecordMeta::default()).health_check,
            CheckStatus::Passed
        );
    }
}
