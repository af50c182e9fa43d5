//! The fake on `127.0.0.1`: a hyper 1 HTTP/1.1 server (plain HTTP) and a kubeconfig with a
//! dummy token pointing at it. Dropping the [`Loopback`] stops the server.

use std::convert::Infallible;
use std::path::PathBuf;
use std::sync::Arc;

use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::Request;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::watch;

use super::http::handle;
use super::request::Body;
use super::status::ApiError;
use super::Inner;

/// A running loopback server. Dropping it stops the server and removes the kubeconfig.
#[derive(Debug)]
pub struct Loopback {
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    /// A kubeconfig (context `fake`, namespace `default`, token `fake-token`) for `url`.
    pub kubeconfig: PathBuf,
    shutdown: watch::Sender<bool>,
    _dir: tempfile::TempDir,
}

impl Drop for Loopback {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
    }
}

fn kubeconfig(url: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster:\n    server: {url}\ncontexts:\n- name: fake\n  context:\n    cluster: fake\n    user: fake\n    namespace: default\ncurrent-context: fake\nusers:\n- name: fake\n  user:\n    token: fake-token\n"
    )
}

async fn answer(
    inner: Arc<Inner>,
    req: Request<Incoming>,
) -> Result<hyper::Response<Body>, Infallible> {
    let (parts, body) = req.into_parts();
    let bytes = match body.collect().await {
        Ok(c) => c.to_bytes(),
        Err(e) => {
            let err = ApiError::bad_request(format!("reading the body: {e}"));
            let v = serde_json::to_vec(&err.to_status()).unwrap_or_default();
            let mut r = hyper::Response::new(
                http_body_util::Full::new(bytes::Bytes::from(v)).boxed_unsync(),
            );
            *r.status_mut() = hyper::StatusCode::BAD_REQUEST;
            return Ok(r);
        }
    };
    Ok(handle(inner, parts.method, parts.uri, parts.headers, bytes).await)
}

/// Binds `127.0.0.1:0`, writes the kubeconfig and serves until the [`Loopback`] drops.
pub(crate) async fn serve(inner: Arc<Inner>) -> std::io::Result<Loopback> {
    let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
    let url = format!("http://{}", listener.local_addr()?);
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("kubeconfig");
    std::fs::write(&path, kubeconfig(&url))?;
    let (tx, rx) = watch::channel(false);
    let mut stop = rx.clone();
    tokio::spawn(async move {
        loop {
            let accepted = tokio::select! {
                a = listener.accept() => a,
                _ = stop.changed() => return,
            };
            let Ok((stream, _)) = accepted else { continue };
            let inner = inner.clone();
            let mut stop_conn = rx.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req| answer(inner.clone(), req));
                let conn = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc);
                tokio::select! {
                    _ = conn => {},
                    _ = stop_conn.changed() => {},
                }
            });
        }
    });
    Ok(Loopback {
        url,
        kubeconfig: path,
        shutdown: tx,
        _dir: dir,
    })
}
