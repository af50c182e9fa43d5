//! The driver conformance suite (`shipcore::testing::conformance`) against the simulator,
//! with every capability set the suite distinguishes and with seeded transient faults; and
//! against deliberately broken drivers (the simulator behind a wrapper that breaks one
//! clause), to show each check catches what it claims to, naming the clause.
#![allow(clippy::unwrap_used)]

use async_trait::async_trait;
use shipcore::driver::{Capabilities, Driver, DriverError};
use shipcore::model::{Action, FleetState, Revision, Target};
use shipcore::testing::{conformance, Conformance, Failure, SimWorld};
use std::time::Duration;

fn v1() -> Revision {
    Revision::new("conf-v1", "1.0.0".parse().unwrap(), "web:1.0.0")
}
fn v2() -> Revision {
    Revision::new("conf-v2", "2.0.0".parse().unwrap(), "web:2.0.0")
}
fn target() -> Target {
    Target::new("web", "conformance")
}
fn suite<'a>(world: &SimWorld, driver: &'a dyn Driver) -> Conformance<'a> {
    Conformance::new(driver, target(), v1(), v2())
        .with_clock(world.clock_arc())
        .with_deadline(Duration::from_secs(120), Duration::from_secs(1))
}

#[tokio::test]
async fn the_simulator_with_every_capability_conforms() {
    let world = SimWorld::new(1);
    assert_eq!(world.driver.capabilities(), Capabilities::ALL);
    conformance::run_all(&suite(&world, &world.driver)).await;
    // The suite waited on simulated time (instances boot in 10 s), and cleaned up.
    assert!(world.now().as_millis() >= 10_000, "{:?}", world.now());
    let fleet = world.driver.fleet(&target());
    assert!(fleet.revisions.is_empty(), "{fleet:?}");
    assert_eq!(fleet.flags.get("conformance"), Some(&25));
}

#[tokio::test]
async fn the_simulator_with_no_capabilities_conforms() {
    let world = SimWorld::new(2);
    world.driver.set_capabilities(Capabilities::default());
    conformance::run_all(&suite(&world, &world.driver)).await;
}

#[tokio::test]
async fn the_simulator_shaped_like_compose_without_a_router_conforms() {
    let world = SimWorld::new(3);
    world.driver.set_capabilities(Capabilities {
        side_by_side: true,
        ..Capabilities::default()
    });
    conformance::run_all(&suite(&world, &world.driver).with_replicas(1)).await;
}

#[tokio::test]
async fn the_simulator_with_transient_faults_and_lost_responses_conforms() {
    let world = SimWorld::new(4);
    world.driver.set_transient_fault_rate(0.2).unwrap();
    world.driver.set_lost_response_share(0.5).unwrap();
    conformance::run_all(&suite(&world, &world.driver).with_replicas(3)).await;
    let calls = world.driver.calls();
    assert!(calls.total > 50, "{calls:?}");
}

#[tokio::test]
#[should_panic(
    expected = "driver contract (observe after apply): conf-v1 with 2 desired and 2 ready not seen within 30s"
)]
async fn a_revision_slower_than_the_deadline_fails_the_readiness_clause() {
    let world = SimWorld::new(5);
    world
        .driver
        .inject(
            &v1(),
            Failure::BootTime {
                boot: Duration::from_secs(600),
            },
        )
        .unwrap();
    let s =
        suite(&world, &world.driver).with_deadline(Duration::from_secs(30), Duration::from_secs(1));
    conformance::observe_after_deploy(&s).await;
}

/// One broken clause in front of the simulator.
#[derive(Clone, Copy)]
enum Break {
    /// Deploying a running revision again adds a replica.
    DeployAdds,
    /// Permanent errors are reported as transient.
    AllTransient,
    /// Retiring a revision that is not deployed fails.
    RetireUnknownFails,
    /// Observe reports one more ready replica than desired.
    ReadyAboveDesired,
    /// Declares no weighted traffic but routes anyway.
    RoutesBeyondCapabilities,
    /// Reports the route's weights halved.
    HalvesWeights,
    /// Accepts a Route giving traffic to a revision that is not deployed (does nothing).
    RouteToUnknownAccepted,
}

