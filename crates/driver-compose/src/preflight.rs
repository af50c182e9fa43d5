//! The Compose driver's preflight as a [`Gate`]: the engine must answer, the compose files
//! must load and define the service, the target must be the driver's, and the candidate's
//! image must exist. The engine already runs the same checks through `Driver::preflight`
//! before a rollout starts; the gate re-checks them inside a plan (a `Gate` step before the
//! promotion, say), blocking with the driver's own message.

use crate::ComposeDriver;
use async_trait::async_trait;
use shipcore::gate::{Gate, GateContext, GateOutcome};
use std::sync::Arc;

/// The gate; register it with the runner and name it ([`ComposePreflight::NAME`]) in the
/// rollout's `gates`.
///
/// ```no_run
/// use std::sync::Arc;
/// use shipcore_driver_compose::{ComposeConfig, ComposeDriver, ComposePreflight};
/// let driver = Arc::new(ComposeDriver::new(ComposeConfig::new("shop", "web", ["compose.yaml"], 8080)).unwrap());
/// let gate = ComposePreflight::new(driver.clone());
/// // Runner::builder(driver, clock, journal).gate(Arc::new(gate)) … spec.gates = vec![ComposePreflight::NAME.into()]
/// ```
#[derive(Debug, Clone)]
pub struct ComposePreflight {
    driver: Arc<ComposeDriver>,
}

impl ComposePreflight {
    /// The gate's name.
    pub const NAME: &'static str = "compose-preflight";

    /// A preflight gate for `driver`.
    pub fn new(driver: Arc<ComposeDriver>) -> Self {
        ComposePreflight { driver }
    }
}

#[async_trait]
impl Gate for ComposePreflight {
    fn name(&self) -> &str {
        Self::NAME
    }

    async fn check(&self, ctx: &GateContext) -> GateOutcome {
        if let Err(e) = self.driver.check_target("preflight", &ctx.target) {
            return GateOutcome::block(e.to_string());
        }
        if let Err(e) = self.driver.validate().await {
            return GateOutcome::block(e.to_string());
        }
        match self.driver.validate_revision(&ctx.candidate).await {
            Ok(()) => GateOutcome::Pass,
            Err(e) => GateOutcome::block(e.to_string()),
        }
    }
}
