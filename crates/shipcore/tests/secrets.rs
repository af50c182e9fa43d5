//! No secret in any message, and bounded HTTP (issue 9, items 10, 11, 12 and 15): the HTTP
//! gate, HTTP health and smoke validators and the webhook notifier against scripted servers
//! on loopback. URL userinfo and query strings never reach a message, secret headers and
//! webhook URLs never reach `Debug`, custom headers never follow a redirect to another host,
//! Slack payloads escape text from outside, bodies are read up to a cap and endpoint text in
//! messages is cut.
//!
//! The whole-rollout version (every artefact searched) is metrics-prom's tests/secrets.rs,
//! since it needs the Prometheus source too.
#![allow(clippy::unwrap_used)]

mod http_support;

use http_support::{Body, Response, Server};
use shipcore::gate::{Gate, GateContext, GateOutcome};
use shipcore::gate::{HttpConfig, JsonExpect};
use shipcore::model::{Revision, Target};
use shipcore::notify::{Notification, Notifier};
use shipcore::notify::{NotifierConfig, WebhookNotifier};
use shipcore::time::Timestamp;
use shipcore::validator::{Outcome, ValidationContext, Validator, ValidatorError, Verdict};
use shipcore::validator::{ValidatorConfig, ValidatorDeps};
use std::sync::Arc;
use std::time::{Duration, Instant};

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
];

fn assert_clean(what: &str, text: &str) {
    for s in SECRETS {
        assert!(!text.contains(s), "{what} shows {s}: {text}");
    }
}

fn ctx() -> ValidationContext {
    let cand = Revision::new("web-v2", "2.0.0".parse().unwrap(), "web:2.0.0");
    let stable = Revision::new("web-v1", "1.0.0".parse().unwrap(), "web:1.0.0");
    ValidationContext::new(
        "r1",
        &Target::new("web", "production"),
        &cand,
        Some(&stable),
        Timestamp(0),
    )
}

fn gate_ctx() -> GateContext {
    GateContext {
        rollout_id: "r1".into(),
        target: Target::new("web", "production"),
        candidate: Revision::new("web-v2", "2.0.0".parse().unwrap(), "web:2.0.0"),
        stable: None,
        now: Timestamp(0),
        approvals: Vec::new(),
        waiting_since: None,
    }
}

fn build(json: &str) -> Arc<dyn Validator> {
    ValidatorConfig::from_json(json)
        .unwrap()
        .build(&ValidatorDeps::default())
        .unwrap()
}

/// The text of a verdict or a validator error.
fn text(r: &Result<Verdict, ValidatorError>) -> String {
    match r {
        Ok(v) => format!(
            "{} {:?} {}",
            v.message,
            v.outcome,
            v.measurements
                .iter()
                .map(|m| m.name.clone())
                .collect::<Vec<_>>()
                .join(",")
        ),
        Err(e) => e.to_string(),
    }
}

fn reason(o: &GateOutcome) -> String {
    match o {
        GateOutcome::Pass => "pass".into(),
        GateOutcome::Block { reason }
        | GateOutcome::Wait { reason, .. }
        | GateOutcome::AwaitPerson { reason, .. } => reason.clone(),
    }
}

/// A port nothing listens on.
async fn closed_port() -> u16 {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    l.local_addr().unwrap().port()
}

fn gate(url: &str) -> HttpConfig {
    let mut c = HttpConfig::get("staging", url);
    c.headers
        .insert("Authorization".into(), "Bearer GATEHDR".into());
    c.timeout = Duration::from_secs(2);
    c
}

// ---------------------------------------------------------------------------------------
// Item 10: URLs in messages lose userinfo and query strings.

