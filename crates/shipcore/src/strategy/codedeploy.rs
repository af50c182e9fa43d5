//! AWS CodeDeploy deployment configuration names (`Linear10PercentEvery1Minutes`,
//! `Canary10Percent5Minutes`, `AllAtOnce`, `OneAtATime`…) mapped onto built-in strategies.

use super::StrategyConfig;
use super::{Canary, CanaryStep, IntOrPercent, Linear, PauseSpec, PlanError, Rolling};
use crate::model::FieldError;
use std::time::Duration;

/// The field CodeDeploy name errors name (CodeDeploy's own `deploymentConfigName`).
pub(crate) const FIELD: &str = "deployment_config_name";

/// A parsed CodeDeploy configuration name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CodeDeployName {
    Linear { percent: u32, interval: Duration },
    Canary { percent: u32, interval: Duration },
    AllAtOnce,
    OneAtATime,
    HalfAtATime,
}

impl CodeDeployName {
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            CodeDeployName::Linear { .. } => "a linear",
            CodeDeployName::Canary { .. } => "a canary",
            CodeDeployName::AllAtOnce => "an all-at-once",
            CodeDeployName::OneAtATime | CodeDeployName::HalfAtATime => "an in-place",
        }
    }
}

/// Parses `<N>` then `rest` exactly; `None` if the text does not have that shape.
fn number_then<'a>(text: &'a str, rest: &str) -> Option<(u32, &'a str)> {
    let digits = text.len() - text.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    let (n, tail) = text.split_at(digits);
    let n = n.parse::<u32>().ok()?;
    Some((n, tail.strip_prefix(rest)?))
}

fn minutes(text: &str) -> Option<u32> {
    let (m, tail) = number_then(text, "Minute")?;
    matches!(tail, "" | "s").then_some(m)
}

/// Parses a CodeDeploy configuration name.
pub(crate) fn parse_codedeploy_name(name: &str) -> Result<CodeDeployName, PlanError> {
    let unknown = || {
        FieldError::new(
            FIELD,
            format!(
                "unknown CodeDeploy configuration {name:?}; expected a name like \
                 Linear10PercentEvery1Minutes, Canary10Percent5Minutes, AllAtOnce, \
                 OneAtATime or HalfAtATime (optionally prefixed CodeDeployDefault. and ECS or Lambda)"
            ),
        ).into()
    };
    let base = name.trim();
    let base = base.strip_prefix("CodeDeployDefault.").unwrap_or(base);
    let base = base
        .strip_prefix("ECS")
        .or_else(|| base.strip_prefix("Lambda"))
        .unwrap_or(base);
    let parsed = match base {
        "AllAtOnce" => CodeDeployName::AllAtOnce,
        "OneAtATime" => CodeDeployName::OneAtATime,
        "HalfAtATime" => CodeDeployName::HalfAtATime,
        _ => {
            let (is_linear, body) = match (base.strip_prefix("Linear"), base.strip_prefix("Canary"))
            {
                (Some(b), _) => (true, b),
                (_, Some(b)) => (false, b),
                _ => return Err(unknown()),
            };
            let sep = if is_linear { "PercentEvery" } else { "Percent" };
            let (percent, tail) = number_then(body, sep).ok_or_else(unknown)?;
            let m = minutes(tail).ok_or_else(unknown)?;
            if !(1..=100).contains(&percent) {
                return Err(FieldError::new(
                    FIELD,
                    format!("{name:?}: {percent} percent is not within 1..=100"),
                )
                .into());
            }
            if m == 0 {
                return Err(FieldError::new(
                    FIELD,
                    format!("{name:?}: the interval must be at least 1 minute"),
                )
                .into());
            }
            let interval = Duration::from_secs(u64::from(m) * 60);
            if is_linear {
                CodeDeployName::Linear { percent, interval }
            } else {
                CodeDeployName::Canary { percent, interval }
            }
        }
    };
    Ok(parsed)
}

