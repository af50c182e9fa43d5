//! The traffic mode step by step on a real moto, asserting from moto's stored state after
//! every action: the exact listener weights (100 -> 90/10 -> 50/50 -> 0/100), the blue-green
//! preview on the test listener, a rollback restoring 100/0 before the candidate is scaled
//! down, which services and target groups remain, that an unchanged deploy registers no new
//! task definition, that an invalid route changes nothing, and that an operation moto does
//! not implement (its HTML 500) is a permanent error. The support module's background task
//! plays ECS's scheduler. Skipped without moto, unless SHIPCORE_E2E=1.
#![allow(clippy::unwrap_used)]

mod support;

use aws_sdk_ecs::types::TaskDefinitionStatus;
use shipcore::driver::{Driver, ErrorKind};
use shipcore::model::{Action, Revision, RevisionId, Target, WeightSet};
use shipcore_driver_ecs::EcsDriver;
use std::time::{Duration, Instant};

fn rev(id: &str, image: &str) -> Revision {
    Revision::new(id, "1.0.0".parse().unwrap(), image)
}
fn route(pairs: &[(&str, u8)]) -> Action {
    Action::Route {
        weights: WeightSet(
            pairs
                .iter()
                .map(|(r, w)| (RevisionId::new(*r), *w))
                .collect(),
        ),
    }
}
fn w(pairs: &[(&str, i32)]) -> Vec<(String, i32)> {
    pairs.iter().map(|(n, w)| (n.to_string(), *w)).collect()
}

async fn task_definitions(world: &support::World) -> usize {
    let out = world
        .ecs
        .list_task_definitions()
        .family_prefix(support::FAMILY)
        .status(TaskDefinitionStatus::Active)
        .send()
        .await
        .unwrap();
    out.task_definition_arns().len()
}

