//! The benchmarks' workload: a one-hour canary (five weight steps, each judged by an error
//! rate threshold every minute for twelve minutes) on a [`SimWorld`], and its recording.

use shipcore::engine::{decode_entry, Phase, RolloutSpec, RunError, RunReport, Runner, Stamped};
use shipcore::journal::{Journal, JournalError, MemoryJournal};
use shipcore::model::{AnalysisPolicy, AnalysisStep, Revision, Target};
use shipcore::strategy::{Canary, CanaryStep, PlanContext, PlanError, Strategy};
use shipcore::testing::SimWorld;
use shipcore::validator::Validator;
use shipcore::validator::{ConfigError, MetricThreshold, ThresholdConfig};
use std::sync::Arc;
use std::time::Duration;

/// Weight steps of the one-hour canary.
pub const CANARY_STEPS: usize = 5;
/// Measurements of each step's analysis, a minute apart (twelve minutes).
pub const MEASUREMENTS_PER_STEP: u32 = 13;

/// A canary's shape: its weight steps, each followed by an analysis measuring every minute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    /// Weights of the steps, in order.
    pub weights: &'static [u32],
    /// Measurements of each step's analysis, a minute apart.
    pub measurements: u32,
}

impl Shape {
    /// The one-hour canary: 10, 20, 40, 60, 80 %, each judged for twelve minutes.
    pub const ONE_HOUR: Shape = Shape {
        weights: &[10, 20, 40, 60, 80],
        measurements: MEASUREMENTS_PER_STEP,
    };
    /// A short canary: 20 then 50 %, each judged by three measurements (about five minutes).
    pub const SHORT: Shape = Shape {
        weights: &[20, 50],
        measurements: 3,
    };
}
/// Replicas the service runs.
pub const REPLICAS: u32 = 5;

