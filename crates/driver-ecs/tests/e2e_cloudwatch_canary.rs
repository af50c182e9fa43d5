//! A canary on the ECS driver over moto, judged by CloudWatch (shipcore-metrics-cloudwatch's
//! CloudWatchSource, on the same moto): the harness puts each revision's ALB metrics the way
//! an ALB publishes them (per minute, per target group), a bad candidate with 20% 5xx, and
//! shipcore's threshold validator judges the 5xx share. The bad candidate is rolled back
//! (100/0 restored while it still runs, then it is retired); a good one is promoted
//! (90/10 -> 50/50 -> 0/100). moto runs no tasks: the support module plays ECS's scheduler.
//!
//! The dimensions are the real ones: `LoadBalancer` is the ALB ARN's tail, and a target
//! group's id is only known once the driver created it, so the harness puts each revision's
//! data as soon as its target group exists, and the query names `targetgroup/web-{{revision}}/*`
//! (the source resolves the `*` to the one series). Skipped without moto, unless
//! SHIPCORE_E2E=1.
#![allow(clippy::unwrap_used)]

mod support;

use aws_sdk_cloudwatch::primitives::DateTime;
use aws_sdk_cloudwatch::types::{Dimension, MetricDatum, StandardUnit};
use shipcore::engine::Phase;
use shipcore::model::{AnalysisPolicy, AnalysisStep};
use shipcore::strategy::{Canary, CanaryStep, PauseSpec, StrategyConfig};
use shipcore::validator::ThresholdConfig;
use shipcore_driver_ecs::EcsDriver;
use shipcore_metrics_cloudwatch::{AlbQueries, CloudWatchConfig, CloudWatchSource};
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use support::rollout::{run, runner, seed, spec, w, Recorder};

/// The CloudWatch dimension value of an ELB ARN: its tail after `loadbalancer/` or the
/// `targetgroup/...` part.
fn dimension(arn: &str) -> String {
    let tail = arn.split_once(":loadbalancer/").map(|(_, t)| t.to_string());
    tail.unwrap_or_else(|| arn[arn.find("targetgroup/").unwrap()..].to_string())
}

async fn source(world: &support::World) -> CloudWatchSource {
    let cfg = CloudWatchConfig::new(support::Moto::REGION)
        .endpoint(world.moto.endpoint())
        .credentials(
            support::Moto::ACCESS_KEY_ID,
            support::Moto::SECRET_ACCESS_KEY,
        )
        .timeout(Duration::from_secs(10));
    CloudWatchSource::connect(cfg).await.unwrap()
}

/// Five minutes of ALB metrics for a target group (`targetgroup/<name>/<id>`) behind `lb`:
/// 1000 requests a minute, `errors` 5xx.
async fn put_alb(src: &CloudWatchSource, lb: &str, tg: &str, errors: f64) {
    let now = SystemTime::now();
    // Dimensions in name order: moto 5.2.5 matches dimension lists in order.
    let dims = vec![
        Dimension::builder().name("LoadBalancer").value(lb).build(),
        Dimension::builder().name("TargetGroup").value(tg).build(),
    ];
    let mut req = src
        .client()
        .put_metric_data()
        .namespace("AWS/ApplicationELB");
    for i in 0..5u64 {
        let at = DateTime::from(now - Duration::from_secs(60 * i + 10));
        let datum = |metric: &str, v: f64| {
            MetricDatum::builder()
                .metric_name(metric)
                .set_dimensions(Some(dims.clone()))
                .timestamp(at)
                .value(v)
                .unit(StandardUnit::Count)
                .build()
        };
        req = req
            .metric_data(datum("RequestCount", 1000.0))
            .metric_data(datum("HTTPCode_Target_5XX_Count", errors));
    }
    req.send().await.unwrap();
}

fn canary() -> StrategyConfig {
    let analysis = || {
        CanaryStep::Analysis(AnalysisStep {
            validators: vec!["alb-5xx".into()],
            policy: AnalysisPolicy::every(Duration::from_millis(300), 2),
        })
    };
    StrategyConfig::Canary(Canary {
        // A short bake before each analysis, so the 50 ms recorder sees every split.
        steps: vec![
            CanaryStep::SetWeight(10),
            CanaryStep::Pause(PauseSpec(Some(Duration::from_millis(400)))),
            analysis(),
            CanaryStep::SetWeight(50),
            CanaryStep::Pause(PauseSpec(Some(Duration::from_millis(400)))),
            analysis(),
        ],
        scale_down_delay: Duration::ZERO,
        ..Default::default()
    })
}

