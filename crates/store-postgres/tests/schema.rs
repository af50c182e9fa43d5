//! The schema on a real PostgreSQL: created on connect (also by engines connecting at
//! once), a newer schema refused untouched, a failed migration leaves nothing behind, and
//! clear errors for a wrong URL, an unreachable server and a missing privilege.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use shipcore_store_postgres::{ErrorKind, PgStore, StoreError, SCHEMA_VERSION};

#[tokio::test]
async fn connect_creates_the_schema_once_even_from_several_engines_at_once() {
    let Some(url) = pg_url("connect_creates_the_schema") else {
        return;
    };
    let schema = random_schema("create");
    let mut joins = Vec::new();
    for _ in 0..4 {
        let (url, schema) = (url.clone(), schema.clone());
        joins.push(tokio::spawn(async move {
            PgStore::connect(&url, &schema).await
        }));
    }
    for j in joins {
        let store = j.await.unwrap().unwrap();
        assert_eq!(store.schema_version().await.unwrap(), SCHEMA_VERSION);
    }
    let c = raw(&url).await;
    let tables: i64 = c
        .query_one(
            "SELECT count(*) FROM pg_tables WHERE schemaname = $1",
            &[&schema],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(tables, 5, "version, runs, journal, locks, records");
    // Connecting again to a migrated schema changes nothing.
    let again = PgStore::connect(&url, &schema).await.unwrap();
    assert_eq!(again.schema_version().await.unwrap(), SCHEMA_VERSION);
    drop_schema(&url, &schema).await;
}

#[tokio::test]
async fn a_schema_newer_than_the_code_is_refused_and_left_alone() {
    let Some(url) = pg_url("newer_schema") else {
        return;
    };
    let (_, schema) = fresh_store(&url, "newer").await;
    let c = raw(&url).await;
    c.batch_execute(&format!(
        "UPDATE {schema}.shipcore_schema_version SET version = 99"
    ))
    .await
    .unwrap();
    let err = PgStore::connect(&url, &schema).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::SchemaTooNew, "{err}");
    let text = err.to_string();
    assert!(
        text.contains("version 99") && text.contains(&schema),
        "{text}"
    );
    let v: i32 = c
        .query_one(
            &format!("SELECT version FROM {schema}.shipcore_schema_version"),
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(v, 99, "nothing was changed");
    drop_schema(&url, &schema).await;
}

#[tokio::test]
async fn a_failed_migration_leaves_nothing_half_written() {
    let Some(url) = pg_url("failed_migration") else {
        return;
    };
    let schema = random_schema("half");
    let c = raw(&url).await;
    // A table in the way: version 1 creates shipcore_runs first, then fails on this one.
    c.batch_execute(&format!(
        "CREATE SCHEMA {schema}; CREATE TABLE {schema}.shipcore_locks (x int);"
    ))
    .await
    .unwrap();
    let err = PgStore::connect(&url, &schema).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Other, "{err}");
    assert!(err.to_string().contains("migrate the schema"), "{err}");
    let runs: bool = c
        .query_one(
            "SELECT to_regclass($1) IS NOT NULL",
            &[&format!("{schema}.shipcore_runs")],
        )
        .await
        .unwrap()
        .get(0);
    assert!(!runs, "the migration's first table was rolled back with it");
    let v: i32 = c
        .query_one(
            &format!("SELECT version FROM {schema}.shipcore_schema_version"),
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(v, 0);
    // Once the obstacle is gone, the same connect migrates.
    c.batch_execute(&format!("DROP TABLE {schema}.shipcore_locks"))
        .await
        .unwrap();
    let store = PgStore::connect(&url, &schema).await.unwrap();
    assert_eq!(store.schema_version().await.unwrap(), SCHEMA_VERSION);
    drop_schema(&url, &schema).await;
}

#[tokio::test]
async fn wrong_urls_and_unreachable_servers_give_clear_errors() {
    let Some(url) = pg_url("wrong_urls") else {
        return;
    };
    let err = PgStore::connect("http://nowhere", "public")
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config, "{err}");
    assert!(err.to_string().contains("postgres URL is invalid"), "{err}");

    let err = PgStore::connect(&url, "Bad-Name").await.unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::BadName {
                field: "schema",
                ..
            }
        ),
        "{err}"
    );

    // A port nobody listens on (bound, then closed).
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dead = format!("postgres://shipcore@127.0.0.1:{port}/shipcore");
    let err = PgStore::connect(&dead, "public").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Transient, "{err}");
    assert!(
        err.to_string()
            .contains(&format!("127.0.0.1:{port}/shipcore")),
        "{err}"
    );

    // A database that does not exist.
    let missing = format!("{}_no_such_db", url);
    let err = PgStore::connect(&missing, "public").await.unwrap_err();
    assert!(err.to_string().contains("no_such_db"), "{err}");
}

#[tokio::test]
async fn a_user_without_privileges_gets_a_permission_error_and_nothing_is_created() {
    let Some(url) = pg_url("missing_permission") else {
        return;
    };
    let c = raw(&url).await;
    let role = random_schema("role");
    c.batch_execute(&format!(
        "CREATE ROLE {role} LOGIN; REVOKE CREATE ON DATABASE shipcore FROM PUBLIC;"
    ))
    .await
    .unwrap();
    let at = url.find('@').unwrap();
    let as_role = format!("postgres://{role}{}", &url[at..]);
    let schema = random_schema("denied");
    let err = PgStore::connect(&as_role, &schema).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Permission, "{err}");
    let text = err.to_string();
    assert!(
        text.contains(&role) && text.contains("permission denied"),
        "{text}"
    );
    let exists: bool = c
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)",
            &[&schema],
        )
        .await
        .unwrap()
        .get(0);
    assert!(!exists);

    // A migrated schema works for a user who may only use its tables.
    let (_, ok_schema) = fresh_store(&url, "granted").await;
    c.batch_execute(&format!(
        "GRANT USAGE ON SCHEMA {ok_schema} TO {role};
         GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {ok_schema} TO {role};"
    ))
    .await
    .unwrap();
    let store = PgStore::connect(&as_role, &ok_schema).await.unwrap();
    assert!(store
        .queue()
        .enqueue("r1", &serde_json::json!({}))
        .await
        .unwrap());
    drop_schema(&url, &ok_schema).await;
    c.batch_execute(&format!(
        "DROP OWNED BY {role}; DROP ROLE {role}; GRANT CREATE ON DATABASE shipcore TO PUBLIC;"
    ))
    .await
    .unwrap();
}
