//! A driver or validator made slower by a fixed busy wait per call: the simulator with an
//! API latency, to show the runner's overhead beside calls that cost something.

use async_trait::async_trait;
use shipcore::driver::{Capabilities, Driver, DriverError};
use shipcore::model::{Action, FleetState, Target};
use shipcore::validator::{ValidationContext, Validator, ValidatorError, Verdict};
use std::time::{Duration, Instant};

/// `inner`, each call first spinning for `per_call` (a spin, not a sleep: the wait is exact
/// and the simulated clock does not move).
#[derive(Debug, Clone)]
pub struct Slow<T> {
    /// The wrapped driver or validator.
    pub inner: T,
    /// Wall time added to every call.
    pub per_call: Duration,
}

impl<T> Slow<T> {
    fn wait(&self) {
        if self.per_call.is_zero() {
            return; // no clock reads either: the zero-latency runs stay as cheap as they are
        }
        let start = Instant::now();
        while start.elapsed() < self.per_call {
            std::hint::spin_loop();
        }
    }
}

#[async_trait]
impl<D: Driver> Driver for Slow<D> {
    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }
    async fn observe(&self, target: &Target) -> Result<FleetState, DriverError> {
        self.wait();
        self.inner.observe(target).await
    }
    async fn apply(&self, target: &Target, action: &Action) -> Result<(), DriverError> {
        self.wait();
        self.inner.apply(target, action).await
    }
}

#[async_trait]
impl<V: Validator> Validator for Slow<V> {
    fn name(&self) -> &str {
        self.inner.name()
    }
    async fn validate(&self, ctx: &ValidationContext) -> Result<Verdict, ValidatorError> {
        self.wait();
        self.inner.validate(ctx).await
    }
}
