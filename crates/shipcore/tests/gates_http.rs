//! HTTP gate against a real local HTTP server on 127.0.0.1 that records what it received.
#![allow(clippy::unwrap_used)]

mod http_support;

use shipcore::gate::{Gate, GateContext, GateOutcome};
use shipcore::gate::{GateConfig, HttpConfig, JsonExpect};
use shipcore::model::{Revision, Target};
use shipcore::time::Timestamp;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;

#[derive(Debug, Clone)]
struct Request {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: String,
}

/// Serves fixed routes; returns the base URL and what it received.
async fn serve() -> (String, Arc<Mutex<Vec<Request>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let log = log.clone();
            tokio::spawn(async move {
                let Some(req) = read_request(&mut sock).await else {
                    return;
                };
                log.lock().unwrap().push(req.clone());
                let (status, body) = match req.path.as_str() {
                    "/health" => (200, r#"{"status":"ok","checks":[{"name":"db","ok":true}]}"#),
                    "/degraded" => (200, r#"{"status":"degraded"}"#),
                    "/down" => (503, r#"{"status":"down"}"#),
                    "/text" => (200, "fine"),
                    "/approve" if req.method == "POST" => (202, r#"{"approved":true}"#),
                    "/slow" => {
                        tokio::time::sleep(Duration::from_secs(3)).await;
                        (200, "{}")
                    }
                    _ => (404, "{}"),
                };
                let resp = format!(
                    "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = sock.write_all(resp.as_bytes()).await;
            });
        }
    });
    (base, seen)
}

async fn read_request(sock: &mut tokio::net::TcpStream) -> Option<Request> {
    let req = http_support::read_request(sock).await?;
    let body = req.body_text();
    Some(Request {
        method: req.method,
        path: req.path,
        headers: req
            .headers
            .into_iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), v))
            .collect(),
        body,
    })
}

fn ctx() -> GateContext {
    GateContext {
        rollout_id: "r1".into(),
        target: Target::new("web", "production"),
        candidate: Revision::new("web-v2", "2.0.0".parse().unwrap(), "web:2.0.0"),
        stable: None,
        now: Timestamp(0),
        approvals: vec![],
        waiting_since: None,
    }
}

fn json(path: &str, equals: serde_json::Value) -> Option<JsonExpect> {
    Some(JsonExpect {
        path: path.into(),
        equals,
    })
}

fn reason(o: GateOutcome) -> String {
    match o {
        GateOutcome::Block { reason }
        | GateOutcome::Wait { reason, .. }
        | GateOutcome::AwaitPerson { reason, .. } => reason,
        GateOutcome::Pass => panic!("expected a reason, got Pass"),
    }
}

#[tokio::test]
async fn healthy_staging_passes_with_status_and_json_field() {
    let (base, seen) = serve().await;
    let mut c = HttpConfig::get("staging", format!("{base}/health"));
    c.json = json("status", "ok".into());
    assert_eq!(c.build().unwrap().check(&ctx()).await, GateOutcome::Pass);
    // Nested paths, dotted or as JSON pointers.
    c.json = json("checks.0.ok", true.into());
    assert_eq!(c.build().unwrap().check(&ctx()).await, GateOutcome::Pass);
    c.json = json("/checks/0/name", "db".into());
    assert_eq!(c.build().unwrap().check(&ctx()).await, GateOutcome::Pass);
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 3);
    assert!(seen
        .iter()
        .all(|r| r.method == "GET" && r.path == "/health"));
}

#[tokio::test]
async fn json_paths_are_read_in_the_one_dialect_of_the_smoke_validator() {
    // Issue 15, item 2: the gate turned dots into a JSON pointer, so `checks[0].ok` and
    // `$.status` (which the smoke validator reads) were missing fields here.
    let (base, _) = serve().await;
    let mut c = HttpConfig::get("staging", format!("{base}/health"));
    for (path, equals) in [
        ("checks[0].ok", true.into()),
        ("$.status", "ok".into()),
        (" checks.0.name ", "db".into()),
    ] {
        c.json = json(path, equals);
        let outcome = c.build().unwrap().check(&ctx()).await;
        assert_eq!(outcome, GateOutcome::Pass, "{path}");
    }
    c.json = json("checks[1].ok", true.into());
    let r = reason(c.build().unwrap().check(&ctx()).await);
    assert!(r.contains("field checks[1].ok is missing"), "{r}");
    // A malformed path is refused when the gate is built, naming the field.
    for bad in ["checks[x].ok", "checks[0", "checks[0]x"] {
        c.json = json(bad, true.into());
        let e = c.build().err().unwrap();
        assert_eq!(e.field, "json.path", "{bad}");
        assert!(e.problem.contains(bad), "{bad}: {}", e.problem);
    }
}

