//! Time enters the engine only through a [`Clock`]: the real one for production, a
//! simulated one ([`SimClock`]) for tests, where sleeping jumps time forward instantly.

use crate::time::Timestamp;
use async_trait::async_trait;
use std::sync::atomic::{AtomicU64, Ordering};

/// Reads time and sleeps.
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait Clock: Send + Sync {
    /// The current instant.
    fn now(&self) -> Timestamp;
    /// Returns at or after `t`.
    async fn sleep_until(&self, t: Timestamp);
    /// Whether time passes while nothing sleeps (a wall clock: yes; a simulated clock that
    /// only moves when slept on: no). The runner keeps a rollout's locks alive while it
    /// waits for a person only on a clock where time passes by itself. Default: yes.
    fn passes_by_itself(&self) -> bool {
        true
    }
}

/// The wall clock with tokio timers.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

#[async_trait]
impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now_utc()
    }
    async fn sleep_until(&self, t: Timestamp) {
        let now = self.now();
        if t > now {
            tokio::time::sleep(t.since(now)).await;
        }
    }
}

/// Simulated time: `sleep_until` advances the clock to the target instantly, so an hour of
/// rollout runs in microseconds. Deterministic for one rollout per clock.
///
/// ```
/// use shipcore::clock::{Clock, SimClock};
/// use shipcore::time::Timestamp;
/// let c = SimClock::new(Timestamp(1_000));
/// c.advance(std::time::Duration::from_secs(60));
/// assert_eq!(c.now(), Timestamp(61_000));
/// ```
#[derive(Debug, Default)]
pub struct SimClock {
    now: AtomicU64,
}

impl SimClock {
    /// A clock reading `start`.
    pub fn new(start: Timestamp) -> Self {
        SimClock {
            now: AtomicU64::new(start.0),
        }
    }
    /// Moves time forward by `d`.
    pub fn advance(&self, d: std::time::Duration) {
        self.now.fetch_add(d.as_millis() as u64, Ordering::SeqCst);
    }
    /// Sets time to `t` if that is later than now.
    pub fn advance_to(&self, t: Timestamp) {
        // Read first: many rollouts sharing a clock mostly ask for instants it has passed,
        // and a read leaves the clock's cache line shared where a write would take it.
        if self.now.load(Ordering::SeqCst) < t.0 {
            self.now.fetch_max(t.0, Ordering::SeqCst);
        }
    }
}

#[async_trait]
impl Clock for SimClock {
    fn now(&self) -> Timestamp {
        Timestamp(self.now.load(Ordering::SeqCst))
    }
    async fn sleep_until(&self, t: Timestamp) {
        self.advance_to(t);
    }
    fn passes_by_itself(&self) -> bool {
        false
    }
}

/// An `Arc` of a clock is that clock; `sleep_until` hands back the inner clock's boxed
/// future as it is (written out instead of `#[async_trait]`, which would box it again).
impl<T: Clock + ?Sized> Clock for std::sync::Arc<T> {
    fn now(&self) -> Timestamp {
        (**self).now()
    }
    fn sleep_until<'a, 'f>(
        &'a self,
        t: Timestamp,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + 'f>>
    where
        'a: 'f,
        Self: 'f,
    {
        (**self).sleep_until(t)
    }
    fn passes_by_itself(&self) -> bool {
        (**self).passes_by_itself()
    }
}
