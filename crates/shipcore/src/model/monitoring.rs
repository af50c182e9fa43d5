//! Post-deploy monitoring: an analysis that runs after the candidate took all traffic and
//! before the stable revision is retired, so that a failure still rolls back to a stable
//! that is running. [`Monitoring`] is its configuration; [`Plan::with_monitoring`] places it.

use super::FieldError;
use super::{AnalysisPolicy, AnalysisStep, Plan, Role, Step};
use crate::model::PlanError;
use crate::time::serde_duration;
use serde::{Deserialize, Serialize};
use std::time::Duration;

fn default_interval() -> Duration {
    Duration::from_secs(60)
}

/// A post-deploy monitoring window: `validators` measured every `interval` for `window`,
/// the first measurement one interval after the promotion, the last at the window's end.
///
/// ```
/// use shipcore::model::Monitoring;
/// use std::time::Duration;
/// let m: Monitoring = serde_json::from_str(
///     r#"{"validators": ["error-rate"], "window": "1h", "interval": "5m"}"#).unwrap();
/// let step = m.to_step().unwrap();
/// assert_eq!(step.policy.count, Some(12));
/// assert_eq!(step.policy.initial_delay, Duration::from_secs(300));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Monitoring {
    /// Names of validators registered with the runner.
    pub validators: Vec<String>,
    /// How long to watch after the promotion.
    #[serde(with = "serde_duration")]
    pub window: Duration,
    /// Time between measurements (default 1m).
    #[serde(default = "default_interval", with = "serde_duration")]
    pub interval: Duration,
    /// Failed measurements tolerated (default 0: the first failure rolls back).
    #[serde(default)]
    pub failure_limit: u32,
}

impl Monitoring {
    /// `validators` every minute for `window`.
    pub fn new(validators: &[&str], window: Duration) -> Self {
        Monitoring {
            validators: validators.iter().map(|v| v.to_string()).collect(),
            window,
            interval: default_interval(),
            failure_limit: 0,
        }
    }

    /// The same window measured every `interval`.
    #[must_use]
    pub fn every(mut self, interval: Duration) -> Self {
        self.interval = interval;
        self
    }

    /// Checks the values and makes the analysis step. Errors name the field
    /// (`monitoring.window`).
    pub fn to_step(&self) -> Result<AnalysisStep, PlanError> {
        let field = |name: &str| format!("monitoring.{name}");
        if self.validators.is_empty() {
            return Err(FieldError::new(
                field("validators"),
                "monitoring needs at least one validator",
            )
            .into());
        }
        if let Some(i) = self.validators.iter().position(|v| v.trim().is_empty()) {
            return Err(
                FieldError::new(field(&format!("validators[{i}]")), "must not be empty").into(),
            );
        }
        if self.interval.is_zero() {
            return Err(FieldError::new(field("interval"), "must be greater than zero").into());
        }
        if self.window < self.interval {
            return Err(FieldError::new(
                field("window"),
                format!(
                    "{} is shorter than the interval ({})",
                    crate::time::format_duration(self.window),
                    crate::time::format_duration(self.interval)
                ),
            )
            .into());
        }
        let count = self.window.as_millis().div_ceil(self.interval.as_millis());
        let count = u32::try_from(count).map_err(|_| {
            FieldError::new(field("window"), "too many measurements for the interval")
        })?;
        Ok(AnalysisStep {
            validators: self.validators.clone(),
            policy: AnalysisPolicy {
                interval: self.interval,
                count: Some(count),
                initial_delay: self.interval,
                failure_limit: self.failure_limit,
                ..AnalysisPolicy::default()
            },
        })
    }
}

