//! One rollout per service and environment at a time: the [`RolloutLock`] trait (a
//! Kubernetes Lease or a database row can implement it), a [`FileLock`] with stale-lock
//! detection (holder pid + host + time: stale when the pid is dead on this host or the lock
//! is older than a TTL), and the [`LockGate`] that takes the lock before a rollout.

use super::config::{check_name, ConfigError};
use crate::gate::{Gate, GateContext, GateOutcome};
use crate::model::Target;
use crate::time::{format_duration, serde_duration, serde_opt_duration, Timestamp};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// What is locked: one service in one environment.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct LockKey {
    /// Service name.
    pub service: String,
    /// Environment name.
    pub environment: String,
}

impl LockKey {
    /// The key of a rollout target.
    pub fn for_target(t: &Target) -> Self {
        LockKey {
            service: t.service.clone(),
            environment: t.environment.clone(),
        }
    }
}

impl fmt::Display for LockKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.service, self.environment)
    }
}

/// Who holds a lock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockHolder {
    /// The owner (a rollout id).
    pub owner: String,
    /// Process id of the holder.
    pub pid: u32,
    /// Host name of the holder.
    pub host: String,
    /// When it took (or last refreshed) the lock.
    pub acquired_at: Timestamp,
}

impl fmt::Display for LockHolder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let at = jiff::Timestamp::from_millisecond(self.acquired_at.0.min(i64::MAX as u64) as i64)
            .map(|t| t.to_string())
            .unwrap_or_else(|_| self.acquired_at.0.to_string());
        write!(
            f,
            "rollout {} (pid {} on {}, since {at})",
            self.owner, self.pid, self.host
        )
    }
}

/// The answer to [`RolloutLock::acquire`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LockOutcome {
    /// The caller holds the lock now (taken, refreshed, or recovered from a stale holder).
    Acquired,
    /// Someone else holds it.
    Held(LockHolder),
}

/// A lock operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LockError {
    /// The lock store could not be read or written.
    #[error("lock store error at {path}: {problem}")]
    Io {
        /// Where.
        path: String,
        /// What went wrong.
        problem: String,
    },
    /// The lock record is unreadable; a person must look at it (and remove it).
    #[error("lock record {path} is corrupt: {problem}")]
    Corrupt {
        /// Where.
        path: String,
        /// What is wrong.
        problem: String,
    },
    /// Release by someone who does not hold the lock.
    #[error("{key} is held by {holder}, not by {owner}")]
    NotHolder {
        /// The lock.
        key: String,
        /// Who tried to release it.
        owner: String,
        /// Who holds it.
        holder: String,
    },
}

/// Mutual exclusion of rollouts per service and environment.
#[async_trait]
pub trait RolloutLock: Send + Sync {
    /// Takes the lock for `owner`; taking it again as the same owner refreshes it.
    /// `now` is the engine's time, recorded as the acquisition time.
    async fn acquire(
        &self,
        key: &LockKey,
        owner: &str,
        now: Timestamp,
    ) -> Result<LockOutcome, LockError>;
    /// Gives the lock up; releasing a free lock succeeds, someone else's fails.
    async fn release(&self, key: &LockKey, owner: &str) -> Result<(), LockError>;
    /// Who holds the lock, if anyone (stale holders included).
    async fn holder(&self, key: &LockKey) -> Result<Option<LockHolder>, LockError>;
}

/// A lock file per key in a directory, created atomically (written aside, then hard-linked
/// into place). A holder is stale when it ran on this host and its pid is gone, or when
/// its lock is older than `ttl`; a stale lock is taken over. Holders refresh by acquiring
/// again, so a long rollout should re-acquire within the TTL.
#[derive(Debug, Clone)]
pub struct FileLock {
    dir: PathBuf,
    ttl: Duration,
    host: String,
    pid: u32,
}

impl FileLock {
    /// Locks in `dir` (created when needed), stale after `ttl`.
    pub fn new(dir: impl Into<PathBuf>, ttl: Duration) -> Self {
        FileLock {
            dir: dir.into(),
            ttl,
            host: host_name(),
            pid: std::process::id(),
        }
    }

