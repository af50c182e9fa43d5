//! Every built-in strategy run by the engine on the simulator, twice: a healthy candidate
//! ends fully on the new revision; a candidate with a 20% error rate is caught by an
//! analysis part-way through the plan and the engine rolls back fully onto stable.
#![allow(clippy::unwrap_used)]

mod sim_rollout;

use shipcore::engine::{Event, EventKind, Phase, RolloutSpec, Runner};
use shipcore::journal::MemoryJournal;
use shipcore::model::{Action, AnalysisPolicy, AnalysisStep};
use shipcore::strategy::{
    BlueGreen, Canary, CanaryStep, FeatureFlag, Linear, PauseSpec, PlanContext, Recreate, Rolling,
    Strategy, StrategyConfig,
};
use shipcore::testing::{Failure, SimWorld};
use shipcore::validator::ThresholdConfig;
use std::sync::Arc;
use std::time::Duration;

const REPLICAS: u32 = 4;

use sim_rollout::{target, v1, v2};

/// What each strategy plans from: v1 serving, v2 to deploy, on the world's driver.
fn context(world: &SimWorld) -> PlanContext {
    PlanContext {
        target: target(),
        stable: Some(v1()),
        candidate: v2(),
        replicas: REPLICAS,
        capabilities: world.driver_arc().capabilities(),
    }
}

fn analysis() -> AnalysisStep {
    AnalysisStep {
        validators: vec!["error-rate".into()],
        policy: AnalysisPolicy::every(Duration::from_secs(60), 3),
    }
}

/// Each strategy with its analysis where a metric can judge the candidate: between
/// batches, after each weight, after the blue-green switch (the preview takes no traffic,
/// so it has no error rate yet), after a recreate, after each flag step.
fn strategies() -> Vec<StrategyConfig> {
    vec![
        StrategyConfig::Rolling(Rolling {
            analysis: Some(analysis()),
            ..Rolling::default()
        }),
        StrategyConfig::BlueGreen(BlueGreen {
            preview_replicas: Some(REPLICAS),
            auto_promotion_after: Some(Duration::from_secs(60)),
            post_promotion_analysis: Some(analysis()),
            ..BlueGreen::default()
        }),
        StrategyConfig::Canary(Canary {
            steps: vec![
                CanaryStep::SetWeight(10),
                CanaryStep::Analysis(analysis()),
                CanaryStep::SetWeight(50),
                CanaryStep::Analysis(analysis()),
            ],
            ..Canary::default()
        }),
        StrategyConfig::Linear(Linear {
            analysis: Some(analysis()),
            ..Linear::new(25, Duration::from_secs(60))
        }),
        StrategyConfig::Recreate(Recreate {
            analysis: Some(analysis()),
        }),
        StrategyConfig::FeatureFlag(FeatureFlag {
            flag: "new-checkout".into(),
            percentages: vec![5, 50, 100],
            pause: Some(PauseSpec(Some(Duration::from_secs(120)))),
            analysis: Some(analysis()),
            deploy: Rolling::default(),
        }),
    ]
}

async fn run(config: &StrategyConfig, bad: bool) -> (SimWorld, Vec<Event>, Phase) {
    let world = SimWorld::new(31);
    world.driver.seed_stable(&target(), &v1(), REPLICAS);
    if bad {
        world
            .driver
            .inject(&v2(), Failure::error_rate(0.2))
            .unwrap();
    }
    let plan = config.plan(&context(&world)).unwrap();
    let validator =
        ThresholdConfig::above("error-rate", r#"error_rate{revision="{{revision}}"}"#, 0.05)
            .build(world.metrics_arc())
            .unwrap();
    let mut runner = Runner::builder(
        world.driver_arc(),
        world.clock_arc(),
        Arc::new(MemoryJournal::new()),
    )
    .validator(Arc::new(validator))
    .build();
    let spec = RolloutSpec::new("r", target(), Some(v1()), v2(), plan);
    let report = runner.start(spec).await.unwrap();
    (world, report.events, report.status.phase)
}

fn fleet(world: &SimWorld) -> Vec<(String, u32, u32, u8)> {
    sim_rollout::end_state(&world.driver.fleet(&target()))
}

#[tokio::test]
async fn every_strategy_takes_a_healthy_candidate_all_the_way() {
    for config in strategies() {
        let (world, _, phase) = run(&config, false).await;
        let name = config.name();
        assert_eq!(phase, Phase::Succeeded, "{name}");
        assert_eq!(
            fleet(&world),
            vec![(v2().id.as_str().to_string(), REPLICAS, REPLICAS, 100)],
            "{name}"
        );
        if name == "feature_flag" {
            let flags = world.driver.fleet(&target()).flags;
            assert_eq!(flags.get("new-checkout"), Some(&100), "{name}");
        }
    }
}

#[tokio::test]
async fn every_strategy_rolls_a_failing_candidate_back_part_way_through() {
    for config in strategies() {
        let name = config.name();
        let (world, events, phase) = run(&config, true).await;
        assert_eq!(phase, Phase::RolledBack, "{name}");
        assert_eq!(
            fleet(&world),
            vec![(v1().id.as_str().to_string(), REPLICAS, REPLICAS, 100)],
            "{name}: stable at full capacity with all traffic, candidate gone"
        );
        // Part-way: the candidate had been deployed and judged, and the failure came from
        // an analysis, before the plan's last step.
        let deployed = events.iter().position(|e| {
            matches!(&e.kind, EventKind::ActionRequested { action, .. }
                if matches!(&**action, Action::Deploy { revision, .. } if revision.id == v2().id))
        });
        let failed = events.iter().position(|e| {
            matches!(&e.kind, EventKind::Failed { reason } if reason.contains("analysis failed"))
        });
        let (Some(deployed), Some(failed)) = (deployed, failed) else {
            panic!("{name}: deployed {deployed:?}, failed by analysis {failed:?}");
        };
        assert!(deployed < failed, "{name}");
        let last_step = events
            .iter()
            .filter_map(|e| match &e.kind {
                EventKind::StepStarted { step, .. } => Some(*step),
                _ => None,
            })
            .max()
            .unwrap();
        let steps = config.plan(&context(&world)).unwrap().steps.len();
        assert!(
            last_step + 1 < steps,
            "{name}: failed at step {} of {steps}",
            last_step + 1
        );
        if name == "feature_flag" {
            let flags = world.driver.fleet(&target()).flags;
            assert!(
                flags.get("new-checkout").copied().unwrap_or(0) == 0,
                "{name}: flag left on: {flags:?}"
            );
        }
    }
}
