//! Schema migrations inside rollouts on Podman + Compose v2 behind HAProxy (issue 17): the
//! demo service's containers read a real PostgreSQL through its unix socket (the cluster's
//! directory bind-mounted at `/pgsock`, `DATABASE_URL=postgres://shipcore@%2Fpgsock:PORT/DB`),
//! the directory migrator applies the expand, and the stable is judged right after it by a
//! smoke test of `/api/users` on its own containers:
//!
//! - a good expand (add a nullable column), then a canary of v2: v1 keeps answering
//!   `/api/users` through the migration (a load through HAProxy sees no failure before v2
//!   gets traffic), v2 is promoted and is all that runs at the end;
//! - a breaking expand (drop the column v1 reads): v1's smoke test fails right after it and
//!   the rollout freezes before v2 gets any traffic.
//!
//! Runs only with SHIPCORE_E2E=1 and a cluster from scripts/ci/pg-cluster.sh
//! (SHIPCORE_PG_URL, SHIPCORE_PG_DIR; scripts/ci/e2e-compose.sh starts one); skipped otherwise.
#![allow(clippy::unwrap_used)]

mod support;

use async_trait::async_trait;
use shipcore::engine::{AnalysisResult, AnalysisScope, EventKind, Phase, RunReport};
use shipcore::migrate::MigrationPhase;
use shipcore::model::{Action, AnalysisPolicy, AnalysisStep, Target};
use shipcore::strategy::{Canary, CanaryStep, StrategyConfig};
use shipcore::validator::{Outcome, ValidationContext, Validator, ValidatorError, Verdict};
use shipcore_driver_compose::ComposeDriver;
use shipcore_migrate_postgres::PgDirConfig;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::engine::{self, rev, Timeline};
use support::scenario::{only, Stack};
use support::{Env, Images, Project};

/// The schema v1 runs on.
const V1_SCHEMA: &str = "CREATE TABLE users (id bigint PRIMARY KEY, name text NOT NULL); \
     INSERT INTO users (id, name) VALUES (1, 'ada'), (2, 'grace');";

/// Where the cluster's socket directory is mounted in the containers.
const SOCKET_MOUNT: &str = "/pgsock";

/// The cluster of scripts/ci/pg-cluster.sh; panics (the tests run only with SHIPCORE_E2E=1)
/// when it is not configured.
struct Cluster {
    /// Superuser URL over TCP (for the test and the migrator, on the host).
    admin: String,
    /// Its data and socket directory (`-k DIR`).
    dir: PathBuf,
    port: u16,
}

fn cluster() -> Cluster {
    const HOW: &str = "start a cluster: eval \"$(bash scripts/ci/pg-cluster.sh start)\" (scripts/ci/e2e-compose.sh does)";
    let admin = std::env::var("SHIPCORE_PG_URL")
        .unwrap_or_else(|_| panic!("SHIPCORE_E2E=1 but SHIPCORE_PG_URL is not set; {HOW}"));
    let dir = std::env::var("SHIPCORE_PG_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| panic!("SHIPCORE_E2E=1 but SHIPCORE_PG_DIR is not set; {HOW}"));
    // postgres://user@host:PORT/db
    let port = admin
        .rsplit_once('@')
        .and_then(|(_, rest)| rest.split('/').next())
        .and_then(|hostport| hostport.rsplit_once(':'))
        .and_then(|(_, p)| p.parse().ok())
        .unwrap_or_else(|| panic!("no port in SHIPCORE_PG_URL={admin}"));
    let socket = dir.join(format!(".s.PGSQL.{port}"));
    assert!(
        socket.exists(),
        "no PostgreSQL socket at {} (SHIPCORE_PG_DIR); {HOW}",
        socket.display()
    );
    Cluster { admin, dir, port }
}

async fn connect(url: &str) -> tokio_postgres::Client {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|e| panic!("cannot connect to {url}: {e}"));
    tokio::spawn(conn);
    client
}

