//! The demo-service binary as a process on 127.0.0.1: health JSON, readiness delay,
//! injected errors (statistically, with a fixed seed), latency, crash, and a /metrics page
//! that a Prometheus text parser accepts.
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running demo service, killed on drop.
struct Demo {
    child: Child,
    base: String,
}

impl Demo {
    fn start(args: &[&str]) -> Demo {
        let mut child = Command::new(env!("CARGO_BIN_EXE_demo-service"))
            .args(["--port", "0"])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn demo-service");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).expect("read");
        let addr = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_string();
        Demo {
            child,
            base: format!("http://{addr}"),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap()
}

async fn get(c: &reqwest::Client, url: &str) -> (u16, String) {
    let r = c.get(url).send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.text().await.unwrap())
}

#[tokio::test]
async fn health_reports_status_version_uptime_and_dependencies() {
    let d = Demo::start(&["--version", "2.1.0", "--dependency", "db=healthy"]);
    let (status, body) = get(&client(), &d.url("/health")).await;
    assert_eq!(status, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["status"], "healthy");
    assert_eq!(v["version"], "2.1.0");
    assert!(v["uptime"].as_f64().unwrap() >= 0.0, "{body}");
    assert_eq!(v["dependencies"], serde_json::json!({"db": "healthy"}));
}

#[tokio::test]
async fn an_unhealthy_dependency_makes_health_503() {
    let d = Demo::start(&["--dependency", "db=healthy", "--dependency", "cache=down"]);
    let (status, body) = get(&client(), &d.url("/health")).await;
    assert_eq!(status, 503);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["status"], "unhealthy");
    assert_eq!(v["dependencies"]["cache"], "down");
}

#[tokio::test]
async fn health_is_503_until_the_readiness_delay_passed() {
    let started = Instant::now();
    let d = Demo::start(&["--ready-delay-s", "1"]);
    let c = client();
    let (status, body) = get(&c, &d.url("/health")).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&body).unwrap()["status"],
        "starting"
    );
    let became_ready = loop {
        let (s, _) = get(&c, &d.url("/health")).await;
        if s == 200 {
            break started.elapsed();
        }
        assert!(started.elapsed() < Duration::from_secs(10), "never ready");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(became_ready >= Duration::from_secs(1), "{became_ready:?}");
}

/// Sends `n` sequential requests to /api/items and counts the 500s.
async fn count_errors(d: &Demo, n: usize) -> usize {
    let c = client();
    let mut errors = 0;
    for _ in 0..n {
        let (s, _) = get(&c, &d.url("/api/items")).await;
        assert!(s == 200 || s == 500, "status {s}");
        errors += usize::from(s == 500);
    }
    errors
}

#[tokio::test]
async fn error_rate_is_honoured_and_reproducible_with_a_seed() {
    let n = 1000;
    let a = Demo::start(&["--error-rate", "10%", "--seed", "7"]);
    let errors = count_errors(&a, n).await;
    // Binomial(1000, 0.1): mean 100, sd 9.5; 70..130 is more than 3 sd either side.
    assert!((70..=130).contains(&errors), "{errors} errors of {n}");
    // Same seed, same request order: exactly the same number of failures.
    let b = Demo::start(&["--error-rate", "0.1", "--seed", "7"]);
    assert_eq!(count_errors(&b, n).await, errors);
    // No error rate: no failures.
    let good = Demo::start(&[]);
    assert_eq!(count_errors(&good, 200).await, 0);
}

#[tokio::test]
async fn latency_is_added_to_application_routes_only() {
    let d = Demo::start(&["--latency-ms", "300"]);
    let c = client();
    let t = Instant::now();
    assert_eq!(get(&c, &d.url("/")).await.0, 200);
    assert!(
        t.elapsed() >= Duration::from_millis(300),
        "{:?}",
        t.elapsed()
    );
    let t = Instant::now();
    assert_eq!(get(&c, &d.url("/health")).await.0, 200);
    assert!(
        t.elapsed() < Duration::from_millis(300),
        "{:?}",
        t.elapsed()
    );
}

#[tokio::test]
async fn faults_start_after_the_given_delay() {
    let d = Demo::start(&["--error-rate", "1", "--faults-after-s", "1"]);
    let c = client();
    assert_eq!(get(&c, &d.url("/api/items")).await.0, 200);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(get(&c, &d.url("/api/items")).await.0, 500);
}

#[tokio::test]
async fn echo_returns_the_body() {
    let d = Demo::start(&[]);
    let r = client()
        .post(d.url("/api/echo"))
        .body("hello shipcore")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.text().await.unwrap(), "hello shipcore");
}

#[test]
fn crashes_after_the_given_time_with_status_3() {
    let mut d = Demo::start(&["--crash-after-s", "0.3"]);
    let t = Instant::now();
    let status = loop {
        if let Some(s) = d.child.try_wait().unwrap() {
            break s;
        }
        assert!(t.elapsed() < Duration::from_secs(10), "did not crash");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(3));
}

