//! One rollout per service and environment at a time: the [`RolloutLock`] trait (a
//! Kubernetes Lease or a database row can implement it), a [`FileLock`] with stale-lock
//! detection (in `file_lock.rs`), and the [`LockGate`] that takes the lock before a rollout
//! and keeps it, through every wait, until the rollout ends.

use super::config::{check_name, ConfigError};
use super::FileLock;
use crate::gate::{Gate, GateContext, GateOutcome, KeepAlive};
use crate::model::FieldError;
use crate::model::Target;
use crate::time::{format_duration, serde_duration, serde_opt_duration, Timestamp};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::path::PathBuf;
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
    /// The holding runner's random token: with `owner`, what identifies the holder (a
    /// second runner of the same rollout has another token). Empty in records written
    /// before tokens existed, which no runner owns.
    #[serde(default)]
    pub token: String,
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

/// The answer to [`RolloutLock::refresh`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refresh {
    /// The caller still held the lock; its time is renewed.
    Kept,
    /// The caller no longer holds the lock: someone else does (`Some`), or nobody.
    Lost(Option<LockHolder>),
}

/// A lock operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
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
///
/// An owner is a rollout id *as held by this lock object*: an implementation must tell
/// apart two runners of the same rollout id (the [`FileLock`] keeps a random token per
/// instance), so that a retried job or a second `resume` does not take over a lock its
/// twin still holds.
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
    /// Renews the lock only if `owner` still holds it; never takes a free or stale lock.
    /// The default calls [`acquire`](Self::acquire), which an implementation that can tell
    /// should replace (the [`FileLock`] does).
    async fn refresh(
        &self,
        key: &LockKey,
        owner: &str,
        now: Timestamp,
    ) -> Result<Refresh, LockError> {
        Ok(match self.acquire(key, owner, now).await? {
            LockOutcome::Acquired => Refresh::Kept,
            LockOutcome::Held(h) => Refresh::Lost(Some(h)),
        })
    }
    /// Gives the lock up; releasing a free lock succeeds, someone else's fails.
    async fn release(&self, key: &LockKey, owner: &str) -> Result<(), LockError>;
    /// Who holds the lock, if anyone (stale holders included).
    async fn holder(&self, key: &LockKey) -> Result<Option<LockHolder>, LockError>;
    /// How long a lock that is not refreshed stays valid, if it expires: the lock gate
    /// refreshes it every third of that. Default: never expires.
    fn ttl(&self) -> Option<Duration> {
        None
    }
}

/// Configuration of a [`LockGate`] over a [`FileLock`].
///
/// ```
/// let c: shipcore::gate::LockConfig = serde_json::from_str(
///     r#"{"name": "lock", "dir": "/var/lib/shipcore/locks", "ttl": "6h"}"#).unwrap();
/// assert!(c.build().is_ok());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
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
            return Err(FieldError::new("dir", "must not be empty").into());
        }
        if self.ttl.is_zero() {
            return Err(FieldError::new("ttl", "must be greater than zero").into());
        }
        if self.retry_after == Some(Duration::ZERO) {
            return Err(FieldError::new("retry_after", "must be greater than zero").into());
        }
        let mut gate = LockGate::new(&self.name, Arc::new(FileLock::new(&self.dir, self.ttl)));
        gate.retry_after = self.retry_after;
        Ok(gate)
    }
}

/// Takes the rollout lock for the target; blocks (or waits) while another rollout holds it.
/// The lock stays taken after the check for the whole rollout: the runner calls
/// [`Gate::keep_alive`] every [`Gate::keep_alive_interval`] (a third of the lock's TTL)
/// through every wait (pauses, approvals, analyses) and before each fleet change, and the
/// gate refreshes the lock only while it still holds it. A lock found lost (taken over
/// after going stale, or removed) is reported, and the engine stops changing the fleet and
/// pauses the rollout, saying why. The runner releases the lock through
/// [`Gate::on_finish`] when the rollout ends for good (succeeded, rolled back, aborted,
/// blocked by a later gate). A rollout that is frozen or whose rollback failed keeps it: a
/// person must act first. [`LockGate::release`] releases it by hand (from the same lock
/// object: another runner's lock object is another owner).
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
    #[must_use]
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

    async fn keep_alive(&self, ctx: &GateContext) -> KeepAlive {
        let key = LockKey::for_target(&ctx.target);
        match self.lock.refresh(&key, &ctx.rollout_id, ctx.now).await {
            Ok(Refresh::Kept) => KeepAlive::Held,
            Ok(Refresh::Lost(h)) => {
                let who = match h {
                    Some(h) => format!("it is now held by {h}"),
                    None => "it is no longer held".to_string(),
                };
                tracing::warn!(rollout = %ctx.rollout_id, lock = %key, "the rollout lock was lost: {who}");
                KeepAlive::Lost {
                    reason: format!("the rollout lock for {key} was lost: {who}"),
                }
            }
            Err(e) => {
                // The store may be back before the lock goes stale; a takeover in between
                // shows at the next refresh.
                tracing::warn!(rollout = %ctx.rollout_id, lock = %key, error = %e, "could not refresh the rollout lock");
                KeepAlive::Held
            }
        }
    }

    fn keep_alive_interval(&self) -> Option<Duration> {
        self.lock
            .ttl()
            .map(|ttl| (ttl / 3).max(Duration::from_millis(1)))
    }

    async fn on_finish(&self, ctx: &GateContext, phase: crate::model::Phase) {
        match self.release(ctx).await {
            Ok(()) => tracing::debug!(rollout = %ctx.rollout_id, %phase, "rollout lock released"),
            // Never ours (the lock blocked this rollout): nothing to give back.
            Err(LockError::NotHolder { .. }) => {}
            Err(e) => {
                tracing::warn!(rollout = %ctx.rollout_id, error = %e, "could not release the rollout lock; it goes stale after its ttl")
            }
        }
    }
}
