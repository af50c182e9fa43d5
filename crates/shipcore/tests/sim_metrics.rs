//! Simulated metrics: values follow injected failures and routed traffic, no traffic is no
//! data, noise is seeded, bad queries and injected answers are distinct outcomes.
#![allow(clippy::unwrap_used)]

use shipcore::driver::Driver;
use shipcore::metrics::{
    MetricQuery, MetricsErrorKind, MetricsSource, QueryRange, QueryResult, ValueProblem,
};
use shipcore::model::{Action, Revision, Target, WeightSet};
use shipcore::testing::{Failure, FaultKey, SimMetrics, SimWorld};
use shipcore::time::Timestamp;
use std::time::Duration;

fn web() -> Target {
    Target::new("web", "production")
}
fn v1() -> Revision {
    Revision::new("web-v1", "1.0.0".parse().unwrap(), "web:1.0.0")
}
fn v2() -> Revision {
    Revision::new("web-v2", "2.0.0".parse().unwrap(), "web:2.0.0")
}

/// v1 (3 ready, 1 % errors, p50 40 / p95 100 ms) and v2 (1 ready, 20 % errors, p50 200 /
/// p95 400 ms), routed 90/10.
async fn canary(world: &SimWorld) {
    let d = &world.driver;
    d.seed_stable(&web(), &v1(), 3);
    d.inject(&v1(), Failure::error_rate(0.01)).unwrap();
    d.inject(&v1(), Failure::latency(40.0, 100.0)).unwrap();
    d.inject(
        FaultKey::version("2.0.0".parse().unwrap()),
        Failure::error_rate(0.2),
    )
    .unwrap();
    d.inject(&v2(), Failure::latency(200.0, 400.0)).unwrap();
    d.apply(
        &web(),
        &Action::Deploy {
            revision: v2(),
            replicas: 1,
        },
    )
    .await
    .unwrap();
    world.advance(Duration::from_secs(10));
    route(world, 10).await;
}

async fn route(world: &SimWorld, candidate: u8) {
    let weights = WeightSet(vec![(v1().id, 100 - candidate), (v2().id, candidate)]);
    world
        .driver
        .apply(&web(), &Action::Route { weights })
        .await
        .unwrap();
}

async fn value(m: &SimMetrics, expr: &str) -> Result<f64, ValueProblem> {
    m.query(&MetricQuery::instant(expr))
        .await
        .unwrap()
        .single_value()
}

fn exact(world: &SimWorld) -> SimMetrics {
    world.metrics.clone().with_noise(0.0)
}

