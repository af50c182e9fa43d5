//! How kube errors become a classified [`DriverError`]: by the `Status` code and reason and
//! the HTTP status, never by kube's `is_not_found` alone; a 422 carries `causes[].field`.

use kube::core::Status;
use shipcore::driver::{DriverError, ErrorKind};

/// The kind of an API `Status`: transient for 409 on a stale resourceVersion (but not a
/// server-side apply field conflict), 429, 500, 502, 503, 504 and timeouts; permanent
/// otherwise (400, 401, 403, 404, 422, apply conflicts).
pub fn status_kind(s: &Status) -> ErrorKind {
    let reason = s.reason.as_str();
    match (s.code, reason) {
        (409, _) if is_apply_conflict(s) => ErrorKind::Permanent,
        (409, _) | (429, _) | (500, _) | (502, _) | (503, _) | (504, _) => ErrorKind::Transient,
        (
            _,
            "Conflict" | "TooManyRequests" | "ServerTimeout" | "Timeout" | "ServiceUnavailable",
        ) if !is_apply_conflict(s) => ErrorKind::Transient,
        _ => ErrorKind::Permanent,
    }
}

/// A server-side apply conflict: another field manager owns fields we set.
pub fn is_apply_conflict(s: &Status) -> bool {
    s.code == 409 && s.message.starts_with("Apply failed with")
}

/// True for a 404 `NotFound` (checked by code and by reason).
pub fn is_not_found(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 404 || (s.code == 0 && s.reason == "NotFound"))
}

/// True for a 409 that re-reading may fix (a stale resourceVersion, an object that exists).
pub fn is_stale_conflict(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 409 && !is_apply_conflict(s))
}

/// The `Status` message with every cause's field and message, as 422s explain themselves.
pub fn status_message(s: &Status) -> String {
    let mut m = format!("{} ({} {})", s.message, s.code, s.reason);
    if let Some(d) = &s.details {
        let causes: Vec<String> = d
            .causes
            .iter()
            .map(|c| {
                if c.field.is_empty() {
                    c.message.clone()
                } else {
                    format!("{}: {}", c.field, c.message)
                }
            })
            .collect();
        if !causes.is_empty() {
            m.push_str("; causes: ");
            m.push_str(&causes.join("; "));
        }
    }
    m
}

/// Classifies any kube error for `operation`.
pub fn classify(operation: &str, e: &kube::Error) -> DriverError {
    let (kind, message) = match e {
        kube::Error::Api(s) => (status_kind(s), status_message(s)),
        kube::Error::HyperError(_) | kube::Error::Service(_) | kube::Error::ReadEvents(_) => {
            (ErrorKind::Transient, e.to_string())
        }
        kube::Error::SerdeError(_) => (ErrorKind::Transient, e.to_string()),
        kube::Error::Auth(_) => (ErrorKind::Permanent, e.to_string()),
        _ => (ErrorKind::Permanent, e.to_string()),
    };
    DriverError {
        kind,
        operation: operation.to_string(),
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(json: &str) -> Status {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn real_status_bodies_are_classified() {
        let not_found = status(
            r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"deployments.apps \"web-v9\" not found","reason":"NotFound","details":{"name":"web-v9","group":"apps","kind":"deployments"},"code":404}"#,
        );
        assert_eq!(status_kind(&not_found), ErrorKind::Permanent);
        let stale = status(
            r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"Operation cannot be fulfilled on httproutes.gateway.networking.k8s.io \"web\": the object has been modified; please apply your changes to the latest version and try again","reason":"Conflict","details":{"name":"web","group":"gateway.networking.k8s.io","kind":"httproutes"},"code":409}"#,
        );
        assert_eq!(status_kind(&stale), ErrorKind::Transient);
        let apply = status(
            r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"Apply failed with 1 conflict: conflict with \"kubectl-client-side-apply\" using apps/v1: .spec.replicas","reason":"Conflict","details":{"causes":[{"reason":"FieldManagerConflict","message":"conflict with \"kubectl-client-side-apply\" using apps/v1","field":".spec.replicas"}]},"code":409}"#,
        );
        assert_eq!(status_kind(&apply), ErrorKind::Permanent);
        assert!(status_message(&apply).contains(".spec.replicas"));
        let invalid = status(
            r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"Deployment.apps \"web-v2\" is invalid: spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string{\"a\":\"b\"}}: field is immutable","reason":"Invalid","details":{"name":"web-v2","group":"apps","kind":"Deployment","causes":[{"reason":"FieldValueInvalid","message":"Invalid value: field is immutable","field":"spec.selector"}]},"code":422}"#,
        );
        assert_eq!(status_kind(&invalid), ErrorKind::Permanent);
        let e = classify("deploy", &kube::Error::Api(Box::new(invalid)));
        assert!(e.message.contains("spec.selector: Invalid value"), "{e}");
        let throttled = status(
            r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"Too many requests, please try again later.","reason":"TooManyRequests","details":{"retryAfterSeconds":1},"code":429}"#,
        );
        assert_eq!(status_kind(&throttled), ErrorKind::Transient);
        let forbidden = status(
            r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"deployments.apps is forbidden: User \"x\" cannot patch resource \"deployments\"","reason":"Forbidden","details":{"group":"apps","kind":"deployments"},"code":403}"#,
        );
        assert_eq!(status_kind(&forbidden), ErrorKind::Permanent);
        for code in [500u16, 503, 504] {
            let s = Status::failure("busy", "InternalError").with_code(code);
            assert_eq!(status_kind(&s), ErrorKind::Transient, "{code}");
        }
        for code in [400u16, 401] {
            let s = Status::failure("no", "BadRequest").with_code(code);
            assert_eq!(status_kind(&s), ErrorKind::Permanent, "{code}");
        }
        // A reason without a code (a proxy that lost it) still classifies.
        let s = Status::failure("slow", "ServerTimeout");
        assert_eq!(status_kind(&s), ErrorKind::Transient);
        let nf = kube::Error::Api(Box::new(Status::failure("gone", "").with_code(404)));
        assert!(is_not_found(&nf));
    }
}
