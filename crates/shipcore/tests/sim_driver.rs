//! The fleet simulator as a driver: boot over simulated time, scaling, routing rules,
//! retire, capabilities, failure injection, API faults and determinism.
#![allow(clippy::unwrap_used)]

use shipcore::clock::{Clock, SimClock};
use shipcore::driver::{Capabilities, Driver, DriverError, ErrorKind};
use shipcore::model::{Action, FleetState, Revision, RevisionId, Target, WeightSet};
use shipcore::testing::{CallKind, Failure, FaultKey, SimConfig, SimDriver, SimError};
use shipcore::time::Timestamp;
use std::sync::Arc;
use std::time::Duration;

fn web() -> Target {
    Target::new("web", "production")
}
fn v1() -> Revision {
    Revision::new("web-v1", "1.0.0".parse().unwrap(), "web:1.0.0")
}
fn v2() -> Revision {
    Revision::new("web-v2", "2.0.0".parse().unwrap(), "web:2.0.0")
}
fn sim(seed: u64) -> (Arc<SimClock>, SimDriver) {
    let clock = Arc::new(SimClock::new(Timestamp(1_000_000)));
    (clock.clone(), SimDriver::new(clock, seed))
}
fn deploy(r: &Revision, replicas: u32) -> Action {
    Action::Deploy {
        revision: r.clone(),
        replicas,
    }
}
fn route(w: &[(&Revision, u8)]) -> Action {
    Action::Route {
        weights: WeightSet(w.iter().map(|(r, p)| (r.id.clone(), *p)).collect()),
    }
}
fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}
/// (id, desired, ready, updated, weight) per revision.
fn rows(f: &FleetState) -> Vec<(String, u32, u32, u32, u8)> {
    f.revisions
        .iter()
        .map(|r| {
            (
                r.revision.0.clone(),
                r.desired,
                r.ready,
                r.updated,
                r.weight,
            )
        })
        .collect()
}

#[tokio::test]
async fn instances_become_ready_after_the_boot_time() {
    let (clock, d) = sim(1);
    d.apply(&web(), &deploy(&v2(), 3)).await.unwrap();
    let f = d.observe(&web()).await.unwrap();
    assert_eq!(rows(&f), vec![("web-v2".into(), 3, 0, 3, 0)]);
    clock.advance(Duration::from_millis(9_999));
    assert_eq!(d.observe(&web()).await.unwrap().ready_of(&v2().id), 0);
    clock.advance(Duration::from_millis(1));
    let f = d.observe(&web()).await.unwrap();
    assert_eq!(rows(&f), vec![("web-v2".into(), 3, 3, 3, 100)]);
}

#[tokio::test]
async fn boot_time_and_slow_readiness_are_per_version() {
    let (clock, d) = sim(1);
    d.inject(
        FaultKey::version("2.0.0".parse().unwrap()),
        Failure::BootTime { boot: secs(30) },
    )
    .unwrap();
    d.inject(&v2(), Failure::slow_readiness(secs(15))).unwrap();
    d.apply(&web(), &deploy(&v1(), 1)).await.unwrap();
    d.apply(&web(), &deploy(&v2(), 1)).await.unwrap();
    clock.advance(secs(10));
    let f = d.fleet(&web());
    assert_eq!((f.ready_of(&v1().id), f.ready_of(&v2().id)), (1, 0));
    clock.advance(secs(34));
    assert_eq!(d.fleet(&web()).ready_of(&v2().id), 0);
    clock.advance(secs(1));
    assert_eq!(d.fleet(&web()).ready_of(&v2().id), 1);
}

#[tokio::test]
async fn deploy_is_idempotent_and_scales_both_ways() {
    let (clock, d) = sim(1);
    d.apply(&web(), &deploy(&v1(), 2)).await.unwrap();
    clock.advance(secs(10));
    d.apply(&web(), &deploy(&v1(), 2)).await.unwrap();
    assert_eq!(
        rows(&d.fleet(&web())),
        vec![("web-v1".into(), 2, 2, 2, 100)]
    );

    // Scale up: the new instances boot from now; the old stay ready.
    d.apply(
        &web(),
        &Action::Scale {
            revision: v1().id,
            replicas: 5,
        },
    )
    .await
    .unwrap();
    assert_eq!(
        rows(&d.fleet(&web())),
        vec![("web-v1".into(), 5, 2, 5, 100)]
    );
    // Scale down takes the not-ready instances first.
    d.apply(
        &web(),
        &Action::Scale {
            revision: v1().id,
            replicas: 3,
        },
    )
    .await
    .unwrap();
    assert_eq!(
        rows(&d.fleet(&web())),
        vec![("web-v1".into(), 3, 2, 3, 100)]
    );
    d.apply(&web(), &deploy(&v1(), 2)).await.unwrap();
    assert_eq!(
        rows(&d.fleet(&web())),
        vec![("web-v1".into(), 2, 2, 2, 100)]
    );
    d.apply(&web(), &deploy(&v1(), 0)).await.unwrap();
    assert_eq!(rows(&d.fleet(&web())), vec![("web-v1".into(), 0, 0, 0, 0)]);
}

