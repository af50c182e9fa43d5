//! The validation and defaulting the fake applies on writes: object names (DNS-1123
//! subdomain, DNS-1035 label, DNS-1123 label), the Deployment rules a driver can break
//! (selector required, matching the template, immutable; containers with a name and an
//! image) and the defaults the apiserver fills in for Deployments and Services.

use serde_json::{json, Value};

use super::discovery::{NameRule, Resource};
use super::status::Cause;

fn label_1123(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
}

/// Returns the cause when `name` breaks the resource's naming rule.
pub(crate) fn name(rule: NameRule, name: &str) -> Option<Cause> {
    let (ok, msg) = match rule {
        NameRule::Subdomain => (
            name.len() <= 253 && name.split('.').all(label_1123),
            "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')",
        ),
        NameRule::Label1035 => (
            label_1123(name) && name.as_bytes().first().is_some_and(u8::is_ascii_lowercase),
            "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')",
        ),
        NameRule::Label1123 => (
            label_1123(name),
            "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')",
        ),
    };
    if ok {
        return None;
    }
    let too_long = match rule {
        NameRule::Subdomain => name.len() > 253,
        _ => name.len() > 63,
    };
    let message = if too_long {
        format!(
            "Invalid value: {name:?}: must be no more than {} characters",
            if rule == NameRule::Subdomain { 253 } else { 63 }
        )
    } else {
        format!("Invalid value: {name:?}: {msg}")
    };
    Some(Cause {
        reason: "FieldValueInvalid",
        field: "metadata.name".into(),
        message,
    })
}

fn required(field: &str) -> Cause {
    Cause {
        reason: "FieldValueRequired",
        field: field.into(),
        message: "Required value".into(),
    }
}

/// Validates an object about to be stored; `old` is the stored version on update.
pub(crate) fn object(res: &Resource, obj: &Value, old: Option<&Value>) -> Vec<Cause> {
    let mut causes = Vec::new();
    if res.kind == "Deployment" {
        deployment(obj, old, &mut causes);
    }
    if res.kind == "HTTPRoute" {
        httproute(obj, &mut causes);
    }
    if res.kind == "Service" {
        if let Some(ports) = obj.pointer("/spec/ports").and_then(Value::as_array) {
            for (i, p) in ports.iter().enumerate() {
                if !p.get("port").is_some_and(Value::is_u64) {
                    causes.push(required(&format!("spec.ports[{i}].port")));
                }
            }
        }
    }
    causes
}

/// The HTTPRoute CRD's schema rules a driver can break: backendRef names and weights
/// (0 to 1,000,000), at most 16 rules, 16 backendRefs per rule and 32 parentRefs.
fn httproute(obj: &Value, causes: &mut Vec<Cause>) {
    let too_many = |field: String, n: usize, max: usize| Cause {
        reason: "FieldValueTooMany",
        field,
        message: format!("Too many: {n}: must have at most {max} items"),
    };
    let parents = obj
        .pointer("/spec/parentRefs")
        .and_then(Value::as_array)
        .map_or(0, Vec::len);
    if parents > 32 {
        causes.push(too_many("spec.parentRefs".into(), parents, 32));
    }
    let rules = obj
        .pointer("/spec/rules")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if rules.len() > 16 {
        causes.push(too_many("spec.rules".into(), rules.len(), 16));
    }
    for (i, rule) in rules.iter().enumerate() {
        let refs = rule
            .get("backendRefs")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        if refs.len() > 16 {
            causes.push(too_many(
                format!("spec.rules[{i}].backendRefs"),
                refs.len(),
                16,
            ));
        }
        for (j, r) in refs.iter().enumerate() {
            let at = format!("spec.rules[{i}].backendRefs[{j}]");
            if r.get("name")
                .and_then(Value::as_str)
                .is_none_or(str::is_empty)
            {
                causes.push(required(&format!("{at}.name")));
            }
            if let Some(w) = r.get("weight") {
                let ok = w.as_i64().is_some_and(|w| (0..=1_000_000).contains(&w));
                if !ok {
                    causes.push(Cause {
                        reason: "FieldValueInvalid",
                        field: format!("{at}.weight"),
                        message: format!(
                            "Invalid value: {w}: {at}.weight in body should be an integer between 0 and 1000000"
                        ),
                    });
                }
            }
        }
    }
}

