//! The Gateway API `HTTPRoute` as JSON (no typed crate for kube 5 yet): the driver-owned
//! route, our backendRefs in a user-owned one, and route weights (as percentages: `shipcore::model::percentages`).

use super::{GATEWAY_GROUP, GATEWAY_VERSION};
use crate::config::RouteConfig;
use crate::names;
use serde_json::{json, Value};
use shipcore::model::Target;
use std::collections::BTreeMap;

/// One backendRef, with `group`, `kind`, `port` and `weight` written out so GitOps tools
/// that compare against defaults see no drift.
pub fn backend_ref(service_name: &str, port: u16, weight: u32) -> Value {
    json!({
        "group": "",
        "kind": "Service",
        "name": service_name,
        "port": port,
        "weight": weight,
    })
}

/// The whole driver-owned `HTTPRoute` with `backends` (Service name, weight).
pub fn owned_route(
    route: &RouteConfig,
    target: &Target,
    ns: &str,
    port: u16,
    backends: &[(String, u32)],
) -> Value {
    let (name, parents, hostnames, matches) = match route {
        RouteConfig::Owned {
            name,
            parent_refs,
            hostnames,
            matches,
        } => (
            name,
            parent_refs.as_slice(),
            hostnames.as_slice(),
            matches.as_slice(),
        ),
        RouteConfig::UserOwned { name, .. } => (name, &[][..], &[][..], &[][..]),
    };
    let parents: Vec<Value> = parents
        .iter()
        .map(|p| {
            let mut v = json!({"group": GATEWAY_GROUP, "kind": "Gateway", "name": p.name});
            if let Some(ns) = &p.namespace {
                v["namespace"] = json!(ns);
            }
            if let Some(s) = &p.section_name {
                v["sectionName"] = json!(s);
            }
            v
        })
        .collect();
    let refs: Vec<Value> = backends
        .iter()
        .map(|(n, w)| backend_ref(n, port, *w))
        .collect();
    let mut rule = json!({ "backendRefs": refs });
    if !matches.is_empty() {
        rule["matches"] = json!(matches);
    }
    let mut spec = json!({ "parentRefs": parents, "rules": [rule] });
    if !hostnames.is_empty() {
        spec["hostnames"] = json!(hostnames);
    }
    json!({
        "apiVersion": format!("{GATEWAY_GROUP}/{GATEWAY_VERSION}"),
        "kind": "HTTPRoute",
        "metadata": {
            "name": name,
            "namespace": ns,
            "labels": {
                names::MANAGED_BY_LABEL: names::MANAGER,
                names::SERVICE_LABEL: names::label_value(&target.service),
                names::ENVIRONMENT_LABEL: names::label_value(&target.environment),
            },
        },
        "spec": spec,
    })
}

/// Whether a backendRef points at a core `Service` called `name`.
pub fn is_service_ref(r: &Value, name: &str) -> bool {
    let group = r.get("group").and_then(Value::as_str).unwrap_or("");
    let kind = r.get("kind").and_then(Value::as_str).unwrap_or("Service");
    group.is_empty() && kind == "Service" && r.get("name").and_then(Value::as_str) == Some(name)
}

/// The weight of every backendRef in the route naming one of `services` (a missing weight
/// is 1, as the Gateway API defaults it). Summed when a name appears in several rules.
pub fn route_weights(route: &Value, services: &[String]) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    let rules = route
        .pointer("/spec/rules")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for rule in &rules {
        let refs = rule
            .get("backendRefs")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        for r in &refs {
            for s in services {
                if is_service_ref(r, s) {
                    let w = r.get("weight").and_then(Value::as_u64).unwrap_or(1);
                    *out.entry(s.clone()).or_insert(0) += w;
                }
            }
        }
    }
    out
}

