//! CloudWatchSource against a real moto server (PyPI moto[server] 5.2.5): ALB data is put
//! with PutMetricData for a good target group (no 5xx) and a bad one (20% 5xx), and read
//! back through GetMetricData. moto stores and sums the data like CloudWatch, but answers
//! percentile statistics with an HTML 500 and metric-math expressions with empty values;
//! the tests check that the source reports those as an error and as no data, never a pass.
//!
//! Each test starts its own moto (tests/support/moto.rs); skipped when moto is missing
//! unless SHIPCORE_E2E=1.
#![allow(clippy::unwrap_used)]

#[path = "support/moto.rs"]
mod moto;

mod cw;

use cw::{minutes, put_alb, source, tg, LB};
use shipcore::metrics::{
    MetricQuery, MetricsErrorKind, MetricsSource, QueryRange, QueryResult, ValueProblem,
};
use shipcore::time::Timestamp;
use shipcore_metrics_cloudwatch::{alb, AlbQueries, CloudWatchQuery, MetricSpec};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

fn now() -> Timestamp {
    Timestamp(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64,
    )
}

#[tokio::test]
async fn error_rate_is_the_exact_ratio_of_sums_per_target_group() {
    let Some(m) = moto::Moto::start().await else {
        return;
    };
    let src = source(&m).await;
    // Good: 100 requests a minute, no 5xx data point at all (as ALB publishes it).
    put_alb(&src, &tg("web-good"), &minutes(5, 100.0, None, 0.05)).await;
    // Bad: 20 of 100 requests a minute answered 5xx.
    put_alb(&src, &tg("web-bad"), &minutes(5, 100.0, Some(20.0), 0.4)).await;

    let good = alb::error_rate(&tg("web-good"), LB);
    let bad = alb::error_rate(&tg("web-bad"), LB);
    let v = |r: QueryResult| r.single_value();
    assert_eq!(
        v(src.query(&MetricQuery::instant(&good)).await.unwrap()),
        Ok(0.0)
    );
    assert_eq!(
        v(src.query(&MetricQuery::instant(&bad)).await.unwrap()),
        Ok(0.2)
    );

    // The request count is the sum of the window's periods (5 minutes in a 5-minute lookback).
    let n = AlbQueries::new(tg("web-bad"), LB).request_count();
    assert_eq!(
        v(src.query(&MetricQuery::instant(&n)).await.unwrap()),
        Ok(500.0)
    );

    // A range query: one ratio per period, oldest first.
    let t = now();
    let range = MetricQuery {
        expr: bad.clone(),
        at: None,
        range: Some(QueryRange {
            start: Timestamp(t.0 - 6 * 60_000),
            end: t,
            step: Duration::from_secs(60),
        }),
    };
    let QueryResult::Matrix(series) = src.query(&range).await.unwrap() else {
        panic!("a range query answers a matrix")
    };
    assert_eq!(series.len(), 1, "{series:?}");
    let values: Vec<f64> = series[0].samples.iter().map(|s| s.value).collect();
    assert_eq!(values, vec![0.2; 5], "{series:?}");
    assert!(series[0].samples.windows(2).all(|w| w[0].at < w[1].at));
    assert_eq!(series[0].labels["TargetGroup"], tg("web-bad"));
}

#[tokio::test]
async fn no_requests_is_nan_and_no_data_is_empty_never_zero() {
    let Some(m) = moto::Moto::start().await else {
        return;
    };
    let src = source(&m).await;
    put_alb(&src, &tg("idle"), &minutes(3, 0.0, None, 0.0)).await;
    let r = src
        .query(&MetricQuery::instant(alb::error_rate(&tg("idle"), LB)))
        .await
        .unwrap();
    assert_eq!(r.single_value(), Err(ValueProblem::NaN), "{r:?}");
    // A target group nobody put data for.
    let r = src
        .query(&MetricQuery::instant(alb::error_rate(&tg("nobody"), LB)))
        .await
        .unwrap();
    assert_eq!(r, QueryResult::Vector(vec![]));
    assert_eq!(r.single_value(), Err(ValueProblem::Empty));
}

#[tokio::test]
async fn dimensions_must_match_exactly() {
    let Some(m) = moto::Moto::start().await else {
        return;
    };
    let src = source(&m).await;
    put_alb(&src, &tg("web"), &minutes(3, 100.0, Some(1.0), 0.1)).await;
    let all = MetricSpec::new(alb::NAMESPACE, "RequestCount")
        .dimension("TargetGroup", tg("web"))
        .dimension("LoadBalancer", LB);
    let q = |m: MetricSpec| MetricQuery::instant(CloudWatchQuery::Metric(m).to_text());
    assert_eq!(
        src.query(&q(all.clone())).await.unwrap().single_value(),
        Ok(300.0)
    );
    // The LoadBalancer dimension left out: another series, which has no data.
    let mut partial = all.clone();
    partial.dimensions.remove("LoadBalancer");
    let r = src.query(&q(partial)).await.unwrap();
    assert_eq!(r.single_value(), Err(ValueProblem::Empty), "{r:?}");
    // Another load balancer.
    let other = all.clone().dimension("LoadBalancer", "app/other/1");
    let r = src.query(&q(other)).await.unwrap();
    assert_eq!(r.single_value(), Err(ValueProblem::Empty), "{r:?}");
    // An extra dimension.
    let extra = all.dimension("AvailabilityZone", "us-east-1a");
    let r = src.query(&q(extra)).await.unwrap();
    assert_eq!(r.single_value(), Err(ValueProblem::Empty), "{r:?}");
}

