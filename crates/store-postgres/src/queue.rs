//! [`RunQueue`]: rollouts waiting to run and running ones with their owner, lease and
//! fencing token. Claims take queued runs and runs whose lease expired with
//! `FOR UPDATE SKIP LOCKED`, bumping the token; renewals and completion only succeed for
//! the token in force. Lease times are the database's clock, so engines need no agreement
//! on time.

use crate::db::Db;
use crate::error::StoreError;
use std::sync::Arc;
use std::time::Duration;

/// How long the small queue operations keep retrying through database trouble.
const RETRY_FOR: Duration = Duration::from_secs(30);

/// Where a run stands in the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RunState {
    /// Waiting for an engine.
    Queued,
    /// Owned by an engine (its lease may have expired).
    Running,
    /// Finished: it is claimed no more.
    Done,
}

impl RunState {
    fn parse(s: &str) -> Result<Self, StoreError> {
        match s {
            "queued" => Ok(RunState::Queued),
            "running" => Ok(RunState::Running),
            "done" => Ok(RunState::Done),
            other => Err(StoreError::Codec {
                what: "shipcore_runs.state".into(),
                problem: format!("unknown state {other:?}"),
            }),
        }
    }
}

/// The right to run one rollout: its id, the owner and the fencing token it was claimed
/// with. Only the holder of the token in force may append to the run's journal, renew or
/// finish it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// The run (rollout id).
    pub run: String,
    /// The owner (an engine's name).
    pub owner: String,
    /// The fencing token: bumped at every claim.
    pub token: u64,
}

/// A run an engine claimed.
#[derive(Debug, Clone)]
pub struct Claimed {
    /// The lease it holds now.
    pub lease: Lease,
    /// The spec it was enqueued with.
    pub spec: serde_json::Value,
    /// True when its journal holds entries (resume it rather than start it).
    pub has_journal: bool,
}

/// One run as stored, for inspection.
#[derive(Debug, Clone)]
pub struct RunRow {
    /// Rollout id.
    pub id: String,
    /// Queue state.
    pub state: RunState,
    /// Owner, when claimed.
    pub owner: Option<String>,
    /// Fencing token in force (0 before the first claim).
    pub token: u64,
    /// How it ended, when done.
    pub outcome: Option<String>,
    /// Milliseconds until the lease expires (negative once expired), when running.
    pub lease_left_ms: Option<i64>,
}

/// The queue of runs; from [`PgStore::queue`](crate::PgStore::queue).
#[derive(Debug, Clone)]
pub struct RunQueue {
    db: Arc<Db>,
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

pub(crate) fn check_run_id(id: &str) -> Result<(), StoreError> {
    if id.is_empty() || id.len() > 200 {
        return Err(StoreError::BadName {
            field: "run id",
            value: id.chars().take(210).collect(),
            problem: "must be 1 to 200 bytes".into(),
        });
    }
    Ok(())
}

impl RunQueue {
    pub(crate) fn new(db: Arc<Db>) -> Self {
        RunQueue { db }
    }

    /// Queues rollout `id` with its spec (any JSON; the node stores a `RolloutSpec`).
    /// Returns false when a run of that id exists already (it is left as it is).
    pub async fn enqueue(&self, id: &str, spec: &serde_json::Value) -> Result<bool, StoreError> {
        check_run_id(id)?;
        let spec = spec.to_string();
        self.db
            .retry("enqueue a run", Some(RETRY_FOR), |c| {
                let spec = spec.clone();
                async move {
                    c.execute(
                        "INSERT INTO shipcore_runs (id, spec) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING",
                        &[&id, &spec],
                    )
                    .await
                }
            })
            .await
            .map(|n| n == 1)
    }

