//! The metric threshold's `for` window is analysis state the engine journals: a rollout
//! whose runner stops in the middle of a pending breach and is resumed from its journal by
//! a new runner (with a new validator, as after a crash) fails at the same instant as an
//! uninterrupted run. A journal written before verdicts carried `breached_since` still
//! decodes and resumes; its window in flight restarts at the first measurement after the
//! resume.
#![allow(clippy::unwrap_used)]

mod common;

use async_trait::async_trait;
use common::*;
use shipcore::clock::SimClock;
use shipcore::driver::Capabilities;
use shipcore::engine::{AnalysisResult, Event, EventKind, Phase, RunReport, Runner};
use shipcore::journal::{Entry, Journal, JournalError, MemoryJournal};
use shipcore::metrics::{MetricQuery, MetricsError, MetricsSource, QueryResult, Sample, Series};
use shipcore::model::{AnalysisPolicy, AnalysisStep, Plan, Role, Step};
use shipcore::time::Timestamp;
use shipcore::validator::ThresholdConfig;
use shipcore::validator::Validator;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// The error rate is 9% from the start: past the 5% critical level at every measurement.
struct Breaching;

#[async_trait]
impl MetricsSource for Breaching {
    async fn query(&self, q: &MetricQuery) -> Result<QueryResult, MetricsError> {
        Ok(QueryResult::Vector(vec![Series {
            labels: Default::default(),
            samples: vec![Sample {
                at: q.at.unwrap_or_default(),
                value: 0.09,
            }],
        }]))
    }
}

/// `for` is 3m with measurements a minute apart: the 4th breaching measurement fails.
const FOR_MEASUREMENTS: usize = 4;

fn threshold() -> Arc<dyn Validator> {
    let mut c = ThresholdConfig::above("errors", "error_rate{revision=\"{{revision}}\"}", 0.05);
    c.for_duration = Duration::from_secs(180);
    Arc::new(c.build(Arc::new(Breaching)).unwrap())
}

fn plan() -> Plan {
    Plan {
        strategy: "canary".into(),
        replicas: 2,
        steps: vec![
            Step::Scale {
                role: Role::Candidate,
                replicas: 1,
            },
            Step::SetWeight { percent: 10 },
            Step::Analysis(AnalysisStep {
                validators: vec!["errors".into()],
                policy: AnalysisPolicy::every(Duration::from_secs(60), 10),
            }),
            Step::Scale {
                role: Role::Candidate,
                replicas: 2,
            },
            Step::Promote,
            Step::Retire {
                role: Role::Stable,
                after: Duration::from_secs(30),
            },
        ],
    }
}

/// Journals into `inner`; once `stop_after` measurements are journaled, the next append
/// fails, which stops the runner as a crash would (what was journaled stays).
struct StopAfter {
    inner: MemoryJournal,
    measured: AtomicUsize,
    stop_after: usize,
}

impl StopAfter {
    fn new(stop_after: usize) -> Self {
        StopAfter {
            inner: MemoryJournal::new(),
            measured: AtomicUsize::new(0),
            stop_after,
        }
    }
    fn check(&self, payload_is_measured: bool) -> Result<(), JournalError> {
        if self.measured.load(Ordering::SeqCst) >= self.stop_after {
            return Err(JournalError::Codec("the runner stops here".into()));
        }
        if payload_is_measured {
            self.measured.fetch_add(1, Ordering::SeqCst);
        }
        Ok(())
    }
}

#[async_trait]
impl Journal for StopAfter {
    async fn append(&self, payload: &serde_json::Value) -> Result<u64, JournalError> {
        self.check(payload["input"] == "measured")?;
        self.inner.append(payload).await
    }
    async fn read_all(&self) -> Result<Vec<Entry>, JournalError> {
        self.inner.read_all().await
    }
}

fn runner(driver: Arc<FakeDriver>, journal: Arc<dyn Journal>) -> Runner {
    Runner::builder(driver, Arc::new(SimClock::new(Timestamp::ZERO)), journal)
        .validator(threshold())
        .build()
}

