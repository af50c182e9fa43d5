//! Feature-flag rollout: the code is deployed dark, then a flag turns the feature on for a
//! growing percentage of users, with waits and analyses between the steps.

use super::support::{check_opt_analysis, check_percentages, check_replicas, finish, prefixed};
use super::{PauseSpec, PlanContext, PlanError, Rolling, Strategy};
use crate::model::FieldError;
use crate::model::{AnalysisStep, Plan, Role, Step};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Set `flag` to each of `percentages` in turn (1..=100, increasing, ending at 100), with
/// `pause` then `analysis` between two settings. Needs the `feature_flags` capability
/// (refused naming `flag`).
///
/// The code behind the flag must run first:
/// * when the candidate is a new revision, the flag is set to 0% (the feature stays dark
///   while code changes), the candidate replaces stable by a [`Rolling`] update
///   configured by `deploy` (default 25% / 25%; its errors name `deploy.…`), is promoted,
///   then the flag steps run and stable is retired at the end;
/// * on a first deploy the flag is set to 0%, the candidate scaled up and promoted, then
///   the flag steps run;
/// * when the candidate *is* the stable revision (the code is already out; only the flag
///   changes), the plan makes sure it runs `replicas` replicas, promotes it (all traffic to
///   the one revision, which already has it: every plan ends promoted) and runs the flag
///   steps; it has no retire, which would remove the one running revision.
///
/// ```
/// use shipcore::driver::Capabilities;
/// use shipcore::model::{Revision, Role, Step, Target};
/// use shipcore::strategy::{FeatureFlag, PlanContext, Strategy};
/// use std::time::Duration;
/// let v2 = Revision::new("web-v2", "2.0.0".parse().unwrap(), "web:2");
/// let ctx = PlanContext {
///     target: Target::new("web", "production"),
///     stable: Some(v2.clone()),
///     candidate: v2,
///     replicas: 2,
///     capabilities: Capabilities { feature_flags: true, ..Default::default() },
/// };
/// let ff: FeatureFlag = serde_json::from_str(
///     r#"{"flag": "new-checkout", "percentages": [5, 50, 100], "pause": "1h"}"#,
/// ).unwrap();
/// let plan = ff.plan(&ctx).unwrap();
/// let set = |percent| Step::SetFlag { flag: "new-checkout".into(), percent };
/// let hour = Step::Pause { duration: Some(Duration::from_secs(3600)) };
/// assert_eq!(plan.steps, vec![
///     Step::Scale { role: Role::Candidate, replicas: 2 },
///     Step::Promote,
///     set(5), hour.clone(), set(50), hour, set(100),
/// ]);
/// assert!(plan.validate(&ctx.capabilities).is_ok());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeatureFlag {
    /// The flag's name in the flag service.
    pub flag: String,
    /// Percent of users at each step.
    pub percentages: Vec<u32>,
    /// Wait between steps: `"1h"`, or `{}` until an operator promotes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pause: Option<PauseSpec>,
    /// Analysis between steps (after the pause).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub analysis: Option<AnalysisStep>,
    /// How the code is rolled out when the candidate is a new revision.
    #[serde(default)]
    pub deploy: Rolling,
}

impl FeatureFlag {
    fn check(&self) -> Result<Vec<u8>, PlanError> {
        if self.flag.trim().is_empty() {
            return Err(FieldError::new("flag", "must not be empty").into());
        }
        if self.percentages.is_empty() {
            return Err(FieldError::new("percentages", "needs at least one step").into());
        }
        let entries = self.percentages.iter().copied().enumerate();
        let percents = check_percentages(entries, |i| format!("percentages[{i}]"))?;
        if percents.last() != Some(&100) {
            return Err(FieldError::new(
                "percentages",
                "the last step must be 100: a rollout ends with the feature on for everyone",
            )
            .into());
        }
        check_opt_analysis(&self.analysis, "analysis")?;
        Ok(percents)
    }

    fn flag_steps(&self, percents: &[u8], out: &mut Vec<Step>) {
        for (i, p) in percents.iter().enumerate() {
            if i > 0 {
                out.extend(self.pause.map(|p| Step::Pause { duration: p.0 }));
                out.extend(self.analysis.clone().map(Step::Analysis));
            }
            out.push(Step::SetFlag {
                flag: self.flag.clone(),
                percent: *p,
            });
        }
    }
}

