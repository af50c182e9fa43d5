//! Names of the per-revision ECS services and target groups. Services: `<service>-<revision>`
//! fitted to ECS's rules, truncated with a short stable hash when it does not fit or had to
//! be changed (services live in one cluster and are checked by their `shipcore:target` tag).
//! Target groups are account-wide: `<service>-<environment>-<revision>` cut to leave room
//! for an 8-hex hash of all three, always appended, so two environments, or two services
//! with a long shared prefix, never share a group. The full revision id goes into tags.

/// ECS service names: at most 255 of `[A-Za-z0-9_-]`.
pub const SERVICE_NAME_MAX: usize = 255;
/// Target group names: at most 32 of `[A-Za-z0-9-]`, no leading or trailing hyphen.
pub const TARGET_GROUP_NAME_MAX: usize = 32;

/// FNV-1a, 32 bits: stable across versions and platforms (unlike `DefaultHasher`).
fn fnv1a(s: &str) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for b in s.bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h
}

/// Replaces every character outside `keep` with `-`; true when nothing changed.
fn slug(raw: &str, keep: impl Fn(char) -> bool) -> (String, bool) {
    let s: String = raw.chars().map(|c| if keep(c) { c } else { '-' }).collect();
    let exact = s == raw;
    (s, exact)
}

/// `raw` made to fit: kept as is when valid and short enough, else cut to leave room for
/// `-<8 hex>` of `raw`'s hash, hyphens trimmed at both ends.
fn fit(raw: &str, max: usize, keep: impl Fn(char) -> bool, trim_hyphens: bool) -> String {
    let (s, exact) = slug(raw, keep);
    let ends_ok = !trim_hyphens || !(s.starts_with('-') || s.ends_with('-'));
    if exact && s.len() <= max && ends_ok && !s.is_empty() {
        return s;
    }
    let hash = format!("{:08x}", fnv1a(raw));
    let room = max - hash.len() - 1;
    let mut head: String = s.chars().take(room).collect();
    if trim_hyphens {
        head = head.trim_matches('-').to_string();
    }
    if head.is_empty() {
        hash
    } else {
        format!("{head}-{hash}")
    }
}

/// The ECS service of `revision` of `service`: `<service>-<revision>`, fitted.
///
/// ```
/// use shipcore_driver_ecs::names::service_name;
/// assert_eq!(service_name("web", "v2"), "web-v2");
/// assert!(service_name("web", "2.0.0").starts_with("web-2-0-0-"));
/// ```
pub fn service_name(service: &str, revision: &str) -> String {
    fit(
        &format!("{service}-{revision}"),
        SERVICE_NAME_MAX,
        |c| c.is_ascii_alphanumeric() || c == '_' || c == '-',
        false,
    )
}

/// The service of the native rolling mode: the target's service name, fitted.
pub fn rolling_service_name(service: &str) -> String {
    fit(
        service,
        SERVICE_NAME_MAX,
        |c| c.is_ascii_alphanumeric() || c == '_' || c == '-',
        false,
    )
}

