//! Shared helpers for the validator tests: a scripted metrics source and contexts.
#![allow(dead_code, clippy::unwrap_used)]

use async_trait::async_trait;
use shipcore::metrics::{MetricQuery, MetricsError, MetricsSource, QueryResult, Sample, Series};
use shipcore::model::{Revision, Target};
use shipcore::time::Timestamp;
use shipcore::validator::ValidationContext;
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

/// Answers each expression with the next scripted answer; records every query.
#[derive(Default)]
pub struct Scripted {
    answers: Mutex<HashMap<String, VecDeque<Result<QueryResult, MetricsError>>>>,
    pub seen: Mutex<Vec<MetricQuery>>,
}

impl Scripted {
    pub fn new() -> Self {
        Self::default()
    }
    /// Queue an answer for `expr`.
    pub fn push(&self, expr: &str, answer: Result<QueryResult, MetricsError>) {
        self.answers
            .lock()
            .unwrap()
            .entry(expr.to_string())
            .or_default()
            .push_back(answer);
    }
    pub fn seen(&self) -> Vec<MetricQuery> {
        self.seen.lock().unwrap().clone()
    }
}

#[async_trait]
impl MetricsSource for Scripted {
    async fn query(&self, q: &MetricQuery) -> Result<QueryResult, MetricsError> {
        self.seen.lock().unwrap().push(q.clone());
        self.answers
            .lock()
            .unwrap()
            .get_mut(&q.expr)
            .and_then(|d| d.pop_front())
            .unwrap_or_else(|| panic!("no scripted answer left for {:?}", q.expr))
    }
}

pub fn scalar(v: f64) -> QueryResult {
    QueryResult::Scalar(Sample {
        at: Timestamp(0),
        value: v,
    })
}

pub fn vector(v: f64) -> QueryResult {
    QueryResult::Vector(vec![Series {
        labels: Default::default(),
        samples: vec![Sample {
            at: Timestamp(0),
            value: v,
        }],
    }])
}

pub fn matrix(values: &[f64]) -> QueryResult {
    QueryResult::Matrix(vec![Series {
        labels: Default::default(),
        samples: values
            .iter()
            .enumerate()
            .map(|(i, v)| Sample {
                at: Timestamp(i as u64 * 1000),
                value: *v,
            })
            .collect(),
    }])
}

pub fn empty() -> QueryResult {
    QueryResult::Vector(vec![])
}

pub fn rev(id: &str, version: &str) -> Revision {
    Revision::new(id, version.parse().unwrap(), format!("web:{version}"))
}

/// Context for rollout `r1` judging `v2` (stable `v1` unless `stable` is false) at `now` ms.
pub fn ctx_at(now_ms: u64, stable: bool) -> ValidationContext {
    let target = Target::new("web", "production");
    let cand = rev("v2", "2.0.0");
    let st = rev("v1", "1.0.0");
    ValidationContext::new(
        "r1",
        &target,
        &cand,
        if stable { Some(&st) } else { None },
        Timestamp(now_ms),
    )
}

pub fn ctx(now_ms: u64) -> ValidationContext {
    ctx_at(now_ms, true)
}

// ---------------------------------------------------------------------------------------
// A canned HTTP/1.1 server on 127.0.0.1 (one request per connection).

use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// A canned answer.
#[derive(Clone)]
pub struct Canned {
    pub status: u16,
    pub body: String,
    pub delay: Duration,
}

/// A request the server received.
#[derive(Clone, Debug)]
pub struct Received {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

pub struct TestServer {
    pub base: String,
    routes: Arc<Mutex<HashMap<String, Canned>>>,
    received: Arc<Mutex<Vec<Received>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl TestServer {
    /// Answer `path` (with query string, if any) with `status` and `body`.
    pub fn route(&self, path: &str, status: u16, body: &str) {
        self.route_slow(path, status, body, Duration::ZERO);
    }
    pub fn route_slow(&self, path: &str, status: u16, body: &str, delay: Duration) {
        self.routes.lock().unwrap().insert(
            path.to_string(),
            Canned {
                status,
                body: body.to_string(),
                delay,
            },
        );
    }
    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }
}

pub async fn serve() -> TestServer {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let routes: Arc<Mutex<HashMap<String, Canned>>> = Arc::default();
    let received: Arc<Mutex<Vec<Received>>> = Arc::default();
    let (r, rec) = (routes.clone(), received.clone());
    let task = tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let (r, rec) = (r.clone(), rec.clone());
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                let head_end = loop {
                    let n = match sock.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => n,
                    };
                    buf.extend_from_slice(&chunk[..n]);
                    if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        break i;
                    }
                };
                let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
                let mut lines = head.split("\r\n");
                let mut first = lines.next().unwrap_or("").split(' ');
                let method = first.next().unwrap_or("").to_string();
                let path = first.next().unwrap_or("").to_string();
                let headers: Vec<(String, String)> = lines
                    .filter_map(|l| l.split_once(':'))
                    .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
                    .collect();
                let len: usize = headers
                    .iter()
                    .find(|(k, _)| k == "content-length")
                    .and_then(|(_, v)| v.parse().ok())
                    .unwrap_or(0);
                let mut body = buf[head_end + 4..].to_vec();
                while body.len() < len {
                    match sock.read(&mut chunk).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => body.extend_from_slice(&chunk[..n]),
                    }
                }
                rec.lock().unwrap().push(Received {
                    method,
                    path: path.clone(),
                    headers,
                    body: String::from_utf8_lossy(&body).to_string(),
                });
                let canned = r.lock().unwrap().get(&path).cloned().unwrap_or(Canned {
                    status: 404,
                    body: "{\"error\": \"not found\"}".into(),
                    delay: Duration::ZERO,
                });
                if !canned.delay.is_zero() {
                    tokio::time::sleep(canned.delay).await;
                }
                let resp = format!(
                    "HTTP/1.1 {} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{}",
                    canned.status,
                    canned.body.len(),
                    canned.body
                );
                let _ = sock.write_all(resp.as_bytes()).await;
                let _ = sock.shutdown().await;
            });
        }
    });
    TestServer {
        base,
        routes,
        received,
        task,
    }
}

/// A context with an extra `addr` variable holding the server's host:port.
pub fn ctx_for(server: &TestServer) -> ValidationContext {
    let mut c = ctx(0);
    c.vars.insert(
        "addr".into(),
        server.base.trim_start_matches("http://").to_string(),
    );
    c
}
