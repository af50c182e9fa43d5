//! Records and reports of a real rollout on the in-memory platform and a simulated clock:
//! a canary whose second analysis fails and rolls back. The record's JSON shape, the record
//! rebuilt from the journal, the comparison table, the ship report and the runbook.
#![allow(clippy::unwrap_used)]

// tests/common is shared (not ours); its `find` has lifetimes clippy calls needless.
#[allow(clippy::needless_lifetimes)]
mod common;

use common::*;
use shipcore::clock::SimClock;
use shipcore::driver::Capabilities;
use shipcore::engine::{Phase, RolloutSpec, RunReport, Runner};
use shipcore::journal::MemoryJournal;
use shipcore::model::{AnalysisPolicy, AnalysisStep, Plan, Role, Step, Target};
use shipcore::record::{
    runbook, ship_report, CheckStatus, Comparison, DeploymentRecord, DeploymentStatus, RecordMeta,
    RollbackResult, RollbackTrigger,
};
use shipcore::time::Timestamp;
use shipcore::validator::{Measurement, Outcome, Verdict};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// 2024-01-15T14:30:00Z
const START: Timestamp = Timestamp(1_705_329_000_000);

fn analysis() -> Step {
    Step::Analysis(AnalysisStep {
        validators: vec!["error-rate".into(), "http-health".into()],
        policy: AnalysisPolicy::every(Duration::from_secs(60), 3),
    })
}

fn plan() -> Plan {
    Plan {
        strategy: "canary".into(),
        replicas: 4,
        steps: vec![
            Step::Scale {
                role: Role::Candidate,
                replicas: 1,
            },
            Step::SetWeight { percent: 10 },
            analysis(),
            Step::Scale {
                role: Role::Candidate,
                replicas: 4,
            },
            Step::SetWeight { percent: 50 },
            analysis(),
            Step::Promote,
            Step::Retire {
                role: Role::Stable,
                after: Duration::from_secs(30),
            },
        ],
    }
}

fn the_spec() -> RolloutSpec {
    let mut s = RolloutSpec::new(
        "r1",
        Target::new("web", "production"),
        Some(v1()),
        v2(),
        plan(),
    );
    s.health_validators = vec!["http-health".into()];
    s.gates = vec!["tests-pass".into()];
    s
}

fn meta() -> RecordMeta {
    let mut m = RecordMeta::new("ci-pipeline");
    m.changes.commits = vec!["abc123".into(), "def456".into()];
    m.changes.pr_number = Some(1234);
    m.changes.release_notes = Some("Faster checkout.".into());
    m.change_id = Some("CHG-42".into());
    m.approved_by = vec!["jane".into()];
    m.deploy_window = Some("Mon 14:00-16:00 UTC".into());
    m.rollback_tested = Some(true);
    m.monitoring_period = Some(Duration::from_secs(24 * 3600));
    m.escalation_path = vec!["on-call".into(), "team lead".into()];
    m
}

/// Runs the canary: the candidate's error rate is 1% for the first analysis (3
/// measurements), then 12% (over the 5% threshold); stable's is 0.5%.
async fn rolled_back_run() -> (RunReport, Arc<MemoryJournal>) {
    let driver = FakeDriver::with_stable(Capabilities::ALL, &v1(), 4);
    let calls = Arc::new(AtomicU32::new(0));
    let c = calls.clone();
    let error_rate = FnValidator::new("error-rate", move |ctx| {
        let n = c.fetch_add(1, Ordering::SeqCst);
        let value = if n < 3 { 1.0 } else { 12.0 };
        let outcome = if value > 5.0 {
            Outcome::Fail
        } else {
            Outcome::Pass
        };
        Ok(Verdict::new(
            "error-rate",
            outcome,
            format!("error rate {value}% (limit 5%) on {}", ctx.candidate.id),
        )
        .with(Measurement::new("error_rate", value, Some(5.0), "%"))
        .with(Measurement::new("error_rate_baseline", 0.5, None, "%")))
    });
    let health = FnValidator::new("http-health", |_| {
        Ok(
            Verdict::new("http-health", Outcome::Pass, "200 OK").with(Measurement::new(
                "latency_p95",
                0.12,
                None,
                "s",
            )),
        )
    });
    let journal = Arc::new(MemoryJournal::new());
    let mut runner = Runner::builder(driver, Arc::new(SimClock::new(START)), journal.clone())
        .validator(error_rate)
        .validator(health)
        .gate(FnGate::new("tests-pass", |_| {
            shipcore::gate::GateOutcome::Pass
        }))
        .build();
    let report = runner.start(the_spec()).await.unwrap();
    assert_eq!(
        report.status.phase,
        Phase::RolledBack,
        "{:?}",
        report.status
    );
    (report, journal)
}

