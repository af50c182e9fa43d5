use super::Role;
use crate::driver::Capabilities;
use crate::strategy::PlanError;
use crate::time::{serde_duration, serde_opt_duration};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// What to do when an analysis keeps being inconclusive past its limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InconclusiveAction {
    /// Pause the rollout until a person resumes (promote) or aborts it (Argo's behaviour).
    #[default]
    Pause,
    /// Treat it as a failure.
    Fail,
}

/// How an analysis runs its validators: Argo Rollouts' AnalysisRun knobs, with Argo's
/// meaning. A user who writes Argo's settings gets Argo's decision, but for the two
/// deliberate differences below; the Argo cases shipcore reproduces are a test table in
/// `tests/analysis_argo.rs`.
///
/// # How a run is decided
///
/// Each *measurement* asks every validator of the analysis for a verdict once. After each,
/// every validator's counters are updated and then weighed together:
///
/// * A validator whose failures exceed `failure_limit`, or whose errors in a row exceed
///   `consecutive_error_limit` (Argo's `Error` phase), fails the run; one whose inconclusive
///   verdicts exceed `inconclusive_limit` makes it inconclusive. When several validators
///   cross a limit in the same measurement the worst decides (failed, then errored, then
///   inconclusive, as Argo's `IsWorse`) and the reason names every one of them: with limits
///   0 and one measurement of (latency: inconclusive, error-rate: failed), the run fails.
/// * An *error* (the validator could not measure) is not a verdict: it does not count
///   toward `count` (it counts toward `consecutive_error_limit`), and the next measurement
///   comes sooner, after `min(interval, 10 s)` ([`ERROR_RETRY`](Self::ERROR_RETRY); Argo
///   retries after 10 s), so a backend that is down fails the run in seconds, not intervals.
///   A pass rests on `count` real verdicts from each validator: with `count: 2`, `S E` goes
///   on to a third measurement. A validator that returned nothing counts as an error.
/// * A `Pass` verdict carrying a NaN measurement is taken as inconclusive, whatever
///   validator produced it (NaN is never a pass: see
///   [`Measurement::value`](crate::validator::Measurement::value)).
/// * `consecutive_success_limit` is a requirement, as in Argo: that many measurements that
///   passed in a row end the run early as a pass; when `count` is reached without them the
///   run is inconclusive, or failed when there is no failure limit
///   ([`NO_FAILURE_LIMIT`](Self::NO_FAILURE_LIMIT), Argo's `-1`). Argo's own case:
///   `S F F F S S S` with `consecutive_success_limit: 5`, `count: 7`, `failure_limit: -1` fails.
/// * Otherwise the run passes once each validator has given `count` verdicts. Every
///   validator is measured every time, so one that has its `count` already is measured again
///   while another catches up after errors, and those verdicts count too (stricter than
///   Argo, which stops measuring a metric at its count).
///
/// # Deliberate differences from Argo
///
/// 1. **No promotion without evidence.** A validator that never passed leaves the run
///    inconclusive at `count`, even when its failures and inconclusive verdicts stayed
///    within their limits (Argo calls that Successful). Example: `count: 2`,
///    `failure_limit: 1`, `inconclusive_limit: 1` and the verdicts `F I`: Argo passes,
///    shipcore is inconclusive ("no passing verdict in 2").
/// 2. **One success streak for all validators.** With several validators,
///    `consecutive_success_limit` counts measurements in which *every* validator passed
///    (Argo keeps a streak per metric and ends each metric on its own). Example: limit 2,
///    `failure_limit: 1`, validator `a` giving `S S F` and `b` giving `F S S`: Argo ends `a`
///    after its second pass and `b` after its third measurement, Successful; here the
///    streak is 1 (only the second measurement passed everywhere), so the run goes on and
///    `a`'s failure counts.
///
/// # Checked settings
///
/// [`validate`](Self::validate) refuses what Argo refuses, with the field named: `count`
/// below `failure_limit + consecutive_success_limit` (below `consecutive_success_limit` alone
/// when there is no failure limit), `count` below `inconclusive_limit`, and no failure
/// limit without a success limit (nothing could fail the run). It also bounds `count` by
/// [`MAX_COUNT`](Self::MAX_COUNT) and each limit by [`MAX_LIMIT`](Self::MAX_LIMIT).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnalysisPolicy {
    /// Time between measurements (after an error, `min(interval, 10 s)`).
    #[serde(with = "serde_duration")]
    pub interval: Duration,
    /// Verdicts to take from each validator (errors don't count); `None` runs until
    /// stopped (background analysis only). At most [`MAX_COUNT`](Self::MAX_COUNT).
    #[serde(default)]
    pub count: Option<u32>,
    /// Wait before the first measurement.
    #[serde(default, with = "serde_duration")]
    pub initial_delay: Duration,
    /// Failures tolerated per validator (a run with more fails).
    /// [`NO_FAILURE_LIMIT`](Self::NO_FAILURE_LIMIT), written `-1` as in Argo, turns the
    /// limit off (then a `consecutive_success_limit` is required).
    #[serde(default, with = "failure_limit_serde")]
    pub failure_limit: u32,
    /// Inconclusive verdicts tolerated per validator.
    #[serde(default)]
    pub inconclusive_limit: u32,
    /// Validator errors in a row tolerated (default 4, as Argo).
    #[serde(default = "default_error_limit")]
    pub consecutive_error_limit: u32,
    /// Measurements passing (every validator) in a row that are required: reaching them
    /// ends the run early as a pass; reaching `count` without them is inconclusive (failed
    /// without a failure limit).
    #[serde(default)]
    pub consecutive_success_limit: Option<u32>,
    /// What too many inconclusive verdicts do.
    #[serde(default)]
    pub on_inconclusive: InconclusiveAction,
}