fn deployment(obj: &Value, old: Option<&Value>, causes: &mut Vec<Cause>) {
    let selector = obj.pointer("/spec/selector");
    let match_labels = selector
        .and_then(|s| s.get("matchLabels"))
        .and_then(Value::as_object);
    if selector.is_none_or(|s| s.as_object().is_none_or(|m| m.is_empty())) {
        causes.push(required("spec.selector"));
    }
    let tmpl_labels = obj
        .pointer("/spec/template/metadata/labels")
        .and_then(Value::as_object);
    if let Some(ml) = match_labels {
        let matches = ml
            .iter()
            .all(|(k, v)| tmpl_labels.and_then(|t| t.get(k)) == Some(v));
        if !matches {
            causes.push(Cause {
                reason: "FieldValueInvalid",
                field: "spec.template.metadata.labels".into(),
                message: format!(
                    "Invalid value: {}: `selector` does not match template `labels`",
                    serde_json::to_string(&tmpl_labels.cloned().unwrap_or_default())
                        .unwrap_or_default()
                ),
            });
        }
    }
    match obj
        .pointer("/spec/template/spec/containers")
        .and_then(Value::as_array)
    {
        None => causes.push(required("spec.template.spec.containers")),
        Some(cs) if cs.is_empty() => causes.push(required("spec.template.spec.containers")),
        Some(cs) => {
            for (i, c) in cs.iter().enumerate() {
                if c.get("name")
                    .and_then(Value::as_str)
                    .is_none_or(str::is_empty)
                {
                    causes.push(required(&format!(
                        "spec.template.spec.containers[{i}].name"
                    )));
                }
                if c.get("image")
                    .and_then(Value::as_str)
                    .is_none_or(|s| s.trim().is_empty())
                {
                    causes.push(required(&format!(
                        "spec.template.spec.containers[{i}].image"
                    )));
                }
            }
        }
    }
    if let Some(r) = obj.pointer("/spec/replicas").and_then(Value::as_i64) {
        if r < 0 {
            causes.push(Cause {
                reason: "FieldValueInvalid",
                field: "spec.replicas".into(),
                message: format!("Invalid value: {r}: must be greater than or equal to 0"),
            });
        }
    }
    if let Some(old) = old {
        let old_sel = old.pointer("/spec/selector");
        if old_sel != selector {
            causes.push(Cause {
                reason: "FieldValueInvalid",
                field: "spec.selector".into(),
                message: format!(
                    "Invalid value: {}: field is immutable",
                    serde_json::to_string(selector.unwrap_or(&Value::Null)).unwrap_or_default()
                ),
            });
        }
    }
}

fn default_key(obj: &mut Value, ptr_parent: &str, key: &str, value: Value) {
    if let Some(parent) = obj.pointer_mut(ptr_parent).and_then(Value::as_object_mut) {
        parent.entry(key.to_string()).or_insert(value);
    }
}

