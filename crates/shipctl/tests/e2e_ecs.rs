//! `shipctl run` with the ECS driver against moto (PyPI `moto[server]`, the AWS control
//! plane double), as the driver's own end-to-end tests use it: their support code (included
//! below) starts a private moto server, makes the VPC, ALB listeners, cluster and base task
//! definition, and plays ECS's scheduler (moto runs no tasks). The real binary reads a
//! rollout file with `driver: {ecs: ...}` and finds AWS through the environment
//! (`AWS_ENDPOINT_URL`, `AWS_REGION`, static credentials), as a CI job would.
//!
//! With `--features cloudwatch` too, a canary is judged by `metrics: {cloudwatch: ...}` on
//! the ALB metrics the test puts into moto's CloudWatch, as the driver's
//! e2e_cloudwatch_canary.rs does.
//!
//! Needs `--features ecs`; skipped without moto, FAILS under SHIPCORE_E2E=1 when moto is
//! missing (scripts/ci/e2e-ecs.sh runs it with both features).
#![cfg(feature = "ecs")]
#![allow(clippy::unwrap_used)]

#[path = "../../driver-ecs/tests/support/mod.rs"]
mod support;

use shipcore_driver_ecs::EcsDriver;
use std::path::Path;
use std::process::Output;
use std::sync::Arc;
use std::time::Duration;
use support::rollout::{seed, w, Recorder};
use support::{Moto, World};

