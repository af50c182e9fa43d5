//! Shared by the moto tests: a CloudWatchSource on a private moto, and ALB data put the way
//! an ALB publishes it (per minute, per target group).
#![allow(dead_code, clippy::unwrap_used)]

use crate::moto::Moto;
use aws_sdk_cloudwatch::primitives::DateTime;
use aws_sdk_cloudwatch::types::{Dimension, MetricDatum, StandardUnit};
use shipcore_metrics_cloudwatch::{alb, CloudWatchConfig, CloudWatchSource};
use std::time::{Duration, SystemTime};

pub const LB: &str = "app/web/9e1d0c2b3a4f5e6d";

/// `targetgroup/<name>/<id>` of a target group named `name`.
pub fn tg(name: &str) -> String {
    format!("targetgroup/{name}/0f3c1a2b3c4d5e6f")
}

pub async fn source(m: &Moto) -> CloudWatchSource {
    let cfg = CloudWatchConfig::new(Moto::REGION)
        .endpoint(m.endpoint())
        .credentials(Moto::ACCESS_KEY_ID, Moto::SECRET_ACCESS_KEY)
        .timeout(Duration::from_secs(10));
    CloudWatchSource::connect(cfg).await.unwrap()
}

/// One minute of one target group's ALB metrics.
#[derive(Debug, Clone, Copy)]
pub struct Minute {
    /// How long ago (the data point's timestamp is now minus this).
    pub ago: Duration,
    pub requests: f64,
    /// None: no HTTPCode_Target_5XX_Count data point at all (what ALB does without errors).
    pub errors: Option<f64>,
    /// TargetResponseTime samples, seconds.
    pub latency: f64,
}

/// `n` minutes ending 10 s ago, each with `requests`, `errors`, `latency`.
pub fn minutes(n: u64, requests: f64, errors: Option<f64>, latency: f64) -> Vec<Minute> {
    (0..n)
        .map(|i| Minute {
            ago: Duration::from_secs(60 * i + 10),
            requests,
            errors,
            latency,
        })
        .collect()
}

/// Puts `data` for `target_group` behind [`LB`], as the ALB would.
pub async fn put_alb(src: &CloudWatchSource, target_group: &str, data: &[Minute]) {
    let now = SystemTime::now();
    // In name order, as the source sends them: moto 5.2.5 matches dimension lists in
    // order (its Dimension.__lt__ is broken, so its sort does not normalise them); AWS
    // does not care about order.
    let dims = [
        Dimension::builder().name("LoadBalancer").value(LB).build(),
        Dimension::builder()
            .name("TargetGroup")
            .value(target_group)
            .build(),
    ];
    let datum = |name: &str, v: f64, unit: StandardUnit, ago: Duration| {
        MetricDatum::builder()
            .metric_name(name)
            .set_dimensions(Some(dims.to_vec()))
            .timestamp(DateTime::from(now - ago))
            .value(v)
            .unit(unit)
            .build()
    };
    let mut req = src.client().put_metric_data().namespace(alb::NAMESPACE);
    for m in data {
        req = req
            .metric_data(datum(
                "RequestCount",
                m.requests,
                StandardUnit::Count,
                m.ago,
            ))
            .metric_data(datum(
                "TargetResponseTime",
                m.latency,
                StandardUnit::Seconds,
                m.ago,
            ));
        if let Some(e) = m.errors {
            req = req.metric_data(datum(
                "HTTPCode_Target_5XX_Count",
                e,
                StandardUnit::Count,
                m.ago,
            ));
        }
    }
    req.send().await.unwrap();
}