/// Fills in the defaults the apiserver sets, so reads look like a real cluster's.
pub(crate) fn defaults(res: &Resource, obj: &mut Value, cluster_ip: impl FnOnce() -> String) {
    match res.kind {
        "Deployment" => {
            default_key(obj, "/spec", "replicas", json!(1));
            default_key(obj, "/spec", "progressDeadlineSeconds", json!(600));
            default_key(obj, "/spec", "revisionHistoryLimit", json!(10));
            default_key(
                obj,
                "/spec",
                "strategy",
                json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}}),
            );
            default_key(obj, "/spec/template/spec", "restartPolicy", json!("Always"));
            default_key(
                obj,
                "/spec/template/spec",
                "dnsPolicy",
                json!("ClusterFirst"),
            );
            default_key(
                obj,
                "/spec/template/spec",
                "terminationGracePeriodSeconds",
                json!(30),
            );
            default_key(
                obj,
                "/spec/template/spec",
                "schedulerName",
                json!("default-scheduler"),
            );
            default_key(obj, "/spec/template/spec", "securityContext", json!({}));
            if let Some(cs) = obj
                .pointer_mut("/spec/template/spec/containers")
                .and_then(Value::as_array_mut)
            {
                for c in cs.iter_mut().filter_map(Value::as_object_mut) {
                    c.entry("imagePullPolicy")
                        .or_insert_with(|| json!("IfNotPresent"));
                    c.entry("terminationMessagePath")
                        .or_insert_with(|| json!("/dev/termination-log"));
                    c.entry("terminationMessagePolicy")
                        .or_insert_with(|| json!("File"));
                    c.entry("resources").or_insert_with(|| json!({}));
                }
            }
        }
        "Service" => {
            default_key(obj, "/spec", "type", json!("ClusterIP"));
            default_key(obj, "/spec", "sessionAffinity", json!("None"));
            if obj.pointer("/spec/type").and_then(Value::as_str) != Some("ExternalName") {
                let ip = cluster_ip();
                default_key(obj, "/spec", "clusterIP", json!(ip));
                default_key(obj, "/spec", "clusterIPs", json!([ip]));
                default_key(obj, "/spec", "ipFamilies", json!(["IPv4"]));
                default_key(obj, "/spec", "ipFamilyPolicy", json!("SingleStack"));
                default_key(obj, "/spec", "internalTrafficPolicy", json!("Cluster"));
            }
            if let Some(ps) = obj.pointer_mut("/spec/ports").and_then(Value::as_array_mut) {
                for p in ps.iter_mut().filter_map(Value::as_object_mut) {
                    p.entry("protocol").or_insert_with(|| json!("TCP"));
                    if let Some(port) = p.get("port").cloned() {
                        p.entry("targetPort").or_insert(port);
                    }
                }
            }
            if let Some(spec) = obj.get_mut("status").filter(|s| s.is_object()) {
                let _ = spec;
            } else if let Some(o) = obj.as_object_mut() {
                o.insert("status".into(), json!({"loadBalancer": {}}));
            }
        }
        "HTTPRoute" => {
            // The CRD's structural defaults (why a driver should write them explicitly).
            if let Some(ps) = obj
                .pointer_mut("/spec/parentRefs")
                .and_then(Value::as_array_mut)
            {
                for p in ps.iter_mut().filter_map(Value::as_object_mut) {
                    p.entry("group")
                        .or_insert_with(|| json!("gateway.networking.k8s.io"));
                    p.entry("kind").or_insert_with(|| json!("Gateway"));
                }
            }
            if let Some(rules) = obj.pointer_mut("/spec/rules").and_then(Value::as_array_mut) {
                for rule in rules.iter_mut() {
                    if let Some(refs) = rule.get_mut("backendRefs").and_then(Value::as_array_mut) {
                        for r in refs.iter_mut().filter_map(Value::as_object_mut) {
                            r.entry("group").or_insert_with(|| json!(""));
                            r.entry("kind").or_insert_with(|| json!("Service"));
                            r.entry("weight").or_insert_with(|| json!(1));
                        }
                    }
                }
            }
        }
        "Namespace" => {
            default_key(obj, "/spec", "finalizers", json!(["kubernetes"]));
            if let Some(o) = obj.as_object_mut() {
                o.insert("status".into(), json!({"phase": "Active"}));
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_rules() {
        assert!(name(NameRule::Label1035, "web-2-0-0").is_none());
        assert!(name(NameRule::Label1035, "web-2.0.0").is_some());
        assert!(name(NameRule::Label1035, "2web").is_some());
        assert!(name(NameRule::Subdomain, "web-2.0.0").is_none());
        assert!(name(NameRule::Subdomain, "Web").is_some());
        assert!(name(NameRule::Subdomain, "web-").is_some());
        assert!(name(NameRule::Label1123, &"a".repeat(64))
            .is_some_and(|c| c.message.contains("no more than 63")));
    }
}
