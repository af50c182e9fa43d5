//! The ECS end-to-end world on moto: a private moto server, a VPC, subnet and security
//! group (EC2 query API over plain HTTP: no EC2 SDK is built), an ALB with a production
//! listener and a test listener (both answering a fixed 503 until the driver routes), an
//! ECS cluster and a base task definition.
//!
//! moto is the control plane only: it runs no tasks, and services never register targets.
//! So [`World::start`] also starts a background task that PLAYS ECS'S SCHEDULER: every
//! 100 ms it reads each service's desiredCount (DescribeServices) and registers that many
//! task IPs in the service's target group (moto reports IP targets healthy), deregistering
//! any above it; for a service in `withhold` it registers none (a candidate that never
//! becomes healthy). For a service without a load balancer (native rolling) it "starts the
//! tasks" by updating the service with its own desiredCount (moto then sets runningCount).
//!
//! Every DescribeServices here asks for tags, as the driver does: moto 5.2.5 keeps "include
//! tags in DescribeServices" as state shared by all requests, so a concurrent call without
//! `include=TAGS` can strip the tags from the driver's answer (seen as "v1 is not deployed").
#![allow(dead_code, clippy::unwrap_used)]

#[path = "../../../metrics-cloudwatch/tests/support/moto.rs"]
pub mod moto;
pub mod rollout;

use aws_config::{BehaviorVersion, SdkConfig};
use aws_sdk_ecs::config::{Credentials, Region};
use aws_sdk_ecs::types::{Compatibility, ContainerDefinition, NetworkMode, PortMapping};
use aws_sdk_elasticloadbalancingv2::types::{
    Action as ElbAction, ActionTypeEnum, FixedResponseActionConfig, ProtocolEnum, TargetDescription,
};
pub use moto::Moto;
use shipcore_driver_ecs::{EcsConfig, EcsConfigBuilder, ListenerRef, TargetGroupTemplate};
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub const CLUSTER: &str = "shipcore-e2e";
pub const FAMILY: &str = "web";
pub const CONTAINER: &str = "app";

/// Everything a test needs; the scheduler stops when this drops.
pub struct World {
    pub moto: Moto,
    pub sdk: SdkConfig,
    pub ecs: aws_sdk_ecs::Client,
    pub elb: aws_sdk_elasticloadbalancingv2::Client,
    pub vpc: String,
    pub subnet: String,
    pub sg: String,
    pub listener: String,
    pub test_listener: String,
    /// The ALB's ARN.
    pub load_balancer: String,
    /// Service names whose targets the scheduler withholds.
    pub withhold: Arc<Mutex<HashSet<String>>>,
    scheduler: tokio::task::JoinHandle<()>,
}

impl Drop for World {
    fn drop(&mut self) {
        self.scheduler.abort();
    }
}

fn tag_value(xml: &str, tag: &str) -> String {
    let open = format!("<{tag}>");
    let start = xml
        .find(&open)
        .unwrap_or_else(|| panic!("no <{tag}> in {xml}"))
        + open.len();
    let end = xml[start..].find(&format!("</{tag}>")).unwrap() + start;
    xml[start..end].to_string()
}

async fn ec2(moto: &Moto, params: &[(&str, &str)]) -> String {
    let mut form: Vec<(&str, &str)> = vec![("Version", "2016-11-15")];
    form.extend_from_slice(params);
    let r = reqwest::Client::new()
        .post(moto.url())
        .header(
            "Authorization",
            "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/ec2/aws4_request, SignedHeaders=host, Signature=x",
        )
        .form(&form)
        .send()
        .await
        .unwrap();
    let text = r.text().await.unwrap();
    assert!(!text.contains("<Errors>"), "EC2 {params:?}: {text}");
    text
}

