//! The tables, as embedded migrations run on connect: `shipcore_schema_version` holds the
//! version; each migration runs in its own transaction under an advisory lock, so engines
//! starting together migrate once and a failed migration leaves nothing half-written.

use crate::db::Db;
use crate::error::StoreError;

/// Version 1: runs (queue and leases), their journals, rollout locks, deployment records.
const V1: &str = r#"
CREATE TABLE shipcore_runs (
    id          text PRIMARY KEY CHECK (length(id) BETWEEN 1 AND 200),
    spec        text NOT NULL,
    state       text NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'running', 'done')),
    owner       text,
    token       bigint NOT NULL DEFAULT 0,
    lease_until timestamptz,
    outcome     text,
    enqueued_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at  timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX shipcore_runs_open ON shipcore_runs (enqueued_at, id) WHERE state <> 'done';
CREATE TABLE shipcore_journal (
    run_id     text NOT NULL REFERENCES shipcore_runs (id) ON DELETE CASCADE,
    seq        bigint NOT NULL CHECK (seq >= 0),
    token      bigint NOT NULL,
    payload    text NOT NULL,
    written_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (run_id, seq)
);
CREATE TABLE shipcore_locks (
    service        text NOT NULL,
    environment    text NOT NULL,
    owner          text NOT NULL,
    token          text NOT NULL,
    pid            bigint NOT NULL,
    host           text NOT NULL,
    acquired_at_ms bigint NOT NULL,
    expires_at     timestamptz,
    PRIMARY KEY (service, environment)
);
CREATE TABLE shipcore_records (
    id             text PRIMARY KEY,
    service        text NOT NULL,
    environment    text NOT NULL,
    deployed_at_ms bigint NOT NULL,
    record         text NOT NULL
);
CREATE INDEX shipcore_records_target ON shipcore_records (service, environment, deployed_at_ms DESC);
"#;

/// The migrations, in order: version `i + 1` is `MIGRATIONS[i]`.
const MIGRATIONS: &[&str] = &[V1];

/// The newest schema version this code knows.
pub const SCHEMA_VERSION: i32 = MIGRATIONS.len() as i32;

/// Brings the schema up to [`SCHEMA_VERSION`]; refuses a newer one. Needs the CREATE
/// privilege only when something is missing, so a fully migrated schema works with a
/// user that may only read and write the tables.
pub(crate) async fn migrate(db: &Db) -> Result<i32, StoreError> {
    let mut client = db.connect_own("connect").await?;
    let found = current_version(db, &client).await?;
    if found > SCHEMA_VERSION {
        return Err(too_new(db, found));
    }
    if found == SCHEMA_VERSION {
        return Ok(found);
    }
    let err = |e| db.error(e, "create the schema");
    let lock_key = format!("shipcore-migrate:{}", db.schema);
    {
        // Under the advisory lock, so engines connecting at once create it once.
        let tx = client.transaction().await.map_err(err)?;
        tx.execute("SELECT pg_advisory_xact_lock(hashtext($1))", &[&lock_key])
            .await
            .map_err(err)?;
        let exists = tx
            .query_opt(
                "SELECT 1 FROM pg_namespace WHERE nspname = $1",
                &[&db.schema],
            )
            .await
            .map_err(err)?
            .is_some();
        if !exists {
            // The name was checked (an unquoted identifier), so it is safe in the statement.
            tx.batch_execute(&format!("CREATE SCHEMA {}", db.schema))
                .await
                .map_err(err)?;
        }
        tx.batch_execute(
            "CREATE TABLE IF NOT EXISTS shipcore_schema_version (
                 one boolean PRIMARY KEY DEFAULT true CHECK (one),
                 version integer NOT NULL,
                 updated_at timestamptz NOT NULL DEFAULT clock_timestamp());
             INSERT INTO shipcore_schema_version (version) VALUES (0) ON CONFLICT DO NOTHING;",
        )
        .await
        .map_err(err)?;
        tx.commit().await.map_err(err)?;
    }
    for (i, sql) in MIGRATIONS.iter().enumerate() {
        let version = i as i32 + 1;
        let err = |e| db.error(e, "migrate the schema");
        let tx = client.transaction().await.map_err(err)?;
        tx.execute("SELECT pg_advisory_xact_lock(hashtext($1))", &[&lock_key])
            .await
            .map_err(err)?;
        let row = tx
            .query_one(
                "SELECT version FROM shipcore_schema_version FOR UPDATE",
                &[],
            )
            .await
            .map_err(err)?;
        let now: i32 = row.get(0);
        if now > SCHEMA_VERSION {
            return Err(too_new(db, now));
        }
        if now >= version {
            continue;
        }
        tx.batch_execute(sql).await.map_err(err)?;
        tx.execute(
            "UPDATE shipcore_schema_version SET version = $1, updated_at = clock_timestamp()",
            &[&version],
        )
        .await
        .map_err(err)?;
        tx.commit().await.map_err(err)?;
        tracing::info!(schema = %db.schema, version, "postgres schema migrated");
    }
    Ok(SCHEMA_VERSION)
}

/// The version recorded in the schema, 0 when there is no version table yet.
async fn current_version(db: &Db, client: &tokio_postgres::Client) -> Result<i32, StoreError> {
    let err = |e| db.error(e, "read the schema version");
    let table = format!("{}.shipcore_schema_version", db.schema);
    let exists = client
        .query_one("SELECT to_regclass($1) IS NOT NULL", &[&table])
        .await
        .map_err(err)?
        .get::<_, bool>(0);
    if !exists {
        return Ok(0);
    }
    let row = client
        .query_opt("SELECT version FROM shipcore_schema_version", &[])
        .await
        .map_err(err)?;
    Ok(row.map(|r| r.get::<_, i32>(0)).unwrap_or(0))
}

fn too_new(db: &Db, found: i32) -> StoreError {
    StoreError::SchemaTooNew {
        schema: db.schema.clone(),
        found,
        supported: SCHEMA_VERSION,
    }
}