impl Strategy for FeatureFlag {
    fn name(&self) -> &'static str {
        "feature_flag"
    }

    fn plan(&self, ctx: &PlanContext) -> Result<Plan, PlanError> {
        check_replicas(ctx)?;
        let percents = self.check()?;
        if !ctx.capabilities.feature_flags {
            return Err(PlanError::unsupported("flag", "feature_flags"));
        }
        let dark = Step::SetFlag {
            flag: self.flag.clone(),
            percent: 0,
        };
        let mut out = Vec::new();
        match &ctx.stable {
            Some(stable) if stable.id == ctx.candidate.id => {
                out.push(Step::Scale {
                    role: Role::Candidate,
                    replicas: ctx.replicas,
                });
                out.push(Step::Promote);
                self.flag_steps(&percents, &mut out);
            }
            Some(_) => {
                out.push(dark);
                let code = self
                    .deploy
                    .batches(ctx)
                    .map_err(|e| prefixed(e, "deploy"))?;
                out.extend(code);
                out.push(Step::Promote);
                self.flag_steps(&percents, &mut out);
                out.push(Step::Retire {
                    role: Role::Stable,
                    after: Duration::ZERO,
                });
            }
            None => {
                out.push(dark);
                out.push(Step::Scale {
                    role: Role::Candidate,
                    replicas: ctx.replicas,
                });
                out.push(Step::Promote);
                self.flag_steps(&percents, &mut out);
            }
        }
        finish(self.name(), ctx, out, "percentages")
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::driver::Capabilities;
    use crate::strategy::support::test_ctx;
    use crate::strategy::IntOrPercent;

    fn ff(percentages: Vec<u32>) -> FeatureFlag {
        FeatureFlag {
            flag: "new-checkout".into(),
            percentages,
            pause: Some(PauseSpec(None)),
            analysis: None,
            deploy: Rolling::default(),
        }
    }

    fn set(percent: u8) -> Step {
        Step::SetFlag {
            flag: "new-checkout".into(),
            percent,
        }
    }

    #[test]
    fn new_code_goes_out_dark_then_the_flag_rises() {
        let mut f = ff(vec![10, 100]);
        f.deploy = Rolling {
            max_surge: IntOrPercent::Count(2),
            max_unavailable: IntOrPercent::Count(0),
            ..Default::default()
        };
        let caps = Capabilities {
            feature_flags: true,
            side_by_side: true,
            ..Default::default()
        };
        let plan = f.plan(&test_ctx(2, caps, true)).unwrap();
        use Role::*;
        assert_eq!(
            plan.steps,
            vec![
                set(0),
                Step::Scale {
                    role: Candidate,
                    replicas: 2
                },
                Step::Scale {
                    role: Stable,
                    replicas: 0
                },
                Step::Promote,
                set(10),
                Step::Pause { duration: None },
                set(100),
                Step::Retire {
                    role: Stable,
                    after: Duration::ZERO
                },
            ]
        );
        assert!(plan.validate(&caps).is_ok());
        // The code rollout's own refusals name the nested field.
        let no_side = Capabilities {
            feature_flags: true,
            ..Default::default()
        };
        let e = f.plan(&test_ctx(2, no_side, true)).unwrap_err();
        assert_eq!(
            e,
            PlanError::unsupported("deploy.max_unavailable", "side_by_side")
        );
    }

    #[test]
    fn first_deploy_scales_up_dark() {
        let caps = Capabilities {
            feature_flags: true,
            ..Default::default()
        };
        let plan = ff(vec![100]).plan(&test_ctx(3, caps, false)).unwrap();
        assert_eq!(
            plan.steps,
            vec![
                set(0),
                Step::Scale {
                    role: Role::Candidate,
                    replicas: 3
                },
                Step::Promote,
                set(100),
            ]
        );
    }

    #[test]
    fn bad_values_name_the_field() {
        let caps = Capabilities::ALL;
        let ctx = test_ctx(3, caps, true);
        for (f, field) in [
            (ff(vec![]), "percentages"),
            (ff(vec![5, 5, 100]), "percentages[1]"),
            (ff(vec![0, 100]), "percentages[0]"),
            (ff(vec![5, 50]), "percentages"),
            (ff(vec![5, 500]), "percentages[1]"),
            (
                FeatureFlag {
                    flag: " ".into(),
                    ..ff(vec![100])
                },
                "flag",
            ),
        ] {
            assert_eq!(f.plan(&ctx).unwrap_err().field(), field, "{f:?}");
        }
        let no_flags = Capabilities {
            feature_flags: false,
            ..caps
        };
        let e = ff(vec![100])
            .plan(&test_ctx(3, no_flags, true))
            .unwrap_err();
        assert_eq!(e, PlanError::unsupported("flag", "feature_flags"));
    }
}