    /// Claims up to `limit` runs for `owner`: queued ones first come first served, and
    /// running ones whose lease expired. Each claim bumps the run's fencing token and
    /// gives it a lease of `lease`. Rows another engine is claiming are skipped.
    pub async fn claim(
        &self,
        owner: &str,
        limit: usize,
        lease: Duration,
    ) -> Result<Vec<Claimed>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let lease_ms = ms(lease);
        let rows = self
            .db
            .retry("claim runs", Some(RETRY_FOR), |c| async move {
                c.query(
                    "WITH c AS (
                         SELECT id FROM shipcore_runs
                         WHERE state = 'queued' OR (state = 'running' AND lease_until < clock_timestamp())
                         ORDER BY enqueued_at, id
                         LIMIT $2
                         FOR UPDATE SKIP LOCKED)
                     UPDATE shipcore_runs r
                     SET state = 'running', owner = $1, token = r.token + 1,
                         lease_until = clock_timestamp() + $3::bigint * interval '1 millisecond',
                         updated_at = clock_timestamp()
                     FROM c WHERE r.id = c.id
                     RETURNING r.id, r.spec, r.token,
                         EXISTS (SELECT 1 FROM shipcore_journal j WHERE j.run_id = r.id)",
                    &[&owner, &limit, &lease_ms],
                )
                .await
            })
            .await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let id: String = row.get(0);
            let spec: String = row.get(1);
            let token: i64 = row.get(2);
            let spec = serde_json::from_str(&spec).map_err(|e| StoreError::Codec {
                what: format!("spec of run {id}"),
                problem: e.to_string(),
            })?;
            out.push(Claimed {
                lease: Lease {
                    run: id,
                    owner: owner.to_string(),
                    token: token as u64,
                },
                spec,
                has_journal: row.get(3),
            });
        }
        Ok(out)
    }

    /// Extends the lease by `lease` from now if its token is still in force; false when
    /// the run moved on (another owner claimed it, or it is done).
    pub async fn renew(&self, l: &Lease, lease: Duration) -> Result<bool, StoreError> {
        let lease_ms = ms(lease);
        let token = l.token as i64;
        let run = l.run.as_str();
        self.db
            .retry("renew a lease", Some(RETRY_FOR), |c| async move {
                c.execute(
                    "UPDATE shipcore_runs SET lease_until = clock_timestamp() + $3::bigint * interval '1 millisecond'
                     WHERE id = $1 AND token = $2 AND state = 'running'",
                    &[&run, &token, &lease_ms],
                )
                .await
            })
            .await
            .map(|n| n == 1)
    }

    /// Renews many leases in one statement (a node renews all of its leases at once, so a
    /// busy database does not let the later ones lapse). Returns the run ids still held.
    pub async fn renew_many(
        &self,
        leases: &[Lease],
        lease: Duration,
    ) -> Result<std::collections::HashSet<String>, StoreError> {
        if leases.is_empty() {
            return Ok(Default::default());
        }
        let lease_ms = ms(lease);
        let ids: Vec<String> = leases.iter().map(|l| l.run.clone()).collect();
        let tokens: Vec<i64> = leases.iter().map(|l| l.token as i64).collect();
        let (ids, tokens) = (&ids, &tokens);
        let rows = self
            .db
            .retry("renew leases", Some(RETRY_FOR), |c| async move {
                c.query(
                    "UPDATE shipcore_runs r
                     SET lease_until = clock_timestamp() + $3::bigint * interval '1 millisecond'
                     FROM unnest($1::text[], $2::bigint[]) AS l(id, token)
                     WHERE r.id = l.id AND r.token = l.token AND r.state = 'running'
                     RETURNING r.id",
                    &[ids, tokens, &lease_ms],
                )
                .await
            })
            .await?;
        Ok(rows.iter().map(|r| r.get::<_, String>(0)).collect())
    }

    /// Marks the run done with `outcome` if the lease's token is still in force; false
    /// when it moved on.
    pub async fn finish(&self, l: &Lease, outcome: &str) -> Result<bool, StoreError> {
        let token = l.token as i64;
        let run = l.run.as_str();
        self.db
            .retry("finish a run", Some(RETRY_FOR), |c| async move {
                c.execute(
                    "UPDATE shipcore_runs SET state = 'done', outcome = $3, lease_until = NULL,
                         updated_at = clock_timestamp()
                     WHERE id = $1 AND token = $2 AND state = 'running'",
                    &[&run, &token, &outcome],
                )
                .await
            })
            .await
            .map(|n| n == 1)
    }

    /// Gives the run up (its lease ends now, so another engine may claim it at once)
    /// if the lease's token is still in force.
    pub async fn release(&self, l: &Lease) -> Result<bool, StoreError> {
        let token = l.token as i64;
        let run = l.run.as_str();
        self.db
            .retry("release a run", Some(RETRY_FOR), |c| async move {
                c.execute(
                    "UPDATE shipcore_runs SET lease_until = clock_timestamp() - interval '1 millisecond'
                     WHERE id = $1 AND token = $2 AND state = 'running'",
                    &[&run, &token],
                )
                .await
            })
            .await
            .map(|n| n == 1)
    }

    /// True when `l` is the lease in force and has not expired (the database's clock):
    /// what the node checks before every fleet change.
    pub async fn holds(&self, l: &Lease) -> Result<bool, StoreError> {
        let token = l.token as i64;
        let run = l.run.as_str();
        self.db
            .retry(
                "check a lease",
                Some(Duration::from_secs(5)),
                |c| async move {
                    c.query_opt(
                        "SELECT 1 FROM shipcore_runs WHERE id = $1 AND token = $2
                         AND state = 'running' AND lease_until > clock_timestamp()",
                        &[&run, &token],
                    )
                    .await
                },
            )
            .await
            .map(|r| r.is_some())
    }

    /// Run `id` as stored, if it exists.
    pub async fn get(&self, id: &str) -> Result<Option<RunRow>, StoreError> {
        let row = self
            .db
            .retry("read a run", Some(RETRY_FOR), |c| async move {
                c.query_opt(
                    "SELECT id, state, owner, token, outcome,
                         (extract(epoch FROM (lease_until - clock_timestamp())) * 1000)::bigint
                     FROM shipcore_runs WHERE id = $1",
                    &[&id],
                )
                .await
            })
            .await?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(RunRow {
            id: row.get(0),
            state: RunState::parse(row.get(1))?,
            owner: row.get(2),
            token: row.get::<_, i64>(3) as u64,
            outcome: row.get(4),
            lease_left_ms: row.get(5),
        }))
    }
}
