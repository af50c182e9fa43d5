//! No secret in any artefact (issue 9, item 10), and a bounded Prometheus answer (item 15).
//!
//! The whole-rollout test runs a canary on the simulator (SimWorld) whose every HTTP part
//! carries credentials: an HTTP gate (`user:pass@`, `?token=`, an `Authorization` header),
//! an HTTP health check (`?access_token=`, `X-Api-Key`), a smoke test (`user:pass@`,
//! `?api_key=`, `X-Api-Key`), a webhook notifier (secret path) and a Prometheus source
//! (`Authorization` and `X-Api-Key` headers) pointing to a fake server that fails, hangs up
//! and answers. Every artefact is then searched for every secret: the journal file, the
//! event log, the deployment record, the ship report, the runbook, the notifications the
//! webhook server received, everything traced, and `Debug` of every configuration and
//! built part. All servers listen on loopback only.
#![allow(clippy::unwrap_used)]

#[path = "../../shipcore/tests/http_support/mod.rs"]
mod http_support;

use http_support::{Response, Server};
use metrics_prom::{PrometheusConfig, PrometheusSource};
use shipcore::driver::Driver;
use shipcore::engine::{Phase, RolloutSpec, Runner};
use shipcore::gate::{HttpConfig, JsonExpect};
use shipcore::journal::FileJournal;
use shipcore::metrics::{MetricQuery, MetricsErrorKind, MetricsSource};
use shipcore::model::{AnalysisPolicy, AnalysisStep, Plan, Revision, Role, Step, Target};
use shipcore::notify::{LogNotifier, NotifierConfig};
use shipcore::record::{runbook, ship_report, Comparison, DeploymentRecord, RecordMeta};
use shipcore::testing::SimWorld;
use shipcore::validator::{ThresholdConfig, ValidatorConfig, ValidatorDeps};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const SECRETS: &[&str] = &[
    "gateuser",
    "GATEPASS",
    "GATETOKEN",
    "GATEHDR",
    "HEALTHTOKEN",
    "HEALTHKEY",
    "smokeuser",
    "SMOKEPASS",
    "SMOKEQUERY",
    "SMOKEKEY",
    "WEBHOOKSECRET",
    "PROMBEARER",
    "PROMKEY",
    "promuser",
    "PROMURLPASS",
];

fn leaks(text: &str) -> Vec<&'static str> {
    SECRETS
        .iter()
        .copied()
        .filter(|s| text.contains(s))
        .collect()
}

/// A `tracing` writer into a shared buffer.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

fn target() -> Target {
    Target::new("checkout", "production")
}
fn v1() -> Revision {
    Revision::new("checkout-v1", "1.4.0".parse().unwrap(), "checkout:1.4.0")
}
fn v2() -> Revision {
    Revision::new("checkout-v2", "1.5.0".parse().unwrap(), "checkout:1.5.0")
}

fn spec() -> RolloutSpec {
    let analysis = || {
        Step::Analysis(AnalysisStep {
            validators: vec!["error-rate".into(), "health".into(), "smoke".into()],
            policy: AnalysisPolicy::every(Duration::from_secs(60), 2),
        })
    };
    let plan = Plan {
        strategy: "canary".into(),
        replicas: 4,
        steps: vec![
            Step::Scale {
                role: Role::Candidate,
                replicas: 1,
            },
            Step::SetWeight { percent: 10 },
            analysis(),
            Step::Scale {
                role: Role::Candidate,
                replicas: 4,
            },
            Step::SetWeight { percent: 50 },
            analysis(),
            Step::Promote,
            Step::Retire {
                role: Role::Stable,
                after: Duration::from_secs(60),
            },
        ],
    };
    let mut s = RolloutSpec::new("checkout-1.5.0", target(), Some(v1()), v2(), plan);
    s.gates = vec!["staging".into()];
    s
}

/// Answers `healthy` (or `ok: true`) for the first `good` calls, then a failure.
fn after(counter: &AtomicUsize, good: usize) -> bool {
    counter.fetch_add(1, Ordering::SeqCst) < good
}

