//! One engine process for the multi-process tests of shipcore-store-postgres: a
//! `PgEngineNode` over a driver whose fleet lives in PostgreSQL, with a validator that
//! passes, and the deploy lock (`deploy-lock`) in PostgreSQL. Settings from the environment:
//! SHIPCORE_PG_URL, NODE_SCHEMA, NODE_NAME, NODE_LEASE_MS (default 2000), NODE_MAX
//! (default 4). Runs until SIGTERM (then shuts down and gives its leases back) or SIGKILL.
#![allow(clippy::unwrap_used)]

mod table_driver;

use shipcore::clock::SystemClock;
use shipcore::gate::LockGate;
use shipcore::validator::{Outcome, ValidationContext, Validator, ValidatorError, Verdict};
use shipcore_store_postgres::{PgEngineNode, PgStore};
use std::sync::Arc;
use std::time::Duration;

/// Passes: the analysis exists to take time, as a real one does.
struct AlwaysHealthy;

#[shipcore::async_trait]
impl Validator for AlwaysHealthy {
    fn name(&self) -> &str {
        "healthy"
    }
    async fn validate(&self, ctx: &ValidationContext) -> Result<Verdict, ValidatorError> {
        Ok(Verdict::new(
            self.name(),
            Outcome::Pass,
            format!("{} looks fine", ctx.candidate.id),
        ))
    }
}

fn env(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_string())
}

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .init();
    let url = env("SHIPCORE_PG_URL", "");
    let schema = env("NODE_SCHEMA", "public");
    let name = env("NODE_NAME", &format!("node-{}", std::process::id()));
    let lease = Duration::from_millis(env("NODE_LEASE_MS", "2000").parse().unwrap());
    let max: usize = env("NODE_MAX", "4").parse().unwrap();
    let store = PgStore::connect(&url, &schema).await.unwrap();
    // The deploy lock, one writer per target across every engine; its TTL outlives a
    // takeover (lease + one renewal), so a run taken over keeps its lock.
    let lock = Arc::new(
        LockGate::new(
            "deploy-lock",
            Arc::new(store.run_lock(Duration::from_secs(10))),
        )
        .retry_after(Duration::from_millis(100)),
    );
    let driver = table_driver::TableDriver::new(&url, &schema, &name)
        .await
        .unwrap();
    let node = PgEngineNode::builder(store, &name, driver, Arc::new(SystemClock))
        .lease(lease)
        .poll_every(Duration::from_millis(100))
        .max_concurrent_runs(max)
        .engine(move |b| b.validator(Arc::new(AlwaysHealthy)).gate(lock.clone()))
        .build();
    node.start();
    println!("ready {name}");
    let mut term =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).unwrap();
    term.recv().await;
    node.shutdown().await;
    println!("stopped {name}");
}