fn default_error_limit() -> u32 {
    4
}

/// `failure_limit` as Argo writes it: `-1` is no limit ([`AnalysisPolicy::NO_FAILURE_LIMIT`]).
mod failure_limit_serde {
    use super::AnalysisPolicy;
    use serde::{de::Error, Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(limit: &u32, s: S) -> Result<S::Ok, S::Error> {
        if *limit == AnalysisPolicy::NO_FAILURE_LIMIT {
            s.serialize_i64(-1)
        } else {
            s.serialize_u32(*limit)
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
        let v = i64::deserialize(d)?;
        if v == -1 {
            return Ok(AnalysisPolicy::NO_FAILURE_LIMIT);
        }
        u32::try_from(v).map_err(|_| {
            D::Error::custom(format!(
                "failure_limit {v} must be 0 or more, or -1 for no limit"
            ))
        })
    }
}

impl Default for AnalysisPolicy {
    fn default() -> Self {
        AnalysisPolicy {
            interval: Duration::from_secs(60),
            count: Some(5),
            initial_delay: Duration::ZERO,
            failure_limit: 0,
            inconclusive_limit: 0,
            consecutive_error_limit: 4,
            consecutive_success_limit: None,
            on_inconclusive: InconclusiveAction::Pause,
        }
    }
}

impl AnalysisPolicy {
    /// `failure_limit` meaning "no limit" (Argo's `-1`; serialized as `-1`).
    pub const NO_FAILURE_LIMIT: u32 = u32::MAX;
    /// The largest `count` accepted (a day of measurements a second is 86,400).
    pub const MAX_COUNT: u32 = 100_000;
    /// The largest value accepted for each limit (but [`NO_FAILURE_LIMIT`](Self::NO_FAILURE_LIMIT)).
    pub const MAX_LIMIT: u32 = 100_000;
    /// The longest wait before measuring again after a validator error (Argo's 10 s); the
    /// wait is `min(interval, ERROR_RETRY)`.
    pub const ERROR_RETRY: Duration = Duration::from_secs(10);

    /// `count` measurements every `interval`, other knobs at their defaults.
    pub fn every(interval: Duration, count: u32) -> Self {
        AnalysisPolicy {
            interval,
            count: Some(count),
            ..Default::default()
        }
    }

    /// The failure limit for people: `2`, or `no limit`.
    pub fn failure_limit_text(&self) -> String {
        if self.failure_limit == Self::NO_FAILURE_LIMIT {
            "no limit".into()
        } else {
            self.failure_limit.to_string()
        }
    }

    /// Checks the knobs; `field` prefixes the names in errors. Refuses what Argo refuses
    /// (see the type's docs) and values past [`MAX_COUNT`](Self::MAX_COUNT) /
    /// [`MAX_LIMIT`](Self::MAX_LIMIT).
    pub fn validate(&self, field: &str) -> Result<(), PlanError> {
        let name = |n: &str| format!("{field}.{n}");
        if self.interval.is_zero() {
            return Err(PlanError::invalid(
                name("interval"),
                "must be greater than zero",
            ));
        }
        if self.count == Some(0) {
            return Err(PlanError::invalid(
                name("count"),
                "must be at least 1 (omit it to run until stopped)",
            ));
        }
        if let Some(count) = self.count.filter(|c| *c > Self::MAX_COUNT) {
            return Err(PlanError::invalid(
                name("count"),
                format!("{count} is more than the maximum of {}", Self::MAX_COUNT),
            ));
        }
        if self.consecutive_success_limit == Some(0) {
            return Err(PlanError::invalid(
                name("consecutive_success_limit"),
                "must be at least 1",
            ));
        }
        let no_failure_limit = self.failure_limit == Self::NO_FAILURE_LIMIT;
        let limits = [
            (
                "failure_limit",
                (!no_failure_limit).then_some(self.failure_limit),
            ),
            ("inconclusive_limit", Some(self.inconclusive_limit)),
            (
                "consecutive_error_limit",
                Some(self.consecutive_error_limit),
            ),
            ("consecutive_success_limit", self.consecutive_success_limit),
        ];
        for (n, value) in limits {
            if let Some(v) = value.filter(|v| *v > Self::MAX_LIMIT) {
                return Err(PlanError::invalid(
                    name(n),
                    format!(
                        "{v} is more than the maximum of {}{}",
                        Self::MAX_LIMIT,
                        if n == "failure_limit" {
                            " (-1 turns the limit off)"
                        } else {
                            ""
                        }
                    ),
                ));
            }
        }
        if no_failure_limit && self.consecutive_success_limit.is_none() {
            return Err(PlanError::invalid(
                name("failure_limit"),
                "no limit (-1) needs a consecutive_success_limit, or nothing could fail the run",
            ));
        }
        if let Some(count) = self.count {
            let success = self.consecutive_success_limit.unwrap_or(0);
            if no_failure_limit {
                if count < success {
                    return Err(PlanError::invalid(
                        name("count"),
                        format!(
                            "{count} is below consecutive_success_limit ({success}): the run \
                             could never pass"
                        ),
                    ));
                }
            } else if u64::from(count) < u64::from(self.failure_limit) + u64::from(success) {
                return Err(PlanError::invalid(
                    name("count"),
                    format!(
                        "{count} is below failure_limit + consecutive_success_limit ({} + \
                         {success}), as Argo refuses",
                        self.failure_limit
                    ),
                ));
            }
            if count < self.inconclusive_limit {
                return Err(PlanError::invalid(
                    name("count"),
                    format!(
                        "{count} is below inconclusive_limit ({}), as Argo refuses",
                        self.inconclusive_limit
                    ),
                ));
            }
        }
        Ok(())
    }
}

/// An analysis: named validators run under a policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnalysisStep {
    /// Names of validators registered with the runner.
    pub validators: Vec<String>,
    /// How to run them.
    #[serde(default)]
    pub policy: AnalysisPolicy,
}

/// One step of a plan. Steps speak of roles (stable / candidate), not platform names, so a
/// plan reads the same on every driver.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "step", rename_all = "snake_case", deny_unknown_fields)]
pub enum Step {
    /// Run `replicas` of the role's revision (creating it if needed) and wait until ready.
    Scale {
        /// Which revision.
        role: Role,
        /// Replica count.
        replicas: u32,
    },
    /// Send `percent` of traffic to the candidate, the rest to stable.
    SetWeight {
        /// Candidate share, 0..=100.
        percent: u8,
    },
    /// Set a feature flag's percentage.
    SetFlag {
        /// Flag name.
        flag: String,
        /// Percent of users.
        percent: u8,
    },
    /// Wait for a duration, or (without one) until an operator promotes.
    Pause {
        /// How long; `None` waits for a person.
        #[serde(default, with = "serde_opt_duration")]
        duration: Option<Duration>,
    },
    /// Run validators under a policy; failure rolls back.
    Analysis(AnalysisStep),
    /// Check named gates (manual approval, windows) before going on.
    Gate {
        /// Names of gates registered with the runner.
        gates: Vec<String>,
    },
    /// Send all traffic to the candidate: from here on it serves production.
    Promote,
    /// Remove a role's revision after a delay (blue-green scale-down delay).
    Retire {
        /// Which revision.
        role: Role,
        /// How long to wait first.
        #[serde(default, with = "serde_duration")]
        after: Duration,
    },
}

impl Step {
    /// One line for people: `set weight 10%`, `pause 5m`, `analysis [error-rate] x5 every 1m`.
    pub fn describe(&self) -> String {
        use crate::time::format_duration as f;
        match self {
            Step::Scale { role, replicas } => format!("scale {role} to {replicas}"),
            Step::SetWeight { percent } => format!("set candidate weight {percent}%"),
            Step::SetFlag { flag, percent } => format!("set flag {flag} to {percent}%"),
            Step::Pause { duration: Some(d) } => format!("pause {}", f(*d)),
            Step::Pause { duration: None } => "pause until promoted".into(),
            Step::Analysis(a) => {
                let count = a
                    .policy
                    .count
                    .map(|c| format!("x{c}"))
                    .unwrap_or_else(|| "until stopped".into());
                format!(
                    "analysis [{}] {} every {}",
                    a.validators.join(", "),
                    count,
                    f(a.policy.interval)
                )
            }
            Step::Gate { gates } => format!("gate [{}]", gates.join(", ")),
            Step::Promote => "promote candidate (all traffic)".into(),
            Step::Retire { role, after } => format!("retire {role} after {}", f(*after)),
        }
    }
}

/// An ordered list of steps made by a [`Strategy`](crate::strategy::Strategy): data that can
/// be printed (dry run), serialized and checked against a driver before anything runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    /// Which strategy made it (`canary`, `rolling`…).
    pub strategy: String,
    /// Replicas the candidate ends with.
    pub replicas: u32,
    /// The steps, in order.
    pub steps: Vec<Step>,
}

