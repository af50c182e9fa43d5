//! [`FileLock`]: a [`RolloutLock`] kept as one file per service and environment in a
//! directory, with stale-lock detection (holder pid + host + time). Every operation that
//! looks at the lock and then changes it (take, refresh, stale takeover, release) does so
//! under one exclusive `flock` on a guard file beside it, so no two processes ever act on
//! the same lock at once, and a process that dies lets go of the guard with it.

use super::lock::{LockError, LockHolder, LockKey, LockOutcome, Refresh, RolloutLock};
use crate::time::Timestamp;
use async_trait::async_trait;
use rustix::fs::FlockOperation;
use std::fs::{File, OpenOptions};
use std::hash::{BuildHasher, Hasher};
use std::io::{ErrorKind, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// A lock file per key in a directory (mode 0600, replaced atomically by rename, the
/// directory fsynced after every change). The owner of a lock is a rollout id *and* this
/// `FileLock`'s token, drawn at random when it is made: a second runner with the same
/// rollout id (a retried CI job, a second `resume`) is another owner and does not take
/// over. A holder is stale when it ran on this host and its pid is gone, or when its lock
/// is older than `ttl`; a stale lock is taken over. Holders keep the lock with
/// [`RolloutLock::refresh`], which the lock gate calls about every `ttl / 3`.
///
/// All operations on one lock take an exclusive `flock` on `<lock>.guard` (kept, empty):
/// local file systems and NFS (which Linux emulates with byte-range locks) honour it.
#[derive(Debug, Clone)]
pub struct FileLock {
    dir: PathBuf,
    ttl: Duration,
    host: String,
    pid: u32,
    token: String,
}

/// How long to wait for another process's guard before giving up with an error.
const GUARD_WAIT: Duration = Duration::from_secs(10);

impl FileLock {
    /// Locks in `dir` (created when needed), stale after `ttl`, owned through a fresh
    /// random token.
    pub fn new(dir: impl Into<PathBuf>, ttl: Duration) -> Self {
        FileLock {
            dir: dir.into(),
            ttl,
            host: host_name(),
            pid: std::process::id(),
            token: random_token(),
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

    /// This lock's owner token (random per `FileLock`; clones share it).
    pub fn token(&self) -> &str {
        &self.token
    }

    /// The time-to-live of a lock that is not refreshed.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// Whether `h` no longer really holds the lock at `now`.
    pub fn is_stale(&self, h: &LockHolder, now: Timestamp) -> bool {
        (h.host == self.host && !pid_alive(h.pid)) || now.since(h.acquired_at) > self.ttl
    }

    fn mine(&self, h: &LockHolder, owner: &str) -> bool {
        h.owner == owner && h.token == self.token
    }

    fn io(path: &Path, e: std::io::Error) -> LockError {
        LockError::Io {
            path: path.display().to_string(),
            problem: e.to_string(),
        }
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

    /// Takes the exclusive guard of the lock at `path`; released when the file is dropped
    /// (or the process dies).
    async fn guard(&self, path: &Path) -> Result<File, LockError> {
        std::fs::create_dir_all(&self.dir).map_err(|e| Self::io(&self.dir, e))?;
        let guard_path = path.with_extension("lock.guard");
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&guard_path)
            .map_err(|e| Self::io(&guard_path, e))?;
        let started = std::time::Instant::now();
        loop {
            match rustix::fs::flock(&file, FlockOperation::NonBlockingLockExclusive) {
                Ok(()) => return Ok(file),
                Err(e) if e == rustix::io::Errno::INTR => {}
                Err(e) if e == rustix::io::Errno::WOULDBLOCK && started.elapsed() < GUARD_WAIT => {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
                Err(e) if e == rustix::io::Errno::WOULDBLOCK => {
                    return Err(LockError::Io {
                        path: guard_path.display().to_string(),
                        problem: format!(
                            "another process kept the lock's guard for over {}s",
                            GUARD_WAIT.as_secs()
                        ),
                    })
                }
                Err(e) => return Err(Self::io(&guard_path, e.into())),
            }
        }
    }

    /// Writes `holder` as the lock at `path`: to a file aside (0600, fsynced), renamed
    /// over the lock, then the directory fsynced. Called under the guard.
    fn write(&self, path: &Path, holder: &LockHolder) -> Result<(), LockError> {
        static SEQ: AtomicU64 = AtomicU64::new(0);
        let body = serde_json::to_vec(holder).map_err(|e| LockError::Io {
            path: path.display().to_string(),
            problem: e.to_string(),
        })?;
        let n = SEQ.fetch_add(1, Ordering::Relaxed);
        let tmp = path.with_extension(format!("new.{}.{n}", self.pid));
        let written = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
            .and_then(|mut f| {
                f.write_all(&body)?;
                f.sync_all()
            })
            .and_then(|()| std::fs::rename(&tmp, path));
        if let Err(e) = written {
            let _ = std::fs::remove_file(&tmp);
            return Err(Self::io(path, e));
        }
        self.sync_dir()
    }

    /// Removes the lock at `path` and fsyncs the directory. Called under the guard.
    fn remove(&self, path: &Path) -> Result<(), LockError> {
        match std::fs::remove_file(path) {
            Ok(()) => self.sync_dir(),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Self::io(path, e)),
        }
    }

    fn sync_dir(&self) -> Result<(), LockError> {
        File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| Self::io(&self.dir, e))
    }

    fn holder_for(&self, owner: &str, now: Timestamp) -> LockHolder {
        LockHolder {
            owner: owner.to_string(),
            token: self.token.clone(),
            pid: self.pid,
            host: self.host.clone(),
            acquired_at: now,
        }
    }
}

#[async_trait]
impl RolloutLock for FileLock {
    async fn acquire(
        &self,
        key: &LockKey,
        owner: &str,
        now: Timestamp,
    ) -> Result<LockOutcome, LockError> {
        let path = self.path(key);
        let _guard = self.guard(&path).await?;
        match Self::read(&path)? {
            Some(h) if self.mine(&h, owner) => {}
            Some(h) if !self.is_stale(&h, now) => return Ok(LockOutcome::Held(h)),
            Some(h) => tracing::warn!(lock = %key, holder = %h, "taking over a stale rollout lock"),
            None => {}
        }
        self.write(&path, &self.holder_for(owner, now))?;
        Ok(LockOutcome::Acquired)
    }

    async fn refresh(
        &self,
        key: &LockKey,
        owner: &str,
        now: Timestamp,
    ) -> Result<Refresh, LockError> {
        let path = self.path(key);
        let _guard = self.guard(&path).await?;
        match Self::read(&path)? {
            Some(h) if self.mine(&h, owner) => {
                self.write(&path, &self.holder_for(owner, now))?;
                Ok(Refresh::Kept)
            }
            other => Ok(Refresh::Lost(other)),
        }
    }

    async fn release(&self, key: &LockKey, owner: &str) -> Result<(), LockError> {
        let path = self.path(key);
        let _guard = self.guard(&path).await?;
        match Self::read(&path)? {
            None => Ok(()),
            Some(h) if !self.mine(&h, owner) => Err(LockError::NotHolder {
                key: key.to_string(),
                owner: owner.to_string(),
                holder: h.to_string(),
            }),
            Some(_) => self.remove(&path),
        }
    }

    async fn holder(&self, key: &LockKey) -> Result<Option<LockHolder>, LockError> {
        Self::read(&self.path(key))
    }

    fn ttl(&self) -> Option<Duration> {
        Some(self.ttl)
    }
}

/// A random owner token: 128 bits from the standard library's per-process random hash
/// keys, mixed with the pid, the time and a counter (randomness is the lock's own I/O,
/// outside the engine).
fn random_token() -> String {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let part = |salt: u64| {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(salt);
        h.write_u32(std::process::id());
        h.write_u64(SEQ.fetch_add(1, Ordering::Relaxed));
        if let Ok(t) = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
            h.write_u128(t.as_nanos());
        }
        h.finish()
    };
    format!("{:016x}{:016x}", part(1), part(2))
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
