//! A simulated clock for many rollouts in one runtime: each rollout has its own [`SimClock`],
//! and every sleep first yields to the scheduler, so the rollouts interleave as real ones do.

use async_trait::async_trait;
use shipcore::clock::{Clock, SimClock};
use shipcore::time::Timestamp;
use std::sync::Arc;

/// [`SimClock`] whose `sleep_until` yields once before jumping ahead.
#[derive(Debug, Clone)]
pub struct YieldingClock(pub Arc<SimClock>);

#[async_trait]
impl Clock for YieldingClock {
    fn now(&self) -> Timestamp {
        self.0.now()
    }
    async fn sleep_until(&self, t: Timestamp) {
        tokio::task::yield_now().await;
        self.0.sleep_until(t).await;
    }
}