/// `shipctl --state-dir STATE ARGS…` with the AWS environment pointing at `world`'s moto,
/// run to its end without blocking the runtime the scheduler plays ECS on.
async fn shipctl(world: &World, state: &Path, args: &[&str]) -> Output {
    let mut c = tokio::process::Command::new(assert_cmd::cargo::cargo_bin("shipctl"));
    c.arg("--state-dir")
        .arg(state)
        .args(args)
        .env("NO_COLOR", "1")
        .env("AWS_ENDPOINT_URL", world.moto.endpoint())
        .env("AWS_REGION", Moto::REGION)
        .env("AWS_ACCESS_KEY_ID", Moto::ACCESS_KEY_ID)
        .env("AWS_SECRET_ACCESS_KEY", Moto::SECRET_ACCESS_KEY)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_SESSION_TOKEN");
    tokio::time::timeout(Duration::from_secs(120), c.output())
        .await
        .expect("shipctl did not finish in 120 s")
        .unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// v1 -> v2 of `web` in `prod` (the support code's target and revisions), a 50% canary
/// with weights on the world's production listener.
fn rollout(world: &World) -> String {
    format!(
        "\
target: {{service: web, environment: prod}}
stable: {{id: v1, version: 1.0.0, artifact: 'web:1.0.0'}}
candidate: {{id: v2, version: 2.0.0, artifact: 'web:2.0.0'}}
replicas: 2
strategy:
  canary:
    steps: [{{set_weight: 50}}, {{pause: 600ms}}]
    scale_down_delay: 0s
poll_interval: 200ms
progress_deadline: 30s
driver:
  ecs:
    cluster: {cluster}
    task_definition: {family}
    container: {container}
    network: {{subnets: [{subnet}], security_groups: [{sg}]}}
    traffic:
      listener: '{listener}'
      target_group: {{port: 8080, vpc_id: {vpc}}}
    deregistration_wait: 500ms
",
        cluster = support::CLUSTER,
        family = support::FAMILY,
        container = support::CONTAINER,
        subnet = world.subnet,
        sg = world.sg,
        listener = world.listener,
        vpc = world.vpc,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shipctl_run_rolls_a_canary_out_on_ecs_through_the_alb() {
    let Some(world) = World::start().await else {
        return;
    };
    // v1 serving, deployed by the driver as an earlier rollout would have.
    let cfg = world.traffic_config().build().unwrap();
    let driver = Arc::new(EcsDriver::new(cfg, &world.sdk));
    seed(&*driver, 2).await;
    let rec = Recorder::start(&world);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("rollout.yaml");
    std::fs::write(&file, rollout(&world)).unwrap();
    let out = shipctl(
        &world,
        &dir.path().join("state"),
        &["run", file.to_str().unwrap()],
    )
    .await;
    let stdout = text(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        text(&out.stderr)
    );
    assert!(stdout.contains("succeeded"), "{stdout}");
    tokio::time::sleep(Duration::from_millis(200)).await;
    // The listener went 100/0 -> 50/50 -> 0/100, and only v2 is left.
    assert_eq!(
        rec.weights(),
        [
            w(&[("web-v1", 100)]),
            w(&[("web-v1", 50), ("web-v2", 50)]),
            w(&[("web-v2", 100)])
        ]
    );
    assert_eq!(world.services().await, ["web-v2x2"]);
    assert_eq!(world.target_groups().await, ["web-v2"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_ecs_section_exits_2_naming_the_field_and_changes_nothing() {
    let Some(world) = World::start().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let good = rollout(&world);
    let listener = format!("listener: '{}'", world.listener);
    for (from, to, field) in [
        (
            listener.as_str(),
            "listener: web-alb",
            "driver.ecs.traffic.listener",
        ),
        (
            "target_group: {port: 8080",
            "target_group: {port: 0",
            "driver.ecs.traffic.target_group.port",
        ),
        (
            "deregistration_wait",
            "deregistration_delay",
            "driver.ecs.deregistration_delay",
        ),
    ] {
        assert!(good.contains(from), "{from}");
        let file = dir.path().join("bad.yaml");
        std::fs::write(&file, good.replace(from, to)).unwrap();
        let out = shipctl(
            &world,
            &dir.path().join("state"),
            &["run", file.to_str().unwrap()],
        )
        .await;
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{to}: {stderr}");
        assert!(
            stderr.contains(&format!(": {field}: ")),
            "{to}: wanted {field} in {stderr}"
        );
    }
    assert_eq!(world.services().await, Vec::<String>::new());
}

/// The canary judged by CloudWatch: ALB metrics put into moto for each revision's target
/// group once the driver made it, the 5xx ratio read through the file's
/// `metrics: {cloudwatch: ...}`.
#[cfg(feature = "cloudwatch")]
mod cloudwatch {
    use super::*;
    use aws_sdk_cloudwatch::primitives::DateTime;
    use aws_sdk_cloudwatch::types::{Dimension, MetricDatum, StandardUnit};
    use shipcore_metrics_cloudwatch::{AlbQueries, CloudWatchConfig, CloudWatchSource};
    use std::time::SystemTime;

    /// The CloudWatch dimension value of an ELB ARN.
    fn dimension(arn: &str) -> String {
        let tail = arn.split_once(":loadbalancer/").map(|(_, t)| t.to_string());
        tail.unwrap_or_else(|| arn[arn.find("targetgroup/").unwrap()..].to_string())
    }

    /// Once the driver made `revision`'s target group: five minutes of its ALB metrics,
    /// 1000 requests a minute and `errors` 5xx.
    fn publish(world: &World, src: CloudWatchSource, revision: &str, errors: f64) {
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
                        let now = SystemTime::now();
                        // Dimensions in name order: moto matches dimension lists in order.
                        let dims = vec![
                            Dimension::builder().name("LoadBalancer").value(&lb).build(),
                            Dimension::builder()
                                .name("TargetGroup")
                                .value(dimension(arn))
                                .build(),
                        ];
                        let mut req = src
                            .client()
                            .put_metric_data()
                            .namespace("AWS/ApplicationELB");
                        for i in 0..5u64 {
                            let at = DateTime::from(now - Duration::from_secs(60 * i + 10));
                            for (metric, v) in [
                                ("RequestCount", 1000.0),
                                ("HTTPCode_Target_5XX_Count", errors),
                            ] {
                                req = req.metric_data(
                                    MetricDatum::builder()
                                        .metric_name(metric)
                                        .set_dimensions(Some(dims.clone()))
                                        .timestamp(at)
                                        .value(v)
                                        .unit(StandardUnit::Count)
                                        .build(),
                                );
                            }
                        }
                        req.send().await.unwrap();
                        return;
                    }
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        });
    }

    /// The rollout with an analysis of the ALB 5xx ratio after the 50% step.
    fn judged(world: &World) -> String {
        let query = AlbQueries::new(
            "targetgroup/web-prod-{{revision}}-*",
            dimension(&world.load_balancer),
        )
        .error_rate();
        let text = rollout(world).replace(
            "steps: [{set_weight: 50}, {pause: 600ms}]",
            "steps: [{set_weight: 50}, {pause: 400ms}, \
             {analysis: {validators: [alb-5xx], policy: {interval: 300ms, count: 2}}}]",
        );
        format!(
            "{text}validators:\n  - type: metric_threshold\n    name: alb-5xx\n    \
             query: '{query}'\n    critical: 0.05\n    fail_when: above\n\
             metrics:\n  cloudwatch: {{region: {}, endpoint: '{}'}}\n",
            Moto::REGION,
            world.moto.endpoint()
        )
    }

    async fn run(errors: f64) -> (Output, Recorder, World) {
        let world = World::start().await.unwrap();
        let cfg = CloudWatchConfig::new(Moto::REGION)
            .endpoint(world.moto.endpoint())
            .credentials(Moto::ACCESS_KEY_ID, Moto::SECRET_ACCESS_KEY);
        let src = CloudWatchSource::connect(cfg).await.unwrap();
        publish(&world, src.clone(), "v1", 2.0);
        publish(&world, src, "v2", errors);
        let driver = Arc::new(EcsDriver::new(
            world.traffic_config().build().unwrap(),
            &world.sdk,
        ));
        seed(&*driver, 2).await;
        let rec = Recorder::start(&world);
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("rollout.yaml");
        std::fs::write(&file, judged(&world)).unwrap();
        let out = shipctl(
            &world,
            &dir.path().join("state"),
            &["run", file.to_str().unwrap()],
        )
        .await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        (out, rec, world)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn cloudwatch_5xx_rolls_a_bad_candidate_back_with_exit_1() {
        if Moto::start().await.is_none() {
            return;
        }
        let (out, rec, world) = run(200.0).await;
        let stdout = text(&out.stdout);
        assert_eq!(
            out.status.code(),
            Some(1),
            "{stdout}\n{}",
            text(&out.stderr)
        );
        assert!(stdout.contains("alb-5xx"), "{stdout}");
        assert_eq!(
            rec.weights(),
            [
                w(&[("web-v1", 100)]),
                w(&[("web-v1", 50), ("web-v2", 50)]),
                w(&[("web-v1", 100)])
            ]
        );
        assert_eq!(world.services().await, ["web-v1x2"]);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn cloudwatch_judged_canary_promotes_a_good_candidate() {
        if Moto::start().await.is_none() {
            return;
        }
        let (out, rec, world) = run(1.0).await;
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}\n{}",
            text(&out.stdout),
            text(&out.stderr)
        );
        assert_eq!(
            rec.weights(),
            [
                w(&[("web-v1", 100)]),
                w(&[("web-v1", 50), ("web-v2", 50)]),
                w(&[("web-v2", 100)])
            ]
        );
        assert_eq!(world.services().await, ["web-v2x2"]);
    }
}
