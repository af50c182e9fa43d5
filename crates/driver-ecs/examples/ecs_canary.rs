//! A canary of `web` from v1 to v2 on Amazon ECS behind an ALB listener, run by shipcore's
//! engine through the ECS driver, against a local moto server (the AWS control plane only).
//!
//! Needs moto: `pip install 'moto[server]==5.2.5'` (the example starts its own private
//! `moto_server` on a free loopback port, or `$SHIPCORE_MOTO_SERVER`, and stops it at the
//! end). Then: `cargo run -p shipcore-driver-ecs --example ecs_canary`.
//!
//! moto runs no tasks, so the example's harness (shared with the tests) creates the VPC,
//! ALB, listener, cluster and base task definition, and plays ECS's scheduler: it registers
//! each service's task IPs in its target group as the driver scales it. Against real AWS,
//! build the driver with [`EcsDriver::from_env`] and your own [`EcsConfig`] instead.
#![allow(clippy::unwrap_used)]

#[path = "../tests/support/mod.rs"]
mod support;

use shipcore::driver::Driver;
use shipcore::strategy::{Canary, CanaryStep, PauseSpec, StrategyConfig};
use shipcore_driver_ecs::{EcsConfig, EcsDriver};
use std::sync::Arc;
use std::time::Duration;
use support::rollout::{runner, seed, spec};

#[tokio::main]
async fn main() {
    let Some(world) = support::World::start().await else {
        eprintln!("moto is not installed: pip install 'moto[server]==5.2.5'");
        std::process::exit(2);
    };
    let config: EcsConfig = world.traffic_config().build().unwrap();
    println!("cluster {}, listener {}", config.cluster, world.listener);
    let driver = Arc::new(EcsDriver::new(config, &world.sdk));
    seed(&*driver, 2).await;
    println!("v1 x2 serving: {:?}", world.weights(&world.listener).await);
    let canary = StrategyConfig::Canary(Canary {
        steps: vec![
            CanaryStep::SetWeight(10),
            CanaryStep::Pause(PauseSpec(Some(Duration::from_secs(1)))),
            CanaryStep::SetWeight(50),
            CanaryStep::Pause(PauseSpec(Some(Duration::from_secs(1)))),
        ],
        scale_down_delay: Duration::ZERO,
        ..Default::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let report = runner(driver.clone(), &dir.path().join("journal"))
        .build()
        .start(spec(&*driver, &canary, 2, Duration::from_secs(30)))
        .await
        .unwrap();
    println!(
        "rollout {}: {:?}",
        report.status.phase, report.status.reason
    );
    println!("listener now: {:?}", world.weights(&world.listener).await);
    println!("services: {:?}", world.services().await);
    println!(
        "fleet: {:?}",
        driver.observe(&support::rollout::web()).await.unwrap()
    );
}
