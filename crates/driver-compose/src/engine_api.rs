//! The container engine's Docker-compatible API (Docker, or Podman's socket), for what the
//! compose CLI does not offer: whether an image exists, which engine it is, stopping and
//! removing one chosen container, and running a healthcheck on engines that schedule none.

use crate::error::classified;
use crate::http::{self, Response};
use serde_json::Value;
use shipcore::driver::DriverError;
use std::path::PathBuf;
use std::time::Duration;

/// Docker API version used for the compatible endpoints.
const API: &str = "/v1.41";
/// Podman's own API, for healthchecks.
const LIBPOD: &str = "/v4.0.0/libpod";

/// Where the engine listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// `unix:///path/to.sock`.
    Unix(PathBuf),
    /// `tcp://host:port` (plain HTTP).
    Tcp(String),
}

impl Endpoint {
    /// Parses a `DOCKER_HOST` value.
    pub fn parse(docker_host: &str) -> Result<Endpoint, String> {
        if let Some(path) = docker_host.strip_prefix("unix://") {
            if path.is_empty() {
                return Err(format!("{docker_host:?} has no socket path"));
            }
            Ok(Endpoint::Unix(PathBuf::from(path)))
        } else if let Some(addr) = docker_host.strip_prefix("tcp://") {
            let addr = addr.trim_end_matches('/');
            if addr.is_empty() {
                return Err(format!("{docker_host:?} has no address"));
            }
            Ok(Endpoint::Tcp(addr.to_string()))
        } else {
            Err(format!(
                "{docker_host:?} is not supported: use unix:///path/to.sock or tcp://host:port"
            ))
        }
    }

    /// From an explicit value, else `DOCKER_HOST`, else Docker's default socket.
    pub fn resolve(explicit: Option<&str>) -> Result<Endpoint, String> {
        match explicit {
            Some(h) => Endpoint::parse(h),
            None => match std::env::var("DOCKER_HOST") {
                Ok(h) if !h.is_empty() => Endpoint::parse(&h),
                _ => Ok(Endpoint::Unix(PathBuf::from("/var/run/docker.sock"))),
            },
        }
    }
}

/// A client of the engine API.
#[derive(Debug, Clone)]
pub struct EngineClient {
    endpoint: Endpoint,
    timeout: Duration,
}

impl EngineClient {
    /// A client for `endpoint`; each call must finish within `timeout`.
    pub fn new(endpoint: Endpoint, timeout: Duration) -> Self {
        EngineClient { endpoint, timeout }
    }

    /// Where it connects.
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    async fn call(
        &self,
        op: &str,
        method: &str,
        path: &str,
        timeout: Duration,
    ) -> Result<Response, DriverError> {
        let unreachable = |e: std::io::Error| {
            DriverError::transient(
                op,
                format!(
                    "container engine at {:?} is unreachable: {e}",
                    self.endpoint
                ),
            )
        };
        let result = match &self.endpoint {
            Endpoint::Unix(p) => {
                let s = tokio::net::UnixStream::connect(p)
                    .await
                    .map_err(unreachable)?;
                http::request(s, method, path, "docker", timeout).await
            }
            Endpoint::Tcp(a) => {
                let s = tokio::net::TcpStream::connect(a.as_str())
                    .await
                    .map_err(unreachable)?;
                http::request(s, method, path, a, timeout).await
            }
        };
        result.map_err(|m| DriverError::transient(op, format!("container engine: {m}")))
    }

    fn api_error(op: &str, r: &Response) -> DriverError {
        let msg = serde_json::from_slice::<Value>(&r.body)
            .ok()
            .and_then(|v| v.get("message").and_then(Value::as_str).map(str::to_string))
            .unwrap_or_else(|| r.text());
        let e = classified(op, format!("container engine answered {}: {msg}", r.status));
        if r.status >= 500 && r.status != 501 {
            DriverError {
                kind: shipcore::driver::ErrorKind::Transient,
                ..e
            }
        } else {
            e
        }
    }

    /// The engine's `/version`: `Podman Engine` appears among its components on Podman.
    pub async fn version(&self) -> Result<Value, DriverError> {
        let r = self
            .call(
                "engine version",
                "GET",
                &format!("{API}/version"),
                self.timeout,
            )
            .await?;
        if r.status != 200 {
            return Err(Self::api_error("engine version", &r));
        }
        serde_json::from_slice(&r.body).map_err(|e| {
            DriverError::transient("engine version", format!("unreadable /version answer: {e}"))
        })
    }

    /// True when the engine is Podman.
    pub async fn is_podman(&self) -> Result<bool, DriverError> {
        let v = self.version().await?;
        let in_components = v
            .get("Components")
            .and_then(Value::as_array)
            .is_some_and(|cs| {
                cs.iter().any(|c| {
                    c.get("Name")
                        .and_then(Value::as_str)
                        .is_some_and(|n| n.to_ascii_lowercase().contains("podman"))
                })
            });
        Ok(in_components)
    }

    /// Whether the engine has `image` locally.
    pub async fn image_exists(&self, image: &str) -> Result<bool, DriverError> {
        let op = format!("inspect image {image}");
        let r = self
            .call(
                &op,
                "GET",
                &format!("{API}/images/{image}/json"),
                self.timeout,
            )
            .await?;
        match r.status {
            200 => Ok(true),
            404 => Ok(false),
            _ => Err(Self::api_error(&op, &r)),
        }
    }