async fn wait_ready(d: &EcsDriver, t: &Target, id: &str, n: u32) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let f = d.observe(t).await.unwrap();
        if f.ready_of(&RevisionId::new(id)) == n && f.desired_of(&RevisionId::new(id)) == n {
            return;
        }
        assert!(Instant::now() < deadline, "{id} x{n} not ready: {f:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn weights_preview_rollback_and_cleanup_as_moto_stores_them() {
    let Some(world) = support::World::start().await else {
        return;
    };
    let cfg = world
        .traffic_config()
        .test_listener(world.test_listener.clone())
        .build()
        .unwrap();
    let d = EcsDriver::new(cfg, &world.sdk);
    let t = Target::new("web", "prod");
    let (v1, v2) = (rev("v1", "web:1"), rev("v2", "web:2"));
    assert!(d.capabilities().preview && d.capabilities().weighted_traffic);

    d.preflight(&t, &v2).await.unwrap();
    let before = task_definitions(&world).await;
    d.apply(
        &t,
        &Action::Deploy {
            revision: v1.clone(),
            replicas: 2,
        },
    )
    .await
    .unwrap();
    assert_eq!(
        world.weights(&world.listener).await,
        w(&[("web-v1", 100)]),
        "the first revision takes all traffic"
    );
    wait_ready(&d, &t, "v1", 2).await;
    assert_eq!(task_definitions(&world).await, before + 1);
    d.apply(
        &t,
        &Action::Deploy {
            revision: v1.clone(),
            replicas: 2,
        },
    )
    .await
    .unwrap();
    assert_eq!(
        task_definitions(&world).await,
        before + 1,
        "unchanged deploy: no new task definition"
    );

    d.apply(
        &t,
        &Action::Deploy {
            revision: v2.clone(),
            replicas: 1,
        },
    )
    .await
    .unwrap();
    assert_eq!(
        world.weights(&world.listener).await,
        w(&[("web-v1", 100)]),
        "the candidate gets no production traffic"
    );
    assert_eq!(
        world.weights(&world.test_listener).await,
        w(&[("web-v2", 1)]),
        "the preview shows the candidate"
    );
    wait_ready(&d, &t, "v2", 1).await;

    for (split, stored) in [
        (
            route(&[("v1", 90), ("v2", 10)]),
            w(&[("web-v1", 90), ("web-v2", 10)]),
        ),
        (
            route(&[("v1", 50), ("v2", 50)]),
            w(&[("web-v1", 50), ("web-v2", 50)]),
        ),
        (route(&[("v2", 100)]), w(&[("web-v2", 100)])),
    ] {
        d.apply(&t, &split).await.unwrap();
        assert_eq!(
            world.weights(&world.listener).await,
            stored,
            "{}",
            split.describe()
        );
        let f = d.observe(&t).await.unwrap();
        let observed: Vec<(String, i32)> = stored.iter().map(|(n, w)| (n.clone(), *w)).collect();
        let got: Vec<(String, i32)> = f
            .revisions
            .iter()
            .filter(|r| r.weight > 0)
            .map(|r| (format!("web-{}", r.revision), i32::from(r.weight)))
            .collect();
        assert_eq!(got, observed, "observe reads the weights back: {f:?}");
    }

    // Invalid routes fail permanently before any call and change nothing.
    for bad in [
        route(&[("v1", 60), ("v2", 30)]),
        route(&[("v1", 50), ("v9", 50)]),
    ] {
        let e = d.apply(&t, &bad).await.unwrap_err();
        assert_eq!(e.kind, ErrorKind::Permanent, "{e}");
        assert_eq!(world.weights(&world.listener).await, w(&[("web-v2", 100)]));
    }

    // A rollback: stable gets 100/0 back first; only then is the candidate retired.
    d.apply(&t, &route(&[("v1", 100), ("v2", 0)]))
        .await
        .unwrap();
    assert_eq!(world.weights(&world.listener).await, w(&[("web-v1", 100)]));
    assert_eq!(
        world.services().await,
        ["web-v1x2", "web-v2x1"],
        "the candidate still runs when traffic is restored"
    );
    d.apply(
        &t,
        &Action::Retire {
            revision: v2.id.clone(),
        },
    )
    .await
    .unwrap();
    assert_eq!(world.services().await, ["web-v1x2"]);
    assert_eq!(world.target_groups().await, ["web-v1"]);
    assert!(
        world.weights(&world.test_listener).await.is_empty(),
        "the preview of a retired revision is gone"
    );
    assert_eq!(world.weights(&world.listener).await, w(&[("web-v1", 100)]));
    d.apply(
        &t,
        &Action::Retire {
            revision: v2.id.clone(),
        },
    )
    .await
    .unwrap();

    // Retiring the last revision: the listener answers a fixed 503, nothing is left.
    d.apply(
        &t,
        &Action::Retire {
            revision: v1.id.clone(),
        },
    )
    .await
    .unwrap();
    assert!(world.services().await.is_empty());
    assert!(world.target_groups().await.is_empty());
    assert!(world.weights(&world.listener).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operation_moto_does_not_implement_is_a_permanent_error() {
    let Some(world) = support::World::start().await else {
        return;
    };
    // moto 5.2.5 answers the ServiceDeployment APIs with an HTML 500.
    let err = world
        .ecs
        .list_service_deployments()
        .service("web")
        .cluster(support::CLUSTER)
        .send()
        .await
        .unwrap_err();
    let e = shipcore_driver_ecs::error::sdk_error("list service deployments", &err);
    assert_eq!(e.kind, ErrorKind::Permanent, "{e}");
    assert!(e.message.contains("does not implement"), "{e}");
    // A missing base task definition is a ClientException: permanent, and preflight says so.
    let cfg = shipcore_driver_ecs::EcsConfig::builder(
        support::CLUSTER,
        "no-such-family",
        support::CONTAINER,
    )
    .network(&[&world.subnet], &[&world.sg])
    .build()
    .unwrap();
    let d = EcsDriver::new(cfg, &world.sdk);
    let e = d
        .preflight(&Target::new("web", "prod"), &rev("v1", "web:1"))
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Permanent, "{e}");
    // Nothing listening: a dispatch failure, transient.
    let mut sdk = world.sdk.to_builder();
    sdk.set_endpoint_url(Some("http://127.0.0.1:9".into()));
    let d = EcsDriver::new(world.rolling_config().build().unwrap(), &sdk.build());
    let e = d.observe(&Target::new("web", "prod")).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Transient, "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listener_rule_carries_the_weights_when_configured() {
    use aws_sdk_elasticloadbalancingv2::types::{
        Action as ElbAction, ActionTypeEnum, FixedResponseActionConfig, RuleCondition,
    };
    let Some(world) = support::World::start().await else {
        return;
    };
    let rule = world
        .elb
        .create_rule()
        .listener_arn(&world.listener)
        .priority(10)
        .conditions(
            RuleCondition::builder()
                .field("path-pattern")
                .values("/api/*")
                .build(),
        )
        .actions(
            ElbAction::builder()
                .r#type(ActionTypeEnum::FixedResponse)
                .fixed_response_config(
                    FixedResponseActionConfig::builder()
                        .status_code("503")
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    let rule_arn = rule.rules()[0].rule_arn().unwrap().to_string();
    let cfg = shipcore_driver_ecs::EcsConfig::builder(
        support::CLUSTER,
        support::FAMILY,
        support::CONTAINER,
    )
    .network(&[&world.subnet], &[&world.sg])
    .traffic(
        shipcore_driver_ecs::ListenerRef::Rule(rule_arn.clone()),
        shipcore_driver_ecs::TargetGroupTemplate::new(8080, &world.vpc),
    )
    .deregistration_wait(Duration::ZERO)
    .build()
    .unwrap();
    let d = EcsDriver::new(cfg, &world.sdk);
    let t = Target::new("api", "prod");
    d.apply(
        &t,
        &Action::Deploy {
            revision: rev("v1", "api:1"),
            replicas: 1,
        },
    )
    .await
    .unwrap();
    d.apply(
        &t,
        &Action::Deploy {
            revision: rev("v2", "api:2"),
            replicas: 1,
        },
    )
    .await
    .unwrap();
    wait_ready(&d, &t, "v2", 1).await;
    d.apply(&t, &route(&[("v1", 90), ("v2", 10)]))
        .await
        .unwrap();
    let out = world
        .elb
        .describe_rules()
        .rule_arns(&rule_arn)
        .send()
        .await
        .unwrap();
    let groups = shipcore_driver_ecs::listener::forward_groups(out.rules()[0].actions());
    let named = support::labelled(&world.elb, groups).await.unwrap();
    assert_eq!(named, w(&[("api-v1", 90), ("api-v2", 10)]));
    assert!(
        world.weights(&world.listener).await.is_empty(),
        "the listener's default action is untouched"
    );
    let f = d.observe(&t).await.unwrap();
    assert_eq!(
        (
            f.weight_of(&RevisionId::new("v1")),
            f.weight_of(&RevisionId::new("v2"))
        ),
        (90, 10)
    );
}

/// The target group a service of `cluster` is behind.
async fn group_of(world: &support::World, cluster: &str, service: &str) -> String {
    let out = world
        .ecs
        .describe_services()
        .include(aws_sdk_ecs::types::ServiceField::Tags)
        .cluster(cluster)
        .services(service)
        .send()
        .await
        .unwrap();
    out.services()[0].load_balancers()[0]
        .target_group_arn()
        .unwrap()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_environments_never_share_a_target_group_and_a_foreign_one_is_refused() {
    let Some(world) = support::World::start().await else {
        return;
    };
    // Staging: its own cluster in the same account and region, the test listener as its
    // production listener. Target group names are account-wide, service names per cluster.
    world
        .ecs
        .create_cluster()
        .cluster_name("staging")
        .send()
        .await
        .unwrap();
    let staging_cfg =
        shipcore_driver_ecs::EcsConfig::builder("staging", support::FAMILY, support::CONTAINER)
            .network(&[&world.subnet], &[&world.sg])
            .traffic(
                shipcore_driver_ecs::ListenerRef::Listener(world.test_listener.clone()),
                shipcore_driver_ecs::TargetGroupTemplate::new(8080, &world.vpc),
            )
            .deregistration_wait(Duration::ZERO)
            .build()
            .unwrap();
    let staging = EcsDriver::new(staging_cfg, &world.sdk);
    let prod = EcsDriver::new(world.traffic_config().build().unwrap(), &world.sdk);
    let v1 = rev("v1", "web:1");
    let deploy = |r: &Revision| Action::Deploy {
        revision: r.clone(),
        replicas: 1,
    };
    staging
        .apply(&Target::new("web", "staging"), &deploy(&v1))
        .await
        .unwrap();
    prod.apply(&Target::new("web", "prod"), &deploy(&v1))
        .await
        .unwrap();

    // Same service, same revision, two environments: two groups, each tagged with its own
    // target (before the fix prod reused staging's group "web-v1").
    let (tg_staging, tg_prod) = (
        group_of(&world, "staging", "web-v1").await,
        group_of(&world, support::CLUSTER, "web-v1").await,
    );
    assert_ne!(tg_staging, tg_prod, "prod reused staging's target group");
    for (arn, owner) in [(&tg_staging, "web/staging"), (&tg_prod, "web/prod")] {
        let tags = shipcore_driver_ecs::listener::target_group_tags(&world.elb, arn)
            .await
            .unwrap();
        assert!(
            tags.contains(&("shipcore:target".to_string(), owner.to_string())),
            "{arn}: {tags:?}"
        );
    }
    let mut names = world.target_groups().await;
    names.sort();
    assert_eq!(
        names,
        ["web-v1", "web-v1"],
        "both named by the driver's scheme"
    );
    assert_eq!(world.weights(&world.listener).await, w(&[("web-v1", 100)]));
    let prod_forward = shipcore_driver_ecs::listener::forward_groups(
        world
            .elb
            .describe_listeners()
            .listener_arns(&world.listener)
            .send()
            .await
            .unwrap()
            .listeners()[0]
            .default_actions(),
    );
    assert_eq!(prod_forward, [(tg_prod.clone(), 100)]);

    // A group that already has the name prod's v2 would get, owned by another target: the
    // deploy fails permanently naming it, and creates no service.
    let foreign = shipcore_driver_ecs::names::target_group_name("web", "prod", "v2");
    world
        .elb
        .create_target_group()
        .name(&foreign)
        .protocol(aws_sdk_elasticloadbalancingv2::types::ProtocolEnum::Http)
        .port(8080)
        .vpc_id(&world.vpc)
        .target_type(aws_sdk_elasticloadbalancingv2::types::TargetTypeEnum::Ip)
        .tags(
            aws_sdk_elasticloadbalancingv2::types::Tag::builder()
                .key("shipcore:target")
                .value("web/other")
                .build(),
        )
        .send()
        .await
        .unwrap();
    let e = prod
        .apply(&Target::new("web", "prod"), &deploy(&rev("v2", "web:2")))
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Permanent, "{e}");
    assert!(
        e.message.contains(&foreign) && e.message.contains("web/other"),
        "{e}"
    );
    assert_eq!(world.services().await, ["web-v1x1"]);
    assert_eq!(world.weights(&world.listener).await, w(&[("web-v1", 100)]));
}
