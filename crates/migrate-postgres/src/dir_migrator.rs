//! [`PgDirMigrator`]: applies a directory of plain `.sql` files to PostgreSQL, one
//! transaction per file, recording each applied id in a table in that same transaction.

use crate::config::{quoted_table, PgDirConfig};
use crate::layout::{scan_all, MigrationFile};
use crate::sql::{char_pos_to_offset, line_of, split};
use async_trait::async_trait;
use shipcore::migrate::{
    AppliedMigration, MigrateError, MigrateErrorKind, Migration, MigrationOutcome, MigrationPhase,
    Migrator, PhaseReport,
};
use std::collections::HashSet;
use std::time::{Duration, Instant};
use tokio_postgres::error::ErrorPosition;
use tokio_postgres::{Client, NoTls};
use tracing::Instrument;

/// Applies `expand/` and `contract/` `.sql` files to PostgreSQL. Build it with
/// [`PgDirConfig::build`].
///
/// Guarantees, and what they cost:
/// - **A failed file leaves nothing.** Its statements and its row in the table commit
///   together or not at all (PostgreSQL DDL is transactional).
/// - **Nothing is applied twice**, even by concurrent appliers (two engines, a resumed
///   rollout next to a stale one): an apply holds a session-level advisory lock (keyed on
///   the table name) from reading the table to its last commit, so a second applier waits,
///   then finds the files recorded and applies none. The wait is bounded by
///   `lock_timeout`, after which it gives up with a transient error.
/// - **Files marked `-- shipcore: no-transaction`** (needed for `CREATE INDEX CONCURRENTLY`,
///   which PostgreSQL refuses inside a transaction) run one statement at a time, each
///   committed on its own, and the id is recorded after the last. The cost: a failure
///   midway leaves the statements before it applied and the file unrecorded, so the next
///   apply runs the whole file again. Write such files to be re-runnable
///   (`CREATE INDEX CONCURRENTLY IF NOT EXISTS`), keep them to one statement where you
///   can, and know that a failed `CREATE INDEX CONCURRENTLY` leaves an INVALID index to
///   drop (`DROP INDEX CONCURRENTLY IF EXISTS`) before retrying.
/// - **An applied file must not change.** Its CRC-32 is recorded; `pending` and `apply`
///   refuse (a `Config` error naming the file) when a file on disk no longer matches.
#[derive(Debug, Clone)]
pub struct PgDirMigrator {
    cfg: PgDirConfig,
    pg: tokio_postgres::Config,
}

/// Whether a statement failed (the migration's fault) or the connection did (retry).
enum RunError {
    Failed(String),
    Transient(String),
}

impl PgDirMigrator {
    pub(crate) fn from_parts(cfg: PgDirConfig, pg: tokio_postgres::Config) -> Self {
        PgDirMigrator { cfg, pg }
    }

    /// Its configuration.
    pub fn config(&self) -> &PgDirConfig {
        &self.cfg
    }

    /// Every file of `phase`, applied or not, in order (reads the directory; both phases
    /// are checked, so an id used twice is refused here too).
    pub fn files(&self, phase: MigrationPhase) -> Result<Vec<MigrationFile>, MigrateError> {
        Ok(scan_all(&self.cfg.dir)?
            .into_iter()
            .filter(|f| f.phase == phase)
            .collect())
    }

    /// The files of `phase` not recorded as applied, in the order `apply` runs them.
    pub async fn pending_files(
        &self,
        phase: MigrationPhase,
    ) -> Result<Vec<MigrationFile>, MigrateError> {
        let all = scan_all(&self.cfg.dir)?;
        let client = self.connect().await?;
        let applied = self.check_unchanged(&all, &self.read_applied(&client).await?)?;
        Ok(all
            .into_iter()
            .filter(|f| f.phase == phase && !applied.contains(&f.id))
            .collect())
    }

    fn url(&self) -> String {
        shipcore::redact::url(&self.cfg.url)
    }

    fn lock_key(&self) -> i64 {
        // "SHIP" in the high half, the table name's CRC in the low half.
        let crc = crc32fast::hash(format!("shipcore-migrate:{}", self.cfg.table).as_bytes());
        (0x5348_4950_i64 << 32) | i64::from(crc)
    }

