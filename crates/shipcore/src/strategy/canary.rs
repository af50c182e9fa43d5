//! Canary: move traffic to the candidate in explicit steps (weights, pauses, analyses,
//! gates), by router weight where the driver has one and by replica ratio where it has not.

use super::support::{
    check_analysis, check_distinct, check_gates, check_percentages, check_replicas, finish,
    promote_and_retire, ratio_percent, share,
};
use super::{CanaryStep, PlanContext, PlanError, Strategy};
use crate::driver::Capabilities;
use crate::model::{Plan, Role, Step};
use crate::time::serde_duration;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// How a canary's weights reach traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TrafficMode {
    /// Router weights where the driver has `weighted_traffic`, replica ratio otherwise.
    #[default]
    Auto,
    /// Exact router weights; refused (field `traffic`) without `weighted_traffic`.
    Weighted,
    /// Replica ratio: the candidate gets `ceil(replicas × weight / 100)` replicas (at
    /// least one) and stable the rest; traffic follows replicas (a router, if any, is set
    /// to the same ratio).
    Replicas,
}

/// How a plan will move traffic, once the mode is checked against the driver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Resolved {
    Weighted,
    Replicas,
}

/// Checks `mode` against the driver for a rollout beside a stable revision. `steps_field`
/// names the configuration that needs both revisions running at once.
pub(crate) fn resolve_traffic(
    mode: TrafficMode,
    caps: &Capabilities,
    steps_field: &str,
) -> Result<Resolved, PlanError> {
    let resolved = match mode {
        TrafficMode::Weighted if !caps.weighted_traffic => {
            return Err(PlanError::unsupported("traffic", "weighted_traffic"))
        }
        TrafficMode::Weighted => Resolved::Weighted,
        TrafficMode::Auto if caps.weighted_traffic => Resolved::Weighted,
        TrafficMode::Auto | TrafficMode::Replicas => Resolved::Replicas,
    };
    if !caps.side_by_side {
        return Err(PlanError::unsupported(steps_field, "side_by_side"));
    }
    Ok(resolved)
}

/// Canary with explicit steps, after Argo Rollouts' `canary.steps`.
///
/// With router weights (`traffic: weighted`, or `auto` on a driver with
/// `weighted_traffic`), each `set_weight: w` first scales the candidate to
/// `ceil(replicas × w / 100)` replicas (at least 1; it never shrinks) and then routes `w`%
/// to it; stable keeps all its replicas, so an abort is a weight change. Without router
/// weights the canary is a replica-ratio canary: the candidate is scaled to that count,
/// then stable down to the rest, and traffic follows replicas (so a weight is approximate:
/// 10% of 4 replicas is 1 of 4, 25%). The end: candidate at `replicas` (stable at 0 in
/// replica mode), promote, retire stable after `scale_down_delay`.
///
/// Both revisions run at once, so a rollout beside a stable revision needs `side_by_side`
/// (refused naming `steps`). A first deploy (no stable) skips the steps, as Argo does,
/// and scales the candidate up and promotes it. Background analysis is the engine's
/// concern (`RolloutSpec::background_analysis`), not a step.
///
/// ```
/// use shipcore::driver::Capabilities;
/// use shipcore::model::{Revision, Role, Step, Target};
/// use shipcore::strategy::{Canary, CanaryStep, PauseSpec, PlanContext, Strategy};
/// use std::time::Duration;
/// let ctx = PlanContext {
///     target: Target::new("web", "production"),
///     stable: Some(Revision::new("web-v1", "1.0.0".parse().unwrap(), "web:1")),
///     candidate: Revision::new("web-v2", "2.0.0".parse().unwrap(), "web:2"),
///     replicas: 4,
///     capabilities: Capabilities::ALL,
/// };
/// let canary: Canary = serde_json::from_str(
///     r#"{"steps": [{"set_weight": 10}, {"pause": "5m"}, {"set_weight": 50}, {"pause": {}}]}"#,
/// ).unwrap();
/// let plan = canary.plan(&ctx).unwrap();
/// assert_eq!(plan.steps, vec![
///     Step::Scale { role: Role::Candidate, replicas: 1 },
///     Step::SetWeight { percent: 10 },
///     Step::Pause { duration: Some(Duration::from_secs(300)) },
///     Step::Scale { role: Role::Candidate, replicas: 2 },
///     Step::SetWeight { percent: 50 },
///     Step::Pause { duration: None },
///     Step::Scale { role: Role::Candidate, replicas: 4 },
///     Step::Promote,
///     Step::Retire { role: Role::Stable, after: Duration::from_secs(30) },
/// ]);
/// assert!(plan.validate(&ctx.capabilities).is_ok());
///
/// // The same canary on a driver without weights: replica ratio.
/// let ctx = PlanContext { capabilities: Capabilities { side_by_side: true, ..Default::default() }, ..ctx };
/// let plan = canary.plan(&ctx).unwrap();
/// assert_eq!(&plan.steps[..3], &[
///     Step::Scale { role: Role::Candidate, replicas: 1 },
///     Step::Scale { role: Role::Stable, replicas: 3 },
///     Step::Pause { duration: Some(Duration::from_secs(300)) },
/// ]);
/// assert!(plan.validate(&ctx.capabilities).is_ok());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Canary {
    /// The steps, in order.
    #[serde(default)]
    pub steps: Vec<CanaryStep>,
    /// Router weights, replica ratio, or whichever the driver offers (default).
    #[serde(default)]
    pub traffic: TrafficMode,
    /// How long stable stays after the promotion (default 30s, as Argo).
    #[serde(default = "default_scale_down_delay", with = "serde_duration")]
    pub scale_down_delay: Duration,
}

