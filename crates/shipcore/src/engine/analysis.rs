//! Bookkeeping of one analysis run: counts passes, failures, inconclusive verdicts and
//! errors per validator and decides, after each measurement, whether the run goes on,
//! passed, failed or is inconclusive. Pure.

use super::event::AnalysisResult;
use super::io::MeasureResult;
use crate::model::AnalysisStep;
use crate::validator::Outcome;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Counters {
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnalysisRun {
    step: AnalysisStep,
    taken: u32,
    consecutive_passes: u32,
    counters: BTreeMap<String, Counters>,
}

impl AnalysisRun {
    /// A new run of `step`.
    pub fn new(step: AnalysisStep) -> Self {
        AnalysisRun {
            step,
            taken: 0,
            consecutive_passes: 0,
            counters: BTreeMap::new(),
        }
    }

    /// The analysis being run.
    pub fn step(&self) -> &AnalysisStep {
        &self.step
    }

    /// Measurements taken so far.
    pub fn taken(&self) -> u32 {
        self.taken
    }

    /// Takes one measurement's results into account and decides.
    pub fn record(&mut self, results: &[MeasureResult]) -> Decision {
        self.taken += 1;
        let policy = &self.step.policy;
        let mut all_pass = !results.is_empty();
        for (i, r) in results.iter().enumerate() {
            let name = self
                .step
                .validators
                .get(i)
                .cloned()
                .unwrap_or_else(|| format!("#{i}"));
            let c = self.counters.entry(name.clone()).or_default();
            match r {
                MeasureResult::Error(e) => {
                    all_pass = false;
                    c.consecutive_errors += 1;
                    if c.consecutive_errors > policy.consecutive_error_limit {
                        return Decision::Done(
                            AnalysisResult::Failed,
                            format!(
                                "{name}: {} errors in a row (limit {}): {}",
                                c.consecutive_errors, policy.consecutive_error_limit, e.message
                            ),
                        );
                    }
                }
                MeasureResult::Verdict(v) => {
                    c.consecutive_errors = 0;
                    match v.outcome {
                        Outcome::Pass => {}
                        Outcome::Fail => {
                            all_pass = false;
                            c.failed += 1;
                            if c.failed > policy.failure_limit {
                                return Decision::Done(
                                    AnalysisResult::Failed,
                                    format!(
                                        "{name} failed {} time(s) (limit {}): {}",
                                        c.failed, policy.failure_limit, v.message
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
                                        "{name} inconclusive {} time(s) (limit {}): {}",
                                        c.inconclusive, policy.inconclusive_limit, v.message
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
                let failed: u32 = self.counters.values().map(|c| c.failed).sum();
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