    /// The path of the lock file for `key`.
    pub fn path(&self, key: &LockKey) -> PathBuf {
        let clean = |s: &str| -> String {
            s.chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || "._-".contains(c) {
                        c
                    } else {
                        '_'
                    }
                })
                .collect()
        };
        self.dir.join(format!(
            "{}@{}.lock",
            clean(&key.service),
            clean(&key.environment)
        ))
    }

    /// This host's name as recorded in lock files.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// Whether `h` no longer really holds the lock at `now`.
    pub fn is_stale(&self, h: &LockHolder, now: Timestamp) -> bool {
        (h.host == self.host && !pid_alive(h.pid)) || now.since(h.acquired_at) > self.ttl
    }

    fn io(path: &Path, e: std::io::Error) -> LockError {
        LockError::Io {
            path: path.display().to_string(),
            problem: e.to_string(),
        }
    }

    fn aside(&self, path: &Path, what: &str) -> PathBuf {
        static SEQ: AtomicU64 = AtomicU64::new(0);
        let n = SEQ.fetch_add(1, Ordering::Relaxed);
        path.with_extension(format!("{what}.{}.{n}", self.pid))
    }

    fn read(path: &Path) -> Result<Option<LockHolder>, LockError> {
        match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| LockError::Corrupt {
                    path: path.display().to_string(),
                    problem: e.to_string(),
                }),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Self::io(path, e)),
        }
    }

    /// Removes a stale lock under a "breaker" file created exclusively, so that of several
    /// processes racing to take over the same stale lock only one removes it (and never a
    /// fresh lock that replaced it). Returns false when another process is breaking it.
    fn break_stale(&self, path: &Path, stale: &LockHolder) -> Result<bool, LockError> {
        let breaker = path.with_extension("lock.break");
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&breaker)
        {
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::AlreadyExists => {
                // A breaker that crashed mid-way leaves its file: clear it after a while.
                let abandoned = std::fs::metadata(&breaker)
                    .and_then(|m| m.modified())
                    .ok()
                    .and_then(|t| t.elapsed().ok())
                    .is_some_and(|age| age > BREAKER_ABANDONED);
                if abandoned {
                    let _ = std::fs::remove_file(&breaker);
                }
                return Ok(false);
            }
            Err(e) => return Err(Self::io(&breaker, e)),
        }
        let result = match Self::read(path) {
            Ok(Some(h)) if &h == stale => match std::fs::remove_file(path) {
                Ok(()) => Ok(true),
                Err(e) if e.kind() == ErrorKind::NotFound => Ok(true),
                Err(e) => Err(Self::io(path, e)),
            },
            Ok(_) => Ok(true),
            Err(e) => Err(e),
        };
        let _ = std::fs::remove_file(&breaker);
        result
    }
}

/// A breaker file older than this was left by a crashed process.
const BREAKER_ABANDONED: Duration = Duration::from_secs(10);

#[async_trait]
impl RolloutLock for FileLock {
    async fn acquire(
        &self,
        key: &LockKey,
        owner: &str,
        now: Timestamp,
    ) -> Result<LockOutcome, LockError> {
        std::fs::create_dir_all(&self.dir).map_err(|e| Self::io(&self.dir, e))?;
        let path = self.path(key);
        let me = LockHolder {
            owner: owner.to_string(),
            pid: self.pid,
            host: self.host.clone(),
            acquired_at: now,
        };
        let body = serde_json::to_vec(&me).map_err(|e| LockError::Io {
            path: path.display().to_string(),
            problem: e.to_string(),
        })?;
        for _ in 0..200 {
            let tmp = self.aside(&path, "new");
            std::fs::write(&tmp, &body).map_err(|e| Self::io(&tmp, e))?;
            let linked = std::fs::hard_link(&tmp, &path);
            match linked {
                Ok(()) => {
                    let _ = std::fs::remove_file(&tmp);
                    return Ok(LockOutcome::Acquired);
                }
                Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
                Err(e) => {
                    let _ = std::fs::remove_file(&tmp);
                    return Err(Self::io(&path, e));
                }
            }
            let current = match Self::read(&path) {
                Ok(c) => c,
                Err(e) => {
                    let _ = std::fs::remove_file(&tmp);
                    return Err(e);
                }
            };
            match current {
                Some(h) if h.owner == owner => {
                    // Refresh: replace atomically with the new time (and our pid).
                    std::fs::rename(&tmp, &path).map_err(|e| Self::io(&path, e))?;
                    return Ok(LockOutcome::Acquired);
                }
                Some(h) if !self.is_stale(&h, now) => {
                    let _ = std::fs::remove_file(&tmp);
                    return Ok(LockOutcome::Held(h));
                }
                Some(h) => {
                    let _ = std::fs::remove_file(&tmp);
                    if self.break_stale(&path, &h)? {
                        tracing::warn!(lock = %key, holder = %h, "removed a stale rollout lock");
                    } else {
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                }
                None => {
                    let _ = std::fs::remove_file(&tmp);
                }
            }
        }
        match Self::read(&path)? {
            Some(h) if !self.is_stale(&h, now) => Ok(LockOutcome::Held(h)),
            _ => Err(LockError::Io {
                path: path.display().to_string(),
                problem: "the lock kept changing hands; try again".into(),
            }),
        }
    }

    async fn release(&self, key: &LockKey, owner: &str) -> Result<(), LockError> {
        let path = self.path(key);
        match Self::read(&path)? {
            None => Ok(()),
            Some(h) if h.owner != owner => Err(LockError::NotHolder {
                key: key.to_string(),
                owner: owner.to_string(),
                holder: h.to_string(),
            }),
            Some(_) => match std::fs::remove_file(&path) {
                Ok(()) => Ok(()),
                Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
                Err(e) => Err(Self::io(&path, e)),
            },
        }
    }

    async fn holder(&self, key: &LockKey) -> Result<Option<LockHolder>, LockError> {
        Self::read(&self.path(key))
    }
}

/// Whether a process with this pid runs on this host (Linux `/proc`; elsewhere it cannot
/// tell and says yes, leaving staleness to the TTL).
fn pid_alive(pid: u32) -> bool {
    let proc = Path::new("/proc");
    if !proc.join("self").exists() {
        return true;
    }
    proc.join(pid.to_string()).exists()
}

fn host_name() -> String {
    ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .find_map(|p| std::fs::read_to_string(p).ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "unknown-host".into())
}

/// Configuration of a [`LockGate`] over a [`FileLock`].
///
/// ```
/// let c: shipcore::gates::LockConfig = serde_json::from_str(
///     r#"{"name": "lock", "dir": "/var/lib/shipcore/locks", "ttl": "6h"}"#).unwrap();
/// assert!(c.build().is_ok());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockConfig {
    /// Gate name.
    pub name: String,
    /// Directory of the lock files.
    pub dir: PathBuf,
    /// Age after which a lock is stale (default 12h).
    #[serde(default = "default_ttl", with = "serde_duration")]
    pub ttl: Duration,
    /// When set, a held lock makes the gate wait this long and ask again instead of blocking.
    #[serde(
        default,
        with = "serde_opt_duration",
        skip_serializing_if = "Option::is_none"
    )]
    pub retry_after: Option<Duration>,
}

