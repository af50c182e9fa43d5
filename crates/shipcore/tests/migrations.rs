//! Migration steps through the runner (issue 17): expand before traffic with the stable
//! judged right after it, contract after promotion and monitoring, a breaking expand that
//! freezes before the candidate gets traffic, a failed migration recorded as its own
//! rollback cause, a migrator that cannot connect retried, a crash mid-migration resumed
//! without applying anything twice, and plans that put a migration in the wrong place.
#![allow(clippy::unwrap_used)]

mod common;

use async_trait::async_trait;
use common::*;
use shipcore::clock::SimClock;
use shipcore::driver::Capabilities;
use shipcore::engine::{Command, EventKind, Phase, RollbackCause, RunError, Runner};
use shipcore::journal::{Journal, MemoryJournal};
use shipcore::migrate::{MigrationPhase, Migrator};
use shipcore::model::{Action, AnalysisPolicy, AnalysisStep, Plan, Role, Step};
use shipcore::notify::{Notification, Notifier, NotifyError};
use shipcore::record::{DeploymentRecord, RecordMeta};
use shipcore::testing::MemoryMigrator;
use shipcore::time::Timestamp;
use shipcore::validator::{Outcome, Verdict};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const EXPAND: MigrationPhase = MigrationPhase::Expand;
const CONTRACT: MigrationPhase = MigrationPhase::Contract;

fn migrate(phase: MigrationPhase) -> Step {
    Step::Migrate {
        migrator: "db".into(),
        phase,
    }
}

fn analysis(validator: &str) -> Step {
    Step::Analysis(AnalysisStep {
        validators: vec![validator.into()],
        policy: AnalysisPolicy::every(Duration::from_secs(60), 2),
    })
}

/// A canary with an expand before the candidate is deployed, monitoring after the
/// promotion and the contract after the stable's retirement.
fn plan() -> Plan {
    Plan {
        strategy: "canary".into(),
        replicas: 2,
        steps: vec![
            migrate(EXPAND),
            Step::Scale {
                role: Role::Candidate,
                replicas: 2,
            },
            Step::SetWeight { percent: 50 },
            analysis("candidate"),
            Step::Promote,
            analysis("candidate"),
            Step::Retire {
                role: Role::Stable,
                after: Duration::from_secs(30),
            },
            migrate(CONTRACT),
        ],
    }
}

/// Health of the stable: broken once migration `breaking` is applied.
fn stable_health(db: &Arc<MemoryMigrator>, breaking: &'static str) -> Arc<FnValidator> {
    let db = db.clone();
    FnValidator::new("stable-health", move |_| {
        let outcome = if db.is_applied(breaking) {
            Outcome::Fail
        } else {
            Outcome::Pass
        };
        Ok(Verdict::new("stable-health", outcome, "GET /users"))
    })
}

#[derive(Default)]
struct Told(Mutex<Vec<Notification>>);

#[async_trait]
impl Notifier for Told {
    async fn notify(&self, n: &Notification) -> Result<(), NotifyError> {
        self.0.lock().unwrap().push(n.clone());
        Ok(())
    }
}

fn runner(
    driver: Arc<FakeDriver>,
    db: &Arc<MemoryMigrator>,
    journal: Arc<dyn Journal>,
) -> shipcore::engine::RunnerBuilder {
    Runner::builder(driver, Arc::new(SimClock::new(Timestamp::ZERO)), journal)
        .migrator(db.clone())
        .validator(FnValidator::constant("candidate", Outcome::Pass))
}

fn spec_with_health(plan: Plan) -> shipcore::engine::RolloutSpec {
    let mut s = spec(plan);
    s.health_validators = vec!["stable-health".into()];
    s
}

/// Runs `plan()` with `db` on `d`, the stable staying healthy whatever is applied.
async fn run_healthy(
    d: &Arc<FakeDriver>,
    db: &Arc<MemoryMigrator>,
    journal: Arc<dyn Journal>,
) -> shipcore::engine::RunReport {
    let mut r = runner(d.clone(), db, journal)
        .validator(stable_health(db, "never"))
        .build();
    r.start(spec_with_health(plan())).await.unwrap()
}

/// Index of the first event matching `pred`.
fn position(events: &[shipcore::engine::Event], pred: impl Fn(&EventKind) -> bool) -> usize {
    events
        .iter()
        .position(|e| pred(&e.kind))
        .expect("no such event")
}

