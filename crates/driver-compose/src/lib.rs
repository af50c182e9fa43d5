//! # shipcore-driver-compose
//!
//! A [`shipcore::driver::Driver`] for **one service of a Docker Compose v2 project**, talking
//! to the real `docker compose` CLI (and the engine's Docker-compatible API where the CLI
//! has no answer), with an optional [`router::Router`] in front for weighted traffic:
//! [`router::HaproxyRouter`] steers HAProxy through its runtime API, without reloads.
//!
//! ## How revisions map onto compose
//!
//! The user's compose files define the service once (say `web`: its command, environment,
//! healthcheck, networks, volumes). Every revision runs as **its own compose service**,
//! `web-<revision id>`, which the driver generates from `docker compose config --format json`
//! and passes to every command as an extra compose file on standard input (`-f -`):
//!
//! - a copy of `web` with `image:` set to the revision's artifact and `pull_policy: never`
//!   (unless [`ComposeConfig::pull`]);
//! - no `container_name`, `hostname`, `build`, `profiles` or replica count, so it can scale;
//! - every container port published on an **ephemeral port of 127.0.0.1**
//!   ([`ComposeConfig::publish_host`]), so replicas and revisions never collide;
//! - the base name `web` as a network alias on each of its networks, so other services of
//!   the project reach all revisions by the old name;
//! - labels `io.shipcore.service`, `io.shipcore.revision`, `io.shipcore.artifact`: state is
//!   read back from the containers themselves (`compose ps`), so a new process (a resumed
//!   rollout) needs nothing but the compose files and the stored traffic shares.
//!
//! The base service itself is never started by the driver; a plain `docker compose up` of
//! the user's files does not see the revision services (they exist only in the generated
//! file), and `--remove-orphans` would remove them.
//!
//! ## Actions
//!
//! | action | compose |
//! |---|---|
//! | `Deploy{rev, n}` | image checked in the engine, then `up --detach --no-recreate --scale web-<rev>=n web-<rev>`; surplus containers (not running or unhealthy first, then the newest) are drained in the router, stopped with the service's grace period and removed |
//! | `Scale{rev, n}` | the same with the image the revision's containers run |
//! | `Retire{rev}` | all its containers drained, stopped and removed; its share forgotten; absent = done |
//! | `Route{weights}` | shares stored, router updated (needs a router; a revision given traffic must have containers, else a permanent error) |
//! | `SetFlag` | permanent error: not supported |
//!
//! Every action ends by syncing the router: each running container with a published
//! traffic port is registered, weighted by its revision's share; new containers take
//! traffic only once the proxy's own health check passes.
//!
//! ## Readiness
//!
//! A container is ready when it runs, its compose healthcheck (if it has one) says
//! `healthy`, and the optional [`HttpProbe`] (the driver's own `GET` to the published port)
//! answers the expected status; behind a router it must also be registered and up there
//! (passing the proxy's own health check), so that shifting traffic to a revision the
//! driver calls ready never meets servers the proxy still holds down. Podman without systemd schedules no healthchecks; with
//! [`HealthcheckRunner::Auto`] the driver notices Podman and runs each check itself once
//! per `observe`.
//!
//! ## Traffic shares
//!
//! With a router, `Route` sets the shares; they are kept in a JSON file under
//! [`ComposeConfig::state_dir`]. A revision deployed beside serving ones starts at 0% (the
//! current split is written down first), which is what canary and blue-green plans expect.
//! When no routed revision has a ready container (first deploy, or every routed container
//! down), traffic follows ready replicas instead of going nowhere (containers, while none
//! is ready yet, so the proxy takes them in as soon as its health checks pass). Without a router,
//! `observe` reports each revision's share of ready replicas (what the network alias gives).
//!
//! ## Around the engine
//!
//! [`ComposePreflight`] is a pre-rollout gate: the engine answers, the compose files load
//! and define the service, the target is the driver's and the candidate's image exists, or
//! the rollout is blocked with the driver's message before anything changes.
//! [`PreviewHealth`] runs shipcore's HTTP health check against every container of the
//! judged revision through its own published port: a blue-green preview check before any
//! production traffic, or the stable revision's check after a rollback.
//! [`prometheus_targets`] lists the containers for Prometheus' file_sd.
//!
//! ## Errors
//!
//! Input problems (unknown service, bad compose file, missing compose file, unknown image,
//! bad revision id) are permanent and found before anything changes; an unreachable or busy
//! engine, timeouts and conflicts are transient. The CLI's stderr is kept in the message.
//!
//! ```no_run
//! use std::sync::Arc;
//! use shipcore::driver::Driver;
//! use shipcore::model::{Action, Revision, Target};
//! use shipcore_driver_compose::{ComposeConfig, ComposeDriver, HttpProbe};
//! use shipcore_driver_compose::router::HaproxyRouter;
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let mut cfg = ComposeConfig::new("shop", "web", ["compose.yaml"], 8080);
//! cfg.http_probe = Some(HttpProbe::get("/health"));
//! let driver = ComposeDriver::new(cfg)?
//!     .with_router(Arc::new(HaproxyRouter::new("/run/haproxy/admin.sock", "web")));
//! driver.validate().await?;
//! let target = Target::new("web", "production");
//! let v2 = Revision::new("v2", "2.0.0".parse()?, "registry.local/web:2.0.0");
//! driver.apply(&target, &Action::Deploy { revision: v2, replicas: 3 }).await?;
//! println!("{:?}", driver.observe(&target).await?);
//! # Ok(()) }
//! ```
#![warn(missing_docs)]
#![cfg_attr(test, allow(clippy::unwrap_used))]

mod cli;
mod config;
mod discovery;
mod driver;
mod engine_api;
mod error;
mod http;
mod preflight;
mod preview;
mod project;
mod ps;
mod revision;
pub mod router;
mod shares;

pub use config::{ComposeCli, ComposeConfig, ConfigError, HealthcheckRunner, HttpProbe};
pub use discovery::prometheus_targets;
pub use driver::{ComposeDriver, Instance};
pub use preflight::ComposePreflight;
pub use preview::PreviewHealth;
pub use revision::{LABEL_ARTIFACT, LABEL_REVISION, LABEL_SERVICE};

/// Hooks for this crate's own end-to-end tests and fuzz targets: not part of the API, no
/// stability promise.
#[doc(hidden)]
pub mod internals {
    pub use crate::engine_api::{Endpoint, EngineClient};
    pub use crate::http::{get_tcp, Response};
    pub use crate::ps::{parse as parse_ps, Container, Publisher};
}

/// The public surface, checked as doc tests: the driver, its configuration and errors, the
/// router extension point and service discovery are public; the modules behind them are
/// not.
///
/// ```
/// use shipcore_driver_compose::router::{HaproxyRouter, Router};
/// use shipcore_driver_compose::{
///     prometheus_targets, ComposeConfig, ComposeDriver, ComposePreflight, ConfigError,
///     PreviewHealth,
/// };
/// ```
///
/// ```compile_fail
/// use shipcore_driver_compose::ps::parse;
/// ```
///
/// ```compile_fail
/// use shipcore_driver_compose::shares::proportional;
/// ```
///
/// ```compile_fail
/// use shipcore_driver_compose::config::ComposeConfig;
/// ```
#[cfg(doctest)]
pub struct ApiShape;
