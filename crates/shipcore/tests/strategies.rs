//! The built-in strategies from the outside: properties over arbitrary configurations and
//! contexts (no panic, every plan valid for its driver and ending fully on the candidate),
//! the rolling surge/unavailable invariant on simulated counters, configuration parsing
//! errors that name the field, and plans run to completion by the engine.
#![allow(clippy::unwrap_used)]

mod common;

use common::{v1, v2, FakeDriver, FnValidator};
use proptest::prelude::*;
use shipcore::clock::SimClock;
use shipcore::driver::Capabilities;
use shipcore::engine::{Phase, RolloutSpec, Runner};
use shipcore::journal::MemoryJournal;
use shipcore::model::{Action, AnalysisPolicy, AnalysisStep, Plan, Revision, Role, Step, Target};
use shipcore::strategy::Strategy as _;
use shipcore::strategy::{
    BlueGreen, Canary, CanaryStep, FeatureFlag, IntOrPercent, Linear, PauseSpec, PlanContext,
    PlanError, Recreate, Rolling, StrategyConfig, TrafficMode,
};
use shipcore::time::Timestamp;
use shipcore::validator::Outcome;
use std::sync::Arc;
use std::time::Duration;

// ---------------------------------------------------------------------------------------
// Contexts and checks
// ---------------------------------------------------------------------------------------

/// What runs before the rollout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Existing {
    /// First deploy.
    Nothing,
    /// `web-v1`; the candidate is `web-v2`.
    Other,
    /// The candidate itself (a flag-only change).
    Same,
}

fn ctx(replicas: u32, caps: Capabilities, existing: Existing) -> PlanContext {
    let stable = match existing {
        Existing::Nothing => None,
        Existing::Other => Some(v1()),
        Existing::Same => Some(v2()),
    };
    PlanContext {
        target: Target::new("web", "production"),
        stable,
        candidate: v2(),
        replicas,
        capabilities: caps,
    }
}

/// All 32 combinations of the five capabilities.
fn all_caps() -> Vec<Capabilities> {
    (0u8..32)
        .map(|b| Capabilities {
            weighted_traffic: b & 1 != 0,
            side_by_side: b & 2 != 0,
            native_rolling: b & 4 != 0,
            feature_flags: b & 8 != 0,
            preview: b & 16 != 0,
        })
        .collect()
}

fn has(caps: &Capabilities, name: &str) -> Option<bool> {
    match name {
        "weighted_traffic" => Some(caps.weighted_traffic),
        "side_by_side" => Some(caps.side_by_side),
        "native_rolling" => Some(caps.native_rolling),
        "feature_flags" => Some(caps.feature_flags),
        "preview" => Some(caps.preview),
        _ => None,
    }
}

/// An unsupported error must name a real capability the driver really lacks, and every
/// error must name a field.
fn check_error(e: &PlanError, caps: &Capabilities) -> Result<(), String> {
    if e.field().is_empty() {
        return Err(format!("error names no field: {e}"));
    }
    if let PlanError::Unsupported { capability, .. } = e {
        match has(caps, capability) {
            Some(false) => {}
            Some(true) => return Err(format!("refused for `{capability}`, which the driver has")),
            None => return Err(format!("unknown capability `{capability}`")),
        }
    }
    Ok(())
}

