//! Rolling update: replace stable replicas with candidate ones in batches bounded by a
//! maximum surge and a maximum unavailability, as Kubernetes' `RollingUpdate` does.

use super::support::{
    check_distinct, check_opt_analysis, check_replicas, finish, promote_and_retire, ratio_percent,
    MAX_PLAN_STEPS,
};
use super::{IntOrPercent, PlanContext, PlanError, Strategy};
use crate::model::FieldError;
use crate::model::{AnalysisStep, Plan, Role, Step};
use crate::time::serde_opt_duration;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// The field both-zero errors name.
const SURGE_AND_UNAVAILABLE: &str = "max_surge, max_unavailable";

/// Rolling update in batches of [`Step::Scale`].
///
/// With `max_surge` = *s* and `max_unavailable` = *u* resolved for `replicas` = *R*
/// (percentages: surge rounds up, unavailable rounds down), each batch scales the candidate
/// up as far as *R + s* total allows, then the stable revision down as far as *R − u* ready
/// allows. Assuming each scale completes before the next starts and that stable runs *R*
/// replicas at the start, ready replicas never drop below *R − u* and desired replicas
/// never exceed *R + s*. Between batches (after a batch that added candidate replicas)
/// come the optional `analysis` and `pause`.
///
/// Capabilities: traffic follows replicas, so weighted traffic is not needed; where the
/// driver has it, each batch also sets the candidate's weight to its share of the replicas
/// (before stable capacity is removed). Running two revisions at once needs
/// `side_by_side`. Without it the only correct batch plan is all-down-then-up, which is
/// planned when `max_unavailable` ≥ `replicas`; otherwise the plan is refused (field
/// `max_unavailable`). A driver's `native_rolling` cannot be used instead, because plans
/// only speak in scale steps. A first deploy (no stable) scales the candidate straight up.
///
/// ```
/// use shipcore::driver::Capabilities;
/// use shipcore::model::{Revision, Role, Step, Target};
/// use shipcore::strategy::{IntOrPercent, PlanContext, Rolling, Strategy};
/// let ctx = PlanContext {
///     target: Target::new("web", "production"),
///     stable: Some(Revision::new("web-v1", "1.0.0".parse().unwrap(), "web:1")),
///     candidate: Revision::new("web-v2", "2.0.0".parse().unwrap(), "web:2"),
///     replicas: 3,
///     capabilities: Capabilities { side_by_side: true, ..Default::default() },
/// };
/// let rolling = Rolling {
///     max_surge: IntOrPercent::Count(1),
///     max_unavailable: IntOrPercent::Count(0),
///     ..Default::default()
/// };
/// let plan = rolling.plan(&ctx).unwrap();
/// let scale = |role, replicas| Step::Scale { role, replicas };
/// assert_eq!(plan.steps, vec![
///     scale(Role::Candidate, 1), scale(Role::Stable, 2),
///     scale(Role::Candidate, 2), scale(Role::Stable, 1),
///     scale(Role::Candidate, 3), scale(Role::Stable, 0),
///     Step::Promote,
///     Step::Retire { role: Role::Stable, after: Default::default() },
/// ]);
/// assert!(plan.validate(&ctx.capabilities).is_ok());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rolling {
    /// Replicas above `replicas` allowed during the update (default `"25%"`, rounds up).
    #[serde(default = "quarter")]
    pub max_surge: IntOrPercent,
    /// Replicas below `replicas` allowed during the update (default `"25%"`, rounds down).
    #[serde(default = "quarter")]
    pub max_unavailable: IntOrPercent,
    /// Analysis of the candidate between batches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub analysis: Option<AnalysisStep>,
    /// Wait between batches.
    #[serde(
        default,
        with = "serde_opt_duration",
        skip_serializing_if = "Option::is_none"
    )]
    pub pause: Option<Duration>,
}

fn quarter() -> IntOrPercent {
    IntOrPercent::Percent(25)
}

impl Default for Rolling {
    fn default() -> Self {
        Rolling {
            max_surge: quarter(),
            max_unavailable: quarter(),
            analysis: None,
            pause: None,
        }
    }
}

impl Rolling {
    /// The replacement steps (scale, weights, analysis, pauses), without the final promote
    /// and retire, for strategies that deploy code this way before doing something else.
    pub(crate) fn batches(&self, ctx: &PlanContext) -> Result<Vec<Step>, PlanError> {
        check_replicas(ctx)?;
        check_opt_analysis(&self.analysis, "analysis")?;
        let r = ctx.replicas;
        let surge = self.max_surge.resolve_up(r);
        let unavailable = self.max_unavailable.resolve_down(r);
        if surge == 0 && unavailable == 0 {
            return Err(FieldError::new(
                SURGE_AND_UNAVAILABLE,
                format!(
                    "max_surge ({}) and max_unavailable ({}) both resolve to 0 for {r} replicas, \
                     so no replica could ever be replaced; make at least one of them positive",
                    self.max_surge, self.max_unavailable
                ),
            )
            .into());
        }
        let candidate_up = Step::Scale {
            role: Role::Candidate,
            replicas: r,
        };
        if ctx.stable.is_none() {
            return Ok(vec![candidate_up]);
        }
        if !ctx.capabilities.side_by_side {
            if unavailable >= r {
                let stable_down = Step::Scale {
                    role: Role::Stable,
                    replicas: 0,
                };
                return Ok(vec![stable_down, candidate_up]);
            }
            return Err(PlanError::unsupported("max_unavailable", "side_by_side"));
        }
        self.side_by_side_batches(ctx, surge, unavailable)
    }