impl Plan {
    /// Adds a post-deploy monitoring analysis right after the plan's last `Promote` (so
    /// before the stable revision is retired, which keeps it running through the window);
    /// without a `Promote`, before the first retirement of stable; else at the end. Like any
    /// analysis step, its failure rolls back to stable.
    ///
    /// ```
    /// use shipcore::model::{Monitoring, Plan, Role, Step};
    /// use std::time::Duration;
    /// let plan = Plan { strategy: "canary".into(), replicas: 2, steps: vec![
    ///     Step::Scale { role: Role::Candidate, replicas: 2 },
    ///     Step::Promote,
    ///     Step::Retire { role: Role::Stable, after: Duration::from_secs(30) },
    /// ]};
    /// let step = Monitoring::new(&["error-rate"], Duration::from_secs(3600)).to_step().unwrap();
    /// let plan = plan.with_monitoring(step.clone());
    /// assert_eq!(plan.steps[2], Step::Analysis(step));
    /// assert!(matches!(plan.steps[3], Step::Retire { role: Role::Stable, .. }));
    /// ```
    pub fn with_monitoring(mut self, monitoring: AnalysisStep) -> Plan {
        let at = self.monitoring_position();
        self.steps.insert(at, Step::Analysis(monitoring));
        self
    }

    fn monitoring_position(&self) -> usize {
        if let Some(i) = self.steps.iter().rposition(|s| *s == Step::Promote) {
            return i + 1;
        }
        self.steps
            .iter()
            .position(|s| {
                matches!(
                    s,
                    Step::Retire {
                        role: Role::Stable,
                        ..
                    }
                )
            })
            .unwrap_or(self.steps.len())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn plan(steps: Vec<Step>) -> Plan {
        Plan {
            strategy: "test".into(),
            replicas: 2,
            steps,
        }
    }

    fn retire() -> Step {
        Step::Retire {
            role: Role::Stable,
            after: Duration::ZERO,
        }
    }

    fn scale() -> Step {
        Step::Scale {
            role: Role::Candidate,
            replicas: 2,
        }
    }

    #[test]
    fn placed_after_promote_or_before_the_retirement_of_stable() {
        let m = Monitoring::new(&["e"], Duration::from_secs(600))
            .to_step()
            .unwrap();
        let a = Step::Analysis(m.clone());
        let p = plan(vec![scale(), Step::Promote, retire()]).with_monitoring(m.clone());
        assert_eq!(p.steps, vec![scale(), Step::Promote, a.clone(), retire()]);
        let p = plan(vec![scale(), retire()]).with_monitoring(m.clone());
        assert_eq!(p.steps, vec![scale(), a.clone(), retire()]);
        let p = plan(vec![scale()]).with_monitoring(m);
        assert_eq!(p.steps, vec![scale(), a]);
    }

    #[test]
    fn window_becomes_a_count_rounded_up() {
        let m =
            Monitoring::new(&["e"], Duration::from_secs(3600)).every(Duration::from_secs(7 * 60));
        let s = m.to_step().unwrap();
        assert_eq!(s.policy.count, Some(9));
        assert!(s.policy.validate("monitoring").is_ok());
    }

    #[test]
    fn bad_values_name_the_field() {
        let ok = Monitoring::new(&["e"], Duration::from_secs(60));
        let cases = [
            (
                Monitoring {
                    validators: vec![],
                    ..ok.clone()
                },
                "monitoring.validators",
            ),
            (
                Monitoring {
                    validators: vec!["e".into(), " ".into()],
                    ..ok.clone()
                },
                "monitoring.validators[1]",
            ),
            (ok.clone().every(Duration::ZERO), "monitoring.interval"),
            (
                Monitoring {
                    window: Duration::from_secs(10),
                    ..ok.clone()
                },
                "monitoring.window",
            ),
            (
                Monitoring {
                    window: Duration::from_secs(u64::MAX / 2),
                    interval: Duration::from_millis(1),
                    ..ok
                },
                "monitoring.window",
            ),
        ];
        for (m, field) in cases {
            assert_eq!(m.to_step().unwrap_err().field(), field, "{m:?}");
        }
        let e = serde_json::from_str::<Monitoring>(r#"{"validators": ["e"], "windw": "1h"}"#)
            .unwrap_err();
        assert!(e.to_string().contains("unknown field `windw`"), "{e}");
    }
}