fn default_scale_down_delay() -> Duration {
    Duration::from_secs(30)
}

impl Default for Canary {
    fn default() -> Self {
        Canary {
            steps: Vec::new(),
            traffic: TrafficMode::Auto,
            scale_down_delay: default_scale_down_delay(),
        }
    }
}

impl Canary {
    /// Checks every step; returns the weights of the `set_weight` steps by index.
    fn check_steps(&self) -> Result<Vec<Option<u8>>, PlanError> {
        let weights = self.steps.iter().enumerate().filter_map(|(i, s)| match s {
            CanaryStep::SetWeight(w) => Some((i, *w)),
            _ => None,
        });
        let valid = check_percentages(weights, |i| format!("steps[{i}].set_weight"))?;
        let mut valid = valid.into_iter();
        let mut out = Vec::with_capacity(self.steps.len());
        for (i, step) in self.steps.iter().enumerate() {
            match step {
                CanaryStep::SetWeight(_) => {
                    out.push(valid.next());
                    continue;
                }
                CanaryStep::Analysis(a) => check_analysis(a, &format!("steps[{i}].analysis"))?,
                CanaryStep::Gate(g) => check_gates(g, &format!("steps[{i}].gate"))?,
                CanaryStep::Pause(_) => {}
            }
            out.push(None);
        }
        Ok(out)
    }
}

