//! Recreate: stop every stable replica, then start the candidate. Downtime by design, for
//! services that cannot run two versions at once (exclusive locks, schema changes).

use super::support::{check_analysis, check_distinct, check_replicas, finish, promote_and_retire};
use super::{PlanContext, PlanError, Strategy};
use crate::model::{AnalysisStep, Plan, Role, Step};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Scale stable to 0, then the candidate to `replicas`, verify it with `analysis` (if
/// any; a failure recreates stable), promote, retire stable.
///
/// Needs no capability: never two revisions at once, no traffic split (on a driver with
/// weighted traffic the promote routes everything to the candidate). Written `{}` (or
/// `{"type": "recreate"}` in a [`StrategyConfig`](super::StrategyConfig)), with an
/// optional `analysis` of the candidate once it is up.
///
/// ```
/// use shipcore::driver::Capabilities;
/// use shipcore::model::{Revision, Role, Step, Target};
/// use shipcore::strategy::{PlanContext, Recreate, Strategy};
/// let ctx = PlanContext {
///     target: Target::new("web", "production"),
///     stable: Some(Revision::new("web-v1", "1.0.0".parse().unwrap(), "web:1")),
///     candidate: Revision::new("web-v2", "2.0.0".parse().unwrap(), "web:2"),
///     replicas: 3,
///     capabilities: Capabilities::default(),
/// };
/// let plan = Recreate::default().plan(&ctx).unwrap();
/// assert_eq!(plan.steps, vec![
///     Step::Scale { role: Role::Stable, replicas: 0 },
///     Step::Scale { role: Role::Candidate, replicas: 3 },
///     Step::Promote,
///     Step::Retire { role: Role::Stable, after: Default::default() },
/// ]);
/// assert!(plan.validate(&ctx.capabilities).is_ok());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Recreate {
    /// Analysis of the candidate at full capacity, before it is promoted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub analysis: Option<AnalysisStep>,
}

impl Strategy for Recreate {
    fn name(&self) -> &'static str {
        "recreate"
    }

    fn plan(&self, ctx: &PlanContext) -> Result<Plan, PlanError> {
        check_replicas(ctx)?;
        check_distinct(ctx)?;
        if let Some(a) = &self.analysis {
            check_analysis(a, "analysis")?;
        }
        let mut steps = Vec::new();
        if ctx.stable.is_some() {
            steps.push(Step::Scale {
                role: Role::Stable,
                replicas: 0,
            });
        }
        steps.push(Step::Scale {
            role: Role::Candidate,
            replicas: ctx.replicas,
        });
        if let Some(a) = &self.analysis {
            steps.push(Step::Analysis(a.clone()));
        }
        promote_and_retire(ctx, &mut steps, Duration::ZERO);
        finish(self.name(), ctx, steps, "replicas")
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::driver::Capabilities;
    use crate::strategy::support::test_ctx;

    #[test]
    fn first_deploy_and_any_driver() {
        let plan = Recreate::default()
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
        for caps in [Capabilities::default(), Capabilities::ALL] {
            let plan = Recreate::default().plan(&test_ctx(5, caps, true)).unwrap();
            assert_eq!(
                plan.steps[0],
                Step::Scale {
                    role: Role::Stable,
                    replicas: 0
                }
            );
            assert!(plan.validate(&caps).is_ok());
        }
    }

    #[test]
    fn zero_replicas_and_same_revision_are_refused() {
        let e = Recreate::default()
            .plan(&test_ctx(0, Capabilities::ALL, true))
            .unwrap_err();
        assert_eq!(e.field(), "replicas");
        let mut ctx = test_ctx(1, Capabilities::ALL, true);
        ctx.stable = Some(ctx.candidate.clone());
        assert_eq!(
            Recreate::default().plan(&ctx).unwrap_err().field(),
            "candidate"
        );
    }
}