/// Sets our backendRefs in a user-owned route: every ref naming one of `ours` is replaced
/// by `wanted` (name, weight) in the rule that held ours (if none did: the first rule
/// without backendRefs, else the first rule);
/// other refs and every other field are left as they were.
pub fn set_user_route_backends(
    route: &mut Value,
    ours: &[String],
    wanted: &[(String, u32)],
    port: u16,
) -> Result<(), String> {
    let rules = route
        .pointer_mut("/spec/rules")
        .and_then(Value::as_array_mut)
        .ok_or("the route has no spec.rules")?;
    if rules.is_empty() {
        return Err("the route has no rules".into());
    }
    let holds = |rule: &Value| {
        rule.get("backendRefs")
            .and_then(Value::as_array)
            .is_some_and(|refs| {
                refs.iter()
                    .any(|r| ours.iter().any(|o| is_service_ref(r, o)))
            })
    };
    // The rule holding ours; else one the user left without backends for us; else the first.
    let empty = |rule: &Value| {
        rule.get("backendRefs")
            .and_then(Value::as_array)
            .is_none_or(|refs| refs.is_empty())
    };
    let index = rules
        .iter()
        .position(holds)
        .or_else(|| rules.iter().position(empty))
        .unwrap_or(0);
    for (i, rule) in rules.iter_mut().enumerate() {
        let Some(obj) = rule.as_object_mut() else {
            continue;
        };
        let mut refs: Vec<Value> = obj
            .get("backendRefs")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let old: Vec<Value> = refs.clone();
        refs.retain(|r| !ours.iter().any(|o| is_service_ref(r, o)));
        if i == index {
            for (name, w) in wanted {
                // Keep the user's port when the ref existed.
                let mut r = old
                    .iter()
                    .find(|r| is_service_ref(r, name))
                    .cloned()
                    .unwrap_or_else(|| backend_ref(name, port, *w));
                r["group"] = json!("");
                r["kind"] = json!("Service");
                r["weight"] = json!(w);
                refs.push(r);
            }
        }
        if refs != old {
            obj.insert("backendRefs".into(), Value::Array(refs));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ParentRef;

    #[test]
    fn owned_route_writes_group_kind_port_weight_and_weights_read_back() {
        let rc = RouteConfig::Owned {
            name: "web".into(),
            parent_refs: vec![ParentRef::gateway("gw")],
            hostnames: vec!["web.example".into()],
            matches: vec![json!({"path": {"type": "PathPrefix", "value": "/"}})],
        };
        let r = owned_route(
            &rc,
            &Target::new("web", "e"),
            "ns",
            80,
            &[("web-v1".into(), 90), ("web-v2".into(), 10)],
        );
        let b = &r["spec"]["rules"][0]["backendRefs"][1];
        assert_eq!(
            b,
            &json!({"group": "", "kind": "Service", "name": "web-v2", "port": 80, "weight": 10})
        );
        let w = route_weights(&r, &["web-v1".into(), "web-v2".into(), "web-v3".into()]);
        assert_eq!(w.get("web-v1"), Some(&90));
        assert_eq!(w.get("web-v3"), None);
    }

    #[test]
    fn user_route_changes_only_our_refs() {
        let mut r = json!({"spec": {"parentRefs": [{"name": "gw"}], "rules": [
            {"matches": [{"path": {"value": "/api"}}], "backendRefs": [{"name": "legacy", "port": 81}]},
            {"backendRefs": [{"name": "web-v1", "port": 8080}, {"name": "other", "weight": 5}]}
        ]}});
        let before = r.clone();
        set_user_route_backends(
            &mut r,
            &["web-v1".into(), "web-v2".into()],
            &[("web-v1".into(), 60), ("web-v2".into(), 40)],
            80,
        )
        .unwrap();
        assert_eq!(r["spec"]["rules"][0], before["spec"]["rules"][0]);
        let refs = r["spec"]["rules"][1]["backendRefs"].as_array().unwrap();
        assert_eq!(refs[0], json!({"name": "other", "weight": 5}));
        assert_eq!(refs[1]["port"], 8080);
        assert_eq!(refs[1]["weight"], 60);
        assert_eq!(refs[2], backend_ref("web-v2", 80, 40));
        // Missing weight counts 1.
        let w = route_weights(&before, &["web-v1".into()]);
        assert_eq!(w["web-v1"], 1);
    }
}
