//! Whole rollouts with migration steps against a real PostgreSQL and the real demo
//! service (v1 reads `users(id, name)`, v2 also `email`), on the simulated fleet and clock:
//!
//! - a good expand (add a nullable column), then a canary of v2: v1 keeps answering
//!   through the migration (a load on it sees no failure), v2 is promoted, and the contract
//!   runs after the monitoring window and the stable's retirement;
//! - a breaking expand (drop the column v1 reads): v1's smoke test fails right after it,
//!   and the rollout freezes with that reason before v2 gets any traffic;
//! - a migration that fails midway: its transaction leaves nothing, the rollout fails
//!   cleanly as a migration failure, and the record says so;
//! - `kill -9` of an engine process in the middle of a migration, then a resume: the
//!   migration's transaction died with the process, the resume applies it exactly once.
//!
//! Skips without SHIPCORE_PG_URL unless SHIPCORE_E2E=1 (scripts/ci/e2e-migrations.sh).
#![allow(clippy::unwrap_used)]

mod common;

use async_trait::async_trait;
use common::{test_db, write_files, TestDb};
use demo_service::{config::Config, server};
use shipcore::engine::{
    AnalysisScope, EventKind, Phase, RollbackCause, RolloutSpec, RunReport, Runner,
};
use shipcore::journal::FileJournal;
use shipcore::migrate::MigrationPhase;
use shipcore::model::{Action, AnalysisPolicy, AnalysisStep, Plan, Revision, Role, Step, Target};
use shipcore::record::{DeploymentRecord, RecordMeta};
use shipcore::testing::SimWorld;
use shipcore::validator::{Outcome, ValidationContext, Validator, ValidatorError, Verdict};
use shipcore_migrate_postgres::PgDirConfig;
use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

fn v1() -> Revision {
    Revision::new("web-v1", "1.0.0".parse().unwrap(), "demo:1")
}
fn v2() -> Revision {
    Revision::new("web-v2", "2.0.0".parse().unwrap(), "demo:2")
}

/// The schema v1 runs on, and a column nobody reads any more (the contract drops it).
const V1_SCHEMA: &str =
    "CREATE TABLE users (id bigint PRIMARY KEY, name text NOT NULL, nickname text); \
     INSERT INTO users (id, name) VALUES (1, 'ada'), (2, 'grace');";

/// Starts the demo service at `version` on the test's database; its `/api/users` URL.
async fn service(version: &str, db: &TestDb) -> String {
    let cfg = Config {
        port: 0,
        version: version.into(),
        database_url: Some(db.url.clone()),
        ..Config::default()
    };
    let listener = server::bind(&cfg).await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(server::serve(listener, Arc::new(server::State::new(cfg))));
    format!("http://{addr}/api/users")
}

/// A smoke test of `/api/users` on the revision judged (the stable after an expand, the
/// candidate in an analysis): real HTTP to the real service.
struct UsersSmoke {
    urls: HashMap<String, String>,
    http: reqwest::Client,
}

#[async_trait]
impl Validator for UsersSmoke {
    fn name(&self) -> &str {
        "users-smoke"
    }
    async fn validate(&self, ctx: &ValidationContext) -> Result<Verdict, ValidatorError> {
        let url = &self.urls[ctx.candidate.id.as_str()];
        let resp = self
            .http
            .get(url)
            .send()
            .await
            .map_err(|e| ValidatorError {
                validator: "users-smoke".into(),
                message: e.to_string(),
            })?;
        let status = resp.status().as_u16();
        let body = resp.text().await.unwrap_or_default();
        let outcome = if status == 200 {
            Outcome::Pass
        } else {
            Outcome::Fail
        };
        Ok(Verdict::new(
            "users-smoke",
            outcome,
            format!("{} GET /api/users: {status} {body}", ctx.candidate.id),
        ))
    }
}