/// The target group of `revision` of `service` in `environment`: at most 32 letters,
/// digits and hyphens, no hyphen at either end and no `--`. A readable head,
/// `<service>-<environment>-<revision>` slugged and cut to 23 characters, then `-` and an
/// 8-hex FNV-1a hash of the three parts (length-prefixed, so `("a-b", "c")` and
/// `("a", "b-c")` differ). The hash is always there: target group names are unique per
/// AWS account and region, across every cluster and environment.
///
/// ```
/// use shipcore_driver_ecs::names::target_group_name;
/// let prod = target_group_name("web", "prod", "v2");
/// assert!(prod.starts_with("web-prod-v2-") && prod.len() == "web-prod-v2-".len() + 8);
/// assert_ne!(prod, target_group_name("web", "staging", "v2"));
/// assert!(target_group_name("checkout-service", "prod", "2024-11-30-release-candidate").len() <= 32);
/// ```
pub fn target_group_name(service: &str, environment: &str, revision: &str) -> String {
    let key = format!(
        "{}:{service}{}:{environment}{}:{revision}",
        service.len(),
        environment.len(),
        revision.len()
    );
    let hash = format!("{:08x}", fnv1a(&key));
    let (slugged, _) = slug(&format!("{service}-{environment}-{revision}"), |c| {
        c.is_ascii_alphanumeric() || c == '-'
    });
    // ELBv2 refuses `--` anywhere in a name.
    let mut s = String::with_capacity(slugged.len());
    for c in slugged.chars() {
        if !(c == '-' && s.ends_with('-')) {
            s.push(c);
        }
    }
    let room = TARGET_GROUP_NAME_MAX - hash.len() - 1;
    let head: String = s.chars().take(room).collect();
    let head = head.trim_matches('-');
    if head.is_empty() {
        hash
    } else {
        format!("{head}-{hash}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid_tg(n: &str) -> bool {
        !n.is_empty()
            && n.len() <= 32
            && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            && !n.starts_with('-')
            && !n.ends_with('-')
            && !n.contains("--")
    }

    #[test]
    fn short_valid_names_are_kept() {
        assert_eq!(service_name("web", "v2_rc"), "web-v2_rc");
    }

    #[test]
    fn target_groups_differ_per_environment_service_and_revision() {
        let a = target_group_name("web", "prod", "v2");
        assert_eq!(a, target_group_name("web", "prod", "v2"), "stable");
        let others = [
            target_group_name("web", "staging", "v2"),
            target_group_name("web", "prod", "v3"),
            target_group_name("api", "prod", "v2"),
            // The same readable text, split differently.
            target_group_name("web-prod", "v2", ""),
            target_group_name("web", "prod-v2", ""),
        ];
        for o in &others {
            assert!(valid_tg(o), "{o}");
            assert_ne!(&a, o);
        }
        assert_ne!(others[3], others[4]);
        // Two services sharing a prefix longer than the readable head, same environment.
        let long = "checkout-service-eu-west-payments";
        let x = target_group_name(&format!("{long}-a"), "prod", "v1");
        let y = target_group_name(&format!("{long}-b"), "prod", "v1");
        assert!(valid_tg(&x) && valid_tg(&y), "{x} {y}");
        assert_eq!(x[..23], y[..23], "the readable heads are cut alike");
        assert_ne!(x, y);
        // Two environments with a long shared prefix.
        let p = target_group_name("web", "production-eu-west-1-blue", "v1");
        let q = target_group_name("web", "production-eu-west-1-green", "v1");
        assert!(valid_tg(&p) && valid_tg(&q) && p != q, "{p} {q}");
        assert!(valid_tg(&target_group_name("-", "_", ".")));
        assert!(
            valid_tg(&target_group_name("web", "prod", ".v1")),
            "no `--`"
        );
        assert!(valid_tg(&target_group_name("web", "", "v1")), "no `--`");
    }

    #[test]
    fn changed_or_long_names_get_a_stable_hash() {
        let a = target_group_name("checkout-service", "prod", "2024-11-30-release-candidate-1");
        let b = target_group_name("checkout-service", "prod", "2024-11-30-release-candidate-2");
        assert!(valid_tg(&a) && valid_tg(&b), "{a} {b}");
        assert_ne!(
            a, b,
            "revisions differing only past the cut must not collide"
        );
        assert_eq!(
            a,
            target_group_name("checkout-service", "prod", "2024-11-30-release-candidate-1")
        );
        // '.' and '_' are not allowed in target group names; the slug differs, so a hash.
        let dotted = target_group_name("web", "prod", "1.0");
        let dashed = target_group_name("web", "prod", "1-0");
        assert_ne!(dotted, dashed);
        assert!(
            valid_tg(&dotted) && dotted.starts_with("web-prod-1-0-"),
            "{dotted}"
        );
        assert!(
            valid_tg(&target_group_name("web", "prod", "v_")),
            "trailing hyphen trimmed"
        );
        let long = service_name(&"s".repeat(200), &"r".repeat(100));
        assert_eq!(long.len(), SERVICE_NAME_MAX);
        assert!(long
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
    }
}
