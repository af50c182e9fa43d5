//! The HTTP side: routes, fault injection and the accept loop (hyper 1, HTTP/1.1).
//!
//! Application routes (`/`, `/api/items`, `/api/echo`, and `/api/users` when a database is
//! configured, see [`crate::db`]) get the configured latency and error
//! rate; they and 404s (route `other`, no faults) are counted in the metrics. `/health` and
//! `/metrics` are not counted, so probes and scrapes do not dilute the error rate.

use crate::config::Config;
use crate::db::{reads_email, Db};
use crate::metrics::Metrics;
use crate::rng::SplitMix64;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::net::TcpListener;

/// Largest request body `/api/echo` accepts.
pub const MAX_BODY: usize = 64 * 1024;

/// The running service's shared state.
#[derive(Debug)]
pub struct State {
    cfg: Config,
    started: Instant,
    metrics: Metrics,
    rng: Mutex<SplitMix64>,
    db: Option<Db>,
}

impl State {
    /// State for `cfg`, started now.
    pub fn new(cfg: Config) -> Self {
        let start_unix = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0);
        State {
            metrics: Metrics::new(cfg.version.clone(), start_unix),
            rng: Mutex::new(SplitMix64::new(cfg.seed)),
            db: cfg.database_url.as_deref().map(Db::new),
            started: Instant::now(),
            cfg,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.cfg
    }

    fn draw(&self) -> f64 {
        match self.rng.lock() {
            Ok(mut r) => r.next_f64(),
            Err(poisoned) => poisoned.into_inner().next_f64(),
        }
    }
}

type Resp = Response<Full<Bytes>>;

fn respond(status: StatusCode, content_type: &'static str, body: impl Into<Bytes>) -> Resp {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

fn json(status: StatusCode, v: &serde_json::Value) -> Resp {
    respond(status, "application/json", v.to_string())
}

/// Answers one request.
pub async fn handle(state: Arc<State>, req: Request<Incoming>) -> Result<Resp, Infallible> {
    let path = req.uri().path().to_string();
    match path.as_str() {
        "/health" => return Ok(health(&state)),
        "/metrics" => {
            return Ok(respond(
                StatusCode::OK,
                "text/plain; version=0.0.4; charset=utf-8",
                state.metrics.render(),
            ))
        }
        _ => {}
    }
    let t0 = Instant::now();
    let route = match path.as_str() {
        "/" | "/api/items" | "/api/echo" => path.as_str(),
        "/api/users" if state.db.is_some() => path.as_str(),
        _ => "other",
    };
    let cfg = &state.cfg;
    let faults = route != "other" && state.started.elapsed() >= cfg.faults_after;
    if faults && !cfg.latency.is_zero() {
        tokio::time::sleep(cfg.latency).await;
    }
    let fail = faults && cfg.error_rate > 0.0 && state.draw() < cfg.error_rate;
    let resp = if fail {
        json(
            StatusCode::INTERNAL_SERVER_ERROR,
            &serde_json::json!({"error": "injected failure", "version": cfg.version}),
        )
    } else {
        match route {
            "/" => json(
                StatusCode::OK,
                &serde_json::json!({"service": "demo-service", "version": cfg.version}),
            ),
            "/api/items" => json(
                StatusCode::OK,
                &serde_json::json!({"items": [
                    {"id": 1, "name": "anvil"},
                    {"id": 2, "name": "rope"},
                    {"id": 3, "name": "lantern"}
                ], "version": cfg.version}),
            ),
            "/api/echo" => echo(req).await,
            "/api/users" => users(&state).await,
            _ => json(
                StatusCode::NOT_FOUND,
                &serde_json::json!({"error": "not found", "path": path}),
            ),
        }
    };
    state
        .metrics
        .observe(route, resp.status().as_u16(), t0.elapsed());
    Ok(resp)
}

async fn echo(req: Request<Incoming>) -> Resp {
    let ct = req
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    match Limited::new(req.into_body(), MAX_BODY).collect().await {
        Ok(body) => {
            let mut r = respond(StatusCode::OK, "text/plain", body.to_bytes());
            if let Some(v) = ct.and_then(|c| HeaderValue::from_str(&c).ok()) {
                r.headers_mut().insert(CONTENT_TYPE, v);
            }
            r
        }
        Err(e) => json(
            StatusCode::PAYLOAD_TOO_LARGE,
            &serde_json::json!({"error": format!("body not read: {e}"), "limit": MAX_BODY}),
        ),
    }
}

async fn users(state: &State) -> Resp {
    let version = &state.cfg.version;
    let Some(db) = &state.db else {
        return json(
            StatusCode::NOT_FOUND,
            &serde_json::json!({"error": "not found"}),
        );
    };
    match db.users(reads_email(version)).await {
        Ok(users) => json(
            StatusCode::OK,
            &serde_json::json!({"users": users, "version": version}),
        ),
        Err(error) => json(
            StatusCode::INTERNAL_SERVER_ERROR,
            &serde_json::json!({"error": error, "version": version}),
        ),
    }
}

fn health(state: &State) -> Resp {
    let uptime = state.started.elapsed();
    let deps = &state.cfg.dependencies;
    let (status, code) = if uptime < state.cfg.ready_delay {
        ("starting", StatusCode::SERVICE_UNAVAILABLE)
    } else if deps.values().any(|s| s != "healthy") {
        ("unhealthy", StatusCode::SERVICE_UNAVAILABLE)
    } else {
        ("healthy", StatusCode::OK)
    };
    let uptime_ms = uptime.as_millis() as f64 / 1000.0;
    json(
        code,
        &serde_json::json!({
            "status": status,
            "version": state.cfg.version,
            "uptime": uptime_ms,
            "dependencies": deps,
        }),
    )
}

/// Binds the configured address (port 0: any free port).
pub async fn bind(cfg: &Config) -> std::io::Result<TcpListener> {
    TcpListener::bind((cfg.bind, cfg.port)).await
}

/// Serves HTTP/1.1 on `listener` until the task is dropped. Accept errors (such as running
/// out of file descriptors) are reported on stderr and retried after a short pause.
pub async fn serve(listener: TcpListener, state: Arc<State>) {
    loop {
        let stream = match listener.accept().await {
            Ok((s, _)) => s,
            Err(e) => {
                eprintln!("demo-service: accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let st = state.clone();
        tokio::spawn(async move {
            let svc = service_fn(move |req| handle(st.clone(), req));
            // A client hanging up mid-request is not the service's problem.
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), svc)
                .await;
        });
    }
}
