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
    /// Replica ratio: the candidate gets `ceil(replicas × weight / 100)` replicas (at least
    /// 1) and stable the rest; traffic follows replicas (a router, if any, is set to the
    /// same ratio).
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
