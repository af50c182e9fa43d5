//! The lease check before every fleet change: [`LeaseGuard`] wraps the node's driver for
//! one run and refuses `apply` unless that run's lease is live (known lost, past its local
//! deadline, or not in force in the database: refused) and the target is the run's.

use crate::queue::{Lease, RunQueue};
use async_trait::async_trait;
use shipcore::driver::{Capabilities, Driver, DriverError};
use shipcore::model::{Action, FleetState, Revision, Target};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// One lease a node holds, as its runs and its renewal loop share it.
#[derive(Debug)]
pub(crate) struct HeldLease {
    pub(crate) lease: Lease,
    pub(crate) target: Target,
    /// Set once a renewal found the lease moved on.
    pub(crate) lost: AtomicBool,
    /// After this, the lease may have lapsed (no renewal confirmed it in time).
    pub(crate) valid_until: Mutex<Instant>,
}

impl HeldLease {
    /// Records a renewal confirmed by the database: live until `until`.
    pub(crate) fn extend(&self, until: Instant) {
        if let Ok(mut t) = self.valid_until.lock() {
            *t = until;
        }
    }

    pub(crate) fn is_live(&self) -> bool {
        !self.lost.load(Ordering::SeqCst)
            && self
                .valid_until
                .lock()
                .map(|t| Instant::now() < *t)
                .unwrap_or(false)
    }
}

/// The leases a node holds, by run id (a node may hold several runs of one target: one
/// changing it, the others waiting for its deploy lock).
#[derive(Debug, Clone, Default)]
pub(crate) struct LeaseTable {
    by_run: Arc<Mutex<HashMap<String, Arc<HeldLease>>>>,
}

impl LeaseTable {
    pub(crate) fn insert(&self, held: Arc<HeldLease>) {
        if let Ok(mut m) = self.by_run.lock() {
            m.insert(held.lease.run.clone(), held);
        }
    }
    pub(crate) fn remove(&self, held: &HeldLease) {
        if let Ok(mut m) = self.by_run.lock() {
            if m.get(&held.lease.run)
                .is_some_and(|h| h.lease == held.lease)
            {
                m.remove(&held.lease.run);
            }
        }
    }
    pub(crate) fn all(&self) -> Vec<Arc<HeldLease>> {
        self.by_run
            .lock()
            .map(|m| m.values().cloned().collect())
            .unwrap_or_default()
    }
}

/// A driver for one run that changes the fleet only under the run's live lease. A
/// refusal is a transient driver error: the engine journals the failed attempt, and that
/// append is fenced, so the run stops without touching the fleet. What it cannot stop is a call already sent
/// to the platform when the lease is lost (see the crate's README section).
pub struct LeaseGuard {
    inner: Arc<dyn Driver>,
    held: Arc<HeldLease>,
    queue: RunQueue,
    lease_len: std::time::Duration,
    /// The node's test switch: while set, the guard renews nothing either.
    renewals_paused: Arc<AtomicBool>,
}

impl std::fmt::Debug for LeaseGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LeaseGuard").finish_non_exhaustive()
    }
}

impl LeaseGuard {
    pub(crate) fn new(
        inner: Arc<dyn Driver>,
        held: Arc<HeldLease>,
        queue: RunQueue,
        lease_len: std::time::Duration,
        renewals_paused: Arc<AtomicBool>,
    ) -> Self {
        LeaseGuard {
            inner,
            held,
            queue,
            lease_len,
            renewals_paused,
        }
    }

    async fn check(&self, target: &Target, action: &Action) -> Result<(), DriverError> {
        let refuse = |why: String| {
            tracing::warn!(%target, action = %action.describe(), "fleet change refused: {why}");
            Err(DriverError::transient(
                action.describe(),
                format!("refused before touching the fleet: {why}"),
            ))
        };
        let held = &self.held;
        if &held.target != target {
            return refuse(format!(
                "run {} changes {}, not {target}",
                held.lease.run, held.target
            ));
        }
        let l = &held.lease;
        if held.lost.load(Ordering::SeqCst) {
            return refuse(format!(
                "run {} moved on from token {}; this engine stands down",
                l.run, l.token
            ));
        }
        if held.is_live() && matches!(self.queue.holds(l).await, Ok(true)) {
            return Ok(());
        }
        // Lapsed locally or in the database (a late renewal): renewing succeeds while the
        // token is still in force (nobody claimed the run), and only then may it go on.
        if self.renewals_paused.load(Ordering::SeqCst) {
            return refuse(format!(
                "the lease of run {} (token {}) lapsed and renewals are paused",
                l.run, l.token
            ));
        }
        let sent = Instant::now();
        match self.queue.renew(l, self.lease_len).await {
            Ok(true) => {
                held.extend(sent + self.lease_len);
                Ok(())
            }
            Ok(false) => {
                held.lost.store(true, Ordering::SeqCst);
                refuse(format!(
                    "run {} moved on from token {} (another engine claimed it or it ended); this engine stands down",
                    l.run, l.token
                ))
            }
            Err(e) => refuse(format!("the lease of run {} cannot be checked: {e}", l.run)),
        }
    }
}

#[async_trait]
impl Driver for LeaseGuard {
    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }
    async fn observe(&self, target: &Target) -> Result<FleetState, DriverError> {
        self.inner.observe(target).await
    }
    async fn apply(&self, target: &Target, action: &Action) -> Result<(), DriverError> {
        self.check(target, action).await?;
        self.inner.apply(target, action).await
    }
    async fn preflight(&self, target: &Target, candidate: &Revision) -> Result<(), DriverError> {
        self.inner.preflight(target, candidate).await
    }
    async fn wait_for_change(&self, target: &Target) {
        self.inner.wait_for_change(target).await
    }
}
