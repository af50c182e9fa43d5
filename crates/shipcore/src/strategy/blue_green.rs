//! Blue-green: bring the candidate up beside the stable revision with no production
//! traffic, check it, switch all traffic at once, and retire the old revision after a delay.

use super::support::{check_distinct, check_opt_analysis, check_replicas, finish};
use super::{PlanContext, PlanError, Strategy};
use crate::model::FieldError;
use crate::model::{AnalysisStep, Plan, Role, Step};
use crate::time::{serde_duration, serde_opt_duration};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Blue-green deployment, after Argo Rollouts' `blueGreen` strategy.
///
/// Steps with a stable revision: route 0% to the candidate, scale the candidate to
/// `preview_replicas`, run `pre_promotion_analysis`, wait (`auto_promotion_after`, or until
/// an operator promotes when it is absent), scale the candidate to `replicas`, promote (all
/// traffic at once), run `post_promotion_analysis`, retire stable after `scale_down_delay`.
///
/// Capabilities: both revisions run at once (`side_by_side`), and the candidate must get no
/// production traffic while previewed and all of it at the switch. The engine moves traffic
/// only by weight (a promote routes 100% to the candidate; without weighted traffic it is a
/// no-op and traffic follows replicas), so the switch needs `weighted_traffic`; the
/// `preview` capability alone would leave the preview serving production by replica share.
/// Missing either is refused naming `preview_replicas`.
///
/// A first deploy (no stable) has nothing to protect: the candidate is scaled to
/// `replicas`, analysed, promoted and analysed again, with no wait and no capability needs.
///
/// ```
/// use shipcore::driver::Capabilities;
/// use shipcore::model::{Revision, Role, Step, Target};
/// use shipcore::strategy::{BlueGreen, PlanContext, Strategy};
/// use std::time::Duration;
/// let ctx = PlanContext {
///     target: Target::new("web", "production"),
///     stable: Some(Revision::new("web-v1", "1.0.0".parse().unwrap(), "web:1")),
///     candidate: Revision::new("web-v2", "2.0.0".parse().unwrap(), "web:2"),
///     replicas: 4,
///     capabilities: Capabilities::ALL,
/// };
/// let bg = BlueGreen { preview_replicas: Some(1), ..Default::default() };
/// let plan = bg.plan(&ctx).unwrap();
/// assert_eq!(plan.steps, vec![
///     Step::SetWeight { percent: 0 },
///     Step::Scale { role: Role::Candidate, replicas: 1 },
///     Step::Pause { duration: None },
///     Step::Scale { role: Role::Candidate, replicas: 4 },
///     Step::Promote,
///     Step::Retire { role: Role::Stable, after: Duration::from_secs(30) },
/// ]);
/// assert!(plan.validate(&ctx.capabilities).is_ok());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlueGreen {
    /// Candidate replicas while it is previewed (default: `replicas`); 1..=`replicas`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preview_replicas: Option<u32>,
    /// Promote automatically after this long; absent = wait for an operator.
    #[serde(
        default,
        with = "serde_opt_duration",
        skip_serializing_if = "Option::is_none"
    )]
    pub auto_promotion_after: Option<Duration>,
    /// Analysis of the previewed candidate before the switch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pre_promotion_analysis: Option<AnalysisStep>,
    /// Analysis after the switch, before the old revision goes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub post_promotion_analysis: Option<AnalysisStep>,
    /// How long the old revision stays after the switch (default 30s, as Argo).
    #[serde(default = "default_scale_down_delay", with = "serde_duration")]
    pub scale_down_delay: Duration,
}

fn default_scale_down_delay() -> Duration {
    Duration::from_secs(30)
}

impl Default for BlueGreen {
    fn default() -> Self {
        BlueGreen {
            preview_replicas: None,
            auto_promotion_after: None,
            pre_promotion_analysis: None,
            post_promotion_analysis: None,
            scale_down_delay: default_scale_down_delay(),
        }
    }
}

impl BlueGreen {
    fn preview(&self, ctx: &PlanContext) -> Result<u32, PlanError> {
        let preview = self.preview_replicas.unwrap_or(ctx.replicas);
        if preview == 0 || preview > ctx.replicas {
            return Err(FieldError::new(
                "preview_replicas",
                format!("{preview} is not within 1..={} (replicas)", ctx.replicas),
            )
            .into());
        }
        Ok(preview)
    }
}