/// Walks a plan on counters the way the engine executes it and checks where it ends:
/// the candidate at `replicas` with all traffic, stable retired (when it is a different
/// revision), traffic never sent to a revision without replicas by a weight step.
fn check_plan(plan: &Plan, ctx: &PlanContext) -> Result<(), String> {
    plan.validate(&ctx.capabilities).map_err(|e| {
        format!(
            "plan does not validate for its driver: {e}\n{}",
            plan.describe()
        )
    })?;
    let r = ctx.replicas;
    if plan.replicas != r {
        return Err(format!("plan.replicas {} != {r}", plan.replicas));
    }
    let same = matches!(&ctx.stable, Some(s) if s.id == ctx.candidate.id);
    let has_stable = ctx.stable.is_some() && !same;
    let (mut cand, mut stable) = (0u32, if has_stable { r } else { 0 });
    let mut weight: Option<u8> = None;
    let (mut promoted, mut retired) = (false, false);
    let mut last_flag: Option<u8> = None;
    let err = |i: usize, what: &str| Err(format!("step {i}: {what}\n{}", plan.describe()));
    for (i, step) in plan.steps.iter().enumerate() {
        match step {
            Step::Scale {
                role: Role::Candidate,
                replicas,
            } => {
                if *replicas > r {
                    return err(i, "candidate scaled beyond replicas");
                }
                cand = *replicas;
            }
            Step::Scale {
                role: Role::Stable,
                replicas,
            } => {
                if !has_stable || retired {
                    return err(i, "stable step without a (live) stable revision");
                }
                if *replicas == 0 && cand > 0 && weight.is_some_and(|w| w < 100) {
                    return err(
                        i,
                        "stable scaled to 0 while the router still sends it traffic",
                    );
                }
                stable = *replicas;
            }
            Step::SetWeight { percent } => {
                if !has_stable {
                    return err(i, "weight step without a stable revision");
                }
                if *percent > 0 && cand == 0 {
                    return err(i, "traffic to a candidate with no replicas");
                }
                if weight.is_some_and(|w| *percent < w) {
                    return err(i, "weight went down");
                }
                weight = Some(*percent);
            }
            Step::Promote => {
                if cand != r {
                    return err(i, "promoted before the candidate runs all replicas");
                }
                promoted = true;
                if ctx.capabilities.weighted_traffic {
                    weight = Some(100);
                }
            }
            Step::Retire {
                role: Role::Stable, ..
            } => {
                if !has_stable || !promoted {
                    return err(
                        i,
                        "stable retired without a stable revision or before promotion",
                    );
                }
                retired = true;
                stable = 0;
            }
            Step::Retire {
                role: Role::Candidate,
                ..
            } => return err(i, "candidate retired"),
            Step::SetFlag { percent, .. } => last_flag = Some(*percent),
            Step::Pause { .. } | Step::Analysis(_) | Step::Gate { .. } => {}
            // `Step` is non-exhaustive: a step this checker does not model fails loudly.
            other => return err(i, &format!("unmodelled step {other:?}")),
        }
    }
    if cand != r {
        return Err(format!(
            "ends with {cand} candidate replicas, not {r}\n{}",
            plan.describe()
        ));
    }
    // Every plan ends promoted (Plan::validate requires it); with stable = candidate the
    // promote routes to the one revision, and a retire would remove it.
    if same && plan.steps.iter().any(|s| matches!(s, Step::Retire { .. })) {
        return Err(format!(
            "retire with stable = candidate\n{}",
            plan.describe()
        ));
    }
    if !promoted {
        return Err(format!("never promoted\n{}", plan.describe()));
    }
    if has_stable && (!retired || stable != 0) {
        return Err(format!(
            "stable not retired at the end\n{}",
            plan.describe()
        ));
    }
    if plan.strategy == "feature_flag" && last_flag != Some(100) {
        return Err(format!(
            "flag ends at {last_flag:?}, not 100\n{}",
            plan.describe()
        ));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Generators
// ---------------------------------------------------------------------------------------

fn arb_duration() -> impl Strategy<Value = Duration> {
    prop_oneof![
        Just(Duration::ZERO),
        (1u64..600).prop_map(Duration::from_secs),
        any::<u64>().prop_map(Duration::from_millis),
    ]
}

fn arb_analysis() -> impl Strategy<Value = AnalysisStep> {
    (
        proptest::collection::vec(
            prop_oneof![Just("errors"), Just("latency"), Just(""), Just(" ")],
            0..3,
        ),
        arb_duration(),
        proptest::option::of(0u32..4),
        proptest::option::of(0u32..3),
    )
        .prop_map(|(names, interval, count, success)| AnalysisStep {
            validators: names.into_iter().map(String::from).collect(),
            policy: AnalysisPolicy {
                interval,
                count,
                consecutive_success_limit: success,
                ..Default::default()
            },
        })
}

fn arb_iop() -> impl Strategy<Value = IntOrPercent> {
    prop_oneof![
        (0u32..6).prop_map(IntOrPercent::Count),
        any::<u32>().prop_map(IntOrPercent::Count),
        (0u32..=110).prop_map(IntOrPercent::Percent),
        any::<u32>().prop_map(IntOrPercent::Percent),
    ]
}

fn arb_pause() -> impl Strategy<Value = PauseSpec> {
    proptest::option::of(arb_duration()).prop_map(PauseSpec)
}

fn arb_traffic() -> impl Strategy<Value = TrafficMode> {
    prop_oneof![
        Just(TrafficMode::Auto),
        Just(TrafficMode::Weighted),
        Just(TrafficMode::Replicas)
    ]
}

fn arb_percent() -> impl Strategy<Value = u32> {
    prop_oneof![4 => 0u32..=105, 1 => any::<u32>()]
}

fn arb_rolling() -> impl Strategy<Value = Rolling> {
    (
        arb_iop(),
        arb_iop(),
        proptest::option::of(arb_analysis()),
        proptest::option::of(arb_duration()),
    )
        .prop_map(|(max_surge, max_unavailable, analysis, pause)| Rolling {
            max_surge,
            max_unavailable,
            analysis,
            pause,
        })
}

fn arb_canary_step() -> impl Strategy<Value = CanaryStep> {
    prop_oneof![
        3 => arb_percent().prop_map(CanaryStep::SetWeight),
        // Increasing weights are the interesting case: make them common.
        3 => (1u32..=100).prop_map(CanaryStep::SetWeight),
        2 => arb_pause().prop_map(CanaryStep::Pause),
        1 => arb_analysis().prop_map(CanaryStep::Analysis),
        1 => proptest::collection::vec(prop_oneof![Just("approval"), Just("")], 0..2)
            .prop_map(|g| CanaryStep::Gate(g.into_iter().map(String::from).collect())),
    ]
}

fn arb_canary() -> impl Strategy<Value = Canary> {
    (
        proptest::collection::vec(arb_canary_step(), 0..8),
        arb_traffic(),
        arb_duration(),
        any::<bool>(),
    )
        .prop_map(|(mut steps, traffic, scale_down_delay, sort)| {
            // Sort the weights half of the time so that valid canaries are frequent.
            if sort {
                let mut weights: Vec<u32> = steps
                    .iter()
                    .filter_map(|s| match s {
                        CanaryStep::SetWeight(w) => Some(*w),
                        _ => None,
                    })
                    .collect();
                weights.sort_unstable();
                weights.dedup();
                let mut it = weights.into_iter();
                steps.retain_mut(|s| match s {
                    CanaryStep::SetWeight(w) => it.next().map(|n| *w = n).is_some(),
                    _ => true,
                });
            }
            Canary {
                steps,
                traffic,
                scale_down_delay,
            }
        })
}

fn arb_linear() -> impl Strategy<Value = Linear> {
    (
        arb_percent(),
        arb_duration(),
        proptest::option::of(arb_analysis()),
        arb_traffic(),
        arb_duration(),
    )
        .prop_map(
            |(percent, interval, analysis, traffic, scale_down_delay)| Linear {
                percent,
                interval,
                analysis,
                traffic,
                scale_down_delay,
            },
        )
}

fn arb_blue_green() -> impl Strategy<Value = BlueGreen> {
    (
        proptest::option::of(prop_oneof![0u32..12, any::<u32>()]),
        proptest::option::of(arb_duration()),
        proptest::option::of(arb_analysis()),
        proptest::option::of(arb_analysis()),
        arb_duration(),
    )
        .prop_map(
            |(preview_replicas, auto_promotion_after, pre, post, scale_down_delay)| BlueGreen {
                preview_replicas,
                auto_promotion_after,
                pre_promotion_analysis: pre,
                post_promotion_analysis: post,
                scale_down_delay,
            },
        )
}

fn arb_feature_flag() -> impl Strategy<Value = FeatureFlag> {
    (
        prop_oneof![Just("new-checkout"), Just(""), Just("  ")],
        prop_oneof![
            proptest::collection::vec(arb_percent(), 0..6),
            proptest::collection::btree_set(1u32..100, 0..4).prop_map(|s| {
                let mut v: Vec<u32> = s.into_iter().collect();
                v.push(100);
                v
            }),
        ],
        proptest::option::of(arb_pause()),
        proptest::option::of(arb_analysis()),
        arb_rolling(),
    )
        .prop_map(|(flag, percentages, pause, analysis, deploy)| FeatureFlag {
            flag: flag.into(),
            percentages,
            pause,
            analysis,
            deploy,
        })
}

fn arb_config() -> impl Strategy<Value = StrategyConfig> {
    prop_oneof![
        arb_rolling().prop_map(StrategyConfig::Rolling),
        arb_blue_green().prop_map(StrategyConfig::BlueGreen),
        arb_canary().prop_map(StrategyConfig::Canary),
        arb_linear().prop_map(StrategyConfig::Linear),
        Just(StrategyConfig::Recreate(Recreate::default())),
        arb_feature_flag().prop_map(StrategyConfig::FeatureFlag),
    ]
}

fn arb_caps() -> impl Strategy<Value = Capabilities> {
    (0usize..32).prop_map(|i| all_caps()[i])
}

fn arb_ctx() -> impl Strategy<Value = PlanContext> {
    (
        prop_oneof![8 => 0u32..40, 1 => Just(u32::MAX), 1 => any::<u32>()],
        arb_caps(),
        prop_oneof![
            Just(Existing::Nothing),
            Just(Existing::Other),
            Just(Existing::Same)
        ],
    )
        .prop_map(|(r, caps, existing)| ctx(r, caps, existing))
}

// ---------------------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    /// Any configuration, any context: no panic; an error names a field (and a capability
    /// the driver really lacks); a plan validates for its driver and ends on the candidate.
    #[test]
    fn any_config_any_context_plans_or_refuses_cleanly(config in arb_config(), ctx in arb_ctx()) {
        match config.plan(&ctx) {
            Ok(plan) => {
                prop_assert_eq!(plan.strategy.as_str(), config.name());
                if let Err(e) = check_plan(&plan, &ctx) {
                    return Err(TestCaseError::fail(format!("{config:?}\n{e}")));
                }
            }
            Err(e) => {
                if let Err(why) = check_error(&e, &ctx.capabilities) {
                    return Err(TestCaseError::fail(format!("{config:?}\n{why}")));
                }
            }
        }
    }

    /// A rolling update keeps desired replicas within `replicas + max_surge` and ready
    /// replicas at least `replicas - max_unavailable` after every scale step (so also
    /// during it: scale-ups only add ready replicas), and ends with the candidate at
    /// `replicas` and stable at 0.
    #[test]
    fn rolling_respects_surge_and_unavailable(
        surge in arb_iop(),
        unavailable in arb_iop(),
        replicas in 1u32..60,
        weighted in any::<bool>(),
        side_by_side in any::<bool>(),
    ) {
        let caps = Capabilities { weighted_traffic: weighted, side_by_side, ..Default::default() };
        let ctx = ctx(replicas, caps, Existing::Other);
        let rolling = Rolling { max_surge: surge, max_unavailable: unavailable, ..Default::default() };
        // Kubernetes' resolution, computed here independently: surge up, unavailable down.
        let resolve = |v: IntOrPercent, up: bool| -> u64 {
            match v {
                IntOrPercent::Count(n) => u64::from(n),
                IntOrPercent::Percent(p) => {
                    let x = u64::from(replicas) * u64::from(p);
                    if up { x.div_ceil(100) } else { x / 100 }
                }
            }
        };
        let (s, u) = (resolve(surge, true), resolve(unavailable, false));
        let r = u64::from(replicas);
        let result = rolling.plan(&ctx);
        if s == 0 && u == 0 {
            let e = result.unwrap_err();
            prop_assert_eq!(e.field(), "max_surge, max_unavailable");
            return Ok(());
        }
        if !side_by_side && u < r {
            prop_assert_eq!(result.unwrap_err(), PlanError::unsupported("max_unavailable", "side_by_side"));
            return Ok(());
        }
        let plan = result.unwrap();
        let (mut cand, mut stable) = (0u64, r);
        for step in &plan.steps {
            match step {
                Step::Scale { role: Role::Candidate, replicas } => cand = u64::from(*replicas),
                Step::Scale { role: Role::Stable, replicas } => stable = u64::from(*replicas),
                _ => continue,
            }
            prop_assert!(cand + stable <= r + s, "desired {} > {} + {}:\n{}", cand + stable, r, s, plan.describe());
            prop_assert!(cand + stable >= r.saturating_sub(u), "ready {} < {} - {}:\n{}", cand + stable, r, u, plan.describe());
        }
        prop_assert_eq!((cand, stable), (r, 0));
        check_plan(&plan, &ctx).map_err(TestCaseError::fail)?;
    }

    /// Arbitrary JSON-ish configuration never panics the parser or the planner.
    #[test]
    fn arbitrary_configuration_text_never_panics(json in arb_json(), ctx in arb_ctx()) {
        if let Ok(config) = serde_json::from_value::<StrategyConfig>(json) {
            match config.plan(&ctx) {
                Ok(plan) => check_plan(&plan, &ctx).map_err(TestCaseError::fail)?,
                Err(e) => check_error(&e, &ctx.capabilities).map_err(TestCaseError::fail)?,
            }
        }
    }
}

/// JSON objects built from the configuration vocabulary, with values of every type.
fn arb_json() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::{json, Value};
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        (0u64..200).prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        prop_oneof![
            Just("25%"),
            Just("5m"),
            Just("1h30m"),
            Just("-1"),
            Just("x%"),
            Just("100%"),
            Just("0"),
            Just("rolling"),
            Just("canary"),
            Just("errors"),
            Just("18446744073709551616s"),
        ]
        .prop_map(Value::from),
    ];
    let keys = prop_oneof![
        Just("type"),
        Just("max_surge"),
        Just("max_unavailable"),
        Just("steps"),
        Just("set_weight"),
        Just("pause"),
        Just("analysis"),
        Just("gate"),
        Just("duration"),
        Just("percent"),
        Just("interval"),
        Just("traffic"),
        Just("flag"),
        Just("percentages"),
        Just("validators"),
        Just("policy"),
        Just("count"),
        Just("preview_replicas"),
        Just("deploy"),
        Just("other"),
    ];
    let types = prop_oneof![
        Just("rolling"),
        Just("blue_green"),
        Just("canary"),
        Just("linear"),
        Just("recreate"),
        Just("feature_flag"),
    ];
    let inner = leaf.prop_recursive(3, 24, 4, move |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::btree_map(keys.clone(), inner, 0..4).prop_map(|m| {
                Value::Object(m.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
            }),
        ]
    });
    (
        types,
        proptest::collection::btree_map(
            prop_oneof![
                Just("max_surge"),
                Just("max_unavailable"),
                Just("steps"),
                Just("percent"),
                Just("interval"),
                Just("traffic"),
                Just("flag"),
                Just("percentages"),
                Just("pause"),
                Just("analysis"),
                Just("preview_replicas"),
                Just("auto_promotion_after"),
                Just("scale_down_delay"),
                Just("deploy"),
            ],
            inner,
            0..5,
        ),
    )
        .prop_map(|(t, fields)| {
            let mut m: serde_json::Map<String, Value> = fields
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect();
            m.insert("type".into(), Value::from(t));
            Value::Object(m)
        })
}

