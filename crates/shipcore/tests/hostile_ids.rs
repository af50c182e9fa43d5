//! Hostile identifiers (issue 9, item 13): a revision id, service or environment crafted to
//! rewrite the query, URL, path or command it is inserted into.
//!
//! Two lines of defence, tested separately:
//! - `RolloutSpec::validate` refuses any identifier outside `[A-Za-z0-9][A-Za-z0-9._-]{0,127}`,
//!   naming the field;
//! - every validator escapes or checks the values it renders, so even a context that never
//!   went through `validate` (built here directly) cannot turn a bad canary into a pass.
//!
//! The metric validators run against a tiny PromQL-like source that parses
//! `name{label="value"} [* number] [# comment]` the way Prometheus would (string escapes
//! included): on the old code, the revision id `v2"} * 0 #` made it answer 0.

#![allow(clippy::unwrap_used)]

mod validators_support;

use async_trait::async_trait;
use shipcore::engine::RolloutSpec;
use shipcore::gate::{CommandConfig, FileGate, HttpConfig};
use shipcore::gate::{Gate, GateContext, GateOutcome};
use shipcore::metrics::{
    MetricQuery, MetricsError, MetricsErrorKind, MetricsSource, QueryResult, Sample, Series,
};
use shipcore::model::{Plan, Revision, Role, Step, Target};
use shipcore::time::Timestamp;
use shipcore::validator::{Outcome, ValidationContext, Validator};
use shipcore::validator::{ValidatorConfig, ValidatorDeps};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use validators_support::serve;

/// Breaks out of `metric{revision="..."}` and multiplies the selection by 0.
const ZERO_ID: &str = "v2\"} * 0 #";
/// Breaks out of the stable side's selector and inflates the baseline.
const INFLATE_ID: &str = "v1\"} * 1000 #";

/// A metrics source that evaluates `name{label="value", ...} [* number] [# comment]` with
/// PromQL string-literal rules, over series keyed by (metric, revision label).
struct MiniProm {
    data: BTreeMap<(String, String), Vec<f64>>,
    seen: Mutex<Vec<String>>,
}

impl MiniProm {
    fn new(series: &[(&str, &str, &[f64])]) -> Arc<Self> {
        Arc::new(MiniProm {
            data: series
                .iter()
                .map(|(m, r, v)| ((m.to_string(), r.to_string()), v.to_vec()))
                .collect(),
            seen: Mutex::new(Vec::new()),
        })
    }

    fn bad(expr: &str, why: &str) -> MetricsError {
        MetricsError::new(MetricsErrorKind::BadQuery, expr, why)
    }

    /// Parses a quoted string at the start of `s`; returns its value and the rest.
    fn string(s: &str) -> Option<(String, &str)> {
        let mut chars = s.char_indices();
        let (_, quote) = chars.next()?;
        if quote != '"' && quote != '\'' {
            return None;
        }
        let mut out = String::new();
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => {
                    let (_, e) = chars.next()?;
                    match e {
                        'n' => out.push('\n'),
                        'r' => out.push('\r'),
                        't' => out.push('\t'),
                        'x' => {
                            let h: String = [chars.next()?.1, chars.next()?.1].iter().collect();
                            out.push(char::from(u8::from_str_radix(&h, 16).ok()?));
                        }
                        '\\' | '"' | '\'' => out.push(e),
                        _ => return None,
                    }
                }
                '\n' => return None,
                c if c == quote => return Some((out, &s[i + 1..])),
                c => out.push(c),
            }
        }
        None
    }

    fn eval(&self, expr: &str) -> Result<Vec<f64>, MetricsError> {
        let open = expr
            .find('{')
            .ok_or_else(|| Self::bad(expr, "no selector"))?;
        let metric = expr[..open].trim();
        let mut rest = &expr[open + 1..];
        let mut labels = BTreeMap::new();
        loop {
            rest = rest.trim_start();
            if let Some(r) = rest.strip_prefix('}') {
                rest = r;
                break;
            }
            let eq = rest.find('=').ok_or_else(|| Self::bad(expr, "no ="))?;
            let name = rest[..eq].trim().to_string();
            let (value, r) = Self::string(rest[eq + 1..].trim_start())
                .ok_or_else(|| Self::bad(expr, "bad string"))?;
            labels.insert(name, value);
            rest = r.trim_start().trim_start_matches(',');
        }
        // A comment runs to the end of the line.
        let code = rest.split('#').next().unwrap_or("").trim();
        let factor = match code.strip_prefix('*') {
            Some(n) => n
                .trim()
                .parse::<f64>()
                .map_err(|_| Self::bad(expr, "bad factor"))?,
            None if code.is_empty() => 1.0,
            None => return Err(Self::bad(expr, "unexpected text")),
        };
        let revision = labels.get("revision").cloned().unwrap_or_default();
        Ok(self
            .data
            .get(&(metric.to_string(), revision))
            .map(|v| v.iter().map(|x| x * factor).collect())
            .unwrap_or_default())
    }
}

