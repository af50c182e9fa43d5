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

/// How an analysis runs its validators: Argo Rollouts' AnalysisRun knobs.
///
/// A run *fails* when failures exceed `failure_limit` or consecutive errors exceed
/// `consecutive_error_limit`; it is *inconclusive* when inconclusive verdicts exceed
/// `inconclusive_limit`; it *passes* after `count` measurements, or earlier after
/// `consecutive_success_limit` passes in a row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnalysisPolicy {
    /// Time between measurements.
    #[serde(with = "serde_duration")]
    pub interval: Duration,
    /// Measurements to take; `None` runs until stopped (background analysis only).
    #[serde(default)]
    pub count: Option<u32>,
    /// Wait before the first measurement.
    #[serde(default, with = "serde_duration")]
    pub initial_delay: Duration,
    /// Failures tolerated (a run with more fails).
    #[serde(default)]
    pub failure_limit: u32,
    /// Inconclusive verdicts tolerated.
    #[serde(default)]
    pub inconclusive_limit: u32,
    /// Validator errors in a row tolerated (default 4, as Argo).
    #[serde(default = "default_error_limit")]
    pub consecutive_error_limit: u32,
    /// Passes in a row that end the run early as a success.
    #[serde(default)]
    pub consecutive_success_limit: Option<u32>,
    /// What too many inconclusive verdicts do.
    #[serde(default)]
    pub on_inconclusive: InconclusiveAction,
}

fn default_error_limit() -> u32 {
    4
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
    /// `count` measurements every `interval`, other knobs at their defaults.
    pub fn every(interval: Duration, count: u32) -> Self {
        AnalysisPolicy {
            interval,
            count: Some(count),
            ..Default::default()
        }
    }

    /// Checks the knobs; `field` prefixes the names in errors.
    pub fn validate(&self, field: &str) -> Result<(), PlanError> {
        if self.interval.is_zero() {
            return Err(PlanError::invalid(
                format!("{field}.interval"),
                "must be greater than zero",
            ));
        }
        if self.count == Some(0) {
            return Err(PlanError::invalid(
                format!("{field}.count"),
                "must be at least 1 (omit it to run until stopped)",
            ));
        }
        if self.consecutive_success_limit == Some(0) {
            return Err(PlanError::invalid(
                format!("{field}.consecutive_success_limit"),
                "must be at least 1",
            ));
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
