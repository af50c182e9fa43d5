//! Recreate: stop every stable replica, then start the candidate. Downtime by design, for
//! services that cannot run two versions at once (exclusive locks, schema changes).

use super::support::{check_distinct, check_replicas, finish, promote_and_retire};
use super::{PlanContext, PlanError, Strategy};
use crate::model::{Plan, Role, Step};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Scale stable to 0, then the candidate to `replicas`, promote, retire stable.
///
/// Needs no capability: never two revisions at once, no traffic split (on a driver with
/// weighted traffic the promote routes everything to the candidate). Written `{}` (or
/// `{"type": "recreate"}` in a [`StrategyConfig`](super::StrategyConfig)).
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
pub struct Recreate {}

impl Strategy for Recreate {
    fn name(&self) -> &'static str {
        "recreate"
    }

    fn plan(&self, ctx: &PlanContext) -> Result<Plan, PlanError> {
        check_replicas(ctx)?;
        check_distinct(ctx)?;
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
        let plan = Recreate {}
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
            let plan = Recreate {}.plan(&test_ctx(5, caps, true)).unwrap();
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
        let e = Recreate {}
            .plan(&test_ctx(0, Capabilities::ALL, true))
            .unwrap_err();
        assert_eq!(e.field(), "replicas");
        let mut ctx = test_ctx(1, Capabilities::ALL, true);
        ctx.stable = Some(ctx.candidate.clone());
        assert_eq!(Recreate {}.plan(&ctx).unwrap_err().field(), "candidate");
    }
}