impl World {
    /// Starts moto and builds the world; `None` when moto is missing (skip).
    pub async fn start() -> Option<World> {
        let moto = Moto::start().await?;
        let sdk = aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new(Moto::REGION))
            .endpoint_url(moto.endpoint())
            .credentials_provider(Credentials::new(
                Moto::ACCESS_KEY_ID,
                Moto::SECRET_ACCESS_KEY,
                None,
                None,
                "moto",
            ))
            .load()
            .await;
        let ecs = aws_sdk_ecs::Client::new(&sdk);
        let elb = aws_sdk_elasticloadbalancingv2::Client::new(&sdk);
        let vpc = tag_value(
            &ec2(
                &moto,
                &[("Action", "CreateVpc"), ("CidrBlock", "10.0.0.0/16")],
            )
            .await,
            "vpcId",
        );
        let subnet = tag_value(
            &ec2(
                &moto,
                &[
                    ("Action", "CreateSubnet"),
                    ("VpcId", &vpc),
                    ("CidrBlock", "10.0.1.0/24"),
                    ("AvailabilityZone", "us-east-1a"),
                ],
            )
            .await,
            "subnetId",
        );
        let subnet2 = tag_value(
            &ec2(
                &moto,
                &[
                    ("Action", "CreateSubnet"),
                    ("VpcId", &vpc),
                    ("CidrBlock", "10.0.2.0/24"),
                    ("AvailabilityZone", "us-east-1b"),
                ],
            )
            .await,
            "subnetId",
        );
        let sg = tag_value(
            &ec2(
                &moto,
                &[
                    ("Action", "CreateSecurityGroup"),
                    ("GroupName", "web"),
                    ("GroupDescription", "web"),
                    ("VpcId", &vpc),
                ],
            )
            .await,
            "groupId",
        );
        let lb = elb
            .create_load_balancer()
            .name("web-alb")
            .subnets(&subnet)
            .subnets(&subnet2)
            .security_groups(&sg)
            .send()
            .await
            .unwrap();
        let lb_arn = lb.load_balancers()[0]
            .load_balancer_arn()
            .unwrap()
            .to_string();
        let fixed = || {
            ElbAction::builder()
                .r#type(ActionTypeEnum::FixedResponse)
                .fixed_response_config(
                    FixedResponseActionConfig::builder()
                        .status_code("503")
                        .content_type("text/plain")
                        .build(),
                )
                .build()
        };
        let mut listeners = Vec::new();
        for port in [80, 8080] {
            let l = elb
                .create_listener()
                .load_balancer_arn(&lb_arn)
                .protocol(ProtocolEnum::Http)
                .port(port)
                .default_actions(fixed())
                .send()
                .await
                .unwrap();
            listeners.push(l.listeners()[0].listener_arn().unwrap().to_string());
        }
        ecs.create_cluster()
            .cluster_name(CLUSTER)
            .send()
            .await
            .unwrap();
        ecs.register_task_definition()
            .family(FAMILY)
            .network_mode(NetworkMode::Awsvpc)
            .requires_compatibilities(Compatibility::Fargate)
            .cpu("256")
            .memory("512")
            .container_definitions(
                ContainerDefinition::builder()
                    .name(CONTAINER)
                    .image("web:base")
                    // moto crashes (HTTP 500) on a container without container-level memory.
                    .memory(256)
                    .port_mappings(PortMapping::builder().container_port(8080).build())
                    .build(),
            )
            .send()
            .await
            .unwrap();
        let withhold: Arc<Mutex<HashSet<String>>> = Arc::default();
        let scheduler = tokio::spawn(schedule(ecs.clone(), elb.clone(), withhold.clone()));
        Some(World {
            moto,
            sdk,
            ecs,
            elb,
            vpc,
            subnet,
            sg,
            load_balancer: lb_arn.clone(),
            listener: listeners[0].clone(),
            test_listener: listeners[1].clone(),
            withhold,
            scheduler,
        })
    }

    /// The driver configuration for this world, in traffic mode, draining wait 0.
    pub fn traffic_config(&self) -> EcsConfigBuilder {
        EcsConfig::builder(CLUSTER, FAMILY, CONTAINER)
            .network(&[&self.subnet], &[&self.sg])
            .traffic(
                ListenerRef::Listener(self.listener.clone()),
                TargetGroupTemplate::new(8080, &self.vpc),
            )
            .deregistration_wait(Duration::ZERO)
    }

    /// The same in native rolling mode.
    pub fn rolling_config(&self) -> EcsConfigBuilder {
        EcsConfig::builder(CLUSTER, FAMILY, CONTAINER)
            .network(&[&self.subnet], &[&self.sg])
            .deregistration_wait(Duration::ZERO)
    }

    /// The weights moto stores on a listener, as (target group label, weight) (see
    /// [`label`]), sorted; an empty list for a fixed response.
    pub async fn weights(&self, listener: &str) -> Vec<(String, i32)> {
        let out = self
            .elb
            .describe_listeners()
            .listener_arns(listener)
            .send()
            .await
            .unwrap();
        let actions = out.listeners()[0].default_actions().to_vec();
        let groups = shipcore_driver_ecs::listener::forward_groups(&actions);
        labelled(&self.elb, groups).await.unwrap()
    }

    /// Names of the cluster's ACTIVE services, sorted.
    pub async fn services(&self) -> Vec<String> {
        let arns = self
            .ecs
            .list_services()
            .cluster(CLUSTER)
            .send()
            .await
            .unwrap();
        let arns = arns.service_arns().to_vec();
        if arns.is_empty() {
            return Vec::new();
        }
        let mut names = Vec::new();
        for chunk in arns.chunks(10) {
            let d = self
                .ecs
                .describe_services()
                .include(aws_sdk_ecs::types::ServiceField::Tags)
                .cluster(CLUSTER)
                .set_services(Some(chunk.to_vec()))
                .send()
                .await
                .unwrap();
            for s in d.services() {
                if s.status() == Some("ACTIVE") {
                    names.push(format!(
                        "{}x{}",
                        s.service_name().unwrap(),
                        s.desired_count()
                    ));
                }
            }
        }
        names.sort();
        names
    }

    /// Labels (see [`label`]) of all target groups, sorted.
    pub async fn target_groups(&self) -> Vec<String> {
        let out = self.elb.describe_target_groups().send().await.unwrap();
        let mut v = Vec::new();
        for t in out.target_groups() {
            v.push(
                label(&self.elb, t.target_group_arn().unwrap())
                    .await
                    .unwrap(),
            );
        }
        v.sort();
        v
    }
}

