//! [`PgLock`]: shipcore's rollout lock ([`RolloutLock`]) as one row per service and
//! environment in `shipcore_locks`. Taking it is one `INSERT .. ON CONFLICT DO UPDATE ..
//! WHERE` (free, expired, or already ours), so two engines can never both hold it.

use crate::db::Db;
use crate::error::StoreError;
use async_trait::async_trait;
use shipcore::gate::{LockError, LockHolder, LockKey, LockOutcome, Refresh, RolloutLock};
use shipcore::time::Timestamp;
use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;
use std::time::Duration;

/// How long a lock operation keeps retrying through database trouble before the lock
/// gate sees an error.
const RETRY_FOR: Duration = Duration::from_secs(30);

/// The token of [`PgLock::for_leased_runs`].
const LEASED_RUNS_TOKEN: &str = "leased-run";

/// A rollout lock in PostgreSQL, shared by every engine on the database.
///
/// The owner of a lock is a rollout id *and* this `PgLock`'s random token (clones share
/// it), as with shipcore's `FileLock`: a second runner of the same rollout id is another
/// owner. A holder that is not refreshed within `ttl` (the database's clock) may be taken
/// over. A refresh renews the lock while the row still names its owner, even past its
/// expiry if nobody took it; it never takes a free lock or someone else's.
#[derive(Debug, Clone)]
pub struct PgLock {
    db: Arc<Db>,
    ttl: Duration,
    token: String,
    pid: u32,
    host: String,
}

fn random_token() -> String {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    let a = h.finish();
    let mut h2 = std::collections::hash_map::RandomState::new().build_hasher();
    h2.write_u64(a);
    format!("{a:016x}{:016x}", h2.finish())
}

fn host_name() -> String {
    std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "unknown-host".to_string())
}

fn lock_err(e: StoreError) -> LockError {
    LockError::Io {
        path: "postgres table shipcore_locks".into(),
        problem: e.to_string(),
    }
}

fn holder_of(row: &tokio_postgres::Row) -> LockHolder {
    LockHolder {
        owner: row.get(0),
        token: row.get(1),
        pid: u32::try_from(row.get::<_, i64>(2)).unwrap_or(0),
        host: row.get(3),
        acquired_at: Timestamp(u64::try_from(row.get::<_, i64>(4)).unwrap_or(0)),
    }
}

impl PgLock {
    pub(crate) fn new(db: Arc<Db>, ttl: Duration) -> Self {
        PgLock {
            db,
            ttl,
            token: random_token(),
            pid: std::process::id(),
            host: host_name(),
        }
    }

    /// A lock whose owner is the rollout id alone (a fixed token), for rollouts run under
    /// leases ([`PgEngineNode`](crate::PgEngineNode)): the fencing token already keeps a
    /// rollout to one runner at a time, and the engine that takes a run over must keep the
    /// lock its predecessor took, not find it "lost" to a twin.
    pub(crate) fn for_leased_runs(db: Arc<Db>, ttl: Duration) -> Self {
        PgLock {
            token: LEASED_RUNS_TOKEN.to_string(),
            ..PgLock::new(db, ttl)
        }
    }

    /// This lock object's owner token.
    pub fn token(&self) -> &str {
        &self.token
    }

    fn ttl_ms(&self) -> i64 {
        i64::try_from(self.ttl.as_millis()).unwrap_or(i64::MAX)
    }
}

