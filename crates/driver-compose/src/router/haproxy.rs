//! [`Router`] on HAProxy's runtime API (the admin stats socket): endpoints live in
//! pre-declared server slots of one backend (`server sN 127.0.0.1:9 disabled` lines), and
//! are assigned with `set server B/S addr`, weighted with `set server B/S weight`, drained
//! and retired with `set server B/S state drain|maint`: no reload, no dropped connection.
//!
//! The runtime API reads one command per line and `;` separates commands, so every name that
//! goes into a command (the backend, each server slot) must be an HAProxy name
//! ([`is_haproxy_name`]: letters, digits, `-`, `_`, `.`, `:`); anything else is refused with a
//! permanent error naming the field before any command is sent.

use super::{endpoint_weights, EndpointStatus, RevisionRoute, Router, RouterError};
use async_trait::async_trait;
use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// HAProxy's largest server weight.
pub const MAX_WEIGHT: u32 = 256;
/// Admin-state bits that mean maintenance (forced, inherited, resolver, hostname).
const ADMIN_MAINT: u32 = 0x01 | 0x02 | 0x20 | 0x40;
/// Admin-state bits that mean draining (forced, inherited).
const ADMIN_DRAIN: u32 = 0x08 | 0x10;
/// Answers of the runtime API that mean the command failed.
const FAILURES: &[&str] = &[
    "no such",
    "unknown command",
    "permission denied",
    "require ",
    "invalid",
    "unknown keyword",
    "cannot",
    "can't",
    "not allowed",
    "failed",
];

/// The longest backend or server name accepted.
pub const MAX_NAME_LEN: usize = 64;

/// True for a name HAProxy accepts for a proxy or a server (1 to [`MAX_NAME_LEN`] ASCII
/// letters, digits, `-`, `_`, `.` and `:`), which therefore cannot split or end a runtime
/// API command (no `;`, space or line break).
///
/// ```
/// use shipcore_driver_compose::router::is_haproxy_name;
/// assert!(is_haproxy_name("app") && is_haproxy_name("web_v2.1:be"));
/// assert!(!is_haproxy_name("app; shutdown sessions server app/s0") && !is_haproxy_name("a\nb"));
/// ```
pub fn is_haproxy_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_NAME_LEN
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

/// Checks an HAProxy name; the permanent error names `field` and says what is allowed.
pub(crate) fn check_name(field: &str, name: &str) -> Result<(), RouterError> {
    if is_haproxy_name(name) {
        return Ok(());
    }
    let mut shown: String = name.chars().take(64).collect();
    if shown.len() < name.len() {
        shown.push('…');
    }
    Err(RouterError::permanent(format!(
        "{field}: {shown:?} is not an HAProxy name: use 1 to {MAX_NAME_LEN} letters, digits, '-', '_', '.' and ':'"
    )))
}

/// A server slot's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerState {
    /// In maintenance: a free slot, or taken out of service.
    Maint,
    /// Draining: finishes open connections, takes no new ones.
    Drain,
    /// Ready and passing health checks: takes traffic.
    Up,
    /// Ready but failing (or not yet passing) health checks.
    Down,
}

/// One `server` line of the backend as `show servers state` and `show stat` report it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slot {
    /// Server name (`s0`).
    pub name: String,
    /// Address it points at.
    pub addr: SocketAddr,
    /// User weight.
    pub weight: u32,
    /// The server's state in HAProxy (up, down, in maintenance, draining).
    pub state: ServerState,
    /// Current sessions.
    pub sessions: u64,
}

/// Steers one HAProxy backend through its admin socket.
#[derive(Debug, Clone)]
pub struct HaproxyRouter {
    socket: PathBuf,
    backend: String,
    timeout: Duration,
}

impl HaproxyRouter {
    /// A router for `backend` through the admin socket at `socket` (`stats socket PATH
    /// level admin`). The backend name is checked (see [`is_haproxy_name`]) before every
    /// command; [`HaproxyRouter::try_new`] checks it at once.
    pub fn new(socket: impl Into<PathBuf>, backend: impl Into<String>) -> Self {
        HaproxyRouter {
            socket: socket.into(),
            backend: backend.into(),
            timeout: Duration::from_secs(5),
        }
    }