#[tokio::test]
async fn expand_runs_before_traffic_and_contract_after_monitoring_and_retirement() {
    let d = FakeDriver::with_stable(Capabilities::ALL, &v1(), 2);
    let db = Arc::new(
        MemoryMigrator::new("db")
            .migration("0001_add_email", EXPAND)
            .migration("0002_drop_legacy_name", CONTRACT),
    );
    let journal = Arc::new(MemoryJournal::new());
    let report = run_healthy(&d, &db, journal.clone()).await;
    assert_eq!(report.status.phase, Phase::Succeeded, "{:?}", report.status);
    assert_eq!(db.runs_of("0001_add_email"), 1);
    assert_eq!(db.runs_of("0002_drop_legacy_name"), 1);

    let ev = &report.events;
    let expand = position(
        ev,
        |k| matches!(k, EventKind::Migrated(m) if m.phase == EXPAND),
    );
    let stable_judged = position(
        ev,
        |k| matches!(k, EventKind::AnalysisCompleted { scope: shipcore::engine::AnalysisScope::StableAfterMigration { step: 0 }, message, .. } if message.contains("new schema")),
    );
    let first_route = position(
        ev,
        |k| matches!(k, EventKind::ActionRequested { action, .. } if matches!(**action, Action::Route { .. })),
    );
    let first_deploy = position(
        ev,
        |k| matches!(k, EventKind::ActionRequested { action, .. } if matches!(**action, Action::Deploy { .. })),
    );
    assert!(expand < stable_judged && stable_judged < first_deploy && first_deploy < first_route);
    let retire = position(
        ev,
        |k| matches!(k, EventKind::ActionRequested { action, .. } if matches!(**action, Action::Retire { .. })),
    );
    let contract = position(
        ev,
        |k| matches!(k, EventKind::Migrated(m) if m.phase == CONTRACT),
    );
    assert!(retire < contract, "contract after the stable is retired");

    // The record lists both, and the report says a rollback would not undo them.
    let record = DeploymentRecord::from_journal(journal.as_ref(), &RecordMeta::default())
        .await
        .unwrap();
    let ids: Vec<(&str, MigrationPhase, bool)> = record
        .migrations
        .iter()
        .map(|m| (m.id.as_str(), m.phase, m.applied()))
        .collect();
    assert_eq!(
        ids,
        [
            ("0001_add_email", EXPAND, true),
            ("0002_drop_legacy_name", CONTRACT, true)
        ]
    );
    let md = shipcore::record::ship_report(&record, None);
    assert!(md.contains("## Migrations"), "{md}");
    assert!(md.contains("| 0001_add_email | db | expand |"), "{md}");
    assert!(md.contains("not undone by a rollback"), "{md}");
    let html = shipcore::record::html::render_report(
        &record,
        &report.events,
        &shipcore::record::html::ReportOptions::default(),
    );
    assert!(html.contains(r#"<section id="migrations">"#), "{html}");
    assert!(html.contains("<td>0002_drop_legacy_name</td><td>db</td><td>contract</td>"));
    // The runbook marks both steps as not undone by a rollback.
    let runbook = shipcore::record::runbook(&spec_with_health(plan()), &Capabilities::ALL);
    assert!(
        runbook.contains("Not undone by a rollback: the schema migrations of step 1 (db, expand), step 8 (db, contract)"),
        "{runbook}"
    );
}

#[test]
fn with_expand_and_with_contract_place_the_steps_where_validation_wants_them() {
    use shipcore::model::Monitoring;
    let base = Plan {
        strategy: "canary".into(),
        replicas: 2,
        steps: plan().steps[1..7].to_vec(),
    };
    let monitoring = Monitoring::new(&["candidate"], Duration::from_secs(600))
        .to_step()
        .unwrap();
    let placed = base
        .with_expand("db")
        .with_contract("db")
        .with_monitoring(monitoring);
    placed.validate(&Capabilities::ALL).unwrap();
    assert_eq!(placed.steps[0], migrate(EXPAND));
    assert_eq!(placed.steps.last(), Some(&migrate(CONTRACT)));
}

#[tokio::test]
async fn a_breaking_expand_freezes_before_the_candidate_gets_traffic_and_tells_people() {
    let d = FakeDriver::with_stable(Capabilities::ALL, &v1(), 2);
    let db = Arc::new(MemoryMigrator::new("db").migration("0001_drop_name", EXPAND));
    let told = Arc::new(Told::default());
    let mut r = runner(d.clone(), &db, Arc::new(MemoryJournal::new()))
        .validator(stable_health(&db, "0001_drop_name"))
        .notifier(told.clone())
        .build();
    // The rollback policy is the default: a broken stable must freeze all the same.
    let report = r.start(spec_with_health(plan())).await.unwrap();
    assert_eq!(report.status.phase, Phase::Frozen, "{:?}", report.status);
    let reason = report.status.reason.clone().unwrap();
    assert!(
        reason.contains("not backward compatible") && reason.contains("steps[0]"),
        "{reason}"
    );
    // Nothing changed on the platform: no deploy, no route, no rollback.
    assert!(d.actions().is_empty(), "{:?}", d.actions());
    assert!(!report
        .events
        .iter()
        .any(|e| matches!(e.kind, EventKind::RollbackStarted { .. })));
    // Judged as often as a rollback's verification before giving up.
    let checks = report
        .events
        .iter()
        .filter(|e| {
            matches!(
                e.kind,
                EventKind::Measured {
                    scope: shipcore::engine::AnalysisScope::StableAfterMigration { .. },
                    ..
                }
            )
        })
        .count();
    assert_eq!(checks, 3);
    let told = told.0.lock().unwrap();
    assert!(
        told.iter().any(|n| matches!(n, Notification::Frozen { reason, .. } if reason.contains("not backward compatible"))),
        "{told:?}"
    );
}

#[tokio::test]
async fn retry_after_fixing_the_schema_rechecks_stable_without_applying_again() {
    let d = FakeDriver::with_stable(Capabilities::ALL, &v1(), 2);
    let db = Arc::new(MemoryMigrator::new("db").migration("0001_drop_name", EXPAND));
    let fixed = Arc::new(Mutex::new(false));
    let f = fixed.clone();
    let db2 = db.clone();
    let health = FnValidator::new("stable-health", move |_| {
        let broken = db2.is_applied("0001_drop_name") && !*f.lock().unwrap();
        let outcome = if broken { Outcome::Fail } else { Outcome::Pass };
        Ok(Verdict::new("stable-health", outcome, "GET /users"))
    });
    let journal = Arc::new(MemoryJournal::new());
    let mut r = runner(d.clone(), &db, journal.clone())
        .validator(health.clone())
        .build();
    let frozen = r.start(spec_with_health(plan())).await.unwrap();
    assert_eq!(frozen.status.phase, Phase::Frozen);
    // A person fixes the schema by hand and retries: a new runner resumes with the command.
    *fixed.lock().unwrap() = true;
    let mut r2 = runner(d.clone(), &db, journal)
        .validator(health)
        .command_at(Timestamp(0), Command::Retry)
        .build();
    let report = r2.resume().await.unwrap();
    assert_eq!(report.status.phase, Phase::Succeeded, "{:?}", report.status);
    assert_eq!(
        db.runs_of("0001_drop_name"),
        1,
        "applied once, not again on retry"
    );
}

#[tokio::test]
async fn a_failed_migration_rolls_back_as_a_migration_failure_and_the_record_says_so() {
    let d = FakeDriver::with_stable(Capabilities::ALL, &v1(), 2);
    let db = Arc::new(
        MemoryMigrator::new("db")
            .migration("0001_add_email", EXPAND)
            .failing(
                "0002_add_index",
                EXPAND,
                "relation \"users\" does not exist",
            ),
    );
    let journal = Arc::new(MemoryJournal::new());
    let report = run_healthy(&d, &db, journal.clone()).await;
    assert_eq!(
        report.status.phase,
        Phase::RolledBack,
        "{:?}",
        report.status
    );
    assert_eq!(report.rollback_causes, [RollbackCause::Migration]);
    let reason = report.status.reason.unwrap();
    assert!(
        reason.contains("expand migration 0002_add_index (db) failed")
            && reason.contains("does not exist")
            && reason.contains("the 1 migration(s) before it stay applied"),
        "{reason}"
    );
    // Nothing was routed to the candidate.
    assert!(!d
        .actions()
        .iter()
        .any(|a| matches!(a, Action::Route { weights } if weights.0.iter().any(|(r, w)| r.as_str() == "web-v2" && *w > 0))));
    let record = DeploymentRecord::from_journal(journal.as_ref(), &RecordMeta::default())
        .await
        .unwrap();
    let m = &record.migrations;
    assert_eq!(m.len(), 2);
    assert!(m[0].applied());
    assert_eq!(m[1].outcome, "failed");
    assert!(m[1].error.as_deref().unwrap().contains("does not exist"));
    let rb = record.rollback.unwrap();
    assert!(rb.reason.contains("0002_add_index"), "{}", rb.reason);
}

#[tokio::test]
async fn a_migrator_that_cannot_connect_is_retried_with_backoff() {
    let d = FakeDriver::with_stable(Capabilities::ALL, &v1(), 2);
    let db = Arc::new(MemoryMigrator::new("db").migration("0001_add_email", EXPAND));
    db.unreachable_for(2);
    let report = run_healthy(&d, &db, Arc::new(MemoryJournal::new())).await;
    assert_eq!(report.status.phase, Phase::Succeeded, "{:?}", report.status);
    let retried = report
        .events
        .iter()
        .filter(|e| {
            matches!(
                e.kind,
                EventKind::MigratorFailed {
                    will_retry: true,
                    ..
                }
            )
        })
        .count();
    assert_eq!(retried, 2);
    assert_eq!(db.runs_of("0001_add_email"), 1);
}

#[tokio::test]
async fn a_migrator_that_never_connects_fails_the_rollout_after_the_retries() {
    let d = FakeDriver::with_stable(Capabilities::ALL, &v1(), 2);
    let db = Arc::new(MemoryMigrator::new("db").migration("0001_add_email", EXPAND));
    db.unreachable_for(u32::MAX);
    let report = run_healthy(&d, &db, Arc::new(MemoryJournal::new())).await;
    assert_eq!(
        report.status.phase,
        Phase::RolledBack,
        "{:?}",
        report.status
    );
    assert_eq!(report.rollback_causes, [RollbackCause::Migration]);
    let reason = report.status.reason.unwrap();
    assert!(
        reason.contains("could not run after") && reason.contains("connection refused"),
        "{reason}"
    );
    assert_eq!(db.runs_of("0001_add_email"), 0);
}

/// A journal that takes entries until it holds `limit`, then fails: the process "dies"
/// right after the migration request was journaled and performed, before its answer was.
struct CutJournal {
    inner: MemoryJournal,
    limit: usize,
}

#[async_trait]
impl Journal for CutJournal {
    async fn append(
        &self,
        payload: &serde_json::Value,
    ) -> Result<u64, shipcore::journal::JournalError> {
        if self.inner.read_all().await?.len() >= self.limit {
            return Err(shipcore::journal::JournalError::Codec("crashed".into()));
        }
        self.inner.append(payload).await
    }
    async fn read_all(
        &self,
    ) -> Result<Vec<shipcore::journal::Entry>, shipcore::journal::JournalError> {
        self.inner.read_all().await
    }
}

#[tokio::test]
async fn a_crash_after_the_migration_ran_resumes_without_applying_it_twice() {
    let d = FakeDriver::with_stable(Capabilities::ALL, &v1(), 2);
    let db = Arc::new(MemoryMigrator::new("db").migration("0001_add_email", EXPAND));
    // Entry 1 is the start; its effects ask for the migration, which runs; its answer is
    // the second append, refused: the runner stops as a killed process would.
    let cut = Arc::new(CutJournal {
        inner: MemoryJournal::new(),
        limit: 1,
    });
    let mut r = runner(d.clone(), &db, cut.clone())
        .validator(stable_health(&db, "never"))
        .build();
    let err = r.start(spec_with_health(plan())).await.unwrap_err();
    assert!(matches!(err, RunError::Journal(_)), "{err}");
    assert_eq!(db.runs_of("0001_add_email"), 1);
    assert!(db.is_applied("0001_add_email"));

    // A new process resumes from the journal: the request is in flight again, and the
    // migrator finds nothing pending.
    let copy = Arc::new(MemoryJournal::new());
    for e in cut.read_all().await.unwrap() {
        copy.append(&e.payload).await.unwrap();
    }
    let mut resumed = runner(d.clone(), &db, copy.clone())
        .validator(stable_health(&db, "never"))
        .build();
    let report = resumed.resume().await.unwrap();
    assert_eq!(report.status.phase, Phase::Succeeded, "{:?}", report.status);
    assert_eq!(db.runs_of("0001_add_email"), 1, "never applied twice");
}

#[test]
fn plans_that_put_a_migration_in_the_wrong_place_are_refused_naming_the_step() {
    let caps = Capabilities::ALL;
    let mut expand_late = plan();
    expand_late.steps.remove(0);
    expand_late.steps.insert(3, migrate(EXPAND));
    let e = expand_late.validate(&caps).unwrap_err().to_string();
    assert!(
        e.contains("steps[3].phase") && e.contains("steps[1] (set candidate weight 50%)"),
        "{e}"
    );

    let mut contract_early = plan();
    contract_early.steps.pop();
    contract_early.steps.insert(2, migrate(CONTRACT));
    let e = contract_early.validate(&caps).unwrap_err().to_string();
    assert!(
        e.contains("steps[2].phase") && e.contains("only after the promotion"),
        "{e}"
    );

    let mut contract_before_monitoring = plan();
    contract_before_monitoring.steps.pop();
    contract_before_monitoring
        .steps
        .insert(5, migrate(CONTRACT));
    let e = contract_before_monitoring
        .validate(&caps)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("steps[5].phase") && e.contains("steps[6] (analysis [candidate]"),
        "{e}"
    );

    let mut unnamed = plan();
    unnamed.steps[0] = Step::Migrate {
        migrator: " ".into(),
        phase: EXPAND,
    };
    let e = unnamed.validate(&caps).unwrap_err().to_string();
    assert!(e.contains("steps[0].migrator"), "{e}");

    assert!(plan().validate(&caps).is_ok());
}

#[tokio::test]
async fn a_plan_naming_an_unregistered_migrator_is_refused_before_anything_runs() {
    let d = FakeDriver::with_stable(Capabilities::ALL, &v1(), 2);
    let db = Arc::new(MemoryMigrator::new("other"));
    let mut r = runner(d.clone(), &db, Arc::new(MemoryJournal::new()))
        .validator(stable_health(&db, "never"))
        .build();
    let err = r.start(spec_with_health(plan())).await.unwrap_err();
    assert!(
        matches!(&err, RunError::UnknownMigrator { name, known } if name == "db" && known == "other"),
        "{err}"
    );
    assert!(
        err.to_string()
            .contains("register it with EngineBuilder::migrator"),
        "{err}"
    );
    assert!(d.actions().is_empty());
}

#[test]
fn migration_steps_read_back_from_json_as_written() {
    let step: Step =
        serde_json::from_str(r#"{"step": "migrate", "migrator": "db", "phase": "expand"}"#)
            .unwrap();
    assert_eq!(step, migrate(EXPAND));
    assert_eq!(step.describe(), "migrate db: expand");
    let bad =
        serde_json::from_str::<Step>(r#"{"step": "migrate", "migrator": "db", "phase": "later"}"#)
            .unwrap_err()
            .to_string();
    assert!(bad.contains("later") && bad.contains("expand"), "{bad}");
}

#[tokio::test]
async fn the_memory_migrator_keeps_the_migrator_contract() {
    let db = MemoryMigrator::new("db")
        .migration("a", EXPAND)
        .migration("b", CONTRACT);
    assert_eq!(db.pending(EXPAND).await.unwrap().len(), 1);
    db.apply(EXPAND).await.unwrap();
    assert!(db.pending(EXPAND).await.unwrap().is_empty());
    assert_eq!(db.applied().await.unwrap(), ["a"]);
    assert_eq!(db.pending(CONTRACT).await.unwrap()[0].id, "b");
}

#[test]
fn a_spec_whose_policy_defers_the_contract_refuses_a_plan_with_one() {
    let mut s = spec_with_health(plan());
    assert!(s.validate().is_ok());
    s.contract = shipcore::model::ContractPolicy::LaterRollout;
    let e = s.validate().unwrap_err().to_string();
    assert!(
        e.contains("plan.steps[7].phase") && e.contains("later rollout"),
        "{e}"
    );
    s.plan.steps.pop();
    assert!(s.validate().is_ok(), "the expand alone is fine");
    // The default is not written, so specs (and journals) read as before.
    let json = serde_json::to_value(spec_with_health(plan())).unwrap();
    assert!(json.get("contract").is_none());
    let mut written = json.as_object().unwrap().clone();
    written.insert("contract".into(), "later_rollout".into());
    let deferred: shipcore::engine::RolloutSpec = serde_json::from_value(written.into()).unwrap();
    assert_eq!(
        deferred.contract,
        shipcore::model::ContractPolicy::LaterRollout
    );
}
