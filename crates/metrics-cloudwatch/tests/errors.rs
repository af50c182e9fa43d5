//! CloudWatchSource through the real SDK against canned HTTP answers on loopback (a tiny
//! server answering every request with one fixed response): AWS error codes end up in the
//! right error class, one attempt each (SDK retries off), and NextToken pages are followed
//! but bounded.
#![allow(clippy::unwrap_used)]

use shipcore::metrics::{MetricQuery, MetricsErrorKind, MetricsSource};
use shipcore_metrics_cloudwatch::{alb, CloudWatchConfig, CloudWatchSource};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Serves `status` + `body` (XML) to every request; counts requests.
async fn canned(status: u16, body: &'static str) -> (String, Arc<AtomicUsize>) {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    let hits = Arc::new(AtomicUsize::new(0));
    let h = hits.clone();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            h.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                // Read the request head and its body (Content-Length).
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                loop {
                    let n = s.read(&mut chunk).await.unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    let text = String::from_utf8_lossy(&buf).to_string();
                    if let Some(end) = text.find("\r\n\r\n") {
                        let len = text[..end]
                            .lines()
                            .find_map(|l| {
                                let (k, v) = l.split_once(':')?;
                                k.eq_ignore_ascii_case("content-length")
                                    .then(|| v.trim().parse::<usize>().ok())?
                            })
                            .unwrap_or(0);
                        if buf.len() >= end + 4 + len {
                            break;
                        }
                    }
                }
                let resp = format!(
                    "HTTP/1.1 {status} X\r\ncontent-type: text/xml\r\ncontent-length: {}\r\n\
                     connection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = s.write_all(resp.as_bytes()).await;
            });
        }
    });
    (url, hits)
}

async fn source(url: &str) -> CloudWatchSource {
    let cfg = CloudWatchConfig::new("us-east-1")
        .endpoint(url)
        .credentials("AKIDEXAMPLE", "very-secret-key")
        .timeout(Duration::from_secs(5));
    CloudWatchSource::connect(cfg).await.unwrap()
}

fn error(code: &str, message: &str) -> String {
    format!(
        "<ErrorResponse xmlns=\"http://monitoring.amazonaws.com/doc/2010-08-01/\"><Error>\
         <Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error>\
         <RequestId>r-1</RequestId></ErrorResponse>"
    )
}

async fn kind_of(status: u16, body: String) -> (MetricsErrorKind, String, usize) {
    let body: &'static str = Box::leak(body.into_boxed_str());
    let (url, hits) = canned(status, body).await;
    let src = source(&url).await;
    let e = src
        .query(&MetricQuery::instant(alb::error_rate(
            "targetgroup/a/1",
            "app/b/2",
        )))
        .await
        .unwrap_err();
    assert!(!e.to_string().contains("very-secret-key"), "{e}");
    (e.kind, e.message, hits.load(Ordering::SeqCst))
}

#[tokio::test]
async fn aws_error_codes_are_classified_and_tried_once() {
    let (k, m, hits) = kind_of(400, error("Throttling", "Rate exceeded")).await;
    assert_eq!(k, MetricsErrorKind::Unavailable, "{m}");
    assert!(
        m.contains("throttling") && m.contains("Rate exceeded"),
        "{m}"
    );
    assert_eq!(hits, 1, "the SDK retried");

    let (k, m, _) = kind_of(
        403,
        error(
            "AccessDenied",
            "not authorized to perform: cloudwatch:GetMetricData",
        ),
    )
    .await;
    assert_eq!(k, MetricsErrorKind::Unauthorized, "{m}");
    assert!(m.contains("cloudwatch:GetMetricData"), "{m}");

    let (k, m, _) = kind_of(
        400,
        error(
            "InvalidParameterValue",
            "The value p95x for parameter Stat is not valid.",
        ),
    )
    .await;
    assert_eq!(k, MetricsErrorKind::BadQuery, "{m}");
    assert!(m.contains("InvalidParameterValue"), "{m}");

    let (k, m, hits) = kind_of(503, error("ServiceUnavailable", "try later")).await;
    assert_eq!(k, MetricsErrorKind::Unavailable, "{m}");
    assert_eq!(hits, 1, "the SDK retried");

    let (k, m, hits) = kind_of(
        500,
        "<!doctype html>\n<html lang=en>\n<title>500 Internal Server Error</title>".into(),
    )
    .await;
    assert_eq!(k, MetricsErrorKind::Protocol, "{m}");
    assert!(m.contains("not implemented"), "{m}");
    assert_eq!(hits, 1);
}

#[tokio::test]
async fn endless_pages_are_bounded() {
    // Every answer has data and another NextToken.
    let body = "<GetMetricDataResponse xmlns=\"http://monitoring.amazonaws.com/doc/2010-08-01/\">\
        <GetMetricDataResult><MetricDataResults><member><Id>num</Id><Label>x</Label>\
        <Timestamps><member>2026-01-01T00:00:00Z</member></Timestamps><Values><member>1</member></Values>\
        <StatusCode>PartialData</StatusCode></member></MetricDataResults>\
        <NextToken>more</NextToken></GetMetricDataResult>\
        <ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></GetMetricDataResponse>";
    let (url, hits) = canned(200, body).await;
    let src = source(&url).await;
    let e = src
        .query(&MetricQuery::instant(alb::error_rate(
            "targetgroup/a/1",
            "app/b/2",
        )))
        .await
        .unwrap_err();
    assert_eq!(e.kind, MetricsErrorKind::Protocol, "{e}");
    assert!(e.message.contains("10 pages"), "{e}");
    assert_eq!(hits.load(Ordering::SeqCst), 10);
}
