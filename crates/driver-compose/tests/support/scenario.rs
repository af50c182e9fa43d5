//! The engine-driven scenarios shared by the e2e_rollout_* tests and the figures example:
//! a `Stack` (compose project, HAProxy, routed ComposeDriver; torn down on drop), a rolling
//! update compared with a naive recreate, and a bad canary judged by a real Prometheus and
//! rolled back, compared with a naive deploy of the same bad version. They assert the end
//! state themselves and return the figures.

use super::engine::{self, rev};
use super::naive::{self, NaiveFigures};
use super::{prom, standard_load, Env, Images, Project, Tally};
use metrics_prom::{PrometheusConfig, PrometheusSource, StandardQueries};
use shipcore::engine::{AnalysisResult, EventKind, Phase};
use shipcore::metrics::{MetricQuery, MetricsSource};
use shipcore::model::{Action, AnalysisPolicy, AnalysisStep, Revision, RevisionId, Target};
use shipcore::strategy::{Canary, CanaryStep, IntOrPercent, Rolling, StrategyConfig};
use shipcore::validator::ThresholdConfig;
use shipcore_driver_compose::router::{HaproxyProcess, Router, ServerState};
use shipcore_driver_compose::{ComposeDriver, PreviewHealth};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A compose project with a routed driver in front of a private HAProxy. Fields drop in
/// order: the driver, then HAProxy (killed), then the project (`down`, leftovers removed).
pub struct Stack {
    pub driver: Arc<ComposeDriver>,
    pub proxy: HaproxyProcess,
    pub project: Project,
    pub env: Env,
    pub target: Target,
    pub t0: Instant,
}

