//! `Journal::append_now`: a runner appends each input at once to a journal that can, awaits
//! `append_encodable` on one that cannot, and journals the same entries either way; the
//! mock journal keeps the default, so tests that script `append_encodable` still run.

#![allow(clippy::unwrap_used)]
mod common;

use shipcore::journal::{Encodable, Entry, Journal, JournalError, MemoryJournal};
use shipcore::prelude::*;
use shipcore::testing::SimWorld;
use shipcore::validator::{ThresholdConfig, Validator};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// A memory journal that counts which way each entry came in; it appends at once when
/// `now` says so for the n-th time it is asked (never: the trait's default).
struct Counting {
    inner: MemoryJournal,
    now: fn(usize) -> bool,
    asked_now: AtomicUsize,
    appended_now: AtomicUsize,
    awaited: AtomicUsize,
}

impl Counting {
    fn new(now: bool) -> Arc<Self> {
        Self::answering(if now { |_| true } else { |_| false })
    }
    fn answering(now: fn(usize) -> bool) -> Arc<Self> {
        Arc::new(Counting {
            inner: MemoryJournal::new(),
            now,
            asked_now: AtomicUsize::new(0),
            appended_now: AtomicUsize::new(0),
            awaited: AtomicUsize::new(0),
        })
    }
}

#[async_trait::async_trait]
impl Journal for Counting {
    async fn append(&self, payload: &serde_json::Value) -> Result<u64, JournalError> {
        self.inner.append(payload).await
    }
    async fn read_all(&self) -> Result<Vec<Entry>, JournalError> {
        self.inner.read_all().await
    }
    async fn append_encodable(
        &self,
        entry: &(dyn Encodable + 'static),
    ) -> Result<u64, JournalError> {
        self.awaited.fetch_add(1, Ordering::Relaxed);
        self.inner.append_encodable(entry).await
    }
    fn append_now(&self, entry: &(dyn Encodable + 'static)) -> Option<Result<u64, JournalError>> {
        if !(self.now)(self.asked_now.fetch_add(1, Ordering::Relaxed)) {
            return None;
        }
        self.appended_now.fetch_add(1, Ordering::Relaxed);
        self.inner.append_now(entry)
    }
}

/// A runner with the error-rate validator on `world`, journaling to `journal`.
fn runner(world: &SimWorld, journal: Arc<dyn Journal>) -> Runner {
    let validator: Arc<dyn Validator> = Arc::new(
        ThresholdConfig::above("error-rate", "error_rate{revision=\"{{revision}}\"}", 0.05)
            .build(world.metrics_arc())
            .unwrap(),
    );
    Runner::builder(world.driver_arc(), world.clock_arc(), journal)
        .validator(validator)
        .build()
}

/// A canary with two analyses on a fresh world, journaled to `journal`.
async fn canary(journal: Arc<dyn Journal>) -> RunReport {
    let world = SimWorld::new(11);
    let spec = common::spec(common::canary_plan(2, "error-rate"));
    world.driver.seed_stable(&spec.target, &common::v1(), 2);
    runner(&world, journal).start(spec).await.unwrap()
}

#[tokio::test]
async fn a_run_journals_the_same_entries_appending_at_once_or_awaiting() {
    let now = Counting::new(true);
    let waits = Counting::new(false);
    let a = canary(now.clone()).await;
    let b = canary(waits.clone()).await;
    assert_eq!(a.status.phase, Phase::Succeeded);
    assert_eq!(a.events, b.events);
    let (now_entries, waited_entries) = (
        now.read_all().await.unwrap(),
        waits.read_all().await.unwrap(),
    );
    assert_eq!(now_entries, waited_entries);
    // Start, the measurements, the driver's answers, the timers: dozens of inputs, every
    // one taken the journal's own way and none twice.
    assert!(now_entries.len() > 20, "{}", now_entries.len());
    assert_eq!(now.appended_now.load(Ordering::Relaxed), now_entries.len());
    assert_eq!(now.awaited.load(Ordering::Relaxed), 0);
    assert_eq!(waits.awaited.load(Ordering::Relaxed), waited_entries.len());
    assert_eq!(waits.appended_now.load(Ordering::Relaxed), 0);
}

#[tokio::test]
async fn an_entry_appended_at_once_is_refused_as_the_awaited_one_would_be() {
    /// Refuses every append with the same error, both ways.
    struct Full;
    #[async_trait::async_trait]
    impl Journal for Full {
        async fn append(&self, _: &serde_json::Value) -> Result<u64, JournalError> {
            Err(JournalError::Io {
                path: "full".into(),
                source: std::io::Error::other("no space left on device"),
            })
        }
        async fn read_all(&self) -> Result<Vec<Entry>, JournalError> {
            Ok(Vec::new())
        }
        fn append_now(
            &self,
            entry: &(dyn Encodable + 'static),
        ) -> Option<Result<u64, JournalError>> {
            let _ = entry;
            Some(Err(JournalError::Io {
                path: "full".into(),
                source: std::io::Error::other("no space left on device"),
            }))
        }
    }
    let world = SimWorld::new(1);
    let spec = common::spec(common::canary_plan(2, "error-rate"));
    world.driver.seed_stable(&spec.target, &common::v1(), 2);
    world.driver.record_actions(true);
    let before = world.driver.fleet(&spec.target);
    let target = spec.target.clone();
    let e = runner(&world, Arc::new(Full))
        .start(spec)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("no space left on device"), "{e}");
    // Nothing was done that the journal did not take first.
    assert!(
        world.driver.actions().is_empty(),
        "{:?}",
        world.driver.actions()
    );
    assert_eq!(world.driver.fleet(&target), before);
}

#[cfg(feature = "mock")]
#[tokio::test]
async fn a_mock_journal_is_appended_to_through_append_encodable() {
    let reference = Counting::new(true);
    let entries = {
        canary(reference.clone()).await;
        reference.read_all().await.unwrap().len()
    };
    let calls = Arc::new(AtomicUsize::new(0));
    let mut mock = shipcore::journal::MockJournal::new();
    mock.expect_read_all().returning(|| Ok(Vec::new()));
    let counted = calls.clone();
    mock.expect_append_encodable()
        .times(entries)
        .returning(move |_| Ok(counted.fetch_add(1, Ordering::Relaxed) as u64));
    let report = canary(Arc::new(mock)).await;
    assert_eq!(report.status.phase, Phase::Succeeded);
    assert_eq!(calls.load(Ordering::Relaxed), entries);
}

/// A journal that can append at once only now and then (every third entry awaited): each
/// entry is offered at once exactly once, taken one way or the other, and the run journals
/// and records exactly what it does on a journal that always appends at once.
#[tokio::test]
async fn a_journal_that_appends_at_once_only_sometimes_gets_every_entry_once_in_order() {
    let always = Counting::new(true);
    let sometimes = Counting::answering(|n| n % 3 != 2);
    let a = canary(always.clone()).await;
    let b = canary(sometimes.clone()).await;
    assert_eq!(b.status.phase, Phase::Succeeded);
    assert_eq!(a.events, b.events);
    let entries = sometimes.read_all().await.unwrap();
    assert_eq!(entries, always.read_all().await.unwrap());
    let (asked, at_once, awaited) = (
        sometimes.asked_now.load(Ordering::Relaxed),
        sometimes.appended_now.load(Ordering::Relaxed),
        sometimes.awaited.load(Ordering::Relaxed),
    );
    assert_eq!(
        asked,
        entries.len(),
        "each entry offered at once exactly once"
    );
    assert_eq!(at_once + awaited, entries.len());
    assert_eq!(awaited, entries.len() / 3, "every third one awaited");
}