// ---------------------------------------------------------------------------------------
// Every strategy, every driver
// ---------------------------------------------------------------------------------------

fn analysis() -> AnalysisStep {
    AnalysisStep {
        validators: vec!["ok".into()],
        policy: AnalysisPolicy::every(Duration::from_secs(30), 2),
    }
}

/// One reasonable configuration of each strategy (no manual pauses, so the engine can run
/// them unattended).
fn samples() -> Vec<StrategyConfig> {
    vec![
        StrategyConfig::Rolling(Rolling {
            analysis: Some(analysis()),
            pause: Some(Duration::from_secs(10)),
            ..Default::default()
        }),
        StrategyConfig::BlueGreen(BlueGreen {
            preview_replicas: Some(1),
            auto_promotion_after: Some(Duration::from_secs(60)),
            pre_promotion_analysis: Some(analysis()),
            post_promotion_analysis: Some(analysis()),
            ..Default::default()
        }),
        StrategyConfig::Canary(Canary {
            steps: vec![
                CanaryStep::SetWeight(10),
                CanaryStep::Analysis(analysis()),
                CanaryStep::SetWeight(50),
                CanaryStep::Pause(PauseSpec(Some(Duration::from_secs(60)))),
                CanaryStep::Gate(vec!["ready".into()]),
            ],
            ..Default::default()
        }),
        StrategyConfig::Linear(Linear {
            analysis: Some(analysis()),
            ..Linear::new(25, Duration::from_secs(60))
        }),
        StrategyConfig::Recreate(Recreate {
            analysis: Some(analysis()),
        }),
        StrategyConfig::FeatureFlag(FeatureFlag {
            flag: "new-checkout".into(),
            percentages: vec![1, 25, 100],
            pause: Some(PauseSpec(Some(Duration::from_secs(300)))),
            analysis: Some(analysis()),
            deploy: Rolling::default(),
        }),
    ]
}

