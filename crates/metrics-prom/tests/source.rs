//! PrometheusSource against a fake Prometheus on 127.0.0.1 (a raw tokio TCP server answering
//! with real Prometheus JSON): result shapes, NaN/+Inf/empty, PromQL errors, retries,
//! authentication, request form, timeouts and an unreachable port.
#![allow(clippy::unwrap_used)]

#[path = "../../shipcore/tests/http_support/mod.rs"]
mod http_support;

use metrics_prom::{PrometheusConfig, PrometheusSource};
use shipcore::metrics::{
    MetricQuery, MetricsErrorKind, MetricsSource, QueryRange, QueryResult, ValueProblem,
};
use shipcore::time::Timestamp;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;

/// One request as the fake server saw it.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: String,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    /// The form field `name`, url-decoded.
    fn form(&self, name: &str) -> Option<String> {
        self.body.split('&').find_map(|kv| {
            let (k, v) = kv.split_once('=')?;
            (k == name).then(|| decode(v))
        })
    }
}

fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap());
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).unwrap()
}

/// A fake Prometheus: answers the scripted (status, body) pairs in order (the last one
/// repeats), or never answers when `hang` is set.
struct Fake {
    url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Fake {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Fake {
    async fn start(script: Vec<(u16, String)>) -> Fake {
        Self::start_with(script, false).await
    }

    async fn start_with(script: Vec<(u16, String)>, hang: bool) -> Fake {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let seen2 = seen.clone();
        let task = tokio::spawn(async move {
            let mut n = 0usize;
            loop {
                let (mut sock, _) = listener.accept().await.unwrap();
                let Some(req) = read_request(&mut sock).await else {
                    continue;
                };
                seen2.lock().unwrap().push(req);
                if hang {
                    tokio::spawn(async move {
                        tokio::time::sleep(Duration::from_secs(30)).await;
                        drop(sock);
                    });
                    continue;
                }
                let (status, body) = script[n.min(script.len() - 1)].clone();
                n += 1;
                let resp = format!(
                    "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = sock.write_all(resp.as_bytes()).await;
                let _ = sock.shutdown().await;
            }
        });
        Fake { url, seen, task }
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

async fn read_request(sock: &mut tokio::net::TcpStream) -> Option<Seen> {
    let req = http_support::read_request(sock).await?;
    let body = req.body_text();
    Some(Seen {
        method: req.method,
        path: req.path,
        headers: req.headers,
        body,
    })
}

fn success(data: &str) -> (u16, String) {
    (200, format!(r#"{{"status":"success","data":{data}}}"#))
}

fn vector_of(value: &str) -> (u16, String) {
    success(&format!(
        r#"{{"resultType":"vector","result":[{{"metric":{{"revision":"v2"}},"value":[1700000000.5,"{value}"]}}]}}"#
    ))
}

/// Fast retries so tests do not wait.
fn cfg(url: &str) -> PrometheusConfig {
    PrometheusConfig::new(url).retries(3, Duration::from_millis(10), Duration::from_millis(40))
}

async fn run(
    script: Vec<(u16, String)>,
    q: MetricQuery,
) -> (Fake, Result<QueryResult, shipcore::metrics::MetricsError>) {
    let fake = Fake::start(script).await;
    let src = PrometheusSource::new(cfg(&fake.url)).unwrap();
    let r = src.query(&q).await;
    (fake, r)
}

#[tokio::test]
async fn instant_vector_with_time_and_form() {
    let at = Timestamp(1_700_000_000_250);
    let (fake, r) = run(
        vec![vector_of("0.125")],
        MetricQuery::at("sum(rate(x[1m]))", at),
    )
    .await;
    let r = r.unwrap();
    assert_eq!(r.single_value(), Ok(0.125));
    let QueryResult::Vector(series) = &r else {
        panic!("{r:?}")
    };
    assert_eq!(series[0].labels["revision"], "v2");
    assert_eq!(series[0].samples[0].at, Timestamp(1_700_000_000_500));
    let seen = fake.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(
        (seen[0].method.as_str(), seen[0].path.as_str()),
        ("POST", "/api/v1/query")
    );
    assert_eq!(seen[0].form("query").unwrap(), "sum(rate(x[1m]))");
    assert_eq!(seen[0].form("time").unwrap(), "1700000000.250");
    assert_eq!(seen[0].form("timeout").unwrap(), "10000ms");
}

#[tokio::test]
async fn scalar() {
    let (_f, r) = run(
        vec![success(
            r#"{"resultType":"scalar","result":[1700000000,"42"]}"#,
        )],
        MetricQuery::instant("scalar(vector(42))"),
    )
    .await;
    let r = r.unwrap();
    assert!(matches!(r, QueryResult::Scalar(_)), "{r:?}");
    assert_eq!(r.single_value(), Ok(42.0));
}

#[tokio::test]
async fn matrix_from_a_range_query() {
    let range = QueryRange {
        start: Timestamp(1_700_000_000_000),
        end: Timestamp(1_700_000_060_000),
        step: Duration::from_secs(15),
    };
    let q = MetricQuery {
        expr: "up".into(),
        at: None,
        range: Some(range),
    };
    let (fake, r) = run(
        vec![success(
            r#"{"resultType":"matrix","result":[
            {"metric":{"job":"a"},"values":[[1700000000,"1"],[1700000015,"0.5"],[1700000030,"NaN"]]},
            {"metric":{"job":"b"},"values":[[1700000000,"2"]]}]}"#,
        )],
        q,
    )
    .await;
    let r = r.unwrap();
    let QueryResult::Matrix(series) = &r else {
        panic!("{r:?}")
    };
    assert_eq!(series.len(), 2);
    assert_eq!(series[0].samples.len(), 3);
    assert_eq!(series[0].samples[1].at, Timestamp(1_700_000_015_000));
    assert!(series[0].samples[2].value.is_nan());
    assert_eq!(r.single_value(), Err(ValueProblem::Ambiguous));
    assert_eq!(r.all_values().unwrap(), vec![1.0, 0.5, 2.0]);
    let seen = &fake.seen()[0];
    assert_eq!(seen.path, "/api/v1/query_range");
    assert_eq!(seen.form("start").unwrap(), "1700000000.000");
    assert_eq!(seen.form("end").unwrap(), "1700000060.000");
    assert_eq!(seen.form("step").unwrap(), "15");
}

#[tokio::test]
async fn nan_inf_and_empty_are_distinct_problems() {
    let (_f, nan) = run(vec![vector_of("NaN")], MetricQuery::instant("a/b")).await;
    assert_eq!(nan.unwrap().single_value(), Err(ValueProblem::NaN));
    let (_f, inf) = run(vec![vector_of("+Inf")], MetricQuery::instant("a/b")).await;
    assert_eq!(inf.unwrap().single_value(), Err(ValueProblem::Infinite));
    let (_f, empty) = run(
        vec![success(r#"{"resultType":"vector","result":[]}"#)],
        MetricQuery::instant("nothing"),
    )
    .await;
    let empty = empty.unwrap();
    assert_eq!(empty, QueryResult::Vector(vec![]));
    assert_eq!(empty.single_value(), Err(ValueProblem::Empty));
}

#[tokio::test]
async fn bad_data_is_a_bad_query_with_prometheus_text_and_no_retry() {
    let body = r#"{"status":"error","errorType":"bad_data","error":"invalid parameter \"query\": 1:5: parse error: unexpected right parenthesis ')'"}"#;
    let (fake, r) = run(vec![(400, body.into())], MetricQuery::instant("sum())")).await;
    let e = r.unwrap_err();
    assert_eq!(e.kind, MetricsErrorKind::BadQuery);
    assert!(e.message.contains("bad_data"), "{e}");
    assert!(e.message.contains("unexpected right parenthesis"), "{e}");
    assert_eq!(e.expr, "sum())");
    assert_eq!(fake.seen().len(), 1, "a bad query must not be retried");
}

#[tokio::test]
async fn execution_errors_422_are_bad_queries() {
    let body = r#"{"status":"error","errorType":"execution","error":"found duplicate series for the match group"}"#;
    let (_f, r) = run(vec![(422, body.into())], MetricQuery::instant("a * on() b")).await;
    let e = r.unwrap_err();
    assert_eq!(e.kind, MetricsErrorKind::BadQuery);
    assert!(
        e.message.contains("execution: found duplicate series"),
        "{e}"
    );
}

#[tokio::test]
async fn a_503_is_retried_until_success() {
    let unavailable = (
        503,
        r#"{"status":"error","errorType":"unavailable","error":"TSDB not ready"}"#.to_string(),
    );
    let (fake, r) = run(
        vec![unavailable.clone(), unavailable, vector_of("3")],
        MetricQuery::instant("up"),
    )
    .await;
    assert_eq!(r.unwrap().single_value(), Ok(3.0));
    assert_eq!(fake.seen().len(), 3);
}

#[tokio::test]
async fn persistent_5xx_gives_unavailable_after_all_retries() {
    let (fake, r) = run(
        vec![(502, "bad gateway".into())],
        MetricQuery::instant("up"),
    )
    .await;
    let e = r.unwrap_err();
    assert_eq!(e.kind, MetricsErrorKind::Unavailable);
    assert!(
        e.message.contains("502") && e.message.contains("after 4 attempts"),
        "{e}"
    );
    assert_eq!(fake.seen().len(), 4, "1 try + 3 retries");
}

#[tokio::test]
async fn unauthorized_is_not_retried() {
    let (fake, r) = run(
        vec![(401, "Unauthorized".into())],
        MetricQuery::instant("up"),
    )
    .await;
    assert_eq!(r.unwrap_err().kind, MetricsErrorKind::Unauthorized);
    assert_eq!(fake.seen().len(), 1);
}

#[tokio::test]
async fn not_json_and_wrong_paths_are_protocol_errors() {
    let (_f, r) = run(
        vec![(200, "<html>hello</html>".into())],
        MetricQuery::instant("up"),
    )
    .await;
    let e = r.unwrap_err();
    assert_eq!(e.kind, MetricsErrorKind::Protocol);
    assert!(e.message.contains("<html>hello</html>"), "{e}");
    let (_f, r) = run(
        vec![(404, "404 page not found".into())],
        MetricQuery::instant("up"),
    )
    .await;
    let e = r.unwrap_err();
    assert_eq!(e.kind, MetricsErrorKind::Protocol);
    assert!(e.message.contains("base URL"), "{e}");
}

#[tokio::test]
async fn bearer_token_and_extra_headers_are_sent() {
    let fake = Fake::start(vec![vector_of("1")]).await;
    let src = PrometheusSource::new(
        cfg(&fake.url)
            .bearer("tok-123")
            .header("X-Scope-OrgID", "team-a"),
    )
    .unwrap();
    src.query(&MetricQuery::instant("up")).await.unwrap();
    let seen = &fake.seen()[0];
    assert_eq!(seen.header("authorization"), Some("Bearer tok-123"));
    assert_eq!(seen.header("x-scope-orgid"), Some("team-a"));
    assert!(seen
        .header("content-type")
        .unwrap()
        .starts_with("application/x-www-form-urlencoded"));
}

#[tokio::test]
async fn basic_auth_is_sent() {
    let fake = Fake::start(vec![vector_of("1")]).await;
    let src = PrometheusSource::new(cfg(&fake.url).basic("alice", "pw")).unwrap();
    src.query(&MetricQuery::instant("up")).await.unwrap();
    // base64("alice:pw") = YWxpY2U6cHc=
    assert_eq!(
        fake.seen()[0].header("authorization"),
        Some("Basic YWxpY2U6cHc=")
    );
}

#[tokio::test]
async fn a_path_prefix_is_kept() {
    let fake = Fake::start(vec![vector_of("1")]).await;
    let src = PrometheusSource::new(cfg(&format!("{}/prom", fake.url))).unwrap();
    src.query(&MetricQuery::instant("up")).await.unwrap();
    assert_eq!(fake.seen()[0].path, "/prom/api/v1/query");
}

#[tokio::test]
async fn unreachable_port_is_unavailable() {
    // Bind then drop: nothing listens on that port any more.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let src = PrometheusSource::new(cfg(&format!("http://127.0.0.1:{port}"))).unwrap();
    let e = src.query(&MetricQuery::instant("up")).await.unwrap_err();
    assert_eq!(e.kind, MetricsErrorKind::Unavailable);
    assert!(e.message.contains("cannot connect"), "{e}");
    assert!(e.message.contains("after 4 attempts"), "{e}");
}

#[tokio::test]
async fn a_hanging_server_times_out_as_unavailable() {
    let fake = Fake::start_with(vec![], true).await;
    let src = PrometheusSource::new(
        PrometheusConfig::new(&fake.url)
            .timeout(Duration::from_millis(200))
            .retries(1, Duration::from_millis(10), Duration::from_millis(10)),
    )
    .unwrap();
    let t = Instant::now();
    let e = src.query(&MetricQuery::instant("up")).await.unwrap_err();
    assert_eq!(e.kind, MetricsErrorKind::Unavailable);
    assert!(e.message.contains("within 200ms"), "{e}");
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    assert_eq!(fake.seen().len(), 2);
}

#[tokio::test]
async fn bad_ranges_are_refused_before_sending() {
    let fake = Fake::start(vec![vector_of("1")]).await;
    let src = PrometheusSource::new(cfg(&fake.url)).unwrap();
    let mut q = MetricQuery::instant("up");
    q.range = Some(QueryRange {
        start: Timestamp(2000),
        end: Timestamp(1000),
        step: Duration::from_secs(1),
    });
    assert_eq!(
        src.query(&q).await.unwrap_err().kind,
        MetricsErrorKind::BadQuery
    );
    q.range = Some(QueryRange {
        start: Timestamp(1000),
        end: Timestamp(2000),
        step: Duration::ZERO,
    });
    assert_eq!(
        src.query(&q).await.unwrap_err().kind,
        MetricsErrorKind::BadQuery
    );
    assert_eq!(
        src.query(&MetricQuery::instant("  "))
            .await
            .unwrap_err()
            .kind,
        MetricsErrorKind::BadQuery
    );
    assert!(fake.seen().is_empty());
}