    /// Stops a container (SIGTERM, SIGKILL after `grace`). A missing or stopped container
    /// is fine.
    pub async fn stop(&self, id: &str, grace: Duration) -> Result<(), DriverError> {
        let op = format!("stop container {id}");
        let secs = grace.as_secs();
        let r = self
            .call(
                &op,
                "POST",
                &format!("{API}/containers/{id}/stop?t={secs}"),
                self.timeout + grace,
            )
            .await?;
        match r.status {
            204 | 304 | 404 => Ok(()),
            _ => Err(Self::api_error(&op, &r)),
        }
    }

    /// Removes a container (forced, with its anonymous volumes). A missing one is fine.
    pub async fn remove(&self, id: &str) -> Result<(), DriverError> {
        let op = format!("remove container {id}");
        let r = self
            .call(
                &op,
                "DELETE",
                &format!("{API}/containers/{id}?force=true&v=true"),
                self.timeout,
            )
            .await?;
        match r.status {
            200 | 204 | 404 => Ok(()),
            _ => Err(Self::api_error(&op, &r)),
        }
    }

    /// Runs a container's healthcheck now (Podman) and returns the resulting status
    /// (`healthy`, `unhealthy`, `starting`).
    pub async fn run_healthcheck(&self, id: &str) -> Result<String, DriverError> {
        let op = format!("healthcheck {id}");
        let r = self
            .call(
                &op,
                "GET",
                &format!("{LIBPOD}/containers/{id}/healthcheck"),
                self.timeout,
            )
            .await?;
        if r.status != 200 {
            return Err(Self::api_error(&op, &r));
        }
        let v: Value = serde_json::from_slice(&r.body).map_err(|e| {
            DriverError::transient(&op, format!("unreadable healthcheck answer: {e}"))
        })?;
        Ok(v.get("Status")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A fake engine on a unix socket answering each request from a table by path prefix.
    async fn fake_engine(
        dir: &std::path::Path,
        routes: Vec<(&'static str, &'static str)>,
    ) -> PathBuf {
        let sock = dir.join("engine.sock");
        let listener = tokio::net::UnixListener::bind(&sock).unwrap();
        tokio::spawn(async move {
            loop {
                let Ok((mut s, _)) = listener.accept().await else {
                    return;
                };
                let routes = routes.clone();
                tokio::spawn(async move {
                    let mut got = Vec::new();
                    let mut buf = [0u8; 1024];
                    while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                        match s.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => got.extend_from_slice(&buf[..n]),
                        }
                    }
                    let head = String::from_utf8_lossy(&got).to_string();
                    let target = head
                        .split_whitespace()
                        .take(2)
                        .collect::<Vec<_>>()
                        .join(" ");
                    let answer = routes
                        .iter()
                        .find(|(p, _)| target.starts_with(p))
                        .map(|(_, a)| *a)
                        .unwrap_or(
                            "HTTP/1.1 500 Internal Server Error\r\ncontent-length: 2\r\n\r\nno",
                        );
                    let _ = s.write_all(answer.as_bytes()).await;
                });
            }
        });
        sock
    }

    #[tokio::test]
    async fn image_lookup_stop_remove_and_healthcheck() {
        let dir = tempfile::tempdir().unwrap();
        let answer = |status: &str, body: &str| -> &'static str {
            Box::leak(
                format!(
                    "HTTP/1.1 {status}\r\ncontent-length: {}\r\n\r\n{body}",
                    body.len()
                )
                .into_boxed_str(),
            )
        };
        let sock = fake_engine(
            dir.path(),
            vec![
                (
                    "GET /v1.41/images/localhost/web:1/json",
                    answer("200 OK", "{}"),
                ),
                (
                    "GET /v1.41/images/nosuch:1/json",
                    answer("404 Not Found", r#"{"message":"No such image: x"}"#),
                ),
                (
                    "POST /v1.41/containers/abc/stop",
                    answer("304 Not Modified", ""),
                ),
                ("DELETE /v1.41/containers/gone", answer("404 Not Found", "")),
                (
                    "GET /v4.0.0/libpod/containers/abc/healthcheck",
                    answer("200 OK", r#"{"Status":"healthy"}"#),
                ),
                (
                    "GET /v1.41/version",
                    answer("200 OK", r#"{"Components":[{"Name":"Podman Engine"}]}"#),
                ),
            ],
        )
        .await;
        let c = EngineClient::new(Endpoint::Unix(sock), Duration::from_secs(2));
        assert!(c.image_exists("localhost/web:1").await.unwrap());
        assert!(!c.image_exists("nosuch:1").await.unwrap());
        c.stop("abc", Duration::from_secs(1)).await.unwrap();
        c.remove("gone").await.unwrap();
        assert_eq!(c.run_healthcheck("abc").await.unwrap(), "healthy");
        assert!(c.is_podman().await.unwrap());
        let err = c.remove("other").await.unwrap_err();
        assert!(err.is_transient(), "a 500 is transient: {err}");
        assert!(err.message.contains("500"), "{err}");
    }

    #[tokio::test]
    async fn a_missing_socket_is_a_transient_unreachable_engine() {
        let c = EngineClient::new(
            Endpoint::Unix("/nonexistent/engine.sock".into()),
            Duration::from_secs(1),
        );
        let err = c.image_exists("x:1").await.unwrap_err();
        assert!(err.is_transient());
        assert!(err.message.contains("unreachable"), "{err}");
    }
}

#[cfg(test)]
mod doc_examples {
    use super::Endpoint;

    #[test]
    fn endpoint_parses_docker_host() {
        assert_eq!(
            Endpoint::parse("unix:///run/podman.sock").unwrap(),
            Endpoint::Unix("/run/podman.sock".into())
        );
        assert_eq!(
            Endpoint::parse("tcp://127.0.0.1:2375").unwrap(),
            Endpoint::Tcp("127.0.0.1:2375".into())
        );
        assert!(Endpoint::parse("ssh://box").is_err());
    }
}
