//! Bookkeeping of one analysis run: counts passes, failures, inconclusive verdicts and
//! errors per validator and decides, after each measurement, whether the run goes on,
//! passed, failed or is inconclusive. Pure. The rules are Argo Rollouts' (worst verdict
//! wins, errors are not measurements, the success limit is a requirement), with the two
//! differences documented on [`AnalysisPolicy`](crate::model::AnalysisPolicy). Argo's own
//! test cases (sequence, limits, Argo's phase) that this reproduces are a table in
//! `tests/analysis_argo.rs`.

use super::event::AnalysisResult;
use crate::model::{AnalysisPolicy, AnalysisStep};
use crate::time::Timestamp;
use crate::validator::MeasureResult;
use crate::validator::{Outcome, Verdict};
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Counters {
    /// Real verdicts (errors excluded): what `count` counts.
    verdicts: u32,
    passed: u32,
    failed: u32,
    inconclusive: u32,
    consecutive_errors: u32,
}

/// How bad a limit crossing is; the worst one decides (Argo's `IsWorse` order).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Severity {
    Inconclusive,
    Errored,
    Failed,
}

/// What an analysis run does next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Measure again after [`AnalysisRun::next_wait`].
    Continue,
    /// Finished with a result and a summary.
    Done(AnalysisResult, String),
}

/// The outcome the engine takes from a verdict, and why when it differs from the
/// validator's: a `Pass` with a NaN measurement is inconclusive, whatever validator
/// produced it (NaN is never a pass).
pub fn judged_outcome(v: &Verdict) -> (Outcome, Option<String>) {
    if v.outcome == Outcome::Pass {
        if let Some(m) = v.measurements.iter().find(|m| m.value.is_nan()) {
            return (
                Outcome::Inconclusive,
                Some(format!(
                    "passed with {} = NaN, which is never a pass",
                    m.name
                )),
            );
        }
    }
    (v.outcome, None)
}

/// Whether a result is a pass the engine accepts (a verdict, `Pass`, no NaN measurement).
pub fn is_pass(r: &MeasureResult) -> bool {
    matches!(r, MeasureResult::Verdict(v) if judged_outcome(v).0 == Outcome::Pass)
}

/// One analysis run's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnalysisRun {
    step: AnalysisStep,
    /// The step's validator names, shared by every measurement request of the run.
    names: Arc<[String]>,
    taken: u32,
    consecutive_passes: u32,
    /// Whether the last measurement had an error (the next one then comes sooner).
    last_errored: bool,
    /// Per result position (the validators in step order, then any extra results).
    counters: Vec<Counters>,
    /// Per validator, in step order: the [`Verdict::breached_since`] of its latest verdict
    /// (an errored measurement leaves it as it was), handed back to it in the next
    /// measurement request. Shared with those requests.
    breached_since: Arc<[Option<Timestamp>]>,
}