#[tokio::test]
async fn http_gate_reasons_show_no_userinfo_or_query() {
    let s = Server::start("127.0.0.1", |r| match r.path.as_str() {
        p if p.starts_with("/down") => Response::json(503, "{}"),
        _ => Response::json(200, r#"{"status": "pending"}"#),
    })
    .await;
    let with_secrets = |path: &str| {
        format!(
            "http://gateuser:GATEPASS@127.0.0.1:{}{path}?token=GATETOKEN",
            s.port
        )
    };
    let down = gate(&with_secrets("/down")).build().unwrap();
    let r = reason(&down.check(&gate_ctx()).await);
    assert!(r.contains("answered 503"), "{r}");
    assert!(
        r.contains(&format!("http://127.0.0.1:{}/down", s.port)),
        "{r}"
    );
    assert_clean("503 block reason", &r);

    let mut field = gate(&with_secrets("/approval"));
    field.json = Some(JsonExpect {
        path: "status".into(),
        equals: "approved".into(),
    });
    field.retry_after = Some(Duration::from_secs(30));
    let r = reason(&field.build().unwrap().check(&gate_ctx()).await);
    assert!(r.contains("field status is \"pending\""), "{r}");
    assert_clean("wait reason", &r);

    let port = closed_port().await;
    let url = format!("http://gateuser:GATEPASS@127.0.0.1:{port}/x?token=GATETOKEN");
    let r = reason(&gate(&url).build().unwrap().check(&gate_ctx()).await);
    assert!(r.contains("failed"), "{r}");
    assert_clean("unreachable block reason", &r);
    // The secrets were sent where they belong.
    let got = s.received();
    // (reqwest turns the URL's userinfo into basic authentication.)
    assert!(got[0].header("authorization").is_some());
    assert!(got[0].path.contains("token=GATETOKEN"));
}

#[tokio::test]
async fn health_verdicts_show_no_access_token() {
    let s = Server::start("127.0.0.1", |r| match r.path.as_str() {
        p if p.starts_with("/good") => {
            Response::json(200, r#"{"status": "healthy", "version": "2.0.0"}"#)
        }
        _ => Response::json(200, r#"{"status": "degraded", "version": "2.0.0"}"#),
    })
    .await;
    let cfg = |path: &str, unreachable: &str| {
        format!(
            r#"{{"type": "http_health", "name": "health", "timeout": "2s",
            "url": "http://127.0.0.1:{}{path}?access_token=HEALTHTOKEN",
            "headers": {{"X-Api-Key": "HEALTHKEY"}}, "unreachable": "{unreachable}"}}"#,
            s.port
        )
    };
    let pass = build(&cfg("/good", "error")).validate(&ctx()).await;
    assert_eq!(pass.as_ref().unwrap().outcome, Outcome::Pass);
    assert_clean("pass verdict", &text(&pass));
    let fail = build(&cfg("/bad", "error")).validate(&ctx()).await;
    assert_eq!(fail.as_ref().unwrap().outcome, Outcome::Fail);
    assert!(text(&fail).contains("/bad: status is"), "{}", text(&fail));
    assert_clean("fail verdict", &text(&fail));

    let port = closed_port().await;
    for unreachable in ["error", "fail"] {
        let json = cfg("/x", unreachable).replace(&s.port.to_string(), &port.to_string());
        let r = build(&json).validate(&ctx()).await;
        assert!(
            text(&r).contains(&format!("127.0.0.1:{port}/x")),
            "{}",
            text(&r)
        );
        assert_clean("unreachable verdict", &text(&r));
    }
    // A template with a missing variable: the error shows the template, redacted.
    let missing = cfg("/{{nope}}", "error");
    let r = build(&missing).validate(&ctx()).await;
    assert!(text(&r).contains("nope"), "{}", text(&r));
    assert_clean("template error", &text(&r));
}

#[tokio::test]
async fn smoke_verdicts_and_measurement_names_show_no_secrets() {
    let s = Server::start("127.0.0.1", |_| Response::json(500, "{}")).await;
    let cfg = |port: u16| {
        format!(
            r#"{{"type": "smoke", "name": "smoke", "timeout": "2s", "unreachable": "fail",
            "base_url": "http://smokeuser:SMOKEPASS@127.0.0.1:{port}",
            "headers": {{"X-Api-Key": "SMOKEKEY"}},
            "requests": [{{"path": "/api/items?api_key=SMOKEQUERY"}}]}}"#
        )
    };
    let r = build(&cfg(s.port)).validate(&ctx()).await;
    assert_eq!(r.as_ref().unwrap().outcome, Outcome::Fail);
    assert!(
        text(&r).contains("GET /api/items: answered 500"),
        "{}",
        text(&r)
    );
    assert_clean("smoke verdict", &text(&r));
    let r = build(&cfg(closed_port().await)).validate(&ctx()).await;
    assert!(text(&r).contains("failed"), "{}", text(&r));
    assert_clean("unreachable smoke verdict", &text(&r));
    let got = s.received();
    assert_eq!(got[0].header("x-api-key"), Some("SMOKEKEY"));
}