/// A database of the test's own on the cluster, with v1's schema; dropped on drop.
struct TestDb {
    /// Over TCP, for the host.
    url: String,
    /// Over the mounted socket directory, for the containers.
    container_url: String,
    admin: String,
    name: String,
}

impl TestDb {
    async fn new(c: &Cluster) -> TestDb {
        static N: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "compose_mig_{}_{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        );
        connect(&c.admin)
            .await
            .batch_execute(&format!("CREATE DATABASE \"{name}\""))
            .await
            .unwrap();
        let (base, _) = c.admin.rsplit_once('/').unwrap();
        let db = TestDb {
            url: format!("{base}/{name}"),
            container_url: format!(
                "postgres://shipcore@{}:{}/{name}",
                SOCKET_MOUNT.replace('/', "%2F"),
                c.port
            ),
            admin: c.admin.clone(),
            name,
        };
        connect(&db.url)
            .await
            .batch_execute(V1_SCHEMA)
            .await
            .unwrap();
        db
    }

    async fn has_column(&self, column: &str) -> bool {
        let row = connect(&self.url)
            .await
            .query_one(
                "SELECT count(*) FROM information_schema.columns \
                 WHERE table_name = 'users' AND column_name = $1",
                &[&column],
            )
            .await
            .unwrap();
        row.get::<_, i64>(0) == 1
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let (admin, name) = (self.admin.clone(), self.name.clone());
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                if let Ok((c, conn)) = tokio_postgres::connect(&admin, tokio_postgres::NoTls).await
                {
                    tokio::spawn(conn);
                    let _ = c
                        .batch_execute(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                        .await;
                }
            });
        })
        .join();
    }
}

/// The standard `web` service on `image`, plus the database: the cluster's socket
/// directory mounted at `/pgsock` and `DATABASE_URL` through it. Every revision service the
/// driver generates copies both.
fn web_with_db_yaml(image: &str, c: &Cluster, db: &TestDb) -> String {
    format!(
        "{}    environment:\n      DATABASE_URL: \"{}\"\n    volumes:\n      - \"{}:{SOCKET_MOUNT}\"\n",
        support::web_yaml(image, None),
        db.container_url,
        c.dir.display()
    )
}

/// A `Stack` (HAProxy, routed driver) whose compose project reaches `db`.
async fn stack(env: &Env, images: &Images, tag: &str, c: &Cluster, db: &TestDb) -> Stack {
    let project = Project::new(env, tag, &web_with_db_yaml(&images.v1, c, db));
    let proxy = support::haproxy(env, project.dir.path(), 12).await;
    let driver = Arc::new(
        ComposeDriver::new(project.config())
            .unwrap()
            .with_router(Arc::new(proxy.router())),
    );
    driver.validate().await.unwrap();
    Stack {
        driver,
        proxy,
        project,
        env: env.clone(),
        target: Target::new("web", "e2e"),
        t0: Instant::now(),
    }
}

fn http() -> reqwest::Client {
    // A new connection per request, as the other e2e loads: no reuse of a connection
    // HAProxy or a stopping container has closed.
    reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap()
}

/// `GET /api/users` at `addr`: status and body.
async fn get_users(http: &reqwest::Client, addr: SocketAddr) -> Result<(u16, String), String> {
    let resp = http
        .get(format!("http://{addr}/api/users"))
        .send()
        .await
        .map_err(|e| format!("GET http://{addr}/api/users: {e}"))?;
    let status = resp.status().as_u16();
    Ok((status, resp.text().await.unwrap_or_default()))
}

/// A smoke test of `/api/users` on every running container of the judged revision (the
/// stable after an expand, the candidate in an analysis), through its published port.
struct UsersSmoke {
    driver: Arc<ComposeDriver>,
    http: reqwest::Client,
}

