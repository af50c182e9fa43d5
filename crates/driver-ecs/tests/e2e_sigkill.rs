//! SIGKILL mid-canary and resume, with a real process kill (`harness = false`).
//!
//! The parent starts moto (one private server, `support::World`) and plays ECS's scheduler
//! (the support module's background task registers each service's task IPs in its target
//! group). It deploys the stable revision, then re-executes this test binary with
//! `SHIPCORE_SIGKILL_CHILD=1`: that child runs a canary (10% with a 3 s bake, 50%, 100%) with
//! an `EcsDriver` on the same moto, journaling to a `FileJournal` in a temp directory. As
//! soon as moto's listener shows the first canary split (90/10), the parent kills the child
//! with SIGKILL (`Child::kill`): no destructor, no flush beyond what the journal already
//! made durable. It then resumes the rollout from the journal in-process, with a fresh
//! driver, and asserts the exact end state from moto: the listener forwards to the
//! candidate's target group only (0/100 -> candidate only), the stable service and its
//! target group are gone, and exactly one task definition was registered for the candidate
//! (the resume re-derived it, it did not register a duplicate), one service and one target
//! group for it.
//!
//! Skipped without moto, unless SHIPCORE_E2E=1.
#![allow(clippy::unwrap_used)]

mod support;

use shipcore::engine::{EventKind, Phase};
use shipcore::strategy::{Canary, CanaryStep, PauseSpec, StrategyConfig};
use shipcore_driver_ecs::{EcsConfig, EcsDriver, ListenerRef, TargetGroupTemplate};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::rollout::{runner, seed, spec, v2, w};

const CHILD: &str = "SHIPCORE_SIGKILL_CHILD";

/// What the child needs to reach the parent's world, passed as environment variables.
struct Wiring {
    endpoint: String,
    subnet: String,
    sg: String,
    vpc: String,
    listener: String,
    test_listener: String,
}

impl Wiring {
    const VARS: [&'static str; 6] = [
        "SHIPCORE_SIGKILL_ENDPOINT",
        "SHIPCORE_SIGKILL_SUBNET",
        "SHIPCORE_SIGKILL_SG",
        "SHIPCORE_SIGKILL_VPC",
        "SHIPCORE_SIGKILL_LISTENER",
        "SHIPCORE_SIGKILL_TEST_LISTENER",
    ];

    fn of(world: &support::World) -> Wiring {
        Wiring {
            endpoint: world.moto.endpoint().to_string(),
            subnet: world.subnet.clone(),
            sg: world.sg.clone(),
            vpc: world.vpc.clone(),
            listener: world.listener.clone(),
            test_listener: world.test_listener.clone(),
        }
    }

    fn values(&self) -> [&str; 6] {
        [
            &self.endpoint,
            &self.subnet,
            &self.sg,
            &self.vpc,
            &self.listener,
            &self.test_listener,
        ]
    }

    fn from_env() -> Wiring {
        let v = Wiring::VARS.map(|k| std::env::var(k).unwrap_or_else(|_| panic!("{k} unset")));
        let [endpoint, subnet, sg, vpc, listener, test_listener] = v;
        Wiring {
            endpoint,
            subnet,
            sg,
            vpc,
            listener,
            test_listener,
        }
    }

    /// The driver both processes use (the same configuration as e2e_rollout's).
    async fn driver(&self) -> Arc<EcsDriver> {
        use aws_config::BehaviorVersion;
        use aws_sdk_ecs::config::{Credentials, Region};
        let sdk = aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new(support::Moto::REGION))
            .endpoint_url(&self.endpoint)
            .credentials_provider(Credentials::new(
                support::Moto::ACCESS_KEY_ID,
                support::Moto::SECRET_ACCESS_KEY,
                None,
                None,
                "moto",
            ))
            .load()
            .await;
        let cfg = EcsConfig::builder(support::CLUSTER, support::FAMILY, support::CONTAINER)
            .network(&[&self.subnet], &[&self.sg])
            .traffic(
                ListenerRef::Listener(self.listener.clone()),
                TargetGroupTemplate::new(8080, &self.vpc),
            )
            .test_listener(self.test_listener.clone())
            .deregistration_wait(Duration::from_millis(300))
            .build()
            .unwrap();
        Arc::new(EcsDriver::new(cfg, &sdk))
    }
}

