//! Shared by the end-to-end tests: a database of its own per test on the cluster
//! `SHIPCORE_PG_URL` names (scripts/ci/pg-cluster.sh), dropped when the test ends, and
//! migration directories written into temporary folders.
#![allow(dead_code)]

use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};

/// True when `SHIPCORE_E2E=1`: a missing component fails instead of skipping.
pub fn e2e_required() -> bool {
    std::env::var("SHIPCORE_E2E").is_ok_and(|v| v == "1")
}

/// A database created for one test; dropped (`WITH (FORCE)`) on drop.
pub struct TestDb {
    /// URL of the test's own database.
    pub url: String,
    admin: String,
    name: String,
}

async fn connect(url: &str) -> tokio_postgres::Client {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|e| panic!("cannot connect to {url}: {e}"));
    tokio::spawn(conn);
    client
}

/// A new database, or `None` (after saying why) when no cluster is configured and
/// `SHIPCORE_E2E` is not 1.
pub async fn test_db() -> Option<TestDb> {
    let Ok(admin) = std::env::var("SHIPCORE_PG_URL") else {
        if e2e_required() {
            panic!("SHIPCORE_E2E=1 but SHIPCORE_PG_URL is not set: start a cluster with scripts/ci/pg-cluster.sh");
        }
        eprintln!(
            "SKIP: SHIPCORE_PG_URL is not set (eval \"$(bash scripts/ci/pg-cluster.sh start)\")"
        );
        return None;
    };
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let name = format!(
        "mig_{}_{}_{}",
        std::process::id(),
        nanos,
        N.fetch_add(1, Ordering::SeqCst)
    );
    let client = connect(&admin).await;
    client
        .batch_execute(&format!("CREATE DATABASE \"{name}\""))
        .await
        .unwrap();
    let (base, _) = admin.rsplit_once('/').unwrap();
    Some(TestDb {
        url: format!("{base}/{name}"),
        admin,
        name,
    })
}

impl TestDb {
    /// A client on the test's database.
    pub async fn client(&self) -> tokio_postgres::Client {
        connect(&self.url).await
    }

    /// Whether `table` has `column`.
    pub async fn has_column(&self, table: &str, column: &str) -> bool {
        let c = self.client().await;
        let row = c
            .query_one(
                "SELECT count(*) FROM information_schema.columns \
                 WHERE table_name = $1 AND column_name = $2",
                &[&table, &column],
            )
            .await
            .unwrap();
        row.get::<_, i64>(0) == 1
    }

    /// Whether `table` exists.
    pub async fn has_table(&self, table: &str) -> bool {
        let c = self.client().await;
        let row = c
            .query_one("SELECT to_regclass($1) IS NOT NULL", &[&table])
            .await
            .unwrap();
        row.get(0)
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let admin = self.admin.clone();
        let name = self.name.clone();
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                if let Ok((c, conn)) = tokio_postgres::connect(&admin, tokio_postgres::NoTls).await
                {
                    tokio::spawn(conn);
                    let _ = c
                        .batch_execute(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                        .await;
                }
            });
        })
        .join();
    }
}

/// Writes `files` (`("expand/0001_x.sql", "SQL")`) under `dir`.
pub fn write_files(dir: &Path, files: &[(&str, &str)]) {
    for (path, sql) in files {
        let p = dir.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, sql).unwrap();
    }
}