fn keys_are_camel_case(v: &serde_json::Value, path: &str) {
    match v {
        serde_json::Value::Object(map) => {
            for (k, child) in map {
                assert!(
                    !k.contains('_') && !k.contains('-'),
                    "key {path}.{k} is not camelCase"
                );
                keys_are_camel_case(child, &format!("{path}.{k}"));
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|i| keys_are_camel_case(i, path)),
        _ => {}
    }
}

#[tokio::test]
async fn rolled_back_record_has_the_classic_shape() {
    let (report, _) = rolled_back_run().await;
    let record = DeploymentRecord::from_report(&report, &meta()).unwrap();
    let json = serde_json::to_value(&record).unwrap();
    keys_are_camel_case(&json, "");
    assert_eq!(json["id"], "r1");
    assert_eq!(json["service"], "web");
    assert_eq!(json["version"], "2.0.0");
    assert_eq!(json["environment"], "production");
    assert_eq!(json["deployedAt"], "2024-01-15T14:30:00Z");
    assert_eq!(json["deployedBy"], "ci-pipeline");
    assert_eq!(json["status"], "rolled_back");
    assert_eq!(json["previousVersion"], "1.0.0");
    assert_eq!(
        json["changes"]["commits"],
        serde_json::json!(["abc123", "def456"])
    );
    assert_eq!(json["changes"]["prNumber"], 1234);
    assert_eq!(json["changes"]["releaseNotes"], "Faster checkout.");
    assert_eq!(json["validation"]["errorRate"], 12.0);
    assert_eq!(json["validation"]["errorRateUnit"], "%");
    assert_eq!(json["validation"]["latencyP95"], 0.12);
    assert_eq!(json["validation"]["healthCheck"], "passed");
    assert_eq!(json["validation"]["smokeTests"], "not_run");
    assert_eq!(json["changeId"], "CHG-42");
    assert_eq!(json["approvedBy"], serde_json::json!(["jane"]));
    assert_eq!(json["deployWindow"], "Mon 14:00-16:00 UTC");
    assert_eq!(json["rollbackTested"], true);
    assert_eq!(json["monitoringPeriod"], "24h");
    assert_eq!(
        json["escalationPath"],
        serde_json::json!(["on-call", "team lead"])
    );
    assert_eq!(json["artifact"], "web:2.0.0");
    assert_eq!(json["gates"][0]["gate"], "tests-pass");

    // Analysis 1: 3 measurements 60 s apart; analysis 2 fails on its first measurement.
    let rb = &json["rollback"];
    assert!(
        rb["reason"]
            .as_str()
            .unwrap()
            .contains("error rate 12% (limit 5%)"),
        "{rb}"
    );
    assert_eq!(rb["result"], "success");
    assert_eq!(rb["trigger"], "automatic");
    assert_eq!(rb["verification"], "passed");
    assert_eq!(rb["restoredVersion"], "1.0.0");
    assert!(rb["startedAt"]
        .as_str()
        .unwrap()
        .starts_with("2024-01-15T14:3"));
    assert_eq!(
        rb["actions"],
        serde_json::json!([
            "route web-v1=100% web-v2=0%",
            "deploy web-v1 x4",
            "route web-v1=100%",
            "retire web-v2"
        ])
    );
    let took = record.duration_ms;
    assert!(
        (120_000..600_000).contains(&took),
        "simulated duration {took} ms"
    );
    assert_eq!(
        json["duration"],
        shipcore::time::format_duration(Duration::from_secs(took / 1000))
    );

    let err = record
        .validation
        .validators
        .iter()
        .find(|v| v.name == "error-rate")
        .unwrap();
    assert_eq!(
        (err.passed, err.failed, err.last_outcome),
        (3, 1, CheckStatus::Failed)
    );

    // The same record comes back from the journal, and from its own JSON.
    assert_eq!(
        serde_json::from_value::<DeploymentRecord>(json).unwrap(),
        record
    );
}

#[tokio::test]
async fn the_journal_replays_to_the_same_record() {
    let (report, journal) = rolled_back_run().await;
    let from_report = DeploymentRecord::from_report(&report, &meta()).unwrap();
    let from_journal = DeploymentRecord::from_journal(journal.as_ref(), &meta())
        .await
        .unwrap();
    assert_eq!(from_journal, from_report);
    let replayed = shipcore::record::replay_journal(journal.as_ref())
        .await
        .unwrap();
    assert_eq!(replayed.events, report.events);
    assert_eq!(replayed.spec.map(|s| s.id), Some("r1".to_string()));
}

#[tokio::test]
async fn comparison_table_shows_each_phase_against_the_baseline() {
    let (report, _) = rolled_back_run().await;
    let c = Comparison::from_events(&report.events);
    let labels: Vec<_> = c.phases.iter().map(|p| p.label.clone()).collect();
    assert_eq!(labels, ["Step 3 (10%)", "Step 6 (50%)"]);
    let row = c.rows.iter().find(|r| r.metric == "error_rate").unwrap();
    assert_eq!(
        (row.baseline, row.threshold, row.result),
        (Some(0.5), Some(5.0), CheckStatus::Failed)
    );
    let md = c.to_markdown();
    assert!(
        md.contains("| error_rate (%) | 0.5 | 5 | 1 pass | 12 FAIL | FAIL |"),
        "{md}"
    );
    assert!(
        md.contains("| latency_p95 (s) | – | – | 0.12 pass | 0.12 pass | pass |"),
        "{md}"
    );
    assert!(
        md.contains("| **Analysis** | | | passed | FAILED | |"),
        "{md}"
    );
}

#[tokio::test]
async fn ship_report_tells_what_shipped_and_how_it_was_undone() {
    let (report, _) = rolled_back_run().await;
    let record = DeploymentRecord::from_report(&report, &meta()).unwrap();
    let md = ship_report(&record, Some(&Comparison::from_events(&report.events)));
    for fact in [
        "# Ship report: web 2.0.0 to production",
        "**Status: ROLLED BACK**",
        "| Rollout id | r1 |",
        "| Started | 2024-01-15T14:30:00Z |",
        "| Change | CHG-42 |",
        "| Health check | passed |",
        "| Error rate (highest) | 12 % |",
        "| error-rate | failed | 3 | 1 | 0 | 0 |",
        "## Comparison per phase",
        "- candidate 2.0.0: `web:2.0.0`",
        "- previous 1.0.0: `web:1.0.0`",
        "- PR #1234",
        "Rolled back automatically at",
        "error rate 12% (limit 5%)",
        "- result: stable restored",
        "- verification of stable: passed",
        "  2. deploy web-v1 x4",
    ] {
        assert!(md.contains(fact), "missing {fact:?} in:\n{md}");
    }
}

#[test]
fn runbook_lists_every_step_threshold_and_the_exact_rollback() {
    let spec = the_spec();
    let md = runbook(&spec, &Capabilities::ALL);
    for step in &spec.plan.steps {
        assert!(
            md.contains(&step.describe()),
            "step {:?} missing:\n{md}",
            step.describe()
        );
    }
    for fact in [
        "# DEPLOY.md: web 2.0.0 to production",
        "1. `tests-pass`",
        "| Validators | error-rate, http-health |",
        "| Failures tolerated | 0 |",
        "| Errors in a row tolerated | 4 |",
        "`handle.abort()`",
        "`shipctl abort <rollout id>`",
        "`handle.retry()`",
    ] {
        assert!(md.contains(fact), "missing {fact:?} in:\n{md}");
    }
    // The rollback section mirrors the engine: traffic, capacity, wait, traffic, retire, verify.
    let procedure = md
        .split("## Rollback procedure")
        .nth(1)
        .unwrap()
        .split("## Rolling back by hand")
        .next()
        .unwrap();
    let order = [
        "`route web-v1=100% web-v2=0%`",
        "`deploy web-v1 x4`",
        "Wait until 4 replicas of web-v1 are ready",
        "`route web-v1=100%`",
        "`retire web-v2`",
        "Verify stable with [http-health]: up to 3 checks",
    ];
    let mut at = 0;
    for step in order {
        let pos = procedure[at..]
            .find(step)
            .unwrap_or_else(|| panic!("{step:?} missing or out of order:\n{procedure}"));
        at += pos + step.len();
    }
}

#[test]
fn runbook_without_weights_or_stable_says_so() {
    let mut caps = Capabilities::ALL;
    caps.weighted_traffic = false;
    let mut spec = the_spec();
    spec.plan
        .steps
        .retain(|s| !matches!(s, Step::SetWeight { .. }));
    let md = runbook(&spec, &caps);
    assert!(
        !md.contains("`route "),
        "no routing without weighted traffic:\n{md}"
    );
    assert!(md.contains("promote candidate (all traffic) — no-op on this driver"));

    spec.failure_policy = shipcore::engine::FailurePolicy::Freeze;
    let md = runbook(&spec, &caps);
    assert!(
        md.contains("x3 every 1m — failure freezes the rollout"),
        "{md}"
    );
    assert!(
        md.contains("| On failure | freeze and wait for a person"),
        "{md}"
    );

    let mut first = the_spec();
    first.stable = None;
    let md = runbook(&first, &Capabilities::ALL);
    assert!(
        md.contains("Retire the candidate: `retire web-v2`. This is a first deploy"),
        "{md}"
    );
    assert!(!md.contains("`deploy web-v1"));
}

#[tokio::test]
async fn an_operator_abort_is_recorded_as_such() {
    let driver = FakeDriver::with_stable(Capabilities::ALL, &v1(), 3);
    let mut runner = Runner::builder(
        driver,
        Arc::new(SimClock::new(START)),
        Arc::new(MemoryJournal::new()),
    )
    .validator(FnValidator::constant("ok", Outcome::Pass))
    .command_at(
        START.plus(Duration::from_secs(90)),
        shipcore::engine::Command::Abort,
    )
    .build();
    let report = runner.start(spec(canary_plan(3, "ok"))).await.unwrap();
    let record = DeploymentRecord::from_report(&report, &RecordMeta::new("jane")).unwrap();
    assert_eq!(record.status, DeploymentStatus::Aborted);
    let rb = record.rollback.unwrap();
    assert_eq!(
        (rb.trigger, rb.result),
        (RollbackTrigger::Operator, RollbackResult::Success)
    );
    assert_eq!(rb.started_at, "2024-01-15T14:31:30Z");
    assert_eq!(record.validation.health_check, CheckStatus::NotRun);
}

#[tokio::test]
async fn frozen_and_paused_rollouts_are_recorded_as_such() {
    let driver = FakeDriver::with_stable(Capabilities::ALL, &v1(), 2);
    let mut s = spec(canary_plan(2, "bad"));
    s.failure_policy = shipcore::engine::FailurePolicy::Freeze;
    let mut runner = Runner::builder(
        driver,
        Arc::new(SimClock::new(START)),
        Arc::new(MemoryJournal::new()),
    )
    .validator(FnValidator::constant("bad", Outcome::Fail))
    .build();
    let report = runner.start(s).await.unwrap();
    assert_eq!(report.status.phase, Phase::Frozen);
    let record = DeploymentRecord::from_report(&report, &RecordMeta::default()).unwrap();
    assert_eq!(record.status, DeploymentStatus::Frozen);
    assert!(record.rollback.is_none(), "a freeze does not roll back");
    assert!(
        record
            .reason
            .as_deref()
            .unwrap()
            .contains("analysis failed"),
        "{:?}",
        record.reason
    );

    // Waiting for a promotion with nobody holding a handle: the runner returns, paused.
    let driver = FakeDriver::with_stable(Capabilities::ALL, &v1(), 2);
    let plan = promotion_plan(2, Some(Duration::ZERO));
    let mut runner = Runner::builder(
        driver,
        Arc::new(SimClock::new(START)),
        Arc::new(MemoryJournal::new()),
    )
    .build();
    let report = runner.start(spec(plan)).await.unwrap();
    let record = DeploymentRecord::from_report(&report, &RecordMeta::default()).unwrap();
    assert_eq!(
        (record.status, record.finished_at.as_deref()),
        (DeploymentStatus::InProgress, None)
    );
    assert_eq!(
        serde_json::to_value(&record).unwrap()["status"],
        "in_progress"
    );
}

#[tokio::test]
async fn a_retry_after_rollback_is_a_new_attempt() {
    let driver = FakeDriver::with_stable(Capabilities::ALL, &v1(), 2);
    let calls = Arc::new(AtomicU32::new(0));
    let c = calls.clone();
    let flaky = FnValidator::new("flaky", move |_| {
        let first = c.fetch_add(1, Ordering::SeqCst) == 0;
        Ok(Verdict::new(
            "flaky",
            if first { Outcome::Fail } else { Outcome::Pass },
            "checked",
        ))
    });
    let mut runner = Runner::builder(
        driver,
        Arc::new(SimClock::new(START)),
        Arc::new(MemoryJournal::new()),
    )
    .validator(flaky)
    .command_at(
        START.plus(Duration::from_secs(3600)),
        shipcore::engine::Command::Retry,
    )
    .build();
    let report = runner.start(spec(canary_plan(2, "flaky"))).await.unwrap();
    assert_eq!(report.status.phase, Phase::Succeeded, "{:?}", report.status);
    let record = DeploymentRecord::from_report(&report, &RecordMeta::default()).unwrap();
    assert_eq!(
        (record.status, record.attempts),
        (DeploymentStatus::Success, 2)
    );
    assert!(
        record.rollback.is_none(),
        "the final attempt did not roll back"
    );
    let flaky = &record.validation.validators[0];
    assert_eq!(
        (flaky.passed, flaky.failed),
        (6, 0),
        "only the final attempt is summarized"
    );
    assert_eq!(
        record.deployed_at, "2024-01-15T14:30:00Z",
        "deployedAt is the first start"
    );
    assert!(record.duration_ms > 3_600_000);
}

/// Runs a canary whose analysis fails, with `policy`, and an operator's abort scheduled at
/// `abort` (none: no abort). Returns the report and the record rebuilt from the journal.
async fn failing_canary(
    policy: shipcore::engine::FailurePolicy,
    abort: Option<Timestamp>,
) -> (RunReport, DeploymentRecord) {
    let driver = FakeDriver::with_stable(Capabilities::ALL, &v1(), 2);
    let mut s = spec(canary_plan(2, "bad"));
    s.failure_policy = policy;
    let journal = Arc::new(MemoryJournal::new());
    let mut builder = Runner::builder(driver, Arc::new(SimClock::new(START)), journal.clone())
        .validator(FnValidator::constant("bad", Outcome::Fail));
    if let Some(at) = abort {
        builder = builder.command_at(at, shipcore::engine::Command::Abort);
    }
    let report = builder.build().start(s).await.unwrap();
    let record = DeploymentRecord::from_journal(&*journal, &RecordMeta::default())
        .await
        .unwrap();
    (report, record)
}

/// When the analysis fails, on the simulated clock.
fn failed_at(report: &RunReport) -> Timestamp {
    report
        .events
        .iter()
        .find(|e| matches!(e.kind, shipcore::engine::EventKind::Failed { .. }))
        .unwrap()
        .at
}

#[tokio::test]
async fn an_abort_at_the_instant_an_analysis_fails_is_classified_by_the_engines_cause() {
    use shipcore::engine::{FailurePolicy, RollbackCause};
    // The analysis fails first and rolls back; the abort at the same instant is refused.
    let (alone, _) = failing_canary(FailurePolicy::Rollback, None).await;
    let t = failed_at(&alone);
    let (report, from_journal) = failing_canary(FailurePolicy::Rollback, Some(t)).await;
    assert_eq!(failed_at(&report), t, "same instant");
    assert_eq!(report.rollback_causes, [RollbackCause::Analysis]);
    let from_report = DeploymentRecord::from_report(&report, &RecordMeta::default()).unwrap();
    for record in [&from_journal, &from_report] {
        assert_eq!(record.status, DeploymentStatus::RolledBack);
        assert_eq!(
            record.rollback.as_ref().unwrap().trigger,
            RollbackTrigger::Automatic
        );
    }

    // Frozen by the failure, then aborted at that instant: the operator rolled it back.
    let (report, from_journal) = failing_canary(FailurePolicy::Freeze, Some(t)).await;
    assert_eq!(failed_at(&report), t, "same instant");
    assert_eq!(report.rollback_causes, [RollbackCause::Operator]);
    let from_report = DeploymentRecord::from_report(&report, &RecordMeta::default()).unwrap();
    for record in [&from_journal, &from_report] {
        assert_eq!(record.status, DeploymentStatus::Aborted);
        assert_eq!(
            record.rollback.as_ref().unwrap().trigger,
            RollbackTrigger::Operator
        );
    }
}
