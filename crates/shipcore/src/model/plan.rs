use super::FieldError;
use super::{MigrationPhase, Role};
use crate::model::Capabilities;
use crate::model::PlanError;
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
            return Err(FieldError::new(name("interval"), "must be greater than zero").into());
        }
        if self.count == Some(0) {
            return Err(FieldError::new(
                name("count"),
                "must be at least 1 (omit it to run until stopped)",
            )
            .into());
        }
        if let Some(count) = self.count.filter(|c| *c > Self::MAX_COUNT) {
            return Err(FieldError::new(
                name("count"),
                format!("{count} is more than the maximum of {}", Self::MAX_COUNT),
            )
            .into());
        }
        if self.consecutive_success_limit == Some(0) {
            return Err(
                FieldError::new(name("consecutive_success_limit"), "must be at least 1").into(),
            );
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
                return Err(FieldError::new(
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
                )
                .into());
            }
        }
        if no_failure_limit && self.consecutive_success_limit.is_none() {
            return Err(FieldError::new(
                name("failure_limit"),
                "no limit (-1) needs a consecutive_success_limit, or nothing could fail the run",
            )
            .into());
        }
        if let Some(count) = self.count {
            let success = self.consecutive_success_limit.unwrap_or(0);
            if no_failure_limit {
                if count < success {
                    return Err(FieldError::new(
                        name("count"),
                        format!(
                            "{count} is below consecutive_success_limit ({success}): the run \
                             could never pass"
                        ),
                    )
                    .into());
                }
            } else if u64::from(count) < u64::from(self.failure_limit) + u64::from(success) {
                return Err(FieldError::new(
                    name("count"),
                    format!(
                        "{count} is below failure_limit + consecutive_success_limit ({} + \
                         {success}), as Argo refuses",
                        self.failure_limit
                    ),
                )
                .into());
            }
            if count < self.inconclusive_limit {
                return Err(FieldError::new(
                    name("count"),
                    format!(
                        "{count} is below inconclusive_limit ({}), as Argo refuses",
                        self.inconclusive_limit
                    ),
                )
                .into());
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

impl AnalysisStep {
    /// Checks an analysis step: at least one validator, no blank validator name, a valid
    /// policy with a `count` (only background analysis runs until stopped). `field` prefixes
    /// the names in errors (`steps[3]` gives `steps[3].validators[0]`). [`Plan::validate`]
    /// applies it to every `Analysis` step, and strategies to the analyses in their
    /// configuration, so both refuse the same things.
    ///
    /// ```
    /// use shipcore::model::{AnalysisPolicy, AnalysisStep};
    /// use std::time::Duration;
    /// let a = AnalysisStep {
    ///     validators: vec!["error-rate".into(), " ".into()],
    ///     policy: AnalysisPolicy::every(Duration::from_secs(60), 3),
    /// };
    /// assert_eq!(a.validate("analysis").unwrap_err().field(), "analysis.validators[1]");
    /// ```
    pub fn validate(&self, field: &str) -> Result<(), PlanError> {
        self.check().map_err(|e| e.within(field))
    }

    /// [`validate`](Self::validate) with field names relative to the step (prefixed by
    /// the caller only when something is wrong: plans are checked before every rollout).
    fn check(&self) -> Result<(), PlanError> {
        if self.validators.is_empty() {
            return Err(
                FieldError::new("validators", "an analysis needs at least one validator").into(),
            );
        }
        if let Some(i) = self.validators.iter().position(|v| v.trim().is_empty()) {
            return Err(FieldError::new(format!("validators[{i}]"), "must not be empty").into());
        }
        self.policy.validate("policy")?;
        if self.policy.count.is_none() {
            return Err(FieldError::new(
                "policy.count",
                "an analysis step must have a count (only background analysis runs until \
                 stopped)",
            )
            .into());
        }
        Ok(())
    }
}

/// A gate step's gates, `field` naming the list: at least one gate, no blank name. The rule
/// of [`Plan::validate`], which strategies apply to the gates in their configuration.
pub(crate) fn check_gate_names(gates: &[String], field: &str) -> Result<(), PlanError> {
    if gates.is_empty() {
        return Err(FieldError::new(field, "a gate step needs at least one gate").into());
    }
    if let Some(i) = gates.iter().position(|g| g.trim().is_empty()) {
        return Err(FieldError::new(format!("{field}[{i}]"), "must not be empty").into());
    }
    Ok(())
}

/// `replicas` (named `field`) is within 1..=[`MAX_REPLICAS`]: the rule of
/// [`Plan::validate`] for `plan.replicas`, which strategies apply before planning.
pub(crate) fn check_replicas(field: &str, replicas: u32) -> Result<(), PlanError> {
    if replicas == 0 {
        return Err(FieldError::new(field, "must be at least 1").into());
    }
    if replicas > MAX_REPLICAS {
        return Err(FieldError::new(
            field,
            format!("{replicas} is above the maximum of {MAX_REPLICAS}"),
        )
        .into());
    }
    Ok(())
}

/// One step of a plan. Steps speak of roles (stable / candidate), not platform names, so a
/// plan reads the same on every driver.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "step", rename_all = "snake_case", deny_unknown_fields)]
#[non_exhaustive]
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
    /// Send all traffic to the candidate: from here on it serves production. Every plan has
    /// one, with no `SetWeight` below 100 after it ([`Plan::validate`]).
    Promote,
    /// Remove a role's revision after a delay (blue-green scale-down delay).
    Retire {
        /// Which revision.
        role: Role,
        /// How long to wait first.
        #[serde(default, with = "serde_duration")]
        after: Duration,
    },
    /// Apply the pending schema migrations of one phase with a migrator registered with the
    /// engine. An expand step comes before any step that gives the candidate traffic, and
    /// the engine then judges the *stable* revision with the spec's health validators: a
    /// stable broken by the schema change freezes the rollout. A contract step comes after
    /// the promotion, the monitoring window (every analysis after it) and the stable's
    /// retirement ([`Plan::validate`]).
    Migrate {
        /// The migrator's name, as registered with the engine.
        migrator: String,
        /// Which migrations: expand (before traffic) or contract (after promotion).
        phase: MigrationPhase,
    },
}

impl Step {
    /// One line for people: `set weight 10%`, `pause 5m`, `analysis [error-rate] x5 every 1m`.
    pub fn describe(&self) -> String {
        use crate::time::write_duration as d;
        use std::fmt::Write;
        // Written into one string (this names every step of every rollout's event log).
        let mut out = String::with_capacity(48);
        // Writing to a String cannot fail.
        let _ = match self {
            Step::Scale { role, replicas } => write!(out, "scale {role} to {replicas}"),
            Step::SetWeight { percent } => write!(out, "set candidate weight {percent}%"),
            Step::SetFlag { flag, percent } => write!(out, "set flag {flag} to {percent}%"),
            Step::Pause { duration: Some(t) } => {
                out.push_str("pause ");
                d(&mut out, *t);
                Ok(())
            }
            Step::Pause { duration: None } => {
                out.push_str("pause until promoted");
                Ok(())
            }
            Step::Analysis(a) => {
                out.push_str("analysis [");
                join_into(&mut out, &a.validators);
                out.push_str("] ");
                match a.policy.count {
                    Some(c) => {
                        let _ = write!(out, "x{c}");
                    }
                    None => out.push_str("until stopped"),
                }
                out.push_str(" every ");
                d(&mut out, a.policy.interval);
                Ok(())
            }
            Step::Gate { gates } => {
                out.push_str("gate [");
                join_into(&mut out, gates);
                out.push(']');
                Ok(())
            }
            Step::Promote => {
                out.push_str("promote candidate (all traffic)");
                Ok(())
            }
            Step::Retire { role, after } => {
                let _ = write!(out, "retire {role} after ");
                d(&mut out, *after);
                Ok(())
            }
            Step::Migrate { migrator, phase } => write!(out, "migrate {migrator}: {phase}"),
        };
        out
    }
}

/// Appends `items` separated by `", "`.
fn join_into(out: &mut String, items: &[String]) {
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        out.push_str(item);
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

/// Something [`Plan::warnings`] found: the plan runs, but a step will not do what it is
/// meant to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanWarning {
    /// The field, as in errors (`steps[2].validators[0]`).
    pub field: String,
    /// What is wrong and what to do instead.
    pub message: String,
}

impl std::fmt::Display for PlanWarning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

/// Most replicas a plan may ask for (`plan.replicas` and every `Scale` step). A larger
/// number is a typo or an overflow (`u32::MAX`), not a fleet.
pub const MAX_REPLICAS: u32 = 10_000;

/// What the plan's steps have done so far, as [`Plan::validate`] walks them: the candidate's
/// traffic share and replicas, and whether stable was emptied. Traffic before the first route
/// is all on stable, which runs (it serves production) until a step scales or retires it.
#[derive(Debug, Clone, Copy)]
struct Walk {
    /// The candidate's share of traffic.
    candidate_percent: u8,
    /// The candidate's replicas.
    candidate: u32,
    /// The step that last took stable to 0 replicas.
    stable_emptied_at: Option<usize>,
    /// The last `Promote` step.
    promoted_at: Option<usize>,
}

impl Walk {
    fn share(&self, role: Role) -> u8 {
        match role {
            Role::Candidate => self.candidate_percent,
            Role::Stable => 100 - self.candidate_percent.min(100),
        }
    }
}

impl Plan {
    /// Checks every step's values and that the driver can do what the plan asks.
    /// Errors name the step (`steps[3].percent`) and the problem.
    ///
    /// Beyond each value, the plan as a whole must be safe to run and must end in the state
    /// `Succeeded` promises, so these are refused:
    ///
    /// - `replicas` of 0 or above [`MAX_REPLICAS`], and a `Scale` above `replicas`;
    /// - a plan that does not end with the candidate promoted: no `Promote` step, a
    ///   `SetWeight` below 100 after the last `Promote`, or a candidate that ends with fewer
    ///   than `replicas` replicas. A rollout that succeeds has all traffic and all capacity on
    ///   the candidate, never a split;
    /// - on a driver with weighted traffic, giving traffic to a role that has no replicas at
    ///   that step (a `SetWeight` or `Promote` before the candidate is scaled up, a
    ///   `SetWeight` below 100 after stable was scaled to 0), and scaling to 0 or retiring a
    ///   role that still carries traffic: move the traffic first. The one exception is a
    ///   full stop, stable scaled to 0 before the candidate has any replica (so nothing could
    ///   take its traffic), which is what [`Recreate`](crate::strategy::Recreate) does on
    ///   purpose.
    ///
    /// Each step's own values are checked too: percentages within 0..=100, a non-blank flag,
    /// an analysis as [`AnalysisStep::validate`] says, a gate step with at least one gate and
    /// no blank gate name. This is the one check of a plan's steps; strategies check their
    /// configuration and then run it on the plan they built.
    ///
    /// A plan whose rollout has a stable revision must also retire it; that needs the spec,
    /// so [`RolloutSpec::validate`](crate::engine::RolloutSpec::validate) checks it.
    ///
    /// ```
    /// use shipcore::driver::Capabilities;
    /// use shipcore::model::{Plan, Role, Step};
    /// let scale = |role, replicas| Step::Scale { role, replicas };
    /// let plan = |steps| Plan { strategy: "custom".into(), replicas: 4, steps };
    /// // Traffic left split at the end: refused, naming the field.
    /// let split = plan(vec![scale(Role::Candidate, 4), Step::SetWeight { percent: 30 }]);
    /// let e = split.validate(&Capabilities::ALL).unwrap_err();
    /// assert_eq!(e.field(), "steps");
    /// // 90% of traffic to a stable with no replicas: refused at the scale that empties it.
    /// let outage = plan(vec![scale(Role::Candidate, 1), scale(Role::Stable, 0),
    ///     Step::SetWeight { percent: 10 }, scale(Role::Candidate, 4), Step::Promote]);
    /// assert_eq!(outage.validate(&Capabilities::ALL).unwrap_err().field(), "steps[1].replicas");
    /// // Traffic moved first, then capacity: accepted.
    /// let ok = plan(vec![scale(Role::Candidate, 4), Step::SetWeight { percent: 100 },
    ///     scale(Role::Stable, 0), Step::Promote]);
    /// assert!(ok.validate(&Capabilities::ALL).is_ok());
    /// ```
    pub fn validate(&self, caps: &Capabilities) -> Result<(), PlanError> {
        check_replicas("replicas", self.replicas)?;
        if self.steps.is_empty() {
            return Err(FieldError::new("steps", "a plan needs at least one step").into());
        }
        let mut walk = Walk {
            candidate_percent: 0,
            candidate: 0,
            stable_emptied_at: None,
            promoted_at: None,
        };
        for (i, step) in self.steps.iter().enumerate() {
            self.check_step(i, step, caps)?;
            self.check_traffic(i, step, caps, &mut walk)?;
        }
        let Some(promoted_at) = walk.promoted_at else {
            return Err(FieldError::new(
                "steps",
                "a plan must end with the candidate promoted (a Promote step); without one a \
                 rollout would finish with traffic split or nothing deployed",
            )
            .into());
        };
        if caps.weighted_traffic && walk.candidate_percent < 100 {
            return Err(FieldError::new(
                "steps",
                format!(
                    "the plan ends with {}% of traffic on the candidate (set after the Promote \
                     at steps[{promoted_at}]); a plan must end with all traffic on it",
                    walk.candidate_percent
                ),
            )
            .into());
        }
        if walk.candidate != self.replicas {
            return Err(FieldError::new(
                "steps",
                format!(
                    "the candidate ends with {} replicas; a plan must end with it at replicas \
                     ({}): add a Scale candidate step to {} before the Promote",
                    walk.candidate, self.replicas, self.replicas
                ),
            )
            .into());
        }
        Ok(())
    }

    /// The checks of one step's own values.
    fn check_step(&self, i: usize, step: &Step, caps: &Capabilities) -> Result<(), PlanError> {
        let field = |name: &str| format!("steps[{i}].{name}");
        match step {
            Step::Scale { replicas, .. } if *replicas > self.replicas => {
                return Err(FieldError::new(
                    field("replicas"),
                    format!(
                        "{replicas} is above the plan's replicas ({})",
                        self.replicas
                    ),
                )
                .into());
            }
            Step::SetWeight { percent } => {
                if *percent > 100 {
                    return Err(FieldError::new(
                        field("percent"),
                        format!("{percent} is not within 0..=100"),
                    )
                    .into());
                }
                if !caps.weighted_traffic {
                    return Err(PlanError::unsupported(field("percent"), "weighted_traffic"));
                }
            }
            Step::SetFlag { flag, percent } => {
                if *percent > 100 {
                    return Err(FieldError::new(
                        field("percent"),
                        format!("{percent} is not within 0..=100"),
                    )
                    .into());
                }
                if flag.trim().is_empty() {
                    return Err(FieldError::new(field("flag"), "must not be empty").into());
                }
                if !caps.feature_flags {
                    return Err(PlanError::unsupported(field("flag"), "feature_flags"));
                }
            }
            Step::Analysis(a) => a.check().map_err(|e| e.within(&format!("steps[{i}]")))?,
            Step::Gate { gates } => {
                check_gate_names(gates, "gates").map_err(|e| e.within(&format!("steps[{i}]")))?
            }
            Step::Migrate { migrator, phase } => {
                if migrator.trim().is_empty() {
                    return Err(FieldError::new(field("migrator"), "must not be empty").into());
                }
                self.check_migration_place(i, *phase)?;
            }
            _ => {}
        }
        Ok(())
    }

    /// Where a migration step may stand: expand before the candidate takes any traffic,
    /// contract after the promotion, every analysis after it (the monitoring window) and
    /// the stable's retirement, when no revision that needs the old schema is left.
    fn check_migration_place(&self, i: usize, phase: MigrationPhase) -> Result<(), PlanError> {
        let field = format!("steps[{i}].phase");
        let before = &self.steps[..i];
        match phase {
            MigrationPhase::Expand => {
                let traffic = before.iter().position(|s| match s {
                    Step::SetWeight { percent } | Step::SetFlag { percent, .. } => *percent > 0,
                    Step::Promote => true,
                    _ => false,
                });
                if let Some(j) = traffic {
                    return Err(FieldError::new(
                        field,
                        format!(
                            "an expand migration runs before the candidate takes traffic, but \
                             steps[{j}] ({}) gives it traffic first; move the migration before it",
                            self.steps[j].describe()
                        ),
                    )
                    .into());
                }
            }
            MigrationPhase::Contract => {
                if !before.iter().any(|s| matches!(s, Step::Promote)) {
                    return Err(FieldError::new(
                        field,
                        "a contract migration runs only after the promotion (a Promote step \
                         before it): until then the stable revision still needs the old schema",
                    )
                    .into());
                }
                let waits_for = self.steps.iter().enumerate().skip(i + 1).find(|(_, s)| {
                    matches!(
                        s,
                        Step::Analysis(_)
                            | Step::Retire {
                                role: Role::Stable,
                                ..
                            }
                    )
                });
                if let Some((j, s)) = waits_for {
                    return Err(FieldError::new(
                        field,
                        format!(
                            "a contract migration runs after the monitoring window and the \
                             stable's retirement, but steps[{j}] ({}) comes after it; move the \
                             migration after it",
                            s.describe()
                        ),
                    )
                    .into());
                }
            }
        }
        Ok(())
    }

    /// Follows traffic and capacity through step `i`: refuses traffic to a role without
    /// replicas, and taking away the replicas of a role that carries traffic.
    fn check_traffic(
        &self,
        i: usize,
        step: &Step,
        caps: &Capabilities,
        walk: &mut Walk,
    ) -> Result<(), PlanError> {
        let routed = caps.weighted_traffic;
        match step {
            Step::Scale { role, replicas } => {
                // Stable may go to 0 under traffic only when nothing else runs (Recreate).
                let full_stop = *role == Role::Stable && walk.candidate == 0;
                if routed && *replicas == 0 && walk.share(*role) > 0 && !full_stop {
                    return Err(FieldError::new(
                        format!("steps[{i}].replicas"),
                        format!(
                            "scales {role} to 0 while it carries {}% of traffic; move the \
                             traffic away first (a SetWeight step)",
                            walk.share(*role)
                        ),
                    )
                    .into());
                }
                match role {
                    Role::Candidate => walk.candidate = *replicas,
                    Role::Stable => {
                        walk.stable_emptied_at = (*replicas == 0).then_some(i);
                    }
                }
            }
            Step::Retire { role, .. } => {
                if routed && walk.share(*role) > 0 {
                    return Err(FieldError::new(
                        format!("steps[{i}].role"),
                        format!(
                            "retires {role} while it carries {}% of traffic; move the traffic \
                             away first",
                            walk.share(*role)
                        ),
                    )
                    .into());
                }
                match role {
                    Role::Candidate => walk.candidate = 0,
                    Role::Stable => {
                        walk.stable_emptied_at = Some(i);
                    }
                }
            }
            Step::SetWeight { percent } => {
                let percent = (*percent).min(100);
                if percent > 0 && walk.candidate == 0 {
                    return Err(FieldError::new(
                        format!("steps[{i}].percent"),
                        format!(
                            "sends {percent}% of traffic to the candidate, which has no \
                             replicas at this step; scale it up first"
                        ),
                    )
                    .into());
                }
                if let (true, Some(at)) = (percent < 100, walk.stable_emptied_at) {
                    return Err(FieldError::new(
                        format!("steps[{i}].percent"),
                        format!(
                            "sends {}% of traffic to stable, which has no replicas after \
                             steps[{at}]",
                            100 - percent
                        ),
                    )
                    .into());
                }
                walk.candidate_percent = percent;
            }
            Step::Promote => {
                if walk.candidate == 0 {
                    return Err(FieldError::new(
                        format!("steps[{i}]"),
                        "promotes a candidate that has no replicas at this step; scale it up \
                         first",
                    )
                    .into());
                }
                walk.candidate_percent = 100;
                walk.promoted_at = Some(i);
            }
            _ => {}
        }
        Ok(())
    }

    /// Problems that do not make the plan invalid but make a step useless: an analysis that
    /// runs while the candidate has no traffic (a blue-green preview before `Promote`, on a
    /// driver with weighted traffic), judged by a validator that measures traffic
    /// (`measures_traffic(name)`, e.g. [`Validator::measures_traffic`]: request rate, error
    /// rate, latency). The preview serves nothing, so such a validator finds no data and the
    /// analysis always ends inconclusive. Judge a preview with a smoke test or a health check,
    /// or measure after traffic moves.
    ///
    /// The runner logs these with `tracing::warn!` when a rollout starts, and
    /// [`Runner::warnings`](crate::engine::Runner::warnings) returns them for a dry run.
    ///
    /// [`Validator::measures_traffic`]: crate::validator::Validator::measures_traffic
    ///
    /// ```
    /// use shipcore::driver::Capabilities;
    /// use shipcore::model::{AnalysisPolicy, AnalysisStep, Plan, Role, Step};
    /// use std::time::Duration;
    /// let analysis = |v: &str| Step::Analysis(AnalysisStep {
    ///     validators: vec![v.into()],
    ///     policy: AnalysisPolicy::every(Duration::from_secs(60), 3),
    /// });
    /// let plan = Plan { strategy: "blue_green".into(), replicas: 2, steps: vec![
    ///     Step::SetWeight { percent: 0 },
    ///     Step::Scale { role: Role::Candidate, replicas: 2 },
    ///     analysis("error-rate"),
    ///     analysis("smoke"),
    ///     Step::Promote,
    ///     analysis("error-rate"),
    /// ]};
    /// let warnings = plan.warnings(&Capabilities::ALL, |name| name == "error-rate");
    /// assert_eq!(warnings.len(), 1);
    /// assert_eq!(warnings[0].field, "steps[2].validators[0]");
    /// assert!(warnings[0].message.contains("always ends inconclusive"));
    /// ```
    pub fn warnings(
        &self,
        caps: &Capabilities,
        measures_traffic: impl Fn(&str) -> bool,
    ) -> Vec<PlanWarning> {
        if !caps.weighted_traffic {
            // Without a router, traffic follows replicas: a running candidate serves.
            return Vec::new();
        }
        let mut percent = 0u8;
        let mut out = Vec::new();
        for (i, step) in self.steps.iter().enumerate() {
            match step {
                Step::SetWeight { percent: p } => percent = *p,
                Step::Promote => percent = 100,
                Step::Analysis(a) if percent == 0 => {
                    for (j, name) in a.validators.iter().enumerate() {
                        if measures_traffic(name) {
                            out.push(PlanWarning {
                                field: format!("steps[{i}].validators[{j}]"),
                                message: format!(
                                    "{name} measures traffic, but the candidate has 0% of \
                                     traffic at this step (a preview before Promote), so it \
                                     finds no data and the analysis always ends inconclusive; \
                                     judge the preview with a smoke test or health check, or \
                                     analyse after a SetWeight"
                                ),
                            });
                        }
                    }
                }
                _ => {}
            }
        }
        out
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
