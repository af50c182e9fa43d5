//! Checks and arithmetic the built-in strategies share: replica counts, analysis and gate
//! steps, percent-of-replicas rounding, and the common end of every plan.

use super::{PlanContext, PlanError};
use crate::model::FieldError;
use crate::model::{AnalysisStep, Plan, Role, Step};
use std::time::Duration;

/// Longest plan a built-in strategy makes. A configuration that would need more steps
/// (a rolling update of a million replicas one at a time) is refused rather than planned.
pub const MAX_PLAN_STEPS: usize = 10_000;

/// `ctx.replicas` must be within 1..=[`MAX_REPLICAS`](crate::model::MAX_REPLICAS): the
/// rule of [`Plan::validate`], checked before planning so no strategy loops over a bad count.
pub(crate) fn check_replicas(ctx: &PlanContext) -> Result<(), PlanError> {
    crate::model::check_replicas("replicas", ctx.replicas)
}

/// The candidate must be a different revision from the stable one: steps on the two roles
/// would otherwise act on one revision (retiring stable would remove the candidate).
pub(crate) fn check_distinct(ctx: &PlanContext) -> Result<(), PlanError> {
    if let Some(stable) = &ctx.stable {
        if stable.id == ctx.candidate.id {
            return Err(FieldError::new(
                "candidate",
                format!(
                    "revision {} is already the stable revision; there is nothing to deploy",
                    stable.id
                ),
            )
            .into());
        }
    }
    Ok(())
}

/// An analysis in a strategy's configuration, named `field`: the rules
/// [`AnalysisStep::validate`] applies to every analysis step of a plan.
pub(crate) fn check_analysis(a: &AnalysisStep, field: &str) -> Result<(), PlanError> {
    a.validate(field)
}

/// Checks an optional analysis.
pub(crate) fn check_opt_analysis(a: &Option<AnalysisStep>, field: &str) -> Result<(), PlanError> {
    match a {
        Some(a) => check_analysis(a, field),
        None => Ok(()),
    }
}

/// A gate step in a strategy's configuration, named `field`: the rule
/// [`Plan::validate`] applies to every gate step (at least one gate, no blank name).
pub(crate) fn check_gates(gates: &[String], field: &str) -> Result<(), PlanError> {
    crate::model::check_gate_names(gates, field)
}

/// Checks a list of percentages: each within 1..=100 and strictly increasing. `field(i)`
/// names entry `i` in errors. Returns them as `u8`.
pub(crate) fn check_percentages(
    values: impl IntoIterator<Item = (usize, u32)>,
    field: impl Fn(usize) -> String,
) -> Result<Vec<u8>, PlanError> {
    let mut out: Vec<u8> = Vec::new();
    for (i, v) in values {
        let p = match u8::try_from(v) {
            Ok(p) if (1..=100).contains(&p) => p,
            _ => {
                return Err(FieldError::new(field(i), format!("{v} is not within 1..=100")).into())
            }
        };
        if let Some(&prev) = out.last() {
            if p <= prev {
                return Err(FieldError::new(
                    field(i),
                    format!("{p} must be greater than the previous value {prev}"),
                )
                .into());
            }
        }
        out.push(p);
    }
    Ok(out)
}

/// Replicas that carry `percent` of `replicas`: rounded up, at least 1, at most `replicas`.
///
/// `share(10, 15) == 2`, `share(3, 1) == 1`, `share(4, 100) == 4`.
pub(crate) fn share(replicas: u32, percent: u8) -> u32 {
    let exact = (u64::from(replicas) * u64::from(percent.min(100))).div_ceil(100);
    u32::try_from(exact)
        .unwrap_or(replicas)
        .clamp(1, replicas.max(1))
}

/// `part` as a percentage of `total`, rounded to the nearest; 100 when `total` is 0.
pub(crate) fn ratio_percent(part: u32, total: u32) -> u8 {
    if total == 0 {
        return 100;
    }
    let p = (u64::from(part.min(total)) * 100 + u64::from(total) / 2) / u64::from(total);
    u8::try_from(p).unwrap_or(100)
}

/// Prefixes the field an error names (`deploy` + `max_surge` = `deploy.max_surge`).
pub(crate) fn prefixed(err: PlanError, prefix: &str) -> PlanError {
    match err {
        PlanError::Invalid(e) => PlanError::Invalid(e.within(prefix)),
        PlanError::Unsupported { field, capability } => PlanError::Unsupported {
            field: format!("{prefix}.{field}"),
            capability,
        },
    }
}

/// The common end: all traffic to the candidate, then the stable revision retired after
/// `delay` (when there is one).
pub(crate) fn promote_and_retire(ctx: &PlanContext, steps: &mut Vec<Step>, delay: Duration) {
    steps.push(Step::Promote);
    if ctx.stable.is_some() {
        steps.push(Step::Retire {
            role: Role::Stable,
            after: delay,
        });
    }
}

