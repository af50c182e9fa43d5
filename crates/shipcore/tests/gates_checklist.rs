//! The blocking checklist built from configuration: gates checked in order, the first that
//! does not pass stops it, and the result names it. Severity presets.
#![allow(clippy::unwrap_used)]

use shipcore::gate::{check_all, GateConfig, Severity};
use shipcore::gate::{Gate, GateContext, GateOutcome};
use shipcore::model::{Revision, Target};
use shipcore::time::Timestamp;
use std::sync::Arc;
use std::time::Duration;

fn ctx(now: Timestamp) -> GateContext {
    GateContext {
        rollout_id: "r1".into(),
        target: Target::new("web", "production"),
        candidate: Revision::new("web-v2", "2.0.0".parse().unwrap(), "web:2.0.0"),
        stable: None,
        now,
        approvals: vec![],
        waiting_since: None,
    }
}

fn build(configs: serde_json::Value) -> Vec<Arc<dyn Gate>> {
    let configs: Vec<GateConfig> = serde_json::from_value(configs).unwrap();
    configs.iter().map(|c| c.build().unwrap()).collect()
}

fn ts(text: &str) -> Timestamp {
    Timestamp(text.parse::<jiff::Timestamp>().unwrap().as_millisecond() as u64)
}

#[tokio::test]
async fn all_pass_then_the_first_block_stops_the_list() {
    let dir = tempfile::tempdir().unwrap();
    let runbook = dir.path().join("RUNBOOK.md");
    std::fs::write(&runbook, "# Runbook").unwrap();
    let locks = dir.path().join("locks");
    let gates = build(serde_json::json!([
        {"type": "command", "name": "tests", "program": "true"},
        {"type": "file", "name": "runbook", "path": runbook},
        {"type": "window", "name": "window", "zone": "Europe/Berlin",
         "preset": "no_friday_afternoon_no_weekend"},
        {"type": "lock", "name": "lock", "dir": locks},
    ]));

    // Tuesday 10:00: everything passes, the lock is taken.
    let ok = check_all(&gates, &ctx(ts("2024-06-18T10:00:00+02:00"))).await;
    assert!(ok.passed(), "{}", ok.summary());
    assert_eq!(ok.entries.len(), 4);
    assert_eq!(
        ok.summary(),
        "[pass] tests\n[pass] runbook\n[pass] window\n[pass] lock"
    );
    std::fs::remove_dir_all(&locks).unwrap();

    // Friday 16:00: the window blocks, and the lock after it is not taken.
    let friday = check_all(&gates, &ctx(ts("2024-06-14T16:00:00+02:00"))).await;
    assert!(!friday.passed());
    let blocked = friday.blocked_by().unwrap();
    assert_eq!(blocked.gate, "window");
    assert!(
        matches!(&blocked.outcome, GateOutcome::Block { reason } if reason.contains("next window opens Monday 09:00"))
    );
    assert_eq!(friday.skipped, vec!["lock"]);
    assert!(!locks.exists(), "a gate after the block must not run");
    assert!(
        friday.summary().ends_with("[skipped] lock"),
        "{}",
        friday.summary()
    );

    // A failing command blocks first; the rest is skipped.
    std::fs::remove_file(&runbook).unwrap();
    let mut gates = gates;
    gates[0] = GateConfig::from_json(r#"{"type": "command", "name": "tests", "program": "false"}"#)
        .unwrap()
        .build()
        .unwrap();
    let r = check_all(&gates, &ctx(ts("2024-06-18T10:00:00+02:00"))).await;
    assert_eq!(r.blocked_by().unwrap().gate, "tests");
    assert_eq!(r.skipped, vec!["runbook", "window", "lock"]);
    // The result is data for the record.
    let json = serde_json::to_value(&r).unwrap();
    assert_eq!(json["entries"][0]["outcome"]["outcome"], "block");
}

#[tokio::test]
async fn a_wait_also_stops_the_list() {
    let gates = build(serde_json::json!([
        {"type": "approval", "name": "promote"},
        {"type": "command", "name": "never-run", "program": "false"},
    ]));
    let r = check_all(&gates, &ctx(Timestamp(0))).await;
    assert_eq!(r.waiting_on().unwrap().gate, "promote");
    assert!(r.blocked_by().is_none());
    assert_eq!(r.skipped, vec!["never-run"]);
    assert!(!r.passed());
}

#[test]
fn severity_presets() {
    let min = |m: u64| Duration::from_secs(m * 60);
    assert_eq!(Severity::P0.pause_per_phase(), min(10));
    assert_eq!(Severity::P1.pause_per_phase(), min(15));
    assert_eq!(Severity::P2.pause_per_phase(), min(30));
    assert_eq!(Severity::P0.monitoring_window(), min(60));
    assert_eq!(Severity::P1.monitoring_window(), min(4 * 60));
    assert_eq!(Severity::P2.monitoring_window(), min(24 * 60));
    assert_eq!(
        serde_json::from_str::<Severity>("\"p2\"").unwrap(),
        Severity::P2
    );
    assert_eq!(serde_json::to_string(&Severity::P0).unwrap(), "\"P0\"");
    assert!(serde_json::from_str::<Severity>("\"P3\"")
        .unwrap_err()
        .to_string()
        .contains("unknown variant `P3`"));
}

#[test]
fn unknown_gate_type_and_round_trip() {
    let e = GateConfig::from_json(r#"{"type": "dice", "name": "x"}"#).unwrap_err();
    assert!(e.problem.contains("unknown variant `dice`"), "{e}");
    let text =
        r#"{"type":"window","name":"w","zone":"UTC","preset":"business_hours","wait":false}"#;
    let cfg = GateConfig::from_json(text).unwrap();
    assert_eq!(cfg.name(), "w");
    assert_eq!(serde_json::to_string(&cfg).unwrap(), text);
}