/// What an ALB would publish: once the driver created a revision's target group, five
/// minutes of its metrics (`errors` 5xx per 1000 requests), once.
fn publish(world: &support::World, src: CloudWatchSource, revision: &str, errors: f64) {
    let name = shipcore_driver_ecs::names::target_group_name("web", "prod", revision);
    let (elb, lb) = (world.elb.clone(), dimension(&world.load_balancer));
    tokio::spawn(async move {
        loop {
            if let Ok(out) = elb.describe_target_groups().names(&name).send().await {
                if let Some(arn) = out
                    .target_groups()
                    .first()
                    .and_then(|t| t.target_group_arn())
                {
                    put_alb(&src, &lb, &dimension(arn), errors).await;
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    });
}

async fn run_canary(candidate_errors: f64) -> (Phase, Recorder, support::World) {
    let world = support::World::start().await.unwrap();
    let src = source(&world).await;
    publish(&world, src.clone(), "v1", 2.0);
    publish(&world, src.clone(), "v2", candidate_errors);
    let cfg = world
        .traffic_config()
        // Long enough for the 50 ms recorder to see the traffic restored before the candidate goes.
        .deregistration_wait(Duration::from_millis(500))
        .build()
        .unwrap();
    let driver = Arc::new(EcsDriver::new(cfg, &world.sdk));
    seed(&*driver, 2).await;
    // The driver's target group names: `web-prod-<revision>-<hash>` (names::target_group_name).
    let q = AlbQueries::new(
        "targetgroup/web-prod-{{revision}}-*",
        dimension(&world.load_balancer),
    )
    .with_period(Duration::from_secs(60));
    let mut five_xx = ThresholdConfig::above("alb-5xx", q.error_rate(), 0.05);
    five_xx.unit = "ratio".into();
    let validator = Arc::new(five_xx.build(Arc::new(src)).unwrap());
    let rec = Recorder::start(&world);
    let dir = tempfile::tempdir().unwrap();
    let b = runner(driver.clone(), &dir.path().join("j")).validator(validator);
    let report = run(b, spec(&*driver, &canary(), 2, Duration::from_secs(20))).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    (report.status.phase, rec, world)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cloudwatch_5xx_rolls_back_a_bad_candidate_restoring_traffic_before_scaling_it_down() {
    if support::Moto::start().await.is_none() {
        return;
    }
    let (phase, rec, world) = run_canary(200.0).await;
    assert_eq!(phase, Phase::RolledBack);
    assert_eq!(
        rec.weights(),
        [
            w(&[("web-v1", 100)]),
            w(&[("web-v1", 90), ("web-v2", 10)]),
            w(&[("web-v1", 100)])
        ]
    );
    let samples = rec.samples();
    let exposed = samples.iter().position(|s| s.weights.len() == 2).unwrap();
    let restored = &samples[exposed..]
        .iter()
        .find(|s| s.weights == w(&[("web-v1", 100)]))
        .unwrap();
    assert!(
        restored.services.contains(&"web-v2x1".to_string()),
        "100/0 must be restored while the candidate still runs: {samples:?}"
    );
    assert_eq!(world.services().await, ["web-v1x2"]);
    assert_eq!(world.target_groups().await, ["web-v1"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cloudwatch_judged_canary_promotes_a_good_candidate() {
    if support::Moto::start().await.is_none() {
        return;
    }
    let (phase, rec, world) = run_canary(1.0).await;
    assert_eq!(phase, Phase::Succeeded);
    assert_eq!(
        rec.weights(),
        [
            w(&[("web-v1", 100)]),
            w(&[("web-v1", 90), ("web-v2", 10)]),
            w(&[("web-v1", 50), ("web-v2", 50)]),
            w(&[("web-v2", 100)])
        ]
    );
    assert_eq!(world.services().await, ["web-v2x2"]);
    assert_eq!(world.target_groups().await, ["web-v2"]);
}
