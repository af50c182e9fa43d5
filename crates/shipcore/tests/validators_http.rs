//! HTTP health and smoke tests against a real HTTP server on 127.0.0.1: status codes, JSON
//! body status, version match, dependencies, timeouts, unreachable endpoints, "401 means
//! up", JSON-path expectations, request bodies and headers.

#![allow(clippy::unwrap_used)]

mod validators_support;

use shipcore::validator::{Outcome, Validator};
use shipcore::validator::{ValidatorConfig, ValidatorDeps};
use std::sync::Arc;
use std::time::Duration;
use validators_support::*;

fn build(json: &str) -> Arc<dyn Validator> {
    ValidatorConfig::from_json(json)
        .unwrap()
        .build(&ValidatorDeps::default())
        .unwrap()
}

const HEALTH: &str = r#"{"type": "http_health", "name": "health",
    "url": "http://{{addr}}/health?rev={{revision}}", "timeout": "500ms"}"#;

#[tokio::test]
async fn healthy_body_with_the_deploying_version_passes() {
    let s = serve().await;
    s.route(
        "/health?rev=v2",
        200,
        r#"{"status": "healthy", "version": "v2.0.0",
            "dependencies": {"db": "healthy", "cache": {"status": "healthy"}}}"#,
    );
    let v = build(HEALTH);
    let r = v.validate(&ctx_for(&s)).await.unwrap();
    assert_eq!(r.outcome, Outcome::Pass, "{}", r.message);
    let status = r
        .measurements
        .iter()
        .find(|m| m.name == "http_status")
        .unwrap();
    assert_eq!(status.value, 200.0);
    let lat = r
        .measurements
        .iter()
        .find(|m| m.name == "latency_ms")
        .unwrap();
    assert!(lat.value >= 0.0 && lat.value < 500.0, "{}", lat.value);
    assert_eq!(lat.unit, "ms");
    let got = s.received();
    assert_eq!(
        (got[0].method.as_str(), got[0].path.as_str()),
        ("GET", "/health?rev=v2")
    );
}

#[tokio::test]
async fn wrong_version_unhealthy_status_or_dependency_fails() {
    let s = serve().await;
    let v = build(HEALTH);
    let cases = [
        (
            r#"{"status": "healthy", "version": "1.0.0"}"#,
            "reports version \"1.0.0\", deploying 2.0.0",
        ),
        (
            r#"{"status": "degraded", "version": "2.0.0"}"#,
            "status is \"degraded\"",
        ),
        (r#"{"version": "2.0.0"}"#, "no \"status\""),
        (r#"{"status": "healthy"}"#, "no \"version\""),
        (
            r#"{"status": "healthy", "version": "2.0.0", "dependencies": [{"name": "db", "status": "healthy"}, {"name": "queue", "status": "down"}]}"#,
            "dependency queue is \"down\"",
        ),
        (
            r#"{"status": "healthy", "version": "2.0.0", "dependencies": {"db": {"latency": 3}}}"#,
            "dependency db reports no status",
        ),
        ("<html>ok</html>", "not JSON"),
    ];
    for (body, want) in cases {
        s.route("/health?rev=v2", 200, body);
        let r = v.validate(&ctx_for(&s)).await.unwrap();
        assert_eq!(r.outcome, Outcome::Fail, "{body}: {}", r.message);
        assert!(r.message.contains(want), "{body}: {}", r.message);
    }
}

#[tokio::test]
async fn unexpected_status_fails_with_the_status_measured() {
    let s = serve().await;
    s.route(
        "/health?rev=v2",
        503,
        r#"{"status": "healthy", "version": "2.0.0"}"#,
    );
    let r = build(HEALTH).validate(&ctx_for(&s)).await.unwrap();
    assert_eq!(r.outcome, Outcome::Fail);
    assert!(
        r.message.contains("answered 503, expected 2xx"),
        "{}",
        r.message
    );
    assert_eq!(
        r.measurements
            .iter()
            .find(|m| m.name == "http_status")
            .unwrap()
            .value,
        503.0
    );
}

#[tokio::test]
async fn body_checks_can_be_turned_off() {
    let s = serve().await;
    s.route("/ping", 204, "");
    let v = build(
        r#"{"type": "http_health", "name": "ping", "url": "http://{{addr}}/ping",
            "healthy": [], "check_version": false, "check_dependencies": false,
            "expect_status": [204]}"#,
    );
    assert_eq!(
        v.validate(&ctx_for(&s)).await.unwrap().outcome,
        Outcome::Pass
    );
}

#[tokio::test]
async fn timeouts_and_unreachable_endpoints() {
    let s = serve().await;
    s.route_slow(
        "/health?rev=v2",
        200,
        r#"{"status": "healthy", "version": "2.0.0"}"#,
        Duration::from_secs(2),
    );
    // Default: the measurement could not be taken -> validator error naming the timeout.
    let e = build(HEALTH).validate(&ctx_for(&s)).await.unwrap_err();
    assert!(e.message.contains("timed out after 500ms"), "{}", e.message);
    // unreachable: fail -> a failed verdict.
    let v = build(
        r#"{"type": "http_health", "name": "health", "url": "http://{{addr}}/health?rev={{revision}}",
            "timeout": "300ms", "unreachable": "fail"}"#,
    );
    let r = v.validate(&ctx_for(&s)).await.unwrap();
    assert_eq!(r.outcome, Outcome::Fail);
    assert!(r.message.contains("timed out"), "{}", r.message);
    // A closed port: refused.
    let addr = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let mut c = ctx_for(&s);
    c.vars.insert("addr".into(), addr.to_string());
    let e = build(HEALTH).validate(&c).await.unwrap_err();
    assert!(e.message.contains("failed"), "{}", e.message);
}