fn canary() -> StrategyConfig {
    StrategyConfig::Canary(Canary {
        steps: vec![
            CanaryStep::SetWeight(10),
            // Long enough that the kill lands inside the canary, never after it.
            CanaryStep::Pause(PauseSpec(Some(Duration::from_secs(3)))),
            CanaryStep::SetWeight(50),
            CanaryStep::Pause(PauseSpec(Some(Duration::from_millis(600)))),
        ],
        scale_down_delay: Duration::ZERO,
        ..Default::default()
    })
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    // `cargo test` may pass filters and flags; this binary has one test.
    if args.iter().any(|a| a == "--list") {
        println!("e2e_sigkill: test");
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    if std::env::var(CHILD).as_deref() == Ok("1") {
        let journal = std::env::var("SHIPCORE_SIGKILL_JOURNAL").unwrap();
        rt.block_on(child(Path::new(&journal)));
        return;
    }
    rt.block_on(parent());
}

/// The child: runs the canary from the start until the parent kills it.
async fn child(journal: &Path) {
    let driver = Wiring::from_env().driver().await;
    let s = spec(&*driver, &canary(), 2, Duration::from_secs(20));
    let report = runner(driver, journal).build().start(s).await;
    // Reaching this line means the parent was too late: it fails on the exit code.
    eprintln!("child: the rollout ended before the kill: {report:?}");
    std::process::exit(3);
}

async fn task_definitions_of(world: &support::World, image: &str) -> (usize, usize) {
    let out = world
        .ecs
        .list_task_definitions()
        .family_prefix(support::FAMILY)
        .send()
        .await
        .unwrap();
    let all = out.task_definition_arns().to_vec();
    let mut with_image = 0;
    for arn in &all {
        let td = world
            .ecs
            .describe_task_definition()
            .task_definition(arn)
            .send()
            .await
            .unwrap();
        let td = td.task_definition().unwrap();
        if td
            .container_definitions()
            .iter()
            .any(|c| c.image() == Some(image))
        {
            with_image += 1;
        }
    }
    (all.len(), with_image)
}

async fn parent() {
    let Some(world) = support::World::start().await else {
        return;
    };
    let wiring = Wiring::of(&world);
    let driver = wiring.driver().await;
    seed(&*driver, 2).await;
    drop(driver);
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("journal");

    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.env(CHILD, "1")
        .env("SHIPCORE_SIGKILL_JOURNAL", &journal);
    for (k, v) in Wiring::VARS.iter().zip(wiring.values()) {
        cmd.env(k, v);
    }
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    let deadline = t0 + Duration::from_secs(30);
    loop {
        if world.weights(&world.listener).await == w(&[("web-v1", 90), ("web-v2", 10)]) {
            break;
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!("the child exited ({status}) before the canary reached 10%");
        }
        assert!(Instant::now() < deadline, "the canary never reached 10%");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // SIGKILL, right as the first split shows.
    child.kill().unwrap();
    let status = child.wait().unwrap();
    eprintln!(
        "killed the child {:.1} s after spawning it: {status}",
        t0.elapsed().as_secs_f64()
    );
    {
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(
            status.signal(),
            Some(9),
            "the child died of SIGKILL: {status}"
        );
    }
    assert_eq!(
        world.weights(&world.listener).await,
        w(&[("web-v1", 90), ("web-v2", 10)]),
        "the kill left the first split in place"
    );
    assert!(journal.exists(), "the child journaled nothing");

    let fresh = wiring.driver().await;
    let t = Instant::now();
    let report = runner(fresh, &journal).build().resume().await.unwrap();
    assert!(
        report.events.iter().any(|e| e.kind == EventKind::Resumed),
        "no Resumed event"
    );
    assert_eq!(report.status.phase, Phase::Succeeded, "{:?}", report.status);
    eprintln!(
        "FIGURES SIGKILLed mid-canary, resumed to {} in {:.1} s",
        report.status.phase,
        t.elapsed().as_secs_f64()
    );

    // The exact end state, from moto.
    let out = world
        .elb
        .describe_listeners()
        .listener_arns(&world.listener)
        .send()
        .await
        .unwrap();
    let forward =
        shipcore_driver_ecs::listener::forward_groups(out.listeners()[0].default_actions());
    let candidate_tg = world
        .elb
        .describe_target_groups()
        .names(shipcore_driver_ecs::names::target_group_name(
            "web", "prod", "v2",
        ))
        .send()
        .await
        .unwrap()
        .target_groups()[0]
        .target_group_arn()
        .unwrap()
        .to_string();
    assert_eq!(forward, [(candidate_tg, 100)], "candidate only");
    assert_eq!(world.weights(&world.listener).await, w(&[("web-v2", 100)]));
    assert_eq!(world.services().await, ["web-v2x2"]);
    assert_eq!(world.target_groups().await, ["web-v2"]);
    let (all, candidate) = task_definitions_of(&world, &v2().artifact).await;
    assert_eq!(candidate, 1, "one task definition for the candidate");
    // The base one, the stable revision's and the candidate's.
    assert_eq!(all, 3, "no duplicate task definitions");
}