#[async_trait]
impl MetricsSource for MiniProm {
    async fn query(&self, query: &MetricQuery) -> Result<QueryResult, MetricsError> {
        self.seen.lock().unwrap().push(query.expr.clone());
        let values = self.eval(&query.expr)?;
        if values.is_empty() {
            return Ok(QueryResult::Vector(vec![]));
        }
        let series = |samples: Vec<Sample>| Series {
            labels: Default::default(),
            samples,
        };
        Ok(match query.range {
            Some(_) => QueryResult::Matrix(vec![series(
                values
                    .iter()
                    .enumerate()
                    .map(|(i, v)| Sample {
                        at: Timestamp(i as u64 * 30_000),
                        value: *v,
                    })
                    .collect(),
            )]),
            None => QueryResult::Vector(vec![series(vec![Sample {
                at: Timestamp(0),
                value: values.last().copied().unwrap_or(f64::NAN),
            }])]),
        })
    }
}

fn rev(id: &str, version: &str) -> Revision {
    Revision::new(id, version.parse().unwrap(), format!("web:{version}"))
}

/// A context built directly (never validated), judging `candidate` against `stable`.
fn ctx(service: &str, candidate: &str, stable: &str) -> ValidationContext {
    ValidationContext::new(
        "r1",
        &Target::new(service, "production"),
        &rev(candidate, "2.0.0"),
        Some(&rev(stable, "1.0.0")),
        Timestamp(0),
    )
}

fn metric_validator(src: &Arc<MiniProm>, json: &str) -> Arc<dyn Validator> {
    ValidatorConfig::from_json(json)
        .unwrap()
        .build(&ValidatorDeps::with_metrics(src.clone()))
        .unwrap()
}

fn plain_validator(json: &str) -> Arc<dyn Validator> {
    ValidatorConfig::from_json(json)
        .unwrap()
        .build(&ValidatorDeps::default())
        .unwrap()
}

#[tokio::test]
async fn threshold_measures_the_hostile_revision_itself_instead_of_a_forged_zero() {
    // The hostile revision has a 50 % error rate; a revision really named "v2" is clean.
    let src = MiniProm::new(&[
        ("error_rate", ZERO_ID, &[0.5]),
        ("error_rate", "v2", &[0.0]),
    ]);
    let v = metric_validator(
        &src,
        r#"{"type": "metric_threshold", "name": "errors",
            "query": "error_rate{revision=\"{{revision}}\"}", "critical": 0.05}"#,
    );
    let r = v.validate(&ctx("web", ZERO_ID, "v1")).await.unwrap();
    assert_eq!(r.outcome, Outcome::Fail, "{} ({:?})", r.message, src.seen);
    assert_eq!(
        src.seen.lock().unwrap().as_slice(),
        [r#"error_rate{revision="v2\"} * 0 #"}"#]
    );
}

