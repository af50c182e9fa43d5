//! The compose project as `docker compose config --format json` resolves it, and the
//! override the driver generates from it: one service per revision (`<service>-<revision>`),
//! a copy of the base service with the revision's image, the driver's labels, its ports
//! published on ephemeral loopback ports and the base service's name as a network alias.

use crate::config::ComposeConfig;
use crate::revision::{service_name, LABEL_ARTIFACT, LABEL_REVISION, LABEL_SERVICE};
use serde_json::{json, Map, Value};
use shipcore::model::RevisionId;
use std::time::Duration;

/// Keys of the base service a revision service does not copy: a fixed container name or
/// hostname cannot be scaled, a build is replaced by the revision's image, replicas come
/// from the driver, profiles would hide the service, fixed host ports would collide.
const DROPPED_KEYS: &[&str] = &[
    "container_name",
    "hostname",
    "build",
    "scale",
    "profiles",
    "ports",
    "extends",
    "develop",
];

/// The base service of a resolved compose project.
#[derive(Debug, Clone, PartialEq)]
pub struct ProjectModel {
    service: String,
    base: Map<String, Value>,
}

impl ProjectModel {
    /// Reads `config --format json` output and picks `service`. Errors say what is wrong:
    /// an unknown service (listing the known ones) or a network mode that cannot run
    /// revisions side by side.
    pub fn from_config_json(json: &str, service: &str) -> Result<Self, String> {
        let doc: Value = serde_json::from_str(json)
            .map_err(|e| format!("unreadable `compose config` output: {e}"))?;
        let services = doc
            .get("services")
            .and_then(Value::as_object)
            .ok_or("the compose project defines no services")?;
        let Some(base) = services.get(service).and_then(Value::as_object) else {
            let known: Vec<&str> = services.keys().map(String::as_str).collect();
            return Err(format!(
                "no such service: {service:?} is not in the compose project (services: {})",
                known.join(", ")
            ));
        };
        if let Some(mode) = base.get("network_mode").and_then(Value::as_str) {
            if mode == "host" || mode.starts_with("container:") || mode.starts_with("service:") {
                return Err(format!(
                    "service {service:?} uses network_mode {mode:?}: its replicas and revisions would share one network stack and port, so they cannot run side by side (unsupported)"
                ));
            }
        }
        Ok(ProjectModel {
            service: service.to_string(),
            base: base.clone(),
        })
    }

    /// The base service's `stop_grace_period`, if set.
    pub fn stop_grace_period(&self) -> Option<Duration> {
        self.base
            .get("stop_grace_period")
            .and_then(Value::as_str)
            .and_then(|s| shipcore::time::parse_duration(s).ok())
    }

    /// The compose definition of `revision` running `artifact`.
    pub fn revision_service(
        &self,
        cfg: &ComposeConfig,
        revision: &RevisionId,
        artifact: &str,
    ) -> Value {
        let mut svc = self.base.clone();
        for k in DROPPED_KEYS {
            svc.remove(*k);
        }
        if let Some(deploy) = svc.get_mut("deploy").and_then(Value::as_object_mut) {
            deploy.remove("replicas");
        }
        svc.insert("image".into(), json!(artifact));
        if cfg.pull {
            svc.insert("pull_policy".into(), json!("missing"));
        } else {
            svc.insert("pull_policy".into(), json!("never"));
        }

        let mut labels = svc
            .get("labels")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        labels.insert(LABEL_SERVICE.into(), json!(self.service));
        labels.insert(LABEL_REVISION.into(), json!(revision.as_str()));
        labels.insert(LABEL_ARTIFACT.into(), json!(artifact));
        svc.insert("labels".into(), Value::Object(labels));

        svc.insert("ports".into(), Value::Array(self.ports(cfg)));

        if !svc.contains_key("network_mode") {
            let mut networks = match svc.get("networks") {
                Some(Value::Object(n)) if !n.is_empty() => n.clone(),
                _ => Map::from_iter([("default".to_string(), Value::Null)]),
            };
            for (_, net) in networks.iter_mut() {
                let mut net_cfg = net.as_object().cloned().unwrap_or_default();
                let mut aliases: Vec<Value> = net_cfg
                    .get("aliases")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                if !aliases.iter().any(|a| a.as_str() == Some(&self.service)) {
                    aliases.push(json!(self.service));
                }
                net_cfg.insert("aliases".into(), Value::Array(aliases));
                *net = Value::Object(net_cfg);
            }
            svc.insert("networks".into(), Value::Object(networks));
        }
        Value::Object(svc)
    }