#[tokio::test]
async fn latency_statistics() {
    let Some(m) = moto::Moto::start().await else {
        return;
    };
    let src = source(&m).await;
    let mut data = minutes(4, 100.0, None, 0.1);
    data[1].latency = 0.7;
    put_alb(&src, &tg("web"), &data).await;
    let a = AlbQueries::new(tg("web"), LB);
    let stat = |s: &str| {
        MetricQuery::instant(CloudWatchQuery::Metric(a.metric("TargetResponseTime", s)).to_text())
    };
    // The worst minute's maximum, the smallest minimum, the mean of the minutes' averages.
    assert_eq!(
        src.query(&stat("Maximum")).await.unwrap().single_value(),
        Ok(0.7)
    );
    assert_eq!(
        src.query(&stat("Minimum")).await.unwrap().single_value(),
        Ok(0.1)
    );
    let avg = src
        .query(&stat("Average"))
        .await
        .unwrap()
        .single_value()
        .unwrap();
    assert!((avg - 0.25).abs() < 1e-9, "{avg}");

    // moto 5.2.5 does not implement percentile statistics in GetMetricData: it answers
    // HTML 500. The source reports a permanent error saying so (on AWS this is the p95),
    // never a number and never an endless retry.
    let e = src
        .query(&MetricQuery::instant(a.p95_latency()))
        .await
        .unwrap_err();
    assert_eq!(e.kind, MetricsErrorKind::Protocol, "{e}");
    assert!(
        e.message.contains("HTML") && e.message.contains("not implemented"),
        "{e}"
    );
}

#[tokio::test]
async fn expressions_pass_through_and_moto_s_empty_answer_is_no_data() {
    let Some(m) = moto::Moto::start().await else {
        return;
    };
    let src = source(&m).await;
    put_alb(&src, &tg("web"), &minutes(3, 100.0, Some(20.0), 0.1)).await;
    let a = AlbQueries::new(tg("web"), LB);
    let q = CloudWatchQuery::Expression {
        expression: "errors/requests*100".into(),
        metrics: [
            (
                "errors".to_string(),
                a.metric("HTTPCode_Target_5XX_Count", "Sum"),
            ),
            ("requests".to_string(), a.metric("RequestCount", "Sum")),
        ]
        .into(),
        period: Duration::from_secs(60),
    };
    // AWS would answer 20 (percent). moto accepts the expression and returns no values at
    // all: the source must report that as no data (empty), which validators never pass.
    let r = src.query(&MetricQuery::instant(q.to_text())).await.unwrap();
    assert_eq!(r.single_value(), Err(ValueProblem::Empty), "{r:?}");
    // Its inputs are there: the emptiness is moto's, not a wrong query.
    let n = src
        .query(&MetricQuery::instant(a.request_count()))
        .await
        .unwrap();
    assert_eq!(n.single_value(), Ok(300.0));
}

#[tokio::test]
async fn windows_follow_at_lookback_and_range() {
    let Some(m) = moto::Moto::start().await else {
        return;
    };
    let src = source(&m).await;
    // Ten minutes, half an hour ago: 50 requests a minute, 10% errors.
    let old: Vec<cw::Minute> = (0..10)
        .map(|i| cw::Minute {
            ago: Duration::from_secs(30 * 60 + 60 * i),
            requests: 50.0,
            errors: Some(5.0),
            latency: 0.1,
        })
        .collect();
    put_alb(&src, &tg("web"), &old).await;
    let rate = alb::error_rate(&tg("web"), LB);
    let count = AlbQueries::new(tg("web"), LB).request_count();
    // Now, with a 5-minute lookback: nothing in the window.
    let r = src.query(&MetricQuery::instant(&rate)).await.unwrap();
    assert_eq!(r.single_value(), Err(ValueProblem::Empty), "{r:?}");
    // At 29.5 minutes ago, the 5 minutes before hold 5 of the 10 minutes.
    let t = now();
    let at = Timestamp(t.0 - 29 * 60_000 - 30_000);
    let r = src.query(&MetricQuery::at(&count, at)).await.unwrap();
    assert_eq!(r.single_value(), Ok(250.0), "{r:?}");
    let r = src.query(&MetricQuery::at(&rate, at)).await.unwrap();
    assert_eq!(r.single_value(), Ok(0.1), "{r:?}");
    // A longer lookback from now reaches them all.
    let long = src.clone().with_lookback(Duration::from_secs(45 * 60));
    let r = long.query(&MetricQuery::instant(&count)).await.unwrap();
    assert_eq!(r.single_value(), Ok(500.0), "{r:?}");
    // A range over the whole half hour before: ten periods.
    let q = MetricQuery {
        expr: count.clone(),
        at: None,
        range: Some(QueryRange {
            start: Timestamp(t.0 - 45 * 60_000),
            end: Timestamp(t.0 - 20 * 60_000),
            step: Duration::from_secs(60),
        }),
    };
    let QueryResult::Matrix(s) = src.query(&q).await.unwrap() else {
        panic!("matrix")
    };
    assert_eq!(s[0].samples.len(), 10, "{s:?}");
    assert!(s[0].samples.iter().all(|x| x.value == 50.0), "{s:?}");
    // A range that ends before it starts is refused before any call.
    let backwards = MetricQuery {
        range: Some(QueryRange {
            start: t,
            end: Timestamp(t.0 - 1),
            step: Duration::from_secs(60),
        }),
        ..q
    };
    let e = src.query(&backwards).await.unwrap_err();
    assert_eq!(e.kind, MetricsErrorKind::BadQuery, "{e}");
}