struct Broken {
    inner: shipcore::testing::SimDriver,
    how: Break,
}

#[async_trait]
impl Driver for Broken {
    fn capabilities(&self) -> Capabilities {
        let mut caps = self.inner.capabilities();
        if let Break::RoutesBeyondCapabilities = self.how {
            caps.weighted_traffic = false;
        }
        caps
    }
    async fn observe(&self, target: &Target) -> Result<FleetState, DriverError> {
        let mut fleet = self.inner.observe(target).await?;
        match self.how {
            Break::ReadyAboveDesired => {
                for r in &mut fleet.revisions {
                    r.ready = r.desired + 1;
                }
            }
            Break::HalvesWeights => {
                for r in &mut fleet.revisions {
                    r.weight /= 2;
                }
            }
            _ => {}
        }
        Ok(fleet)
    }
    async fn apply(&self, target: &Target, action: &Action) -> Result<(), DriverError> {
        match (self.how, action) {
            (Break::DeployAdds, Action::Deploy { revision, replicas }) => {
                let have = self.inner.observe(target).await?.desired_of(&revision.id);
                let replicas = if have > 0 { have + 1 } else { *replicas };
                let action = Action::Deploy {
                    revision: revision.clone(),
                    replicas,
                };
                self.inner.apply(target, &action).await
            }
            (Break::RetireUnknownFails, Action::Retire { revision }) => {
                if self.inner.observe(target).await?.get(revision).is_none() {
                    return Err(DriverError::permanent(
                        action.describe(),
                        "no such revision",
                    ));
                }
                self.inner.apply(target, action).await
            }
            (Break::AllTransient, _) => self.inner.apply(target, action).await.map_err(|mut e| {
                e.kind = shipcore::driver::ErrorKind::Transient;
                e
            }),
            (Break::RouteToUnknownAccepted, Action::Route { weights }) => {
                let fleet = self.inner.observe(target).await?;
                if weights
                    .0
                    .iter()
                    .any(|(r, w)| *w > 0 && fleet.get(r).is_none())
                {
                    return Ok(());
                }
                self.inner.apply(target, action).await
            }
            _ => self.inner.apply(target, action).await,
        }
    }
}

async fn broken(how: Break) {
    let world = SimWorld::new(9);
    let driver = Broken {
        inner: world.driver.clone(),
        how,
    };
    conformance::run_all(&suite(&world, &driver)).await;
}

#[tokio::test]
#[should_panic(expected = "driver contract (deploy is idempotent)")]
async fn a_deploy_that_adds_replicas_is_caught() {
    broken(Break::DeployAdds).await;
}

#[tokio::test]
#[should_panic(expected = "driver contract (invalid actions fail permanently)")]
async fn permanent_errors_reported_as_transient_are_caught() {
    broken(Break::AllTransient).await;
}

#[tokio::test]
#[should_panic(expected = "driver contract (retire succeeds")]
async fn a_failing_retire_of_an_unknown_revision_is_caught() {
    broken(Break::RetireUnknownFails).await;
}

#[tokio::test]
#[should_panic(expected = "driver contract (ready never exceeds desired)")]
async fn ready_above_desired_is_caught() {
    broken(Break::ReadyAboveDesired).await;
}

#[tokio::test]
#[should_panic(expected = "driver contract (capabilities are honoured)")]
async fn a_route_beyond_the_capabilities_is_caught() {
    broken(Break::RoutesBeyondCapabilities).await;
}

#[tokio::test]
#[should_panic(expected = "driver contract (weights sum to 100, or 0 without traffic)")]
async fn weights_that_do_not_sum_to_100_are_caught() {
    broken(Break::HalvesWeights).await;
}

#[tokio::test]
#[should_panic(
    expected = "driver contract (invalid actions fail permanently): route conf-v1=50% conformance-absent=50% on web@conformance was accepted"
)]
async fn a_route_to_an_unknown_revision_accepted_is_caught() {
    broken(Break::RouteToUnknownAccepted).await;
}
