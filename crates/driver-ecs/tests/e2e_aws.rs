//! The conformance suite against real Amazon ECS, only with `SHIPCORE_ECS_E2E=1` and AWS
//! credentials (never in CI here: no AWS account is reachable). It needs an existing
//! cluster, base task definition, subnets, security groups, VPC and ALB listener, named by
//! environment variables (see [`REQUIRED`]); ECS runs the tasks and the ALB checks their
//! health, so nothing plays the scheduler. It uses the target `web/shipcore-conformance`,
//! creating and deleting the `web-conf-v1`/`web-conf-v2` services and their target groups.
//! Without `SHIPCORE_ECS_E2E=1` it says why it skipped. With it, every missing variable,
//! a missing region and missing credentials are named together in one failure, before any
//! AWS call. Not run against AWS while this crate was written (no account): treat as
//! untested.
#![allow(clippy::unwrap_used)]

use shipcore::model::{Revision, Target};
use shipcore::testing::{conformance, Conformance};
use shipcore_driver_ecs::{EcsConfig, EcsDriver, ListenerRef, TargetGroupTemplate};
use std::io::Write;
use std::time::Duration;

/// The variables naming the AWS resources the suite runs on.
const REQUIRED: [&str; 10] = [
    "SHIPCORE_ECS_CLUSTER",
    "SHIPCORE_ECS_TASK_DEFINITION",
    "SHIPCORE_ECS_CONTAINER",
    "SHIPCORE_ECS_IMAGE",
    "SHIPCORE_ECS_SUBNETS",
    "SHIPCORE_ECS_SECURITY_GROUPS",
    "SHIPCORE_ECS_VPC",
    "SHIPCORE_ECS_LISTENER_ARN",
    "SHIPCORE_ECS_PORT",
    "SHIPCORE_ECS_HEALTH_PATH",
];

/// The variables of [`REQUIRED`] `lookup` has no non-empty value for.
fn missing(lookup: impl Fn(&str) -> Option<String>) -> Vec<&'static str> {
    REQUIRED
        .into_iter()
        .filter(|k| lookup(k).is_none_or(|v| v.trim().is_empty()))
        .collect()
}

/// A required variable (checked by [`missing`] first).
fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("SHIPCORE_ECS_E2E=1 needs {name}"))
}

/// Everything missing for a real-AWS run, named: variables, region, credentials (the
/// default chain: environment, profile, web identity, container or instance role).
async fn what_is_missing(sdk: &aws_config::SdkConfig) -> Vec<String> {
    use aws_sdk_ecs::config::ProvideCredentials;
    let mut out: Vec<String> = missing(|k| std::env::var(k).ok())
        .into_iter()
        .map(|k| format!("{k} (unset)"))
        .collect();
    if sdk.region().is_none() {
        out.push("an AWS region (AWS_REGION, or region in the AWS_PROFILE's config)".into());
    }
    let creds = match sdk.credentials_provider() {
        Some(p) => p.provide_credentials().await.err().map(|e| {
            let mut msg = e.to_string();
            let mut src = std::error::Error::source(&e);
            while let Some(s) = src {
                msg.push_str(&format!(": {s}"));
                src = s.source();
            }
            msg
        }),
        None => Some("no credentials provider configured".into()),
    };
    if let Some(why) = creds {
        out.push(format!(
            "AWS credentials (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE, \
             or a role): the default chain found none ({why})"
        ));
    }
    out
}

#[test]
fn the_missing_list_names_every_unset_or_empty_variable() {
    assert_eq!(missing(|_| None), REQUIRED);
    assert!(missing(|_| Some("x".into())).is_empty());
    let got = missing(|k| match k {
        "SHIPCORE_ECS_VPC" => None,
        "SHIPCORE_ECS_PORT" => Some(" ".into()),
        _ => Some("x".into()),
    });
    assert_eq!(got, ["SHIPCORE_ECS_VPC", "SHIPCORE_ECS_PORT"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_on_real_ecs() {
    match std::env::var("SHIPCORE_ECS_E2E") {
        Ok(v) if v == "1" => {}
        other => {
            let why = match other {
                Ok(v) => format!("SHIPCORE_ECS_E2E is {v:?}, not \"1\""),
                Err(_) => "SHIPCORE_ECS_E2E is not set".to_string(),
            };
            // Straight to the process's stderr: libtest captures eprintln! of a passing test,
            // and a skip must be seen.
            let _ = writeln!(
                std::io::stderr(),
                "skipped: the real-AWS ECS suite: {why}. It runs only with SHIPCORE_ECS_E2E=1, \
                 AWS credentials and {} (it creates and deletes ECS services and target groups \
                 in that account); the moto suites (SHIPCORE_E2E=1) cover the same scenarios",
                REQUIRED.join(", ")
            );
            return;
        }
    }
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let absent = what_is_missing(&sdk).await;
    assert!(
        absent.is_empty(),
        "SHIPCORE_ECS_E2E=1 but the real-AWS ECS suite cannot run; missing:\n  - {}",
        absent.join("\n  - ")
    );
    let subnets = env("SHIPCORE_ECS_SUBNETS");
    let sgs = env("SHIPCORE_ECS_SECURITY_GROUPS");
    let subnets: Vec<&str> = subnets.split(',').collect();
    let sgs: Vec<&str> = sgs.split(',').collect();
    let port: u16 = env("SHIPCORE_ECS_PORT")
        .parse()
        .unwrap_or_else(|e| panic!("SHIPCORE_ECS_PORT: not a port number: {e}"));
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
    .unwrap_or_else(|e| panic!("the SHIPCORE_ECS_* variables: {e}"));
    let driver = EcsDriver::new(cfg, &sdk);
    let image = env("SHIPCORE_ECS_IMAGE");
    let v1 = Revision::new("conf-v1", "1.0.0".parse().unwrap(), &image);
    let v2 = Revision::new("conf-v2", "2.0.0".parse().unwrap(), &image);
    let suite = Conformance::new(&driver, Target::new("web", "shipcore-conformance"), v1, v2)
        .with_replicas(1)
        .with_deadline(Duration::from_secs(600), Duration::from_secs(5));
    conformance::run_all(&suite).await;
}