    /// Every container port of the base service plus the routed and probed ports, each
    /// published on an ephemeral port of `publish_host`.
    fn ports(&self, cfg: &ComposeConfig) -> Vec<Value> {
        let mut targets: Vec<(u64, String)> = Vec::new();
        let mut add = |t: u64, proto: &str| {
            if !targets.iter().any(|(tt, pp)| *tt == t && pp == proto) {
                targets.push((t, proto.to_string()));
            }
        };
        add(u64::from(cfg.port), "tcp");
        add(u64::from(cfg.probe_port()), "tcp");
        for p in self
            .base
            .get("ports")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let (target, proto) = match p {
                Value::Object(o) => (
                    o.get("target").and_then(Value::as_u64),
                    o.get("protocol").and_then(Value::as_str).unwrap_or("tcp"),
                ),
                _ => (None, "tcp"),
            };
            if let Some(t) = target {
                add(t, proto);
            }
        }
        let host = cfg.publish_host.to_string();
        targets
            .into_iter()
            .map(|(t, proto)| json!({"target": t, "protocol": proto, "host_ip": host}))
            .collect()
    }

    /// The override document (JSON, which compose reads as YAML) defining every revision in
    /// `revisions` (id, artifact), in the order given.
    pub fn overlay(&self, cfg: &ComposeConfig, revisions: &[(RevisionId, String)]) -> String {
        let services: Map<String, Value> = revisions
            .iter()
            .map(|(r, a)| {
                (
                    service_name(&self.service, r),
                    self.revision_service(cfg, r, a),
                )
            })
            .collect();
        json!({ "services": services }).to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONFIG: &str = r#"{
      "name": "shop",
      "networks": {"default": {"name": "shop_default"}, "front": {"name": "shop_front"}},
      "services": {
        "web": {
          "container_name": "web-fixed",
          "image": "localhost/web:1",
          "build": {"context": "/src"},
          "command": ["serve", "--port", "8080"],
          "environment": {"MODE": "prod"},
          "labels": {"team": "shop"},
          "deploy": {"replicas": 2, "resources": {"limits": {"memory": "64M"}}},
          "healthcheck": {"test": ["CMD", "/app", "probe"], "interval": "1s"},
          "networks": {"default": null, "front": {"aliases": ["shop-web"]}},
          "ports": [{"mode": "ingress", "host_ip": "0.0.0.0", "target": 8080, "published": "8080", "protocol": "tcp"},
                    {"mode": "ingress", "target": 9090, "published": "9090", "protocol": "tcp"}],
          "stop_grace_period": "3s"
        },
        "db": {"image": "localhost/db:1"},
        "hostnet": {"image": "x", "network_mode": "host"}
      }
    }"#;

    #[test]
    fn revision_service_copies_the_base_and_makes_it_scalable() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = ComposeConfig::new("shop", "web", [dir.path().join("c.yaml")], 8080);
        let m = ProjectModel::from_config_json(CONFIG, "web").unwrap();
        assert_eq!(m.stop_grace_period(), Some(Duration::from_secs(3)));
        let svc = m.revision_service(&cfg, &RevisionId::new("v2"), "localhost/web:2");
        assert_eq!(svc["image"], "localhost/web:2");
        assert_eq!(svc["command"], json!(["serve", "--port", "8080"]));
        assert_eq!(svc["environment"]["MODE"], "prod");
        assert_eq!(svc["healthcheck"]["interval"], "1s");
        assert_eq!(svc["pull_policy"], "never");
        for gone in ["container_name", "build"] {
            assert!(svc.get(gone).is_none(), "{gone} must not be copied");
        }
        assert!(svc["deploy"].get("replicas").is_none());
        assert_eq!(svc["deploy"]["resources"]["limits"]["memory"], "64M");
        assert_eq!(svc["labels"]["team"], "shop");
        assert_eq!(svc["labels"][LABEL_REVISION], "v2");
        assert_eq!(svc["labels"][LABEL_SERVICE], "web");
        assert_eq!(svc["labels"][LABEL_ARTIFACT], "localhost/web:2");
        assert_eq!(
            svc["ports"],
            json!([
                {"target": 8080, "protocol": "tcp", "host_ip": "127.0.0.1"},
                {"target": 9090, "protocol": "tcp", "host_ip": "127.0.0.1"}
            ]),
            "no fixed host ports: each replica gets an ephemeral one"
        );
        assert_eq!(svc["networks"]["default"]["aliases"], json!(["web"]));
        assert_eq!(
            svc["networks"]["front"]["aliases"],
            json!(["shop-web", "web"])
        );
    }

    #[test]
    fn overlay_names_services_after_revisions() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = ComposeConfig::new("shop", "web", [dir.path().join("c.yaml")], 8080);
        let m = ProjectModel::from_config_json(CONFIG, "web").unwrap();
        let doc: Value = serde_json::from_str(&m.overlay(
            &cfg,
            &[
                (RevisionId::new("v1"), "localhost/web:1".into()),
                (RevisionId::new("v2"), "localhost/web:2".into()),
            ],
        ))
        .unwrap();
        let names: Vec<&String> = doc["services"].as_object().unwrap().keys().collect();
        assert_eq!(names, ["web-v1", "web-v2"]);
    }

    #[test]
    fn unknown_service_and_host_network_are_clear_errors() {
        let e = ProjectModel::from_config_json(CONFIG, "api").unwrap_err();
        assert!(e.contains("no such service: \"api\""), "{e}");
        assert!(e.contains("db, hostnet, web"), "{e}");
        let e = ProjectModel::from_config_json(CONFIG, "hostnet").unwrap_err();
        assert!(e.contains("network_mode \"host\""), "{e}");
        assert!(ProjectModel::from_config_json("not json", "web").is_err());
    }
}
