//! Standard per-target-group queries for an Application Load Balancer (namespace
//! `AWS/ApplicationELB`, dimensions `TargetGroup` and `LoadBalancer`), as query texts for
//! [`CloudWatchSource`](crate::CloudWatchSource).
//!
//! The dimension values are CloudWatch's: `targetgroup/<name>/<id>` and
//! `app/<name>/<id>` (the ARN's tail). As the id is random, a value may end in `*`
//! (`targetgroup/web-v2/*`), resolved by the source to exactly one series with
//! `ListMetrics`. They may hold shipcore template variables
//! (`targetgroup/{{revision}}/*`), which a validator renders per revision, so one
//! template measures the canary and, rendered with the stable revision, the baseline. The
//! values land inside JSON strings, where the validators' query escaping (`\"`, `\\`) is
//! also JSON's.
//!
//! ```
//! use shipcore_metrics_cloudwatch::{alb, CloudWatchQuery};
//! let t = alb::error_rate("targetgroup/{{revision}}/0f3c", "app/web/9e1d");
//! let mut vars = std::collections::BTreeMap::new();
//! vars.insert("revision".to_string(), "web-v2".to_string());
//! let q = shipcore::metrics::render_template(&t, &vars).unwrap();
//! let CloudWatchQuery::Ratio { numerator, .. } = CloudWatchQuery::parse(&q).unwrap() else { panic!() };
//! assert_eq!(numerator.name, "HTTPCode_Target_5XX_Count");
//! assert_eq!(numerator.dimensions["TargetGroup"], "targetgroup/web-v2/0f3c");
//! ```

use crate::query::{CloudWatchQuery, MetricSpec};
use std::time::Duration;

/// The ALB namespace.
pub const NAMESPACE: &str = "AWS/ApplicationELB";

/// ALB queries for one target group (per revision with template variables).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlbQueries {
    /// `TargetGroup` dimension value (`targetgroup/<name>/<id>`).
    pub target_group: String,
    /// `LoadBalancer` dimension value (`app/<name>/<id>`).
    pub load_balancer: String,
    /// Period (default 60 s: ALB publishes per minute).
    pub period: Duration,
}

impl AlbQueries {
    /// Queries for `target_group` behind `load_balancer`, 60 s periods.
    pub fn new(target_group: impl Into<String>, load_balancer: impl Into<String>) -> Self {
        AlbQueries {
            target_group: target_group.into(),
            load_balancer: load_balancer.into(),
            period: Duration::from_secs(60),
        }
    }

    /// With another period.
    #[must_use]
    pub fn with_period(mut self, period: Duration) -> Self {
        self.period = period;
        self
    }

    /// `metric` of the target group with `stat`.
    pub fn metric(&self, metric: &str, stat: &str) -> MetricSpec {
        MetricSpec::new(NAMESPACE, metric)
            .dimension("TargetGroup", &self.target_group)
            .dimension("LoadBalancer", &self.load_balancer)
            .stat(stat)
            .period(self.period)
    }

    /// Share of requests the targets answered with 5xx, 0..1:
    /// `HTTPCode_Target_5XX_Count / RequestCount`, summed over the same periods (a period
    /// without 5xx data counts 0; without requests: no data).
    pub fn error_rate(&self) -> String {
        CloudWatchQuery::Ratio {
            numerator: self.metric("HTTPCode_Target_5XX_Count", "Sum"),
            denominator: self.metric("RequestCount", "Sum"),
        }
        .to_text()
    }

    /// The `p` percentile (`p95`, `p99.9`) of `TargetResponseTime`, seconds.
    pub fn latency(&self, p: &str) -> String {
        CloudWatchQuery::Metric(self.metric("TargetResponseTime", p)).to_text()
    }

    /// 95th percentile of `TargetResponseTime`, seconds.
    pub fn p95_latency(&self) -> String {
        self.latency("p95")
    }

    /// Requests in the window (for a minimum sample size).
    pub fn request_count(&self) -> String {
        CloudWatchQuery::Metric(self.metric("RequestCount", "Sum")).to_text()
    }
}

/// [`AlbQueries::error_rate`] with 60 s periods.
pub fn error_rate(target_group: &str, load_balancer: &str) -> String {
    AlbQueries::new(target_group, load_balancer).error_rate()
}

/// [`AlbQueries::p95_latency`] with 60 s periods.
pub fn p95_latency(target_group: &str, load_balancer: &str) -> String {
    AlbQueries::new(target_group, load_balancer).p95_latency()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use shipcore::template::{render, Placement};
    use std::collections::BTreeMap;

    #[test]
    fn templates_render_per_revision_and_parse() {
        let a = AlbQueries::new("targetgroup/{{revision}}/0f3c", "app/{{service}}/9e1d");
        let vars: BTreeMap<String, String> = [("revision", "web-v2"), ("service", "web")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        // As the validators render them (PromQL placement: values inside strings escaped).
        let q = render(&a.p95_latency(), &vars, Placement::PromQl).unwrap();
        let CloudWatchQuery::Metric(m) = CloudWatchQuery::parse(&q).unwrap() else {
            panic!("{q}")
        };
        assert_eq!(m.stat, "p95");
        assert_eq!(m.name, "TargetResponseTime");
        assert_eq!(m.dimensions["TargetGroup"], "targetgroup/web-v2/0f3c");
        assert_eq!(m.dimensions["LoadBalancer"], "app/web/9e1d");
        let q = render(
            &error_rate("targetgroup/{{revision}}/1", "app/x/2"),
            &vars,
            Placement::PromQl,
        )
        .unwrap();
        let CloudWatchQuery::Ratio {
            numerator,
            denominator,
        } = CloudWatchQuery::parse(&q).unwrap()
        else {
            panic!("{q}")
        };
        assert_eq!(
            (numerator.name.as_str(), denominator.name.as_str()),
            ("HTTPCode_Target_5XX_Count", "RequestCount")
        );
        assert_eq!(
            denominator.dimensions["TargetGroup"],
            "targetgroup/web-v2/1"
        );
        // A value with a quote stays inside its JSON string.
        let mut odd = vars.clone();
        odd.insert("revision".into(), "a\"b".into());
        let q = render(&a.request_count(), &odd, Placement::PromQl).unwrap();
        let CloudWatchQuery::Metric(m) = CloudWatchQuery::parse(&q).unwrap() else {
            panic!()
        };
        assert_eq!(m.dimensions["TargetGroup"], "targetgroup/a\"b/0f3c");
    }
}