/// When the analysis failed, and after how many measurements.
fn failure(events: &[Event]) -> (Timestamp, u32) {
    let failed = find(events, |k| {
        matches!(
            k,
            EventKind::AnalysisCompleted {
                result: AnalysisResult::Failed,
                ..
            }
        )
    })
    .expect("the analysis failed");
    let last = events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::Measured { number, .. } if e.at <= failed.at => Some(*number),
            _ => None,
        })
        .max()
        .unwrap();
    (failed.at, last)
}

async fn uninterrupted() -> RunReport {
    let d = FakeDriver::with_stable(Capabilities::ALL, &v1(), 2);
    let report = runner(d, Arc::new(MemoryJournal::new()))
        .start(spec(plan()))
        .await
        .unwrap();
    assert_eq!(
        report.status.phase,
        Phase::RolledBack,
        "{:?}",
        report.status
    );
    report
}

/// Starts the rollout, stops the runner after `k` journaled measurements, and returns the
/// driver and the journal's entries.
async fn interrupted_after(k: usize) -> (Arc<FakeDriver>, Vec<Entry>) {
    let d = FakeDriver::with_stable(Capabilities::ALL, &v1(), 2);
    let journal = Arc::new(StopAfter::new(k));
    let stopped = runner(d.clone(), journal.clone()).start(spec(plan())).await;
    assert!(stopped.is_err(), "the runner was stopped by its journal");
    let entries = journal.read_all().await.unwrap();
    let measured = entries
        .iter()
        .filter(|e| e.payload["input"] == "measured")
        .count();
    assert_eq!(measured, k);
    (d, entries)
}

async fn resume_from(d: Arc<FakeDriver>, entries: Vec<Entry>) -> RunReport {
    let journal = Arc::new(MemoryJournal::new());
    for e in &entries {
        journal.append(&e.payload).await.unwrap();
    }
    // A new runner with a new validator: nothing but the journal survives a crash.
    let report = Runner::builder(d, Arc::new(SimClock::new(Timestamp::ZERO)), journal)
        .validator(threshold())
        .keep_events(true)
        .build()
        .resume()
        .await
        .unwrap();
    assert_eq!(
        report.status.phase,
        Phase::RolledBack,
        "{:?}",
        report.status
    );
    report
}

#[tokio::test]
async fn a_resumed_rollout_keeps_its_for_window() {
    let reference = uninterrupted().await;
    let (failed_at, measurements) = failure(&reference.events);
    assert_eq!(measurements as usize, FOR_MEASUREMENTS);
    for k in 1..FOR_MEASUREMENTS {
        let (d, entries) = interrupted_after(k).await;
        let resumed = resume_from(d, entries.clone()).await;
        assert_eq!(
            failure(&resumed.events),
            (failed_at, measurements),
            "stopped after {k} breaching measurement(s)"
        );
        // The journaled verdicts said since when the level was breached.
        let last = entries
            .iter()
            .rev()
            .find(|e| e.payload["input"] == "measured")
            .unwrap();
        assert_eq!(
            last.payload["results"][0]["breached_since"].as_u64(),
            Some(0),
            "{}",
            last.payload
        );
    }
}

#[tokio::test]
async fn a_journal_from_before_breached_since_still_resumes_and_restarts_the_window() {
    let reference = uninterrupted().await;
    let (failed_at, _) = failure(&reference.events);
    let k = 2;
    let (d, mut entries) = interrupted_after(k).await;
    // As an older shipcore wrote them: no `breached_since` in verdicts or requests.
    let mut stripped = 0;
    for e in &mut entries {
        if let Some(results) = e.payload["results"].as_array_mut() {
            for r in results {
                if r.as_object_mut()
                    .unwrap()
                    .remove("breached_since")
                    .is_some()
                {
                    stripped += 1;
                }
            }
        }
    }
    assert_eq!(stripped, k);
    let resumed = resume_from(d, entries).await;
    let (at, number) = failure(&resumed.events);
    // The window restarted at the first measurement after the resume: it fails
    // `FOR_MEASUREMENTS` measurements later, k minutes after the uninterrupted run.
    assert_eq!(number as usize, k + FOR_MEASUREMENTS);
    assert_eq!(at, failed_at.plus(Duration::from_secs(60 * k as u64)));
}