#[tokio::test]
async fn a_new_artifact_under_the_same_id_replaces_every_instance() {
    let (clock, d) = sim(1);
    d.seed_stable(&web(), &v1(), 2);
    let mut rebuilt = v1();
    rebuilt.artifact = "web:1.0.0-hotfix".into();
    d.apply(&web(), &deploy(&rebuilt, 2)).await.unwrap();
    assert_eq!(d.fleet(&web()).ready_of(&v1().id), 0);
    clock.advance(secs(10));
    assert_eq!(d.fleet(&web()).ready_of(&v1().id), 2);
}

#[tokio::test]
async fn scale_of_an_unknown_revision_is_permanent_and_names_it() {
    let (_c, d) = sim(1);
    d.seed_stable(&web(), &v1(), 2);
    let e = d
        .apply(
            &web(),
            &Action::Scale {
                revision: RevisionId::new("web-v9"),
                replicas: 1,
            },
        )
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Permanent);
    assert!(
        e.message.contains("web-v9") && e.message.contains("known: web-v1"),
        "{e}"
    );
    assert_eq!(e.operation, "scale web-v9 to 1");
}

#[tokio::test]
async fn weights_follow_ready_replicas_until_a_route_is_applied() {
    let (clock, d) = sim(1);
    d.seed_stable(&web(), &v1(), 2);
    d.apply(&web(), &deploy(&v2(), 1)).await.unwrap();
    assert_eq!(d.fleet(&web()).weight_of(&v1().id), 100);
    clock.advance(secs(10));
    let f = d.fleet(&web());
    assert_eq!((f.weight_of(&v1().id), f.weight_of(&v2().id)), (67, 33));

    d.apply(&web(), &route(&[(&v1(), 90), (&v2(), 10)]))
        .await
        .unwrap();
    let f = d.fleet(&web());
    assert_eq!((f.weight_of(&v1().id), f.weight_of(&v2().id)), (90, 10));
    // A revision deployed after a route gets no traffic until routed.
    let v3 = Revision::new("web-v3", "3.0.0".parse().unwrap(), "web:3.0.0");
    d.apply(&web(), &deploy(&v3, 1)).await.unwrap();
    clock.advance(secs(10));
    assert_eq!(d.fleet(&web()).weight_of(&v3.id), 0);
}

#[tokio::test]
async fn invalid_routes_are_permanent_errors_that_say_why() {
    let (_c, d) = sim(1);
    d.seed_stable(&web(), &v1(), 2);
    d.apply(&web(), &deploy(&v2(), 1)).await.unwrap();
    let cases: Vec<(Action, &str)> = vec![
        (route(&[(&v1(), 80), (&v2(), 10)]), "must sum to 100, got 90 (web-v1=80% web-v2=10%)"),
        (route(&[(&v1(), 90), (&v2(), 20)]), "must sum to 100, got 110"),
        (
            Action::Route { weights: WeightSet(vec![(RevisionId::new("web-v7"), 50), (v1().id, 50)]) },
            "sends 50% to revision web-v7, which is not deployed on web@production (known: web-v1, web-v2)",
        ),
        (route(&[(&v1(), 50), (&v1(), 50)]), "names revision web-v1 twice"),
    ];
    for (action, needle) in cases {
        let e = d.apply(&web(), &action).await.unwrap_err();
        assert_eq!(e.kind, ErrorKind::Permanent, "{e}");
        assert!(e.message.contains(needle), "{needle:?} not in {e}");
    }
    // Nothing changed.
    assert_eq!(d.fleet(&web()).weight_of(&v1().id), 100);
    // A zero weight for a revision that is gone is accepted (a retried rollback).
    let gone = Action::Route {
        weights: WeightSet(vec![(v1().id, 100), (RevisionId::new("web-v0"), 0)]),
    };
    d.apply(&web(), &gone).await.unwrap();
    assert_eq!(rows(&d.fleet(&web()))[0].4, 100);
}