#[async_trait]
impl Validator for UsersSmoke {
    fn name(&self) -> &str {
        "users-smoke"
    }
    async fn validate(&self, ctx: &ValidationContext) -> Result<Verdict, ValidatorError> {
        let err = |message: String| ValidatorError {
            validator: "users-smoke".into(),
            message,
        };
        let judged: Vec<(String, SocketAddr)> = self
            .driver
            .instances()
            .await
            .map_err(|e| err(e.to_string()))?
            .into_iter()
            .filter(|i| i.revision == ctx.candidate.id && i.state == "running")
            .filter_map(|i| i.addr.map(|a| (i.name, a)))
            .collect();
        if judged.is_empty() {
            return Ok(Verdict::new(
                "users-smoke",
                Outcome::Inconclusive,
                format!("no running container of {}", ctx.candidate.id),
            ));
        }
        let mut failed = Vec::new();
        for (container, addr) in &judged {
            let (status, body) = get_users(&self.http, *addr)
                .await
                .map_err(|e| err(format!("{container}: {e}")))?;
            if status != 200 {
                failed.push(format!("{container}: {status} {body}"));
            }
        }
        let id = &ctx.candidate.id;
        Ok(if failed.is_empty() {
            Verdict::new(
                "users-smoke",
                Outcome::Pass,
                format!("{id} GET /api/users: 200 on {} container(s)", judged.len()),
            )
        } else {
            Verdict::new(
                "users-smoke",
                Outcome::Fail,
                format!("{id} GET /api/users: {}", failed.join("; ")),
            )
        })
    }
}

/// One answer of the load: when, and `Ok(version)` for a 200 or `Err(what)`.
type Answer = (Instant, Result<String, String>);

/// `GET /api/users` through HAProxy every 10 ms until stopped; each answer with the instant
/// it came: `Ok(version)` for a 200, `Err(what)` otherwise.
struct UsersLoad {
    stop: Arc<AtomicBool>,
    log: Arc<Mutex<Vec<Answer>>>,
    task: tokio::task::JoinHandle<()>,
}

