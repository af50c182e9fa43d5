//! What a rollout is asked to do: the revisions, the plan, the checks around it and the
//! policies for deadlines, retries and failure. Serializable, validated with errors that
//! name the field.

use crate::model::FieldError;
use crate::model::PlanError;
use crate::model::{
    check_identifier, AnalysisStep, ContractPolicy, MigrationPhase, Plan, Revision, Role, Step,
    Target,
};
use crate::time::serde_duration;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// What happens when a rollout fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailurePolicy {
    /// Restore the stable revision automatically (default).
    #[default]
    Rollback,
    /// Stop where it is and wait for a person (irreversible migrations): the rollout enters
    /// `Frozen`; `retry` re-runs the failed step, `abort` rolls back.
    Freeze,
}

/// Bounded retries of transient driver errors, with exponential backoff (no jitter, so runs
/// are deterministic).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct RetryPolicy {
    /// Attempts per operation, the first included.
    pub max_attempts: u32,
    /// Wait before the second attempt.
    #[serde(with = "serde_duration")]
    pub initial_backoff: Duration,
    /// Longest wait between attempts.
    #[serde(with = "serde_duration")]
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 5,
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// Wait before attempt `attempt + 1` (attempt counts from 1).
    pub fn backoff(&self, attempt: u32) -> Duration {
        let factor = 1u64
            .checked_shl(attempt.saturating_sub(1).min(30))
            .unwrap_or(u64::MAX);
        let ms = (self.initial_backoff.as_millis() as u64).saturating_mul(factor);
        Duration::from_millis(ms).min(self.max_backoff)
    }
}

fn default_deadline() -> Duration {
    Duration::from_secs(600)
}
fn default_poll() -> Duration {
    Duration::from_secs(2)
}

/// A rollout request.
///
/// ```
/// use shipcore::engine::RolloutSpec;
/// use shipcore::model::{Plan, Revision, Step, Role, Target};
/// let spec = RolloutSpec::new(
///     "r1",
///     Target::new("web", "production"),
///     Some(Revision::new("web-v1", "1.0.0".parse().unwrap(), "web:1.0.0")),
///     Revision::new("web-v2", "2.0.0".parse().unwrap(), "web:2.0.0"),
///     Plan { strategy: "recreate".into(), replicas: 3, steps: vec![
///         Step::Scale { role: Role::Stable, replicas: 0 },
///         Step::Scale { role: Role::Candidate, replicas: 3 },
///         Step::Promote,
///         Step::Retire { role: Role::Stable, after: Default::default() },
///     ]},
/// );
/// assert!(spec.validate().is_ok());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RolloutSpec {
    /// Unique id (also the journal's name).
    pub id: String,
    /// The service and environment the rollout changes.
    pub target: Target,
    /// What runs now (none on a first deploy).
    pub stable: Option<Revision>,
    /// What to deploy.
    pub candidate: Revision,
    /// The steps that take traffic and capacity from stable to the candidate.
    pub plan: Plan,
    /// Gates checked in order before anything changes.
    #[serde(default)]
    pub gates: Vec<String>,
    /// Analysis running in the background from the first step to the end.
    #[serde(default)]
    pub background_analysis: Option<AnalysisStep>,
    /// Validators that prove the stable revision healthy after a rollback.
    #[serde(default)]
    pub health_validators: Vec<String>,
    /// Longest time a step may take to make progress (default 600 s, as Argo and Kubernetes).
    #[serde(default = "default_deadline", with = "serde_duration")]
    pub progress_deadline: Duration,
    /// Roll back or freeze on failure.
    #[serde(default)]
    pub failure_policy: FailurePolicy,
    /// How often to observe the fleet while waiting for it to converge.
    #[serde(default = "default_poll", with = "serde_duration")]
    pub poll_interval: Duration,
    /// Retries of transient driver errors.
    #[serde(default)]
    pub retry: RetryPolicy,
    /// Whether contract migrations may run in this rollout (after monitoring, the default)
    /// or must wait for a later one.
    #[serde(default, skip_serializing_if = "ContractPolicy::is_default")]
    pub contract: ContractPolicy,
}

impl RolloutSpec {
    /// A spec with default policies.
    #[must_use]
    pub fn new(
        id: impl Into<String>,
        target: Target,
        stable: Option<Revision>,
        candidate: Revision,
        plan: Plan,
    ) -> Self {
        RolloutSpec {
            id: id.into(),
            target,
            stable,
            candidate,
            plan,
            gates: vec![],
            background_analysis: None,
            health_validators: vec![],
            progress_deadline: default_deadline(),
            failure_policy: FailurePolicy::Rollback,
            poll_interval: default_poll(),
            retry: RetryPolicy::default(),
            contract: ContractPolicy::default(),
        }
    }

