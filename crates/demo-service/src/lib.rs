//! demo-service: a small HTTP service for shipcore's examples and end-to-end tests. One
//! binary is a "good v1" or a "bad v2" depending on its flags (error rate, added latency,
//! readiness delay, crash after N seconds); see [`config::USAGE`].
//!
//! Routes: `/health` (`{"status","version","uptime","dependencies"}`, 503 until ready),
//! `/metrics` (Prometheus text: `http_requests_total{route,status,version}` and the
//! histogram `http_request_duration_seconds{route,version,le}`), and the application routes
//! `/`, `/api/items`, `/api/echo`, and `/api/users` when a PostgreSQL database is configured
//! ([`db`]: v1 reads `users(id, name)`, v2 also `email`).
//!
//! ```no_run
//! # async fn f() -> std::io::Result<()> {
//! use demo_service::{config::Config, server};
//! let cfg = Config { port: 0, version: "2.0.0".into(), error_rate: 0.1, ..Config::default() };
//! let listener = server::bind(&cfg).await?;
//! println!("listening on {}", listener.local_addr()?);
//! server::serve(listener, std::sync::Arc::new(server::State::new(cfg))).await;
//! # Ok(()) }
//! ```

#![warn(missing_docs)]

pub mod config;
pub mod db;
pub mod metrics;
pub mod rng;
pub mod server;
