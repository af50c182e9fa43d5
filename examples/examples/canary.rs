//! A 10% → 50% → 100% canary of `checkout` 1.4.0 → 1.5.0 on the built-in simulator, judged
//! every minute by an error-rate threshold and a p95 latency threshold. By default 1.5.0
//! fails 12% of its requests: the analysis at 10% fails and the engine rolls back on its own.
//! With `--good` the same canary is healthy and promoted. An hour of rollout runs in
//! milliseconds on the simulated clock.
//!
//! ```sh
//! cargo run --example canary            # bad 1.5.0: automatic rollback
//! cargo run --example canary -- --good  # healthy 1.5.0: promoted to 100%
//! ```

use shipcore::engine::{Phase, RolloutSpec, Runner};
use shipcore::journal::MemoryJournal;
use shipcore::model::{AnalysisPolicy, AnalysisStep, Revision, Target};
use shipcore::strategy::{Canary, CanaryStep, PauseSpec, PlanContext, Strategy};
use shipcore::testing::{Failure, SimWorld};
use shipcore::validator::ThresholdConfig;
use shipcore_examples::{print_outcome, printer, Result};
use std::sync::Arc;
use std::time::Duration;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<()> {
    let good = std::env::args().any(|a| a == "--good");
    let world = SimWorld::new(42);
    let target = Target::new("checkout", "production");
    let v1 = Revision::new("checkout-v1", "1.4.0".parse()?, "registry/checkout:1.4.0");
    let v2 = Revision::new("checkout-v2", "1.5.0".parse()?, "registry/checkout:1.5.0");
    world.driver.seed_stable(&target, &v1, 4);
    if !good {
        world.driver.inject(&v2, Failure::error_rate(0.12))?;
    }

    // Each phase: five measurements a minute apart; one failure is enough to roll back.
    let analysis = || {
        CanaryStep::Analysis(AnalysisStep {
            validators: vec!["error-rate".into(), "latency-p95".into()],
            policy: AnalysisPolicy::every(Duration::from_secs(60), 5),
        })
    };
    let canary = Canary {
        steps: vec![
            CanaryStep::SetWeight(10),
            analysis(),
            CanaryStep::Pause(PauseSpec(Some(Duration::from_secs(300)))),
            CanaryStep::SetWeight(50),
            analysis(),
            CanaryStep::Pause(PauseSpec(Some(Duration::from_secs(300)))),
            CanaryStep::SetWeight(100),
            analysis(),
        ],
        scale_down_delay: Duration::from_secs(60),
        ..Canary::default()
    };
    let plan = canary.plan(&PlanContext {
        target: target.clone(),
        stable: Some(v1.clone()),
        candidate: v2.clone(),
        replicas: 4,
        capabilities: world.driver_arc().capabilities(),
    })?;
    let spec = RolloutSpec::new("checkout-1.5.0", target.clone(), Some(v1), v2, plan);

    let mut error_rate =
        ThresholdConfig::above("error-rate", r#"error_rate{revision="{{revision}}"}"#, 0.05);
    error_rate.warning = Some(0.01);
    let latency = ThresholdConfig::above(
        "latency-p95",
        r#"latency_p95{revision="{{revision}}"}"#,
        0.5,
    );
    let mut runner = Runner::builder(
        world.driver_arc(),
        world.clock_arc(),
        Arc::new(MemoryJournal::new()),
    )
    .validator(Arc::new(error_rate.build(world.metrics_arc())?))
    .validator(Arc::new(latency.build(world.metrics_arc())?))
    .on_event(printer(world.now()))
    .build();

    let wall = std::time::Instant::now();
    let report = runner.start(spec).await?;
    print_outcome(&report, &world.driver.fleet(&target), wall.elapsed());
    let expected = if good {
        Phase::Succeeded
    } else {
        Phase::RolledBack
    };
    if report.status.phase != expected {
        return Err(format!("expected {expected:?}, ended {:?}", report.status.phase).into());
    }
    Ok(())
}