/// The benchmark setup failed, or the run did not end as it must.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// The canary could not be planned.
    #[error("the canary could not be planned: {0}")]
    Plan(#[from] PlanError),
    /// The validator's configuration was refused.
    #[error("the validator was refused: {0}")]
    Validator(#[from] ConfigError),
    /// The runner stopped with an error.
    #[error("the run failed: {0}")]
    Run(#[from] RunError),
    /// The journal could not be read back or decoded.
    #[error("the journal could not be read back: {0}")]
    Journal(String),
    /// The rollout did not succeed, so a benchmark would measure a broken run.
    #[error("the canary ended {phase} ({reason}) instead of succeeding")]
    NotSucceeded {
        /// Where it ended.
        phase: Phase,
        /// Why.
        reason: String,
    },
}

impl From<JournalError> for SetupError {
    fn from(e: JournalError) -> Self {
        SetupError::Journal(e.to_string())
    }
}

/// The service.
pub fn target() -> Target {
    Target::new("web", "production")
}

/// What runs before the rollout.
pub fn stable() -> Revision {
    Revision::new("web-v1", semver::Version::new(1, 0, 0), "web:1.0.0")
}

/// What the rollout deploys.
pub fn candidate() -> Revision {
    Revision::new("web-v2", semver::Version::new(2, 0, 0), "web:2.0.0")
}

/// A world with the stable revision running at full size.
pub fn world(seed: u64) -> SimWorld {
    let w = SimWorld::new(seed);
    w.driver.seed_stable(&target(), &stable(), REPLICAS);
    w
}

/// A step's analysis: the error rate threshold every minute, `measurements` times.
pub fn analysis(measurements: u32) -> AnalysisStep {
    AnalysisStep {
        validators: vec!["error-rate".into()],
        policy: AnalysisPolicy::every(Duration::from_secs(60), measurements),
    }
}

/// The one-hour canary spec, planned by the canary strategy for `world`'s driver.
pub fn canary_spec(id: &str, world: &SimWorld) -> Result<RolloutSpec, SetupError> {
    shaped_spec(id, world, Shape::ONE_HOUR)
}

/// A canary spec of `shape`, planned by the canary strategy for `world`'s driver.
pub fn shaped_spec(id: &str, world: &SimWorld, shape: Shape) -> Result<RolloutSpec, SetupError> {
    shaped_spec_for(id, world, shape, target())
}

/// A canary spec of `shape` for `target` (which `world` must run the stable revision on).
pub fn shaped_spec_for(
    id: &str,
    world: &SimWorld,
    shape: Shape,
    target: Target,
) -> Result<RolloutSpec, SetupError> {
    let mut steps = Vec::new();
    for weight in shape.weights {
        steps.push(CanaryStep::SetWeight(*weight));
        steps.push(CanaryStep::Analysis(analysis(shape.measurements)));
    }
    let canary = Canary {
        steps,
        ..Canary::default()
    };
    let ctx = PlanContext {
        target: target.clone(),
        stable: Some(stable()),
        candidate: candidate(),
        replicas: REPLICAS,
        capabilities: world.driver.config().capabilities,
    };
    let plan = canary.plan(&ctx)?;
    Ok(RolloutSpec::new(
        id,
        target,
        Some(stable()),
        candidate(),
        plan,
    ))
}

/// The error-rate threshold (5 %) on `world`'s metrics.
pub fn error_rate(world: &SimWorld) -> Result<MetricThreshold, SetupError> {
    Ok(
        ThresholdConfig::above("error-rate", "error_rate{revision=\"{{revision}}\"}", 0.05)
            .build(world.metrics_arc())?,
    )
}

/// The error-rate threshold (5 %) on `world`'s metrics, for the rollout's own target: for a
/// world running many services, where the query must name one.
pub fn error_rate_of_target(world: &SimWorld) -> Result<MetricThreshold, SetupError> {
    let query = "error_rate{service=\"{{service}}\",environment=\"{{environment}}\",\
                 namespace=\"{{namespace}}\",revision=\"{{revision}}\"}";
    Ok(ThresholdConfig::above("error-rate", query, 0.05).build(world.metrics_arc())?)
}

/// A runner on `world` with the error-rate validator and `journal`.
pub fn sim_runner(world: &SimWorld, journal: Arc<dyn Journal>) -> Result<Runner, SetupError> {
    let validator: Arc<dyn Validator> = Arc::new(error_rate(world)?);
    Ok(
        Runner::builder(world.driver_arc(), world.clock_arc(), journal)
            .validator(validator)
            .build(),
    )
}

/// A fresh world, runner and canary spec, ready to time: the setup half of a criterion
/// `iter_batched`.
pub fn prepared_canary(
    journal: Arc<dyn Journal>,
) -> Result<(SimWorld, Runner, RolloutSpec), SetupError> {
    let w = world(7);
    let runner = sim_runner(&w, journal)?;
    let spec = canary_spec("bench", &w)?;
    Ok((w, runner, spec))
}

/// Runs a [`prepared_canary`] on `rt` and checks that it succeeded: the timed half. The
/// world and runner come back so that dropping them is not timed.
pub fn run_prepared(
    rt: &tokio::runtime::Runtime,
    (w, mut runner, spec): (SimWorld, Runner, RolloutSpec),
) -> (SimWorld, Runner, RunReport) {
    let report = rt.block_on(runner.start(spec));
    let report = match report {
        Ok(r) if r.status.phase == shipcore::engine::Phase::Succeeded => r,
        other => panic!("the benchmarked canary did not succeed: {other:?}"),
    };
    (w, runner, report)
}

/// Runs the canary to its end and checks that it succeeded.
pub async fn run_canary(
    world: &SimWorld,
    journal: Arc<dyn Journal>,
) -> Result<RunReport, SetupError> {
    let spec = canary_spec("bench", world)?;
    let report = sim_runner(world, journal)?.start(spec).await?;
    succeeded(report)
}

/// The whole one-hour canary on a fresh world with a [`MemoryJournal`].
pub async fn one_hour_canary(seed: u64) -> Result<RunReport, SetupError> {
    run_canary(&world(seed), Arc::new(MemoryJournal::new())).await
}

fn succeeded(report: RunReport) -> Result<RunReport, SetupError> {
    if report.status.phase == Phase::Succeeded {
        Ok(report)
    } else {
        Err(SetupError::NotSucceeded {
            phase: report.status.phase,
            reason: report.status.reason.unwrap_or_default(),
        })
    }
}

/// A canary run and the inputs its journal holds, in order.
#[derive(Debug)]
pub struct Recorded {
    /// The journaled inputs.
    pub inputs: Vec<Stamped>,
    /// What the run reported.
    pub report: RunReport,
}

/// Runs the canary once on a [`MemoryJournal`] and decodes the journal.
pub fn record_canary(seed: u64) -> Result<Recorded, SetupError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .map_err(|e| SetupError::Journal(e.to_string()))?;
    rt.block_on(async {
        let journal = Arc::new(MemoryJournal::new());
        let report = run_canary(&world(seed), journal.clone()).await?;
        let inputs = journal
            .read_all()
            .await?
            .iter()
            .map(decode_entry)
            .collect::<Result<Vec<Stamped>, _>>()
            .map_err(|e| SetupError::Journal(e.to_string()))?;
        Ok(Recorded { inputs, report })
    })
}
