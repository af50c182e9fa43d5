//! Shared by the end-to-end tests: the PostgreSQL URL (skip without one unless
//! SHIPCORE_E2E=1), a fresh schema with a random name per test, dropped at the end.
#![allow(dead_code, clippy::unwrap_used)]

pub mod procs;
pub mod realtime;
pub mod rollout;

use shipcore_store_postgres::PgStore;
use std::hash::{BuildHasher, Hasher};

/// SHIPCORE_PG_URL, or `None` (the test prints why and passes) when it is unset and
/// SHIPCORE_E2E is not 1; with SHIPCORE_E2E=1 a missing URL fails the test.
pub fn pg_url(test: &str) -> Option<String> {
    match std::env::var("SHIPCORE_PG_URL") {
        Ok(u) if !u.is_empty() => Some(u),
        _ => {
            if std::env::var("SHIPCORE_E2E").as_deref() == Ok("1") {
                panic!("{test}: SHIPCORE_E2E=1 but SHIPCORE_PG_URL is not set; start a cluster with `eval \"$(bash scripts/ci/pg-cluster.sh start)\"`");
            }
            eprintln!("{test}: SKIPPED: SHIPCORE_PG_URL is not set (start PostgreSQL with scripts/ci/pg-cluster.sh, or run scripts/ci/e2e-postgres.sh)");
            None
        }
    }
}

/// A random schema name for one test.
pub fn random_schema(prefix: &str) -> String {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    format!("t_{prefix}_{:012x}", h.finish() & 0xffff_ffff_ffff)
}

/// A raw connection to the test database, for setting up and checking.
pub async fn raw(url: &str) -> tokio_postgres::Client {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    client
}

/// A store in a fresh schema, and the schema's name.
pub async fn fresh_store(url: &str, prefix: &str) -> (PgStore, String) {
    let schema = random_schema(prefix);
    let store = PgStore::connect(url, &schema).await.unwrap();
    (store, schema)
}

/// Drops `schema` and everything in it.
pub async fn drop_schema(url: &str, schema: &str) {
    let c = raw(url).await;
    c.batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
        .await
        .unwrap();
}