#[test]
fn a_bad_flag_exits_2_naming_it() {
    let out = Command::new(env!("CARGO_BIN_EXE_demo-service"))
        .args(["--error-rate", "2"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--error-rate"), "{err}");
}

/// One sample line of the text format: `name{l="v",...} value`; returns name, labels, value.
fn parse_sample(line: &str) -> (String, Vec<(String, String)>, f64) {
    let (series, value) = line.rsplit_once(' ').expect("value");
    let value = match value {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        v => v
            .parse()
            .unwrap_or_else(|_| panic!("bad value in {line:?}")),
    };
    let (name, labels) = match series.split_once('{') {
        None => (series.to_string(), vec![]),
        Some((n, rest)) => {
            let body = rest.strip_suffix('}').expect("closing brace");
            let mut labels = vec![];
            let mut rest = body;
            while !rest.is_empty() {
                let (k, after) = rest.split_once("=\"").expect("label=\"");
                let mut val = String::new();
                let mut chars = after.char_indices();
                let end = loop {
                    let (i, ch) = chars.next().expect("unterminated label value");
                    match ch {
                        '\\' => {
                            let (_, e) = chars.next().expect("escape");
                            val.push(if e == 'n' { '\n' } else { e });
                        }
                        '"' => break i,
                        c => val.push(c),
                    }
                };
                labels.push((k.to_string(), val));
                rest = after[end + 1..]
                    .strip_prefix(',')
                    .unwrap_or(&after[end + 1..]);
            }
            (n.to_string(), labels)
        }
    };
    let ok_name = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
            && !s.starts_with(|c: char| c.is_ascii_digit())
    };
    assert!(ok_name(&name), "bad metric name in {line:?}");
    for (k, _) in &labels {
        assert!(ok_name(k) && !k.contains(':'), "bad label name in {line:?}");
    }
    (name, labels, value)
}

#[tokio::test]
async fn metrics_page_is_valid_text_format_with_the_right_counts() {
    let d = Demo::start(&["--version", "2.0.0", "--error-rate", "0.5", "--seed", "3"]);
    let c = client();
    let mut ok = 0;
    for _ in 0..40 {
        ok += usize::from(get(&c, &d.url("/api/items")).await.0 == 200);
    }
    assert_eq!(get(&c, &d.url("/nope")).await.0, 404);
    let r = c.get(d.url("/metrics")).send().await.unwrap();
    let ct = r.headers()["content-type"].to_str().unwrap().to_string();
    assert!(ct.starts_with("text/plain; version=0.0.4"), "{ct}");
    let text = r.text().await.unwrap();

    let mut typed = std::collections::BTreeMap::new();
    let mut samples = vec![];
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap();
            assert!(["counter", "gauge", "histogram"].contains(&kind), "{line}");
            typed.insert(name.to_string(), kind.to_string());
        } else if !line.starts_with("# HELP ") {
            samples.push(parse_sample(line));
        }
    }
    let value = |name: &str, want: &[(&str, &str)]| -> f64 {
        samples
            .iter()
            .filter(|(n, l, _)| {
                n == name
                    && want
                        .iter()
                        .all(|(k, v)| l.iter().any(|(lk, lv)| lk == k && lv == v))
            })
            .map(|(_, _, v)| *v)
            .sum()
    };
    for (name, _, _) in &samples {
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| {
                name.strip_suffix(s)
                    .filter(|f| typed.get(*f).map(String::as_str) == Some("histogram"))
            })
            .unwrap_or(name);
        assert!(typed.contains_key(family), "{name} has no # TYPE line");
    }
    let items = [("route", "/api/items"), ("version", "2.0.0")];
    let ok_n = value(
        "http_requests_total",
        &[items[0], items[1], ("status", "200")],
    );
    let err_n = value(
        "http_requests_total",
        &[items[0], items[1], ("status", "500")],
    );
    assert_eq!(ok_n as usize, ok);
    assert_eq!((ok_n + err_n) as usize, 40);
    assert_eq!(
        value(
            "http_requests_total",
            &[("route", "other"), ("status", "404")]
        ),
        1.0
    );
    assert_eq!(value("http_request_duration_seconds_count", &items), 40.0);
    assert_eq!(
        value(
            "http_request_duration_seconds_bucket",
            &[items[0], items[1], ("le", "+Inf")]
        ),
        40.0
    );
    // /health and /metrics are not counted.
    assert!(!text.contains("route=\"/metrics\"") && !text.contains("route=\"/health\""));

    // Prometheus' own parser, when promtool is installed (Debian package `prometheus`).
    match Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(mut p) => {
            use std::io::Write;
            p.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
            let out = p.wait_with_output().unwrap();
            assert!(
                out.status.success(),
                "promtool check metrics: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Err(_) if std::env::var("SHIPCORE_E2E").as_deref() == Ok("1") => {
            panic!("SHIPCORE_E2E=1 but promtool is missing: run scripts/e2e/prometheus.sh install")
        }
        Err(_) => eprintln!("promtool not found: skipped the promtool check of /metrics (install: scripts/e2e/prometheus.sh install)"),
    }
}
