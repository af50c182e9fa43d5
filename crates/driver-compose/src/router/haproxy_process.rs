//! A private HAProxy for tests and local development: a generated configuration (frontend
//! on a loopback port, one backend of disabled server slots with health checks, an admin
//! stats socket) in a folder, the process started in the foreground and stopped (by pid)
//! when dropped.

use super::haproxy::is_haproxy_name;
use super::HaproxyRouter;
use shipcore::model::FieldError;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The most server slots a generated backend may declare.
pub const MAX_SLOTS: usize = 4096;

/// The longest admin socket path (a Unix socket address holds 107 bytes and a NUL).
pub const MAX_SOCKET_PATH: usize = 107;

/// A value of [`HaproxySpec`] cannot go into haproxy.cfg: which field, and why.
/// It wraps a [`FieldError`]; `e.field` and `e.problem` read its fields.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid HAProxy spec: {0}")]
pub struct HaproxySpecError(pub FieldError);

impl From<FieldError> for HaproxySpecError {
    fn from(e: FieldError) -> Self {
        HaproxySpecError(e)
    }
}

impl std::ops::Deref for HaproxySpecError {
    type Target = FieldError;
    fn deref(&self) -> &FieldError {
        &self.0
    }
}

/// The value quoted and shortened for messages.
fn shown(value: &str) -> String {
    let mut s: String = value.chars().take(64).collect();
    if s.len() < value.len() {
        s.push('…');
    }
    format!("{s:?}")
}

/// What to start. Every value that goes into haproxy.cfg is checked by
/// [`HaproxySpec::check`] (and so by [`HaproxySpec::config`] and [`HaproxyProcess::start`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct HaproxySpec {
    /// The `haproxy` binary.
    pub bin: PathBuf,
    /// Folder for the configuration, the admin socket and the log. Its path goes into
    /// haproxy.cfg: UTF-8, no whitespace, control character or any of `#"'\$`, and the
    /// socket path in it at most [`MAX_SOCKET_PATH`] bytes.
    pub dir: PathBuf,
    /// Frontend port on 127.0.0.1; 0 picks a free one.
    pub port: u16,
    /// Backend name: an HAProxy name (see [`is_haproxy_name`]).
    pub backend: String,
    /// Server slots declared (disabled) in the backend: 1 to [`MAX_SLOTS`].
    pub slots: usize,
    /// HTTP health check path; `None` checks with a TCP connect. It starts with `/` and holds
    /// only URL path and query characters (letters, digits and `-._~/!&()*+,;=:@%?`), at
    /// most 1024 bytes.
    pub health_path: Option<String>,
    /// Time between health checks.
    pub check_interval: Duration,
    /// Retry a failed connection or empty answer on another server (`retry-on`); when
    /// false, no retry at all (`retries 0`), so every failure reaches the client.
    pub retries: bool,
}

impl HaproxySpec {
    /// 16 slots in backend `app`, HTTP checks of `/health` every 500 ms, retries on.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        HaproxySpec {
            bin: "haproxy".into(),
            dir: dir.into(),
            port: 0,
            backend: "app".into(),
            slots: 16,
            health_path: Some("/health".into()),
            check_interval: Duration::from_millis(500),
            retries: true,
        }
    }

    /// The admin socket path.
    pub fn socket(&self) -> PathBuf {
        self.dir.join("admin.sock")
    }

    /// Checks every value that goes into haproxy.cfg; the error names the field.
    pub fn check(&self) -> Result<(), HaproxySpecError> {
        if !is_haproxy_name(&self.backend) {
            return Err(FieldError::new(
                "backend",
                format!(
                    "{} is not an HAProxy name: use 1 to 64 letters, digits, '-', '_', '.' and ':'",
                    shown(&self.backend)
                ),
            )
            .into());
        }
        if self.slots == 0 || self.slots > MAX_SLOTS {
            return Err(FieldError::new(
                "slots",
                format!("{} is out of range: 1 to {MAX_SLOTS}", self.slots),
            )
            .into());
        }
        if let Some(path) = &self.health_path {
            let ok = path.starts_with('/')
                && path.len() <= 1024
                && path
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-._~/!&()*+,;=:@%?".contains(&b));
            if !ok {
                return Err(FieldError::new(
                    "health_path",
                    format!(
                        "{} must start with '/' and hold only letters, digits and -._~/!&()*+,;=:@%? (at most 1024 bytes)",
                        shown(path)
                    ),
                ).into());
            }
        }
        let socket = self.socket();
        let Some(text) = socket.to_str() else {
            return Err(
                FieldError::new("dir", format!("{} is not UTF-8", self.dir.display())).into(),
            );
        };
        if text
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || "#\"'\\$".contains(c))
        {
            return Err(FieldError::new(
                "dir",
                format!(
                    "{} may not hold whitespace, control characters or any of #\"'\\$ (it goes into haproxy.cfg)",
                    shown(text)
                ),
            ).into());
        }
        if text.len() > MAX_SOCKET_PATH {
            return Err(FieldError::new(
                "dir",
                format!(
                    "the admin socket path {} is {} bytes long; a Unix socket path holds at most {MAX_SOCKET_PATH}",
                    shown(text),
                    text.len()
                ),
            ).into());
        }
        Ok(())
    }

    /// The configuration for a frontend on `listen`, once [`HaproxySpec::check`] passed.
    ///
    /// ```
    /// let spec = shipcore_driver_compose::router::HaproxySpec::new("/tmp/h");
    /// let cfg = spec.config(([127, 0, 0, 1], 18080).into()).unwrap();
    /// assert!(cfg.contains("bind 127.0.0.1:18080"));
    /// assert!(cfg.contains("stats socket /tmp/h/admin.sock mode 600 level admin"));
    /// assert!(cfg.contains("server s15 127.0.0.1:9"));
    /// let mut bad = spec.clone();
    /// bad.backend = "app\n    server evil 10.0.0.1:80".into();
    /// assert_eq!(bad.config(([127, 0, 0, 1], 18080).into()).unwrap_err().field, "backend");
    /// ```
    pub fn config(&self, listen: SocketAddr) -> Result<String, HaproxySpecError> {
        self.check()?;
        let ms = self.check_interval.as_millis().max(100);
        let mut c = format!(
            "global\n    stats socket {sock} mode 600 level admin\n    maxconn 4096\n\n\
             defaults\n    mode http\n    timeout connect 2s\n    timeout client 30s\n    timeout server 30s\n",
            sock = self.socket().display()
        );
        if self.retries {
            c += "    option redispatch\n    retries 3\n    retry-on conn-failure empty-response response-timeout\n";
        } else {
            // HAProxy retries failed connections 3 times by default.
            c += "    retries 0\n";
        }
        c += &format!(
            "\nfrontend shipcore_in\n    bind {listen}\n    default_backend {b}\n\nbackend {b}\n    balance roundrobin\n",
            b = self.backend
        );
        if let Some(path) = &self.health_path {
            c += &format!("    option httpchk GET {path}\n    http-check expect status 200\n");
        }
        c += &format!(
            "    default-server check inter {ms}ms fastinter {ms}ms downinter {ms}ms rise 1 fall 2 weight 0 disabled\n"
        );
        for i in 0..self.slots {
            c += &format!("    server s{i} 127.0.0.1:9\n");
        }
        Ok(c)
    }
}