impl Plan {
    /// Checks every step's values and that the driver can do what the plan asks.
    /// Errors name the step (`steps[3].percent`) and the problem.
    pub fn validate(&self, caps: &Capabilities) -> Result<(), PlanError> {
        if self.replicas == 0 {
            return Err(PlanError::invalid("replicas", "must be at least 1"));
        }
        if self.steps.is_empty() {
            return Err(PlanError::invalid(
                "steps",
                "a plan needs at least one step",
            ));
        }
        for (i, step) in self.steps.iter().enumerate() {
            let field = |name: &str| format!("steps[{i}].{name}");
            match step {
                Step::SetWeight { percent } => {
                    if *percent > 100 {
                        return Err(PlanError::invalid(
                            field("percent"),
                            format!("{percent} is not within 0..=100"),
                        ));
                    }
                    if !caps.weighted_traffic {
                        return Err(PlanError::unsupported(field("percent"), "weighted_traffic"));
                    }
                }
                Step::SetFlag { flag, percent } => {
                    if *percent > 100 {
                        return Err(PlanError::invalid(
                            field("percent"),
                            format!("{percent} is not within 0..=100"),
                        ));
                    }
                    if flag.trim().is_empty() {
                        return Err(PlanError::invalid(field("flag"), "must not be empty"));
                    }
                    if !caps.feature_flags {
                        return Err(PlanError::unsupported(field("flag"), "feature_flags"));
                    }
                }
                Step::Analysis(a) => {
                    a.policy.validate(&field("policy"))?;
                    if a.validators.is_empty() {
                        return Err(PlanError::invalid(
                            field("validators"),
                            "an analysis needs at least one validator",
                        ));
                    }
                    if a.policy.count.is_none() {
                        return Err(PlanError::invalid(
                            field("policy.count"),
                            "an analysis step must have a count",
                        ));
                    }
                }
                Step::Gate { gates } if gates.is_empty() => {
                    return Err(PlanError::invalid(
                        field("gates"),
                        "a gate step needs at least one gate",
                    ));
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// The plan as numbered lines, for a dry run.
    pub fn describe(&self) -> String {
        let mut out = format!("{} plan, {} replicas:\n", self.strategy, self.replicas);
        for (i, s) in self.steps.iter().enumerate() {
            out += &format!("  {:>2}. {}\n", i + 1, s.describe());
        }
        out
    }
}
