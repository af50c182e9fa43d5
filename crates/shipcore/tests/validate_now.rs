//! `Validator::validate_now` and `MetricsSource::query_now`: a threshold on the simulator's
//! metrics measures at once exactly as it would awaiting, one on a source that waits does
//! not, the engine takes whichever way a validator offers with the same event log, and the
//! mocks keep the defaults.

#![allow(clippy::unwrap_used)]
mod common;

use shipcore::metrics::{MetricQuery, MetricsError, MetricsSource, QueryResult};
use shipcore::prelude::*;
use shipcore::testing::{Failure, SimWorld};
use shipcore::time::Timestamp;
use shipcore::validator::{
    MetricThreshold, ThresholdConfig, ValidationContext, Validator, ValidatorError, Verdict,
};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// The simulator's metrics, but answered only through `query` (the trait's default
/// `query_now`), counting the queries.
struct Waits {
    inner: Arc<dyn MetricsSource>,
    asked: AtomicUsize,
}

#[async_trait::async_trait]
impl MetricsSource for Waits {
    async fn query(&self, query: &MetricQuery) -> Result<QueryResult, MetricsError> {
        self.asked.fetch_add(1, Ordering::Relaxed);
        self.inner.query(query).await
    }
}

fn threshold(query: &str, source: Arc<dyn MetricsSource>) -> MetricThreshold {
    ThresholdConfig {
        for_duration: Duration::from_secs(120),
        warning: Some(0.02),
        ..ThresholdConfig::above("error-rate", query, 0.05)
    }
    .build(source)
    .unwrap()
}

/// A world serving v1 and, with `rate` injected, v2 taking a share of the traffic.
async fn serving(rate: f64) -> (SimWorld, ValidationContext) {
    let world = SimWorld::new(5);
    let target = Target::new("web", "production");
    world.driver.seed_stable(&target, &common::v1(), 2);
    world
        .driver
        .inject(&common::v2(), Failure::error_rate(rate))
        .unwrap();
    world
        .driver
        .apply(
            &target,
            &Action::Deploy {
                revision: common::v2(),
                replicas: 2,
            },
        )
        .await
        .unwrap();
    world.advance(Duration::from_secs(1_000));
    let ctx = ValidationContext::new(
        "r1",
        &target,
        &common::v2(),
        Some(&common::v1()),
        world.clock.now(),
    );
    (world, ctx)
}

#[tokio::test]
async fn a_threshold_on_the_simulator_measures_at_once_as_it_would_awaiting() {
    let query = "error_rate{revision=\"{{revision}}\"}";
    // Healthy, in the warning band, breached (pending, then failing), no data, a bad query.
    for (rate, query, since) in [
        (0.0, query, None),
        (0.03, query, None),
        (0.3, query, None),
        (0.3, query, Some(Duration::from_secs(600))),
        (0.0, "error_rate{revision=\"nobody\"}", None),
        (0.0, "cpu{revision=\"{{revision}}\"}", None),
        (0.0, "error_rate{revision=\"{{nope}}\"}", None),
    ] {
        let (world, mut ctx) = serving(rate).await;
        ctx.breached_since = since.map(|ago| Timestamp(ctx.now.0 - ago.as_millis() as u64));
        let v = threshold(query, world.metrics_arc());
        let now = v.validate_now(&ctx).expect("the simulator answers at once");
        let awaited = v.validate(&ctx).await;
        assert_eq!(now, awaited, "{rate} {query}");
        let verdict: Result<Verdict, ValidatorError> = now;
        if rate == 0.3 {
            let expect = if since.is_some() {
                Outcome::Fail
            } else {
                Outcome::Pass
            };
            assert_eq!(verdict.unwrap().outcome, expect, "{rate} {since:?}");
        }
    }
}

#[tokio::test]
async fn a_threshold_on_a_source_that_waits_is_awaited() {
    let (world, ctx) = serving(0.0).await;
    let waits = Arc::new(Waits {
        inner: world.metrics_arc(),
        asked: AtomicUsize::new(0),
    });
    let v = threshold("error_rate{revision=\"{{revision}}\"}", waits.clone());
    assert!(v.validate_now(&ctx).is_none());
    assert_eq!(waits.asked.load(Ordering::Relaxed), 0, "not asked at once");
    assert_eq!(v.validate(&ctx).await.unwrap().outcome, Outcome::Pass);
    assert_eq!(waits.asked.load(Ordering::Relaxed), 1);
}

