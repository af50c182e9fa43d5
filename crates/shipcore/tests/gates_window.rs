//! Deploy windows and freezes in named time zones, on explicit instants and the simulated
//! clock, across DST changes.
#![allow(clippy::unwrap_used)]

use shipcore::clock::{Clock, SimClock};
use shipcore::gate::{DeployWindow, GateConfig, WindowConfig};
use shipcore::gate::{Gate, GateContext, GateOutcome};
use shipcore::model::{FieldError, Revision, Target};
use shipcore::time::Timestamp;
use std::time::Duration;

/// An instant from RFC 3339 text.
fn ts(text: &str) -> Timestamp {
    Timestamp(text.parse::<jiff::Timestamp>().unwrap().as_millisecond() as u64)
}

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

fn window(json: serde_json::Value) -> DeployWindow {
    serde_json::from_value::<WindowConfig>(json)
        .unwrap()
        .build()
        .unwrap()
}

fn berlin_preset() -> DeployWindow {
    window(serde_json::json!({
        "name": "window", "zone": "Europe/Berlin", "preset": "no_friday_afternoon_no_weekend"
    }))
}

fn block(o: GateOutcome) -> String {
    match o {
        GateOutcome::Block { reason } => reason,
        other => panic!("expected Block, got {other:?}"),
    }
}

#[tokio::test]
async fn friday_afternoon_is_blocked_until_monday_morning() {
    let w = berlin_preset();
    // 2024-06-14 is a Friday; 16:00 in Berlin is 14:00 UTC (CEST).
    let reason = block(w.check(&ctx(ts("2024-06-14T16:00:00+02:00"))).await);
    assert!(
        reason.contains("outside the deploy window (now Friday 16:00 Europe/Berlin)"),
        "{reason}"
    );
    assert!(
        reason.contains("next window opens Monday 09:00 (2024-06-17 09:00 CEST, in 2d17h)"),
        "{reason}"
    );
    assert_eq!(
        w.next_open(ts("2024-06-14T14:00:00Z")),
        Some(ts("2024-06-17T07:00:00Z"))
    );

    assert_eq!(
        w.check(&ctx(ts("2024-06-14T11:59:00+02:00"))).await,
        GateOutcome::Pass
    );
    assert!(block(w.check(&ctx(ts("2024-06-14T12:00:00+02:00"))).await).contains("Friday 12:00"));
    assert!(block(w.check(&ctx(ts("2024-06-15T10:00:00+02:00"))).await)
        .contains("next window opens Monday 09:00"));
    assert!(block(w.check(&ctx(ts("2024-06-17T08:59:00+02:00"))).await)
        .contains("next window opens Monday 09:00"));
    assert_eq!(
        w.check(&ctx(ts("2024-06-17T09:00:00+02:00"))).await,
        GateOutcome::Pass
    );
    assert_eq!(
        w.check(&ctx(ts("2024-06-20T16:59:00+02:00"))).await,
        GateOutcome::Pass
    );
    assert!(block(w.check(&ctx(ts("2024-06-20T17:00:00+02:00"))).await)
        .contains("next window opens Friday 09:00"));
}

#[tokio::test]
async fn a_week_on_the_simulated_clock_has_35_open_hours() {
    let w = berlin_preset();
    let clock = SimClock::new(ts("2024-06-17T00:30:00+02:00")); // Monday
    let mut open = Vec::new();
    for _ in 0..(7 * 24) {
        if w.check(&ctx(clock.now())).await == GateOutcome::Pass {
            open.push(w.local(clock.now()));
        }
        clock.advance(Duration::from_secs(3600));
    }
    assert_eq!(open.len(), 4 * 8 + 3);
    assert_eq!(open.first().unwrap(), "Monday 09:30");
    assert_eq!(open.last().unwrap(), "Friday 11:30");
}

