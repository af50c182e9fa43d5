//! Unit tests of the validator contract types.
#![allow(clippy::unwrap_used)]

use super::*;
use std::collections::BTreeMap;

/// The variables as `ValidationContext::new` built them before they were shared.
fn reference(
    rollout_id: &str,
    target: &Target,
    candidate: &Revision,
    stable: Option<&Revision>,
) -> BTreeMap<String, String> {
    let mut vars = BTreeMap::new();
    vars.insert("rollout_id".into(), rollout_id.to_string());
    vars.insert("service".into(), target.service.clone());
    vars.insert("environment".into(), target.environment.clone());
    vars.insert(
        "namespace".into(),
        target.namespace.clone().unwrap_or_default(),
    );
    vars.insert("revision".into(), candidate.id.0.clone());
    vars.insert("version".into(), candidate.version.to_string());
    if let Some(s) = stable {
        vars.insert("stable_revision".into(), s.id.0.clone());
        vars.insert("stable_version".into(), s.version.to_string());
    }
    vars
}

fn rev(id: &str, version: &str) -> Revision {
    Revision::new(id, version.parse().unwrap(), "img")
}

#[test]
fn kept_variables_always_match_the_inputs() {
    let web = Target::new("web", "prod");
    let mut ns = web.clone();
    ns.namespace = Some("team".into());
    let mut empty_ns = web.clone();
    empty_ns.namespace = Some(String::new());
    let revs = [
        rev("v2", "2.0.0"),
        rev("v2", "2.0.1"),
        rev("v2", "2.0.0-rc.1+b7"),
        rev("v3", "2.0.0"),
        rev("", "2.0.0"),
    ];
    let ids = ["r1", "r2", "r1v2", ""];
    // Many more combinations than kept sets, each asked for twice in a row and again
    // later, in an order that mixes hits and misses.
    for round in 0..3 {
        for id in ids {
            for t in [&web, &ns, &empty_ns] {
                for c in &revs {
                    for s in [None, Some(&revs[0]), Some(&revs[2]), Some(&revs[4])] {
                        for _ in 0..2 {
                            let ctx = ValidationContext::new(id, t, c, s, Timestamp(round));
                            assert_eq!(ctx.vars, reference(id, t, c, s), "{id} {t} {c:?} {s:?}");
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn changing_one_context_leaves_the_shared_variables_alone() {
    let web = Target::new("web", "prod");
    let v2 = rev("v2", "2.0.0");
    let mut a = ValidationContext::new("r1", &web, &v2, None, Timestamp(0));
    a.vars.insert("addr".into(), "127.0.0.1:1".into());
    a.vars.insert("revision".into(), "other".into());
    let b = ValidationContext::new("r1", &web, &v2, None, Timestamp(1));
    assert_eq!(b.vars, reference("r1", &web, &v2, None));
    assert_eq!(a.vars.get("revision").map(String::as_str), Some("other"));
    assert_eq!(a.vars.clone().into_map().len(), 7);
}

#[test]
fn breached_since_is_written_only_when_set_and_older_text_reads_as_none() {
    // Issue 15, item 1: verdicts are journaled and recorded; one without a breach
    // serializes exactly as before the field existed.
    let v = Verdict::new("errors", Outcome::Pass, "fine");
    let text = serde_json::to_string(&v).unwrap();
    assert_eq!(
        text,
        r#"{"validator":"errors","outcome":"pass","measurements":[],"message":"fine"}"#
    );
    assert_eq!(serde_json::from_str::<Verdict>(&text).unwrap(), v);
    let breached = v.with_breached_since(Some(Timestamp(60_000)));
    let text = serde_json::to_string(&breached).unwrap();
    assert!(text.ends_with(r#","breached_since":60000}"#), "{text}");
    assert_eq!(serde_json::from_str::<Verdict>(&text).unwrap(), breached);

    let web = Target::new("web", "prod");
    let ctx = ValidationContext::new("r1", &web, &rev("v2", "2.0.0"), None, Timestamp(0));
    assert_eq!(ctx.breached_since, None);
    assert!(!serde_json::to_string(&ctx)
        .unwrap()
        .contains("breached_since"));
    let told = ctx.with_breached_since(Some(Timestamp(7)));
    let back: ValidationContext =
        serde_json::from_str(&serde_json::to_string(&told).unwrap()).unwrap();
    assert_eq!(back.breached_since, Some(Timestamp(7)));
}

#[test]
fn variables_print_and_serialize_as_the_map() {
    let web = Target::new("web", "prod");
    let ctx = ValidationContext::new("r1", &web, &rev("v2", "2.0.0"), None, Timestamp(0));
    let map = reference("r1", &web, &rev("v2", "2.0.0"), None);
    assert_eq!(format!("{:?}", ctx.vars), format!("{map:?}"));
    assert_eq!(
        serde_json::to_string(&ctx.vars).unwrap(),
        serde_json::to_string(&map).unwrap()
    );
    let back: ValidationContext =
        serde_json::from_str(&serde_json::to_string(&ctx).unwrap()).unwrap();
    assert_eq!(back, ctx);
}
