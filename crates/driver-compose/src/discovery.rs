//! Where the revisions' instances listen, in the shape Prometheus' `file_sd_configs` reads,
//! so a canary can be judged per revision from metrics scraped off each container.

use crate::driver::Instance;
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// Prometheus file-based service discovery groups: one per revision, its running
/// instances' published traffic addresses as targets, labelled `service` and `revision`.
/// Write it to the file a `file_sd_configs` entry watches.
///
/// ```
/// use shipcore::model::RevisionId;
/// use shipcore_driver_compose::{prometheus_targets, Instance};
/// let i = Instance {
///     revision: RevisionId::new("v2"), name: "shop-web-v2-1".into(), id: "c1".into(),
///     state: "running".into(), health: "healthy".into(), ready: true,
///     addr: Some("127.0.0.1:32768".parse().unwrap()),
/// };
/// let sd = prometheus_targets("web", &[i]);
/// assert_eq!(sd[0]["targets"][0], "127.0.0.1:32768");
/// assert_eq!(sd[0]["labels"]["revision"], "v2");
/// ```
pub fn prometheus_targets(service: &str, instances: &[Instance]) -> Value {
    let mut groups: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for i in instances.iter().filter(|i| i.state == "running") {
        if let Some(addr) = i.addr {
            groups
                .entry(i.revision.as_str().to_string())
                .or_default()
                .push(addr.to_string());
        }
    }
    Value::Array(
        groups
            .into_iter()
            .map(|(rev, mut targets)| {
                targets.sort();
                json!({"targets": targets, "labels": {"service": service, "revision": rev}})
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use shipcore::model::RevisionId;

    fn inst(rev: &str, state: &str, port: Option<u16>) -> Instance {
        Instance {
            revision: RevisionId::new(rev),
            name: format!("p-web-{rev}-{}", port.unwrap_or(0)),
            id: "x".into(),
            state: state.into(),
            health: String::new(),
            ready: state == "running",
            addr: port.map(|p| ([127, 0, 0, 1], p).into()),
        }
    }

    #[test]
    fn one_group_per_revision_with_running_published_instances() {
        let sd = prometheus_targets(
            "web",
            &[
                inst("v2", "running", Some(2)),
                inst("v1", "running", Some(11)),
                inst("v1", "running", Some(10)),
                inst("v1", "exited", Some(12)),
                inst("v3", "running", None),
            ],
        );
        assert_eq!(
            sd,
            json!([
                {"targets": ["127.0.0.1:10", "127.0.0.1:11"], "labels": {"service": "web", "revision": "v1"}},
                {"targets": ["127.0.0.1:2"], "labels": {"service": "web", "revision": "v2"}}
            ])
        );
    }
}
