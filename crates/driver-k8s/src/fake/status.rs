//! `Status` objects as the apiserver sends them for failures (and for successful deletes).

use serde_json::{json, Value};

/// One entry of `details.causes[]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Cause {
    pub reason: &'static str,
    pub field: String,
    pub message: String,
}

/// A failure answered as a `Status` object with the matching HTTP status code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ApiError {
    pub code: u16,
    pub reason: &'static str,
    pub message: String,
    /// `details.name`, `details.group`, `details.kind`.
    pub details: Option<Box<(String, String, String)>>,
    pub causes: Vec<Cause>,
}

/// The `<plural>.<group>` qualifier the apiserver uses in messages (`deployments.apps`).
pub(crate) fn qualified(plural: &str, group: &str) -> String {
    if group.is_empty() {
        plural.to_string()
    } else {
        format!("{plural}.{group}")
    }
}

impl ApiError {
    fn new(code: u16, reason: &'static str, message: String) -> Self {
        ApiError {
            code,
            reason,
            message,
            details: None,
            causes: Vec::new(),
        }
    }

    /// 404 `NotFound` for `plural.group "name"`.
    pub fn not_found(group: &str, plural: &str, name: &str) -> Self {
        let mut e = Self::new(
            404,
            "NotFound",
            format!("{} \"{name}\" not found", qualified(plural, group)),
        );
        e.details = Some(Box::new((
            name.to_string(),
            group.to_string(),
            plural.to_string(),
        )));
        e
    }

    /// 404 for a path the fake does not serve.
    pub fn no_route(path: &str) -> Self {
        let mut e = Self::new(
            404,
            "NotFound",
            "the server could not find the requested resource".into(),
        );
        e.causes.push(Cause {
            reason: "UnexpectedServerResponse",
            field: String::new(),
            message: format!("404 page not found: {path}"),
        });
        e
    }

    /// 409 `AlreadyExists`.
    pub fn already_exists(group: &str, plural: &str, name: &str) -> Self {
        let mut e = Self::new(
            409,
            "AlreadyExists",
            format!("{} \"{name}\" already exists", qualified(plural, group)),
        );
        e.details = Some(Box::new((
            name.to_string(),
            group.to_string(),
            plural.to_string(),
        )));
        e
    }

    /// 409 `Conflict` for a stale `resourceVersion`.
    pub fn stale(group: &str, plural: &str, name: &str) -> Self {
        let mut e = Self::new(
            409,
            "Conflict",
            format!(
                "Operation cannot be fulfilled on {} \"{name}\": the object has been modified; please apply your changes to the latest version and try again",
                qualified(plural, group)
            ),
        );
        e.details = Some(Box::new((
            name.to_string(),
            group.to_string(),
            plural.to_string(),
        )));
        e
    }

    /// 409 `Conflict` of a server-side apply: `conflicts` are `(manager, field path)`.
    pub fn apply_conflicts(conflicts: &[(String, String)], api_version: &str) -> Self {
        let n = conflicts.len();
        let noun = if n == 1 { "conflict" } else { "conflicts" };
        let list: Vec<String> = conflicts
            .iter()
            .map(|(m, f)| format!("conflict with \"{m}\" using {api_version}: {f}"))
            .collect();
        let mut e = Self::new(
            409,
            "Conflict",
            format!("Apply failed with {n} {noun}: {}", list.join("\n")),
        );
        e.causes = conflicts
            .iter()
            .map(|(m, f)| Cause {
                reason: "FieldManagerConflict",
                field: f.clone(),
                message: format!("conflict with \"{m}\" using {api_version}"),
            })
            .collect();
        e
    }

    /// 422 `Invalid` for `Kind.group "name"` with the given causes.
    pub fn invalid(kind: &str, group: &str, name: &str, causes: Vec<Cause>) -> Self {
        let kind_q = qualified(kind, group);
        let joined: Vec<String> = causes
            .iter()
            .map(|c| format!("{}: {}", c.field, c.message))
            .collect();
        let message = if joined.len() == 1 {
            format!("{kind_q} \"{name}\" is invalid: {}", joined.join(", "))
        } else {
            format!("{kind_q} \"{name}\" is invalid: [{}]", joined.join(", "))
        };
        let mut e = Self::new(422, "Invalid", message);
        e.details = Some(Box::new((
            name.to_string(),
            group.to_string(),
            kind.to_string(),
        )));
        e.causes = causes;
        e
    }

    /// 400 `BadRequest`.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "BadRequest", message.into())
    }

    /// 405 `MethodNotAllowed`.
    pub fn method_not_allowed(message: impl Into<String>) -> Self {
        Self::new(405, "MethodNotAllowed", message.into())
    }

    /// 415 `UnsupportedMediaType`.
    pub fn unsupported_media(ct: &str) -> Self {
        Self::new(415, "UnsupportedMediaType", format!("the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json; got {ct:?}"))
    }

    /// The reason and message a fault-injected status code answers with.
    pub fn injected(code: u16) -> Self {
        let (reason, message) = match code {
            409 => ("Conflict", "Operation cannot be fulfilled: the object has been modified; please apply your changes to the latest version and try again"),
            429 => ("TooManyRequests", "the server has received too many requests and has asked us to try again later"),
            500 => ("InternalError", "Internal error occurred: injected fault"),
            503 => ("ServiceUnavailable", "the server is currently unable to handle the request"),
            504 => ("Timeout", "the server was unable to return a response in the time allotted"),
            400 => ("BadRequest", "injected bad request"),
            401 => ("Unauthorized", "Unauthorized"),
            403 => ("Forbidden", "forbidden: injected fault"),
            404 => ("NotFound", "the server could not find the requested resource"),
            410 => ("Expired", "too old resource version"),
            422 => ("Invalid", "injected invalid"),
            _ => ("InternalError", "injected fault"),
        };
        Self::new(code, reason, message.to_string())
    }

    /// 410 `Expired` for a watch from a compacted resourceVersion.
    pub fn gone(rv: u64, oldest: u64) -> Self {
        Self::new(
            410,
            "Expired",
            format!("too old resource version: {rv} ({oldest})"),
        )
    }

    /// The `Status` object.
    pub fn to_status(&self) -> Value {
        let mut v = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        });
        let mut details = serde_json::Map::new();
        if let Some(d) = &self.details {
            let (name, group, kind) = &**d;
            details.insert("name".into(), json!(name));
            if !group.is_empty() {
                details.insert("group".into(), json!(group));
            }
            details.insert("kind".into(), json!(kind));
        }
        if !self.causes.is_empty() {
            let causes: Vec<Value> = self
                .causes
                .iter()
                .map(|c| {
                    let mut o = json!({"reason": c.reason, "message": c.message});
                    if !c.field.is_empty() {
                        o["field"] = json!(c.field);
                    }
                    o
                })
                .collect();
            details.insert("causes".into(), Value::Array(causes));
        }
        if code_has_retry(self.code) {
            details.insert("retryAfterSeconds".into(), json!(1));
        }
        if !details.is_empty() {
            v["details"] = Value::Object(details);
        }
        v
    }
}

fn code_has_retry(code: u16) -> bool {
    code == 429
}

/// The `Status` a successful DELETE answers with.
pub(crate) fn success_delete(group: &str, plural: &str, name: &str, uid: &str) -> Value {
    let mut details = json!({"name": name, "kind": plural, "uid": uid});
    if !group.is_empty() {
        details["group"] = json!(group);
    }
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": details})
}
