//! The platform a rollout runs against, opened from the file's `driver`: the simulator
//! (persisted in the state directory, or a read-only copy for a dry run) or, with the
//! `compose` feature, Docker Compose; each with the clock and metrics that go with it.

use crate::file::{DriverFile, FileError, Loaded};
use crate::setup::candidate;
use crate::state::StateDir;
use shipcore::clock::Clock;
use shipcore::driver::Driver;
use shipcore::metrics::MetricsSource;
use shipcore::model::Capabilities;
use shipcore::testing::{SimSnapshot, SimWorld};
use std::sync::Arc;

/// The platform a rollout runs against.
pub struct Platform {
    /// The driver.
    pub driver: Arc<dyn Driver>,
    /// The clock the engine reads (simulated for `sim`).
    pub clock: Arc<dyn Clock>,
    /// The driver's own metrics, if it has any (the simulator's).
    pub metrics: Option<Arc<dyn MetricsSource>>,
    /// The simulator, when the driver is `sim`.
    pub sim: Option<SimWorld>,
}

/// How the platform is opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Changes persist in the state directory (`run`, `resume`).
    Live,
    /// Read-only: a copy of the platform in memory (`plan`).
    DryRun,
}

/// Opens the file's platform.
pub fn platform(loaded: &Loaded, state: &StateDir, mode: Mode) -> Result<Platform, FileError> {
    let file = &loaded.file;
    match &file.driver {
        DriverFile::Sim(sim) => {
            let path = state.sim_path();
            let world = match mode {
                Mode::Live => {
                    std::fs::create_dir_all(state.dir()).map_err(|e| {
                        loaded.error(
                            "state_dir",
                            format!("cannot create {}: {e}", state.dir().display()),
                        )
                    })?;
                    SimWorld::persisting(sim.seed, &path)
                        .map_err(|e| loaded.error("driver.sim", e.to_string()))?
                }
                Mode::DryRun => match std::fs::read(&path) {
                    Ok(bytes) => {
                        let snap: SimSnapshot = serde_json::from_slice(&bytes).map_err(|e| {
                            loaded.error(
                                "driver.sim",
                                format!("simulator state {} is unreadable: {e}", path.display()),
                            )
                        })?;
                        SimWorld::from_snapshot(snap)
                            .map_err(|e| loaded.error("driver.sim", e.to_string()))?
                    }
                    Err(_) => SimWorld::new(sim.seed),
                },
            };
            // The file says how the candidate behaves: faults an earlier run left on a
            // revision of the same id are cleared first.
            let cand = candidate(&loaded.file);
            world.driver.heal(&cand);
            for (i, f) in sim.candidate_failures.iter().enumerate() {
                world.driver.inject(&cand, *f).map_err(|e| {
                    loaded.error(
                        &format!("driver.sim.candidate_failures[{i}]"),
                        e.to_string(),
                    )
                })?;
            }
            // As the file says, whatever an earlier run left in the state file.
            let caps = Capabilities {
                weighted_traffic: sim.weighted_traffic.unwrap_or(true),
                ..world.driver.config().capabilities
            };
            world.driver.set_capabilities(caps);
            Ok(Platform {
                driver: world.driver_arc(),
                clock: world.clock_arc(),
                metrics: Some(world.metrics_arc()),
                sim: Some(world),
            })
        }
        DriverFile::Compose(c) => compose(loaded, state, c),
    }
}

#[cfg(feature = "compose")]
fn compose(
    loaded: &Loaded,
    state: &StateDir,
    c: &crate::file::ComposeFile,
) -> Result<Platform, FileError> {
    use shipcore_driver_compose::{ComposeConfig, ComposeDriver, HttpProbe};
    let base = &loaded.base;
    let files: Vec<_> = c.files.iter().map(|f| base.join(f)).collect();
    let mut cfg = ComposeConfig::new(c.project.clone(), c.service.clone(), files, c.port);
    cfg.docker_host = c.docker_host.clone();
    if let Some(bin) = &c.compose_bin {
        cfg.cli = shipcore_driver_compose::ComposeCli::standalone(bin.clone());
    }
    cfg.pull = c.pull;
    cfg.http_probe = c.http_probe.as_ref().map(HttpProbe::get);
    cfg.state_dir = state.dir().join("compose");
    let mut driver = ComposeDriver::new(cfg)
        .map_err(|e| loaded.error(&format!("driver.compose.{}", e.field), e.problem.clone()))?;
    if let Some(h) = &c.haproxy {
        let router = shipcore_driver_compose::router::HaproxyRouter::new(
            base.join(&h.socket),
            h.backend.clone(),
        );
        driver = driver.with_router(Arc::new(router));
    }
    Ok(Platform {
        driver: Arc::new(driver),
        clock: Arc::new(shipcore::clock::SystemClock),
        metrics: None,
        sim: None,
    })
}

#[cfg(not(feature = "compose"))]
fn compose(
    loaded: &Loaded,
    _state: &StateDir,
    _c: &crate::file::ComposeFile,
) -> Result<Platform, FileError> {
    Err(loaded.error(
        "driver.compose",
        "this shipctl was built without the Compose driver: build it with `--features compose`",
    ))
}