fn default_ttl() -> Duration {
    Duration::from_secs(12 * 3600)
}

impl LockConfig {
    /// Checks the values and builds the gate.
    pub fn build(&self) -> Result<LockGate, ConfigError> {
        check_name(&self.name)?;
        if self.dir.as_os_str().is_empty() {
            return Err(ConfigError::new("dir", "must not be empty"));
        }
        if self.ttl.is_zero() {
            return Err(ConfigError::new("ttl", "must be greater than zero"));
        }
        if self.retry_after == Some(Duration::ZERO) {
            return Err(ConfigError::new("retry_after", "must be greater than zero"));
        }
        let mut gate = LockGate::new(&self.name, Arc::new(FileLock::new(&self.dir, self.ttl)));
        gate.retry_after = self.retry_after;
        Ok(gate)
    }
}

/// Takes the rollout lock for the target; blocks (or waits) while another rollout holds it.
/// The lock stays taken after the check: release it with [`LockGate::release`] when the
/// rollout ends.
pub struct LockGate {
    name: String,
    lock: Arc<dyn RolloutLock>,
    retry_after: Option<Duration>,
}

impl fmt::Debug for LockGate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LockGate")
            .field("name", &self.name)
            .field("retry_after", &self.retry_after)
            .finish_non_exhaustive()
    }
}

impl LockGate {
    /// A gate over any lock; a held lock blocks.
    pub fn new(name: impl Into<String>, lock: Arc<dyn RolloutLock>) -> Self {
        LockGate {
            name: name.into(),
            lock,
            retry_after: None,
        }
    }

    /// Wait `d` and ask again while the lock is held, instead of blocking.
    pub fn retry_after(mut self, d: Duration) -> Self {
        self.retry_after = Some(d);
        self
    }

    /// The lock behind the gate.
    pub fn lock(&self) -> &Arc<dyn RolloutLock> {
        &self.lock
    }

    /// Releases the lock the rollout in `ctx` holds.
    pub async fn release(&self, ctx: &GateContext) -> Result<(), LockError> {
        self.lock
            .release(&LockKey::for_target(&ctx.target), &ctx.rollout_id)
            .await
    }
}

#[async_trait]
impl Gate for LockGate {
    fn name(&self) -> &str {
        &self.name
    }

    async fn check(&self, ctx: &GateContext) -> GateOutcome {
        let key = LockKey::for_target(&ctx.target);
        match self.lock.acquire(&key, &ctx.rollout_id, ctx.now).await {
            Ok(LockOutcome::Acquired) => GateOutcome::Pass,
            Ok(LockOutcome::Held(h)) => {
                let reason = format!("{key} is locked by {h}");
                match self.retry_after {
                    Some(d) => GateOutcome::wait(
                        d,
                        format!("{reason}; asking again in {}", format_duration(d)),
                    ),
                    None => GateOutcome::block(reason),
                }
            }
            Err(e) => GateOutcome::block(format!("cannot take the rollout lock for {key}: {e}")),
        }
    }
}