#[async_trait]
impl RolloutLock for PgLock {
    async fn acquire(
        &self,
        key: &LockKey,
        owner: &str,
        now: Timestamp,
    ) -> Result<LockOutcome, LockError> {
        let (service, env) = (key.service.as_str(), key.environment.as_str());
        let (token, host) = (self.token.as_str(), self.host.as_str());
        let pid = i64::from(self.pid);
        let at = i64::try_from(now.0).unwrap_or(i64::MAX);
        let ttl = self.ttl_ms();
        // One statement: taken when free, expired or ours; otherwise the holder is read in
        // the same snapshot-free retry loop (a release in between means: try again).
        loop {
            let (taken, holder) = self
                .db
                .retry("take a rollout lock", Some(RETRY_FOR), |c| async move {
                    let taken = c
                        .query_opt(
                            "INSERT INTO shipcore_locks AS l
                                 (service, environment, owner, token, pid, host, acquired_at_ms, expires_at)
                             VALUES ($1, $2, $3, $4, $5, $6, $7, clock_timestamp() + $8::bigint * interval '1 millisecond')
                             ON CONFLICT (service, environment) DO UPDATE SET
                                 owner = EXCLUDED.owner, token = EXCLUDED.token, pid = EXCLUDED.pid,
                                 host = EXCLUDED.host, acquired_at_ms = EXCLUDED.acquired_at_ms,
                                 expires_at = EXCLUDED.expires_at
                             WHERE l.expires_at < clock_timestamp()
                                OR (l.owner = EXCLUDED.owner AND l.token = EXCLUDED.token)
                             RETURNING 1",
                            &[&service, &env, &owner, &token, &pid, &host, &at, &ttl],
                        )
                        .await?
                        .is_some();
                    if taken {
                        return Ok((true, None));
                    }
                    let holder = c
                        .query_opt(
                            "SELECT owner, token, pid, host, acquired_at_ms FROM shipcore_locks
                             WHERE service = $1 AND environment = $2",
                            &[&service, &env],
                        )
                        .await?
                        .map(|r| holder_of(&r));
                    Ok((false, holder))
                })
                .await
                .map_err(lock_err)?;
            match (taken, holder) {
                (true, _) => return Ok(LockOutcome::Acquired),
                (false, Some(h)) => return Ok(LockOutcome::Held(h)),
                (false, None) => continue,
            }
        }
    }

    async fn refresh(
        &self,
        key: &LockKey,
        owner: &str,
        now: Timestamp,
    ) -> Result<Refresh, LockError> {
        let (service, env) = (key.service.as_str(), key.environment.as_str());
        let token = self.token.as_str();
        let at = i64::try_from(now.0).unwrap_or(i64::MAX);
        let ttl = self.ttl_ms();
        let kept = self
            .db
            .retry("refresh a rollout lock", Some(RETRY_FOR), |c| async move {
                c.execute(
                    "UPDATE shipcore_locks SET acquired_at_ms = $5,
                         expires_at = clock_timestamp() + $6::bigint * interval '1 millisecond'
                     WHERE service = $1 AND environment = $2 AND owner = $3 AND token = $4",
                    &[&service, &env, &owner, &token, &at, &ttl],
                )
                .await
            })
            .await
            .map_err(lock_err)?
            == 1;
        if kept {
            return Ok(Refresh::Kept);
        }
        Ok(Refresh::Lost(self.holder(key).await?))
    }

    async fn release(&self, key: &LockKey, owner: &str) -> Result<(), LockError> {
        let (service, env) = (key.service.as_str(), key.environment.as_str());
        let token = self.token.as_str();
        let gone = self
            .db
            .retry("release a rollout lock", Some(RETRY_FOR), |c| async move {
                c.execute(
                    "DELETE FROM shipcore_locks
                     WHERE service = $1 AND environment = $2 AND owner = $3 AND token = $4",
                    &[&service, &env, &owner, &token],
                )
                .await
            })
            .await
            .map_err(lock_err)?
            == 1;
        if gone {
            return Ok(());
        }
        match self.holder(key).await? {
            None => Ok(()),
            Some(h) => Err(LockError::NotHolder {
                key: key.to_string(),
                owner: owner.to_string(),
                holder: h.to_string(),
            }),
        }
    }

    async fn holder(&self, key: &LockKey) -> Result<Option<LockHolder>, LockError> {
        let (service, env) = (key.service.as_str(), key.environment.as_str());
        self.db
            .retry("read a rollout lock", Some(RETRY_FOR), |c| async move {
                c.query_opt(
                    "SELECT owner, token, pid, host, acquired_at_ms FROM shipcore_locks
                     WHERE service = $1 AND environment = $2",
                    &[&service, &env],
                )
                .await
            })
            .await
            .map(|r| r.map(|r| holder_of(&r)))
            .map_err(lock_err)
    }

    fn ttl(&self) -> Option<Duration> {
        Some(self.ttl)
    }
}