#[tokio::test]
async fn baseline_compares_the_hostile_candidate_and_stable_as_they_are() {
    let cfg = r#"{"type": "baseline", "name": "vs-stable", "rules": [
        {"metric": "error_rate", "query": "error_rate{revision=\"{{revision}}\"}", "tolerance": 0.01}]}"#;
    // A hostile candidate: its own 50 % errors, not a forged 0.
    let src = MiniProm::new(&[
        ("error_rate", ZERO_ID, &[0.5]),
        ("error_rate", "v2", &[0.0]),
        ("error_rate", "v1", &[0.01]),
    ]);
    let r = metric_validator(&src, cfg)
        .validate(&ctx("web", ZERO_ID, "v1"))
        .await
        .unwrap();
    assert_eq!(r.outcome, Outcome::Fail, "{}", r.message);
    // A hostile stable id: its own 1 % errors, not a baseline inflated 1000 times.
    let src = MiniProm::new(&[
        ("error_rate", "v2", &[0.5]),
        ("error_rate", "v1", &[0.01]),
        ("error_rate", INFLATE_ID, &[0.01]),
    ]);
    let r = metric_validator(&src, cfg)
        .validate(&ctx("web", "v2", INFLATE_ID))
        .await
        .unwrap();
    assert_eq!(r.outcome, Outcome::Fail, "{}", r.message);
}

#[tokio::test]
async fn judge_compares_the_hostile_candidate_with_its_real_samples() {
    let bad: Vec<f64> = (0..20).map(|i| 0.5 + f64::from(i) * 0.001).collect();
    let good: Vec<f64> = (0..20).map(|i| 0.01 + f64::from(i) * 0.0001).collect();
    let src = MiniProm::new(&[
        ("errors", ZERO_ID, &bad),
        ("errors", "v2", &good),
        ("errors", "v1", &good),
    ]);
    let v = metric_validator(
        &src,
        r#"{"type": "judge", "name": "judge", "window": "10m", "step": "30s",
            "metrics": [{"name": "errors", "query": "errors{revision=\"{{revision}}\"}", "critical": true}]}"#,
    );
    let r = v.validate(&ctx("web", ZERO_ID, "v1")).await.unwrap();
    assert_eq!(r.outcome, Outcome::Fail, "{}", r.message);
}

#[tokio::test]
async fn a_metric_query_with_a_value_outside_quotes_is_an_error_not_a_pass() {
    let src = MiniProm::new(&[("error_rate", "v2", &[0.0])]);
    let v = metric_validator(
        &src,
        r#"{"type": "metric_threshold", "name": "errors",
            "query": "error_rate_{{service}}{revision=\"v2\"}", "critical": 0.05}"#,
    );
    let e = v
        .validate(&ctx("x{revision=\"v2\"} * 0 #", "v2", "v1"))
        .await
        .unwrap_err();
    assert!(
        e.message.contains("{{service}}") && e.message.contains("outside a quoted string"),
        "{e}"
    );
    assert!(src.seen.lock().unwrap().is_empty());
}

#[tokio::test]
async fn http_health_cannot_be_sent_to_another_host_or_path_by_a_service_or_revision() {
    let evil = serve().await;
    evil.route("/", 200, r#"{"status": "healthy", "version": "2.0.0"}"#);
    evil.route(
        "/admin",
        200,
        r#"{"status": "healthy", "version": "2.0.0"}"#,
    );
    let evil_host = evil.base.trim_start_matches("http://").to_string();
    // A service naming another host: `http://127.0.0.1:PORT/#.internal:1/health`.
    let v = plain_validator(
        r#"{"type": "http_health", "name": "health", "url": "http://{{service}}.invalid:1/health",
            "timeout": "500ms", "unreachable": "fail"}"#,
    );
    let hostile = format!("{evil_host}/#");
    let res = v.validate(&ctx(&hostile, "v2", "v1")).await;
    assert!(
        !matches!(&res, Ok(r) if r.outcome == Outcome::Pass),
        "{res:?}"
    );
    let e = res.unwrap_err();
    assert!(
        e.message.contains("{{service}}") && e.message.contains("host"),
        "{e}"
    );
    assert!(evil.received().is_empty(), "{:?}", evil.received());

    // A revision climbing out of the path: `/health/x/../../admin`.
    let mut c = ctx("web", "x/../../admin", "v1");
    c.vars.insert("addr".into(), evil_host.clone());
    let v = plain_validator(
        r#"{"type": "http_health", "name": "health", "url": "http://{{addr}}/health/{{revision}}",
            "timeout": "500ms"}"#,
    );
    let r = v.validate(&c).await.unwrap();
    assert_ne!(r.outcome, Outcome::Pass, "{}", r.message);
    let paths: Vec<String> = evil.received().into_iter().map(|r| r.path).collect();
    assert_eq!(paths, ["/health/x%2F..%2F..%2Fadmin"]);
}

