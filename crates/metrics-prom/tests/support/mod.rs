//! Real parts for the end-to-end test and the detection benchmark: demo-service processes,
//! a Prometheus process scraping them every second (config and data in a tempdir), and a
//! bounded load generator on loopback. Every process is killed when its guard drops.
//! Shared by tests/e2e_prometheus.rs and benches/detection_time.rs (via `#[path]`).
#![allow(dead_code, clippy::unwrap_used)]

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Whether end-to-end tests are asked for (`SHIPCORE_E2E=1`).
pub fn e2e_enabled() -> bool {
    std::env::var("SHIPCORE_E2E").as_deref() == Ok("1")
}

/// Says why the test is skipped and returns false, unless SHIPCORE_E2E=1.
pub fn e2e_or_skip(name: &str) -> bool {
    if !e2e_enabled() {
        eprintln!(
            "skipped {name}: set SHIPCORE_E2E=1 to run it against a real Prometheus \
             (install it with scripts/e2e/prometheus.sh install)"
        );
        return false;
    }
    true
}

/// The Prometheus binary (`SHIPCORE_PROMETHEUS_BIN` or `prometheus` on PATH); panics with
/// the install command when it is missing (only called when SHIPCORE_E2E=1).
pub fn prometheus_bin() -> String {
    let bin = std::env::var("SHIPCORE_PROMETHEUS_BIN").unwrap_or_else(|_| "prometheus".into());
    match Command::new(&bin).arg("--version").output() {
        Ok(o) if o.status.success() => bin,
        _ => panic!(
            "SHIPCORE_E2E=1 but the Prometheus binary ({bin}) is missing: run \
             scripts/e2e/prometheus.sh install (apt-get install -y prometheus)"
        ),
    }
}