/// A plan named `strategy` for `ctx.replicas`, refused if it grew past [`MAX_PLAN_STEPS`],
/// then checked by [`Plan::validate`] for `ctx.capabilities`: the one place that checks a
/// plan's steps.
pub(crate) fn finish(
    strategy: &str,
    ctx: &PlanContext,
    steps: Vec<Step>,
    too_long_field: &str,
) -> Result<Plan, PlanError> {
    if steps.len() > MAX_PLAN_STEPS {
        return Err(FieldError::new(
            too_long_field,
            format!(
                "the plan would have {} steps, more than the limit of {MAX_PLAN_STEPS}",
                steps.len()
            ),
        )
        .into());
    }
    let mut steps = steps;
    // A plan lives as long as its rollout: no room left over from building it.
    steps.shrink_to_fit();
    let plan = Plan {
        strategy: strategy.to_string(),
        replicas: ctx.replicas,
        steps,
    };
    // The one check of a plan's steps; a built-in strategy's plan passing it is an invariant.
    plan.validate(&ctx.capabilities)?;
    Ok(plan)
}

/// A context for unit tests: `web-v1` stable (when `with_stable`), `web-v2` candidate.
#[cfg(test)]
pub(crate) fn test_ctx(
    replicas: u32,
    caps: crate::driver::Capabilities,
    with_stable: bool,
) -> PlanContext {
    use crate::model::{Revision, Target};
    let rev = |id: &str, v: u64| Revision::new(id, semver::Version::new(v, 0, 0), id);
    PlanContext {
        target: Target::new("web", "production"),
        stable: with_stable.then(|| rev("web-v1", 1)),
        candidate: rev("web-v2", 2),
        replicas,
        capabilities: caps,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn share_rounds_up_within_bounds() {
        assert_eq!(share(10, 15), 2);
        assert_eq!(share(3, 1), 1);
        assert_eq!(share(4, 100), 4);
        assert_eq!(share(4, 25), 1);
        assert_eq!(share(4, 26), 2);
        assert_eq!(share(u32::MAX, 100), u32::MAX);
        assert_eq!(share(u32::MAX, 50), u32::MAX / 2 + 1);
    }

    #[test]
    fn ratio_rounds_to_nearest() {
        assert_eq!(ratio_percent(1, 3), 33);
        assert_eq!(ratio_percent(2, 3), 67);
        assert_eq!(ratio_percent(3, 3), 100);
        assert_eq!(ratio_percent(0, 3), 0);
        assert_eq!(ratio_percent(0, 0), 100);
        assert_eq!(ratio_percent(u32::MAX, u32::MAX), 100);
    }

    #[test]
    fn percentages_must_be_in_range_and_increasing() {
        let f = |i: usize| format!("p[{i}]");
        let ok = check_percentages([10u32, 50, 100].into_iter().enumerate(), f);
        assert_eq!(ok.unwrap(), vec![10, 50, 100]);
        let e = check_percentages([10u32, 10].into_iter().enumerate(), f).unwrap_err();
        assert_eq!(e.field(), "p[1]");
        let e = check_percentages([0u32].into_iter().enumerate(), f).unwrap_err();
        assert_eq!(e.field(), "p[0]");
        let e = check_percentages([5u32, 101].into_iter().enumerate(), f).unwrap_err();
        assert!(e.to_string().contains("101 is not within 1..=100"), "{e}");
        let e = check_percentages([5u32, 300].into_iter().enumerate(), f).unwrap_err();
        assert_eq!(e.field(), "p[1]");
    }

    #[test]
    fn analysis_rules_match_plan_validate() {
        let mut a = AnalysisStep {
            validators: vec![],
            policy: Default::default(),
        };
        assert_eq!(check_analysis(&a, "x").unwrap_err().field(), "x.validators");
        a.validators = vec!["ok".into(), " ".into()];
        assert_eq!(
            check_analysis(&a, "x").unwrap_err().field(),
            "x.validators[1]"
        );
        a.validators = vec!["ok".into()];
        a.policy.count = None;
        assert_eq!(
            check_analysis(&a, "x").unwrap_err().field(),
            "x.policy.count"
        );
        a.policy.count = Some(0);
        assert_eq!(
            check_analysis(&a, "x").unwrap_err().field(),
            "x.policy.count"
        );
        a.policy.count = Some(3);
        a.policy.interval = Duration::ZERO;
        assert_eq!(
            check_analysis(&a, "x").unwrap_err().field(),
            "x.policy.interval"
        );
    }

    #[test]
    fn gates_need_names() {
        assert_eq!(check_gates(&[], "g").unwrap_err().field(), "g");
        assert_eq!(
            check_gates(&["a".into(), "".into()], "g")
                .unwrap_err()
                .field(),
            "g[1]"
        );
        assert!(check_gates(&["a".into()], "g").is_ok());
    }
}
