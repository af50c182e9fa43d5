//! `/api/users` against a real PostgreSQL: v1 reads `users(id, name)`, v2 also `email`; an
//! expand migration (add `email`) keeps v1 working and lets v2 work; dropping `name`
//! breaks v1, as a smoke test right after the migration would see. Without a database
//! configured the route does not exist. Skips without SHIPCORE_PG_URL unless SHIPCORE_E2E=1.
#![allow(clippy::unwrap_used)]

use demo_service::config::Config;
use demo_service::server;
use std::sync::Arc;

async fn start(version: &str, database_url: Option<String>) -> String {
    let cfg = Config {
        port: 0,
        version: version.into(),
        database_url,
        ..Config::default()
    };
    let listener = server::bind(&cfg).await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(server::serve(listener, Arc::new(server::State::new(cfg))));
    format!("http://{addr}/api/users")
}

async fn get(url: &str) -> (u16, serde_json::Value) {
    let r = reqwest::get(url).await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

async fn admin(url: &str) -> tokio_postgres::Client {
    let (c, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    c
}

#[tokio::test]
async fn v1_and_v2_read_the_schema_they_need() {
    let Ok(base) = std::env::var("SHIPCORE_PG_URL") else {
        if std::env::var("SHIPCORE_E2E").is_ok_and(|v| v == "1") {
            panic!("SHIPCORE_E2E=1 but SHIPCORE_PG_URL is not set");
        }
        eprintln!("SKIP: SHIPCORE_PG_URL is not set (scripts/ci/pg-cluster.sh start)");
        return;
    };
    let name = format!(
        "demo_{}_{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos()
    );
    let root = admin(&base).await;
    root.batch_execute(&format!("CREATE DATABASE \"{name}\""))
        .await
        .unwrap();
    let db_url = format!("{}/{name}", base.rsplit_once('/').unwrap().0);
    let db = admin(&db_url).await;
    db.batch_execute(
        "CREATE TABLE users (id bigint PRIMARY KEY, name text); \
         INSERT INTO users VALUES (1, 'ada'), (2, 'grace');",
    )
    .await
    .unwrap();

    let v1 = start("1.0.0", Some(db_url.clone())).await;
    let v2 = start("2.0.0", Some(db_url.clone())).await;
    let (s, body) = get(&v1).await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["users"][1]["name"], "grace");
    assert!(body["users"][0].get("email").is_none());
    // v2 before the expand migration: its column is missing.
    let (s, body) = get(&v2).await;
    assert_eq!(s, 500);
    assert!(body["error"].as_str().unwrap().contains("email"), "{body}");

    // Expand: a nullable column. Both versions work.
    db.batch_execute(
        "ALTER TABLE users ADD COLUMN email text; UPDATE users SET email = 'ada@x' WHERE id = 1;",
    )
    .await
    .unwrap();
    let (s, body) = get(&v2).await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["users"][0]["email"], "ada@x");
    assert_eq!(body["version"], "2.0.0");
    assert_eq!(get(&v1).await.0, 200);

    // A breaking change: v1 (the stable) fails at once.
    db.batch_execute("ALTER TABLE users DROP COLUMN name;")
        .await
        .unwrap();
    let (s, body) = get(&v1).await;
    assert_eq!(s, 500);
    assert!(body["error"].as_str().unwrap().contains("name"), "{body}");

    drop(db);
    root.batch_execute(&format!("DROP DATABASE \"{name}\" WITH (FORCE)"))
        .await
        .unwrap();
}

#[tokio::test]
async fn without_a_database_the_route_does_not_exist() {
    let url = start("1.0.0", None).await;
    assert_eq!(get(&url).await.0, 404);
}