/// A validator that measures at once only when `now`, counting each way and every time
/// it is asked to measure at once.
struct Counting {
    inner: MetricThreshold,
    now: bool,
    asked_now: AtomicUsize,
    at_once: AtomicUsize,
    awaited: AtomicUsize,
}

#[async_trait::async_trait]
impl Validator for Counting {
    fn name(&self) -> &str {
        self.inner.name()
    }
    async fn validate(&self, ctx: &ValidationContext) -> Result<Verdict, ValidatorError> {
        self.awaited.fetch_add(1, Ordering::Relaxed);
        self.inner.validate(ctx).await
    }
    fn validate_now(&self, ctx: &ValidationContext) -> Option<Result<Verdict, ValidatorError>> {
        self.asked_now.fetch_add(1, Ordering::Relaxed);
        if !self.now {
            return None;
        }
        self.at_once.fetch_add(1, Ordering::Relaxed);
        self.inner.validate_now(ctx)
    }
}

async fn canary(validator: Arc<dyn Validator>, world: &SimWorld) -> RunReport {
    let spec = common::spec(common::canary_plan(2, "error-rate"));
    world.driver.seed_stable(&spec.target, &common::v1(), 2);
    let mut runner = Runner::builder(
        world.driver_arc(),
        world.clock_arc(),
        Arc::new(MemoryJournal::new()),
    )
    .validator(validator)
    .build();
    runner.start(spec).await.unwrap()
}

#[tokio::test]
async fn the_engine_measures_at_once_when_it_can_with_the_same_event_log() {
    let mut reports = Vec::new();
    for now in [true, false] {
        let world = SimWorld::new(9);
        let counting = Arc::new(Counting {
            inner: threshold("error_rate{revision=\"{{revision}}\"}", world.metrics_arc()),
            now,
            asked_now: AtomicUsize::new(0),
            at_once: AtomicUsize::new(0),
            awaited: AtomicUsize::new(0),
        });
        let report = canary(counting.clone(), &world).await;
        assert_eq!(report.status.phase, Phase::Succeeded);
        let measured = report
            .events
            .iter()
            .filter(|e| matches!(e.kind, EventKind::Measured { .. }))
            .count();
        assert_eq!(measured, 6, "two analyses of three");
        let (at_once, awaited) = (
            counting.at_once.load(Ordering::Relaxed),
            counting.awaited.load(Ordering::Relaxed),
        );
        if now {
            assert_eq!((at_once, awaited), (measured, 0));
        } else {
            assert_eq!((at_once, awaited), (0, measured));
        }
        // Asked once per measurement either way: a refusal is awaited, not asked again.
        assert_eq!(counting.asked_now.load(Ordering::Relaxed), measured);
        reports.push(report.events);
    }
    assert_eq!(reports[0], reports[1]);
}

#[cfg(feature = "mock")]
#[tokio::test]
async fn the_mocks_are_asked_through_their_async_methods() {
    use shipcore::metrics::MockMetricsSource;
    use shipcore::validator::MockValidator;
    // A threshold on a mock source: nothing at once, the mock's `query` when awaited.
    let mut source = MockMetricsSource::new();
    source.expect_query().times(1).returning(|_| {
        Ok(QueryResult::Vector(vec![shipcore::metrics::Series {
            labels: Default::default(),
            samples: vec![shipcore::metrics::Sample {
                at: Timestamp(0),
                value: 0.01,
            }],
        }]))
    });
    let v = threshold("error_rate", Arc::new(source));
    let (_world, ctx) = serving(0.0).await;
    assert!(v.validate_now(&ctx).is_none());
    assert_eq!(v.validate(&ctx).await.unwrap().outcome, Outcome::Pass);
    // A mock validator in a run: measured through `validate`, six times.
    let mut mock = MockValidator::new();
    mock.expect_name().return_const("error-rate".to_string());
    mock.expect_measures_traffic().return_const(true);
    mock.expect_validate()
        .times(6)
        .returning(|_| Ok(Verdict::new("error-rate", Outcome::Pass, "fine")));
    let world = SimWorld::new(2);
    assert_eq!(
        canary(Arc::new(mock), &world).await.status.phase,
        Phase::Succeeded
    );
}