#[tokio::test]
async fn smoke_paths_percent_encode_hostile_values() {
    let s = serve().await;
    s.route("/admin", 200, "{}");
    let mut c = ctx("web", "../admin", "v1");
    c.vars.insert(
        "addr".into(),
        s.base.trim_start_matches("http://").to_string(),
    );
    let v = plain_validator(
        r#"{"type": "smoke", "name": "smoke", "base_url": "http://{{addr}}", "timeout": "500ms",
            "requests": [{"path": "/api/{{revision}}?env={{environment}}"}]}"#,
    );
    let r = v.validate(&c).await.unwrap();
    assert_eq!(r.outcome, Outcome::Fail, "{}", r.message);
    let paths: Vec<String> = s.received().into_iter().map(|r| r.path).collect();
    assert_eq!(paths, ["/api/..%2Fadmin?env=production"]);
}

#[tokio::test]
async fn log_pattern_file_and_command_cannot_be_redirected() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("logs")).unwrap();
    std::fs::write(dir.path().join("quiet.log"), "all good\n").unwrap();
    let file_cfg = format!(
        r#"{{"type": "log_pattern", "name": "errors", "pattern": "ERROR", "start": "beginning",
            "file": "{}/logs/{{{{revision}}}}.log"}}"#,
        dir.path().display()
    );
    // `logs/../quiet.log` would read a quiet file instead of the revision's own log.
    let e = plain_validator(&file_cfg)
        .validate(&ctx("web", "../quiet", "v1"))
        .await
        .unwrap_err();
    assert!(e.message.contains("{{revision}}"), "{e}");

    // Through `sh -c`, a revision id would silence the command's output.
    let v = plain_validator(
        r#"{"type": "log_pattern", "name": "errors", "pattern": "ERROR", "max": 0,
            "command": ["sh", "-c", "echo ERROR booting {{revision}}"]}"#,
    );
    let res = v.validate(&ctx("web", "v2 >/dev/null", "v1")).await;
    assert!(
        !matches!(&res, Ok(r) if r.outcome == Outcome::Pass),
        "{res:?}"
    );
    // An argument of its own that starts with '-' would be read as an option.
    let v = plain_validator(
        r#"{"type": "log_pattern", "name": "errors", "pattern": "ERROR", "max": 0,
            "command": ["grep", "-c", "ERROR", "{{revision}}"]}"#,
    );
    let e = v
        .validate(&ctx("web", "--version", "v1"))
        .await
        .unwrap_err();
    assert!(e.message.contains("option"), "{e}");
    // A safe id still runs.
    let r = plain_validator(
        r#"{"type": "log_pattern", "name": "errors", "pattern": "ERROR", "max": 0,
            "command": ["sh", "-c", "echo ERROR booting {{revision}}"]}"#,
    )
    .validate(&ctx("web", "web-v2.1", "v1"))
    .await
    .unwrap();
    assert_eq!(r.outcome, Outcome::Fail, "{}", r.message);
}

fn gate_ctx(service: &str, environment: &str, candidate: &str) -> GateContext {
    GateContext {
        rollout_id: "r1".into(),
        target: Target::new(service, environment),
        candidate: rev(candidate, "2.0.0"),
        stable: Some(rev("v1\n; rm -rf /", "1.0.0")),
        now: Timestamp(0),
        approvals: vec![],
        waiting_since: None,
    }
}

