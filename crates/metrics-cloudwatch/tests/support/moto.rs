//! A private moto server (PyPI `moto[server]`, 5.2.5) per test, as the AWS control plane of
//! the end-to-end tests: `moto_server -H 127.0.0.1 -p PORT` on a free port, killed when the
//! guard drops, so no state leaks from one test to the next.
//!
//! Self-contained (std, tokio and reqwest only) so other crates' tests can include it:
//! `#[path = "../../metrics-cloudwatch/tests/support/moto.rs"] mod moto;`.
//!
//! The binary is `$SHIPCORE_MOTO_SERVER`, else `moto_server` on PATH. When it is missing,
//! [`Moto::start`] returns `None` after saying why (the test then returns early), unless
//! `SHIPCORE_E2E=1`, where a missing part fails loudly. A moto that starts but never
//! answers is a failure either way (its log is in the panic message).
//!
//! Point an AWS SDK at [`Moto::endpoint`] with [`Moto::REGION`] (or any region) and static
//! dummy credentials ([`Moto::ACCESS_KEY_ID`], [`Moto::SECRET_ACCESS_KEY`]).
#![allow(dead_code, clippy::unwrap_used)]

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long moto may take to answer `GET /moto-api/` after it is spawned.
const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// One moto server process on 127.0.0.1, killed (and its log removed) on drop.
pub struct Moto {
    child: Child,
    url: String,
    log: PathBuf,
    http: reqwest::Client,
}

/// Whether end-to-end tests are required (`SHIPCORE_E2E=1`): then missing parts panic.
pub fn e2e_required() -> bool {
    std::env::var("SHIPCORE_E2E").as_deref() == Ok("1")
}

/// The moto server command: `$SHIPCORE_MOTO_SERVER` or `moto_server`.
pub fn moto_bin() -> String {
    std::env::var("SHIPCORE_MOTO_SERVER").unwrap_or_else(|_| "moto_server".into())
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// Skips (returns `None`) or, with SHIPCORE_E2E=1, panics, saying why.
fn absent(why: String) -> Option<Moto> {
    let msg = format!(
        "{why}; install it with `pip install 'moto[server]==5.2.5'` (scripts/ci/e2e-ecs.sh \
         does) or point SHIPCORE_MOTO_SERVER at the binary"
    );
    if e2e_required() {
        panic!("SHIPCORE_E2E=1 but moto is not available: {msg}");
    }
    eprintln!("skipped: moto is not available ({msg}); SHIPCORE_E2E=1 makes this a failure");
    None
}

impl Moto {
    /// Dummy credentials moto accepts.
    pub const ACCESS_KEY_ID: &'static str = "testing";
    /// Dummy credentials moto accepts.
    pub const SECRET_ACCESS_KEY: &'static str = "testing";
    /// The region the tests use.
    pub const REGION: &'static str = "us-east-1";

    /// Starts a fresh moto server and waits (at most 60 s) until it answers; `None` (after
    /// printing why) when moto is not installed and SHIPCORE_E2E is not 1.
    pub async fn start() -> Option<Moto> {
        Moto::start_with_env(&[]).await
    }

    /// [`Moto::start`] with extra environment variables for the server (for example
    /// `MOTO_ECS_SERVICE_RUNNING`).
    pub async fn start_with_env(env: &[(&str, &str)]) -> Option<Moto> {
        let bin = moto_bin();
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .no_proxy()
            .build()
            .unwrap();
        let mut last_log = String::new();
        // A free port can be taken between probing and binding: a few attempts.
        for attempt in 0..3 {
            let port = free_port();
            let log = std::env::temp_dir().join(format!(
                "shipcore-moto-{}-{port}-{attempt}.log",
                std::process::id()
            ));
            let log_file = std::fs::File::create(&log).unwrap();
            let log_err = log_file.try_clone().unwrap();
            let mut cmd = Command::new(&bin);
            cmd.args(["-H", "127.0.0.1", "-p", &port.to_string()])
                .stdin(Stdio::null())
                .stdout(log_file)
                .stderr(log_err);
            for (k, v) in env {
                cmd.env(k, v);
            }
            let mut child = match cmd.spawn() {
                Ok(c) => c,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    let _ = std::fs::remove_file(&log);
                    return absent(format!("{bin} was not found"));
                }
                Err(e) => panic!("cannot start {bin}: {e}"),
            };
            let url = format!("http://127.0.0.1:{port}");
            let deadline = Instant::now() + READY_TIMEOUT;
            let mut exited = None;
            while Instant::now() < deadline {
                if let Ok(Some(status)) = child.try_wait() {
                    exited = Some(status);
                    break;
                }
                if let Ok(r) = http.get(format!("{url}/moto-api/")).send().await {
                    if r.status().is_success() {
                        return Some(Moto {
                            child,
                            url,
                            log,
                            http,
                        });
                    }
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            let _ = child.kill();
            let _ = child.wait();
            last_log = std::fs::read_to_string(&log).unwrap_or_default();
            let _ = std::fs::remove_file(&log);
            // A pyenv shim or a wrapper script says "command not found" with status 127.
            if exited.and_then(|s| s.code()) == Some(127) {
                return absent(format!("{bin} is not installed ({})", last_log.trim()));
            }
        }
        panic!("moto ({bin}) did not answer GET /moto-api/ within {READY_TIMEOUT:?}; its log:\n{last_log}");
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The endpoint URL to give an AWS SDK client (same as [`Moto::url`]).
    pub fn endpoint(&self) -> &str {
        &self.url
    }

    /// Wipes all of moto's state (`POST /moto-api/reset`).
    pub async fn reset(&self) {
        self.post_json("/moto-api/reset", "").await;
    }

    /// POSTs `body` (JSON, may be empty) to `path` on moto's own API and returns the answer
    /// text; panics unless it is a 2xx. For example
    /// `/moto-api/state-manager/set-transition`.
    pub async fn post_json(&self, path: &str, body: &str) -> String {
        let r = self
            .http
            .post(format!("{}{path}", self.url))
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .unwrap_or_else(|e| panic!("POST {path} to moto failed: {e}"));
        let status = r.status();
        let text = r.text().await.unwrap_or_default();
        assert!(status.is_success(), "POST {path} to moto: {status}: {text}");
        text
    }

    /// Environment variables that point an AWS SDK (or the AWS CLI) at this moto.
    pub fn sdk_env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL", self.url.clone()),
            ("AWS_REGION", Moto::REGION.to_string()),
            ("AWS_ACCESS_KEY_ID", Moto::ACCESS_KEY_ID.to_string()),
            ("AWS_SECRET_ACCESS_KEY", Moto::SECRET_ACCESS_KEY.to_string()),
        ]
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.log);
    }
}