    async fn connect(&self) -> Result<Client, MigrateError> {
        let span = tracing::debug_span!("pg.connect", url = %self.url());
        let res = tokio::time::timeout(self.cfg.connect_timeout, self.pg.connect(NoTls))
            .instrument(span)
            .await;
        let (client, conn) = match res {
            Ok(Ok(c)) => c,
            Ok(Err(e)) => {
                let kind = classify(&e);
                return Err(MigrateError::new(
                    kind,
                    self.cfg.name.clone(),
                    format!("cannot connect to {}: {}", self.url(), describe(&e)),
                ));
            }
            Err(_) => {
                return Err(MigrateError::new(
                    MigrateErrorKind::Transient,
                    self.cfg.name.clone(),
                    format!(
                        "connecting to {} took more than {:?}",
                        self.url(),
                        self.cfg.connect_timeout
                    ),
                ))
            }
        };
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "migration connection ended");
            }
        });
        Ok(client)
    }

    fn db_error(&self, what: &str, e: &tokio_postgres::Error) -> MigrateError {
        MigrateError::new(
            classify(e),
            self.cfg.name.clone(),
            format!("{what}: {}", describe(e)),
        )
    }

    /// Every applied id with its recorded checksum, in the order applied.
    async fn read_applied(&self, client: &Client) -> Result<Vec<(String, i64)>, MigrateError> {
        let exists = client
            .query_one("SELECT to_regclass($1) IS NOT NULL", &[&self.cfg.table])
            .await
            .map_err(|e| self.db_error("cannot look for the migrations table", &e))?;
        if !exists.get::<_, bool>(0) {
            return Ok(Vec::new());
        }
        let rows = client
            .query(
                &format!(
                    "SELECT id, checksum FROM {} ORDER BY seq",
                    quoted_table(&self.cfg.table)
                ),
                &[],
            )
            .await
            .map_err(|e| self.db_error("cannot read the migrations table", &e))?;
        Ok(rows
            .iter()
            .map(|r| (r.get::<_, String>(0), r.get::<_, i64>(1)))
            .collect())
    }

    /// Refuses files changed after they were applied (their checksum differs from the
    /// recorded one): what ran elsewhere would no longer be what the file says. Returns
    /// the applied ids.
    fn check_unchanged(
        &self,
        files: &[MigrationFile],
        applied: &[(String, i64)],
    ) -> Result<HashSet<String>, MigrateError> {
        for f in files {
            if let Some((_, recorded)) = applied.iter().find(|(id, _)| *id == f.id) {
                if *recorded != i64::from(f.checksum) {
                    return Err(MigrateError::new(
                        MigrateErrorKind::Config,
                        f.display.clone(),
                        format!(
                            "was changed after it was applied (checksum {recorded:08x} recorded, \
                             {:08x} now): an applied migration must not change; restore it and \
                             add a new migration",
                            f.checksum
                        ),
                    ));
                }
            }
        }
        Ok(applied.iter().map(|(id, _)| id.clone()).collect())
    }

    async fn lock(&self, client: &Client) -> Result<(), MigrateError> {
        let ms = self.cfg.lock_timeout.as_millis().max(1);
        client
            .batch_execute(&format!("SET lock_timeout = '{ms}ms'"))
            .await
            .map_err(|e| self.db_error("cannot set lock_timeout", &e))?;
        let res = client
            .execute("SELECT pg_advisory_lock($1)", &[&self.lock_key()])
            .instrument(tracing::debug_span!("pg.advisory_lock"))
            .await;
        if let Err(e) = res {
            if e.code().map(|c| c.code()) == Some("55P03") {
                return Err(MigrateError::new(
                    MigrateErrorKind::Transient,
                    self.cfg.name.clone(),
                    format!(
                        "another applier has held the migration lock of {} for more than {:?}",
                        self.cfg.table, self.cfg.lock_timeout
                    ),
                ));
            }
            return Err(self.db_error("cannot take the migration lock", &e));
        }
        client
            .batch_execute("RESET lock_timeout")
            .await
            .map_err(|e| self.db_error("cannot reset lock_timeout", &e))?;
        // If this applier dies (kill -9) while a long statement runs, PostgreSQL notices
        // the closed socket within a second, rolls the file back and frees the lock, instead
        // of holding both until the statement ends (PostgreSQL 14+; ignored before).
        if let Err(e) = client
            .batch_execute("SET client_connection_check_interval = '1s'")
            .await
        {
            tracing::debug!(error = %describe(&e), "client_connection_check_interval not set");
        }
        Ok(())
    }

    async fn ensure_table(&self, client: &Client) -> Result<(), MigrateError> {
        let mut sql = String::new();
        if let Some((schema, _)) = self.cfg.table.split_once('.') {
            sql += &format!("CREATE SCHEMA IF NOT EXISTS \"{schema}\";\n");
        }
        sql += &format!(
            "CREATE TABLE IF NOT EXISTS {} (
                seq bigint GENERATED ALWAYS AS IDENTITY,
                id text PRIMARY KEY,
                phase text NOT NULL,
                checksum bigint NOT NULL,
                no_transaction boolean NOT NULL,
                duration_ms bigint NOT NULL,
                applied_at timestamptz NOT NULL DEFAULT now()
            )",
            quoted_table(&self.cfg.table)
        );
        client
            .batch_execute(&sql)
            .await
            .map_err(|e| self.db_error("cannot create the migrations table", &e))
    }

    async fn record(
        &self,
        client: &impl tokio_postgres::GenericClient,
        file: &MigrationFile,
        took: Duration,
    ) -> Result<(), tokio_postgres::Error> {
        let ms = i64::try_from(took.as_millis()).unwrap_or(i64::MAX);
        client
            .execute(
                &format!(
                    "INSERT INTO {} (id, phase, checksum, no_transaction, duration_ms) \
                     VALUES ($1, $2, $3, $4, $5)",
                    quoted_table(&self.cfg.table)
                ),
                &[
                    &file.id,
                    &file.phase.as_str(),
                    &i64::from(file.checksum),
                    &file.no_transaction,
                    &ms,
                ],
            )
            .await
            .map(|_| ())
    }

    /// Runs one file in a transaction with its record.
    async fn run_transactional(
        &self,
        client: &mut Client,
        file: &MigrationFile,
        started: Instant,
    ) -> Result<(), RunError> {
        let tx = client
            .transaction()
            .await
            .map_err(|e| RunError::Transient(describe(&e)))?;
        if let Err(e) = tx.batch_execute(&file.sql).await {
            // Dropping `tx` rolls back.
            return Err(run_error(&e, &file.sql, 0, file));
        }
        if let Err(e) = self.record(&tx, file, started.elapsed()).await {
            return Err(run_error(&e, "", 0, file));
        }
        tx.commit().await.map_err(|e| run_error(&e, "", 0, file))
    }

    /// Runs a `no-transaction` file one statement at a time, then records it.
    async fn run_statements(
        &self,
        client: &Client,
        file: &MigrationFile,
        started: Instant,
    ) -> Result<(), RunError> {
        let stmts = split(&file.sql).map_err(|p| {
            RunError::Failed(format!(
                "line {}: does not parse, so it cannot be split into statements to run \
                 outside a transaction: {}",
                p.line, p.message
            ))
        })?;
        let n = stmts.len();
        for (i, s) in stmts.iter().enumerate() {
            if let Err(e) = client.batch_execute(&s.text).await {
                return Err(match run_error(&e, &s.text, s.offset, file) {
                    RunError::Failed(m) => RunError::Failed(format!(
                        "{m} (statement {} of {n}; the {i} before it stay applied: this \
                         file runs outside a transaction)",
                        i + 1
                    )),
                    t => t,
                });
            }
        }
        self.record(client, file, started.elapsed())
            .await
            .map_err(|e| run_error(&e, "", 0, file))
    }
}

