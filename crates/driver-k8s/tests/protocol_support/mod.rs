//! A scripted apiserver on a tower-test mock pair: every request is recorded (method,
//! path, query, content type, body) and answered by a closure.
#![allow(dead_code, clippy::unwrap_used)]

use http::{Request, Response};
use kube::client::Body;
use serde_json::{json, Value};
use shipcore_driver_k8s::{K8sConfig, K8sDriver};
use std::sync::{Arc, Mutex};

#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub query: String,
    pub content_type: String,
    pub body: Value,
}

impl Seen {
    pub fn line(&self) -> String {
        format!("{} {}", self.method, self.path)
    }
    pub fn has_query(&self, kv: &str) -> bool {
        self.query.split('&').any(|p| p == kv)
    }
}

pub type Answer = (u16, Value);

/// A driver whose requests `answer` serves; the returned log records them.
pub fn driver(
    cfg: K8sConfig,
    answer: impl Fn(&Seen, usize) -> Answer + Send + Sync + 'static,
) -> (K8sDriver, Arc<Mutex<Vec<Seen>>>) {
    let (mock, mut handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let log = Arc::new(Mutex::new(Vec::new()));
    let l = log.clone();
    tokio::spawn(async move {
        while let Some((req, send)) = handle.next_request().await {
            let (parts, body) = req.into_parts();
            let bytes = body.collect_bytes().await.unwrap();
            let body: Value = if bytes.is_empty() {
                Value::Null
            } else {
                serde_json::from_slice(&bytes)
                    .unwrap_or(Value::String(String::from_utf8_lossy(&bytes).into()))
            };
            let seen = Seen {
                method: parts.method.to_string(),
                path: parts.uri.path().to_string(),
                query: parts.uri.query().unwrap_or("").to_string(),
                content_type: parts
                    .headers
                    .get(http::header::CONTENT_TYPE)
                    .map(|v| v.to_str().unwrap().to_string())
                    .unwrap_or_default(),
                body,
            };
            let n = l.lock().unwrap().len();
            let (code, value) = answer(&seen, n);
            l.lock().unwrap().push(seen);
            let text = match value {
                Value::String(s) => s,
                v => v.to_string(),
            };
            let resp = Response::builder()
                .status(code)
                .header("content-type", "application/json")
                .body(Body::from(text.into_bytes()))
                .unwrap();
            send.send_response(resp);
        }
    });
    let client = kube::Client::new(mock, "default");
    (K8sDriver::new(client, cfg).unwrap(), log)
}

pub fn status(code: u16, reason: &str, message: &str) -> Answer {
    (
        code,
        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
               "message": message, "reason": reason, "code": code}),
    )
}

pub fn not_found() -> Answer {
    status(404, "NotFound", "not found")
}

/// A Deployment the driver owns, for revision `id`, `replicas` of which are available.
pub fn owned_deployment(name: &str, id: &str, replicas: i32, available: i32) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": "default", "generation": 1, "resourceVersion": "7",
            "labels": {"app.kubernetes.io/managed-by": "shipcore"},
            "annotations": {"shipcore.io/revision-id": id}},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"a": "b"}}, "template": {}},
        "status": {"observedGeneration": 1, "availableReplicas": available, "updatedReplicas": available}
    })
}

pub fn owned_service(name: &str, id: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Service",
        "metadata": {"name": name, "namespace": "default",
            "labels": {"app.kubernetes.io/managed-by": "shipcore"},
            "annotations": {"shipcore.io/revision-id": id}}})
}

pub fn list(kind: &str, items: Vec<Value>, rv: &str) -> Answer {
    (
        200,
        json!({"apiVersion": "v1", "kind": kind, "metadata": {"resourceVersion": rv}, "items": items}),
    )
}

/// An apply echo: the server answers the applied object.
pub fn echo(seen: &Seen) -> Answer {
    (200, seen.body.clone())
}

pub fn lines(log: &Arc<Mutex<Vec<Seen>>>) -> Vec<String> {
    log.lock().unwrap().iter().map(Seen::line).collect()
}

/// A copy of the log (no lock held across awaits).
pub fn snapshot(log: &Arc<Mutex<Vec<Seen>>>) -> Vec<Seen> {
    log.lock().unwrap().clone()
}