/// A target group as the tests name it: `<service>-<revision>` (`web-v1`) from its
/// `shipcore:target` and `shipcore:revision` tags, provided its name is exactly the
/// driver's `target_group_name(service, environment, revision)`; any other group (or a
/// misnamed one) by its raw name, so an assertion on it fails visibly. `None` when moto
/// did not answer.
pub async fn label(elb: &aws_sdk_elasticloadbalancingv2::Client, arn: &str) -> Option<String> {
    let out = elb
        .describe_target_groups()
        .target_group_arns(arn)
        .send()
        .await
        .ok()?;
    let name = out
        .target_groups()
        .first()?
        .target_group_name()?
        .to_string();
    let tags = shipcore_driver_ecs::listener::target_group_tags(elb, arn)
        .await
        .ok()?;
    let get = |k: &str| tags.iter().find(|(tk, _)| tk == k).map(|(_, v)| v.clone());
    let (Some(target), Some(rev)) = (get("shipcore:target"), get("shipcore:revision")) else {
        return Some(name);
    };
    let Some((service, env)) = target.split_once('/') else {
        return Some(name);
    };
    if name == shipcore_driver_ecs::names::target_group_name(service, env, &rev) {
        Some(format!("{service}-{rev}"))
    } else {
        Some(name)
    }
}

/// `groups` (ARN, weight) as (label, weight), sorted.
pub async fn labelled(
    elb: &aws_sdk_elasticloadbalancingv2::Client,
    groups: Vec<(String, i32)>,
) -> Option<Vec<(String, i32)>> {
    let mut named = Vec::new();
    for (arn, w) in groups {
        named.push((label(elb, &arn).await?, w));
    }
    named.sort();
    Some(named)
}

/// The scheduler stand-in (see the module docs).
async fn schedule(
    ecs: aws_sdk_ecs::Client,
    elb: aws_sdk_elasticloadbalancingv2::Client,
    withhold: Arc<Mutex<HashSet<String>>>,
) {
    loop {
        let _ = schedule_once(&ecs, &elb, &withhold).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn schedule_once(
    ecs: &aws_sdk_ecs::Client,
    elb: &aws_sdk_elasticloadbalancingv2::Client,
    withhold: &Mutex<HashSet<String>>,
) -> Result<(), Box<dyn std::error::Error>> {
    let arns = ecs
        .list_services()
        .cluster(CLUSTER)
        .send()
        .await?
        .service_arns()
        .to_vec();
    for (i, chunk) in arns.chunks(10).enumerate() {
        let d = ecs
            .describe_services()
            .include(aws_sdk_ecs::types::ServiceField::Tags)
            .cluster(CLUSTER)
            .set_services(Some(chunk.to_vec()))
            .send()
            .await?;
        for (j, s) in d.services().iter().enumerate() {
            let name = s.service_name().unwrap_or_default().to_string();
            let active = s.status() == Some("ACTIVE");
            let want = if active && !withhold.lock().unwrap().contains(&name) {
                s.desired_count().max(0) as usize
            } else {
                0
            };
            let Some(tg) = s.load_balancers().iter().find_map(|l| l.target_group_arn()) else {
                if active && s.running_count() != s.desired_count() {
                    ecs.update_service()
                        .cluster(CLUSTER)
                        .service(&name)
                        .desired_count(s.desired_count())
                        .send()
                        .await?;
                }
                continue;
            };
            let Ok(health) = elb
                .describe_target_health()
                .target_group_arn(tg)
                .send()
                .await
            else {
                continue;
            };
            let have: Vec<String> = health
                .target_health_descriptions()
                .iter()
                .filter_map(|t| t.target()?.id().map(str::to_string))
                .collect();
            let ip = |k: usize| format!("10.{}.{}.{}", 100 + i, j, k + 1);
            let wanted: Vec<String> = (0..want).map(ip).collect();
            let add: Vec<&String> = wanted.iter().filter(|a| !have.contains(a)).collect();
            let remove: Vec<&String> = have.iter().filter(|a| !wanted.contains(a)).collect();
            if !add.is_empty() {
                let mut r = elb.register_targets().target_group_arn(tg);
                for a in add {
                    r = r.targets(TargetDescription::builder().id(a).port(8080).build());
                }
                r.send().await?;
            }
            if !remove.is_empty() {
                let mut r = elb.deregister_targets().target_group_arn(tg);
                for a in remove {
                    r = r.targets(TargetDescription::builder().id(a).port(8080).build());
                }
                r.send().await?;
            }
        }
    }
    Ok(())
}