#[tokio::test]
async fn a_whole_rollout_leaves_no_secret_in_any_artefact() {
    let traced = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(traced.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    // The service's endpoints: the gate says "not yet" once, the health check and the smoke
    // test pass during the first analysis (2 measurements) and fail in the second.
    let (gate_calls, health_calls, smoke_calls) = (
        Arc::new(AtomicUsize::new(0)),
        Arc::new(AtomicUsize::new(0)),
        Arc::new(AtomicUsize::new(0)),
    );
    let (g, h, sm) = (
        gate_calls.clone(),
        health_calls.clone(),
        smoke_calls.clone(),
    );
    let app = Server::start("127.0.0.1", move |r| {
        if r.path.starts_with("/gate") {
            if g.fetch_add(1, Ordering::SeqCst) == 0 {
                Response::json(503, r#"{"status": "pending"}"#)
            } else {
                Response::json(200, r#"{"status": "approved"}"#)
            }
        } else if r.path.starts_with("/health") {
            let status = if after(&h, 2) { "healthy" } else { "degraded" };
            Response::json(
                200,
                format!(r#"{{"status": "{status}", "version": "1.5.0"}}"#),
            )
        } else {
            Response::json(200, format!(r#"{{"ok": {}}}"#, after(&sm, 2)))
        }
    })
    .await;
    // Prometheus: the first query's first attempt gets a 503, its second a hang-up, then
    // every attempt is answered.
    let prom_calls = Arc::new(AtomicUsize::new(0));
    let p = prom_calls.clone();
    let prom = Server::start("127.0.0.1", move |_| match p.fetch_add(1, Ordering::SeqCst) {
        0 => Response::json(
            503,
            r#"{"status":"error","errorType":"unavailable","error":"overloaded"}"#,
        ),
        1 => Response::hangup(),
        _ => Response::json(
            200,
            r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"0.01"]}]}}"#,
        ),
    })
    .await;
    let hook = Server::start("127.0.0.1", |_| Response::json(200, "ok")).await;

    let world = SimWorld::new(7);
    world.driver.seed_stable(&target(), &v1(), 4);

    let prom_cfg = PrometheusConfig::new(&prom.url)
        .header("Authorization", "Bearer PROMBEARER")
        .header("X-Api-Key", "PROMKEY")
        .header("X-Scope-OrgID", "team-a")
        .retries(3, Duration::from_millis(5), Duration::from_millis(20));
    let source = Arc::new(PrometheusSource::new(prom_cfg.clone()).unwrap());
    let error_rate =
        ThresholdConfig::above("error-rate", r#"error_rate{revision="{{revision}}"}"#, 0.05)
            .build(source.clone())
            .unwrap();
    let health_cfg = ValidatorConfig::from_json(&format!(
        r#"{{"type": "http_health", "name": "health", "timeout": "5s",
        "url": "{}/health/{{{{revision}}}}?access_token=HEALTHTOKEN",
        "headers": {{"X-Api-Key": "HEALTHKEY"}}}}"#,
        app.url
    ))
    .unwrap();
    let smoke_cfg = ValidatorConfig::from_json(&format!(
        r#"{{"type": "smoke", "name": "smoke", "timeout": "5s",
        "base_url": "http://smokeuser:SMOKEPASS@127.0.0.1:{}",
        "headers": {{"X-Api-Key": "SMOKEKEY"}},
        "requests": [{{"path": "/api/items?api_key=SMOKEQUERY",
                      "expect": [{{"path": "ok", "equals": true}}]}}]}}"#,
        app.port
    ))
    .unwrap();
    let mut gate_cfg = HttpConfig::get(
        "staging",
        format!(
            "http://gateuser:GATEPASS@127.0.0.1:{}/gate?token=GATETOKEN",
            app.port
        ),
    );
    gate_cfg
        .headers
        .insert("X-Auth".into(), "Bearer GATEHDR".into());
    gate_cfg.json = Some(JsonExpect {
        path: "status".into(),
        equals: "approved".into(),
    });
    gate_cfg.retry_after = Some(Duration::from_secs(30));
    let hook_cfg: NotifierConfig = serde_json::from_value(serde_json::json!({
        "type": "webhook", "url": format!("{}/services/T0/B0/WEBHOOKSECRET", hook.url)
    }))
    .unwrap();

    let deps = ValidatorDeps::default();
    let health = health_cfg.build(&deps).unwrap();
    let smoke = smoke_cfg.build(&deps).unwrap();
    let gate = Arc::new(gate_cfg.build().unwrap());
    let webhook = hook_cfg.build().unwrap();

    let dir = tempfile::tempdir().unwrap();
    let journal_path = dir.path().join("checkout.journal");
    let journal = Arc::new(FileJournal::open(&journal_path).unwrap().without_fsync());
    let driver: Arc<dyn Driver> = world.driver_arc();
    let caps = driver.capabilities();
    let mut runner = Runner::builder(driver, world.clock_arc(), journal)
        .validator(Arc::new(error_rate))
        .validator(health.clone())
        .validator(smoke.clone())
        .gate(gate.clone())
        .notifier(webhook.clone())
        .notifier(Arc::new(LogNotifier::new()))
        .build();
    let report = runner.start(spec()).await.unwrap();
    assert_eq!(
        report.status.phase,
        Phase::RolledBack,
        "{:?}",
        report.status
    );

    // Every part was called, with its secrets.
    assert!(
        gate_calls.load(Ordering::SeqCst) >= 2,
        "the gate waited once"
    );
    assert!(health_calls.load(Ordering::SeqCst) >= 3);
    assert!(prom_calls.load(Ordering::SeqCst) >= 3);
    let seen = prom.received();
    assert_eq!(seen[0].header("authorization"), Some("Bearer PROMBEARER"));
    assert_eq!(seen[0].header("x-api-key"), Some("PROMKEY"));
    let app_seen = app.received();
    assert!(app_seen
        .iter()
        .any(|r| r.path.contains("access_token=HEALTHTOKEN")
            && r.header("x-api-key") == Some("HEALTHKEY")));
    assert!(app_seen
        .iter()
        .any(|r| r.header("x-auth") == Some("Bearer GATEHDR")));
    assert!(!hook.received().is_empty());

    // The artefacts.
    let record = DeploymentRecord::from_report(&report, &RecordMeta::new("ci")).unwrap();
    let events = serde_json::to_string_pretty(&report.events).unwrap();
    // A refused Prometheus URL with credentials: the error does not repeat them.
    let refused = PrometheusSource::new(PrometheusConfig::new(format!(
        "http://promuser:PROMURLPASS@127.0.0.1:{}",
        prom.port
    )));
    let refused_text = match &refused {
        Ok(src) => match src.query(&MetricQuery::instant("up")).await {
            Ok(_) => format!("{src:?}"),
            Err(e) => format!("{e} {src:?}"),
        },
        Err(e) => e.to_string(),
    };
    let mut artefacts: Vec<(&str, String)> = vec![
        (
            "journal file",
            String::from_utf8_lossy(&std::fs::read(&journal_path).unwrap()).into_owned(),
        ),
        ("event log", events.clone()),
        ("record", serde_json::to_string_pretty(&record).unwrap()),
        (
            "ship report",
            ship_report(&record, Some(&Comparison::from_events(&report.events))),
        ),
        ("runbook", runbook(&spec(), &caps)),
        ("report Debug", format!("{report:?}")),
        ("Prometheus URL with credentials", refused_text),
    ];
    for r in hook.received() {
        // The secret path is where the notifications go, and only there.
        assert!(r.path.ends_with("/WEBHOOKSECRET"), "{}", r.path);
        artefacts.push(("notification", r.body_text()));
    }
    let debug = [
        format!("{prom_cfg:?}"),
        format!("{source:?}"),
        format!("{health_cfg:?}"),
        format!("{smoke_cfg:?}"),
        format!("{gate_cfg:?}"),
        format!("{gate:?}"),
        format!("{hook_cfg:?}"),
    ];
    for d in debug {
        artefacts.push(("Debug", d));
    }
    drop(_guard);
    let traced = String::from_utf8_lossy(&traced.0.lock().unwrap()).into_owned();
    artefacts.push(("tracing", traced.clone()));

    for (what, text) in &artefacts {
        if let Some(secret) = leaks(text).first() {
            let at = text.find(secret).unwrap();
            let boundary = |mut i: usize| {
                while !text.is_char_boundary(i) {
                    i -= 1;
                }
                i
            };
            let from = boundary(at.saturating_sub(300));
            let to = boundary((at + 100).min(text.len()));
            panic!("{what} shows {:?}, e.g. …{}…", leaks(text), &text[from..to]);
        }
    }
    // The artefacts say what happened, with the URLs shown redacted.
    assert!(
        events.contains(&format!("{}/health/checkout-v2", app.url)),
        "{events}"
    );
    assert!(events.contains("GET /api/items"), "{events}");
    assert!(
        events.contains(&format!("http://127.0.0.1:{}/gate", app.port)),
        "the gate's wait reason: {events}"
    );
    assert!(traced.contains("retrying Prometheus query"), "{traced}");
    let journal_text = &artefacts[0].1;
    assert!(
        journal_text.contains("/health/checkout-v2 healthy"),
        "{journal_text}"
    );
    let notified: String = hook.received().iter().map(|r| r.body_text()).collect();
    assert!(
        notified.contains("rolling back") && notified.contains("/health/checkout-v2"),
        "{notified}"
    );
    let refused = refused.unwrap_err();
    assert_eq!(refused.field, "url");
    assert!(refused.problem.contains("auth"), "{refused}");
}