#[tokio::test]
async fn retire_is_idempotent_and_drops_the_revision_from_routes() {
    let (clock, d) = sim(1);
    d.seed_stable(&web(), &v1(), 2);
    d.apply(&web(), &deploy(&v2(), 2)).await.unwrap();
    clock.advance(secs(10));
    d.apply(&web(), &route(&[(&v1(), 0), (&v2(), 100)]))
        .await
        .unwrap();
    let retire = Action::Retire { revision: v1().id };
    d.apply(&web(), &retire).await.unwrap();
    d.apply(&web(), &retire).await.unwrap();
    assert_eq!(
        rows(&d.fleet(&web())),
        vec![("web-v2".into(), 2, 2, 2, 100)]
    );
    // On a target that never ran anything, too.
    d.apply(&Target::new("api", "staging"), &retire)
        .await
        .unwrap();
    d.apply(&web(), &Action::Retire { revision: v2().id })
        .await
        .unwrap();
    assert_eq!(d.observe(&web()).await.unwrap(), FleetState::default());
}

#[tokio::test]
async fn flags_are_set_and_reported() {
    let (_c, d) = sim(1);
    d.apply(
        &web(),
        &Action::SetFlag {
            flag: "new-checkout".into(),
            percent: 25,
        },
    )
    .await
    .unwrap();
    assert_eq!(
        d.observe(&web()).await.unwrap().flags.get("new-checkout"),
        Some(&25)
    );
    let e = d
        .apply(
            &web(),
            &Action::SetFlag {
                flag: "x".into(),
                percent: 101,
            },
        )
        .await
        .unwrap_err();
    assert!(e.message.contains("101 is not within 0..=100"), "{e}");
    let e = d
        .apply(
            &web(),
            &Action::SetFlag {
                flag: " ".into(),
                percent: 1,
            },
        )
        .await
        .unwrap_err();
    assert!(e.message.contains("must not be empty"), "{e}");
}

#[tokio::test]
async fn missing_capabilities_refuse_what_the_platform_cannot_do() {
    let (clock, d) = sim(1);
    let caps = Capabilities {
        weighted_traffic: false,
        feature_flags: false,
        side_by_side: false,
        ..Capabilities::ALL
    };
    d.set_capabilities(caps);
    assert_eq!(d.capabilities(), caps);
    d.seed_stable(&web(), &v1(), 2);
    let e = d.apply(&web(), &route(&[(&v1(), 100)])).await.unwrap_err();
    assert!(e.message.contains("weighted_traffic is off"), "{e}");
    let e = d
        .apply(
            &web(),
            &Action::SetFlag {
                flag: "f".into(),
                percent: 5,
            },
        )
        .await
        .unwrap_err();
    assert!(e.message.contains("feature_flags is off"), "{e}");
    let e = d.apply(&web(), &deploy(&v2(), 2)).await.unwrap_err();
    assert!(e.message.contains("web-v1 still has 2 replicas"), "{e}");
    // Recreate: stable to zero first, then the candidate may run.
    d.apply(&web(), &deploy(&v1(), 0)).await.unwrap();
    d.apply(&web(), &deploy(&v2(), 2)).await.unwrap();
    clock.advance(secs(10));
    assert_eq!(d.fleet(&web()).weight_of(&v2().id), 100);
}

#[tokio::test]
async fn crash_loops_show_in_observe_and_heal() {
    let (clock, d) = sim(1);
    d.seed_stable(&web(), &v1(), 2);
    d.inject(&v2(), Failure::never_ready()).unwrap();
    d.apply(&web(), &deploy(&v2(), 2)).await.unwrap();
    clock.advance(secs(600));
    let f = d.observe(&web()).await.unwrap();
    assert_eq!(rows(&f)[1], ("web-v2".into(), 2, 0, 2, 0));
    assert_eq!(f.weight_of(&v1().id), 100);
    d.heal(&v2());
    assert_eq!(d.fleet(&web()).ready_of(&v2().id), 2);

    // Crash after serving a while: ready at 10 s, down from 40 s on.
    let v3 = Revision::new("web-v3", "3.0.0".parse().unwrap(), "web:3.0.0");
    d.inject(
        FaultKey::version("3.0.0".parse().unwrap()),
        Failure::crash_after(secs(30)),
    )
    .unwrap();
    d.apply(&web(), &deploy(&v3, 1)).await.unwrap();
    clock.advance(secs(10));
    assert_eq!(d.fleet(&web()).ready_of(&v3.id), 1);
    clock.advance(secs(29));
    assert_eq!(d.fleet(&web()).ready_of(&v3.id), 1);
    clock.advance(secs(1));
    assert_eq!(d.fleet(&web()).ready_of(&v3.id), 0);
}