/// Transient for connection-level errors (closed, I/O, class 08, shutdown, too many
/// connections, serialization failures), Config for authentication, a missing database or
/// missing privileges, Failed otherwise.
fn classify(e: &tokio_postgres::Error) -> MigrateErrorKind {
    let Some(code) = e.code().map(|c| c.code()) else {
        return MigrateErrorKind::Transient;
    };
    if code.starts_with("08")
        || code.starts_with("53")
        || code.starts_with("57P")
        || code == "40001"
        || code == "40P01"
    {
        MigrateErrorKind::Transient
    } else if code.starts_with("28") || code == "3D000" || code == "42501" {
        MigrateErrorKind::Config
    } else {
        MigrateErrorKind::Failed
    }
}

/// The database's message with its SQLSTATE, detail and hint, or the client's error.
fn describe(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => {
            let mut s = format!("{} ({})", db.message(), db.code().code());
            if let Some(d) = db.detail() {
                s += &format!("; detail: {d}");
            }
            if let Some(h) = db.hint() {
                s += &format!("; hint: {h}");
            }
            s
        }
        None => {
            let mut s = e.to_string();
            let mut cur = std::error::Error::source(e);
            while let Some(c) = cur {
                s += &format!(": {c}");
                cur = c.source();
            }
            s
        }
    }
}

