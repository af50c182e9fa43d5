//! A tiny scripted HTTP/1.1 server for tests, on a loopback address only: each request is
//! recorded (method, path, headers, body) and answered by a handler closure. Bodies can be
//! fixed (with `Content-Length`), or streamed without a length until `total` bytes or the
//! client hangs up, to test size caps. Shared by shipcore's and metrics-prom's tests
//! (`#[path]`). The server task is aborted when the [`Server`] drops.
#![allow(dead_code, clippy::unwrap_used)]

use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// One request as the server saw it.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// How to answer.
#[derive(Debug, Clone)]
pub enum Body {
    /// This body, with `Content-Length`.
    Fixed(Vec<u8>),
    /// `total` bytes of `fill`, without `Content-Length` (close-delimited), in 64 KiB writes,
    /// stopping early when the client hangs up.
    Stream { total: usize, fill: u8 },
    /// `sent` bytes of `fill` without `Content-Length`, then nothing more for 30 s (a
    /// server that never finishes its answer).
    Stall { sent: usize, fill: u8 },
}

/// An answer.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Body,
}

impl Response {
    pub fn json(status: u16, body: impl Into<String>) -> Self {
        Response {
            status,
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: Body::Fixed(body.into().into_bytes()),
        }
    }
    pub fn redirect(location: &str) -> Self {
        Response {
            status: 302,
            headers: vec![("Location".into(), location.into())],
            body: Body::Fixed(Vec::new()),
        }
    }
    /// Closes the connection without answering.
    pub fn hangup() -> Self {
        Response {
            status: 0,
            headers: vec![],
            body: Body::Fixed(Vec::new()),
        }
    }
    pub fn stream(status: u16, total: usize, fill: u8) -> Self {
        Response {
            status,
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: Body::Stream { total, fill },
        }
    }
}

type Handler = dyn Fn(&Request) -> Response + Send + Sync;

pub struct Server {
    /// `http://IP:PORT`
    pub url: String,
    pub port: u16,
    received: Arc<Mutex<Vec<Request>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Server {
    /// Starts a server on `ip` (a loopback address such as `127.0.0.1`), any free port.
    pub async fn start(
        ip: &str,
        handler: impl Fn(&Request) -> Response + Send + Sync + 'static,
    ) -> Server {
        assert!(ip.starts_with("127."), "test servers stay on loopback");
        let listener = TcpListener::bind(format!("{ip}:0")).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let received = Arc::new(Mutex::new(Vec::new()));
        let seen = received.clone();
        let handler: Arc<Handler> = Arc::new(handler);
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut sock, _)) = listener.accept().await else {
                    return;
                };
                let (seen, handler) = (seen.clone(), handler.clone());
                tokio::spawn(async move {
                    let Some(req) = read_request(&mut sock).await else {
                        return;
                    };
                    let resp = handler(&req);
                    seen.lock().unwrap().push(req);
                    write_response(&mut sock, resp).await;
                });
            }
        });
        Server {
            url: format!("http://{addr}"),
            port: addr.port(),
            received,
            task,
        }
    }

    /// Every request received so far.
    pub fn received(&self) -> Vec<Request> {
        self.received.lock().unwrap().clone()
    }
}

async fn write_response(sock: &mut tokio::net::TcpStream, resp: Response) {
    if resp.status == 0 {
        let _ = sock.shutdown().await;
        return;
    }
    let mut head = format!("HTTP/1.1 {} X\r\nConnection: close\r\n", resp.status);
    for (k, v) in &resp.headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    match resp.body {
        Body::Fixed(b) => {
            head.push_str(&format!("Content-Length: {}\r\n\r\n", b.len()));
            let _ = sock.write_all(head.as_bytes()).await;
            let _ = sock.write_all(&b).await;
        }
        Body::Stream { total, fill } => {
            head.push_str("\r\n");
            if sock.write_all(head.as_bytes()).await.is_err() {
                return;
            }
            let chunk = vec![fill; 64 << 10];
            let mut sent = 0;
            while sent < total {
                let n = chunk.len().min(total - sent);
                if sock.write_all(&chunk[..n]).await.is_err() {
                    break;
                }
                sent += n;
            }
        }
        Body::Stall { sent, fill } => {
            head.push_str("\r\n");
            let _ = sock.write_all(head.as_bytes()).await;
            let _ = sock.write_all(&vec![fill; sent]).await;
            let _ = sock.flush().await;
            tokio::time::sleep(std::time::Duration::from_secs(30)).await;
        }
    }
    let _ = sock.shutdown().await;
}

/// Reads one request (head and a `Content-Length` body); `None` if the peer hung up first.
pub async fn read_request(sock: &mut tokio::net::TcpStream) -> Option<Request> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        let n = sock.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break p + 4;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let mut lines = head.split("\r\n");
    let mut first = lines.next()?.split(' ');
    let (method, path) = (first.next()?.to_string(), first.next()?.to_string());
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let len: usize = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    while buf.len() < head_end + len {
        let n = sock.read(&mut chunk).await.ok()?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    Some(Request {
        method,
        path,
        headers,
        body: buf[head_end..].to_vec(),
    })
}