#[tokio::test]
async fn invalid_injections_are_refused_with_the_field() {
    let (_c, d) = sim(1);
    let e = d.inject(&v2(), Failure::error_rate(1.5)).unwrap_err();
    assert!(
        matches!(&e, SimError::Invalid(shipcore::model::FieldError { field, .. }) if field == "error_rate"),
        "{e}"
    );
    let e = d.inject(&v2(), Failure::latency(100.0, 10.0)).unwrap_err();
    assert!(e.to_string().contains("latency.p95_ms"), "{e}");
    assert!(d.set_transient_fault_rate(f64::NAN).is_err());
    let bad = SimConfig {
        request_rate: -1.0,
        ..SimConfig::default()
    };
    let e = SimDriver::with_config(Arc::new(SimClock::default()), bad).unwrap_err();
    assert!(e.to_string().contains("request_rate"), "{e}");
}

#[tokio::test]
async fn scripted_faults_fire_once_on_the_numbered_call() {
    let (_c, d) = sim(1);
    d.fail_call(CallKind::Any, 2, ErrorKind::Transient, "throttled");
    d.fail_call(CallKind::Observe, 2, ErrorKind::Permanent, "forbidden");
    assert!(d.observe(&web()).await.is_ok()); // call 1, observe 1
    let e = d.apply(&web(), &deploy(&v1(), 1)).await.unwrap_err(); // call 2
    assert_eq!(e, DriverError::transient("deploy web-v1 x1", "throttled"));
    assert!(
        d.fleet(&web()).revisions.is_empty(),
        "a fault before the change changes nothing"
    );
    let e = d.observe(&web()).await.unwrap_err(); // observe 2
    assert_eq!(
        (e.kind, e.operation.as_str()),
        (ErrorKind::Permanent, "observe web@production")
    );
    assert!(d.observe(&web()).await.is_ok());
    d.fail_next_apply(ErrorKind::Transient, "conflict");
    assert!(d
        .apply(&web(), &deploy(&v1(), 1))
        .await
        .unwrap_err()
        .is_transient());
    d.apply(&web(), &deploy(&v1(), 1)).await.unwrap();
    let c = d.calls();
    assert_eq!((c.total, c.observe, c.apply), (6, 3, 3));
}

#[tokio::test]
async fn a_bad_artifact_fails_permanently_with_the_platform_message() {
    let (_c, d) = sim(1);
    d.fail_artifact("web:2.0.0", "image not found: web:2.0.0");
    let e = d.apply(&web(), &deploy(&v2(), 1)).await.unwrap_err();
    assert_eq!(
        e,
        DriverError::permanent("deploy web-v2 x1", "image not found: web:2.0.0")
    );
    d.apply(&web(), &deploy(&v1(), 1)).await.unwrap();
}

/// Outcome of 1000 observe calls at a 20 % transient rate.
async fn fault_pattern(seed: u64) -> Vec<bool> {
    let (_c, d) = sim(seed);
    d.set_transient_fault_rate(0.2).unwrap();
    let mut out = Vec::new();
    for _ in 0..1000 {
        out.push(d.observe(&web()).await.is_err());
    }
    out
}

#[tokio::test]
async fn transient_fault_rate_is_seeded_and_roughly_as_configured() {
    let a = fault_pattern(7).await;
    let failures = a.iter().filter(|f| **f).count();
    // Binomial(1000, 0.2): mean 200, sd 12.6. Exactly 203 for seed 7: one draw per call,
    // the same count as a reference SplitMix64 (Python) seeded 7 gives for `u < 0.2`.
    assert_eq!(failures, 203);
    assert_eq!(fault_pattern(7).await, a, "same seed, same pattern");
    let other = fault_pattern(8).await;
    assert_ne!(other, a);
    let n = other.iter().filter(|f| **f).count();
    assert!((150..250).contains(&n), "{n}");
}