/// A statement's error as a `RunError`, naming the file's line when PostgreSQL gives a
/// position (`text` is what was sent, starting at byte `offset` of the file).
fn run_error(
    e: &tokio_postgres::Error,
    text: &str,
    offset: usize,
    file: &MigrationFile,
) -> RunError {
    if classify(e) == MigrateErrorKind::Transient {
        return RunError::Transient(describe(e));
    }
    let mut msg = describe(e);
    if let Some(ErrorPosition::Original(pos)) = e.as_db_error().and_then(|d| d.position()) {
        let at = offset + char_pos_to_offset(text, *pos);
        msg = format!("line {}: {msg}", line_of(&file.sql, at));
    }
    if e.code().map(|c| c.code()) == Some("25001") {
        msg += &format!(
            "; this statement cannot run inside a transaction: put the line `{}` in the file",
            crate::layout::NO_TRANSACTION_MARKER
        );
    }
    RunError::Failed(msg)
}

#[async_trait]
impl Migrator for PgDirMigrator {
    fn name(&self) -> &str {
        &self.cfg.name
    }

    async fn pending(&self, phase: MigrationPhase) -> Result<Vec<Migration>, MigrateError> {
        let span = tracing::info_span!("migrate.pending", migrator = %self.cfg.name, %phase);
        async {
            Ok(self
                .pending_files(phase)
                .await?
                .iter()
                .map(MigrationFile::migration)
                .collect())
        }
        .instrument(span)
        .await
    }

    async fn apply(&self, phase: MigrationPhase) -> Result<PhaseReport, MigrateError> {
        let span = tracing::info_span!("migrate.apply", migrator = %self.cfg.name, %phase);
        async {
            let all = scan_all(&self.cfg.dir)?;
            let mut client = self.connect().await?;
            self.lock(&client).await?;
            // The session lock is released when the connection closes (client dropped),
            // whatever happens below.
            self.ensure_table(&client).await?;
            let applied = self.check_unchanged(&all, &self.read_applied(&client).await?)?;
            let mut report = PhaseReport::default();
            for file in all
                .iter()
                .filter(|f| f.phase == phase && !applied.contains(&f.id))
            {
                let started = Instant::now();
                let span = tracing::info_span!("migrate.file", id = %file.id,
                    no_transaction = file.no_transaction);
                let res = if file.no_transaction {
                    self.run_statements(&client, file, started)
                        .instrument(span)
                        .await
                } else {
                    self.run_transactional(&mut client, file, started)
                        .instrument(span)
                        .await
                };
                let outcome = match res {
                    Ok(()) => MigrationOutcome::Applied,
                    Err(RunError::Failed(error)) => MigrationOutcome::Failed { error },
                    Err(RunError::Transient(m)) => {
                        return Err(MigrateError::new(
                            MigrateErrorKind::Transient,
                            file.id.clone(),
                            format!(
                                "the connection failed while applying {}: {m}; retrying is \
                                 safe (the file and its record commit together)",
                                file.display
                            ),
                        ))
                    }
                };
                let failed = matches!(outcome, MigrationOutcome::Failed { .. });
                if failed {
                    tracing::warn!(id = %file.id, "migration failed");
                } else {
                    tracing::info!(id = %file.id, "migration applied");
                }
                report
                    .migrations
                    .push(applied_migration(file, started.elapsed(), outcome));
                if failed {
                    break;
                }
            }
            Ok(report)
        }
        .instrument(span)
        .await
    }

    async fn applied(&self) -> Result<Vec<String>, MigrateError> {
        let client = self.connect().await?;
        Ok(self
            .read_applied(&client)
            .instrument(tracing::info_span!("migrate.applied", migrator = %self.cfg.name))
            .await?
            .into_iter()
            .map(|(id, _)| id)
            .collect())
    }
}

fn applied_migration(
    file: &MigrationFile,
    duration: Duration,
    outcome: MigrationOutcome,
) -> AppliedMigration {
    AppliedMigration::new(file.id.clone(), file.phase, duration, outcome)
}