#[tokio::test]
async fn bad_queries_and_unreachable_endpoints_are_classified() {
    let Some(m) = moto::Moto::start().await else {
        return;
    };
    let src = source(&m).await;
    let e = src
        .query(&MetricQuery::instant(
            r#"{"metric":{"namespace":"AWS/ApplicationELB","name":"RequestCount","period":"90s"}}"#,
        ))
        .await
        .unwrap_err();
    assert_eq!(e.kind, MetricsErrorKind::BadQuery);
    assert!(e.message.contains("metric.period"), "{e}");
    let e = src
        .query(&MetricQuery::instant("sum(rate(x[1m]))"))
        .await
        .unwrap_err();
    assert_eq!(e.kind, MetricsErrorKind::BadQuery);

    // moto stopped: nothing listens, which is transient.
    let url = m.endpoint().to_string();
    drop(m);
    let cfg = shipcore_metrics_cloudwatch::CloudWatchConfig::new("us-east-1")
        .endpoint(url)
        .credentials("testing", "s3cr3t-value")
        .timeout(Duration::from_secs(5));
    let gone = shipcore_metrics_cloudwatch::CloudWatchSource::connect(cfg)
        .await
        .unwrap();
    let t0 = std::time::Instant::now();
    let e = gone
        .query(&MetricQuery::instant(alb::error_rate(&tg("web"), LB)))
        .await
        .unwrap_err();
    assert_eq!(e.kind, MetricsErrorKind::Unavailable, "{e}");
    assert!(!e.to_string().contains("s3cr3t"), "{e}");
    // One attempt: the SDK's retries are off.
    assert!(t0.elapsed() < Duration::from_secs(3), "{:?}", t0.elapsed());
    eprintln!("unreachable: {e}");
}

#[tokio::test]
async fn prefix_patterns_resolve_to_exactly_one_target_group() {
    let Some(m) = moto::Moto::start().await else {
        return;
    };
    let src = source(&m).await;
    // Target group ids are random on AWS (and moto): a template cannot know them.
    put_alb(
        &src,
        "targetgroup/web-v2/7a1b2c3d",
        &minutes(3, 100.0, Some(10.0), 0.1),
    )
    .await;
    put_alb(
        &src,
        "targetgroup/web-v20/9f8e7d6c",
        &minutes(3, 100.0, Some(50.0), 0.1),
    )
    .await;
    put_alb(
        &src,
        "targetgroup/web-v3/1a2b3c4d",
        &minutes(3, 100.0, None, 0.1),
    )
    .await;

    let v = |r: QueryResult| r.single_value();
    let rate = |p: &str| MetricQuery::instant(alb::error_rate(p, LB));
    // web-v2/ selects web-v2 only, never web-v20; numerator and denominator the same group.
    assert_eq!(
        v(src.query(&rate("targetgroup/web-v2/*")).await.unwrap()),
        Ok(0.1)
    );
    // web-v3 never published a 5xx count: 0 errors over its requests.
    assert_eq!(
        v(src.query(&rate("targetgroup/web-v3/*")).await.unwrap()),
        Ok(0.0)
    );
    let n = AlbQueries::new("targetgroup/web-v20/*", LB).request_count();
    assert_eq!(
        v(src.query(&MetricQuery::instant(n)).await.unwrap()),
        Ok(300.0)
    );
    // Nothing matches: no data.
    let r = src.query(&rate("targetgroup/web-v9/*")).await.unwrap();
    assert_eq!(r.single_value(), Err(ValueProblem::Empty), "{r:?}");
    // Two groups match: an error naming the problem, not a sum of both.
    let e = src.query(&rate("targetgroup/web-v2*")).await.unwrap_err();
    assert_eq!(e.kind, MetricsErrorKind::BadQuery, "{e}");
    assert!(e.message.contains("selects 2 series"), "{e}");
}