/// The demo-service binary: `SHIPCORE_DEMO_BIN`, else built now with cargo into this
/// test's own target directory (a no-op when it is up to date).
pub fn demo_bin() -> PathBuf {
    if let Ok(p) = std::env::var("SHIPCORE_DEMO_BIN") {
        let p = PathBuf::from(p);
        assert!(
            p.is_file(),
            "SHIPCORE_DEMO_BIN={} is not a file",
            p.display()
        );
        return p;
    }
    // <target>/<profile>/deps/<test> or <target>/<profile>/examples/<example>
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().and_then(|p| p.parent()).unwrap().to_path_buf();
    let target_dir = profile_dir.parent().unwrap().to_path_buf();
    let workspace = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let cargo = option_env!("CARGO").unwrap_or("cargo");
    let out = Command::new(cargo)
        .args(["build", "-q", "-p", "demo-service", "--bin", "demo-service"])
        .arg("--manifest-path")
        .arg(workspace.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(&target_dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "building demo-service failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bin = target_dir.join("debug").join("demo-service");
    assert!(bin.is_file(), "no demo-service binary at {}", bin.display());
    bin
}

/// A demo-service process on 127.0.0.1, killed on drop.
pub struct Demo {
    child: Child,
    /// `127.0.0.1:PORT`.
    pub addr: String,
    /// When it printed its address (its clock's start, within milliseconds).
    pub started: Instant,
}

impl Demo {
    /// Starts `bin` with `args` on a free port.
    pub fn start(bin: &PathBuf, args: &[&str]) -> Demo {
        let mut child = Command::new(bin)
            .args(["--bind", "127.0.0.1", "--port", "0"])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let started = Instant::now();
        let addr = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("demo-service said {line:?}"))
            .to_string();
        Demo {
            child,
            addr,
            started,
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One scrape target: address and the target labels Prometheus adds.
pub struct Target {
    /// `host:port`.
    pub addr: String,
    /// Value of the `revision` target label.
    pub revision: String,
}

/// A Prometheus process on 127.0.0.1 scraping the targets every second, killed on drop.
pub struct Prometheus {
    child: Option<Child>,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    _dir: tempfile::TempDir,
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

impl Prometheus {
    /// Starts Prometheus (job `demo`, target labels `service="web"` and `revision`) and
    /// waits until it is ready.
    pub fn start(targets: &[Target]) -> Prometheus {
        let mut scrape = String::from("  - job_name: demo\n    static_configs:\n");
        for t in targets {
            scrape.push_str(&format!(
                "      - targets: ['{}']\n        labels: {{service: 'web', revision: '{}'}}\n",
                t.addr, t.revision
            ));
        }
        Prometheus::start_with(&scrape)
    }

    /// Starts Prometheus with a 1 s scrape and evaluation interval and `scrape_configs`
    /// (YAML list entries, indented two spaces), and waits until it is ready. Used by the
    /// Compose driver's e2e tests with a `file_sd_configs` job.
    pub fn start_with(scrape_configs: &str) -> Prometheus {
        let bin = prometheus_bin();
        let dir = tempfile::tempdir().unwrap();
        let cfg = format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n\
             scrape_configs:\n{scrape_configs}"
        );
        let cfg_path = dir.path().join("prometheus.yml");
        std::fs::write(&cfg_path, cfg).unwrap();
        let mut last_log = String::new();
        for _attempt in 0..3 {
            let port = free_port();
            let log_path = dir.path().join("prometheus.log");
            let log = std::fs::File::create(&log_path).unwrap();
            let mut child = Command::new(&bin)
                .arg(format!("--config.file={}", cfg_path.display()))
                .arg(format!(
                    "--storage.tsdb.path={}",
                    dir.path().join("data").display()
                ))
                .arg(format!("--web.listen-address=127.0.0.1:{port}"))
                .arg("--log.level=warn")
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .unwrap();
            let url = format!("http://127.0.0.1:{port}");
            let deadline = Instant::now() + Duration::from_secs(30);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                if http_ok(&format!("127.0.0.1:{port}"), "/-/ready") {
                    return Prometheus {
                        child: Some(child),
                        url,
                        _dir: dir,
                    };
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            let _ = child.kill();
            let _ = child.wait();
            last_log = std::fs::read_to_string(&log_path).unwrap_or_default();
        }
        panic!("Prometheus did not become ready; its log:\n{last_log}");
    }

    /// Stops it now (kill, then wait).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A minimal blocking `GET path` returning whether the status is 200.
fn http_ok(addr: &str, path: &str) -> bool {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect(addr) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    if s.write_all(format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").as_bytes())
        .is_err()
    {
        return false;
    }
    let mut buf = [0u8; 64];
    let n = s.read(&mut buf).unwrap_or(0);
    String::from_utf8_lossy(&buf[..n]).contains(" 200 ")
}

/// Counts of a load run.
#[derive(Debug, Default)]
pub struct LoadStats {
    /// Requests sent.
    pub sent: AtomicU64,
    /// Answers with status 5xx.
    pub errors: AtomicU64,
    /// Requests that got no answer.
    pub failed: AtomicU64,
}

/// Bounded load on loopback: `rps` requests per second to each base URL (alternating `/`
/// and `/api/items`), for at most `duration`; aborted when the handle drops.
pub struct Load {
    task: tokio::task::JoinHandle<()>,
    /// Live counts.
    pub stats: Arc<LoadStats>,
}

impl Load {
    /// Starts the load in the background.
    pub fn start(urls: Vec<String>, rps: u32, duration: Duration) -> Load {
        assert!(rps > 0 && rps <= 200, "keep the load small: {rps} rps");
        assert!(
            duration <= Duration::from_secs(300),
            "bounded: {duration:?}"
        );
        let stats = Arc::new(LoadStats::default());
        let st = stats.clone();
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .unwrap();
        let task = tokio::spawn(async move {
            let end = tokio::time::Instant::now() + duration;
            let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(rps)));
            let mut i = 0u64;
            while tokio::time::Instant::now() < end {
                tick.tick().await;
                i += 1;
                let path = if i % 2 == 0 { "/" } else { "/api/items" };
                for u in &urls {
                    let (c, st, url) = (client.clone(), st.clone(), format!("{u}{path}"));
                    st.sent.fetch_add(1, Ordering::Relaxed);
                    tokio::spawn(async move {
                        match c.get(url).send().await {
                            Ok(r) if r.status().is_server_error() => {
                                st.errors.fetch_add(1, Ordering::Relaxed);
                            }
                            Ok(_) => {}
                            Err(_) => {
                                st.failed.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                    });
                }
            }
        });
        Load { task, stats }
    }
}

impl Drop for Load {
    fn drop(&mut self) {
        self.task.abort();
    }
}
