//! [`FileLock`]: a [`RolloutLock`] kept as one file per service and environment in a
//! directory, with stale-lock detection (holder pid + host + time) and takeover that is safe
//! when several processes race for the same stale lock.

use super::lock::{LockError, LockHolder, LockKey, LockOutcome, RolloutLock};
use crate::time::Timestamp;
use async_trait::async_trait;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

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
