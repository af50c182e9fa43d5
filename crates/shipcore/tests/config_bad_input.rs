//! Bad input to every configuration type is refused with an error naming the field: the
//! gaps the per-module suites left (HTTP headers, analysis policies on their own and in a
//! spec, each strategy through `StrategyConfig`, post-deploy monitoring, severity).
#![allow(clippy::unwrap_used)]

use shipcore::driver::Capabilities;
use shipcore::engine::RolloutSpec;
use shipcore::gate::{GateConfig, Severity};
use shipcore::model::Target;
use shipcore::model::{AnalysisPolicy, AnalysisStep, Monitoring, Plan, Revision, Role, Step};
use shipcore::strategy::{PlanContext, Strategy, StrategyConfig};
use shipcore::validator::ValidatorConfig;
use std::time::Duration;

fn v(n: u64) -> Revision {
    Revision::new(
        format!("web-v{n}"),
        format!("{n}.0.0").parse().unwrap(),
        "web",
    )
}

#[test]
fn http_headers_are_checked_with_the_configuration() {
    let gate = |headers: &str| {
        GateConfig::from_json(&format!(
            r#"{{"type": "http", "name": "staging", "url": "http://x/health", "headers": {headers}}}"#
        ))
        .unwrap()
        .build()
        .err()
        .unwrap()
    };
    let e = gate(r#"{"bad header": "x"}"#);
    assert_eq!(e.field, "headers.bad header", "{e}");
    let e = gate(r#"{"X-Token": "a\nb"}"#);
    assert_eq!(e.field, "headers.X-Token", "{e}");
    assert!(e.problem.contains("header value"), "{e}");

    let check = |json: &str| {
        ValidatorConfig::from_json(json)
            .unwrap()
            .check()
            .unwrap_err()
    };
    let e = check(
        r#"{"type": "http_health", "name": "h", "url": "http://x/h", "headers": {"a:b": "1"}}"#,
    );
    assert_eq!(e.field, "headers.a:b", "{e}");
    let e = check(
        r#"{"type": "smoke", "name": "s", "base_url": "http://x", "headers": {"Host": "a\u0000"}, "requests": [{"path": "/"}]}"#,
    );
    assert_eq!(e.field, "headers.Host", "{e}");
    let e = check(
        r#"{"type": "smoke", "name": "s", "base_url": "http://x", "requests": [{"path": "/"}, {"path": "/a", "headers": {"": "1"}}]}"#,
    );
    assert_eq!(e.field, "requests[1].headers.", "{e}");
    // Good headers still pass.
    ValidatorConfig::from_json(
        r#"{"type": "http_health", "name": "h", "url": "http://x/h", "headers": {"Authorization": "Bearer t"}}"#,
    )
    .unwrap()
    .check()
    .unwrap();
}

#[test]
fn analysis_policies_name_the_knob() {
    let ok = AnalysisPolicy::every(Duration::from_secs(60), 3);
    assert!(ok.validate("policy").is_ok());
    let cases = [
        (
            AnalysisPolicy {
                interval: Duration::ZERO,
                ..ok.clone()
            },
            "policy.interval",
        ),
        (
            AnalysisPolicy {
                count: Some(0),
                ..ok.clone()
            },
            "policy.count",
        ),
        (
            AnalysisPolicy {
                consecutive_success_limit: Some(0),
                ..ok.clone()
            },
            "policy.consecutive_success_limit",
        ),
    ];
    for (p, field) in cases {
        assert_eq!(p.validate("policy").unwrap_err().field(), field, "{p:?}");
    }
    // Text: unknown knobs and bad durations are refused by name.
    let e = serde_json::from_str::<AnalysisPolicy>(r#"{"interval": "1m", "failure_limt": 1}"#)
        .unwrap_err();
    assert!(
        e.to_string().contains("unknown field `failure_limt`"),
        "{e}"
    );
    let e = serde_json::from_str::<AnalysisPolicy>(r#"{"interval": "soon"}"#).unwrap_err();
    assert!(e.to_string().contains("soon"), "{e}");
    let e = serde_json::from_str::<AnalysisPolicy>(r#"{"count": 3}"#).unwrap_err();
    assert!(e.to_string().contains("missing field `interval`"), "{e}");
    let e =
        serde_json::from_str::<AnalysisPolicy>(r#"{"interval": "1m", "on_inconclusive": "retry"}"#)
            .unwrap_err();
    assert!(e.to_string().contains("unknown variant `retry`"), "{e}");
}

#[test]
fn a_spec_names_the_step_or_the_background_analysis() {
    let analysis = |policy: AnalysisPolicy| {
        Step::Analysis(AnalysisStep {
            validators: vec!["errors".into()],
            policy,
        })
    };
    let plan = |steps| Plan {
        strategy: "canary".into(),
        replicas: 2,
        steps,
    };
    let scale = Step::Scale {
        role: Role::Candidate,
        replicas: 2,
    };
    let bad = plan(vec![
        scale.clone(),
        analysis(AnalysisPolicy::every(Duration::ZERO, 3)),
    ]);
    let e = bad.validate(&Capabilities::ALL).unwrap_err();
    assert_eq!(e.field(), "steps[1].policy.interval");
    let unbounded = plan(vec![
        scale.clone(),
        analysis(AnalysisPolicy {
            count: None,
            ..Default::default()
        }),
    ]);
    let e = unbounded.validate(&Capabilities::ALL).unwrap_err();
    assert_eq!(e.field(), "steps[1].policy.count");

    let mut spec = RolloutSpec::new(
        "r1",
        Target::new("web", "production"),
        Some(v(1)),
        v(2),
        plan(vec![scale]),
    );
    spec.background_analysis = Some(AnalysisStep {
        validators: vec!["errors".into()],
        policy: AnalysisPolicy {
            count: Some(0),
            ..Default::default()
        },
    });
    assert_eq!(
        spec.validate().unwrap_err().field(),
        "background_analysis.policy.count"
    );
    spec.background_analysis = Some(AnalysisStep {
        validators: vec![],
        policy: AnalysisPolicy::default(),
    });
    assert_eq!(
        spec.validate().unwrap_err().field(),
        "background_analysis.validators"
    );
}

#[test]
fn every_strategy_type_names_the_field_through_strategy_config() {
    let ctx = PlanContext {
        target: Target::new("web", "production"),
        stable: Some(v(1)),
        candidate: v(2),
        replicas: 4,
        capabilities: Capabilities::ALL,
    };
    let cases = [
        (
            r#"{"type": "rolling", "max_surge": 0, "max_unavailable": 0}"#,
            "max_surge, max_unavailable",
        ),
        (
            r#"{"type": "canary", "steps": [{"set_weight": 150}]}"#,
            "steps[0].set_weight",
        ),
        (
            r#"{"type": "canary", "steps": [{"analysis": {"validators": [], "policy": {"interval": "1m", "count": 1}}}]}"#,
            "steps[0].analysis.validators",
        ),
        (
            r#"{"type": "linear", "percent": 10, "interval": "0s"}"#,
            "interval",
        ),
        (
            r#"{"type": "linear", "percent": 0, "interval": "1m"}"#,
            "percent",
        ),
        (
            r#"{"type": "feature_flag", "flag": "", "percentages": [10]}"#,
            "flag",
        ),
    ];
    for (json, field) in cases {
        let cfg: StrategyConfig = serde_json::from_str(json).unwrap();
        let e = cfg.plan(&ctx).unwrap_err();
        assert_eq!(e.field(), field, "{json}: {e}");
        assert!(e.to_string().starts_with(field), "{e}");
    }
    let e = serde_json::from_str::<StrategyConfig>(r#"{"type": "blue_green", "preview": 1}"#)
        .unwrap_err();
    assert!(e.to_string().contains("unknown field `preview`"), "{e}");
    let e = serde_json::from_str::<StrategyConfig>(r#"{"type": "big_bang"}"#).unwrap_err();
    assert!(e.to_string().contains("unknown variant `big_bang`"), "{e}");
}

#[test]
fn monitoring_and_severity_refuse_bad_values() {
    let e = serde_json::from_str::<Monitoring>(r#"{"validators": ["e"], "window": "0s"}"#)
        .unwrap()
        .to_step()
        .unwrap_err();
    assert_eq!(e.field(), "monitoring.window");
    let e = serde_json::from_str::<Monitoring>(r#"{"validators": ["e"]}"#).unwrap_err();
    assert!(e.to_string().contains("missing field `window`"), "{e}");
    let e = Severity::P2.monitoring(&[]).to_step().unwrap_err();
    assert_eq!(e.field(), "monitoring.validators");
    let e = serde_json::from_str::<Severity>(r#""P9""#).unwrap_err();
    assert!(
        e.to_string().contains("unknown variant `P9`") && e.to_string().contains("P0"),
        "{e}"
    );
}

/// Every configuration and plan error carries the one `FieldError`: the same field and
/// problem reach the caller whichever module refused the value, and the text users see is
/// `field: problem` behind the module's own prefix.
#[test]
fn every_config_error_carries_one_field_error() {
    use shipcore::model::{check_identifier, FieldError};
    use shipcore::notify::NotifierConfig;
    use shipcore::strategy::PlanError;
    use shipcore::testing::SimError;
    use shipcore::version::{parse_version, VersionError};

    let gate = GateConfig::from_json(
        r#"{"type": "command", "name": "t", "program": "true", "timeout": "0s"}"#,
    )
    .unwrap()
    .build()
    .err()
    .unwrap();
    let inner: &FieldError = &gate.0;
    assert_eq!(inner.field, "timeout", "{gate}");
    assert_eq!(
        gate.to_string(),
        format!("invalid gate configuration: {inner}")
    );

    let validator = ValidatorConfig::from_json(
        r#"{"type": "metric_threshold", "name": "", "query": "q", "critical": 1}"#,
    )
    .unwrap()
    .check()
    .unwrap_err();
    let inner: &FieldError = &validator.0;
    assert_eq!(*inner, FieldError::new("name", "must not be empty"));
    assert_eq!(
        validator.to_string(),
        format!("invalid validator configuration: {inner}")
    );

    let notifier: NotifierConfig = serde_json::from_str(
        r#"{"type": "webhook", "url": "https://x.invalid/h", "timeout": "0s"}"#,
    )
    .unwrap();
    let e = notifier.build().err().unwrap();
    assert_eq!(e.0, FieldError::new("timeout", "must be greater than zero"));
    assert_eq!(
        e.to_string(),
        "invalid notifier configuration: timeout: must be greater than zero"
    );

    let plan = Plan {
        strategy: "custom".into(),
        replicas: 0,
        steps: vec![Step::Promote],
    };
    let e = plan.validate(&Capabilities::ALL).unwrap_err();
    assert_eq!(
        e,
        PlanError::Invalid(FieldError::new("replicas", "must be at least 1"))
    );
    assert_eq!(e.to_string(), "replicas: must be at least 1");

    let e = check_identifier("stable.id", "a;b").unwrap_err();
    assert_eq!(e.field, "stable.id");
    assert!(
        e.to_string().starts_with("stable.id: \"a;b\" must start"),
        "{e}"
    );

    let VersionError::Invalid(e) = parse_version("tag", "x.y").unwrap_err() else {
        panic!("expected an invalid-version error");
    };
    assert_eq!(e.field, "tag");
    assert!(
        e.problem.starts_with("\"x.y\" is not a semantic version: "),
        "{e}"
    );

    let e = SimError::from(FieldError::new(
        "error_rate",
        "2 is not a fraction within 0..=1",
    ));
    assert_eq!(
        e.to_string(),
        "invalid simulator setting error_rate: 2 is not a fraction within 0..=1"
    );
}

/// `Plan::validate` is the one check of a plan's steps, and it refuses what the strategies
/// refuse in their configuration: a blank validator or gate name was refused by the
/// strategies but accepted in a hand-made plan (or a spec) before.
#[test]
fn plan_validate_refuses_blank_names_as_strategies_do() {
    let scale = Step::Scale {
        role: Role::Candidate,
        replicas: 2,
    };
    let plan = |step: Step| Plan {
        strategy: "custom".into(),
        replicas: 2,
        steps: vec![scale.clone(), step, Step::Promote],
    };
    let analysis = |validators: Vec<&str>| {
        Step::Analysis(AnalysisStep {
            validators: validators.into_iter().map(String::from).collect(),
            policy: AnalysisPolicy::every(Duration::from_secs(60), 3),
        })
    };
    let e = plan(analysis(vec!["errors", " "]))
        .validate(&Capabilities::ALL)
        .unwrap_err();
    assert_eq!(e.field(), "steps[1].validators[1]", "{e}");
    assert!(e.to_string().contains("must not be empty"), "{e}");
    let gate = Step::Gate {
        gates: vec!["".into()],
    };
    let e = plan(gate).validate(&Capabilities::ALL).unwrap_err();
    assert_eq!(e.field(), "steps[1].gates[0]", "{e}");
    assert!(plan(analysis(vec!["errors"]))
        .validate(&Capabilities::ALL)
        .is_ok());

    // The same rule and the same words through a strategy's configuration.
    let ctx = PlanContext {
        target: Target::new("web", "production"),
        stable: Some(v(1)),
        candidate: v(2),
        replicas: 2,
        capabilities: Capabilities::ALL,
    };
    let canary: StrategyConfig = serde_json::from_value(serde_json::json!({
        "type": "canary",
        "steps": [{"set_weight": 50}, {"analysis": {"validators": ["errors", " "],
            "policy": {"interval": "1m", "count": 3}}}]
    }))
    .unwrap();
    let e = canary.plan(&ctx).unwrap_err();
    assert_eq!(e.field(), "steps[1].analysis.validators[1]", "{e}");
    assert!(e.to_string().contains("must not be empty"), "{e}");
}