impl AnalysisRun {
    /// A new run of `step`.
    pub fn new(step: AnalysisStep) -> Self {
        AnalysisRun {
            names: step.validators.iter().cloned().collect(),
            counters: vec![Counters::default(); step.validators.len()],
            breached_since: vec![None; step.validators.len()].into(),
            step,
            taken: 0,
            consecutive_passes: 0,
            last_errored: false,
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

    /// Per validator, in the order of [`validators`](Self::validators): since when its
    /// watched condition has been breached, as its latest verdict in this run said
    /// ([`Verdict::breached_since`]); what the next measurement hands back to it in
    /// [`ValidationContext::breached_since`](crate::validator::ValidationContext::breached_since).
    /// Rebuilt, like the rest of the run, by replaying the journaled measurements.
    pub fn breached_since(&self) -> Arc<[Option<Timestamp>]> {
        self.breached_since.clone()
    }

    /// Measurements taken so far (errored ones included).
    pub fn taken(&self) -> u32 {
        self.taken
    }

    /// How long to wait before the next measurement: the policy's interval, or
    /// `min(interval, AnalysisPolicy::ERROR_RETRY)` after a measurement in which a validator
    /// errored (that measurement gave no verdict to count, so it is retried sooner, as
    /// Argo retries after 10 s). Decided from the run's own state: deterministic.
    pub fn next_wait(&self) -> Duration {
        let interval = self.step.policy.interval;
        if self.last_errored {
            interval.min(AnalysisPolicy::ERROR_RETRY)
        } else {
            interval
        }
    }

    /// Takes one measurement's results into account and decides. Every validator's
    /// result is weighed before deciding: when several cross a limit, the worst decides
    /// (failed, then too many errors, then inconclusive) and the summary names them all.
    /// A validator with no result in `results` counts as errored.
    pub fn record(&mut self, results: &[MeasureResult]) -> Decision {
        self.taken = self.taken.saturating_add(1);
        self.remember_breaches(results);
        if self.counters.len() < results.len() {
            self.counters.resize(results.len(), Counters::default());
        }
        let policy = &self.step.policy;
        let mut crossed: Vec<(Severity, String)> = Vec::new();
        let mut all_pass = !self.counters.is_empty();
        let mut errored = false;
        for (i, c) in self.counters.iter_mut().enumerate() {
            let verdict = match results.get(i) {
                Some(MeasureResult::Verdict(v)) => v,
                other => {
                    all_pass = false;
                    errored = true;
                    c.consecutive_errors = c.consecutive_errors.saturating_add(1);
                    if c.consecutive_errors > policy.consecutive_error_limit {
                        let why = match other {
                            Some(MeasureResult::Error(e)) => e.message.as_str(),
                            _ => "no result",
                        };
                        crossed.push((
                            Severity::Errored,
                            format!(
                                "{}: {} errors in a row (limit {}): {why}",
                                name_of(&self.names, i),
                                c.consecutive_errors,
                                policy.consecutive_error_limit,
                            ),
                        ));
                    }
                    continue;
                }
            };
            c.consecutive_errors = 0;
            c.verdicts = c.verdicts.saturating_add(1);
            let (outcome, note) = judged_outcome(verdict);
            let message = note.as_deref().unwrap_or(&verdict.message);
            match outcome {
                Outcome::Pass => c.passed = c.passed.saturating_add(1),
                Outcome::Fail => {
                    all_pass = false;
                    c.failed = c.failed.saturating_add(1);
                    // NO_FAILURE_LIMIT is u32::MAX: a saturating count never exceeds it.
                    if c.failed > policy.failure_limit {
                        crossed.push((
                            Severity::Failed,
                            format!(
                                "{} failed {} time(s) (limit {}): {message}",
                                name_of(&self.names, i),
                                c.failed,
                                policy.failure_limit,
                            ),
                        ));
                    }
                }
                Outcome::Inconclusive => {
                    all_pass = false;
                    c.inconclusive = c.inconclusive.saturating_add(1);
                    if c.inconclusive > policy.inconclusive_limit {
                        crossed.push((
                            Severity::Inconclusive,
                            format!(
                                "{} inconclusive {} time(s) (limit {}): {message}",
                                name_of(&self.names, i),
                                c.inconclusive,
                                policy.inconclusive_limit,
                            ),
                        ));
                    }
                }
            }
        }
        self.last_errored = errored;
        if let Some(worst) = crossed.iter().map(|(s, _)| *s).max() {
            // Worst first; a stable sort keeps step order within one severity.
            crossed.sort_by_key(|(s, _)| std::cmp::Reverse(*s));
            let result = if worst == Severity::Inconclusive {
                AnalysisResult::Inconclusive
            } else {
                AnalysisResult::Failed
            };
            let message: Vec<String> = crossed.into_iter().map(|(_, m)| m).collect();
            return Decision::Done(result, message.join("; "));
        }
        self.consecutive_passes = if all_pass {
            self.consecutive_passes.saturating_add(1)
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
        let Some(count) = policy.count else {
            return Decision::Continue;
        };
        let reached = if self.counters.is_empty() {
            self.taken >= count
        } else {
            self.counters.iter().all(|c| c.verdicts >= count)
        };
        if !reached {
            return Decision::Continue;
        }
        self.at_count()
    }

    /// Keeps each validator's [`Verdict::breached_since`]; an error (or no result) keeps
    /// the previous one. Reallocates only when something changed.
    fn remember_breaches(&mut self, results: &[MeasureResult]) {
        let changed = self.breached_since.iter().enumerate().any(|(i, old)| {
            matches!(results.get(i), Some(MeasureResult::Verdict(v)) if v.breached_since != *old)
        });
        if !changed {
            return;
        }
        self.breached_since = self
            .breached_since
            .iter()
            .enumerate()
            .map(|(i, old)| match results.get(i) {
                Some(MeasureResult::Verdict(v)) => v.breached_since,
                _ => *old,
            })
            .collect();
    }

    /// The decision once every validator has given `count` verdicts and no limit was
    /// crossed.
    fn at_count(&self) -> Decision {
        let policy = &self.step.policy;
        let mut gaps: Vec<String> = Vec::new();
        let mut result = AnalysisResult::Passed;
        if let Some(limit) = policy.consecutive_success_limit {
            // Argo: the limit is a requirement; unmet at count it is inconclusive, or
            // failed when no failure limit could have failed the run.
            result = if policy.failure_limit == AnalysisPolicy::NO_FAILURE_LIMIT {
                AnalysisResult::Failed
            } else {
                AnalysisResult::Inconclusive
            };
            gaps.push(format!(
                "{limit} passing measurement(s) in a row required, {} at the end of {} \
                 measurement(s) (failure limit: {})",
                self.consecutive_passes,
                self.taken,
                policy.failure_limit_text()
            ));
        }
        // Errors and inconclusive verdicts within their limits are tolerated gaps, never
        // passes: a validator that never passed leaves the run inconclusive.
        for (i, c) in self.counters.iter().enumerate() {
            if c.passed == 0 {
                if result == AnalysisResult::Passed {
                    result = AnalysisResult::Inconclusive;
                }
                gaps.push(format!(
                    "{}: no passing verdict in {} ({} failed, {} inconclusive): nothing to \
                     judge the candidate by",
                    name_of(&self.names, i),
                    c.verdicts,
                    c.failed,
                    c.inconclusive
                ));
            }
        }
        if result != AnalysisResult::Passed {
            return Decision::Done(result, gaps.join("; "));
        }
        let failed: u32 = self
            .counters
            .iter()
            .fold(0u32, |sum, c| sum.saturating_add(c.failed));
        let message = if policy.failure_limit == AnalysisPolicy::NO_FAILURE_LIMIT {
            format!(
                "{} measurement(s), {failed} failure(s), no failure limit",
                self.taken
            )
        } else {
            format!(
                "{} measurement(s), {failed} failure(s) within the limit of {}",
                self.taken, policy.failure_limit
            )
        };
        Decision::Done(AnalysisResult::Passed, message)
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
    use crate::validator::{Measurement, ValidatorError, Verdict};
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
    fn done(d: Decision) -> (AnalysisResult, String) {
        match d {
            Decision::Done(r, m) => (r, m),
            Decision::Continue => panic!("the run should have ended"),
        }
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
        let (result, message) = done(r.record(&error()));
        assert_eq!(result, AnalysisResult::Failed);
        assert_eq!(message, "v: 3 errors in a row (limit 2): down");
    }

    #[test]
    fn a_backend_down_for_the_whole_run_fails_on_the_error_limit_and_never_passes() {
        // Argo's default limits: 4 errors in a row allowed, 3 measurements. Errors are not
        // measurements, so the run goes on past 3 and fails on the fifth error in a row.
        let mut r = run(AnalysisPolicy::every(Duration::from_secs(1), 3));
        for _ in 0..4 {
            assert_eq!(r.record(&error()), Decision::Continue);
        }
        let (result, message) = done(r.record(&error()));
        assert_eq!(result, AnalysisResult::Failed);
        assert!(message.contains("5 errors in a row (limit 4)"), "{message}");
    }

    #[test]
    fn errors_do_not_use_up_count() {
        // Issue 18, item 2: count 2 with `S E` used to pass at the second measurement.
        let mut r = run(AnalysisPolicy::every(Duration::from_secs(1), 2));
        assert_eq!(r.record(&verdict(Outcome::Pass)), Decision::Continue);
        assert_eq!(r.record(&error()), Decision::Continue);
        let (result, message) = done(r.record(&verdict(Outcome::Pass)));
        assert_eq!(result, AnalysisResult::Passed);
        assert_eq!(
            message,
            "3 measurement(s), 0 failure(s) within the limit of 0"
        );

        // The defaults (count 5, four errors in a row allowed): `E E E E S` used to pass on
        // one real verdict; it needs four more.
        let mut r = run(AnalysisPolicy::every(Duration::from_secs(1), 5));
        for _ in 0..4 {
            assert_eq!(r.record(&error()), Decision::Continue);
        }
        for _ in 0..4 {
            assert_eq!(r.record(&verdict(Outcome::Pass)), Decision::Continue);
        }
        assert!(matches!(
            r.record(&verdict(Outcome::Pass)),
            Decision::Done(AnalysisResult::Passed, _)
        ));
    }

    #[test]
    fn the_next_measurement_after_an_error_comes_sooner() {
        let mut r = run(AnalysisPolicy::every(Duration::from_secs(60), 3));
        assert_eq!(r.next_wait(), Duration::from_secs(60));
        r.record(&error());
        assert_eq!(r.next_wait(), AnalysisPolicy::ERROR_RETRY);
        r.record(&verdict(Outcome::Pass));
        assert_eq!(r.next_wait(), Duration::from_secs(60));
        // Never later than the interval itself.
        let mut r = run(AnalysisPolicy::every(Duration::from_secs(2), 3));
        r.record(&error());
        assert_eq!(r.next_wait(), Duration::from_secs(2));
    }

    #[test]
    fn the_worst_verdict_decides_and_every_crossing_is_named() {
        // Issue 18, item 1: limits 0, one measurement of (latency: inconclusive,
        // error-rate: failed) used to pause on "latency inconclusive".
        let mut r = AnalysisRun::new(AnalysisStep {
            validators: vec!["latency".into(), "error-rate".into()],
            policy: AnalysisPolicy::every(Duration::from_secs(1), 5),
        });
        let (result, message) = done(r.record(&[
            MeasureResult::Verdict(Verdict::new("latency", Outcome::Inconclusive, "no data")),
            MeasureResult::Verdict(Verdict::new("error-rate", Outcome::Fail, "7% > 5%")),
        ]));
        assert_eq!(result, AnalysisResult::Failed);
        assert_eq!(
            message,
            "error-rate failed 1 time(s) (limit 0): 7% > 5%; \
             latency inconclusive 1 time(s) (limit 0): no data"
        );
    }

    #[test]
    fn too_many_errors_outrank_inconclusive() {
        let mut r = AnalysisRun::new(AnalysisStep {
            validators: vec!["a".into(), "b".into()],
            policy: AnalysisPolicy {
                consecutive_error_limit: 0,
                ..AnalysisPolicy::every(Duration::from_secs(1), 5)
            },
        });
        let (result, message) = done(r.record(&[
            MeasureResult::Verdict(Verdict::new("a", Outcome::Inconclusive, "")),
            MeasureResult::Error(ValidatorError {
                validator: "b".into(),
                message: "timeout".into(),
            }),
        ]));
        assert_eq!(result, AnalysisResult::Failed);
        assert!(message.starts_with("b: 1 errors in a row"), "{message}");
        assert!(message.contains("a inconclusive 1 time(s)"), "{message}");
    }

    #[test]
    fn a_missing_result_counts_as_an_error() {
        let mut r = AnalysisRun::new(AnalysisStep {
            validators: vec!["a".into(), "b".into()],
            policy: AnalysisPolicy {
                consecutive_error_limit: 0,
                ..AnalysisPolicy::every(Duration::from_secs(1), 1)
            },
        });
        let (result, message) =
            done(r.record(&[MeasureResult::Verdict(Verdict::new("a", Outcome::Pass, ""))]));
        assert_eq!(result, AnalysisResult::Failed);
        assert_eq!(message, "b: 1 errors in a row (limit 0): no result");
    }

    #[test]
    fn a_pass_with_a_nan_measurement_is_inconclusive() {
        // Issue 10, item 4: the engine enforces "NaN is never a pass" for any validator.
        let mut r = run(AnalysisPolicy::every(Duration::from_secs(1), 3));
        let nan = vec![MeasureResult::Verdict(
            Verdict::new("v", Outcome::Pass, "fine").with(Measurement::new(
                "error_rate",
                f64::NAN,
                Some(0.05),
                "%",
            )),
        )];
        let (result, message) = done(r.record(&nan));
        assert_eq!(result, AnalysisResult::Inconclusive);
        assert_eq!(
            message,
            "v inconclusive 1 time(s) (limit 0): passed with error_rate = NaN, which is never \
             a pass"
        );
        assert!(!is_pass(&nan[0]));
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
        assert_eq!(r.record(&verdict(Outcome::Pass)), Decision::Continue);
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

    fn sequence(r: &mut AnalysisRun, s: &str) -> Decision {
        let mut last = Decision::Continue;
        for c in s.split_whitespace() {
            assert_eq!(last, Decision::Continue, "ended before {c} in {s}");
            last = r.record(&match c {
                "S" => verdict(Outcome::Pass),
                "F" => verdict(Outcome::Fail),
                "I" => verdict(Outcome::Inconclusive),
                _ => error(),
            });
        }
        last
    }

    #[test]
    fn an_unmet_success_limit_is_failed_without_a_failure_limit() {
        // Argo's TestAssessMetricStatusConsecutiveSuccessLimit: `S F F F S S S`, success
        // limit 5, count 7, failure limit -1: Failed (shipcore used to pass it).
        let mut r = run(AnalysisPolicy {
            failure_limit: AnalysisPolicy::NO_FAILURE_LIMIT,
            consecutive_success_limit: Some(5),
            ..AnalysisPolicy::every(Duration::from_secs(1), 7)
        });
        let (result, message) = done(sequence(&mut r, "S F F F S S S"));
        assert_eq!(result, AnalysisResult::Failed);
        assert_eq!(
            message,
            "5 passing measurement(s) in a row required, 3 at the end of 7 measurement(s) \
             (failure limit: no limit)"
        );
    }

    #[test]
    fn an_unmet_success_limit_is_inconclusive_with_a_failure_limit() {
        let mut r = run(AnalysisPolicy {
            failure_limit: 4,
            consecutive_success_limit: Some(4),
            ..AnalysisPolicy::every(Duration::from_secs(1), 10)
        });
        let (result, _) = done(sequence(&mut r, "S S S F F F F S S S"));
        assert_eq!(result, AnalysisResult::Inconclusive);
    }

    #[test]
    fn no_failure_limit_says_so() {
        let mut r = run(AnalysisPolicy {
            failure_limit: AnalysisPolicy::NO_FAILURE_LIMIT,
            ..AnalysisPolicy::every(Duration::from_secs(1), 3)
        });
        let (result, message) = done(sequence(&mut r, "F S F"));
        assert_eq!(result, AnalysisResult::Passed);
        assert_eq!(message, "3 measurement(s), 2 failure(s), no failure limit");
    }

    #[test]
    fn the_success_streak_counts_measurements_in_which_every_validator_passed() {
        // Deliberate difference 2 (AnalysisPolicy docs): `a` gives S S F, `b` F S S.
        let mut r = AnalysisRun::new(AnalysisStep {
            validators: vec!["a".into(), "b".into()],
            policy: AnalysisPolicy {
                failure_limit: 1,
                consecutive_success_limit: Some(2),
                ..AnalysisPolicy::every(Duration::from_secs(1), 5)
            },
        });
        let m = |a, b| {
            vec![
                MeasureResult::Verdict(Verdict::new("a", a, "")),
                MeasureResult::Verdict(Verdict::new("b", b, "")),
            ]
        };
        assert_eq!(
            r.record(&m(Outcome::Pass, Outcome::Fail)),
            Decision::Continue
        );
        assert_eq!(
            r.record(&m(Outcome::Pass, Outcome::Pass)),
            Decision::Continue
        );
        assert_eq!(
            r.record(&m(Outcome::Fail, Outcome::Pass)),
            Decision::Continue
        );
        assert!(matches!(
            r.record(&m(Outcome::Pass, Outcome::Pass)),
            Decision::Continue
        ));
        assert!(matches!(
            r.record(&m(Outcome::Pass, Outcome::Pass)),
            Decision::Done(AnalysisResult::Passed, m) if m == "2 passing measurement(s) in a row"
        ));
    }

    #[test]
    fn each_validators_breach_is_carried_and_an_error_keeps_it() {
        // Issue 15, item 1: the `for` window is analysis state, rebuilt by replay.
        let mut r = AnalysisRun::new(AnalysisStep {
            validators: vec!["a".into(), "b".into()],
            policy: AnalysisPolicy {
                consecutive_error_limit: 5,
                ..AnalysisPolicy::every(Duration::from_secs(1), 10)
            },
        });
        let v = |name: &str, since: Option<u64>| {
            MeasureResult::Verdict(
                Verdict::new(name, Outcome::Pass, "").with_breached_since(since.map(Timestamp)),
            )
        };
        let err = |name: &str| {
            MeasureResult::Error(ValidatorError {
                validator: name.into(),
                message: "down".into(),
            })
        };
        assert_eq!(&*r.breached_since(), &[None, None]);
        r.record(&[v("a", Some(5)), v("b", None)]);
        assert_eq!(&*r.breached_since(), &[Some(Timestamp(5)), None]);
        // An error says nothing about the breach: it stays.
        r.record(&[err("a"), v("b", Some(9))]);
        assert_eq!(
            &*r.breached_since(),
            &[Some(Timestamp(5)), Some(Timestamp(9))]
        );
        // A verdict without a breach ends it; a missing result keeps it.
        r.record(&[v("a", None)]);
        assert_eq!(&*r.breached_since(), &[None, Some(Timestamp(9))]);
        // A new run starts with nothing carried.
        assert_eq!(
            &*AnalysisRun::new(r.step().clone()).breached_since(),
            &[None, None]
        );
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

#[cfg(test)]
#[path = "analysis_argo_tests.rs"]
mod argo_tests;