#[tokio::test]
async fn max_latency_fails_a_slow_answer() {
    let s = serve().await;
    s.route_slow(
        "/h",
        200,
        r#"{"status": "healthy", "version": "2.0.0"}"#,
        Duration::from_millis(150),
    );
    let v = build(
        r#"{"type": "http_health", "name": "h", "url": "http://{{addr}}/h", "timeout": "2s", "max_latency": "50ms"}"#,
    );
    let r = v.validate(&ctx_for(&s)).await.unwrap();
    assert_eq!(r.outcome, Outcome::Fail);
    assert!(r.message.contains("limit 50 ms"), "{}", r.message);
    assert_eq!(r.measurements[0].threshold, Some(50.0));
}

const SMOKE: &str = r#"{"type": "smoke", "name": "smoke", "base_url": "http://{{addr}}",
  "headers": {"x-smoke": "1"},
  "requests": [
    {"path": "/"},
    {"name": "admin is up", "path": "/admin", "expect_status": [401, 403]},
    {"method": "post", "path": "/api/orders", "body": {"sku": "abc", "qty": 2},
     "headers": {"authorization": "Bearer t"}, "expect_status": [201],
     "expect": [{"path": "order.items[0].sku", "equals": "abc"}, {"path": "order.id"}]}
  ]}"#;

#[tokio::test]
async fn smoke_expectations_read_every_form_of_the_one_json_path_dialect() {
    // Issue 15, item 2: the smoke validator and the HTTP gate share one parser; each form
    // of its grammar (dotted, numeric key, `[i]`, `$`, JSON pointer) names the same field.
    let s = serve().await;
    s.route(
        "/api/orders",
        200,
        r#"{"order": {"id": 17, "items": [{"sku": "abc"}], "a/b": 1}}"#,
    );
    let v = build(
        r#"{"type": "smoke", "name": "smoke", "base_url": "http://{{addr}}",
          "requests": [{"path": "/api/orders", "expect": [
            {"path": "order.items[0].sku", "equals": "abc"},
            {"path": "order.items.0.sku", "equals": "abc"},
            {"path": "$.order.id", "equals": 17},
            {"path": "/order/items/0/sku", "equals": "abc"},
            {"path": "/order/a~1b", "equals": 1}]}]}"#,
    );
    let r = v.validate(&ctx_for(&s)).await.unwrap();
    assert_eq!(r.outcome, Outcome::Pass, "{}", r.message);
}

