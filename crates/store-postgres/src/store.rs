//! [`PgStore`]: the entry point. Connects, runs the embedded migrations, and hands out the
//! run queue, journals, rollout locks and the deployment history, all sharing one
//! connection.

use crate::db::Db;
use crate::error::StoreError;
use crate::journal::PgJournal;
use crate::lock::PgLock;
use crate::queue::{Lease, RunQueue};
use crate::records::PgRecordStore;
use crate::schema;
use std::sync::Arc;
use std::time::Duration;

/// shipcore's storage in one PostgreSQL schema. Cheap to clone (clones share the
/// connection).
///
/// ```no_run
/// # async fn demo() -> Result<(), shipcore_store_postgres::StoreError> {
/// let store = shipcore_store_postgres::PgStore::connect(
///     "postgres://shipcore@127.0.0.1:5432/shipcore", "public").await?;
/// let history = store.records();
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct PgStore {
    db: Arc<Db>,
}

impl PgStore {
    /// Connects to `url` (`postgres://user[:password]@host:port/database`), with every table
    /// in `schema` (an unquoted identifier, created when missing; `"public"` for the
    /// default), and brings the schema up to date. Refuses a schema written by newer code
    /// ([`StoreError::SchemaTooNew`]); a wrong URL, an unreachable server and a missing
    /// privilege are errors of their own kinds. Connections are plain TCP (no TLS): use it
    /// on loopback or a trusted network.
    pub async fn connect(url: &str, schema: &str) -> Result<Self, StoreError> {
        let db = Db::new(url, schema)?;
        let span = tracing::info_span!("pg_connect", target = %db.target, schema);
        let _ = tracing::Instrument::instrument(schema::migrate(&db), span).await?;
        Ok(PgStore { db: Arc::new(db) })
    }

    /// The schema version in the database (after [`connect`](Self::connect), the newest
    /// this code knows: [`SCHEMA_VERSION`](crate::SCHEMA_VERSION)).
    pub async fn schema_version(&self) -> Result<i32, StoreError> {
        self.db
            .retry(
                "read the schema version",
                Some(Duration::from_secs(10)),
                |c| async move {
                    Ok(
                        c.query_one("SELECT version FROM shipcore_schema_version", &[])
                            .await?
                            .get::<_, i32>(0),
                    )
                },
            )
            .await
    }

    /// The queue of runs and their leases.
    pub fn queue(&self) -> RunQueue {
        RunQueue::new(self.db.clone())
    }

    /// The journal of run `run` for the holder of `lease` (its appends are refused once
    /// the lease moved on). Reads where the journal stands, so appends continue after it.
    pub async fn journal(&self, lease: &Lease) -> Result<PgJournal, StoreError> {
        PgJournal::open(self.db.clone(), lease.clone()).await
    }

    /// A rollout lock whose holders expire after `ttl` unless refreshed.
    pub fn lock(&self, ttl: Duration) -> PgLock {
        PgLock::new(self.db.clone(), ttl)
    }

    /// The rollout lock for engines that run rollouts under leases ([`crate::PgEngineNode`]):
    /// its owner is the rollout id alone, so an engine that takes a run over keeps the lock
    /// the run holds (the run's fencing token keeps it to one runner). Do not use it
    /// outside a node: two runners of one rollout id would share it.
    pub fn run_lock(&self, ttl: Duration) -> PgLock {
        PgLock::for_leased_runs(self.db.clone(), ttl)
    }

    /// The deployment history.
    pub fn records(&self) -> PgRecordStore {
        PgRecordStore::new(self.db.clone())
    }

    /// The schema the tables live in.
    pub fn schema(&self) -> &str {
        &self.db.schema
    }
}