// ---------------------------------------------------------------------------------------
// The Prometheus source on its own.

#[test]
fn credentials_in_the_url_are_refused_pointing_to_auth() {
    let e = PrometheusConfig::new("http://promuser:PROMURLPASS@127.0.0.1:9090")
        .check()
        .unwrap_err();
    assert_eq!(e.field, "url");
    assert!(e.problem.contains("`auth`"), "{e}");
    assert!(leaks(&e.to_string()).is_empty(), "{e}");
    let e = PrometheusConfig::new("http://promuser@127.0.0.1:9090")
        .check()
        .unwrap_err();
    assert_eq!(e.field, "url");
}

#[test]
fn secret_headers_are_hidden_in_debug() {
    let c = PrometheusConfig::new("http://127.0.0.1:9090")
        .header("Authorization", "Bearer PROMBEARER")
        .header("X-Api-Key", "PROMKEY")
        .header("X-Scope-OrgID", "team-a");
    for shown in [
        format!("{c:?}"),
        format!("{:?}", PrometheusSource::new(c.clone()).unwrap()),
    ] {
        assert!(leaks(&shown).is_empty(), "{shown}");
        assert!(shown.contains("team-a"), "{shown}");
    }
}

#[tokio::test]
async fn an_answer_over_max_response_bytes_is_a_protocol_error() {
    // A valid answer of 17 MiB (over the 16 MiB default), padded in its warnings.
    let pad = "w".repeat(17 << 20);
    let big = format!(
        r#"{{"status":"success","data":{{"resultType":"scalar","result":[1,"0.5"]}},"warnings":["{pad}"]}}"#
    );
    let small = r#"{"status":"success","data":{"resultType":"scalar","result":[1,"0.5"]}}"#;
    let s = Server::start("127.0.0.1", move |r| {
        if r.body_text().contains("big") {
            Response::json(200, big.clone())
        } else {
            Response::json(200, small)
        }
    })
    .await;
    let src = PrometheusSource::new(PrometheusConfig::new(&s.url)).unwrap();
    let e = src.query(&MetricQuery::instant("big")).await.unwrap_err();
    assert_eq!(e.kind, MetricsErrorKind::Protocol, "{e}");
    assert!(
        e.message
            .contains("larger than 16777216 bytes (max_response_bytes)"),
        "{e}"
    );
    assert_eq!(s.received().len(), 1, "not retried");
    assert_eq!(
        src.query(&MetricQuery::instant("small"))
            .await
            .unwrap()
            .single_value(),
        Ok(0.5)
    );
    // Configurable.
    let tiny = PrometheusSource::new(PrometheusConfig::new(&s.url).max_response_bytes(16)).unwrap();
    let e = tiny
        .query(&MetricQuery::instant("small"))
        .await
        .unwrap_err();
    assert!(e.message.contains("larger than 16 bytes"), "{e}");
    let e = PrometheusConfig::new(&s.url)
        .max_response_bytes(0)
        .check()
        .unwrap_err();
    assert_eq!(e.field, "max_response_bytes");
}

#[tokio::test]
async fn error_text_from_prometheus_is_cut_in_messages() {
    let long = "e".repeat(200_000);
    let body = format!(r#"{{"status":"error","errorType":"bad_data","error":"{long}"}}"#);
    let s = Server::start("127.0.0.1", move |_| Response::json(400, body.clone())).await;
    let src = PrometheusSource::new(PrometheusConfig::new(&s.url)).unwrap();
    let e = src.query(&MetricQuery::instant("x")).await.unwrap_err();
    assert_eq!(e.kind, MetricsErrorKind::BadQuery);
    assert!(e.message.len() < 2048, "{} bytes", e.message.len());
    assert!(e.message.contains("more bytes)"), "{}", &e.message[..200]);
}
