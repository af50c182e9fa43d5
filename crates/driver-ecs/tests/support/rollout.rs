//! Whole shipcore rollouts on the ECS driver over moto: planning a strategy for the driver's
//! capabilities, running it with the real engine (system clock, a journal file), and a
//! recorder that samples moto's stored state (listener weights, services) every 50 ms, so a
//! test can assert the sequence the rollout went through.
#![allow(dead_code, clippy::unwrap_used)]

use super::World;
use shipcore::clock::SystemClock;
use shipcore::driver::Driver;
use shipcore::engine::{Event, RolloutSpec, RunReport, Runner, RunnerBuilder};
use shipcore::journal::FileJournal;
use shipcore::model::{Revision, Target};
use shipcore::strategy::{PlanContext, Strategy, StrategyConfig};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub fn web() -> Target {
    Target::new("web", "prod")
}
pub fn v1() -> Revision {
    Revision::new("v1", "1.0.0".parse().unwrap(), "web:1.0.0")
}
pub fn v2() -> Revision {
    Revision::new("v2", "2.0.0".parse().unwrap(), "web:2.0.0")
}

/// Deploys the stable revision and waits until it is ready (and, with a listener, takes
/// all the traffic).
pub async fn seed(driver: &dyn Driver, replicas: u32) {
    driver
        .apply(
            &web(),
            &shipcore::model::Action::Deploy {
                revision: v1(),
                replicas,
            },
        )
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let f = driver.observe(&web()).await.unwrap();
        if f.ready_of(&v1().id) == replicas {
            return;
        }
        assert!(Instant::now() < deadline, "stable not ready: {f:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The strategy planned for the driver's capabilities, polled every 200 ms.
pub fn spec(
    driver: &dyn Driver,
    strategy: &StrategyConfig,
    replicas: u32,
    deadline: Duration,
) -> RolloutSpec {
    let ctx = PlanContext {
        target: web(),
        stable: Some(v1()),
        candidate: v2(),
        replicas,
        capabilities: driver.capabilities(),
    };
    let plan = strategy
        .plan(&ctx)
        .unwrap_or_else(|e| panic!("planning {}: {e}", strategy.name()));
    eprintln!("{}", plan.describe());
    let mut spec = RolloutSpec::new("ecs-e2e", web(), Some(v1()), v2(), plan);
    spec.poll_interval = Duration::from_millis(200);
    spec.progress_deadline = deadline;
    spec.retry.initial_backoff = Duration::from_millis(200);
    spec.retry.max_backoff = Duration::from_secs(1);
    spec
}

/// A runner on `driver` journaling to `journal`, printing each event.
pub fn runner(driver: Arc<dyn Driver>, journal: &Path) -> RunnerBuilder {
    let t0 = Instant::now();
    Runner::builder(
        driver,
        Arc::new(SystemClock),
        Arc::new(FileJournal::open(journal).unwrap()),
    )
    .on_event(move |e: &Event| {
        let line = serde_json::to_string(&e.kind).unwrap();
        eprintln!(
            "[{:>6.2}s] {}",
            t0.elapsed().as_secs_f64(),
            &line[..line.len().min(200)]
        );
    })
}

/// One sample of moto's state: the production listener's weights and the ACTIVE services
/// with their desired counts (`web-v1x2`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sample {
    pub weights: Vec<(String, i32)>,
    pub services: Vec<String>,
}

/// Samples moto every 50 ms in the background, keeping each distinct state once.
pub struct Recorder {
    samples: Arc<Mutex<Vec<Sample>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Recorder {
    pub fn start(world: &World) -> Recorder {
        let samples: Arc<Mutex<Vec<Sample>>> = Arc::default();
        let (s, elb, ecs, listener) = (
            samples.clone(),
            world.elb.clone(),
            world.ecs.clone(),
            world.listener.clone(),
        );
        let task = tokio::spawn(async move {
            loop {
                if let Some(sample) = sample(&elb, &ecs, &listener).await {
                    let mut v = s.lock().unwrap();
                    if v.last() != Some(&sample) {
                        v.push(sample);
                    }
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        });
        Recorder { samples, task }
    }

    /// The distinct states seen so far.
    pub fn samples(&self) -> Vec<Sample> {
        self.samples.lock().unwrap().clone()
    }

    /// The distinct listener weights seen, in order.
    pub fn weights(&self) -> Vec<Vec<(String, i32)>> {
        let mut out: Vec<Vec<(String, i32)>> = Vec::new();
        for s in self.samples() {
            if out.last() != Some(&s.weights) {
                out.push(s.weights);
            }
        }
        out
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn sample(
    elb: &aws_sdk_elasticloadbalancingv2::Client,
    ecs: &aws_sdk_ecs::Client,
    listener: &str,
) -> Option<Sample> {
    let out = elb
        .describe_listeners()
        .listener_arns(listener)
        .send()
        .await
        .ok()?;
    let groups =
        shipcore_driver_ecs::listener::forward_groups(out.listeners().first()?.default_actions());
    let weights = super::labelled(elb, groups).await?;
    let arns = ecs
        .list_services()
        .cluster(super::CLUSTER)
        .send()
        .await
        .ok()?
        .service_arns()
        .to_vec();
    let mut services = Vec::new();
    for chunk in arns.chunks(10) {
        let d = ecs
            .describe_services()
            .include(aws_sdk_ecs::types::ServiceField::Tags)
            .cluster(super::CLUSTER)
            .set_services(Some(chunk.to_vec()))
            .send()
            .await
            .ok()?;
        for s in d.services().iter().filter(|s| s.status() == Some("ACTIVE")) {
            services.push(format!("{}x{}", s.service_name()?, s.desired_count()));
        }
    }
    services.sort();
    Some(Sample { weights, services })
}

/// Pairs for comparisons.
pub fn w(pairs: &[(&str, i32)]) -> Vec<(String, i32)> {
    pairs.iter().map(|(n, w)| (n.to_string(), *w)).collect()
}

/// Runs `spec` to its end.
pub async fn run(builder: RunnerBuilder, spec: RolloutSpec) -> RunReport {
    let t = Instant::now();
    let report = builder.build().start(spec).await.unwrap();
    eprintln!(
        "rollout ended {} in {:.1} s: {:?}",
        report.status.phase,
        t.elapsed().as_secs_f64(),
        report.status.reason
    );
    report
}