impl Strategy for Canary {
    fn name(&self) -> &'static str {
        "canary"
    }

    fn plan(&self, ctx: &PlanContext) -> Result<Plan, PlanError> {
        check_replicas(ctx)?;
        check_distinct(ctx)?;
        let weights = self.check_steps()?;
        let r = ctx.replicas;
        let mut out = Vec::new();
        if ctx.stable.is_none() {
            out.push(Step::Scale {
                role: Role::Candidate,
                replicas: r,
            });
            promote_and_retire(ctx, &mut out, self.scale_down_delay);
            return finish(self.name(), ctx, out, "steps");
        }
        let mode = resolve_traffic(self.traffic, &ctx.capabilities, "steps")?;
        let router = ctx.capabilities.weighted_traffic;
        let mut cand = 0u32;
        for (step, weight) in self.steps.iter().zip(weights) {
            match (step, weight) {
                (CanaryStep::SetWeight(_), Some(w)) => {
                    let target = share(r, w);
                    let grow = target > cand;
                    if grow {
                        cand = target;
                        out.push(Step::Scale {
                            role: Role::Candidate,
                            replicas: cand,
                        });
                    }
                    match mode {
                        Resolved::Weighted => out.push(Step::SetWeight { percent: w }),
                        Resolved::Replicas if grow => {
                            if router {
                                let percent = ratio_percent(cand, r);
                                out.push(Step::SetWeight { percent });
                            }
                            out.push(Step::Scale {
                                role: Role::Stable,
                                replicas: r.saturating_sub(cand),
                            });
                        }
                        Resolved::Replicas => {}
                    }
                }
                (CanaryStep::Pause(p), _) => out.push(Step::Pause { duration: p.0 }),
                (CanaryStep::Analysis(a), _) => out.push(Step::Analysis(a.clone())),
                (CanaryStep::Gate(g), _) => out.push(Step::Gate { gates: g.clone() }),
                (CanaryStep::SetWeight(_), None) => {}
            }
        }
        if cand < r {
            out.push(Step::Scale {
                role: Role::Candidate,
                replicas: r,
            });
            if mode == Resolved::Replicas {
                if router {
                    // Traffic off stable before its capacity goes.
                    out.push(Step::SetWeight { percent: 100 });
                }
                out.push(Step::Scale {
                    role: Role::Stable,
                    replicas: 0,
                });
            }
        }
        promote_and_retire(ctx, &mut out, self.scale_down_delay);
        finish(self.name(), ctx, out, "steps")
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::model::AnalysisStep;
    use crate::strategy::support::test_ctx;
    use crate::strategy::PauseSpec;

    const SIDE: Capabilities = Capabilities {
        side_by_side: true,
        weighted_traffic: false,
        native_rolling: false,
        feature_flags: false,
        preview: false,
    };

    fn canary(steps: Vec<CanaryStep>) -> Canary {
        Canary {
            steps,
            ..Default::default()
        }
    }

    #[test]
    fn weights_must_be_in_range_and_increasing() {
        let ctx = test_ctx(4, Capabilities::ALL, true);
        let pause = CanaryStep::Pause(PauseSpec(None));
        for (weights, field) in [
            (vec![10, 10], "steps[2].set_weight"),
            (vec![50, 20], "steps[2].set_weight"),
            (vec![0, 20], "steps[0].set_weight"),
            (vec![10, 101], "steps[2].set_weight"),
            (vec![10, 4_000_000_000], "steps[2].set_weight"),
        ] {
            let steps = vec![
                CanaryStep::SetWeight(weights[0]),
                pause.clone(),
                CanaryStep::SetWeight(weights[1]),
            ];
            let e = canary(steps).plan(&ctx).unwrap_err();
            assert_eq!(e.field(), field, "{weights:?}: {e}");
        }
        // The same checks apply on a first deploy, where the steps are skipped.
        let e = canary(vec![CanaryStep::SetWeight(0)])
            .plan(&test_ctx(4, Capabilities::ALL, false))
            .unwrap_err();
        assert_eq!(e.field(), "steps[0].set_weight");
    }

    #[test]
    fn replica_ratio_without_router() {
        let c = canary(vec![
            CanaryStep::SetWeight(10),
            CanaryStep::SetWeight(20),
            CanaryStep::Pause(PauseSpec(Some(Duration::from_secs(60)))),
            CanaryStep::SetWeight(50),
        ]);
        let plan = c.plan(&test_ctx(4, SIDE, true)).unwrap();
        let scale = |role, replicas| Step::Scale { role, replicas };
        use Role::*;
        assert_eq!(
            plan.steps,
            vec![
                // 10% and 20% of 4 both round up to 1 replica: the second changes nothing.
                scale(Candidate, 1),
                scale(Stable, 3),
                Step::Pause {
                    duration: Some(Duration::from_secs(60))
                },
                scale(Candidate, 2),
                scale(Stable, 2),
                scale(Candidate, 4),
                scale(Stable, 0),
                Step::Promote,
                Step::Retire {
                    role: Stable,
                    after: Duration::from_secs(30)
                },
            ]
        );
        assert!(plan.validate(&SIDE).is_ok());
    }

    #[test]
    fn replica_mode_on_a_router_keeps_weights_in_step_with_replicas() {
        let c = Canary {
            steps: vec![CanaryStep::SetWeight(30)],
            traffic: TrafficMode::Replicas,
            ..Default::default()
        };
        let plan = c.plan(&test_ctx(3, Capabilities::ALL, true)).unwrap();
        use Role::*;
        assert_eq!(
            plan.steps,
            vec![
                Step::Scale {
                    role: Candidate,
                    replicas: 1
                },
                Step::SetWeight { percent: 33 },
                Step::Scale {
                    role: Stable,
                    replicas: 2
                },
                Step::Scale {
                    role: Candidate,
                    replicas: 3
                },
                Step::SetWeight { percent: 100 },
                Step::Scale {
                    role: Stable,
                    replicas: 0
                },
                Step::Promote,
                Step::Retire {
                    role: Stable,
                    after: Duration::from_secs(30)
                },
            ]
        );
    }

    #[test]
    fn insisting_on_weights_is_refused_without_a_router() {
        let c = Canary {
            steps: vec![CanaryStep::SetWeight(10)],
            traffic: TrafficMode::Weighted,
            ..Default::default()
        };
        let e = c.plan(&test_ctx(4, SIDE, true)).unwrap_err();
        assert_eq!(e, PlanError::unsupported("traffic", "weighted_traffic"));
        let e = canary(vec![])
            .plan(&test_ctx(4, Capabilities::default(), true))
            .unwrap_err();
        assert_eq!(e, PlanError::unsupported("steps", "side_by_side"));
    }

    #[test]
    fn first_deploy_skips_the_steps() {
        let c = canary(vec![
            CanaryStep::SetWeight(10),
            CanaryStep::Pause(PauseSpec(None)),
        ]);
        let plan = c
            .plan(&test_ctx(2, Capabilities::default(), false))
            .unwrap();
        assert_eq!(
            plan.steps,
            vec![
                Step::Scale {
                    role: Role::Candidate,
                    replicas: 2
                },
                Step::Promote
            ]
        );
    }

    #[test]
    fn analysis_and_gate_steps_are_checked_and_kept() {
        let ctx = test_ctx(2, Capabilities::ALL, true);
        let good = AnalysisStep {
            validators: vec!["errors".into()],
            policy: Default::default(),
        };
        let c = canary(vec![
            CanaryStep::SetWeight(50),
            CanaryStep::Analysis(good.clone()),
            CanaryStep::Gate(vec!["approval".into()]),
        ]);
        let plan = c.plan(&ctx).unwrap();
        assert_eq!(plan.steps[2], Step::Analysis(good.clone()));
        assert_eq!(
            plan.steps[3],
            Step::Gate {
                gates: vec!["approval".into()]
            }
        );
        assert!(plan.validate(&ctx.capabilities).is_ok());

        let mut bad = good;
        bad.policy.interval = Duration::ZERO;
        let e = canary(vec![CanaryStep::Analysis(bad)])
            .plan(&ctx)
            .unwrap_err();
        assert_eq!(e.field(), "steps[0].analysis.policy.interval");
        let e = canary(vec![CanaryStep::SetWeight(5), CanaryStep::Gate(vec![])])
            .plan(&ctx)
            .unwrap_err();
        assert_eq!(e.field(), "steps[1].gate");
    }
}