    fn side_by_side_batches(
        &self,
        ctx: &PlanContext,
        surge: u32,
        unavailable: u32,
    ) -> Result<Vec<Step>, PlanError> {
        let r = ctx.replicas;
        let weighted = ctx.capabilities.weighted_traffic;
        let (mut cand, mut stable) = (0u32, r);
        let mut weight = 0u8;
        let mut steps = Vec::new();
        while cand < r || stable > 0 {
            if steps.len() > MAX_PLAN_STEPS {
                return Err(FieldError::new(
                    SURGE_AND_UNAVAILABLE,
                    format!(
                        "replacing {r} replicas {surge} up / {unavailable} down at a time needs \
                         more than {MAX_PLAN_STEPS} steps; raise max_surge or max_unavailable"
                    ),
                )
                .into());
            }
            let before = (cand, stable);
            // In u64: replicas + surge may not fit in a u32.
            let room = (u64::from(r) + u64::from(surge)).saturating_sub(u64::from(stable));
            let next_cand = u32::try_from(room.min(u64::from(r))).unwrap_or(r);
            if next_cand > cand {
                cand = next_cand;
                steps.push(Step::Scale {
                    role: Role::Candidate,
                    replicas: cand,
                });
            }
            let next_stable = stable.min(r.saturating_sub(unavailable).saturating_sub(cand));
            // Traffic moves to the candidate once it has replicas, before stable shrinks.
            if weighted && cand > 0 {
                let w = ratio_percent(cand, cand.saturating_add(next_stable));
                if w != weight {
                    weight = w;
                    steps.push(Step::SetWeight { percent: w });
                }
            }
            if next_stable < stable {
                stable = next_stable;
                steps.push(Step::Scale {
                    role: Role::Stable,
                    replicas: stable,
                });
            }
            if (cand, stable) == before {
                // Cannot happen while surge + unavailable > 0; refuse rather than loop.
                return Err(FieldError::new(
                    SURGE_AND_UNAVAILABLE,
                    "no batch can make progress with these values",
                )
                .into());
            }
            let more = cand < r || stable > 0;
            if more && cand > before.0 {
                if let Some(a) = &self.analysis {
                    steps.push(Step::Analysis(a.clone()));
                }
                if let Some(d) = self.pause.filter(|d| !d.is_zero()) {
                    steps.push(Step::Pause { duration: Some(d) });
                }
            }
        }
        Ok(steps)
    }
}