    /// Checks the values that do not depend on a driver, and that a plan with a stable
    /// revision ends by retiring it. Errors name the field. The service, environment,
    /// namespace and revision ids must be safe identifiers:
    /// `[A-Za-z0-9][A-Za-z0-9._-]{0,127}` (see [`check_identifier`]). The plan's own rules,
    /// which depend on the driver, are [`Plan::validate`]'s.
    pub fn validate(&self) -> Result<(), PlanError> {
        let id_ok = !self.id.is_empty()
            && self
                .id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            && !self.id.starts_with('.');
        if !id_ok {
            return Err(FieldError::new(
                "id",
                format!(
                    "{:?} must be non-empty and use only letters, digits, '-', '_', '.'",
                    self.id
                ),
            )
            .into());
        }
        self.check_identifiers()?;
        if let Some(stable) = &self.stable {
            if stable.id == self.candidate.id {
                return Err(FieldError::new(
                    "candidate.id",
                    format!("{} is also the stable revision's id", stable.id),
                )
                .into());
            }
        }
        if self.progress_deadline.is_zero() {
            return Err(FieldError::new("progress_deadline", "must be greater than zero").into());
        }
        if self.poll_interval.is_zero() {
            return Err(FieldError::new("poll_interval", "must be greater than zero").into());
        }
        if self.retry.max_attempts == 0 {
            return Err(FieldError::new("retry.max_attempts", "must be at least 1").into());
        }
        if self.contract == ContractPolicy::LaterRollout {
            let contract = self.plan.steps.iter().position(|s| {
                matches!(
                    s,
                    Step::Migrate {
                        phase: MigrationPhase::Contract,
                        ..
                    }
                )
            });
            if let Some(i) = contract {
                return Err(FieldError::new(
                    format!("plan.steps[{i}].phase"),
                    "contract migrations wait for a later rollout by this rollout's policy \
                     (contract: later_rollout): remove the step, and run it in a later deploy \
                     once this one has proven itself",
                )
                .into());
            }
        }
        if let Some(bg) = &self.background_analysis {
            bg.policy.validate("background_analysis.policy")?;
            if bg.validators.is_empty() {
                return Err(FieldError::new(
                    "background_analysis.validators",
                    "needs at least one validator",
                )
                .into());
            }
        }
        if let Some(stable) = &self.stable {
            self.check_stable_retired(stable)?;
        }
        Ok(())
    }

    /// Service, environment, namespace and both revision ids must be safe identifiers
    /// (`[A-Za-z0-9][A-Za-z0-9._-]{0,127}`, see [`check_identifier`]): they reach metric
    /// queries, URLs, file names and platform objects.
    fn check_identifiers(&self) -> Result<(), PlanError> {
        let mut fields = vec![
            ("target.service", self.target.service.as_str()),
            ("target.environment", self.target.environment.as_str()),
            ("candidate.id", self.candidate.id.as_str()),
        ];
        if let Some(ns) = &self.target.namespace {
            fields.push(("target.namespace", ns.as_str()));
        }
        if let Some(stable) = &self.stable {
            fields.push(("stable.id", stable.id.as_str()));
        }
        for (field, value) in fields {
            check_identifier(field, value)?;
        }
        Ok(())
    }

    /// With a stable revision, the plan must remove it: a rollout that succeeds leaves only
    /// the candidate running, so the last step about stable is a `Retire`.
    fn check_stable_retired(&self, stable: &Revision) -> Result<(), PlanError> {
        let last = self.plan.steps.iter().enumerate().rev().find(|(_, s)| {
            matches!(
                s,
                Step::Scale {
                    role: Role::Stable,
                    ..
                } | Step::Retire {
                    role: Role::Stable,
                    ..
                }
            )
        });
        match last {
            Some((
                _,
                Step::Retire {
                    role: Role::Stable, ..
                },
            )) => Ok(()),
            Some((i, _)) => Err(FieldError::new(
                format!("plan.steps[{i}]"),
                format!(
                    "the last step about stable ({}) scales it; a plan must end with stable \
                     retired (a Retire step for role stable after its last Scale)",
                    stable.id
                ),
            )
            .into()),
            None => Err(FieldError::new(
                "plan.steps",
                format!(
                    "the plan never retires stable ({}); a plan must end with stable retired \
                     (a Retire step for role stable)",
                    stable.id
                ),
            )
            .into()),
        }
    }

    /// Every validator name the spec refers to.
    pub fn validator_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.health_validators.clone();
        if let Some(bg) = &self.background_analysis {
            names.extend(bg.validators.iter().cloned());
        }
        for step in &self.plan.steps {
            if let crate::model::Step::Analysis(a) = step {
                names.extend(a.validators.iter().cloned());
            }
        }
        names.sort();
        names.dedup();
        names
    }

    /// Every migrator name the plan's migration steps use, sorted, deduplicated.
    pub fn migrator_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .plan
            .steps
            .iter()
            .filter_map(|step| match step {
                crate::model::Step::Migrate { migrator, .. } => Some(migrator.clone()),
                _ => None,
            })
            .collect();
        names.sort();
        names.dedup();
        names
    }

    /// Every gate name the spec refers to.
    pub fn gate_names(&self) -> Vec<String> {
        let mut names = self.gates.clone();
        for step in &self.plan.steps {
            if let crate::model::Step::Gate { gates } = step {
                names.extend(gates.iter().cloned());
            }
        }
        names.sort();
        names.dedup();
        names
    }
}
