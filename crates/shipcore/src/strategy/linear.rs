//! Linear: shift a fixed percent of traffic to the candidate every interval until it has
//! all of it, as AWS CodeDeploy's `Linear10PercentEvery1Minutes`.

use super::canary::resolve_traffic;
use super::codedeploy::{parse_codedeploy_name, CodeDeployName, FIELD};
use super::support::{check_distinct, check_opt_analysis, check_replicas};
use super::{Canary, CanaryStep, PauseSpec, PlanContext, PlanError, Strategy, TrafficMode};
use crate::model::FieldError;
use crate::model::{AnalysisStep, Plan};
use crate::time::serde_duration;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// `percent` more traffic every `interval`: weights `p, 2p, …` below 100, each followed by
/// a wait of `interval` and then the optional `analysis`; then the candidate gets 100%.
///
/// It plans as a [`Canary`] with those steps, so the same traffic modes apply (router
/// weights, or a replica ratio on drivers without them) and the same end: promote, retire
/// stable after `scale_down_delay`. Refusals name `traffic` (weights demanded but not
/// available) or `percent` (the driver cannot run two revisions side by side).
///
/// ```
/// use shipcore::driver::Capabilities;
/// use shipcore::model::{Revision, Role, Step, Target};
/// use shipcore::strategy::{Linear, PlanContext, Strategy};
/// use std::time::Duration;
/// let ctx = PlanContext {
///     target: Target::new("web", "production"),
///     stable: Some(Revision::new("web-v1", "1.0.0".parse().unwrap(), "web:1")),
///     candidate: Revision::new("web-v2", "2.0.0".parse().unwrap(), "web:2"),
///     replicas: 2,
///     capabilities: Capabilities::ALL,
/// };
/// let linear = Linear::new(40, Duration::from_secs(60));
/// let plan = linear.plan(&ctx).unwrap();
/// let minute = Step::Pause { duration: Some(Duration::from_secs(60)) };
/// assert_eq!(plan.steps, vec![
///     Step::Scale { role: Role::Candidate, replicas: 1 },
///     Step::SetWeight { percent: 40 },
///     minute.clone(),
///     Step::Scale { role: Role::Candidate, replicas: 2 },
///     Step::SetWeight { percent: 80 },
///     minute,
///     Step::Promote,
///     Step::Retire { role: Role::Stable, after: Duration::from_secs(30) },
/// ]);
/// assert!(plan.validate(&ctx.capabilities).is_ok());
/// assert_eq!(Linear::from_codedeploy_name("Linear10PercentEvery1Minutes").unwrap(),
///            Linear::new(10, Duration::from_secs(60)));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Linear {
    /// Percent of traffic added at each increment (1..=100).
    pub percent: u32,
    /// Time between increments.
    #[serde(with = "serde_duration")]
    pub interval: Duration,
    /// Analysis at the end of each increment's wait.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub analysis: Option<AnalysisStep>,
    /// Router weights, replica ratio, or whichever the driver offers (default).
    #[serde(default)]
    pub traffic: TrafficMode,
    /// How long stable stays after the promotion (default 30s).
    #[serde(default = "default_scale_down_delay", with = "serde_duration")]
    pub scale_down_delay: Duration,
}

fn default_scale_down_delay() -> Duration {
    Duration::from_secs(30)
}

impl Linear {
    /// `percent` every `interval`, other settings at their defaults.
    pub fn new(percent: u32, interval: Duration) -> Self {
        Linear {
            percent,
            interval,
            analysis: None,
            traffic: TrafficMode::Auto,
            scale_down_delay: default_scale_down_delay(),
        }
    }

    /// A CodeDeploy linear configuration by name: `Linear10PercentEvery1Minutes`, also
    /// with a `CodeDeployDefault.` and an `ECS`/`Lambda` prefix. Other names (canary,
    /// all-at-once, unknown) are refused with the reason; see
    /// [`from_codedeploy_name`](super::from_codedeploy_name) for all of them.
    pub fn from_codedeploy_name(name: &str) -> Result<Linear, PlanError> {
        match parse_codedeploy_name(name)? {
            CodeDeployName::Linear { percent, interval } => Ok(Linear::new(percent, interval)),
            other => Err(FieldError::new(
                FIELD,
                format!(
                    "{name:?} is {} configuration, not a linear one (Linear<N>PercentEvery<M>Minutes)",
                    other.kind()
                ),
            ).into()),
        }
    }