/// Requests v1 every few milliseconds until stopped; counts answers that are not 200.
struct Load {
    stop: Arc<AtomicBool>,
    ok: Arc<AtomicU64>,
    failed: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl Load {
    fn start(url: String) -> Load {
        let (stop, ok, failed) = (
            Arc::new(AtomicBool::new(false)),
            Arc::new(AtomicU64::new(0)),
            Arc::new(AtomicU64::new(0)),
        );
        let (s, o, f) = (stop.clone(), ok.clone(), failed.clone());
        let task = tokio::spawn(async move {
            let http = reqwest::Client::new();
            while !s.load(Ordering::SeqCst) {
                match http.get(&url).send().await {
                    Ok(r) if r.status().as_u16() == 200 => o.fetch_add(1, Ordering::SeqCst),
                    _ => f.fetch_add(1, Ordering::SeqCst),
                };
                tokio::time::sleep(Duration::from_millis(3)).await;
            }
        });
        Load {
            stop,
            ok,
            failed,
            task,
        }
    }
    async fn stop(self) -> (u64, u64) {
        self.stop.store(true, Ordering::SeqCst);
        self.task.await.unwrap();
        (
            self.ok.load(Ordering::SeqCst),
            self.failed.load(Ordering::SeqCst),
        )
    }
}

fn analysis(count: u32) -> Step {
    Step::Analysis(AnalysisStep {
        validators: vec!["users-smoke".into()],
        policy: AnalysisPolicy::every(Duration::from_secs(60), count),
    })
}

/// Expand, a 50% canary judged by the smoke test, promotion, monitoring, the stable's
/// retirement, contract.
fn plan() -> Plan {
    Plan {
        strategy: "canary".into(),
        replicas: 2,
        steps: vec![
            Step::Scale {
                role: Role::Candidate,
                replicas: 2,
            },
            Step::SetWeight { percent: 50 },
            analysis(2),
            Step::Promote,
            analysis(3),
            Step::Retire {
                role: Role::Stable,
                after: Duration::from_secs(30),
            },
        ],
    }
    .with_expand("db")
    .with_contract("db")
}

fn spec() -> RolloutSpec {
    let mut s = RolloutSpec::new(
        "web-2",
        Target::new("web", "production"),
        Some(v1()),
        v2(),
        plan(),
    );
    s.health_validators = vec!["users-smoke".into()];
    s
}

/// Runs the rollout on a simulated fleet with the directory migrator on `db` and the
/// smoke test against the two real services; returns the report and the journal's record.
async fn run(db: &TestDb, migrations: &Path, journal: &Path) -> (RunReport, DeploymentRecord) {
    let urls = HashMap::from([
        ("web-v1".to_string(), service("1.0.0", db).await),
        ("web-v2".to_string(), service("2.0.0", db).await),
    ]);
    let world = SimWorld::new(7);
    world
        .driver
        .seed_stable(&Target::new("web", "production"), &v1(), 2);
    let migrator = PgDirConfig::new(&db.url, migrations)
        .name("db")
        .build()
        .unwrap();
    let journal = Arc::new(FileJournal::open(journal).unwrap());
    let mut runner = Runner::builder(world.driver_arc(), world.clock_arc(), journal.clone())
        .migrator(Arc::new(migrator))
        .validator(Arc::new(UsersSmoke {
            urls,
            http: reqwest::Client::new(),
        }))
        .build();
    let report = runner.start(spec()).await.unwrap();
    let record = DeploymentRecord::from_journal(journal.as_ref(), &RecordMeta::new("ci"))
        .await
        .unwrap();
    (report, record)
}

fn position(report: &RunReport, pred: impl Fn(&EventKind) -> bool) -> Option<usize> {
    report.events.iter().position(|e| pred(&e.kind))
}

fn routes_to_candidate(report: &RunReport) -> Option<usize> {
    position(report, |k| {
        matches!(k, EventKind::ActionRequested { action, .. }
            if matches!(&**action, Action::Route { weights }
                if weights.0.iter().any(|(r, w)| r.as_str() == "web-v2" && *w > 0)))
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_good_expand_keeps_the_stable_serving_and_the_contract_runs_after_monitoring() {
    let Some(db) = test_db().await else { return };
    db.client().await.batch_execute(V1_SCHEMA).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    write_files(
        &dir.path().join("m"),
        &[
            (
                "expand/0002_add_email.sql",
                "ALTER TABLE users ADD COLUMN email text;",
            ),
            (
                "contract/0003_drop_nickname.sql",
                "ALTER TABLE users DROP COLUMN nickname;",
            ),
        ],
    );
    // v1 is under load from before the migration to the end of the rollout.
    let load = Load::start(service("1.0.0", &db).await);
    tokio::time::sleep(Duration::from_millis(50)).await;
    let (report, record) = run(&db, &dir.path().join("m"), &dir.path().join("j")).await;
    let (ok, failed) = load.stop().await;
    assert_eq!(report.status.phase, Phase::Succeeded, "{:?}", report.status);
    assert_eq!(failed, 0, "v1 answered {ok} requests and failed {failed}");
    assert!(ok > 10, "the load ran: {ok} requests");
    assert!(db.has_column("users", "email").await);
    assert!(!db.has_column("users", "nickname").await);

    let expand = position(
        &report,
        |k| matches!(k, EventKind::Migrated(m) if m.phase == MigrationPhase::Expand),
    )
    .unwrap();
    let stable_ok = position(&report, |k| {
        matches!(
            k,
            EventKind::AnalysisCompleted {
                scope: AnalysisScope::StableAfterMigration { .. },
                ..
            }
        )
    })
    .unwrap();
    let traffic = routes_to_candidate(&report).unwrap();
    let contract = position(
        &report,
        |k| matches!(k, EventKind::Migrated(m) if m.phase == MigrationPhase::Contract),
    )
    .unwrap();
    let retire = position(&report, |k| {
        matches!(k, EventKind::ActionRequested { action, .. } if matches!(&**action, Action::Retire { .. }))
    })
    .unwrap();
    assert!(expand < stable_ok && stable_ok < traffic && traffic < retire && retire < contract);
    let applied: Vec<(&str, MigrationPhase, &str)> = record
        .migrations
        .iter()
        .map(|m| (m.id.as_str(), m.phase, m.outcome.as_str()))
        .collect();
    assert_eq!(
        applied,
        [
            ("0002_add_email", MigrationPhase::Expand, "applied"),
            ("0003_drop_nickname", MigrationPhase::Contract, "applied")
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_breaking_expand_freezes_before_the_candidate_gets_traffic() {
    let Some(db) = test_db().await else { return };
    db.client().await.batch_execute(V1_SCHEMA).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let m = dir.path().join("m");
    write_files(
        &m,
        &[
            // Breaks v1, which reads `name`; v2 would also break, but never gets traffic.
            (
                "expand/0002_drop_name.sql",
                "ALTER TABLE users DROP COLUMN name;",
            ),
            (
                "contract/0003_drop_nickname.sql",
                "ALTER TABLE users DROP COLUMN nickname;",
            ),
        ],
    );
    let (report, record) = run(&db, &m, &dir.path().join("j")).await;
    assert_eq!(report.status.phase, Phase::Frozen, "{:?}", report.status);
    let reason = report.status.reason.clone().unwrap();
    assert!(
        reason.contains("not backward compatible") && reason.contains("web-v1 GET /api/users: 500"),
        "{reason}"
    );
    assert_eq!(routes_to_candidate(&report), None, "no traffic to v2");
    assert!(
        !report
            .events
            .iter()
            .any(|e| matches!(e.kind, EventKind::RollbackStarted { .. })),
        "no rollback into the broken stable"
    );
    // The contract never ran; the record keeps the expand that broke the stable.
    assert!(db.has_column("users", "nickname").await);
    assert_eq!(record.migrations.len(), 1);
    assert_eq!(record.migrations[0].id, "0002_drop_name");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_migration_failing_midway_leaves_nothing_and_fails_the_rollout_as_a_migration_failure() {
    let Some(db) = test_db().await else { return };
    db.client().await.batch_execute(V1_SCHEMA).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let m = dir.path().join("m");
    write_files(
        &m,
        &[(
            "expand/0002_email_and_typo.sql",
            "ALTER TABLE users ADD COLUMN email text;\nUPDATE userz SET email = 'x';",
        )],
    );
    let (report, record) = run(&db, &m, &dir.path().join("j")).await;
    assert_eq!(
        report.status.phase,
        Phase::RolledBack,
        "{:?}",
        report.status
    );
    assert_eq!(report.rollback_causes, [RollbackCause::Migration]);
    let reason = report.status.reason.clone().unwrap();
    assert!(
        reason.contains("0002_email_and_typo") && reason.contains("userz"),
        "{reason}"
    );
    assert!(
        reason.contains("nothing of the phase was applied"),
        "{reason}"
    );
    // The file's transaction left nothing: the first statement's column is not there.
    assert!(!db.has_column("users", "email").await);
    assert_eq!(routes_to_candidate(&report), None);
    assert_eq!(record.migrations.len(), 1);
    assert_eq!(record.migrations[0].outcome, "failed");
    let rb = record.rollback.unwrap();
    assert!(rb.reason.contains("0002_email_and_typo"), "{}", rb.reason);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_a_migration_then_resume_applies_it_exactly_once() {
    let Some(db) = test_db().await else { return };
    db.client()
        .await
        .batch_execute(&format!(
            "{V1_SCHEMA} CREATE TABLE knobs (secs float8); INSERT INTO knobs VALUES (30);"
        ))
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    write_files(
        &dir.path().join("m"),
        &[(
            "expand/0002_add_email_slowly.sql",
            "ALTER TABLE users ADD COLUMN email text;\n\
             INSERT INTO knobs SELECT -1;\n\
             SELECT pg_sleep(secs) FROM knobs WHERE secs > 0;",
        )],
    );
    // The engine process: examples/migrating_rollout.rs, which `cargo test` builds.
    let engine = std::env::current_exe().unwrap();
    let engine = engine.parent().unwrap().parent().unwrap();
    let engine = engine.join("examples").join("migrating_rollout");
    let mut child = std::process::Command::new(&engine)
        .arg(&db.url)
        .arg(dir.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "cannot start {} (built by `cargo test -p shipcore-migrate-postgres`): {e}",
                engine.display()
            )
        });
    // Wait until the migration is running inside the database: its sleep is on the server.
    let admin = db.client().await;
    let mut running = false;
    for _ in 0..600 {
        let n: i64 = admin
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(secs)%' \
                 AND state = 'active' AND pid <> pg_backend_pid()",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        if n > 0 {
            running = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(running, "the child never reached the migration");
    std::process::Command::new("kill")
        .args(["-9", &child.id().to_string()])
        .status()
        .unwrap();
    let status = child.wait().unwrap();
    assert!(!status.success());
    // The server ends the dead session and rolls its transaction back: nothing applied.
    let mut gone = false;
    for _ in 0..200 {
        let n: i64 = admin
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(secs)%' \
                 AND pid <> pg_backend_pid()",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        if n == 0 {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(gone, "the killed session is still on the server");
    assert!(!db.has_column("users", "email").await);
    admin
        .batch_execute("UPDATE knobs SET secs = 0")
        .await
        .unwrap();

    // Resume from the journal in this process.
    let world = SimWorld::new(7);
    world
        .driver
        .seed_stable(&Target::new("web", "production"), &v1(), 2);
    let migrator = PgDirConfig::new(&db.url, dir.path().join("m"))
        .name("db")
        .build()
        .unwrap();
    let journal = Arc::new(FileJournal::open(dir.path().join("j")).unwrap());
    let mut runner = Runner::builder(world.driver_arc(), world.clock_arc(), journal.clone())
        .migrator(Arc::new(migrator))
        .build();
    let report = runner.resume().await.unwrap();
    assert_eq!(report.status.phase, Phase::Succeeded, "{:?}", report.status);
    assert!(db.has_column("users", "email").await);
    // The file ran to its end once: one marker row, however many times it was started.
    let markers: i64 = admin
        .query_one("SELECT count(*) FROM knobs WHERE secs = -1", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(markers, 1);
    let record = DeploymentRecord::from_journal(journal.as_ref(), &RecordMeta::new("ci"))
        .await
        .unwrap();
    let applied: Vec<&str> = record
        .migrations
        .iter()
        .filter(|m| m.applied())
        .map(|m| m.id.as_str())
        .collect();
    assert_eq!(applied, ["0002_add_email_slowly"]);
}
