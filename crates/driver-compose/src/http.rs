//! A minimal HTTP/1.1 client over any stream (a TCP connection or the engine's unix
//! socket), one request per connection, with a deadline: enough for the engine API and
//! readiness probes without a full client stack.

use http_body_util::{BodyExt, Empty, Limited};
use hyper::body::Bytes;
use hyper::Request;
use hyper_util::rt::TokioIo;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};

/// The most body bytes one answer may carry (16 MiB): a readiness probe or an engine API
/// answer larger than this is an error, never read whole into memory.
pub const MAX_BODY_BYTES: usize = 16 << 20;

/// An answer: status and body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// HTTP status.
    pub status: u16,
    /// Body bytes.
    pub body: Vec<u8>,
}

impl Response {
    /// The body as text (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Sends `method path` on `stream` and reads the answer, at most [`MAX_BODY_BYTES`] of body,
/// within `timeout`. Errors are plain messages (the caller classifies them).
pub async fn request<S>(
    stream: S,
    method: &str,
    path: &str,
    host: &str,
    timeout: Duration,
) -> Result<Response, String>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let work = async {
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| format!("HTTP handshake: {e}"))?;
        let driver = tokio::spawn(async move {
            let _ = conn.await;
        });
        let req = Request::builder()
            .method(method)
            .uri(path)
            .header("host", host)
            .header("connection", "close")
            .body(Empty::<Bytes>::new())
            .map_err(|e| format!("bad request {method} {path}: {e}"))?;
        let resp = sender
            .send_request(req)
            .await
            .map_err(|e| format!("{method} {path}: {e}"))?;
        let status = resp.status().as_u16();
        let body = Limited::new(resp.into_body(), MAX_BODY_BYTES)
            .collect()
            .await
            .map_err(|e| {
                if e.is::<http_body_util::LengthLimitError>() {
                    format!("{method} {path}: the answer's body is over {MAX_BODY_BYTES} bytes")
                } else {
                    format!("{method} {path}: reading body: {e}")
                }
            })?
            .to_bytes()
            .to_vec();
        driver.abort();
        Ok(Response { status, body })
    };
    match tokio::time::timeout(timeout, work).await {
        Ok(r) => r,
        Err(_) => Err(format!("{method} {path}: timed out after {timeout:?}")),
    }
}

/// `GET path` on a TCP address within `timeout` (connecting included).
pub async fn get_tcp(
    addr: std::net::SocketAddr,
    path: &str,
    timeout: Duration,
) -> Result<Response, String> {
    let stream = tokio::time::timeout(timeout, tokio::net::TcpStream::connect(addr))
        .await
        .map_err(|_| format!("connect {addr}: timed out after {timeout:?}"))?
        .map_err(|e| format!("connect {addr}: {e}"))?;
    request(stream, "GET", path, &addr.to_string(), timeout).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    async fn one_shot_server(answer: &'static str) -> std::net::SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut buf = vec![0u8; 4096];
            let mut got = Vec::new();
            while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                let n = s.read(&mut buf).await.unwrap();
                if n == 0 {
                    return;
                }
                got.extend_from_slice(&buf[..n]);
            }
            if !answer.is_empty() {
                s.write_all(answer.as_bytes()).await.unwrap();
            } else {
                tokio::time::sleep(Duration::from_secs(5)).await;
            }
        });
        addr
    }

    #[tokio::test]
    async fn reads_status_and_chunked_body() {
        let addr = one_shot_server(
            "HTTP/1.1 503 Service Unavailable\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
        )
        .await;
        let r = get_tcp(addr, "/health", Duration::from_secs(2))
            .await
            .unwrap();
        assert_eq!(r.status, 503);
        assert_eq!(r.text(), "hello world");
    }

    #[tokio::test]
    async fn a_body_over_the_cap_is_an_error() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut buf = vec![0u8; 4096];
            let _ = s.read(&mut buf).await;
            let head = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
            if s.write_all(head.as_bytes()).await.is_err() {
                return;
            }
            // Chunks of 64 KiB, without end: only the cap stops the reader.
            let chunk = vec![b'x'; 64 << 10];
            let frame = [format!("{:x}\r\n", chunk.len()).as_bytes(), &chunk, b"\r\n"].concat();
            while s.write_all(&frame).await.is_ok() {}
        });
        let err = get_tcp(addr, "/health", Duration::from_secs(20))
            .await
            .unwrap_err();
        assert!(err.contains("over 16777216 bytes"), "{err}");
    }

    #[tokio::test]
    async fn a_silent_server_times_out() {
        let addr = one_shot_server("").await;
        let err = get_tcp(addr, "/", Duration::from_millis(200))
            .await
            .unwrap_err();
        assert!(err.contains("timed out"), "{err}");
    }

    #[tokio::test]
    async fn a_closed_port_is_refused() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        drop(l);
        let err = get_tcp(addr, "/", Duration::from_secs(1))
            .await
            .unwrap_err();
        assert!(err.to_lowercase().contains("refused"), "{err}");
    }
}
