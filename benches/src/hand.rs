//! The baseline of `engine_overhead`: the canary as a person would write it by hand, a plain
//! loop over the plan making the same driver, validator and clock calls as the runner.

use shipcore::clock::Clock;
use shipcore::driver::{Driver, DriverError};
use shipcore::engine::RolloutSpec;
use shipcore::model::{Action, Revision, Role, Step, WeightSet};
use shipcore::validator::{Outcome, ValidationContext, Validator, ValidatorError};
use std::time::Duration;

/// The hand-written loop stopped.
#[derive(Debug, thiserror::Error)]
pub enum HandError {
    /// A driver call failed (the loop does not retry).
    #[error("driver: {0}")]
    Driver(#[from] DriverError),
    /// The validator could not measure.
    #[error("validator: {0}")]
    Validator(#[from] ValidatorError),
    /// A measurement did not pass.
    #[error("the candidate is unhealthy: {0}")]
    Unhealthy(String),
    /// The plan has a step this loop does not handle.
    #[error("step {0:?} is not handled by the hand-written loop")]
    Unsupported(Step),
}

/// What the loop did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HandReport {
    /// Driver actions applied.
    pub applied: u32,
    /// Fleet observations.
    pub observed: u32,
    /// Validator calls.
    pub measured: u32,
}

/// Runs `spec`'s plan with `validator` judging every analysis step, without the engine:
/// no journal, no events, no retries, stop at the first problem.
pub async fn hand_written_canary(
    driver: &dyn Driver,
    clock: &dyn Clock,
    validator: &dyn Validator,
    spec: &RolloutSpec,
) -> Result<HandReport, HandError> {
    let mut done = HandReport::default();
    let target = &spec.target;
    let revision = |role: Role| -> Option<&Revision> {
        match role {
            Role::Candidate => Some(&spec.candidate),
            Role::Stable => spec.stable.as_ref(),
        }
    };
    let route = |percent: u8| {
        let mut weights = Vec::with_capacity(2);
        if let Some(stable) = &spec.stable {
            weights.push((stable.id.clone(), 100 - percent));
        }
        weights.push((spec.candidate.id.clone(), percent));
        Action::Route {
            weights: WeightSet(weights),
        }
    };
    let sleep = |d: Duration| clock.sleep_until(clock.now().plus(d));
    for step in &spec.plan.steps {
        match step {
            Step::Scale { role, replicas } => {
                let Some(rev) = revision(*role) else { continue };
                let deploy = Action::Deploy {
                    revision: rev.clone(),
                    replicas: *replicas,
                };
                driver.apply(target, &deploy).await?;
                done.applied += 1;
                loop {
                    let fleet = driver.observe(target).await?;
                    done.observed += 1;
                    if fleet.desired_of(&rev.id) == *replicas
                        && fleet.ready_of(&rev.id) == *replicas
                    {
                        break;
                    }
                    sleep(spec.poll_interval).await;
                }
            }
            Step::SetWeight { percent } => {
                driver.apply(target, &route(*percent)).await?;
                done.applied += 1;
            }
            Step::Analysis(analysis) => {
                let count = analysis.policy.count.unwrap_or(1);
                for i in 0..count {
                    if i > 0 {
                        sleep(analysis.policy.interval).await;
                    }
                    let ctx = ValidationContext::new(
                        &spec.id,
                        target,
                        &spec.candidate,
                        spec.stable.as_ref(),
                        clock.now(),
                    );
                    // As the runner does: at once when the validator can.
                    let verdict = match validator.validate_now(&ctx) {
                        Some(verdict) => verdict?,
                        None => validator.validate(&ctx).await?,
                    };
                    done.measured += 1;
                    if verdict.outcome != Outcome::Pass {
                        return Err(HandError::Unhealthy(verdict.message));
                    }
                }
            }
            Step::Pause { duration: Some(d) } => sleep(*d).await,
            Step::Promote => {
                driver.apply(target, &route(100)).await?;
                done.applied += 1;
            }
            Step::Retire { role, after } => {
                let Some(rev) = revision(*role) else { continue };
                if !after.is_zero() {
                    sleep(*after).await;
                }
                let retire = Action::Retire {
                    revision: rev.id.clone(),
                };
                driver.apply(target, &retire).await?;
                done.applied += 1;
            }
            other => return Err(HandError::Unsupported(other.clone())),
        }
    }
    Ok(done)
}