#[tokio::test]
async fn per_revision_values_follow_injected_failures() {
    let world = SimWorld::new(1);
    canary(&world).await;
    let m = exact(&world);
    assert_eq!(
        value(&m, r#"error_rate{revision="web-v1"}"#).await,
        Ok(0.01)
    );
    assert_eq!(value(&m, r#"error_rate{revision="web-v2"}"#).await, Ok(0.2));
    assert_eq!(value(&m, r#"error_rate{version="2.0.0"}"#).await, Ok(0.2));
    let p95 = value(&m, r#"latency_p95{revision="web-v2"}"#)
        .await
        .unwrap();
    assert!((p95 - 0.4).abs() < 1e-3, "seconds, not ms: {p95}");
    let p50 = value(&m, r#"latency_p50{revision="web-v2"}"#)
        .await
        .unwrap();
    assert!((p50 - 0.2).abs() < 1e-9, "{p50}");
    let p99 = value(&m, r#"latency_p99{revision="web-v2"}"#)
        .await
        .unwrap();
    assert!(p99 > 0.45 && p99 < 0.6, "{p99}");
    assert_eq!(
        value(&m, r#"request_rate{revision="web-v2"}"#).await,
        Ok(10.0)
    );
    assert_eq!(
        value(&m, r#"request_rate{revision="web-v1"}"#).await,
        Ok(90.0)
    );
}

#[tokio::test]
async fn the_service_value_is_the_traffic_weighted_mix() {
    let world = SimWorld::new(1);
    canary(&world).await;
    let m = exact(&world);
    let e = value(&m, "error_rate").await.unwrap();
    assert!((e - (0.9 * 0.01 + 0.1 * 0.2)).abs() < 1e-12, "{e}");
    assert_eq!(value(&m, r#"request_rate{service="web"}"#).await, Ok(100.0));
    let p95 = value(&m, "latency_p95").await.unwrap();
    assert!(p95 > 0.1 && p95 < 0.4, "between the two revisions: {p95}");
    route(&world, 50).await;
    let e = value(&m, "error_rate").await.unwrap();
    assert!((e - 0.105).abs() < 1e-12, "{e}");
    let p95_half = value(&m, "latency_p95").await.unwrap();
    assert!(
        p95_half > p95,
        "more slow traffic, higher p95: {p95_half} vs {p95}"
    );
    let r = m.query(&MetricQuery::instant("error_rate")).await.unwrap();
    let QueryResult::Vector(series) = r else {
        panic!("instant queries give vectors: {r:?}")
    };
    assert_eq!(series[0].labels.get("service"), Some("web"));
    assert_eq!(series[0].labels.get("environment"), Some("production"));
}

#[tokio::test]
async fn no_traffic_is_no_data_not_zero() {
    let world = SimWorld::new(1);
    let m = exact(&world);
    assert_eq!(
        value(&m, "error_rate").await,
        Err(ValueProblem::Empty),
        "nothing runs"
    );
    world.driver.seed_stable(&web(), &v1(), 2);
    world
        .driver
        .apply(
            &web(),
            &Action::Deploy {
                revision: v2(),
                replicas: 1,
            },
        )
        .await
        .unwrap();
    route(&world, 0).await;
    world.advance(Duration::from_secs(30));
    // Ready but no weight.
    assert_eq!(
        value(&m, r#"error_rate{revision="web-v2"}"#).await,
        Err(ValueProblem::Empty)
    );
    assert_eq!(
        value(&m, r#"request_rate{revision="web-v2"}"#).await,
        Err(ValueProblem::Empty)
    );
    // Weight but nothing ready: no series for the revision, and the service sees 503s.
    world.driver.inject(&v2(), Failure::never_ready()).unwrap();
    route(&world, 25).await;
    assert_eq!(
        value(&m, r#"latency_p95{revision="web-v2"}"#).await,
        Err(ValueProblem::Empty)
    );
    let e = value(&m, "error_rate").await.unwrap();
    assert!((e - (0.75 * 0.001 + 0.25)).abs() < 1e-12, "{e}");
    // Unknown revision.
    assert_eq!(
        value(&m, r#"error_rate{revision="web-v9"}"#).await,
        Err(ValueProblem::Empty)
    );
    assert_eq!(
        value(&m, r#"error_rate{service="api"}"#).await,
        Err(ValueProblem::Empty)
    );
}

#[tokio::test]
async fn noise_is_small_seeded_and_stable_per_instant() {
    let world = SimWorld::new(4);
    canary(&world).await;
    let m = &world.metrics;
    let q = r#"error_rate{revision="web-v2"}"#;
    let a = value(m, q).await.unwrap();
    assert_eq!(
        value(m, q).await.unwrap(),
        a,
        "same query, same instant, same answer"
    );
    assert_ne!(a, 0.2, "noisy");
    let mut sum = 0.0;
    let n = 400;
    let mut distinct = std::collections::BTreeSet::new();
    for _ in 0..n {
        world.advance(Duration::from_secs(60));
        let v = value(m, q).await.unwrap();
        assert!((0.0..=1.0).contains(&v));
        distinct.insert(v.to_bits());
        sum += v;
    }
    // One-minute binomial noise at 10 req/s: sd = sqrt(0.2 * 0.8 / 600) ≈ 0.016.
    let mean = sum / n as f64;
    assert!((mean - 0.2).abs() < 0.005, "{mean}");
    assert!(distinct.len() > n / 2);

    // Another world with the same seed answers the same numbers.
    let twin = SimWorld::new(4);
    canary(&twin).await;
    twin.advance(Duration::from_secs(60 * n as u64));
    assert_eq!(value(&twin.metrics, q).await, value(m, q).await);
}

#[tokio::test]
async fn unknown_queries_are_bad_queries() {
    let world = SimWorld::new(1);
    let e = world
        .metrics
        .query(&MetricQuery::instant("sum(rate(http_requests_total[5m]))"))
        .await
        .unwrap_err();
    assert_eq!(e.kind, MetricsErrorKind::BadQuery);
    assert!(
        e.message.contains("unknown metric \"sum\""),
        "{}",
        e.message
    );
    assert!(
        e.message.contains("error_rate, latency_p50"),
        "lists the vocabulary: {}",
        e.message
    );
}

#[tokio::test]
async fn injected_answers_override_and_clear() {
    let world = SimWorld::new(1);
    canary(&world).await;
    let m = &world.metrics;
    let q = r#"error_rate{revision="web-v2"}"#;
    m.inject_nan(q);
    assert_eq!(value(m, q).await, Err(ValueProblem::NaN));
    m.inject_empty(&format!("  {q} "));
    assert_eq!(value(m, q).await, Err(ValueProblem::Empty));
    m.inject_value(q, 0.5);
    assert_eq!(value(m, q).await, Ok(0.5));
    m.inject_error(q, MetricsErrorKind::Unavailable, "connection refused");
    let e = m.query(&MetricQuery::instant(q)).await.unwrap_err();
    assert_eq!(
        (e.kind, e.message.as_str()),
        (MetricsErrorKind::Unavailable, "connection refused")
    );
    // Expressions outside the vocabulary can be injected too.
    m.inject_value("up{job=\"web\"}", 1.0);
    assert_eq!(value(m, "up{job=\"web\"}").await, Ok(1.0));
    m.clear(q);
    assert!((value(m, q).await.unwrap() - 0.2).abs() < 0.1);
    m.clear_all();
    assert!(m
        .query(&MetricQuery::instant("up{job=\"web\"}"))
        .await
        .is_err());
    assert_eq!(m.query_count(), 7);
}

#[tokio::test]
async fn range_queries_give_one_sample_per_step() {
    let world = SimWorld::new(1);
    canary(&world).await;
    world.advance(Duration::from_secs(600));
    let now = world.now();
    let q = MetricQuery {
        expr: r#"latency_p95{revision="web-v1"}"#.into(),
        at: None,
        range: Some(QueryRange {
            start: Timestamp(now.0 - 300_000),
            end: now,
            step: Duration::from_secs(60),
        }),
    };
    let QueryResult::Matrix(series) = world.metrics.query(&q).await.unwrap() else {
        panic!("matrix expected")
    };
    assert_eq!(series.len(), 1);
    let s = &series[0];
    assert_eq!(s.samples.len(), 6);
    assert_eq!(s.samples[0].at, Timestamp(now.0 - 300_000));
    assert!(
        s.samples.iter().all(|x| (x.value - 0.1).abs() < 0.03),
        "{:?}",
        s.samples
    );
    assert_eq!(s.labels.get("version"), Some("1.0.0"));
    let values = world.metrics.query(&q).await.unwrap().all_values().unwrap();
    assert_eq!(values.len(), 6);
}

#[tokio::test]
async fn a_revision_deployed_again_under_its_id_is_labelled_as_it_is_now() {
    let world = SimWorld::new(1);
    world.driver.seed_stable(&web(), &v1(), 2);
    let m = exact(&world);
    let q = MetricQuery::instant(r#"error_rate{revision="web-v1"}"#);
    let version = |r: QueryResult| match r {
        QueryResult::Vector(s) => s[0].labels.get("version").map(str::to_string),
        other => panic!("{other:?}"),
    };
    assert_eq!(
        version(m.query(&q).await.unwrap()).as_deref(),
        Some("1.0.0")
    );
    // A new spec under the same id replaces the revision, and the labels made for the
    // old one go with it.
    let again = Revision::new("web-v1", "1.0.1".parse().unwrap(), "web:1.0.1");
    world
        .driver
        .apply(
            &web(),
            &Action::Deploy {
                revision: again,
                replicas: 2,
            },
        )
        .await
        .unwrap();
    world.advance(Duration::from_secs(60));
    assert_eq!(
        version(m.query(&q).await.unwrap()).as_deref(),
        Some("1.0.1")
    );
}

#[tokio::test]
async fn several_targets_answer_one_series_each() {
    let world = SimWorld::new(1);
    world.driver.seed_stable(&web(), &v1(), 2);
    let api = Revision::new("api-v1", "1.0.0".parse().unwrap(), "api:1.0.0");
    world
        .driver
        .seed_stable(&Target::new("api", "production"), &api, 1);
    let m = exact(&world);
    assert_eq!(value(&m, "error_rate").await, Err(ValueProblem::Ambiguous));
    assert_eq!(value(&m, r#"error_rate{service="api"}"#).await, Ok(0.001));
    // Both revisions are version 1.0.0.
    assert_eq!(
        value(&m, r#"error_rate{version="1.0.0"}"#).await,
        Err(ValueProblem::Ambiguous)
    );
    assert_eq!(
        value(&m, r#"error_rate{version="1.0.0", service="web"}"#).await,
        Ok(0.001)
    );
}

/// A query pinning service, environment and namespace is answered by looking the target up;
/// it must give what the scan gives, and never a same-named target of another namespace.
#[tokio::test]
async fn a_query_pinning_the_target_answers_as_the_scan_does() {
    let world = SimWorld::new(11);
    canary(&world).await;
    let mut namespaced = web();
    namespaced.namespace = Some("team-a".into());
    world.driver.seed_stable(&namespaced, &v1(), 2);
    let m = world.metrics.clone();
    let all = |expr: &'static str| {
        let m = m.clone();
        async move {
            match m.query(&MetricQuery::instant(expr)).await.unwrap() {
                QueryResult::Vector(v) => v,
                other => panic!("{other:?}"),
            }
        }
    };
    // The unpinned scan sees both namespaces' v1; pinning one namespace keeps its own.
    let scanned =
        all(r#"error_rate{service="web",environment="production",revision="web-v1"}"#).await;
    assert_eq!(scanned.len(), 2, "{scanned:?}");
    let plain =
        all(r#"error_rate{service="web",environment="production",namespace="",revision="web-v1"}"#)
            .await;
    let team =
        all(r#"error_rate{service="web",environment="production",namespace="team-a",revision="web-v1"}"#)
            .await;
    assert_eq!(plain.len(), 1, "{plain:?}");
    assert_eq!(team.len(), 1, "{team:?}");
    assert!(scanned.iter().any(|s| s.labels == plain[0].labels));
    assert!(scanned.iter().any(|s| s.labels == team[0].labels));
    assert_ne!(plain[0].labels, team[0].labels);
    // A pinned target that does not exist has no series.
    let none =
        all(r#"error_rate{service="api",environment="production",namespace="",revision="web-v1"}"#)
            .await;
    assert!(none.is_empty());
}