#[tokio::test]
async fn debug_of_configs_and_built_parts_shows_no_secret() {
    let gate_cfg = gate("http://gateuser:GATEPASS@127.0.0.1:1/gate?token=GATETOKEN");
    assert_clean("HttpConfig Debug", &format!("{gate_cfg:?}"));
    assert_clean(
        "HttpGate Debug",
        &format!("{:?}", gate_cfg.build().unwrap()),
    );
    let health = r#"{"type": "http_health", "name": "h",
        "url": "http://127.0.0.1:1/health?access_token=HEALTHTOKEN",
        "headers": {"X-Api-Key": "HEALTHKEY", "X-Tenant": "team-a"}}"#;
    let cfg = ValidatorConfig::from_json(health).unwrap();
    let shown = format!("{cfg:?}");
    assert_clean("HttpHealthConfig Debug", &shown);
    assert!(
        shown.contains("team-a") && shown.contains("/health"),
        "{shown}"
    );
    let smoke = r#"{"type": "smoke", "name": "s",
        "base_url": "http://smokeuser:SMOKEPASS@127.0.0.1:1",
        "headers": {"Authorization": "Basic SMOKEPASS"},
        "requests": [{"path": "/a?api_key=SMOKEQUERY", "headers": {"X-Api-Key": "SMOKEKEY"}}]}"#;
    let cfg = ValidatorConfig::from_json(smoke).unwrap();
    assert_clean("SmokeConfig Debug", &format!("{cfg:?}"));
    assert_clean(
        "SmokeTests Debug",
        &format!("{:?}", cfg.build(&ValidatorDeps::default()).unwrap().name()),
    );
    let url = "https://hooks.example.invalid/services/T0/B0/WEBHOOKSECRET";
    let n: NotifierConfig =
        serde_json::from_value(serde_json::json!({"type": "webhook", "url": url})).unwrap();
    let shown = format!("{n:?}");
    assert_clean("NotifierConfig Debug", &shown);
    assert!(shown.contains("hooks.example.invalid"), "{shown}");
    assert_clean(
        "WebhookNotifier Debug",
        &format!("{:?}", WebhookNotifier::new(url).unwrap()),
    );
}

// ---------------------------------------------------------------------------------------
// Item 11: headers never follow a redirect to another host.

#[tokio::test]
async fn smoke_headers_do_not_follow_a_redirect_to_another_host() {
    // The other host: 127.0.0.2 is loopback too, and another origin.
    let other = Server::start("127.0.0.2", |_| Response::json(200, r#"{"ok": true}"#)).await;
    let to = format!("http://127.0.0.2:{}/collect", other.port);
    let s = Server::start("127.0.0.1", move |r| match r.path.as_str() {
        "/away" => Response::redirect(&to),
        "/moved" => Response::redirect("/here"),
        _ => Response::json(200, r#"{"ok": true}"#),
    })
    .await;
    let cfg = |path: &str| {
        format!(
            r#"{{"type": "smoke", "name": "smoke", "timeout": "2s",
            "base_url": "http://127.0.0.1:{}", "headers": {{"X-Api-Key": "SMOKEKEY"}},
            "requests": [{{"path": "{path}"}}]}}"#,
            s.port
        )
    };
    let r = build(&cfg("/away")).validate(&ctx()).await.unwrap();
    assert!(
        other.received().is_empty(),
        "the other host got {:?}",
        other.received()
    );
    assert_eq!(r.outcome, Outcome::Fail, "{}", r.message);
    assert!(
        r.message.contains("answered 302") && r.message.contains("not followed"),
        "{}",
        r.message
    );
    // A redirect within the same origin is still followed, headers and all.
    let r = build(&cfg("/moved")).validate(&ctx()).await.unwrap();
    assert_eq!(r.outcome, Outcome::Pass, "{}", r.message);
    let here = s
        .received()
        .into_iter()
        .find(|q| q.path == "/here")
        .unwrap();
    assert_eq!(here.header("x-api-key"), Some("SMOKEKEY"));

    // The health validator and the gate use the same policy.
    let health = format!(
        r#"{{"type": "http_health", "name": "h", "url": "http://127.0.0.1:{}/away",
        "headers": {{"X-Api-Key": "HEALTHKEY"}}, "timeout": "2s"}}"#,
        s.port
    );
    let r = build(&health).validate(&ctx()).await.unwrap();
    assert_eq!(r.outcome, Outcome::Fail, "{}", r.message);
    let g = gate(&format!("http://127.0.0.1:{}/away", s.port))
        .build()
        .unwrap();
    assert!(matches!(
        g.check(&gate_ctx()).await,
        GateOutcome::Block { .. }
    ));
    assert!(other.received().is_empty(), "{:?}", other.received());
}

// ---------------------------------------------------------------------------------------
// Item 12: Slack payloads escape text from outside.