#[tokio::test]
async fn wrong_status_or_field_blocks_saying_what_differs() {
    let (base, _) = serve().await;
    let r = reason(
        HttpConfig::get("s", format!("{base}/down"))
            .build()
            .unwrap()
            .check(&ctx())
            .await,
    );
    assert!(r.contains("answered 503, expected 2xx"), "{r}");

    let mut c = HttpConfig::get("s", format!("{base}/degraded"));
    c.json = json("status", "ok".into());
    let r = reason(c.build().unwrap().check(&ctx()).await);
    assert!(
        r.contains("field status is \"degraded\", expected \"ok\""),
        "{r}"
    );

    c.json = json("version", "2.0.0".into());
    let r = reason(c.build().unwrap().check(&ctx()).await);
    assert!(r.contains("field version is missing"), "{r}");

    let mut c = HttpConfig::get("s", format!("{base}/text"));
    c.json = json("status", "ok".into());
    let r = reason(c.build().unwrap().check(&ctx()).await);
    assert!(r.contains("did not answer JSON"), "{r}");

    // An explicit status list: 503 is what a drained staging must say.
    let mut c = HttpConfig::get("s", format!("{base}/down"));
    c.expect_status = vec![503];
    assert_eq!(c.build().unwrap().check(&ctx()).await, GateOutcome::Pass);
}

#[tokio::test]
async fn approval_endpoint_gets_method_headers_and_body() {
    let (base, seen) = serve().await;
    let cfg: GateConfig = serde_json::from_value(serde_json::json!({
        "type": "http", "name": "change-approval", "url": format!("{base}/approve"),
        "method": "post", "headers": {"authorization": "Bearer t0k"},
        "body": {"change": "CHG-7"}, "expect_status": [202],
        "json": {"path": "approved", "equals": true}
    }))
    .unwrap();
    let gate = cfg.build().unwrap();
    assert_eq!(gate.name(), "change-approval");
    assert_eq!(gate.check(&ctx()).await, GateOutcome::Pass);
    let req = seen.lock().unwrap()[0].clone();
    assert_eq!(req.method, "POST");
    assert!(req
        .headers
        .contains(&("authorization".into(), "Bearer t0k".into())));
    let body: serde_json::Value = serde_json::from_str(&req.body).unwrap();
    assert_eq!(body, serde_json::json!({"change": "CHG-7"}));
}

#[tokio::test]
async fn retry_after_turns_failures_into_waits() {
    let (base, _) = serve().await;
    let mut c = HttpConfig::get("s", format!("{base}/down"));
    c.retry_after = Some(Duration::from_secs(20));
    match c.build().unwrap().check(&ctx()).await {
        GateOutcome::Wait {
            retry_after,
            reason,
        } => {
            assert_eq!(retry_after, Duration::from_secs(20));
            assert!(reason.contains("503"), "{reason}");
        }
        other => panic!("expected Wait, got {other:?}"),
    }
}

#[tokio::test]
async fn unreachable_and_slow_endpoints_block() {
    let closed = {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        l.local_addr().unwrap()
    };
    let r = reason(
        HttpConfig::get("s", format!("http://{closed}/health"))
            .build()
            .unwrap()
            .check(&ctx())
            .await,
    );
    assert!(r.contains("failed"), "{r}");

    let (base, _) = serve().await;
    let mut c = HttpConfig::get("s", format!("{base}/slow"));
    c.timeout = Duration::from_millis(300);
    let started = Instant::now();
    let r = reason(c.build().unwrap().check(&ctx()).await);
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(r.contains("timed out after 300ms"), "{r}");
}

#[test]
fn config_errors_name_the_field() {
    let err = |v: serde_json::Value| {
        let c: HttpConfig = serde_json::from_value(v).unwrap();
        c.build().unwrap_err()
    };
    let base = |extra: serde_json::Value| {
        let mut v = serde_json::json!({"name": "s", "url": "http://127.0.0.1:1/h"});
        v.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        v
    };
    assert_eq!(
        err(base(serde_json::json!({"url": "not a url"}))).field,
        "url"
    );
    assert_eq!(
        err(base(serde_json::json!({"url": "ftp://x/y"}))).field,
        "url"
    );
    assert_eq!(
        err(base(serde_json::json!({"timeout": 0}))).field,
        "timeout"
    );
    assert_eq!(
        err(base(serde_json::json!({"method": "GE T"}))).field,
        "method"
    );
    let e = err(base(serde_json::json!({"expect_status": [200, 999]})));
    assert_eq!(e.field, "expect_status");
    assert!(e.problem.contains("999"));
    assert_eq!(
        err(base(serde_json::json!({"json": {"path": "", "equals": 1}}))).field,
        "json.path"
    );
    let e = GateConfig::from_json(
        r#"{"type": "http", "name": "s", "url": "http://x", "json": {"path": "a", "equal": 1}}"#,
    )
    .unwrap_err();
    assert!(e.problem.contains("unknown field `equal`"), "{e}");
}
