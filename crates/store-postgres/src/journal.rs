//! [`PgJournal`]: one run's journal in `shipcore_journal`, written by the holder of the
//! run's lease. Each append checks the fencing token and writes in one statement, holding a
//! share lock on the run's row, so a claim by another engine (which bumps the token)
//! waits for an append in flight and every later append of the old holder is refused.

use crate::db::Db;
use crate::error::StoreError;
use crate::queue::Lease;
use async_trait::async_trait;
use shipcore::journal::{Entry, Journal, JournalError};
use std::sync::Arc;
use tokio::sync::Mutex;

/// The journal of one run, for one lease.
///
/// - An append returns `Ok` only once its row is committed; sequence numbers are dense
///   (0, 1, 2, ...), one writer per lease.
/// - Once another engine claimed the run (a new fencing token), every append is refused
///   with [`JournalError::Fenced`], naming the run, its owner now and both tokens: the
///   writer must stand down.
/// - Database trouble (a dropped connection, a server restarting) does not fail an
///   append: it reconnects and retries with backoff (50 ms doubling to 2 s) for as long as
///   it takes, until the append succeeds or is fenced. A retry that finds its entry
///   already committed (the answer was lost, not the write) returns its sequence number.
///   Only an error that is not transient (a missing privilege, a dropped table) fails.
#[derive(Debug)]
pub struct PgJournal {
    db: Arc<Db>,
    lease: Lease,
    /// The next sequence number; the lock also keeps appends one at a time.
    next: Mutex<u64>,
}

/// What one attempt of an append found.
enum Attempt {
    Written,
    /// Not written: the entry at that seq (token, payload), if any, and the run's owner
    /// and token now.
    Refused {
        existing: Option<(i64, String)>,
        owner: Option<String>,
        token: Option<i64>,
        state: Option<String>,
    },
}

fn journal_io(run: &str, e: StoreError) -> JournalError {
    JournalError::Io {
        path: format!("postgres journal of run {run}"),
        source: std::io::Error::other(e.to_string()),
    }
}

impl PgJournal {
    pub(crate) async fn open(db: Arc<Db>, lease: Lease) -> Result<Self, StoreError> {
        crate::queue::check_run_id(&lease.run)?;
        let run = lease.run.as_str();
        let next = db
            .retry("open a journal", None, |c| async move {
                c.query_one(
                    "SELECT coalesce(max(seq) + 1, 0) FROM shipcore_journal WHERE run_id = $1",
                    &[&run],
                )
                .await
            })
            .await?
            .get::<_, i64>(0);
        Ok(PgJournal {
            db,
            next: Mutex::new(next as u64),
            lease,
        })
    }

    /// The lease this journal writes under.
    pub fn lease(&self) -> &Lease {
        &self.lease
    }

    async fn attempt(&self, seq: i64, payload: &str) -> Result<Attempt, StoreError> {
        let run = self.lease.run.as_str();
        let token = self.lease.token as i64;
        self.db
            .retry("append to a journal", None, |c| async move {
                let n = c
                    .execute(
                        "WITH owner AS (
                             SELECT id FROM shipcore_runs
                             WHERE id = $1 AND token = $2 AND state = 'running'
                             FOR SHARE)
                         INSERT INTO shipcore_journal (run_id, seq, token, payload)
                         SELECT id, $3, $2, $4 FROM owner
                         ON CONFLICT (run_id, seq) DO NOTHING",
                        &[&run, &token, &seq, &payload],
                    )
                    .await?;
                if n == 1 {
                    return Ok(Attempt::Written);
                }
                let existing = c
                    .query_opt(
                        "SELECT token, payload FROM shipcore_journal WHERE run_id = $1 AND seq = $2",
                        &[&run, &seq],
                    )
                    .await?
                    .map(|r| (r.get::<_, i64>(0), r.get::<_, String>(1)));
                let now = c
                    .query_opt(
                        "SELECT owner, token, state FROM shipcore_runs WHERE id = $1",
                        &[&run],
                    )
                    .await?;
                Ok(Attempt::Refused {
                    existing,
                    owner: now.as_ref().and_then(|r| r.get(0)),
                    token: now.as_ref().map(|r| r.get(1)),
                    state: now.as_ref().map(|r| r.get(2)),
                })
            })
            .await
    }
}

#[async_trait]
impl Journal for PgJournal {
    async fn append(&self, payload: &serde_json::Value) -> Result<u64, JournalError> {
        let run = &self.lease.run;
        let text = payload.to_string();
        let mut next = self.next.lock().await;
        let seq = *next;
        let span =
            tracing::debug_span!("pg_journal_append", run = %run, seq, token = self.lease.token);
        let attempt = tracing::Instrument::instrument(self.attempt(seq as i64, &text), span)
            .await
            .map_err(|e| journal_io(run, e))?;
        match attempt {
            Attempt::Written => {
                *next = seq + 1;
                Ok(seq)
            }
            // An earlier attempt of this very append committed; its answer was lost.
            Attempt::Refused {
                existing: Some((token, ref p)),
                ..
            } if token as u64 == self.lease.token && *p == text => {
                *next = seq + 1;
                Ok(seq)
            }
            Attempt::Refused {
                existing,
                owner,
                token,
                state,
            } => {
                let token_now = token.unwrap_or(0) as u64;
                if token_now == self.lease.token && state.as_deref() == Some("running") {
                    // Still ours, yet the seq is taken by something else: a second writer
                    // with our token (a bug in the caller) or a damaged journal.
                    return Err(JournalError::Poisoned {
                        path: format!("postgres journal of run {run}"),
                        problem: format!(
                            "sequence number {seq} is already taken by another entry{}; \
                             two writers share token {}",
                            existing
                                .map(|(t, _)| format!(" (token {t})"))
                                .unwrap_or_default(),
                            self.lease.token
                        ),
                    });
                }
                let owner_now = match (owner, state.as_deref()) {
                    (_, None) => "nobody (the run does not exist)".to_string(),
                    (Some(o), Some("done")) => format!("nobody (done, last owner {o})"),
                    (Some(o), _) => o,
                    (None, Some(s)) => format!("nobody ({s})"),
                };
                tracing::warn!(run = %run, token = self.lease.token, token_now, owner_now = %owner_now, "journal append fenced: the run moved on");
                Err(JournalError::Fenced {
                    run: run.clone(),
                    token: self.lease.token,
                    owner_now,
                    token_now,
                })
            }
        }
    }

    async fn read_all(&self) -> Result<Vec<Entry>, JournalError> {
        let run = self.lease.run.as_str();
        let rows = self
            .db
            .retry("read a journal", None, |c| async move {
                c.query(
                    "SELECT seq, payload FROM shipcore_journal WHERE run_id = $1 ORDER BY seq",
                    &[&run],
                )
                .await
            })
            .await
            .map_err(|e| journal_io(run, e))?;
        let mut out = Vec::with_capacity(rows.len());
        for (i, row) in rows.iter().enumerate() {
            let seq = row.get::<_, i64>(0) as u64;
            let corrupt = |problem: String| JournalError::Corrupt {
                path: format!("postgres journal of run {run}"),
                line: i + 1,
                problem,
            };
            if seq != i as u64 {
                return Err(corrupt(format!(
                    "expected sequence number {i}, found {seq}"
                )));
            }
            let payload = serde_json::from_str(row.get::<_, &str>(1))
                .map_err(|e| corrupt(format!("payload is not JSON: {e}")))?;
            out.push(Entry { seq, payload });
        }
        Ok(out)
    }
}