#[tokio::test]
async fn a_lost_response_made_the_change_and_the_retry_is_harmless() {
    let (clock, d) = sim(3);
    d.set_transient_fault_rate(1.0).unwrap();
    d.set_lost_response_share(1.0).unwrap();
    let e = d.apply(&web(), &deploy(&v2(), 2)).await.unwrap_err();
    assert!(
        e.is_transient() && e.message.contains("response was lost"),
        "{e}"
    );
    assert_eq!(d.fleet(&web()).desired_of(&v2().id), 2);
    d.set_transient_fault_rate(0.0).unwrap();
    clock.advance(secs(5));
    d.apply(&web(), &deploy(&v2(), 2)).await.unwrap();
    clock.advance(secs(5));
    assert_eq!(
        d.fleet(&web()).ready_of(&v2().id),
        2,
        "the retry did not restart anything"
    );
}

/// A fixed script of calls with clock moves, recording every answer.
async fn script(d: &SimDriver, clock: &SimClock, from: usize, to: usize) -> Vec<String> {
    let steps: Vec<Action> = vec![
        deploy(&v2(), 1),
        route(&[(&v1(), 90), (&v2(), 10)]),
        deploy(&v2(), 3),
        route(&[(&v1(), 50), (&v2(), 50)]),
        route(&[(&v1(), 0), (&v2(), 100)]),
        Action::Retire { revision: v1().id },
    ];
    let mut out = Vec::new();
    for i in from..to {
        let action = &steps[i % steps.len()];
        for _ in 0..3 {
            out.push(format!("{:?}", d.apply(&web(), action).await));
            out.push(format!("{:?}", d.observe(&web()).await));
            clock.advance(secs(4));
        }
    }
    out
}

async fn faulty(seed: u64) -> (Arc<SimClock>, SimDriver) {
    let (c, d) = sim(seed);
    d.seed_stable(&web(), &v1(), 3);
    d.set_transient_fault_rate(0.3).unwrap();
    d.set_lost_response_share(0.5).unwrap();
    (c, d)
}

#[tokio::test]
async fn same_seed_and_calls_give_identical_results() {
    let (c1, d1) = faulty(11).await;
    let (c2, d2) = faulty(11).await;
    let a = script(&d1, &c1, 0, 12).await;
    assert_eq!(a, script(&d2, &c2, 0, 12).await);
    assert_eq!(d1.snapshot(), d2.snapshot());
    assert!(a.iter().any(|s| s.contains("Transient")) && a.iter().any(|s| s.starts_with("Ok")));
    let (c3, d3) = faulty(12).await;
    assert_ne!(a, script(&d3, &c3, 0, 12).await);
}

#[tokio::test]
async fn a_restored_snapshot_behaves_exactly_as_the_original() {
    let (c1, d1) = faulty(5).await;
    script(&d1, &c1, 0, 4).await;
    let json = serde_json::to_string(&d1.snapshot()).unwrap();

    let snap = serde_json::from_str(&json).unwrap();
    let world = shipcore::testing::SimWorld::from_snapshot(snap).unwrap();
    assert_eq!(
        world.now(),
        c1.now(),
        "the world's clock resumes at taken_at"
    );
    let rest = script(&d1, &c1, 4, 12).await;
    assert_eq!(script(&world.driver, &world.clock, 4, 12).await, rest);

    // restore() on an existing driver rewinds it.
    let (c3, d3) = sim(99);
    d3.restore(serde_json::from_str(&json).unwrap()).unwrap();
    c3.advance_to(world.driver.snapshot().taken_at);
    let mut bad = d3.snapshot();
    bad.format = 99;
    assert!(d3
        .restore(bad)
        .unwrap_err()
        .to_string()
        .contains("format 99"));
}