    /// [`HaproxyRouter::new`], refusing a backend that is not an HAProxy name with a
    /// permanent error naming `backend`.
    pub fn try_new(
        socket: impl Into<PathBuf>,
        backend: impl Into<String>,
    ) -> Result<Self, RouterError> {
        let router = Self::new(socket, backend);
        check_name("backend", &router.backend)?;
        Ok(router)
    }

    /// The admin socket.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// Sends one runtime API command line and returns HAProxy's answer. A line break or NUL
    /// in `cmd` (which would start another command) is refused with a permanent error; `;`
    /// is passed on, as it chains commands on purpose, so names put into `cmd` must be
    /// checked first (see [`is_haproxy_name`]).
    pub async fn command(&self, cmd: &str) -> Result<String, RouterError> {
        if cmd.bytes().any(|b| matches!(b, b'\n' | b'\r' | 0)) {
            return Err(RouterError::permanent(format!(
                "HAProxy runtime API: refusing {cmd:?}: a command may not hold a line break or NUL"
            )));
        }
        let work = async {
            let mut s = tokio::net::UnixStream::connect(&self.socket)
                .await
                .map_err(|e| {
                    RouterError::transient(format!(
                        "HAProxy runtime API at {} is unreachable: {e}",
                        self.socket.display()
                    ))
                })?;
            s.write_all(format!("{cmd}\n").as_bytes())
                .await
                .map_err(|e| {
                    RouterError::transient(format!("HAProxy runtime API: sending {cmd:?}: {e}"))
                })?;
            let mut out = String::new();
            s.read_to_string(&mut out).await.map_err(|e| {
                RouterError::transient(format!(
                    "HAProxy runtime API: reading answer to {cmd:?}: {e}"
                ))
            })?;
            Ok(out)
        };
        tokio::time::timeout(self.timeout, work)
            .await
            .map_err(|_| {
                RouterError::transient(format!("HAProxy runtime API: {cmd:?} timed out"))
            })?
    }

    /// Sends a `set` command; an answer that reports a failure is a permanent error.
    async fn set(&self, cmd: &str) -> Result<(), RouterError> {
        let answer = self.command(cmd).await?;
        let lower = answer.to_ascii_lowercase();
        if FAILURES.iter().any(|f| lower.contains(f)) {
            return Err(RouterError::permanent(format!(
                "HAProxy refused {cmd:?}: {}",
                answer.trim()
            )));
        }
        Ok(())
    }

    /// Every server slot of the backend.
    pub async fn slots(&self) -> Result<Vec<Slot>, RouterError> {
        check_name("backend", &self.backend)?;
        let state = self
            .command(&format!("show servers state {}", self.backend))
            .await?;
        let stat = self.command("show stat").await?;
        parse_slots(&state, &stat, &self.backend)
    }
}

/// Parses `show servers state <backend>` (version 1) joined with `show stat` sessions.
pub(super) fn parse_slots(
    state: &str,
    stat: &str,
    backend: &str,
) -> Result<Vec<Slot>, RouterError> {
    let lower = state.to_ascii_lowercase();
    if lower.contains("can't find backend") || lower.contains("no such backend") {
        return Err(RouterError::permanent(format!(
            "HAProxy has no backend {backend:?}: {}",
            state.trim()
        )));
    }
    let mut lines = state.lines();
    let header: Vec<&str> = lines
        .find(|l| l.starts_with("# "))
        .map(|l| l.trim_start_matches("# ").split_whitespace().collect())
        .ok_or_else(|| {
            RouterError::transient(format!("unreadable `show servers state` answer: {state:?}"))
        })?;
    let col = |name: &str| {
        header.iter().position(|h| *h == name).ok_or_else(|| {
            RouterError::permanent(format!("`show servers state` has no column {name}"))
        })
    };
    let (c_be, c_name, c_addr, c_op, c_admin, c_w, c_port) = (
        col("be_name")?,
        col("srv_name")?,
        col("srv_addr")?,
        col("srv_op_state")?,
        col("srv_admin_state")?,
        col("srv_uweight")?,
        col("srv_port")?,
    );
    let sessions = parse_sessions(stat, backend);
    let mut slots = Vec::new();
    for line in lines.filter(|l| !l.trim().is_empty() && !l.starts_with('#')) {
        let f: Vec<&str> = line.split_whitespace().collect();
        let get = |i: usize| f.get(i).copied().unwrap_or("");
        if get(c_be) != backend {
            continue;
        }
        let num = |i: usize| get(i).parse::<u32>().unwrap_or(0);
        let ip: IpAddr = get(c_addr).parse().unwrap_or(IpAddr::from([0, 0, 0, 0]));
        let port = get(c_port).parse::<u16>().unwrap_or(0);
        let (admin, op) = (num(c_admin), num(c_op));
        let state = if admin & ADMIN_MAINT != 0 {
            ServerState::Maint
        } else if admin & ADMIN_DRAIN != 0 {
            ServerState::Drain
        } else if op == 2 || op == 1 {
            ServerState::Up
        } else {
            ServerState::Down
        };
        let name = get(c_name).to_string();
        // It goes into `set server` commands: refuse a name that could split one.
        check_name(&format!("backend {backend} server"), &name)?;
        slots.push(Slot {
            sessions: sessions.get(&name).copied().unwrap_or(0),
            name,
            addr: SocketAddr::new(ip, port),
            weight: num(c_w),
            state,
        });
    }
    Ok(slots)
}

