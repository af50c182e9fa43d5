//! Shared parts of the Compose driver's end-to-end tests: finding the real components
//! (Podman's Docker-compatible socket, docker-compose v2, HAProxy, podman for builds),
//! building the test images, a compose project in a temporary folder torn down on drop,
//! a bounded load loop on loopback, and waiting for readiness. Submodules: `engine` (the
//! real Runner), `prom` (a file_sd Prometheus), `naive` (the baseline), `scenario`.
//!
//! Runs only with SHIPCORE_E2E=1: then a missing part fails the test loudly, saying how to
//! install it; without it each test prints why it is skipped and passes.
#![allow(dead_code, clippy::unwrap_used)]

pub mod engine;
pub mod naive;
pub mod prom;
pub mod scenario;

use shipcore::driver::Driver;
use shipcore::model::{FleetState, RevisionId, Target};
use shipcore_driver_compose::internals::{Endpoint, EngineClient};
use shipcore_driver_compose::router::{HaproxyProcess, HaproxySpec};
use shipcore_driver_compose::{ComposeCli, ComposeConfig, ComposeDriver, HttpProbe};
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

const HOW: &str = "run scripts/ci/e2e-compose.sh, or by hand: scripts/e2e/podman.sh install && scripts/e2e/podman.sh up && scripts/e2e/haproxy.sh install && scripts/e2e/prometheus.sh install && scripts/e2e/build-demo-image.sh && eval \"$(scripts/e2e/podman.sh env)\"";

/// The real components, found.
#[derive(Debug, Clone)]
pub struct Env {
    pub docker_host: String,
    pub compose_bin: PathBuf,
    pub haproxy_bin: PathBuf,
    pub containers_conf: Option<PathBuf>,
}

fn state_dir() -> PathBuf {
    std::env::var("SHIPCORE_E2E_STATE")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from("/tmp/shipcore-e2e"))
}

