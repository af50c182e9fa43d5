//! `meta.k8s.io/v1` `Table` answers (asked for with `Accept: ...;as=Table;...`), so
//! `kubectl get` prints the columns it prints against a cluster: READY, UP-TO-DATE,
//! AVAILABLE for Deployments, STATUS with the waiting reason for Pods, and so on.

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

use super::discovery::Resource;

/// Whether the `Accept` header asks for a Table.
pub(crate) fn wanted(accept: Option<&str>) -> bool {
    accept.is_some_and(|a| a.contains("as=Table"))
}

/// Seconds since the epoch of a `metav1.Time` (`YYYY-MM-DDTHH:MM:SSZ`).
fn parse_time(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 20 {
        return None;
    }
    let n = |from: usize, to: usize| s.get(from..to)?.parse::<i64>().ok();
    let (y, m, d) = (n(0, 4)?, n(5, 7)?, n(8, 10)?);
    let (hh, mm, ss) = (n(11, 13)?, n(14, 16)?, n(17, 19)?);
    // Howard Hinnant's days_from_civil.
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + hh * 3600 + mm * 60 + ss)
}

/// kubectl's short human duration.
fn age(created: Option<&str>) -> String {
    let Some(t) = created.and_then(parse_time) else {
        return "<unknown>".into();
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let s = (now - t).max(0);
    match s {
        0..=119 => format!("{s}s"),
        120..=599 => format!("{}m{}s", s / 60, s % 60),
        600..=10_799 => format!("{}m", s / 60),
        10_800..=28_799 => format!("{}h{}m", s / 3600, s % 3600 / 60),
        28_800..=172_799 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86_400),
    }
}

fn col(name: &str, kind: &str, priority: u8) -> Value {
    let format = if name == "Name" { "name" } else { "" };
    json!({"name": name, "type": kind, "format": format, "description": "", "priority": priority})
}

fn int(o: &Value, p: &str) -> i64 {
    o.pointer(p).and_then(Value::as_i64).unwrap_or(0)
}

fn text<'a>(o: &'a Value, p: &str) -> &'a str {
    o.pointer(p).and_then(Value::as_str).unwrap_or("")
}

fn columns(kind: &str) -> Vec<Value> {
    match kind {
        "Deployment" => vec![
            col("Name", "string", 0),
            col("Ready", "string", 0),
            col("Up-to-date", "integer", 0),
            col("Available", "integer", 0),
            col("Age", "string", 0),
            col("Containers", "string", 1),
            col("Images", "string", 1),
            col("Selector", "string", 1),
        ],
        "Service" => vec![
            col("Name", "string", 0),
            col("Type", "string", 0),
            col("Cluster-IP", "string", 0),
            col("External-IP", "string", 0),
            col("Port(s)", "string", 0),
            col("Age", "string", 0),
            col("Selector", "string", 1),
        ],
        "Pod" => vec![
            col("Name", "string", 0),
            col("Ready", "string", 0),
            col("Status", "string", 0),
            col("Restarts", "string", 0),
            col("Age", "string", 0),
        ],
        "Namespace" => vec![
            col("Name", "string", 0),
            col("Status", "string", 0),
            col("Age", "string", 0),
        ],
        "HTTPRoute" => vec![
            col("Name", "string", 0),
            col("Hostnames", "string", 0),
            col("Age", "string", 0),
        ],
        _ => vec![col("Name", "string", 0), col("Age", "string", 0)],
    }
}

fn cells(kind: &str, o: &Value) -> Vec<Value> {
    let name = text(o, "/metadata/name");
    let age = age(o
        .pointer("/metadata/creationTimestamp")
        .and_then(Value::as_str));
    let containers = o
        .pointer("/spec/template/spec/containers")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let join = |key: &str| {
        containers
            .iter()
            .map(|c| text(c, &format!("/{key}")).to_string())
            .collect::<Vec<_>>()
            .join(",")
    };
    let selector = |p: &str| {
        o.pointer(p)
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
                    .collect::<Vec<_>>()
                    .join(",")
            })
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "<none>".into())
    };
    match kind {
        "Deployment" => vec![
            json!(name),
            json!(format!(
                "{}/{}",
                int(o, "/status/readyReplicas"),
                int(o, "/spec/replicas")
            )),
            json!(int(o, "/status/updatedReplicas")),
            json!(int(o, "/status/availableReplicas")),
            json!(age),
            json!(join("name")),
            json!(join("image")),
            json!(selector("/spec/selector/matchLabels")),
        ],
        "Service" => {
            let ports = o
                .pointer("/spec/ports")
                .and_then(Value::as_array)
                .map(|ps| {
                    ps.iter()
                        .map(|p| format!("{}/{}", int(p, "/port"), text(p, "/protocol")))
                        .collect::<Vec<_>>()
                        .join(",")
                })
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| "<none>".into());
            vec![
                json!(name),
                json!(text(o, "/spec/type")),
                json!(text(o, "/spec/clusterIP")),
                json!("<none>"),
                json!(ports),
                json!(age),
                json!(selector("/spec/selector")),
            ]
        }
        "Pod" => {
            let statuses = o
                .pointer("/status/containerStatuses")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let ready = statuses
                .iter()
                .filter(|c| c.get("ready") == Some(&json!(true)))
                .count();
            let total = o
                .pointer("/spec/containers")
                .and_then(Value::as_array)
                .map_or(statuses.len(), Vec::len);
            let waiting = statuses
                .iter()
                .find_map(|c| c.pointer("/state/waiting/reason").and_then(Value::as_str));
            let status = waiting.unwrap_or_else(|| text(o, "/status/phase"));
            vec![
                json!(name),
                json!(format!("{ready}/{total}")),
                json!(status),
                json!("0"),
                json!(age),
            ]
        }
        "Namespace" => vec![json!(name), json!(text(o, "/status/phase")), json!(age)],
        "HTTPRoute" => {
            let hosts = o
                .pointer("/spec/hostnames")
                .and_then(Value::as_array)
                .map(|h| {
                    h.iter()
                        .filter_map(Value::as_str)
                        .collect::<Vec<_>>()
                        .join(",")
                })
                .unwrap_or_default();
            vec![json!(name), json!(hosts), json!(age)]
        }
        _ => vec![json!(name), json!(age)],
    }
}

/// The Table of `objs`; `include_object` is the `includeObject` parameter (`None`,
/// `Metadata` (default) or `Object`).
pub(crate) fn table(
    res: &Resource,
    objs: &[Value],
    rv: u64,
    include_object: Option<&str>,
) -> Value {
    let rows: Vec<Value> = objs
        .iter()
        .map(|o| {
            let mut row = json!({"cells": cells(res.kind, o)});
            match include_object.unwrap_or("Metadata") {
                "None" => {}
                "Object" => {
                    let mut full = o.clone();
                    full["apiVersion"] = json!(res.api_version());
                    full["kind"] = json!(res.kind);
                    row["object"] = full;
                }
                _ => {
                    row["object"] = json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                                           "metadata": o.get("metadata").cloned().unwrap_or(json!({}))});
                }
            }
            row
        })
        .collect();
    json!({
        "kind": "Table", "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": rv.to_string()},
        "columnDefinitions": columns(res.kind),
        "rows": rows,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_parse_back() {
        assert_eq!(parse_time("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_time("2027-01-01T00:33:49Z"), Some(1_798_763_629));
        assert_eq!(parse_time("bad"), None);
    }
}