impl UsersLoad {
    fn start(addr: SocketAddr) -> UsersLoad {
        let stop = Arc::new(AtomicBool::new(false));
        let log = Arc::new(Mutex::new(Vec::new()));
        let (s, l) = (stop.clone(), log.clone());
        let task = tokio::spawn(async move {
            let http = http();
            while !s.load(Ordering::SeqCst) {
                let r = match get_users(&http, addr).await {
                    Ok((200, body)) => Ok(["1.0.0", "2.0.0"]
                        .into_iter()
                        .find(|v| body.contains(v))
                        .unwrap_or("other")
                        .to_string()),
                    Ok((status, body)) => Err(format!("{status} {body}")),
                    Err(e) => Err(e),
                };
                l.lock().unwrap().push((Instant::now(), r));
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        });
        UsersLoad { stop, log, task }
    }

    async fn stop(self) -> Vec<Answer> {
        self.stop.store(true, Ordering::SeqCst);
        self.task.await.unwrap();
        let log = self.log.lock().unwrap();
        log.clone()
    }
}

/// A canary of v2 at 50% judged by the smoke test, then 100%, after an expand of `db`; the
/// stable judged by the smoke test right after the expand.
fn strategy() -> StrategyConfig {
    StrategyConfig::Canary(Canary {
        steps: vec![
            CanaryStep::SetWeight(50),
            CanaryStep::Analysis(AnalysisStep {
                validators: vec!["users-smoke".into()],
                policy: AnalysisPolicy::every(Duration::from_secs(1), 3),
            }),
            CanaryStep::SetWeight(100),
        ],
        scale_down_delay: Duration::from_secs(2),
        ..Default::default()
    })
}

/// Writes `expand/<file>` with `sql` under `dir`; the migration directory.
fn migrations(dir: &Path, file: &str, sql: &str) -> PathBuf {
    let m = dir.join("migrations");
    std::fs::create_dir_all(m.join("expand")).unwrap();
    std::fs::write(m.join("expand").join(file), sql).unwrap();
    m
}

/// Seeds v1 x2 on `stack`, checks `/api/users` answers through HAProxy (the socket mount
/// works), then runs the canary of v2 with the expand in `migration_dir`.
async fn run(
    stack: &Stack,
    images: &Images,
    db: &TestDb,
    migration_dir: &Path,
    load: Option<SocketAddr>,
) -> (RunReport, Timeline, Vec<Answer>) {
    let v1 = rev("v1", "1.0.0", &images.v1);
    let v2 = rev("v2", "2.0.0", &images.v2);
    stack.seed(&v1, 2).await;
    let (status, body) = get_users(&http(), stack.proxy.addr()).await.unwrap();
    assert_eq!(
        status, 200,
        "v1 cannot read the database through the mounted socket ({}): {body}",
        db.container_url
    );
    let mut spec = engine::spec(
        "migrations-e2e",
        &*stack.driver,
        &stack.target,
        Some(v1),
        v2,
        2,
        &strategy(),
    );
    spec.plan = spec.plan.with_expand("db");
    spec.health_validators = vec!["users-smoke".into()];
    let migrator = PgDirConfig::new(&db.url, migration_dir)
        .name("db")
        .build()
        .unwrap();
    let load = load.map(UsersLoad::start);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (builder, timeline) =
        engine::runner(stack.driver.clone(), &stack.journal("migrations"), stack.t0);
    let mut runner = builder
        .migrator(Arc::new(migrator))
        .validator(Arc::new(UsersSmoke {
            driver: stack.driver.clone(),
            http: http(),
        }))
        .build();
    let report = runner.start(spec).await.unwrap();
    let log = match load {
        Some(l) => {
            tokio::time::sleep(Duration::from_secs(1)).await;
            l.stop().await
        }
        None => Vec::new(),
    };
    (report, timeline, log)
}

fn position(report: &RunReport, pred: impl Fn(&EventKind) -> bool) -> Option<usize> {
    report.events.iter().position(|e| pred(&e.kind))
}

fn routes_to_v2(kind: &EventKind) -> bool {
    matches!(kind, EventKind::ActionRequested { action, .. }
        if matches!(&**action, Action::Route { weights }
            if weights.0.iter().any(|(r, w)| r.as_str() == "v2" && *w > 0)))
}

fn is_expand(kind: &EventKind) -> bool {
    matches!(kind, EventKind::Migrated(m) if m.phase == MigrationPhase::Expand)
}

fn stable_judged(kind: &EventKind) -> bool {
    matches!(
        kind,
        EventKind::AnalysisCompleted {
            scope: AnalysisScope::StableAfterMigration { .. },
            ..
        }
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_good_expand_keeps_v1_serving_and_the_v2_canary_is_promoted() {
    let Some(env) =
        support::env("a_good_expand_keeps_v1_serving_and_the_v2_canary_is_promoted").await
    else {
        return;
    };
    let images = support::images(&env);
    assert_eq!(
        images.app, "demo-service",
        "/api/users needs the demo-service image: run scripts/e2e/build-demo-image.sh"
    );
    let c = cluster();
    let db = TestDb::new(&c).await;
    let stack = stack(&env, &images, "mig-good", &c, &db).await;
    let m = migrations(
        stack.project.dir.path(),
        "0002_add_email.sql",
        "ALTER TABLE users ADD COLUMN email text;",
    );
    let started = Instant::now();
    let (report, timeline, log) = run(&stack, &images, &db, &m, Some(stack.proxy.addr())).await;
    let duration = started.elapsed();
    assert_eq!(report.status.phase, Phase::Succeeded, "{:?}", report.status);
    assert!(db.has_column("email").await);
    assert_eq!(stack.containers(), only("v2", 2), "v1 left behind");

    // Order: the expand, the stable judged on the new schema, then v2's first traffic.
    let expand = position(&report, is_expand).unwrap();
    let judged = position(&report, stable_judged).unwrap();
    let traffic = position(&report, routes_to_v2).unwrap();
    assert!(expand < judged && judged < traffic, "{:?}", report.events);
    assert!(matches!(
        &report.events[judged].kind,
        EventKind::AnalysisCompleted {
            result: AnalysisResult::Passed,
            ..
        }
    ));

    // The load through HAProxy: v1 alone answered until v2's first traffic, all 200s,
    // through the migration (the load ran from before the rollout started).
    let first_v2 = log
        .iter()
        .find(|(_, r)| r.as_deref() == Ok("2.0.0"))
        .map(|(t, _)| *t)
        .unwrap_or_else(|| panic!("v2 never answered /api/users through HAProxy"));
    let before: Vec<_> = log.iter().filter(|(t, _)| *t < first_v2).collect();
    let failed_before: Vec<_> = before.iter().filter(|(_, r)| r.is_err()).collect();
    let failed_all = log.iter().filter(|(_, r)| r.is_err()).count();
    eprintln!(
        "FIGURES good expand + canary on Compose: {} s; /api/users through HAProxy: {} requests answered by v1 before v2's first answer ({} failed), {} requests in all ({} failed)",
        duration.as_secs_f64(),
        before.len(),
        failed_before.len(),
        log.len(),
        failed_all
    );
    assert!(before.len() > 20, "the load ran: {} requests", before.len());
    let migrated_at = timeline.first(is_expand).unwrap();
    let after_expand = before.iter().filter(|(t, _)| *t > migrated_at).count();
    assert!(
        before.iter().any(|(t, _)| *t < migrated_at) && after_expand > 10,
        "the load must span the migration: {after_expand} requests between the expand and v2's first answer"
    );
    assert!(
        failed_before.is_empty(),
        "v1 failed /api/users during the migration: {failed_before:?}"
    );
    // At the end, v2 reads the new column.
    let (status, body) = get_users(&http(), stack.proxy.addr()).await.unwrap();
    assert!(
        status == 200 && body.contains("\"email\"") && body.contains("2.0.0"),
        "{status} {body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_breaking_expand_freezes_before_v2_gets_traffic() {
    let Some(env) = support::env("a_breaking_expand_freezes_before_v2_gets_traffic").await else {
        return;
    };
    let images = support::images(&env);
    assert_eq!(
        images.app, "demo-service",
        "/api/users needs the demo-service image: run scripts/e2e/build-demo-image.sh"
    );
    let c = cluster();
    let db = TestDb::new(&c).await;
    let stack = stack(&env, &images, "mig-break", &c, &db).await;
    // Breaks v1, which reads `name`.
    let m = migrations(
        stack.project.dir.path(),
        "0002_drop_name.sql",
        "ALTER TABLE users DROP COLUMN name;",
    );
    let (report, _, _) = run(&stack, &images, &db, &m, None).await;
    assert_eq!(report.status.phase, Phase::Frozen, "{:?}", report.status);
    let reason = report.status.reason.clone().unwrap_or_default();
    eprintln!("frozen: {reason}");
    assert!(
        reason.contains("not backward compatible") && reason.contains("v1 GET /api/users:"),
        "{reason}"
    );
    assert!(reason.contains("500"), "{reason}");
    assert!(!db.has_column("name").await);
    assert!(position(&report, is_expand).unwrap() < position(&report, stable_judged).unwrap());
    assert_eq!(position(&report, routes_to_v2), None, "no traffic to v2");
    assert!(
        !report
            .events
            .iter()
            .any(|e| matches!(e.kind, EventKind::RollbackStarted { .. })),
        "no rollback into the broken stable"
    );
    // Nothing of v2 ever ran: v1 x2 alone, still in HAProxy.
    assert_eq!(stack.containers(), only("v1", 2));
    stack.wait_servers_up(2).await;
}