/// `Some(env)` when the end-to-end tests should run; `None` (after saying why) when
/// SHIPCORE_E2E is not set. Panics when SHIPCORE_E2E=1 and something is missing.
pub async fn env(test: &str) -> Option<Env> {
    if std::env::var("SHIPCORE_E2E").ok().as_deref() != Some("1") {
        eprintln!("skipping {test}: set SHIPCORE_E2E=1 to run it against Podman, docker-compose v2 and HAProxy ({HOW})");
        return None;
    }
    let missing = |what: String| -> ! { panic!("SHIPCORE_E2E=1 but {what}; {HOW}") };
    let docker_host = std::env::var("DOCKER_HOST")
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| format!("unix://{}/podman.sock", state_dir().display()));
    let endpoint = Endpoint::parse(&docker_host)
        .unwrap_or_else(|e| missing(format!("DOCKER_HOST is unusable: {e}")));
    if let Err(e) = EngineClient::new(endpoint, Duration::from_secs(5))
        .version()
        .await
    {
        missing(format!(
            "the container engine at {docker_host} does not answer ({e})"
        ));
    }
    let compose_bin = std::env::var("SHIPCORE_COMPOSE_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from("docker-compose"));
    match Command::new(&compose_bin)
        .args(["version", "--short"])
        .output()
    {
        Ok(o) if o.status.success() && String::from_utf8_lossy(&o.stdout).starts_with('2') => {}
        Ok(o) => missing(format!(
            "{} is not Docker Compose v2 ({})",
            compose_bin.display(),
            String::from_utf8_lossy(&o.stdout).trim()
        )),
        Err(e) => missing(format!(
            "docker-compose v2 is not installed ({}: {e})",
            compose_bin.display()
        )),
    }
    let haproxy_bin = std::env::var("SHIPCORE_HAPROXY_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from("haproxy"));
    if Command::new(&haproxy_bin)
        .arg("-v")
        .output()
        .map(|o| !o.status.success())
        .unwrap_or(true)
    {
        missing(format!(
            "HAProxy is not installed ({})",
            haproxy_bin.display()
        ));
    }
    if Command::new("podman")
        .arg("--version")
        .output()
        .map(|o| !o.status.success())
        .unwrap_or(true)
    {
        missing("podman (used to build the test images) is not installed".into());
    }
    let containers_conf = std::env::var("CONTAINERS_CONF")
        .ok()
        .map(PathBuf::from)
        .or_else(|| Some(state_dir().join("containers.conf")).filter(|p| p.is_file()));
    Some(Env {
        docker_host,
        compose_bin,
        haproxy_bin,
        containers_conf,
    })
}

impl Env {
    pub fn podman(&self) -> Command {
        let mut c = Command::new("podman");
        if let Some(conf) = &self.containers_conf {
            c.env("CONTAINERS_CONF", conf);
        }
        c
    }

    pub fn compose(&self, project: &str, files: &[&Path]) -> Command {
        let mut c = Command::new(&self.compose_bin);
        c.env("DOCKER_HOST", &self.docker_host)
            .args(["--ansi", "never", "-p", project]);
        for f in files {
            c.arg("-f").arg(f);
        }
        c
    }
}

/// The two test images: revision 1 and revision 2 of one service.
#[derive(Debug, Clone)]
pub struct Images {
    pub v1: String,
    pub v2: String,
    /// Version 2.0.0 gone bad: 10% of application requests answer 500, +300 ms each
    /// (demo-service only; with tiny_http it is the same as `v2`).
    pub v2_bad: String,
    /// What the application is (`demo-service` or `tiny_http`).
    pub app: &'static str,
}

static IMAGES: OnceLock<Result<Images, String>> = OnceLock::new();

fn run(cmd: &mut Command, what: &str) -> Result<String, String> {
    let out = cmd.output().map_err(|e| format!("{what}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{what} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Builds (once per test binary) `localhost/shipcore-compose-e2e:v1` and `:v2`. Both carry
/// `/probe` (the static tiny_http fixture) for compose healthchecks; the application is the
/// demo service when its image (`scripts/e2e/build-demo-image.sh`) exists, else tiny_http.
pub fn images(env: &Env) -> Images {
    IMAGES
        .get_or_init(|| build_images(env))
        .clone()
        .unwrap_or_else(|e| panic!("building the test images: {e}"))
}

fn build_images(env: &Env) -> Result<Images, String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tiny_http.rs");
    let bin = dir.path().join("tiny_http");
    run(
        Command::new(std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into()))
            .args([
                "--edition",
                "2021",
                "-O",
                "-C",
                "target-feature=+crt-static",
                "-o",
            ])
            .arg(&bin)
            .arg(&src),
        "compiling tests/fixtures/tiny_http.rs",
    )?;
    std::fs::copy(&bin, dir.path().join("probe")).map_err(|e| e.to_string())?;
    let demo = "localhost/shipcore-demo:latest";
    // SHIPCORE_E2E_COMPOSE_APP=tiny forces the fixture even when the demo image exists.
    let force_tiny = std::env::var("SHIPCORE_E2E_COMPOSE_APP").ok().as_deref() == Some("tiny");
    let has_demo = !force_tiny
        && env
            .podman()
            .args(["image", "exists", demo])
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
    let mut tags = Vec::new();
    for (tag, version, faults) in [
        ("v1", "1.0.0", ""),
        ("v2", "2.0.0", ""),
        ("v2-bad", "2.0.0", " ERROR_RATE=0.1 LATENCY_MS=300"),
    ] {
        let containerfile = if has_demo {
            format!("FROM {demo}\nCOPY probe /probe\nENV VERSION={version}{faults}\n")
        } else {
            format!("FROM scratch\nCOPY tiny_http /app\nCOPY probe /probe\nENTRYPOINT [\"/app\"]\nCMD [\"serve\", \"--port\", \"8080\", \"--version\", \"{version}\"]\n")
        };
        let file = dir.path().join(format!("Containerfile.{tag}"));
        std::fs::write(&file, containerfile).map_err(|e| e.to_string())?;
        let image = format!("localhost/shipcore-compose-e2e:{tag}");
        run(
            env.podman()
                .args(["build", "-q", "-f"])
                .arg(&file)
                .args(["-t", &image])
                .arg(dir.path()),
            &format!("podman build {image}"),
        )?;
        tags.push(image);
    }
    let app = if has_demo {
        "demo-service"
    } else {
        "tiny_http"
    };
    eprintln!("test images: {} (application: {app})", tags.join(", "));
    Ok(Images {
        v1: tags[0].clone(),
        v2: tags[1].clone(),
        v2_bad: tags[2].clone(),
        app,
    })
}

/// A compose project in a temporary folder; `down --remove-orphans` on drop, whatever
/// happened (revision services exist only in the driver's generated file, so they are
/// orphans to a plain compose run and go too).
pub struct Project {
    pub name: String,
    pub dir: tempfile::TempDir,
    pub file: PathBuf,
    env: Env,
}

impl Project {
    /// A project named `shipcore-e2e-<tag>-<pid>` whose compose file is `yaml`.
    pub fn new(env: &Env, tag: &str, yaml: &str) -> Project {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("compose.yaml");
        std::fs::write(&file, yaml).unwrap();
        let name = format!("shipcore-e2e-{tag}-{}", std::process::id());
        Project {
            name,
            dir,
            file,
            env: env.clone(),
        }
    }

    /// The standard service `web` on `image` with a compose healthcheck through `/probe`.
    pub fn web(env: &Env, tag: &str, image: &str) -> Project {
        Project::new(env, tag, &web_yaml(image, None))
    }

    pub fn rewrite(&self, yaml: &str) {
        std::fs::write(&self.file, yaml).unwrap();
    }

    /// The driver configuration for service `web`, port 8080, `/health` probe.
    pub fn config(&self) -> ComposeConfig {
        config_for(
            &self.env,
            &self.name,
            &self.file,
            &self.dir.path().join("state"),
        )
    }

    /// Containers of the project, any state (by the engine, not by the driver).
    pub fn container_names(&self) -> Vec<String> {
        let out = self
            .env
            .podman()
            .args([
                "ps",
                "-a",
                "--filter",
                &format!("label=com.docker.compose.project={}", self.name),
                "--format",
                "{{.Names}}",
            ])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_string)
            .filter(|l| !l.is_empty())
            .collect()
    }
}

impl Drop for Project {
    fn drop(&mut self) {
        let out = self
            .env
            .compose(&self.name, &[&self.file])
            .args(["down", "--remove-orphans", "--volumes", "-t", "1"])
            .output();
        if let Ok(o) = out {
            if !o.status.success() {
                eprintln!(
                    "teardown of {}: {}",
                    self.name,
                    String::from_utf8_lossy(&o.stderr)
                );
            }
        }
        // Belt and braces: anything left with the project's label.
        let left = self.container_names();
        if !left.is_empty() {
            let _ = self
                .env
                .podman()
                .args(["rm", "-f", "-t", "0"])
                .args(&left)
                .output();
        }
    }
}

/// The tests' driver configuration for project `name`, service `web` in `file`, port
/// 8080, `/health` probe, traffic shares kept under `state_dir` (a child process that
/// resumes a rollout builds the same one).
pub fn config_for(env: &Env, name: &str, file: &Path, state_dir: &Path) -> ComposeConfig {
    let mut cfg = ComposeConfig::new(name, "web", [file.to_path_buf()], 8080);
    cfg.cli = ComposeCli::standalone(env.compose_bin.clone());
    cfg.docker_host = Some(env.docker_host.clone());
    cfg.http_probe = Some(HttpProbe::get("/health"));
    cfg.state_dir = state_dir.to_path_buf();
    cfg.drain_timeout = Duration::from_secs(3);
    cfg.command_timeout = Duration::from_secs(90);
    cfg
}

/// Compose YAML for `web` on `image`; `ports` adds a fixed published port (naive test).
pub fn web_yaml(image: &str, fixed_port: Option<u16>) -> String {
    let mut y = format!(
        "services:\n  web:\n    image: {image}\n    stop_grace_period: 2s\n    healthcheck:\n      test: [\"CMD\", \"/probe\", \"probe\", \"--port\", \"8080\"]\n      interval: 1s\n      timeout: 2s\n      retries: 2\n"
    );
    if let Some(p) = fixed_port {
        y += &format!("    ports:\n      - \"127.0.0.1:{p}:8080\"\n");
    }
    y
}

/// HAProxy in a temporary folder with `slots` server slots, checking `/health`. The tests
/// turn HAProxy's own retries off, so the figures show what the update itself costs
/// rather than what a forgiving proxy hides.
pub async fn haproxy(env: &Env, dir: &Path, slots: usize) -> HaproxyProcess {
    let mut spec = HaproxySpec::new(dir.join("haproxy"));
    spec.bin = env.haproxy_bin.clone();
    spec.slots = slots;
    spec.retries = false;
    spec.check_interval = Duration::from_millis(300);
    HaproxyProcess::start(spec)
        .await
        .unwrap_or_else(|e| panic!("starting HAProxy: {e}"))
}

/// Polls `observe` until `rev` has `n` desired and `n` ready replicas.
pub async fn wait_ready(
    driver: &ComposeDriver,
    target: &Target,
    rev: &str,
    n: u32,
    limit: Duration,
) -> FleetState {
    let id = RevisionId::new(rev);
    let start = Instant::now();
    loop {
        let fleet = driver.observe(target).await.unwrap();
        if fleet.desired_of(&id) == n && fleet.ready_of(&id) == n {
            return fleet;
        }
        assert!(
            start.elapsed() < limit,
            "{rev} not {n}/{n} ready after {limit:?}: {fleet:?}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// Counters of a load loop.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tally {
    pub ok: u64,
    pub failed: u64,
    /// Successful answers per version found in the body (`1.0.0`, `2.0.0`, `other`).
    pub by_version: BTreeMap<String, u64>,
    /// Failures by kind (status code or error).
    pub failures: BTreeMap<String, u64>,
    /// When each version (as in `by_version`) first answered.
    pub first_at: BTreeMap<String, Instant>,
}

impl Tally {
    pub fn total(&self) -> u64 {
        self.ok + self.failed
    }
    pub fn version(&self, v: &str) -> u64 {
        self.by_version.get(v).copied().unwrap_or(0)
    }
    /// What happened since `earlier`.
    pub fn since(&self, earlier: &Tally) -> Tally {
        let diff =
            |a: &BTreeMap<String, u64>, b: &BTreeMap<String, u64>| -> BTreeMap<String, u64> {
                a.iter()
                    .map(|(k, v)| (k.clone(), v - b.get(k).copied().unwrap_or(0)))
                    .filter(|(_, v)| *v > 0)
                    .collect()
            };
        Tally {
            ok: self.ok - earlier.ok,
            failed: self.failed - earlier.failed,
            by_version: diff(&self.by_version, &earlier.by_version),
            failures: diff(&self.failures, &earlier.failures),
            first_at: self.first_at.clone(),
        }
    }
}

/// The load every engine-vs-naive comparison uses: 4 workers, a new connection every 5 ms
/// each, at most 400k requests or 5 minutes.
pub fn standard_load(addr: SocketAddr) -> Load {
    Load::start(
        addr,
        4,
        Duration::from_millis(5),
        400_000,
        Duration::from_secs(300),
    )
}

/// A bounded load loop on a loopback address: `workers` threads, each sending `GET /` on a
/// new connection every `pause`, until stopped, `max_requests` in all, or `max_time`.
pub struct Load {
    stop: Arc<AtomicBool>,
    tally: Arc<Mutex<Tally>>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Load {
    pub fn start(
        addr: SocketAddr,
        workers: usize,
        pause: Duration,
        max_requests: u64,
        max_time: Duration,
    ) -> Load {
        assert!(addr.ip().is_loopback(), "load only ever targets loopback");
        let stop = Arc::new(AtomicBool::new(false));
        let tally = Arc::new(Mutex::new(Tally::default()));
        let per_worker = max_requests / workers as u64;
        let deadline = Instant::now() + max_time;
        let threads = (0..workers)
            .map(|_| {
                let (stop, tally) = (stop.clone(), tally.clone());
                std::thread::spawn(move || {
                    for _ in 0..per_worker {
                        if stop.load(Ordering::Relaxed) || Instant::now() >= deadline {
                            break;
                        }
                        let r = one_request(addr);
                        let mut t = tally.lock().unwrap();
                        match r {
                            Ok(body) => {
                                t.ok += 1;
                                let v = ["1.0.0", "2.0.0"]
                                    .into_iter()
                                    .find(|v| body.contains(v))
                                    .unwrap_or("other");
                                *t.by_version.entry(v.to_string()).or_default() += 1;
                                t.first_at.entry(v.to_string()).or_insert_with(Instant::now);
                            }
                            Err(kind) => {
                                t.failed += 1;
                                *t.failures.entry(kind).or_default() += 1;
                            }
                        }
                        drop(t);
                        std::thread::sleep(pause);
                    }
                })
            })
            .collect();
        Load {
            stop,
            tally,
            threads,
        }
    }

    pub fn snapshot(&self) -> Tally {
        self.tally.lock().unwrap().clone()
    }

    /// Stops the loop and returns the totals.
    pub fn finish(mut self) -> Tally {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        self.snapshot()
    }
}

impl Drop for Load {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn one_request(addr: SocketAddr) -> Result<String, String> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2))
        .map_err(|e| format!("connect: {:?}", e.kind()))?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok();
    s.write_all(b"GET / HTTP/1.1\r\nHost: e2e\r\nConnection: close\r\n\r\n")
        .map_err(|e| format!("send: {:?}", e.kind()))?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf)
        .map_err(|e| format!("read: {:?}", e.kind()))?;
    let text = String::from_utf8_lossy(&buf).into_owned();
    let status = text.split_whitespace().nth(1).unwrap_or("none").to_string();
    if status == "200" {
        Ok(text)
    } else {
        Err(format!("status {status}"))
    }
}
