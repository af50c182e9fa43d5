//! [`DeploymentHealth`]: a validator over the driver's own view of ECS, for native rolling
//! plans. ECS finishes (or its circuit breaker fails and rolls back) a deployment minutes
//! after the tasks run, so run it as the analysis after the candidate is scaled.

use crate::EcsDriver;
use async_trait::async_trait;
use shipcore::driver::Driver;
use shipcore::validator::{Outcome, ValidationContext, Validator, ValidatorError, Verdict};
use std::sync::Arc;

/// Fails when ECS failed or rolled back the candidate's deployment (the driver's `observe`
/// reports that as a permanent error), passes when every desired task of the candidate is
/// ready, and is inconclusive while it is not yet.
#[derive(Debug, Clone)]
pub struct DeploymentHealth {
    driver: Arc<EcsDriver>,
    name: String,
}

impl DeploymentHealth {
    /// A validator called `name` over `driver`.
    pub fn new(driver: Arc<EcsDriver>, name: impl Into<String>) -> Self {
        DeploymentHealth {
            driver,
            name: name.into(),
        }
    }
}

#[async_trait]
impl Validator for DeploymentHealth {
    fn name(&self) -> &str {
        &self.name
    }

    async fn validate(&self, ctx: &ValidationContext) -> Result<Verdict, ValidatorError> {
        let fleet = match self.driver.observe(&ctx.target).await {
            Ok(f) => f,
            Err(e) if e.is_transient() => {
                return Err(ValidatorError {
                    validator: self.name.clone(),
                    message: e.to_string(),
                })
            }
            Err(e) => return Ok(Verdict::new(self.name.clone(), Outcome::Fail, e.message)),
        };
        let id = &ctx.candidate.id;
        let (desired, ready) = (fleet.desired_of(id), fleet.ready_of(id));
        let (outcome, message) = if desired > 0 && ready == desired {
            (
                Outcome::Pass,
                format!("{id}: {ready} of {desired} tasks ready"),
            )
        } else {
            (
                Outcome::Inconclusive,
                format!("{id}: {ready} of {desired} tasks ready"),
            )
        };
        Ok(Verdict::new(self.name.clone(), outcome, message))
    }
}