impl Stack {
    /// Project `shipcore-e2e-<tag>-<pid>` with service `web`, HAProxy with 12 slots.
    pub async fn new(env: &Env, images: &Images, tag: &str) -> Stack {
        let project = Project::web(env, tag, &images.v1);
        let proxy = super::haproxy(env, project.dir.path(), 12).await;
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

    /// Deploys `r` with `n` replicas straight through the driver (what runs before the
    /// rollout) and waits until HAProxy has them all up.
    pub async fn seed(&self, r: &Revision, n: u32) {
        use shipcore::driver::Driver;
        self.driver
            .apply(
                &self.target,
                &Action::Deploy {
                    revision: r.clone(),
                    replicas: n,
                },
            )
            .await
            .unwrap();
        super::wait_ready(
            &self.driver,
            &self.target,
            r.id.as_str(),
            n,
            Duration::from_secs(90),
        )
        .await;
        self.wait_servers_up(n as usize).await;
    }

    /// Waits until HAProxy has exactly `n` servers registered, all up.
    pub async fn wait_servers_up(&self, n: usize) {
        let router = self.proxy.router();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let s = router.status().await.unwrap();
            if s.len() == n && s.iter().all(|s| s.state == ServerState::Up) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "HAProxy never had {n} servers up: {s:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// A journal file in the project's folder.
    pub fn journal(&self, name: &str) -> std::path::PathBuf {
        self.project.dir.path().join(format!("{name}.journal"))
    }

    /// Containers of the project by revision label and state, from the engine (`podman
    /// ps -a`), not from the driver: `{"v2 running": 3}`.
    pub fn containers(&self) -> BTreeMap<String, usize> {
        containers_of(&self.env, &self.project.name)
    }

    /// The validator that checks every container of the judged revision through its
    /// published port (`/health`: healthy, the revision's version).
    pub fn preview_health(&self) -> Arc<PreviewHealth> {
        Arc::new(PreviewHealth::new(
            self.driver.clone(),
            "preview-health",
            "/health",
        ))
    }
}

/// Containers of compose project `project` by revision label and state.
pub fn containers_of(env: &Env, project: &str) -> BTreeMap<String, usize> {
    let out = env
        .podman()
        .args([
            "ps",
            "-a",
            "--filter",
            &format!("label=com.docker.compose.project={project}"),
            "--format",
            "{{index .Labels \"io.shipcore.revision\"}} {{.State}}",
        ])
        .output()
        .unwrap();
    let mut by = BTreeMap::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        // Podman prints the state as text: `Up 5 seconds ago`, `Exited (0) …`, `Created`.
        let mut parts = line.split_whitespace();
        let (Some(rev), Some(state)) = (parts.next(), parts.next()) else {
            continue;
        };
        let state = match state {
            "Up" | "running" => "running".to_string(),
            other => other.to_lowercase(),
        };
        *by.entry(format!("{rev} {state}")).or_default() += 1;
    }
    by
}

/// `{"<rev> running": n}`.
pub fn only(rev: &str, n: usize) -> BTreeMap<String, usize> {
    [(format!("{rev} running"), n)].into()
}

/// Rolling update v1 → v2 (3 replicas) through the engine vs a naive recreate.
#[derive(Debug, Clone)]
pub struct RollingFigures {
    /// The load during the engine's rollout (2 s before to 1 s after).
    pub engine: Tally,
    /// Start to `Succeeded`.
    pub duration: Duration,
    /// The naive recreate of the same change under the same load.
    pub naive: NaiveFigures,
}

/// Runs v1 x3, then a rolling update to v2 through the engine (surge 1, unavailable 0,
/// weights following replicas) under the standard load through HAProxy; asserts it
/// succeeded and left exactly v2 x3. Then the naive recreate of the same change.
pub async fn rolling_vs_naive(env: &Env, images: &Images) -> RollingFigures {
    let stack = Stack::new(env, images, "rolling").await;
    let v1 = rev("v1", "1.0.0", &images.v1);
    let v2 = rev("v2", "2.0.0", &images.v2);
    stack.seed(&v1, 3).await;
    let strategy = StrategyConfig::Rolling(Rolling {
        max_surge: IntOrPercent::Count(1),
        max_unavailable: IntOrPercent::Count(0),
        ..Default::default()
    });
    let spec = engine::spec(
        "rolling-e2e",
        &*stack.driver,
        &stack.target,
        Some(v1),
        v2,
        3,
        &strategy,
    );
    let load = standard_load(stack.proxy.addr());
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (builder, _timeline) =
        engine::runner(stack.driver.clone(), &stack.journal("rolling"), stack.t0);
    let mut runner = builder.build();
    let started = Instant::now();
    let report = runner.start(spec).await.unwrap();
    let duration = started.elapsed();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let tally = load.finish();
    assert_eq!(
        report.status.phase,
        Phase::Succeeded,
        "rolling update did not succeed: {:?}",
        report.status
    );
    assert_eq!(stack.containers(), only("v2", 3));
    stack.wait_servers_up(3).await;
    assert!(tally.version("2.0.0") > 0, "{tally:?}");
    drop(stack);
    let naive = naive::recreate(
        env,
        "rolling-naive",
        &images.v1,
        &images.v2,
        Duration::from_secs(2),
    )
    .await;
    RollingFigures {
        engine: tally,
        duration,
        naive,
    }
}

/// A bad v2 canaried 10% → 50% → 100%, judged by a real Prometheus, rolled back.
#[derive(Debug, Clone)]
pub struct CanaryFigures {
    /// The load during the whole canary run (blast radius: its failures).
    pub tally: Tally,
    /// From v2's first answer to the failing analysis verdict.
    pub detect: Duration,
    /// From the failing verdict to the rollback's end (`RolledBack`).
    pub rollback: Duration,
    /// From v2's first answer to the rollback's end.
    pub exposure: Duration,
    /// Why the engine rolled back.
    pub reason: String,
    /// The naive deploy of the same bad version, observed as long as the canary's exposure.
    pub naive: NaiveFigures,
}

/// The canary's analysis: error rate above 5% or p95 above 250 ms over a 5 s window, one
/// measurement a second; missing data (a new revision not scraped yet) is tolerated.
fn canary_analysis() -> AnalysisStep {
    AnalysisStep {
        validators: vec!["error-rate".into(), "latency-p95".into()],
        policy: AnalysisPolicy {
            interval: Duration::from_secs(1),
            count: Some(8),
            inconclusive_limit: 8,
            ..Default::default()
        },
    }
}

/// Runs v1 x3 scraped by Prometheus (file_sd from the driver's instances), then a canary
/// of the bad v2 through the engine under the standard load; asserts the engine rolled it
/// back and left v1 x3 with all the traffic. Then the naive deploy of the bad version.
pub async fn bad_canary(env: &Env, images: &Images) -> CanaryFigures {
    assert_eq!(
        images.app, "demo-service",
        "the bad canary needs the demo-service image (its ERROR_RATE / LATENCY_MS): run scripts/e2e/build-demo-image.sh"
    );
    let stack = Stack::new(env, images, "canary").await;
    let v1 = rev("v1", "1.0.0", &images.v1);
    let v2 = rev("v2", "2.0.0", &images.v2_bad);
    stack.seed(&v1, 3).await;
    let scraper = prom::start(
        env,
        &stack.driver.config().clone(),
        stack.project.dir.path(),
    );
    let source = PrometheusSource::new(
        PrometheusConfig::new(&scraper.prometheus.url)
            .timeout(Duration::from_secs(2))
            .retries(1, Duration::from_millis(100), Duration::from_millis(200)),
    )
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let up = source
            .query(&MetricQuery::instant(
                "sum(up{job=\"web\",revision=\"v1\"})",
            ))
            .await
            .ok()
            .and_then(|r| r.single_value().ok());
        if up == Some(3.0) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "Prometheus never scraped the 3 v1 containers (file_sd {}): up = {up:?}",
            scraper.sd_file.display()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let source: Arc<dyn MetricsSource> = Arc::new(source);
    let q = StandardQueries::default().with_window(Duration::from_secs(5));
    let mut errors = ThresholdConfig::above("error-rate", q.error_rate(), 0.05);
    errors.unit = "ratio".into();
    let mut p95 = ThresholdConfig::above("latency-p95", q.latency_p95(), 0.25);
    p95.unit = "s".into();
    let strategy = StrategyConfig::Canary(Canary {
        steps: vec![
            CanaryStep::SetWeight(10),
            CanaryStep::Analysis(canary_analysis()),
            CanaryStep::SetWeight(50),
            CanaryStep::Analysis(canary_analysis()),
            CanaryStep::SetWeight(100),
        ],
        scale_down_delay: Duration::from_secs(2),
        ..Default::default()
    });
    let mut spec = engine::spec(
        "canary-e2e",
        &*stack.driver,
        &stack.target,
        Some(v1),
        v2,
        3,
        &strategy,
    );
    spec.health_validators = vec!["preview-health".into()];
    let load = standard_load(stack.proxy.addr());
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (builder, timeline) =
        engine::runner(stack.driver.clone(), &stack.journal("canary"), stack.t0);
    let mut runner = builder
        .validator(Arc::new(errors.build(source.clone()).unwrap()))
        .validator(Arc::new(p95.build(source).unwrap()))
        .validator(stack.preview_health())
        .build();
    let report = runner.start(spec).await.unwrap();
    let end = Instant::now();
    // v1 alone for a second: it must take everything.
    let mark = load.snapshot();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let tail = load.snapshot().since(&mark);
    let tally = load.finish();
    assert_eq!(
        report.status.phase,
        Phase::RolledBack,
        "the bad canary was not rolled back: {:?}",
        report.status
    );
    let reason = report.status.reason.clone().unwrap_or_default();
    assert_eq!(stack.containers(), only("v1", 3), "v2 left behind");
    let fleet = report.fleet.clone().unwrap();
    let v1_id = RevisionId::new("v1");
    assert_eq!(
        (fleet.ready_of(&v1_id), fleet.weight_of(&v1_id)),
        (3, 100),
        "{fleet:?}"
    );
    stack.wait_servers_up(3).await;
    assert!(
        tail.ok > 50 && tail.version("1.0.0") == tail.ok && tail.failed == 0,
        "after the rollback v1 must take all the traffic: {tail:?}"
    );
    let first_v2 = *tally
        .first_at
        .get("2.0.0")
        .unwrap_or_else(|| panic!("v2 never answered: {tally:?}"));
    let failed_at = timeline
        .first(|k| {
            matches!(
                k,
                EventKind::AnalysisCompleted {
                    result: AnalysisResult::Failed,
                    ..
                }
            )
        })
        .unwrap_or_else(|| panic!("no failing analysis in {:?}", timeline.events()));
    let exposure = end - first_v2;
    drop(scraper);
    drop(stack);
    let naive = naive::recreate(env, "canary-naive", &images.v1, &images.v2_bad, exposure).await;
    CanaryFigures {
        tally,
        detect: failed_at.saturating_duration_since(first_v2),
        rollback: end - failed_at,
        exposure,
        reason,
        naive,
    }
}