/// What each sample needs beside a stable revision.
fn needs(name: &str) -> &'static [&'static str] {
    match name {
        "rolling" | "canary" | "linear" => &["side_by_side"],
        "blue_green" => &["side_by_side", "weighted_traffic"],
        "feature_flag" => &["feature_flags", "side_by_side"],
        _ => &[],
    }
}

#[test]
fn every_strategy_on_every_driver_plans_valid_plans_or_names_the_missing_capability() {
    for config in samples() {
        for caps in all_caps() {
            for existing in [Existing::Nothing, Existing::Other] {
                for replicas in [1, 2, 3, 5, 10, 100] {
                    let ctx = ctx(replicas, caps, existing);
                    let missing: Vec<&str> = needs(config.name())
                        .iter()
                        .copied()
                        .filter(|c| has(&caps, c) == Some(false))
                        .filter(|c| existing == Existing::Other || *c == "feature_flags")
                        .collect();
                    match config.plan(&ctx) {
                        Ok(plan) => {
                            assert!(
                                missing.is_empty(),
                                "{} planned without {missing:?}",
                                config.name()
                            );
                            check_plan(&plan, &ctx).unwrap();
                        }
                        Err(e) => {
                            let PlanError::Unsupported { capability, .. } = &e else {
                                panic!("{} refused a valid config: {e}", config.name())
                            };
                            assert!(
                                missing.contains(&capability.as_str()),
                                "{}: {e}",
                                config.name()
                            );
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn strategy_config_names_match_tags_and_round_trip() {
    for config in samples() {
        let text = serde_json::to_string(&config).unwrap();
        assert!(
            text.contains(&format!("\"type\":\"{}\"", config.name())),
            "{text}"
        );
        let back: StrategyConfig = serde_json::from_str(&text).unwrap();
        assert_eq!(back, config);
    }
}

// ---------------------------------------------------------------------------------------
// Configuration errors name the field
// ---------------------------------------------------------------------------------------

fn parse_err(text: &str) -> String {
    serde_json::from_str::<StrategyConfig>(text)
        .unwrap_err()
        .to_string()
}

#[test]
fn bad_configuration_text_names_the_field() {
    for (text, wanted) in [
        (
            r#"{"type": "rolling", "max_surg": 1}"#,
            "unknown field `max_surg`",
        ),
        (
            r#"{"type": "blue_green", "preview": 2}"#,
            "unknown field `preview`",
        ),
        (
            r#"{"type": "recreate", "replicas": 2}"#,
            "unknown field `replicas`",
        ),
        (
            r#"{"type": "linear", "percent": 10}"#,
            "missing field `interval`",
        ),
        (
            r#"{"type": "feature_flag", "flag": "x"}"#,
            "missing field `percentages`",
        ),
        (
            r#"{"type": "canary", "steps": [{"set_wieght": 10}]}"#,
            "unknown variant `set_wieght`",
        ),
        (
            r#"{"type": "canary", "steps": [{"pause": {"durration": "1m"}}]}"#,
            "unknown field `durration`",
        ),
        (
            r#"{"type": "canary", "traffic": "sometimes"}"#,
            "unknown variant `sometimes`",
        ),
        (r#"{"type": "canery"}"#, "unknown variant `canery`"),
        (r#"{"max_surge": 1}"#, "missing field `type`"),
        (
            r#"{"type": "canary", "steps": [{"analysis": {"validators": ["e"], "policy": {"intervall": "1m"}}}]}"#,
            "unknown field `intervall`",
        ),
    ] {
        let e = parse_err(text);
        assert!(e.contains(wanted), "{text}: {e}");
    }
    // Values that do not parse say what was expected.
    let e = parse_err(r#"{"type": "rolling", "max_surge": "lots"}"#);
    assert!(e.contains("\"lots\"") && e.contains("\"25%\""), "{e}");
    let e = parse_err(r#"{"type": "linear", "percent": 10, "interval": "a minute"}"#);
    assert!(e.contains("invalid duration \"a minute\""), "{e}");
}

#[test]
fn values_that_parse_but_cannot_be_planned_name_the_field() {
    let plan = |text: &str, ctx: &PlanContext| {
        serde_json::from_str::<StrategyConfig>(text)
            .unwrap()
            .plan(ctx)
            .unwrap_err()
    };
    let all = ctx(4, Capabilities::ALL, Existing::Other);
    for (text, field) in [
        (
            r#"{"type": "canary", "steps": [{"set_weight": 50}, {"set_weight": 20}]}"#,
            "steps[1].set_weight",
        ),
        (
            r#"{"type": "canary", "steps": [{"set_weight": 300}]}"#,
            "steps[0].set_weight",
        ),
        (
            r#"{"type": "rolling", "max_surge": 0, "max_unavailable": "0%"}"#,
            "max_surge, max_unavailable",
        ),
        (
            r#"{"type": "linear", "percent": 0, "interval": "1m"}"#,
            "percent",
        ),
        (
            r#"{"type": "blue_green", "preview_replicas": 9}"#,
            "preview_replicas",
        ),
        (
            r#"{"type": "feature_flag", "flag": "f", "percentages": [10, 5, 100]}"#,
            "percentages[1]",
        ),
        (
            r#"{"type": "canary", "steps": [{"analysis": {"validators": []}}]}"#,
            "steps[0].analysis.validators",
        ),
    ] {
        assert_eq!(plan(text, &all).field(), field, "{text}");
    }
    let zero = ctx(0, Capabilities::ALL, Existing::Other);
    for config in samples() {
        assert_eq!(
            config.plan(&zero).unwrap_err().field(),
            "replicas",
            "{}",
            config.name()
        );
    }
    // Exact weights demanded from a driver without a router.
    let side = ctx(
        4,
        Capabilities {
            side_by_side: true,
            ..Default::default()
        },
        Existing::Other,
    );
    let e = plan(
        r#"{"type": "canary", "traffic": "weighted", "steps": [{"set_weight": 5}]}"#,
        &side,
    );
    assert_eq!(e, PlanError::unsupported("traffic", "weighted_traffic"));
}

// ---------------------------------------------------------------------------------------
// Plans run by the engine
// ---------------------------------------------------------------------------------------

fn run_spec(plan: Plan, stable: Option<Revision>) -> RolloutSpec {
    RolloutSpec::new("r1", Target::new("web", "production"), stable, v2(), plan)
}

async fn run(config: &StrategyConfig, caps: Capabilities, replicas: u32) -> Arc<FakeDriver> {
    let d = FakeDriver::with_stable(caps, &v1(), replicas);
    let plan = config.plan(&ctx(replicas, caps, Existing::Other)).unwrap();
    let mut runner = Runner::builder(
        d.clone(),
        Arc::new(SimClock::new(Timestamp::ZERO)),
        Arc::new(MemoryJournal::new()),
    )
    .validator(FnValidator::constant("ok", Outcome::Pass))
    .gate(common::FnGate::new("ready", |_| {
        shipcore::gate::GateOutcome::Pass
    }))
    .build();
    let report = runner.start(run_spec(plan, Some(v1()))).await.unwrap();
    assert_eq!(
        report.status.phase,
        Phase::Succeeded,
        "{}: {:?}",
        config.name(),
        report.status
    );
    d
}

#[tokio::test]
async fn the_engine_runs_every_strategy_to_the_candidate() {
    for caps in [
        Capabilities::ALL,
        Capabilities {
            side_by_side: true,
            feature_flags: true,
            ..Default::default()
        },
    ] {
        for config in samples() {
            if needs(config.name())
                .iter()
                .any(|c| has(&caps, c) == Some(false))
            {
                continue;
            }
            let d = run(&config, caps, 4).await;
            let f = d.fleet();
            assert_eq!(f.revisions.len(), 1, "{}: {f:?}", config.name());
            assert_eq!(
                (f.revisions[0].revision.as_str(), f.revisions[0].ready),
                ("web-v2", 4)
            );
            if caps.weighted_traffic {
                assert_eq!(f.revisions[0].weight, 100, "{}", config.name());
            }
            if config.name() == "feature_flag" {
                let flags: Vec<u8> = d
                    .actions()
                    .iter()
                    .filter_map(|a| match a {
                        Action::SetFlag { percent, .. } => Some(*percent),
                        _ => None,
                    })
                    .collect();
                assert_eq!(flags, vec![0, 1, 25, 100]);
            }
        }
    }
}

#[tokio::test]
async fn the_engine_keeps_a_rolling_update_within_surge_and_unavailable() {
    // 10 replicas, 25% / 25%: at most 13 desired, at least 8 up, as the driver saw it.
    let config = StrategyConfig::Rolling(Rolling::default());
    let d = run(
        &config,
        Capabilities {
            side_by_side: true,
            ..Default::default()
        },
        10,
    )
    .await;
    let (mut v1n, mut v2n) = (10u32, 0u32);
    for a in d.actions() {
        if let Action::Deploy { revision, replicas } = a {
            if revision.id == v1().id {
                v1n = replicas;
            } else {
                v2n = replicas;
            }
            assert!(
                (8..=13).contains(&(v1n + v2n)),
                "{v1n} + {v2n} after {:?}",
                d.actions()
            );
        }
    }
    assert_eq!(v2n, 10);
}