/// A running HAProxy, stopped when dropped.
#[derive(Debug)]
pub struct HaproxyProcess {
    child: Child,
    listen: SocketAddr,
    spec: HaproxySpec,
}

impl HaproxyProcess {
    /// Checks the spec ([`HaproxySpec::check`]), writes the configuration and starts
    /// HAProxy; returns once its admin socket answers.
    pub async fn start(spec: HaproxySpec) -> Result<HaproxyProcess, String> {
        spec.check().map_err(|e| e.to_string())?;
        std::fs::create_dir_all(&spec.dir)
            .map_err(|e| format!("creating {}: {e}", spec.dir.display()))?;
        let mut last = String::new();
        for _ in 0..3 {
            let port = if spec.port == 0 {
                free_port()?
            } else {
                spec.port
            };
            let listen = SocketAddr::from(([127, 0, 0, 1], port));
            let cfg_path = spec.dir.join("haproxy.cfg");
            let cfg = spec.config(listen).map_err(|e| e.to_string())?;
            std::fs::write(&cfg_path, cfg)
                .map_err(|e| format!("writing {}: {e}", cfg_path.display()))?;
            let log_path = spec.dir.join("haproxy.log");
            let log = std::fs::File::create(&log_path)
                .map_err(|e| format!("creating {}: {e}", log_path.display()))?;
            let _ = std::fs::remove_file(spec.socket());
            let child = Command::new(&spec.bin)
                .arg("-db")
                .arg("-f")
                .arg(&cfg_path)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .map_err(|e| {
                    format!(
                        "cannot start {} (install it: scripts/e2e/haproxy.sh install): {e}",
                        spec.bin.display()
                    )
                })?;
            let mut p = HaproxyProcess {
                child,
                listen,
                spec: spec.clone(),
            };
            let start = Instant::now();
            while start.elapsed() < Duration::from_secs(5) {
                if let Ok(Some(_)) = p.child.try_wait() {
                    break;
                }
                if p.router().command("show info").await.is_ok() {
                    return Ok(p);
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            last = std::fs::read_to_string(&log_path).unwrap_or_default();
            drop(p);
            if spec.port != 0 {
                break;
            }
        }
        Err(format!("HAProxy did not start: {last}"))
    }

    /// The frontend address.
    pub fn addr(&self) -> SocketAddr {
        self.listen
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// A router for its backend.
    pub fn router(&self) -> HaproxyRouter {
        HaproxyRouter::new(self.spec.socket(), self.spec.backend.clone())
    }

    /// What it was started with.
    pub fn spec(&self) -> &HaproxySpec {
        &self.spec
    }
}

impl Drop for HaproxyProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> Result<u16, String> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")
        .map_err(|e| format!("finding a free port: {e}"))?;
    l.local_addr()
        .map(|a| a.port())
        .map_err(|e| format!("finding a free port: {e}"))
}
