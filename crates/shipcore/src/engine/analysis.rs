//! Bookkeeping of one analysis run: counts passes, failures, inconclusive verdicts and
//! errors per validator and decides, after each measurement, whether the run goes on,
//! passed, failed or is inconclusive. Pure.

use super::event::AnalysisResult;
use super::io::MeasureResult;
use crate::model::AnalysisStep;
use crate::validator::Outcome;
use std::sync::Arc;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Counters {
    passed: u32,
    failed: u32,
    inconclusive: u32,
    consecutive_errors: u32,
}

/// What an analysis run does next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Measure again after the interval.
    Continue,
    /// Finished with a result and a summary.
    Done(AnalysisResult, String),
}

/// One analysis run's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnalysisRun {
    step: AnalysisStep,
    /// The step's validator names, shared by every measurement request of the run.
    names: Arc<[String]>,
    taken: u32,
    consecutive_passes: u32,
    /// Per result position (the validators in step order, then any extra results).
    counters: Vec<Counters>,
}

impl AnalysisRun {
    /// A new run of `step`.
    pub fn new(step: AnalysisStep) -> Self {
        AnalysisRun {
            names: step.validators.iter().cloned().collect(),
            counters: vec![Counters::default(); step.validators.len()],
            step,
            taken: 0,
            consecutive_passes: 0,
        }
    }

    /// The analysis being run.
    pub fn step(&self) -> &AnalysisStep {
        &self.step
    }

    /// The validators each measurement runs, in order (a cheap shared handle).
    pub fn validators(&self) -> Arc<[String]> {
        self.names.clone()
    }

    /// Measurements taken so far.
    pub fn taken(&self) -> u32 {
        self.taken
    }

    /// Takes one measurement's results into account and decides.
    pub fn record(&mut self, results: &[MeasureResult]) -> Decision {
        self.taken += 1;
        if self.counters.len() < results.len() {
            self.counters.resize(results.len(), Counters::default());
        }
        let policy = &self.step.policy;
        let mut all_pass = !results.is_empty();
        for (i, r) in results.iter().enumerate() {
            let c = &mut self.counters[i];
            match r {
                MeasureResult::Error(e) => {
                    all_pass = false;
                    c.consecutive_errors += 1;
                    if c.consecutive_errors > policy.consecutive_error_limit {
                        return Decision::Done(
                            AnalysisResult::Failed,
                            format!(
                                "{}: {} errors in a row (limit {}): {}",
                                name_of(&self.names, i),
                                c.consecutive_errors,
                                policy.consecutive_error_limit,
                                e.message
                            ),
                        );
                    }
                }
                MeasureResult::Verdict(v) => {
                    c.consecutive_errors = 0;
                    match v.outcome {
                        Outcome::Pass => c.passed += 1,
                        Outcome::Fail => {
                            all_pass = false;
                            c.failed += 1;
                            if c.failed > policy.failure_limit {
                                return Decision::Done(
                                    AnalysisResult::Failed,
                                    format!(
                                        "{} failed {} time(s) (limit {}): {}",
                                        name_of(&self.names, i),
                                        c.failed,
                                        policy.failure_limit,
                                        v.message
                                    ),
                                );
                            }
                        }
                        Outcome::Inconclusive => {
                            all_pass = false;
                            c.inconclusive += 1;
                            if c.inconclusive > policy.inconclusive_limit {
                                return Decision::Done(
                                    AnalysisResult::Inconclusive,
                                    format!(
                                        "{} inconclusive {} time(s) (limit {}): {}",
                                        name_of(&self.names, i),
                                        c.inconclusive,
                                        policy.inconclusive_limit,
                                        v.message
                                    ),
                                );
                            }
                        }
                    }
                }
            }
        }
        self.consecutive_passes = if all_pass {
            self.consecutive_passes + 1
        } else {
            0
        };
        if let Some(limit) = policy.consecutive_success_limit {
            if self.consecutive_passes >= limit {
                return Decision::Done(
                    AnalysisResult::Passed,
                    format!("{limit} passing measurement(s) in a row"),
                );
            }
        }
        if let Some(count) = policy.count {
            if self.taken >= count {
                // Errors and inconclusive verdicts within their limits are tolerated gaps,
                // never passes: a validator that never passed leaves the run inconclusive.
                if let Some((name, c)) = self.silent_validator(results.len()) {
                    return Decision::Done(
                        AnalysisResult::Inconclusive,
                        format!(
                            "{name}: no passing measurement in {} ({} error(s) in a row, {} \
                             inconclusive): nothing to judge the candidate by",
                            self.taken, c.consecutive_errors, c.inconclusive
                        ),
                    );
                }
                let failed: u32 = self.counters.iter().map(|c| c.failed).sum();
                return Decision::Done(
                    AnalysisResult::Passed,
                    format!(
                        "{} measurement(s), {failed} failure(s) within the limit of {}",
                        self.taken, policy.failure_limit
                    ),
                );
            }
        }
        Decision::Continue
    }

    /// The first validator (in step order) that has not passed once, with its counters.
    fn silent_validator(&self, measured: usize) -> Option<(String, Counters)> {
        let positions = self.names.len().max(measured);
        (0..positions)
            .map(|i| self.counters.get(i).cloned().unwrap_or_default())
            .enumerate()
            .find(|(_, c)| c.passed == 0)
            .map(|(i, c)| (name_of(&self.names, i), c))
    }
}