    /// The canary this linear rollout is, after checking its own fields.
    pub fn to_canary(&self) -> Result<Canary, PlanError> {
        let percent = match u8::try_from(self.percent) {
            Ok(p) if (1..=100).contains(&p) => p,
            _ => {
                return Err(FieldError::new(
                    "percent",
                    format!("{} is not within 1..=100", self.percent),
                )
                .into())
            }
        };
        if self.interval.is_zero() {
            return Err(FieldError::new("interval", "must be greater than zero").into());
        }
        check_opt_analysis(&self.analysis, "analysis")?;
        let mut steps = Vec::new();
        let mut weight = percent;
        while weight < 100 {
            steps.push(CanaryStep::SetWeight(u32::from(weight)));
            steps.push(CanaryStep::Pause(PauseSpec(Some(self.interval))));
            if let Some(a) = &self.analysis {
                steps.push(CanaryStep::Analysis(a.clone()));
            }
            weight = weight.saturating_add(percent);
        }
        Ok(Canary {
            steps,
            traffic: self.traffic,
            scale_down_delay: self.scale_down_delay,
        })
    }
}

impl Strategy for Linear {
    fn name(&self) -> &'static str {
        "linear"
    }

    fn plan(&self, ctx: &PlanContext) -> Result<Plan, PlanError> {
        check_replicas(ctx)?;
        check_distinct(ctx)?;
        let canary = self.to_canary()?;
        if ctx.stable.is_some() {
            resolve_traffic(self.traffic, &ctx.capabilities, "percent")?;
        }
        let mut plan = canary.plan(ctx)?;
        plan.strategy = self.name().to_string();
        Ok(plan)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::driver::Capabilities;
    use crate::model::{Role, Step};
    use crate::strategy::support::test_ctx;

    #[test]
    fn thirty_percent_steps_then_the_rest() {
        let mut linear = Linear::new(30, Duration::from_secs(120));
        linear.analysis = Some(AnalysisStep {
            validators: vec!["errors".into()],
            policy: Default::default(),
        });
        let ctx = test_ctx(10, Capabilities::ALL, true);
        let plan = linear.plan(&ctx).unwrap();
        assert_eq!(plan.strategy, "linear");
        let weights: Vec<u8> = plan
            .steps
            .iter()
            .filter_map(|s| match s {
                Step::SetWeight { percent } => Some(*percent),
                _ => None,
            })
            .collect();
        assert_eq!(weights, vec![30, 60, 90]);
        // Each increment: scale, weight, wait, analysis.
        assert!(
            matches!(plan.steps[2], Step::Pause { duration: Some(d) } if d == Duration::from_secs(120))
        );
        assert!(matches!(plan.steps[3], Step::Analysis(_)));
        assert_eq!(plan.steps[plan.steps.len() - 2], Step::Promote);
        assert!(plan.steps.contains(&Step::Scale {
            role: Role::Candidate,
            replicas: 10
        }));
        assert!(plan.validate(&ctx.capabilities).is_ok());
    }

    #[test]
    fn bad_values_and_missing_capabilities_name_linear_fields() {
        let ctx = test_ctx(4, Capabilities::ALL, true);
        for p in [0, 101] {
            let e = Linear::new(p, Duration::from_secs(60))
                .plan(&ctx)
                .unwrap_err();
            assert_eq!(e.field(), "percent");
        }
        let e = Linear::new(10, Duration::ZERO).plan(&ctx).unwrap_err();
        assert_eq!(e.field(), "interval");
        let no_side = Capabilities {
            weighted_traffic: true,
            ..Default::default()
        };
        let e = Linear::new(10, Duration::from_secs(60)).plan(&test_ctx(4, no_side, true));
        assert_eq!(
            e.unwrap_err(),
            PlanError::unsupported("percent", "side_by_side")
        );
        let mut weighted = Linear::new(10, Duration::from_secs(60));
        weighted.traffic = TrafficMode::Weighted;
        let side_only = Capabilities {
            side_by_side: true,
            ..Default::default()
        };
        let e = weighted.plan(&test_ctx(4, side_only, true)).unwrap_err();
        assert_eq!(e, PlanError::unsupported("traffic", "weighted_traffic"));
    }

    #[test]
    fn hundred_percent_is_all_at_once() {
        let plan = Linear::new(100, Duration::from_secs(60))
            .plan(&test_ctx(2, Capabilities::ALL, true))
            .unwrap();
        assert_eq!(
            plan.steps,
            vec![
                Step::Scale {
                    role: Role::Candidate,
                    replicas: 2
                },
                Step::Promote,
                Step::Retire {
                    role: Role::Stable,
                    after: Duration::from_secs(30)
                },
            ]
        );
    }
}