#[tokio::test]
async fn wait_mode_waits_exactly_until_the_window_opens() {
    let w = window(serde_json::json!({
        "name": "promotion-window", "zone": "Europe/Berlin",
        "preset": "no_friday_afternoon_no_weekend", "wait": true
    }));
    let clock = SimClock::new(ts("2024-06-14T16:00:00+02:00"));
    match w.check(&ctx(clock.now())).await {
        GateOutcome::Wait {
            retry_after,
            reason,
        } => {
            assert_eq!(retry_after, Duration::from_secs((2 * 24 + 17) * 3600));
            assert!(
                reason.contains("next window opens Monday 09:00"),
                "{reason}"
            );
            clock.sleep_until(clock.now().plus(retry_after)).await;
        }
        other => panic!("expected Wait, got {other:?}"),
    }
    assert_eq!(w.check(&ctx(clock.now())).await, GateOutcome::Pass);
}

#[tokio::test]
async fn freeze_by_dates_includes_the_end_day() {
    let w = window(serde_json::json!({
        "name": "window", "zone": "Europe/Berlin", "preset": "business_hours",
        "freezes": [{"start": "2024-12-23", "end": "2025-01-01", "reason": "year-end freeze"}]
    }));
    // Friday before: open. Monday 23rd and New Year's Day: frozen.
    assert_eq!(
        w.check(&ctx(ts("2024-12-20T10:00:00+01:00"))).await,
        GateOutcome::Pass
    );
    let reason = block(w.check(&ctx(ts("2024-12-23T10:00:00+01:00"))).await);
    assert!(
        reason.contains("deploy freeze until 2025-01-02 00:00 CET: year-end freeze"),
        "{reason}"
    );
    assert!(
        reason.contains("next window opens Thursday 09:00 (2025-01-02 09:00 CET"),
        "{reason}"
    );
    assert!(block(w.check(&ctx(ts("2025-01-01T23:59:00+01:00"))).await).contains("year-end freeze"));
    assert_eq!(
        w.check(&ctx(ts("2025-01-02T09:00:00+01:00"))).await,
        GateOutcome::Pass
    );
}

#[tokio::test]
async fn freeze_by_instants_and_the_window_after_it() {
    let w = window(serde_json::json!({
        "name": "window", "zone": "Europe/Berlin", "preset": "business_hours",
        "freezes": [{"start": "2024-06-18T12:00:00Z", "end": "2024-06-18T15:00:00Z",
                     "reason": "database migration"}]
    }));
    let reason = block(w.check(&ctx(ts("2024-06-18T14:00:00+02:00"))).await);
    assert!(reason.contains("database migration"), "{reason}");
    // The freeze ends at 17:00 local, when the day's window closes: next is Wednesday.
    assert!(
        reason.contains("next window opens Wednesday 09:00"),
        "{reason}"
    );
    assert_eq!(
        w.check(&ctx(ts("2024-06-18T13:59:00+02:00"))).await,
        GateOutcome::Pass
    );
}

#[tokio::test]
async fn freeze_only_calendar_is_open_at_any_hour_outside_freezes() {
    let w = window(serde_json::json!({
        "name": "freeze", "zone": "UTC",
        "freezes": [{"start": "2024-07-01T00:00:00Z", "end": "2024-07-01T06:00:00Z", "reason": "maintenance"}]
    }));
    assert_eq!(
        w.check(&ctx(ts("2024-06-30T03:00:00Z"))).await,
        GateOutcome::Pass
    );
    let reason = block(w.check(&ctx(ts("2024-07-01T03:00:00Z"))).await);
    assert!(
        reason.contains("next window opens Monday 06:00 (2024-07-01 06:00 UTC, in 3h)"),
        "{reason}"
    );
}

