//! A rolling update of `api` 2.3.1 → 2.4.0 on six simulated replicas, one extra replica
//! at a time and never one below six ready (max surge 1, max unavailable 0), with an
//! error-rate check after every batch: a clean success, batch by batch.
//!
//! ```sh
//! cargo run --example rolling
//! ```

use shipcore::engine::{Phase, RolloutSpec, Runner};
use shipcore::journal::MemoryJournal;
use shipcore::model::{AnalysisPolicy, AnalysisStep, Revision, Target};
use shipcore::strategy::{IntOrPercent, PlanContext, Rolling, Strategy};
use shipcore::testing::SimWorld;
use shipcore::validator::ThresholdConfig;
use shipcore_examples::{print_outcome, printer, Result};
use std::sync::Arc;
use std::time::Duration;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<()> {
    let world = SimWorld::new(7);
    let target = Target::new("api", "production");
    let v1 = Revision::new("api-v231", "2.3.1".parse()?, "registry/api:2.3.1");
    let v2 = Revision::new("api-v240", "2.4.0".parse()?, "registry/api:2.4.0");
    world.driver.seed_stable(&target, &v1, 6);

    let rolling = Rolling {
        max_surge: IntOrPercent::Count(1),
        max_unavailable: IntOrPercent::Count(0),
        analysis: Some(AnalysisStep {
            validators: vec!["error-rate".into()],
            policy: AnalysisPolicy::every(Duration::from_secs(30), 2),
        }),
        pause: None,
    };
    let plan = rolling.plan(&PlanContext {
        target: target.clone(),
        stable: Some(v1.clone()),
        candidate: v2.clone(),
        replicas: 6,
        capabilities: world.driver_arc().capabilities(),
    })?;
    let spec = RolloutSpec::new("api-2.4.0", target.clone(), Some(v1), v2, plan);

    let error_rate =
        ThresholdConfig::above("error-rate", r#"error_rate{revision="{{revision}}"}"#, 0.05);
    let mut runner = Runner::builder(
        world.driver_arc(),
        world.clock_arc(),
        Arc::new(MemoryJournal::new()),
    )
    .validator(Arc::new(error_rate.build(world.metrics_arc())?))
    .on_event(printer(world.now()))
    .build();

    let wall = std::time::Instant::now();
    let report = runner.start(spec).await?;
    print_outcome(&report, &world.driver.fleet(&target), wall.elapsed());
    if report.status.phase != Phase::Succeeded {
        return Err(format!("expected success, ended {:?}", report.status.phase).into());
    }
    Ok(())
}
