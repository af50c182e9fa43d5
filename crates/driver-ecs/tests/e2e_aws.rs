//! The conformance suite against real Amazon ECS, only with `SHIPCORE_ECS_E2E=1` and AWS
//! credentials (never in CI here: no AWS account is reachable). It needs an existing
//! cluster, base task definition, subnets, security groups, VPC and ALB listener, named by
//! environment variables (see [`env`]); ECS runs the tasks and the ALB checks their health,
//! so nothing plays the scheduler. It uses the target `web/shipcore-conformance`, creating
//! and deleting `web-conf-v1`/`web-conf-v2` services and target groups. Otherwise it says
//! why it skipped. Not run while this crate was written (no account): treat as untested.
#![allow(clippy::unwrap_used)]

use shipcore::model::{Revision, Target};
use shipcore::testing::{conformance, Conformance};
use shipcore_driver_ecs::{EcsConfig, EcsDriver, ListenerRef, TargetGroupTemplate};
use std::time::Duration;

/// A required variable, or a panic naming it.
fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("SHIPCORE_ECS_E2E=1 needs {name}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_on_real_ecs() {
    if std::env::var("SHIPCORE_ECS_E2E").as_deref() != Ok("1") {
        eprintln!("skipped: the real-AWS ECS suite runs only with SHIPCORE_ECS_E2E=1 and AWS credentials (it creates and deletes ECS services and target groups)");
        return;
    }
    let subnets = env("SHIPCORE_ECS_SUBNETS");
    let sgs = env("SHIPCORE_ECS_SECURITY_GROUPS");
    let subnets: Vec<&str> = subnets.split(',').collect();
    let sgs: Vec<&str> = sgs.split(',').collect();
    let port: u16 = env("SHIPCORE_ECS_PORT").parse().unwrap();
    let cfg = EcsConfig::builder(
        env("SHIPCORE_ECS_CLUSTER"),
        env("SHIPCORE_ECS_TASK_DEFINITION"),
        env("SHIPCORE_ECS_CONTAINER"),
    )
    .network(&subnets, &sgs)
    .assign_public_ip(true)
    .traffic(
        ListenerRef::Listener(env("SHIPCORE_ECS_LISTENER_ARN")),
        TargetGroupTemplate::new(port, env("SHIPCORE_ECS_VPC"))
            .health_check_path(env("SHIPCORE_ECS_HEALTH_PATH")),
    )
    .deregistration_wait(Duration::from_secs(10))
    .build()
    .unwrap();
    let driver = EcsDriver::from_env(cfg).await;
    let image = env("SHIPCORE_ECS_IMAGE");
    let v1 = Revision::new("conf-v1", "1.0.0".parse().unwrap(), &image);
    let v2 = Revision::new("conf-v2", "2.0.0".parse().unwrap(), &image);
    let suite = Conformance::new(&driver, Target::new("web", "shipcore-conformance"), v1, v2)
        .with_replicas(1)
        .with_deadline(Duration::from_secs(600), Duration::from_secs(5));
    conformance::run_all(&suite).await;
}