/// Current sessions (`scur`) per server of `backend` from `show stat` CSV.
fn parse_sessions(stat: &str, backend: &str) -> BTreeMap<String, u64> {
    let mut lines = stat.lines();
    let Some(header) = lines.next() else {
        return BTreeMap::new();
    };
    let cols: Vec<&str> = header.trim_start_matches("# ").split(',').collect();
    let pos = |n: &str| cols.iter().position(|c| *c == n);
    let (Some(px), Some(sv), Some(scur)) = (pos("pxname"), pos("svname"), pos("scur")) else {
        return BTreeMap::new();
    };
    lines
        .map(|l| l.split(',').collect::<Vec<_>>())
        .filter(|f| f.get(px) == Some(&backend))
        .filter_map(|f| Some((f.get(sv)?.to_string(), f.get(scur)?.parse().unwrap_or(0))))
        .collect()
}

#[async_trait]
impl Router for HaproxyRouter {
    async fn apply(&self, table: &[RevisionRoute]) -> Result<(), RouterError> {
        let slots = self.slots().await?;
        let b = &self.backend;
        let ready: BTreeMap<SocketAddr, bool> = table
            .iter()
            .flat_map(|r| r.endpoints.iter().map(|e| (e.addr, e.ready)))
            .collect();
        let desired = endpoint_weights(table, MAX_WEIGHT);
        let wanted = |a: &SocketAddr| desired.iter().any(|(d, _)| d == a);
        let mut used: Vec<String> = Vec::new();
        let mut assignments = Vec::new();
        let mut changes = Vec::new();
        for (addr, weight) in &desired {
            if let Some(s) = slots
                .iter()
                .find(|s| s.addr == *addr && s.state != ServerState::Maint)
            {
                used.push(s.name.clone());
                changes.push((s, *weight));
            } else {
                assignments.push((*addr, *weight));
            }
        }
        // Raise weights before lowering any: lowered first, a switch (v1 100 -> 0, v2 0 ->
        // 100) would pass through a moment where every server weighs 0 and HAProxy answers 503.
        changes.sort_by_key(|(s, weight)| *weight < s.weight);
        for (s, weight) in changes {
            if s.weight != weight {
                self.set(&format!("set server {b}/{} weight {weight}", s.name))
                    .await?;
            }
            if s.state == ServerState::Drain {
                self.set(&format!("set server {b}/{} state ready", s.name))
                    .await?;
            }
        }
        // Take out of service what is no longer wanted (already drained by the caller).
        for s in slots
            .iter()
            .filter(|s| s.state != ServerState::Maint && !wanted(&s.addr))
        {
            self.set(&format!("set server {b}/{} state maint", s.name))
                .await?;
        }
        for (addr, weight) in assignments {
            // A free slot: in maintenance and not in use; one that last held this address first.
            let free = slots
                .iter()
                .filter(|s| s.state == ServerState::Maint || !wanted(&s.addr))
                .filter(|s| !used.contains(&s.name))
                .min_by_key(|s| (s.addr != addr, s.name.clone()));
            let Some(slot) = free else {
                return Err(RouterError::permanent(format!(
                    "HAProxy backend {b:?} has no free server slot for {addr}: declare more `server` lines (disabled) than instances can ever run at once"
                )));
            };
            used.push(slot.name.clone());
            let s = &slot.name;
            self.set(&format!("set server {b}/{s} state maint")).await?;
            self.set(&format!(
                "set server {b}/{s} addr {} port {}",
                addr.ip(),
                addr.port()
            ))
            .await?;
            self.set(&format!("set server {b}/{s} weight {weight}"))
                .await?;
            if ready.get(&addr).copied().unwrap_or(false) {
                self.set(&format!("set server {b}/{s} state ready")).await?;
            } else {
                // Not ready yet: it enters service only once HAProxy's own check passes.
                self.set(&format!(
                    "set server {b}/{s} state ready; set server {b}/{s} health down"
                ))
                .await?;
            }
        }
        Ok(())
    }