#[tokio::test]
async fn smoke_tests_pass_when_every_answer_is_as_expected() {
    let s = serve().await;
    s.route("/", 200, "{}");
    s.route("/admin", 401, r#"{"error": "unauthorized"}"#);
    s.route(
        "/api/orders",
        201,
        r#"{"order": {"id": 17, "items": [{"sku": "abc"}]}}"#,
    );
    let r = build(SMOKE).validate(&ctx_for(&s)).await.unwrap();
    assert_eq!(r.outcome, Outcome::Pass, "{}", r.message);
    assert_eq!(r.message, "3 of 3 requests as expected");
    let admin = r
        .measurements
        .iter()
        .find(|m| m.name == "admin is up.status")
        .unwrap();
    assert_eq!(admin.value, 401.0);
    assert!(r
        .measurements
        .iter()
        .any(|m| m.name == "POST /api/orders.latency_ms"));
    let got = s.received();
    assert_eq!(got.len(), 3);
    let post = &got[2];
    assert_eq!(post.method, "POST");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&post.body).unwrap(),
        serde_json::json!({"sku": "abc", "qty": 2})
    );
    let has = |r: &Received, k: &str, v: &str| r.headers.iter().any(|(a, b)| a == k && b == v);
    assert!(has(post, "authorization", "Bearer t") && has(post, "x-smoke", "1"));
    assert!(has(&got[0], "x-smoke", "1"));
}

#[tokio::test]
async fn smoke_tests_list_every_problem() {
    let s = serve().await;
    s.route("/", 500, "{}");
    s.route("/admin", 200, "{}"); // should be protected!
    s.route(
        "/api/orders",
        201,
        r#"{"order": {"items": [{"sku": "xyz"}]}}"#,
    );
    let r = build(SMOKE).validate(&ctx_for(&s)).await.unwrap();
    assert_eq!(r.outcome, Outcome::Fail);
    assert!(
        r.message.starts_with("3 of 3 requests not as expected"),
        "{}",
        r.message
    );
    assert!(
        r.message.contains("GET /: answered 500, expected 2xx"),
        "{}",
        r.message
    );
    assert!(
        r.message
            .contains("admin is up: answered 200, expected 401 or 403"),
        "{}",
        r.message
    );
    assert!(
        r.message
            .contains("order.items[0].sku is \"xyz\", expected \"abc\""),
        "{}",
        r.message
    );
    assert!(r.message.contains("order.id is missing"), "{}", r.message);
}

#[tokio::test]
async fn smoke_unreachable_is_an_error_by_default() {
    let addr = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let mut c = ctx(0);
    c.vars.insert("addr".into(), addr.to_string());
    let e = build(SMOKE).validate(&c).await.unwrap_err();
    assert!(e.message.starts_with("GET /: "), "{}", e.message);
}

#[test]
fn bad_http_config_names_the_field() {
    let field = |json: &str| {
        ValidatorConfig::from_json(json)
            .unwrap()
            .build(&ValidatorDeps::default())
            .err()
            .unwrap()
            .0
            .field
    };
    assert_eq!(
        field(r#"{"type": "http_health", "name": "h", "url": "ftp://x/{{addr}}"}"#),
        "url"
    );
    assert_eq!(
        field(r#"{"type": "http_health", "name": "h", "url": "http://{{addr"}"#),
        "url"
    );
    assert_eq!(
        field(r#"{"type": "http_health", "name": "h", "url": "http://x", "timeout": "0s"}"#),
        "timeout"
    );
    assert_eq!(
        field(r#"{"type": "http_health", "name": "h", "url": "http://x", "expect_status": [99]}"#),
        "expect_status"
    );
    assert_eq!(
        field(
            r#"{"type": "http_health", "name": "h", "url": "http://x", "timeout": "1s", "max_latency": "2s"}"#
        ),
        "max_latency"
    );
    assert_eq!(
        field(r#"{"type": "smoke", "name": "s", "base_url": "http://x", "requests": []}"#),
        "requests"
    );
    assert_eq!(
        field(
            r#"{"type": "smoke", "name": "s", "base_url": "http://x", "requests": [{"path": "/"}, {"method": "GE T", "path": "/"}]}"#
        ),
        "requests[1].method"
    );
    assert_eq!(
        field(
            r#"{"type": "smoke", "name": "s", "base_url": "http://x", "requests": [{"path": "/", "expect": [{"path": "a[0"}]}]}"#
        ),
        "requests[0].expect[0].path"
    );
    let e = ValidatorConfig::from_json(r#"{"type": "smoke", "name": "s", "base_url": "http://x", "requests": [{"path": "/", "status": 200}]}"#).unwrap_err();
    assert!(
        e.problem.contains("unknown field `status`"),
        "{}",
        e.problem
    );
}
