//! [`SimWorld`]: one seed gives a simulated clock, a simulated platform and its metrics,
//! wired together, for tests, examples and benchmarks.

use super::rng::mix64;
use super::sim_config::{SimConfig, SimError};
use super::sim_driver::SimDriver;
use super::sim_metrics::SimMetrics;
use super::sim_state::SimSnapshot;
use crate::clock::{Clock, SimClock};
use crate::driver::Driver;
use crate::metrics::MetricsSource;
use crate::time::Timestamp;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// A simulated clock, platform and metrics source made from one seed.
///
/// ```
/// use shipcore::testing::SimWorld;
/// use shipcore::model::{Revision, Target};
/// let world = SimWorld::new(42);
/// let v1 = Revision::new("web-v1", "1.0.0".parse().unwrap(), "web:1.0.0");
/// world.driver.seed_stable(&Target::new("web", "production"), &v1, 3);
/// let (driver, clock, metrics) = (world.driver_arc(), world.clock_arc(), world.metrics_arc());
/// # let _ = (driver, clock, metrics);
/// ```
#[derive(Debug, Clone)]
pub struct SimWorld {
    /// Simulated time (starts at [`Timestamp::ZERO`] unless told otherwise).
    pub clock: Arc<SimClock>,
    /// The simulated platform: fleets, faults and traffic.
    pub driver: SimDriver,
    /// Its metrics.
    pub metrics: SimMetrics,
}

impl SimWorld {
    /// A world with the default configuration, at time zero.
    pub fn new(seed: u64) -> Self {
        let clock = Arc::new(SimClock::new(Timestamp::ZERO));
        let driver = SimDriver::new(clock.clone(), seed);
        Self::assemble(clock, driver, seed)
    }

    /// A world with `config` (its seed seeds everything), starting at `start`.
    pub fn with_config(config: SimConfig, start: Timestamp) -> Result<Self, SimError> {
        let seed = config.seed;
        let clock = Arc::new(SimClock::new(start));
        let driver = SimDriver::with_config(clock.clone(), config)?;
        Ok(Self::assemble(clock, driver, seed))
    }

    /// A world rebuilt from a snapshot, its clock set to the snapshot's `taken_at`.
    pub fn from_snapshot(snapshot: SimSnapshot) -> Result<Self, SimError> {
        let seed = snapshot.config.seed;
        let clock = Arc::new(SimClock::new(snapshot.taken_at));
        let driver = SimDriver::from_snapshot(clock.clone(), snapshot)?;
        Ok(Self::assemble(clock, driver, seed))
    }

    /// A world whose platform persists to `path` after every driver call; if the file
    /// exists, the platform and the clock continue from it. Otherwise starts like
    /// [`SimWorld::new`].
    pub fn persisting(seed: u64, path: impl AsRef<Path>) -> Result<Self, SimError> {
        let clock = Arc::new(SimClock::new(Timestamp::ZERO));
        let driver = SimDriver::new(clock.clone(), seed).persisting_to(path)?;
        let taken_at = driver.with_state(|s| s.taken_at);
        clock.advance_to(taken_at);
        let seed = driver.with_state(|s| s.config.seed);
        Ok(Self::assemble(clock, driver, seed))
    }

    fn assemble(clock: Arc<SimClock>, driver: SimDriver, seed: u64) -> Self {
        let metrics = SimMetrics::new(&driver, mix64(seed ^ 0x006d_6574_7269_6373));
        SimWorld {
            clock,
            driver,
            metrics,
        }
    }

    /// The platform as a trait object.
    pub fn driver_arc(&self) -> Arc<dyn Driver> {
        Arc::new(self.driver.clone())
    }
    /// The clock as a trait object.
    pub fn clock_arc(&self) -> Arc<dyn Clock> {
        self.clock.clone()
    }
    /// The metrics as a trait object.
    pub fn metrics_arc(&self) -> Arc<dyn MetricsSource> {
        Arc::new(self.metrics.clone())
    }
    /// Moves simulated time forward.
    pub fn advance(&self, d: Duration) {
        self.clock.advance(d);
    }
    /// Simulated now.
    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }
}