    async fn drain(&self, endpoints: &[SocketAddr], timeout: Duration) -> Result<(), RouterError> {
        let b = &self.backend;
        let targets: Vec<Slot> = self
            .slots()
            .await?
            .into_iter()
            .filter(|s| s.state != ServerState::Maint && endpoints.contains(&s.addr))
            .collect();
        for s in &targets {
            self.set(&format!("set server {b}/{} state drain", s.name))
                .await?;
        }
        let names: Vec<&str> = targets.iter().map(|s| s.name.as_str()).collect();
        let start = Instant::now();
        loop {
            let busy: u64 = parse_sessions(&self.command("show stat").await?, b)
                .iter()
                .filter(|(n, _)| names.contains(&n.as_str()))
                .map(|(_, c)| *c)
                .sum();
            if busy == 0 {
                return Ok(());
            }
            if start.elapsed() >= timeout {
                tracing::warn!(backend = %b, sessions = busy, "drain timeout reached with connections still open");
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn status(&self) -> Result<Vec<EndpointStatus>, RouterError> {
        Ok(self
            .slots()
            .await?
            .into_iter()
            .filter(|s| s.state != ServerState::Maint)
            .map(|s| EndpointStatus {
                name: s.name,
                addr: s.addr,
                weight: s.weight,
                state: s.state,
                sessions: s.sessions,
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Captured from HAProxy 2.6.12: s0 up (CMAINT left from `disabled` in the config),
    /// s1 ready but down, s2 free, s3 draining.
    const STATE: &str = "1
# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight srv_time_since_last_change srv_check_status srv_check_result srv_check_health srv_check_state srv_agent_state bk_f_forced_id srv_f_forced_id srv_fqdn srv_port srvrecord srv_use_ssl srv_check_port srv_check_addr srv_agent_addr srv_agent_port
3 app 1 s0 127.0.0.1 2 4 100 0 2 15 3 2 6 0 0 0 - 35009 - 0 0 - - 0
3 app 2 s1 127.0.0.1 0 4 100 0 0 8 2 0 6 0 0 0 - 35999 - 0 0 - - 0
3 app 3 s2 127.0.0.1 0 5 0 0 1 1 0 0 14 0 0 0 - 9 - 0 0 - - 0
3 app 4 s3 127.0.0.1 2 12 50 0 1 1 0 0 14 0 0 0 - 40000 - 0 0 - - 0
";
    const STAT: &str = "# pxname,svname,qcur,qmax,scur,smax,slim,stot,status,weight
fe,FRONTEND,0,0,3,5,,10,OPEN,
app,s0,0,0,1,2,,8,UP,100
app,s1,0,0,0,0,,0,DOWN,100
app,s2,0,0,0,0,,0,MAINT,0
app,s3,0,0,2,2,,4,DRAIN,50
app,BACKEND,0,0,3,5,,12,UP,150
";

    #[test]
    fn parses_slots_with_states_and_sessions() {
        let slots = parse_slots(STATE, STAT, "app").unwrap();
        let view: Vec<(&str, String, u32, ServerState, u64)> = slots
            .iter()
            .map(|s| {
                (
                    s.name.as_str(),
                    s.addr.to_string(),
                    s.weight,
                    s.state,
                    s.sessions,
                )
            })
            .collect();
        assert_eq!(
            view,
            vec![
                ("s0", "127.0.0.1:35009".into(), 100, ServerState::Up, 1),
                ("s1", "127.0.0.1:35999".into(), 100, ServerState::Down, 0),
                ("s2", "127.0.0.1:9".into(), 0, ServerState::Maint, 0),
                ("s3", "127.0.0.1:40000".into(), 50, ServerState::Drain, 2),
            ]
        );
    }

    #[test]
    fn an_unknown_backend_is_permanent() {
        let e = parse_slots("Can't find backend.\n", "", "nope").unwrap_err();
        assert_eq!(e.kind, shipcore::driver::ErrorKind::Permanent);
        assert!(e.message.contains("nope"), "{e}");
    }

    /// A stand-in for HAProxy's admin socket: answers `show` with `state` and records every
    /// other command.
    async fn fake_admin(
        dir: &Path,
        state: &'static str,
    ) -> (PathBuf, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
        let path = dir.join("admin.sock");
        let listener = tokio::net::UnixListener::bind(&path).unwrap();
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let log = seen.clone();
        tokio::spawn(async move {
            while let Ok((mut conn, _)) = listener.accept().await {
                let mut line = Vec::new();
                let mut byte = [0u8; 1];
                while conn.read(&mut byte).await.unwrap_or(0) == 1 && byte[0] != b'\n' {
                    line.push(byte[0]);
                }
                let cmd = String::from_utf8_lossy(&line).to_string();
                let answer = if cmd.starts_with("show servers state") {
                    state
                } else if cmd.starts_with("show stat") {
                    "# pxname,svname,scur\n"
                } else {
                    log.lock().unwrap().push(cmd);
                    "\n"
                };
                conn.write_all(answer.as_bytes()).await.ok();
            }
        });
        (path, seen)
    }

    #[tokio::test]
    async fn a_switch_raises_the_new_weight_before_lowering_the_old_so_some_server_always_weighs() {
        // s0 (v1) takes all traffic at weight 100; s1 (v2) is up at weight 0.
        const BEFORE: &str = "1
# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight srv_time_since_last_change srv_check_status srv_check_result srv_check_health srv_check_state srv_agent_state bk_f_forced_id srv_f_forced_id srv_fqdn srv_port srvrecord srv_use_ssl srv_check_port srv_check_addr srv_agent_addr srv_agent_port
3 app 1 s0 127.0.0.1 2 0 100 0 2 15 3 2 6 0 0 0 - 35009 - 0 0 - - 0
3 app 2 s1 127.0.0.1 2 0 0 0 2 15 3 2 6 0 0 0 - 35999 - 0 0 - - 0
";
        let dir = tempfile::tempdir().unwrap();
        let (socket, seen) = fake_admin(dir.path(), BEFORE).await;
        let endpoint = |port| super::super::Endpoint {
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            ready: true,
        };
        let table = [
            RevisionRoute {
                revision: "v1".into(),
                share: 0,
                endpoints: vec![endpoint(35009)],
            },
            RevisionRoute {
                revision: "v2".into(),
                share: 100,
                endpoints: vec![endpoint(35999)],
            },
        ];
        HaproxyRouter::new(&socket, "app")
            .apply(&table)
            .await
            .unwrap();

        let mut weights = BTreeMap::from([("s0".to_string(), 100u32), ("s1".to_string(), 0)]);
        let commands = seen.lock().unwrap().clone();
        for cmd in &commands {
            if let Some(rest) = cmd.strip_prefix("set server app/") {
                if let Some((server, weight)) = rest.split_once(" weight ") {
                    weights.insert(server.to_string(), weight.parse().unwrap());
                }
            }
            assert!(
                weights.values().any(|w| *w > 0),
                "after {cmd:?} every server weighs 0 (HAProxy answers 503): {commands:?}"
            );
        }
        assert_eq!(weights["s0"], 0, "{commands:?}");
        assert!(weights["s1"] > 0, "{commands:?}");
    }
}