impl Strategy for BlueGreen {
    fn name(&self) -> &'static str {
        "blue_green"
    }

    fn plan(&self, ctx: &PlanContext) -> Result<Plan, PlanError> {
        check_replicas(ctx)?;
        check_distinct(ctx)?;
        let preview = self.preview(ctx)?;
        check_opt_analysis(&self.pre_promotion_analysis, "pre_promotion_analysis")?;
        check_opt_analysis(&self.post_promotion_analysis, "post_promotion_analysis")?;
        let full = Step::Scale {
            role: Role::Candidate,
            replicas: ctx.replicas,
        };
        let mut steps = Vec::new();
        if ctx.stable.is_none() {
            steps.push(full);
            steps.extend(self.pre_promotion_analysis.clone().map(Step::Analysis));
            steps.push(Step::Promote);
            steps.extend(self.post_promotion_analysis.clone().map(Step::Analysis));
            return finish(self.name(), ctx, steps, "steps");
        }
        if !ctx.capabilities.side_by_side {
            return Err(PlanError::unsupported("preview_replicas", "side_by_side"));
        }
        if !ctx.capabilities.weighted_traffic {
            return Err(PlanError::unsupported(
                "preview_replicas",
                "weighted_traffic",
            ));
        }
        steps.push(Step::SetWeight { percent: 0 });
        steps.push(Step::Scale {
            role: Role::Candidate,
            replicas: preview,
        });
        steps.extend(self.pre_promotion_analysis.clone().map(Step::Analysis));
        match self.auto_promotion_after {
            Some(d) if d.is_zero() => {}
            duration => steps.push(Step::Pause { duration }),
        }
        if preview < ctx.replicas {
            steps.push(full);
        }
        steps.push(Step::Promote);
        // The post-promotion analysis runs before the old revision is retired.
        steps.extend(self.post_promotion_analysis.clone().map(Step::Analysis));
        steps.push(Step::Retire {
            role: Role::Stable,
            after: self.scale_down_delay,
        });
        finish(self.name(), ctx, steps, "steps")
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::driver::Capabilities;
    use crate::strategy::support::test_ctx;

    fn analysis(name: &str) -> AnalysisStep {
        AnalysisStep {
            validators: vec![name.into()],
            policy: Default::default(),
        }
    }

    #[test]
    fn full_plan_in_argo_order() {
        let bg = BlueGreen {
            preview_replicas: Some(2),
            auto_promotion_after: Some(Duration::from_secs(600)),
            pre_promotion_analysis: Some(analysis("smoke")),
            post_promotion_analysis: Some(analysis("errors")),
            scale_down_delay: Duration::from_secs(120),
        };
        let ctx = test_ctx(5, Capabilities::ALL, true);
        let plan = bg.plan(&ctx).unwrap();
        assert_eq!(
            plan.steps,
            vec![
                Step::SetWeight { percent: 0 },
                Step::Scale {
                    role: Role::Candidate,
                    replicas: 2
                },
                Step::Analysis(analysis("smoke")),
                Step::Pause {
                    duration: Some(Duration::from_secs(600))
                },
                Step::Scale {
                    role: Role::Candidate,
                    replicas: 5
                },
                Step::Promote,
                Step::Analysis(analysis("errors")),
                Step::Retire {
                    role: Role::Stable,
                    after: Duration::from_secs(120)
                },
            ]
        );
        assert!(plan.validate(&ctx.capabilities).is_ok());
    }

    #[test]
    fn immediate_auto_promotion_has_no_pause_and_full_preview_no_second_scale() {
        let bg = BlueGreen {
            auto_promotion_after: Some(Duration::ZERO),
            ..Default::default()
        };
        let plan = bg.plan(&test_ctx(3, Capabilities::ALL, true)).unwrap();
        assert_eq!(
            plan.steps,
            vec![
                Step::SetWeight { percent: 0 },
                Step::Scale {
                    role: Role::Candidate,
                    replicas: 3
                },
                Step::Promote,
                Step::Retire {
                    role: Role::Stable,
                    after: Duration::from_secs(30)
                },
            ]
        );
    }

    #[test]
    fn switch_needs_weights_and_side_by_side() {
        let bg = BlueGreen::default();
        let no_weights = Capabilities {
            side_by_side: true,
            preview: true,
            ..Default::default()
        };
        let e = bg.plan(&test_ctx(3, no_weights, true)).unwrap_err();
        assert_eq!(
            e,
            PlanError::unsupported("preview_replicas", "weighted_traffic")
        );
        let no_side = Capabilities {
            weighted_traffic: true,
            ..Default::default()
        };
        let e = bg.plan(&test_ctx(3, no_side, true)).unwrap_err();
        assert_eq!(
            e,
            PlanError::unsupported("preview_replicas", "side_by_side")
        );
        // A first deploy has nothing to switch from.
        let plan = bg
            .plan(&test_ctx(3, Capabilities::default(), false))
            .unwrap();
        assert_eq!(
            plan.steps,
            vec![
                Step::Scale {
                    role: Role::Candidate,
                    replicas: 3
                },
                Step::Promote
            ]
        );
        assert!(plan.validate(&Capabilities::default()).is_ok());
    }

    #[test]
    fn bad_values_name_the_field() {
        let ctx = test_ctx(3, Capabilities::ALL, true);
        for preview in [0, 4] {
            let bg = BlueGreen {
                preview_replicas: Some(preview),
                ..Default::default()
            };
            let e = bg.plan(&ctx).unwrap_err();
            assert_eq!(e.field(), "preview_replicas", "{preview}");
        }
        let bg = BlueGreen {
            post_promotion_analysis: Some(AnalysisStep {
                validators: vec![],
                policy: Default::default(),
            }),
            ..Default::default()
        };
        assert_eq!(
            bg.plan(&ctx).unwrap_err().field(),
            "post_promotion_analysis.validators"
        );
        assert_eq!(
            BlueGreen::default()
                .plan(&test_ctx(0, Capabilities::ALL, true))
                .unwrap_err()
                .field(),
            "replicas"
        );
    }
}