#[tokio::test]
async fn slack_payloads_escape_text_from_outside() {
    let s = Server::start("127.0.0.1", |_| Response::json(200, "ok")).await;
    let n = WebhookNotifier::new(&format!("{}/services/T0/B0/WEBHOOKSECRET", s.url)).unwrap();
    let hostile = Notification::RollbackStarted {
        rollout_id: "r<1>".into(),
        reason: "health: status is \"<!channel> see <https://evil.invalid|the docs> & fix\"".into(),
    };
    n.notify(&hostile).await.unwrap();
    let body: serde_json::Value = serde_json::from_slice(&s.received()[0].body).unwrap();
    let all = body.to_string();
    for raw in ["<!channel>", "<https://evil", "r<1>"] {
        assert!(!all.contains(raw), "{raw} unescaped in {all}");
    }
    assert_eq!(
        body["text"],
        "Rollout r&lt;1&gt; is rolling back: health: status is \"&lt;!channel&gt; see \
         &lt;https://evil.invalid|the docs&gt; &amp; fix\""
    );
    assert!(body["blocks"][1]["elements"][0]["text"]
        .as_str()
        .unwrap()
        .contains("r&lt;1&gt;"));
    // The operator's own template keeps its markup.
    let t = shipcore::notify::Templates {
        rollback: "<!here> {{rollout_id}} rolls back: {{reason}}".into(),
        ..Default::default()
    };
    let n = n.templates(t);
    assert_eq!(
        n.payload(&hostile)["text"]
            .as_str()
            .unwrap()
            .split(" rolls back")
            .next(),
        Some("<!here> r&lt;1&gt;")
    );
}

// ---------------------------------------------------------------------------------------
// Item 15: bodies are read up to a cap; endpoint text in messages is cut.

#[tokio::test]
async fn a_body_over_the_cap_is_an_error_read_no_further() {
    let big = 2 << 20; // 2 MiB, over the 1 MiB cap
    let s = Server::start("127.0.0.1", move |r| match r.path.as_str() {
        "/length" => Response {
            status: 200,
            headers: vec![],
            body: Body::Fixed(vec![b' '; big]),
        },
        _ => Response::stream(200, big, b' '),
    })
    .await;
    for path in ["/length", "/stream"] {
        let health = format!(
            r#"{{"type": "http_health", "name": "h", "url": "{}{path}", "timeout": "5s"}}"#,
            s.url
        );
        let r = build(&health).validate(&ctx()).await;
        let e = r.expect_err("an oversized answer is an error");
        assert!(
            e.message.contains("larger than 1048576 bytes"),
            "{path}: {e}"
        );
        let mut g = gate(&format!("{}{path}", s.url));
        g.json = Some(JsonExpect {
            path: "a".into(),
            equals: 1.into(),
        });
        let r = reason(&g.build().unwrap().check(&gate_ctx()).await);
        assert!(r.contains("larger than 1048576 bytes"), "{path}: {r}");
    }
}

#[tokio::test]
async fn endpoint_text_in_messages_is_cut_to_a_bound() {
    let huge = "d".repeat(150_000); // five of them stay under the 1 MiB cap
    let body = format!(
        r#"{{"status": "{huge}", "version": "{huge}", "ok": "{huge}",
        "dependencies": {{"{huge}": "{huge}"}}}}"#
    );
    let s = Server::start("127.0.0.1", move |_| Response::json(200, body.clone())).await;
    let health = format!(
        r#"{{"type": "http_health", "name": "h", "url": "{}/h", "timeout": "5s"}}"#,
        s.url
    );
    let v = build(&health).validate(&ctx()).await.unwrap();
    assert_eq!(v.outcome, Outcome::Fail);
    assert!(v.message.len() < 4096, "{} bytes", v.message.len());
    assert!(v.message.contains("more bytes)"), "{}", v.message);
    let smoke = format!(
        r#"{{"type": "smoke", "name": "s", "base_url": "{}", "timeout": "5s",
        "requests": [{{"path": "/s", "expect": [{{"path": "ok", "equals": 1}}]}}]}}"#,
        s.url
    );
    let v = build(&smoke).validate(&ctx()).await.unwrap();
    assert_eq!(v.outcome, Outcome::Fail);
    assert!(v.message.len() < 2048, "{} bytes", v.message.len());
    let mut g = gate(&format!("{}/g", s.url));
    g.json = Some(JsonExpect {
        path: "ok".into(),
        equals: 1.into(),
    });
    let r = reason(&g.build().unwrap().check(&gate_ctx()).await);
    assert!(r.len() < 2048, "{} bytes", r.len());
    assert!(r.contains("more bytes)"), "{r}");
}

#[tokio::test]
async fn a_webhook_error_body_is_not_read_to_its_end() {
    // 500, 256 KiB of body, then the server never finishes.
    let s = Server::start("127.0.0.1", |_| Response {
        status: 500,
        headers: vec![],
        body: Body::Stall {
            sent: 256 << 10,
            fill: b'e',
        },
    })
    .await;
    let n = WebhookNotifier::new(&format!("{}/hook", s.url))
        .unwrap()
        .timeout(Duration::from_secs(4));
    let started = Instant::now();
    let e = n
        .notify(&Notification::RollbackStarted {
            rollout_id: "r1".into(),
            reason: "x".into(),
        })
        .await
        .unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "took {:?}: the body was read until the timeout",
        started.elapsed()
    );
    assert!(e.0.contains("answered 500: eeee"), "{e}");
    assert!(e.0.len() < 400, "{e}");
}