/// The name of result `i`: its validator's, or `#i` for a result beyond them.
fn name_of(names: &[String], i: usize) -> String {
    names.get(i).cloned().unwrap_or_else(|| format!("#{i}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::AnalysisPolicy;
    use crate::validator::{ValidatorError, Verdict};
    use std::time::Duration;

    fn run(policy: AnalysisPolicy) -> AnalysisRun {
        AnalysisRun::new(AnalysisStep {
            validators: vec!["v".into()],
            policy,
        })
    }
    fn verdict(o: Outcome) -> Vec<MeasureResult> {
        vec![MeasureResult::Verdict(Verdict::new("v", o, ""))]
    }
    fn error() -> Vec<MeasureResult> {
        vec![MeasureResult::Error(ValidatorError {
            validator: "v".into(),
            message: "down".into(),
        })]
    }

    #[test]
    fn passes_after_count() {
        let mut r = run(AnalysisPolicy::every(Duration::from_secs(1), 3));
        assert_eq!(r.record(&verdict(Outcome::Pass)), Decision::Continue);
        assert_eq!(r.record(&verdict(Outcome::Pass)), Decision::Continue);
        assert!(matches!(
            r.record(&verdict(Outcome::Pass)),
            Decision::Done(AnalysisResult::Passed, _)
        ));
    }

    #[test]
    fn fails_past_failure_limit() {
        let mut r = run(AnalysisPolicy {
            failure_limit: 1,
            ..AnalysisPolicy::every(Duration::from_secs(1), 5)
        });
        assert_eq!(r.record(&verdict(Outcome::Fail)), Decision::Continue);
        assert!(matches!(
            r.record(&verdict(Outcome::Fail)),
            Decision::Done(AnalysisResult::Failed, _)
        ));
    }

    #[test]
    fn inconclusive_never_passes_and_trips_its_limit() {
        let mut r = run(AnalysisPolicy::every(Duration::from_secs(1), 1));
        assert!(matches!(
            r.record(&verdict(Outcome::Inconclusive)),
            Decision::Done(AnalysisResult::Inconclusive, _)
        ));
    }

    #[test]
    fn errors_reset_on_a_verdict_and_fail_past_the_limit() {
        let mut r = run(AnalysisPolicy {
            consecutive_error_limit: 2,
            ..AnalysisPolicy::every(Duration::from_secs(1), 10)
        });
        assert_eq!(r.record(&error()), Decision::Continue);
        assert_eq!(r.record(&error()), Decision::Continue);
        assert_eq!(r.record(&verdict(Outcome::Pass)), Decision::Continue);
        assert_eq!(r.record(&error()), Decision::Continue);
        assert_eq!(r.record(&error()), Decision::Continue);
        assert!(matches!(
            r.record(&error()),
            Decision::Done(AnalysisResult::Failed, _)
        ));
    }

    #[test]
    fn errors_within_the_limit_for_a_whole_run_are_inconclusive_not_a_pass() {
        // Argo's default limits: 4 errors in a row allowed, 3 measurements. A metrics
        // backend down for the whole run must not let the candidate through.
        let mut r = run(AnalysisPolicy::every(Duration::from_secs(1), 3));
        assert_eq!(r.record(&error()), Decision::Continue);
        assert_eq!(r.record(&error()), Decision::Continue);
        let Decision::Done(result, message) = r.record(&error()) else {
            panic!("the run should end after its count");
        };
        assert_eq!(result, AnalysisResult::Inconclusive);
        assert!(
            message.contains("v: no passing measurement in 3"),
            "{message}"
        );
    }

    #[test]
    fn a_validator_that_never_passed_holds_the_run_even_if_another_did() {
        let mut r = AnalysisRun::new(AnalysisStep {
            validators: vec!["errors".into(), "latency".into()],
            policy: AnalysisPolicy {
                inconclusive_limit: 5,
                ..AnalysisPolicy::every(Duration::from_secs(1), 2)
            },
        });
        let round = || {
            vec![
                MeasureResult::Verdict(Verdict::new("errors", Outcome::Pass, "")),
                MeasureResult::Verdict(Verdict::new("latency", Outcome::Inconclusive, "NaN")),
            ]
        };
        assert_eq!(r.record(&round()), Decision::Continue);
        assert!(matches!(
            r.record(&round()),
            Decision::Done(AnalysisResult::Inconclusive, m) if m.starts_with("latency:")
        ));
    }

    #[test]
    fn gaps_within_the_limits_still_pass_when_each_validator_passed() {
        let mut r = run(AnalysisPolicy {
            inconclusive_limit: 1,
            ..AnalysisPolicy::every(Duration::from_secs(1), 3)
        });
        assert_eq!(r.record(&error()), Decision::Continue);
        assert_eq!(
            r.record(&verdict(Outcome::Inconclusive)),
            Decision::Continue
        );
        assert!(matches!(
            r.record(&verdict(Outcome::Pass)),
            Decision::Done(AnalysisResult::Passed, _)
        ));
    }

    #[test]
    fn consecutive_success_limit_ends_early() {
        let mut r = run(AnalysisPolicy {
            consecutive_success_limit: Some(2),
            ..AnalysisPolicy::every(Duration::from_secs(1), 10)
        });
        assert_eq!(r.record(&verdict(Outcome::Pass)), Decision::Continue);
        assert!(matches!(
            r.record(&verdict(Outcome::Pass)),
            Decision::Done(AnalysisResult::Passed, _)
        ));
    }

    #[test]
    fn unbounded_run_never_passes_by_count() {
        let mut r = run(AnalysisPolicy {
            count: None,
            ..Default::default()
        });
        for _ in 0..100 {
            assert_eq!(r.record(&verdict(Outcome::Pass)), Decision::Continue);
        }
    }
}
