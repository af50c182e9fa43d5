//! Object names and labels. Each revision's Deployment and Service are named
//! `<service>-<slug>`, a DNS-1035 label (63 characters, lowercase, no dots); the full
//! revision id is kept in the annotation [`REVISION_ID_ANNOTATION`].

use shipcore::model::{RevisionId, Target};
use std::collections::BTreeMap;

/// Annotation holding the full revision id.
pub const REVISION_ID_ANNOTATION: &str = "shipcore.io/revision-id";
/// `app.kubernetes.io/managed-by` value of everything the driver writes.
pub const MANAGER: &str = "shipcore";
/// Label: the target's service.
pub const SERVICE_LABEL: &str = "shipcore.io/service";
/// Label: the target's environment.
pub const ENVIRONMENT_LABEL: &str = "shipcore.io/environment";
/// Label: the revision (a label-safe form of its id).
pub const REVISION_LABEL: &str = "shipcore.io/revision";
/// Label: who manages the object.
pub const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";

const MAX_LABEL: usize = 63;

/// FNV-1a, 32 bits: a short hash that is stable across processes and versions.
fn short_hash(s: &str) -> String {
    let mut h: u32 = 0x811c_9dc5;
    for b in s.bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    format!("{h:08x}")
}

/// Lowercase, anything but `[a-z0-9-]` as `-`, runs of `-` collapsed, no `-` at the ends.
fn sanitize(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        let c = c.to_ascii_lowercase();
        let c = if c.is_ascii_lowercase() || c.is_ascii_digit() {
            c
        } else {
            '-'
        };
        if !(c == '-' && (out.is_empty() || out.ends_with('-'))) {
            out.push(c);
        }
    }
    out.trim_end_matches('-').to_string()
}

/// Shortens `name` to fit `max` with `-<hash of original>` appended.
fn with_hash(name: &str, original: &str, max: usize) -> String {
    let hash = short_hash(original);
    let keep = max - hash.len() - 1;
    let head: String = name.chars().take(keep).collect();
    let head = head.trim_end_matches('-');
    if head.is_empty() {
        format!("h{hash}")
    } else {
        format!("{head}-{hash}")
    }
}

/// The name of a revision's Deployment and Service: `<service>-<revision id>` when that is
/// already a DNS-1035 label, otherwise sanitized, truncated and suffixed with a short hash
/// of the original, so distinct ids never share a name.
///
/// ```
/// use shipcore_driver_k8s::names::object_name;
/// assert_eq!(object_name("web", &"v2".into()), "web-v2");
/// assert!(object_name("web", &"2.0.0".into()).starts_with("web-2-0-0-"));
/// ```
pub fn object_name(service: &str, revision: &RevisionId) -> String {
    let raw = format!("{service}-{}", revision.as_str());
    dns1035(&raw)
}

/// `raw` as a DNS-1035 label (see [`object_name`]).
pub fn dns1035(raw: &str) -> String {
    if is_dns1035_label(raw) {
        return raw.to_string();
    }
    let mut clean = sanitize(raw);
    if !clean.starts_with(|c: char| c.is_ascii_lowercase()) {
        clean = format!("x-{clean}");
    }
    with_hash(&clean, raw, MAX_LABEL)
}

/// True for a DNS-1035 label: `[a-z]([-a-z0-9]*[a-z0-9])?`, at most 63 characters.
pub fn is_dns1035_label(s: &str) -> bool {
    s.starts_with(|c: char| c.is_ascii_lowercase()) && is_dns1123_label(s)
}

/// True for a DNS-1123 label: `[a-z0-9]([-a-z0-9]*[a-z0-9])?`, at most 63 characters.
pub fn is_dns1123_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_LABEL
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// True for a DNS-1123 subdomain (object names of most kinds): dot-separated labels, at
/// most 253 characters.
pub fn is_dns1123_subdomain(s: &str) -> bool {
    s.len() <= 253 && s.split('.').all(is_dns1123_label)
}