#[tokio::test]
async fn persisting_survives_into_a_second_driver() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("platform.json");
    let clock = Arc::new(SimClock::new(Timestamp(5_000)));
    {
        let d = SimDriver::new(clock.clone(), 21)
            .persisting_to(&path)
            .unwrap();
        d.seed_stable(&web(), &v1(), 3);
        d.apply(&web(), &deploy(&v2(), 2)).await.unwrap();
        clock.advance(secs(3));
        d.apply(&web(), &route(&[(&v1(), 80), (&v2(), 20)]))
            .await
            .unwrap();
        assert!(
            !dir.path().join("platform.json.tmp").exists(),
            "written by rename"
        );
    }
    // Another driver (as another process would), with a different seed: the file wins.
    let clock2 = Arc::new(SimClock::new(Timestamp::ZERO));
    let d2 = SimDriver::new(clock2.clone(), 1)
        .persisting_to(&path)
        .unwrap();
    let snap = d2.snapshot();
    assert_eq!(snap.config.seed, 21);
    assert_eq!(d2.calls().apply, 2);
    clock2.advance_to(Timestamp(8_000));
    assert_eq!(
        rows(&d2.observe(&web()).await.unwrap()),
        vec![
            ("web-v1".into(), 3, 3, 3, 80),
            ("web-v2".into(), 2, 0, 2, 20),
        ]
    );
    clock2.advance(secs(7));
    assert_eq!(d2.fleet(&web()).ready_of(&v2().id), 2);
    // Its own calls are persisted too.
    let d3 = SimDriver::new(clock2.clone(), 1)
        .persisting_to(&path)
        .unwrap();
    assert_eq!(d3.calls().observe, 1);
}

#[tokio::test]
async fn a_corrupt_state_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("platform.json");
    std::fs::write(&path, b"{ not json").unwrap();
    let e = SimDriver::new(Arc::new(SimClock::default()), 1)
        .persisting_to(&path)
        .unwrap_err();
    assert!(matches!(e, SimError::Corrupt { .. }), "{e}");
    let e = SimDriver::new(Arc::new(SimClock::default()), 1)
        .persisting_to(dir.path().join("missing-dir/platform.json"))
        .unwrap_err();
    assert!(matches!(e, SimError::Io { .. }), "{e}");
}

#[tokio::test]
async fn recorded_actions_are_those_the_platform_accepted() {
    let (_c, d) = sim(1);
    d.apply(&web(), &deploy(&v1(), 1)).await.unwrap();
    assert!(d.actions().is_empty(), "off by default");
    d.record_actions(true);
    d.fail_next_apply(ErrorKind::Transient, "throttled");
    assert!(d.apply(&web(), &deploy(&v2(), 1)).await.is_err());
    assert!(d.apply(&web(), &route(&[(&v1(), 50)])).await.is_err());
    d.apply(&web(), &deploy(&v2(), 1)).await.unwrap();
    d.set_transient_fault_rate(1.0).unwrap();
    d.set_lost_response_share(1.0).unwrap();
    let retire = Action::Retire { revision: v1().id };
    assert!(d.apply(&web(), &retire).await.is_err());
    assert_eq!(d.actions(), vec![deploy(&v2(), 1), retire]);
    assert_eq!(d.applied()[0].0, web());
    d.record_actions(false);
    assert!(d.applied().is_empty());
}

#[tokio::test]
async fn a_persisting_world_resumes_platform_and_clock() {
    use shipcore::testing::SimWorld;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("world.json");
    let first = SimWorld::persisting(77, &path).unwrap();
    first.driver.seed_stable(&web(), &v1(), 2);
    first.advance(secs(90));
    first.driver.apply(&web(), &deploy(&v2(), 1)).await.unwrap();
    let before = first.driver.snapshot();
    drop(first);

    let second = SimWorld::persisting(1, &path).unwrap();
    assert_eq!(second.now(), Timestamp(90_000));
    assert_eq!(second.driver.snapshot(), before);
    second.advance(secs(10));
    assert_eq!(second.driver.fleet(&web()).ready_of(&v2().id), 1);
}

/// Observing reads the fleet outside the write lock that counts the call: with many
/// targets changed and observed at once from several threads, every call is still
/// counted once and every observation shows its own target's last change.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_calls_on_many_targets_are_each_counted_and_observed_in_order() {
    let (_c, d) = sim(7);
    let d = Arc::new(d);
    let tasks: Vec<_> = (0..16u32)
        .map(|i| {
            let d = d.clone();
            tokio::spawn(async move {
                let target = Target::new(format!("svc{i}"), "production");
                for replicas in 1..=5 {
                    d.apply(&target, &deploy(&v1(), replicas)).await.unwrap();
                    let fleet = d.observe(&target).await.unwrap();
                    let desired: Vec<u32> = fleet.revisions.iter().map(|r| r.desired).collect();
                    assert_eq!(desired, [replicas], "{target} after scaling to {replicas}");
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let c = d.calls();
    assert_eq!((c.total, c.observe, c.apply), (160, 80, 80));
}