#[tokio::test]
async fn gates_pass_hostile_ids_as_data_never_as_code_or_address() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("pwned");
    let hostile = format!(
        "$(touch {}); `touch {}`",
        marker.display(),
        marker.display()
    );
    let c = gate_ctx(&hostile, &hostile, ZERO_ID);

    // Command gate: the ids reach the program as environment values, never as shell code.
    let mut cfg = CommandConfig::new(
        "cmd",
        r#"test "$SHIPCORE_SERVICE" = "$WANT" && test "$SHIPCORE_ENVIRONMENT" = "$WANT""#,
        &[],
    );
    cfg.shell = true;
    cfg.env.insert("WANT".into(), hostile.clone());
    let out = cfg.build().unwrap().check(&c).await;
    assert_eq!(out, GateOutcome::Pass);
    assert!(!marker.exists());

    // HTTP gate: the URL is the configured one whatever the ids.
    let s = serve().await;
    s.route("/ready", 200, "{}");
    let g = HttpConfig::get("staging", format!("{}/ready", s.base))
        .build()
        .unwrap();
    assert_eq!(g.check(&c).await, GateOutcome::Pass);
    let paths: Vec<String> = s.received().into_iter().map(|r| r.path).collect();
    assert_eq!(paths, ["/ready"]);

    // File gate: the path is the configured one whatever the ids.
    std::fs::write(dir.path().join("runbook.md"), "# runbook").unwrap();
    let g = FileGate::exists("runbook", dir.path().join("runbook.md"));
    assert_eq!(g.check(&c).await, GateOutcome::Pass);
    let g = FileGate::exists("runbook", dir.path().join("missing.md"));
    assert!(matches!(g.check(&c).await, GateOutcome::Block { .. }));
    assert!(!marker.exists());
}

fn spec(service: &str, environment: &str, stable: &str, candidate: &str) -> RolloutSpec {
    RolloutSpec::new(
        "r1",
        Target::new(service, environment),
        Some(rev(stable, "1.0.0")),
        rev(candidate, "2.0.0"),
        Plan {
            strategy: "recreate".into(),
            replicas: 1,
            steps: vec![
                Step::Scale {
                    role: Role::Candidate,
                    replicas: 1,
                },
                Step::Retire {
                    role: Role::Stable,
                    after: Default::default(),
                },
            ],
        },
    )
}

#[test]
fn validate_refuses_hostile_identifiers_naming_the_field() {
    assert!(spec("web", "production", "web-v1", "web-v2.0_rc1")
        .validate()
        .is_ok());
    assert!(spec("w", "p", "1", &"a".repeat(128)).validate().is_ok());
    let hostile = [
        ZERO_ID,
        "127.0.0.1:9/#",
        "a;b",
        "a\nb",
        "a b",
        "../x",
        "-v",
        ".hidden",
        "",
        "é",
        "a/b",
        "a%2F",
    ];
    let long = "a".repeat(129);
    for bad in hostile.iter().copied().chain([long.as_str()]) {
        for (field, s) in [
            ("target.service", spec(bad, "production", "v1", "v2")),
            ("target.environment", spec("web", bad, "v1", "v2")),
            ("stable.id", spec("web", "production", bad, "v2")),
            ("candidate.id", spec("web", "production", "v1", bad)),
            ("target.namespace", {
                let mut s = spec("web", "production", "v1", "v2");
                s.target.namespace = Some(bad.to_string());
                s
            }),
        ] {
            let e = s.validate().unwrap_err().to_string();
            assert!(e.starts_with(&format!("{field}: ")), "{bad:?}: {e}");
            assert!(
                e.contains("[A-Za-z0-9]")
                    || e.contains("letters, digits")
                    || e.contains("at most 128"),
                "{bad:?}: {e}"
            );
        }
    }
}
