//! ValidatorConfig: every type round-trips through JSON, builds into a validator with its
//! name, checks without dependencies, and names the field when something is wrong.

#![allow(clippy::unwrap_used)]

mod validators_support;

use shipcore::validator::{ValidatorConfig, ValidatorDeps};
use std::sync::Arc;
use validators_support::Scripted;

const ALL: &[&str] = &[
    r#"{"type": "metric_threshold", "name": "errors", "query": "error_rate{revision=\"{{revision}}\"}",
        "warning": 0.01, "critical": 0.05, "for": "2m"}"#,
    r#"{"type": "baseline", "name": "vs-stable", "rules": [{"metric": "p95",
        "query": "latency_p95{revision=\"{{revision}}\"}", "ratio": 1.1}]}"#,
    r#"{"type": "judge", "name": "judge", "window": "10m",
        "metrics": [{"name": "errors", "query": "e{revision=\"{{revision}}\"}", "critical": true}]}"#,
    r#"{"type": "http_health", "name": "health", "url": "http://127.0.0.1:9/health"}"#,
    r#"{"type": "smoke", "name": "smoke", "base_url": "http://127.0.0.1:9", "requests": [{"path": "/"}]}"#,
    r#"{"type": "log_pattern", "name": "logs", "pattern": "panic", "command": ["true"]}"#,
];

#[test]
fn every_type_round_trips_and_builds() {
    let deps = ValidatorDeps::with_metrics(Arc::new(Scripted::new()));
    let mut names = Vec::new();
    for json in ALL {
        let cfg = ValidatorConfig::from_json(json).unwrap();
        let again: ValidatorConfig =
            serde_json::from_str(&serde_json::to_string(&cfg).unwrap()).unwrap();
        assert_eq!(again, cfg, "{json}");
        cfg.check().unwrap();
        let v = cfg.build(&deps).unwrap();
        assert_eq!(v.name(), cfg.name());
        names.push(v.name().to_string());
    }
    assert_eq!(
        names,
        ["errors", "vs-stable", "judge", "health", "smoke", "logs"]
    );
}

#[test]
fn metric_validators_need_a_metrics_source() {
    for json in ALL {
        let cfg = ValidatorConfig::from_json(json).unwrap();
        let built = cfg.build(&ValidatorDeps::default());
        if cfg.needs_metrics() {
            let e = built.err().unwrap();
            assert_eq!(e.field, "metrics", "{json}");
            assert!(e.to_string().contains("no metrics source"), "{e}");
        } else {
            assert!(built.is_ok(), "{json}");
        }
    }
}

#[test]
fn json_errors_name_the_problem() {
    let e = ValidatorConfig::from_json(r#"{"type": "prometheus", "name": "x"}"#).unwrap_err();
    assert_eq!(e.field, "<json>");
    assert!(
        e.problem.contains("unknown variant `prometheus`"),
        "{}",
        e.problem
    );
    let e =
        ValidatorConfig::from_json(r#"{"type": "metric_threshold", "name": "x", "query": "q"}"#)
            .unwrap_err();
    assert!(
        e.problem.contains("missing field `critical`"),
        "{}",
        e.problem
    );
    let e = ValidatorConfig::from_json(
        r#"{"type": "metric_threshold", "name": "x", "query": "q", "critical": "high"}"#,
    )
    .unwrap_err();
    assert!(e.problem.contains("invalid type"), "{}", e.problem);
    let cfg = ValidatorConfig::from_json(r#"{"type": "judge", "name": "j", "window": "10m", "confidence": 2, "metrics": [{"name": "m", "query": "q"}]}"#).unwrap();
    let e = cfg.check().unwrap_err();
    assert_eq!(e.field, "confidence");
    assert!(
        e.to_string()
            .starts_with("invalid validator configuration: confidence:"),
        "{e}"
    );
}