#[tokio::test]
async fn dst_changes_use_local_hours() {
    let daily = serde_json::json!({
        "name": "window", "zone": "Europe/Berlin", "wait": true,
        "windows": [{"days": ["mon","tue","wed","thu","fri","sat","sun"], "start_hour": 9, "end_hour": 17}]
    });
    let w = window(daily);
    // Spring forward (2024-03-31 02:00 → 03:00): Saturday 18:00 CET to Sunday 09:00 CEST is 14h.
    match w.check(&ctx(ts("2024-03-30T18:00:00+01:00"))).await {
        GateOutcome::Wait {
            retry_after,
            reason,
        } => {
            assert_eq!(retry_after, Duration::from_secs(14 * 3600));
            assert!(
                reason.contains("Sunday 09:00 (2024-03-31 09:00 CEST"),
                "{reason}"
            );
        }
        other => panic!("expected Wait, got {other:?}"),
    }
    // 09:30 local on the Sunday is 07:30 UTC, not 08:30.
    assert!(w.is_open(ts("2024-03-31T07:30:00Z")));
    assert!(!w.is_open(ts("2024-03-31T06:30:00Z")));
    // Fall back (2024-10-27 03:00 → 02:00): Saturday 18:00 CEST to Sunday 09:00 CET is 16h.
    assert_eq!(
        w.next_open(ts("2024-10-26T18:00:00+02:00")),
        Some(ts("2024-10-27T09:00:00+01:00"))
    );
    assert_eq!(
        ts("2024-10-27T09:00:00+01:00").since(ts("2024-10-26T18:00:00+02:00")),
        Duration::from_secs(16 * 3600)
    );

    // A window starting inside the skipped hour opens when the clocks resume (03:00 CEST).
    let night = window(serde_json::json!({
        "name": "night", "zone": "Europe/Berlin",
        "windows": [{"days": ["sun"], "start_hour": 2, "end_hour": 4}]
    }));
    assert_eq!(
        night.next_open(ts("2024-03-30T12:00:00Z")),
        Some(ts("2024-03-31T03:00:00+02:00"))
    );
}

#[tokio::test]
async fn other_zones_work_from_the_bundled_database() {
    let w = window(serde_json::json!({
        "name": "ny", "zone": "America/New_York", "preset": "business_hours"
    }));
    // 14:00 UTC on a Monday in June is 10:00 EDT.
    assert!(w.is_open(ts("2024-06-17T14:00:00Z")));
    assert!(!w.is_open(ts("2024-06-17T12:00:00Z")));
    assert_eq!(w.local(ts("2024-06-17T12:00:00Z")), "Monday 08:00");
}

#[test]
fn config_errors_name_the_field() {
    let err = |v: serde_json::Value| {
        let mut base = serde_json::json!({"type": "window", "name": "w", "zone": "Europe/Berlin"});
        base.as_object_mut()
            .unwrap()
            .extend(v.as_object().unwrap().clone());
        match serde_json::from_value::<GateConfig>(base) {
            Ok(c) => c.build().err().unwrap(),
            Err(e) => FieldError::new("<json>", e.to_string()).into(),
        }
    };
    let e = err(serde_json::json!({"zone": "Mars/Olympus_Mons"}));
    assert_eq!(e.field, "zone");
    assert!(e
        .problem
        .contains("\"Mars/Olympus_Mons\" is not a known IANA time zone"));
    let rule = |s: u8, e: u8| serde_json::json!({"windows": [{"days": ["mon"], "start_hour": 9, "end_hour": 17}, {"days": ["tue"], "start_hour": s, "end_hour": e}]});
    let e = err(rule(25, 26));
    assert_eq!(e.field, "windows[1].start_hour");
    assert!(e.problem.contains("25 is out of range 0..=23"), "{e}");
    assert_eq!(err(rule(9, 25)).field, "windows[1].end_hour");
    assert_eq!(err(rule(9, 9)).field, "windows[1].end_hour");
    assert_eq!(
        err(serde_json::json!({"windows": [{"days": [], "start_hour": 9, "end_hour": 17}]})).field,
        "windows[0].days"
    );
    let e =
        err(serde_json::json!({"windows": [{"days": ["fry"], "start_hour": 9, "end_hour": 17}]}));
    assert!(e.problem.contains("unknown variant `fry`"), "{e}");
    let e = err(
        serde_json::json!({"freezes": [{"start": "christmas", "end": "2025-01-01", "reason": "x"}]}),
    );
    assert_eq!(e.field, "freezes[0].start");
    let e = err(
        serde_json::json!({"freezes": [{"start": "2025-01-02", "end": "2025-01-01", "reason": "x"}]}),
    );
    assert_eq!(
        (e.field.as_str(), e.problem.as_str()),
        ("freezes[0].end", "must be after start")
    );
    let e = err(serde_json::json!({"hours": [9, 17]}));
    assert!(e.problem.contains("unknown field `hours`"), "{e}");
}