impl Strategy for Rolling {
    fn name(&self) -> &'static str {
        "rolling"
    }

    fn plan(&self, ctx: &PlanContext) -> Result<Plan, PlanError> {
        check_replicas(ctx)?;
        check_distinct(ctx)?;
        let mut steps = self.batches(ctx)?;
        promote_and_retire(ctx, &mut steps, Duration::ZERO);
        finish(self.name(), ctx, steps, SURGE_AND_UNAVAILABLE)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::driver::Capabilities;
    use crate::model::MAX_REPLICAS;
    use crate::strategy::support::test_ctx;

    const SIDE: Capabilities = Capabilities {
        side_by_side: true,
        weighted_traffic: false,
        native_rolling: false,
        feature_flags: false,
        preview: false,
    };

    fn rolling(surge: IntOrPercent, unavailable: IntOrPercent) -> Rolling {
        Rolling {
            max_surge: surge,
            max_unavailable: unavailable,
            ..Default::default()
        }
    }

    fn scales(plan: &Plan) -> Vec<(Role, u32)> {
        plan.steps
            .iter()
            .filter_map(|s| match s {
                Step::Scale { role, replicas } => Some((*role, *replicas)),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn kubernetes_defaults_on_ten_replicas() {
        // 25% surge of 10 = 3 (up), 25% unavailable = 2 (down): ready >= 8, total <= 13.
        let plan = Rolling::default().plan(&test_ctx(10, SIDE, true)).unwrap();
        use Role::*;
        assert_eq!(
            scales(&plan),
            vec![
                (Candidate, 3),
                (Stable, 5),
                (Candidate, 8),
                (Stable, 0),
                (Candidate, 10)
            ]
        );
        assert_eq!(plan.steps[plan.steps.len() - 2], Step::Promote);
        assert!(plan.validate(&SIDE).is_ok());
    }

    #[test]
    fn both_zero_is_refused_naming_both_fields() {
        let r = rolling(IntOrPercent::Percent(10), IntOrPercent::Count(0));
        // 10% of 5 rounds up to 1 for a surge: fine.
        assert!(r.plan(&test_ctx(5, SIDE, true)).is_ok());
        let r = rolling(IntOrPercent::Count(0), IntOrPercent::Percent(10));
        // 10% of 5 rounds down to 0 for unavailability, and surge is 0.
        let e = r.plan(&test_ctx(5, SIDE, true)).unwrap_err();
        assert_eq!(e.field(), "max_surge, max_unavailable");
        let text = e.to_string();
        assert!(
            text.contains("max_surge (0)") && text.contains("max_unavailable (10%)"),
            "{text}"
        );
    }

    #[test]
    fn without_side_by_side_only_all_down_then_up() {
        let r = rolling(IntOrPercent::Count(1), IntOrPercent::Count(1));
        let caps = Capabilities {
            native_rolling: true,
            ..Default::default()
        };
        let e = r.plan(&test_ctx(3, caps, true)).unwrap_err();
        assert_eq!(e, PlanError::unsupported("max_unavailable", "side_by_side"));
        let r = rolling(IntOrPercent::Count(0), IntOrPercent::Percent(100));
        let plan = r.plan(&test_ctx(3, caps, true)).unwrap();
        assert_eq!(scales(&plan), vec![(Role::Stable, 0), (Role::Candidate, 3)]);
        assert!(plan.validate(&caps).is_ok());
        // A first deploy needs no side-by-side at all.
        let plan = Rolling::default().plan(&test_ctx(3, caps, false)).unwrap();
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
    }

    #[test]
    fn weights_follow_replicas_on_a_router() {
        let caps = Capabilities::ALL;
        let r = rolling(IntOrPercent::Count(1), IntOrPercent::Count(0));
        let plan = r.plan(&test_ctx(4, caps, true)).unwrap();
        let scale = |role, replicas| Step::Scale { role, replicas };
        let w = |percent| Step::SetWeight { percent };
        use Role::*;
        assert_eq!(
            plan.steps,
            vec![
                scale(Candidate, 1),
                w(25),
                scale(Stable, 3),
                scale(Candidate, 2),
                w(50),
                scale(Stable, 2),
                scale(Candidate, 3),
                w(75),
                scale(Stable, 1),
                scale(Candidate, 4),
                w(100),
                scale(Stable, 0),
                Step::Promote,
                Step::Retire {
                    role: Stable,
                    after: Duration::ZERO
                },
            ]
        );
        assert!(plan.validate(&caps).is_ok());
    }

    #[test]
    fn analysis_and_pause_between_batches_only() {
        let r = Rolling {
            max_surge: IntOrPercent::Count(1),
            max_unavailable: IntOrPercent::Count(0),
            analysis: Some(AnalysisStep {
                validators: vec!["errors".into()],
                policy: Default::default(),
            }),
            pause: Some(Duration::from_secs(60)),
        };
        let plan = r.plan(&test_ctx(3, SIDE, true)).unwrap();
        let kinds: Vec<&str> = plan
            .steps
            .iter()
            .map(|s| match s {
                Step::Scale {
                    role: Role::Candidate,
                    ..
                } => "c",
                Step::Scale {
                    role: Role::Stable, ..
                } => "s",
                Step::Analysis(_) => "a",
                Step::Pause { .. } => "p",
                Step::Promote => "P",
                Step::Retire { .. } => "R",
                _ => "?",
            })
            .collect();
        assert_eq!(kinds.join(""), "csapcsapcsPR");
        assert!(plan.validate(&SIDE).is_ok());

        let mut bad = r.clone();
        bad.analysis.as_mut().unwrap().policy.count = None;
        let e = bad.plan(&test_ctx(3, SIDE, true)).unwrap_err();
        assert_eq!(e.field(), "analysis.policy.count");
    }

    #[test]
    fn refuses_plans_too_long_instead_of_exhausting_memory() {
        let r = rolling(IntOrPercent::Count(1), IntOrPercent::Count(0));
        let e = r.plan(&test_ctx(MAX_REPLICAS, SIDE, true)).unwrap_err();
        assert_eq!(e.field(), "max_surge, max_unavailable");
        assert!(e.to_string().contains("raise max_surge"), "{e}");
        let r = rolling(IntOrPercent::Percent(25), IntOrPercent::Count(0));
        let plan = r
            .plan(&test_ctx(MAX_REPLICAS, Capabilities::ALL, true))
            .unwrap();
        assert!(plan.steps.len() < 30, "{}", plan.describe());
        assert!(plan.validate(&Capabilities::ALL).is_ok());
        // Above the maximum, the replica count itself is refused.
        let e = r.plan(&test_ctx(u32::MAX, SIDE, true)).unwrap_err();
        assert_eq!(e.field(), "replicas");
    }

    #[test]
    fn bad_context_is_refused() {
        let e = Rolling::default()
            .plan(&test_ctx(0, SIDE, true))
            .unwrap_err();
        assert_eq!(e.field(), "replicas");
        let mut ctx = test_ctx(3, SIDE, true);
        ctx.candidate = ctx.stable.clone().unwrap();
        assert_eq!(
            Rolling::default().plan(&ctx).unwrap_err().field(),
            "candidate"
        );
    }
}
