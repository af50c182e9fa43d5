//! shipcore's storage on PostgreSQL, so several engine processes share rollouts: a
//! [`Journal`](shipcore::journal::Journal) per run fenced by a lease ([`PgJournal`]), the
//! run queue with leases and fencing tokens ([`RunQueue`]), the rollout lock ([`PgLock`]) and
//! the deployment history ([`PgRecordStore`]), in tables created by embedded migrations
//! when a [`PgStore`] connects; and [`PgEngineNode`], an engine that claims runs from the
//! queue, keeps their leases, resumes runs other engines left, and changes the fleet only
//! under a live lease ([`LeaseGuard`]).
//!
//! What is not fenced: a driver call already sent when the lease is lost (the owner paused
//! between its lease check and the platform's answer). Actions are declarative and
//! idempotent, and the engine that takes over re-applies its own state at once; drivers
//! with preconditions (Kubernetes `resourceVersion`) narrow the window further.
//!
//! Built on `tokio-postgres` without a pool: every operation is one statement (the fencing
//! check and the write are in the same statement), so one multiplexed connection per store
//! serves many concurrent rollouts, and reconnecting one connection after a database
//! restart is simpler to reason about than a pool's recycling. Migrations use a connection
//! of their own, for their transactions.
//!
//! Several engines on one database: run the same program on several machines with
//! different node names; any of them may run a queued rollout, and one that dies leaves its
//! runs to another within the lease plus one claim poll.
//!
//! ```no_run
//! use shipcore::clock::SystemClock;
//! use shipcore::gate::LockGate;
//! use shipcore::testing::SimWorld;
//! use shipcore_store_postgres::{PgEngineNode, PgStore};
//! use std::sync::Arc;
//! use std::time::Duration;
//! # async fn demo(spec: shipcore::engine::RolloutSpec) -> Result<(), Box<dyn std::error::Error>> {
//! let store = PgStore::connect("postgres://shipcore@db:5432/shipcore", "shipcore").await?;
//! // One rollout per target across every engine: a lock row per target, owned by the run.
//! let lock = Arc::new(LockGate::new("deploy-lock", Arc::new(store.run_lock(Duration::from_secs(30)))));
//! let driver = SimWorld::new(1).driver_arc(); // your platform's driver
//! let node = PgEngineNode::builder(store, "engine-a", driver, Arc::new(SystemClock))
//!     .lease(Duration::from_secs(10)) // renewed every third of it
//!     .max_concurrent_runs(50)
//!     .engine(move |b| b.gate(lock.clone()))
//!     .build();
//! node.start();
//! node.enqueue(&spec).await?; // any node may run it
//! # Ok(()) }
//! ```
//!
//! Database trouble is transient: a dropped connection or a restarting server makes a
//! journal append wait and retry (with backoff) until it succeeds or finds itself fenced,
//! so a rollout waits through an outage instead of failing.

mod db;
mod error;
mod guard;
mod journal;
mod lock;
mod node;
mod queue;
mod records;
mod schema;
mod store;

pub use error::{ErrorKind, StoreError};
pub use guard::LeaseGuard;
pub use journal::PgJournal;
pub use lock::PgLock;
pub use node::{NodeConfig, PgEngineNode, PgEngineNodeBuilder};
pub use queue::{Claimed, Lease, RunQueue, RunRow, RunState};
pub use records::PgRecordStore;
pub use schema::SCHEMA_VERSION;
pub use store::PgStore;