/// True for a valid label value: at most 63 characters, `[A-Za-z0-9]` at both ends,
/// `-`, `_`, `.` inside.
pub fn is_label_value(s: &str) -> bool {
    s.is_empty()
        || (s.len() <= MAX_LABEL
            && s.starts_with(|c: char| c.is_ascii_alphanumeric())
            && s.ends_with(|c: char| c.is_ascii_alphanumeric())
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.')))
}

/// `s` as a label value: itself when valid, otherwise sanitized with a hash.
pub fn label_value(s: &str) -> String {
    if is_label_value(s) {
        return s.to_string();
    }
    let clean = sanitize(s);
    with_hash(&clean, s, MAX_LABEL)
}

/// The labels selecting one revision's pods (immutable once the Deployment exists):
/// service, environment and revision.
pub fn selector(target: &Target, revision: &RevisionId) -> BTreeMap<String, String> {
    BTreeMap::from([
        (SERVICE_LABEL.into(), label_value(&target.service)),
        (ENVIRONMENT_LABEL.into(), label_value(&target.environment)),
        (REVISION_LABEL.into(), label_value(revision.as_str())),
    ])
}

/// Every label of a revision's objects: the selector plus `app.kubernetes.io/{name,
/// version, managed-by}`.
pub fn labels(target: &Target, revision: &RevisionId, version: &str) -> BTreeMap<String, String> {
    let mut l = selector(target, revision);
    l.insert(
        "app.kubernetes.io/name".into(),
        label_value(&target.service),
    );
    l.insert("app.kubernetes.io/version".into(), label_value(version));
    l.insert(MANAGED_BY_LABEL.into(), MANAGER.into());
    l
}

/// The label selector listing all of a target's revisions.
pub fn target_selector(target: &Target) -> String {
    format!(
        "{SERVICE_LABEL}={},{ENVIRONMENT_LABEL}={},{MANAGED_BY_LABEL}={MANAGER}",
        label_value(&target.service),
        label_value(&target.environment)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dotted_ids_are_slugged_with_a_hash_and_plain_ones_kept() {
        let n = object_name("web", &"2.0.0".into());
        assert!(is_dns1035_label(&n), "{n}");
        assert!(n.starts_with("web-2-0-0-"), "{n}");
        assert_eq!(object_name("web", &"v2".into()), "web-v2");
        // `web-2-0-0` is already valid: no hash, and it differs from the slug of 2.0.0.
        assert_eq!(object_name("web", &"2-0-0".into()), "web-2-0-0");
        assert_ne!(object_name("web", &"2-0-0".into()), n);
        // Stable across calls.
        assert_eq!(object_name("web", &"2.0.0".into()), n);
    }

    #[test]
    fn long_and_odd_ids_fit_63_characters_and_do_not_collide() {
        let long = "a".repeat(128);
        let long2 = format!("{}b", "a".repeat(127));
        let (a, b) = (
            object_name("web", &long.as_str().into()),
            object_name("web", &long2.as_str().into()),
        );
        assert!(a.len() <= 63 && is_dns1035_label(&a), "{a}");
        assert!(is_dns1035_label(&b) && a != b);
        for id in ["V2_RC", "1.0.0+build", "x--y", "a_", "Web.V1"] {
            let n = object_name("Web", &id.into());
            assert!(is_dns1035_label(&n), "{id} -> {n}");
        }
        assert_ne!(
            object_name("web", &"v1.0".into()),
            object_name("web", &"v1_0".into())
        );
        assert!(is_dns1035_label(&dns1035("9lives")));
    }

    #[test]
    fn labels_are_valid_values_and_selector_is_three_keys() {
        let t = Target::new("web", "production");
        let l = labels(&t, &"1.0.0+build.7".into(), "1.0.0+build.7");
        assert!(l.values().all(|v| is_label_value(v)), "{l:?}");
        assert_eq!(l[MANAGED_BY_LABEL], "shipcore");
        assert_eq!(selector(&t, &"v2".into()).len(), 3);
        assert_eq!(label_value("web-v2.1_rc"), "web-v2.1_rc");
        assert!(is_label_value(&label_value(&"x".repeat(100))));
        assert_eq!(
            target_selector(&t),
            "shipcore.io/service=web,shipcore.io/environment=production,app.kubernetes.io/managed-by=shipcore"
        );
    }
}