/// The built-in strategy for a CodeDeploy deployment configuration name.
///
/// * `Linear<N>PercentEvery<M>Minutes` → [`Linear`] `N`% every `M` minutes;
/// * `Canary<N>Percent<M>Minutes` → [`Canary`] with steps `set_weight N`, `pause M m`,
///   then the rest at once;
/// * `AllAtOnce` → [`Canary`] with no steps (candidate fully up, then all traffic at once);
/// * `OneAtATime` / `HalfAtATime` (EC2 in-place) → [`Rolling`] with no surge and one / 50%
///   of the replicas unavailable at a time.
///
/// `CodeDeployDefault.` and `ECS` / `Lambda` prefixes are accepted, and `Minute` for
/// `Minutes` (Lambda's `LambdaLinear10PercentEvery1Minute`).
///
/// ```
/// use shipcore::strategy::{from_codedeploy_name, StrategyConfig};
/// let s = from_codedeploy_name("CodeDeployDefault.ECSCanary10Percent5Minutes").unwrap();
/// assert!(matches!(s, StrategyConfig::Canary(_)));
/// let e = from_codedeploy_name("Linear10PercentEveryTuesday").unwrap_err();
/// assert_eq!(e.field(), "deployment_config_name");
/// ```
pub fn from_codedeploy_name(name: &str) -> Result<StrategyConfig, PlanError> {
    Ok(match parse_codedeploy_name(name)? {
        CodeDeployName::Linear { percent, interval } => {
            StrategyConfig::Linear(Linear::new(percent, interval))
        }
        CodeDeployName::Canary { percent, interval } => StrategyConfig::Canary(Canary {
            steps: vec![
                CanaryStep::SetWeight(percent),
                CanaryStep::Pause(PauseSpec(Some(interval))),
            ],
            ..Default::default()
        }),
        CodeDeployName::AllAtOnce => StrategyConfig::Canary(Canary::default()),
        CodeDeployName::OneAtATime => StrategyConfig::Rolling(Rolling {
            max_surge: IntOrPercent::Count(0),
            max_unavailable: IntOrPercent::Count(1),
            ..Default::default()
        }),
        CodeDeployName::HalfAtATime => StrategyConfig::Rolling(Rolling {
            max_surge: IntOrPercent::Count(0),
            max_unavailable: IntOrPercent::Percent(50),
            ..Default::default()
        }),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<CodeDeployName, PlanError> {
        parse_codedeploy_name(s)
    }

    #[test]
    fn aws_names_parse() {
        let min = |m: u64| Duration::from_secs(m * 60);
        for (name, want) in [
            (
                "Linear10PercentEvery1Minutes",
                CodeDeployName::Linear {
                    percent: 10,
                    interval: min(1),
                },
            ),
            (
                "CodeDeployDefault.ECSLinear10PercentEvery3Minutes",
                CodeDeployName::Linear {
                    percent: 10,
                    interval: min(3),
                },
            ),
            (
                "CodeDeployDefault.LambdaLinear10PercentEvery1Minute",
                CodeDeployName::Linear {
                    percent: 10,
                    interval: min(1),
                },
            ),
            (
                "CodeDeployDefault.LambdaCanary10Percent30Minutes",
                CodeDeployName::Canary {
                    percent: 10,
                    interval: min(30),
                },
            ),
            (
                "Canary10Percent5Minutes",
                CodeDeployName::Canary {
                    percent: 10,
                    interval: min(5),
                },
            ),
            ("CodeDeployDefault.ECSAllAtOnce", CodeDeployName::AllAtOnce),
            ("CodeDeployDefault.OneAtATime", CodeDeployName::OneAtATime),
            ("HalfAtATime", CodeDeployName::HalfAtATime),
        ] {
            assert_eq!(parse(name).unwrap(), want, "{name}");
        }
    }

    #[test]
    fn unknown_and_out_of_range_names_are_refused_with_reason() {
        for bad in [
            "",
            "Linear",
            "Linear10PercentEvery",
            "Linear10PercentEvery1Hours",
            "Linear10Every1Minutes",
            "LinearXPercentEvery1Minutes",
            "Canary10Percent5MinutesPlease",
            "Linear99999999999PercentEvery1Minutes",
            "ECS",
            "blue-green",
        ] {
            let e = parse(bad).unwrap_err();
            assert_eq!(e.field(), FIELD);
            assert!(
                e.to_string().contains("unknown CodeDeploy configuration"),
                "{bad}: {e}"
            );
        }
        let e = parse("Linear0PercentEvery1Minutes")
            .unwrap_err()
            .to_string();
        assert!(e.contains("0 percent is not within 1..=100"), "{e}");
        let e = parse("Canary101Percent5Minutes").unwrap_err().to_string();
        assert!(e.contains("101 percent"), "{e}");
        let e = parse("Linear10PercentEvery0Minutes")
            .unwrap_err()
            .to_string();
        assert!(e.contains("at least 1 minute"), "{e}");
    }

    #[test]
    fn linear_refuses_other_kinds_by_name() {
        let e = Linear::from_codedeploy_name("Canary10Percent5Minutes").unwrap_err();
        assert_eq!(e.field(), FIELD);
        assert!(e.to_string().contains("is a canary configuration"), "{e}");
        let e = Linear::from_codedeploy_name("Exponential2x").unwrap_err();
        assert!(
            e.to_string().contains("unknown CodeDeploy configuration"),
            "{e}"
        );
    }

    #[test]
    fn names_map_to_strategies() {
        let s = from_codedeploy_name("OneAtATime").unwrap();
        let StrategyConfig::Rolling(r) = s else {
            panic!("{s:?}")
        };
        assert_eq!(
            (r.max_surge, r.max_unavailable),
            (IntOrPercent::Count(0), IntOrPercent::Count(1))
        );
        let s = from_codedeploy_name("Canary20Percent15Minutes").unwrap();
        let StrategyConfig::Canary(c) = s else {
            panic!("{s:?}")
        };
        assert_eq!(c.steps[0], CanaryStep::SetWeight(20));
        assert_eq!(
            c.steps[1],
            CanaryStep::Pause(PauseSpec(Some(Duration::from_secs(900))))
        );
    }
}
