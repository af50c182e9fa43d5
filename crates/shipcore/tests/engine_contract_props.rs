//! The engine's contract, over every plan `Plan::validate` accepts: a rollout that ends
//! `Succeeded` has all traffic and all capacity on the candidate and stable retired; one that
//! ends rolled back or aborted has all traffic on stable and the candidate retired; the same
//! seed gives the same event log. Plans are random step lists (not only the strategies' own),
//! run on the simulator with random driver faults, failing validators and operator aborts.
//! Also: the plans `validate` refuses (traffic left split, traffic to an empty revision), the
//! built-in strategies' plans that it must keep accepting, and the engine's own refusal to
//! route traffic to a revision without ready replicas.
#![allow(clippy::unwrap_used)]

mod common;

use common::{v1, v2, FnValidator};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use shipcore::driver::{Capabilities, ErrorKind};
use shipcore::engine::{
    Command, Effect, EventKind, Input, Phase, Rollout, RolloutSpec, Runner, Stamped,
};
use shipcore::journal::MemoryJournal;
use shipcore::model::{
    Action, AnalysisPolicy, AnalysisStep, FleetState, Plan, RevisionState, Role, Step, Target,
    WeightSet, MAX_REPLICAS,
};
use shipcore::strategy::Strategy as _;
use shipcore::strategy::{
    from_codedeploy_name, BlueGreen, Canary, FeatureFlag, Linear, PlanContext, Recreate, Rolling,
};
use shipcore::testing::{CallKind, SimWorld};
use shipcore::time::Timestamp;
use shipcore::validator::{Outcome, ValidatorError, Verdict};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

const WEIGHTED: Capabilities = Capabilities::ALL;
const REPLICAS_ONLY: Capabilities = Capabilities {
    weighted_traffic: false,
    side_by_side: true,
    native_rolling: false,
    feature_flags: false,
    preview: false,
};

fn web() -> Target {
    Target::new("web", "production")
}

fn scale(role: Role, replicas: u32) -> Step {
    Step::Scale { role, replicas }
}

fn weight(percent: u8) -> Step {
    Step::SetWeight { percent }
}

fn retire(role: Role) -> Step {
    Step::Retire {
        role,
        after: Duration::ZERO,
    }
}

fn plan(replicas: u32, steps: Vec<Step>) -> Plan {
    Plan {
        strategy: "custom".into(),
        replicas,
        steps,
    }
}

fn spec(plan: Plan) -> RolloutSpec {
    RolloutSpec::new("r1", web(), Some(v1()), v2(), plan)
}

// ---------------------------------------------------------------------------------------
// What validate refuses
// ---------------------------------------------------------------------------------------

#[test]
fn plans_that_would_end_with_traffic_split_or_nothing_deployed_are_refused() {
    use Role::*;
    // Issue 10: these ended `Succeeded` at 70/30 and with nothing deployed.
    let split = plan(4, vec![scale(Candidate, 4), weight(30)]);
    let e = split.validate(&WEIGHTED).unwrap_err();
    assert_eq!(e.field(), "steps", "{e}");
    assert!(e.to_string().contains("Promote"), "{e}");
    let nothing = plan(4, vec![scale(Candidate, 0)]);
    assert_eq!(nothing.validate(&WEIGHTED).unwrap_err().field(), "steps");
    assert_eq!(
        nothing.validate(&REPLICAS_ONLY).unwrap_err().field(),
        "steps"
    );

    // A promote followed by a new split, or a candidate short of its replicas.
    let resplit = plan(4, vec![scale(Candidate, 4), Step::Promote, weight(50)]);
    let e = resplit.validate(&WEIGHTED).unwrap_err();
    assert_eq!(e.field(), "steps");
    assert!(e.to_string().contains("50%"), "{e}");
    let short = plan(4, vec![scale(Candidate, 2), Step::Promote]);
    let e = short.validate(&REPLICAS_ONLY).unwrap_err();
    assert!(e.to_string().contains("ends with 2 replicas"), "{e}");
    let empty_promote = plan(4, vec![Step::Promote, scale(Candidate, 4)]);
    assert_eq!(
        empty_promote.validate(&WEIGHTED).unwrap_err().field(),
        "steps[0]"
    );

    // With a stable revision, the spec refuses a plan that leaves it running.
    let kept = spec(plan(4, vec![scale(Candidate, 4), Step::Promote]));
    let e = kept.validate().unwrap_err();
    assert_eq!(e.field(), "plan.steps", "{e}");
    let rescaled = spec(plan(
        4,
        vec![
            scale(Candidate, 4),
            Step::Promote,
            retire(Stable),
            scale(Stable, 1),
        ],
    ));
    assert_eq!(rescaled.validate().unwrap_err().field(), "plan.steps[3]");
    // The same plan on a first deploy has nothing to retire.
    let mut first = kept.clone();
    first.stable = None;
    assert!(first.validate().is_ok());
}

#[test]
fn plans_that_route_to_an_empty_revision_or_oversize_are_refused() {
    use Role::*;
    // Issue 10: 90% of traffic to a stable with 0 replicas.
    let outage = plan(
        4,
        vec![
            scale(Candidate, 1),
            scale(Stable, 0),
            weight(10),
            scale(Candidate, 4),
            Step::Promote,
            retire(Stable),
        ],
    );
    let e = outage.validate(&WEIGHTED).unwrap_err();
    assert_eq!(e.field(), "steps[1].replicas", "{e}");
    assert!(e.to_string().contains("100% of traffic"), "{e}");
    // Traffic to a candidate with no replicas, to a stable already emptied, retiring a role
    // that carries traffic, scaling away the candidate while it carries some.
    let cases: Vec<(Vec<Step>, &str)> = vec![
        (vec![weight(10)], "steps[0].percent"),
        (
            vec![
                scale(Candidate, 4),
                weight(100),
                scale(Stable, 0),
                weight(50),
            ],
            "steps[3].percent",
        ),
        (
            vec![scale(Candidate, 4), weight(40), retire(Stable)],
            "steps[2].role",
        ),
        (
            vec![scale(Candidate, 2), weight(40), scale(Candidate, 0)],
            "steps[2].replicas",
        ),
    ];
    for (steps, field) in cases {
        let mut steps = steps;
        steps.extend([scale(Candidate, 4), Step::Promote, retire(Stable)]);
        let p = plan(4, steps);
        let e = p.validate(&WEIGHTED).unwrap_err();
        assert_eq!(e.field(), field, "{e}\n{}", p.describe());
    }
    // Traffic first, then capacity: accepted. A full stop before the candidate runs (what
    // recreate does on purpose) is accepted too.
    let moved = plan(
        4,
        vec![
            scale(Candidate, 4),
            weight(100),
            scale(Stable, 0),
            Step::Promote,
            retire(Stable),
        ],
    );
    assert!(moved.validate(&WEIGHTED).is_ok());
    let recreate = plan(
        4,
        vec![
            scale(Stable, 0),
            scale(Candidate, 4),
            Step::Promote,
            retire(Stable),
        ],
    );
    assert!(recreate.validate(&WEIGHTED).is_ok());

    // Issue 9 item 15: u32::MAX replicas and a Scale above plan.replicas.
    let huge = plan(u32::MAX, vec![scale(Candidate, u32::MAX), Step::Promote]);
    let e = huge.validate(&WEIGHTED).unwrap_err();
    assert_eq!(e.field(), "replicas");
    assert!(e.to_string().contains(&MAX_REPLICAS.to_string()), "{e}");
    let above = plan(4, vec![scale(Candidate, 5), Step::Promote, retire(Stable)]);
    assert_eq!(
        above.validate(&WEIGHTED).unwrap_err().field(),
        "steps[0].replicas"
    );
    let stable_above = plan(
        4,
        vec![
            scale(Stable, 8),
            scale(Candidate, 4),
            Step::Promote,
            retire(Stable),
        ],
    );
    assert_eq!(
        stable_above.validate(&WEIGHTED).unwrap_err().field(),
        "steps[0].replicas"
    );
}

#[test]
fn every_built_in_strategy_still_makes_plans_that_validate() {
    let analysis = AnalysisStep {
        validators: vec!["v".into()],
        policy: AnalysisPolicy::every(Duration::from_secs(60), 2),
    };
    let flag: FeatureFlag =
        serde_json::from_str(r#"{"flag": "f", "percentages": [10, 100]}"#).unwrap();
    let mut strategies: Vec<(String, Box<dyn shipcore::strategy::Strategy>)> = vec![
        ("rolling".into(), Box::new(Rolling::default())),
        ("blue-green".into(), Box::new(BlueGreen::default())),
        (
            "blue-green with analysis".into(),
            Box::new(BlueGreen {
                preview_replicas: Some(1),
                pre_promotion_analysis: Some(analysis.clone()),
                post_promotion_analysis: Some(analysis.clone()),
                ..BlueGreen::default()
            }),
        ),
        ("canary".into(), Box::new(Canary::default())),
        (
            "linear".into(),
            Box::new(Linear::new(20, Duration::from_secs(60))),
        ),
        ("recreate".into(), Box::new(Recreate::default())),
        ("feature-flag".into(), Box::new(flag)),
    ];
    for name in [
        "CodeDeployDefault.ECSCanary10Percent5Minutes",
        "CodeDeployDefault.ECSLinear10PercentEvery1Minutes",
        "CodeDeployDefault.ECSAllAtOnce",
    ] {
        let config = from_codedeploy_name(name).unwrap();
        strategies.push((name.into(), Box::new(config)));
    }
    let caps_list = [
        WEIGHTED,
        REPLICAS_ONLY,
        Capabilities {
            feature_flags: true,
            ..REPLICAS_ONLY
        },
        Capabilities {
            weighted_traffic: true,
            side_by_side: true,
            ..Capabilities::default()
        },
    ];
    let mut validated = 0;
    for (name, strategy) in &strategies {
        for caps in caps_list {
            for replicas in [1, 2, 3, 4, 10, 25] {
                for with_stable in [true, false] {
                    let ctx = PlanContext {
                        target: web(),
                        stable: with_stable.then(v1),
                        candidate: v2(),
                        replicas,
                        capabilities: caps,
                    };
                    // A strategy may refuse a driver it cannot use; what it makes must run.
                    let Ok(p) = strategy.plan(&ctx) else { continue };
                    p.validate(&caps)
                        .map_err(|e| format!("{name} {caps:?} x{replicas}: {e}\n{}", p.describe()))
                        .unwrap();
                    let s = RolloutSpec::new("r1", web(), ctx.stable.clone(), v2(), p.clone());
                    s.validate()
                        .map_err(|e| format!("{name} {caps:?} x{replicas}: {e}\n{}", p.describe()))
                        .unwrap();
                    validated += 1;
                }
            }
        }
    }
    assert!(validated > 150, "only {validated} plans were made");
}

// ---------------------------------------------------------------------------------------
// The engine never routes traffic to a revision without ready replicas
// ---------------------------------------------------------------------------------------

fn fleet(stable_ready: u32, candidate_ready: u32) -> Arc<FleetState> {
    let rev = |id: &shipcore::model::RevisionId, desired: u32, ready: u32| RevisionState {
        revision: id.clone(),
        desired,
        ready,
        updated: desired,
        weight: 0,
    };
    Arc::new(FleetState {
        revisions: vec![
            rev(&v1().id, 4, stable_ready),
            rev(&v2().id, 1, candidate_ready),
        ],
        flags: Default::default(),
    })
}

/// Feeds `input` and answers nothing; returns the effects.
fn feed(m: &mut Rollout, at: u64, input: Input) -> Vec<Effect> {
    m.handle(&Stamped::new(Timestamp(at), input))
}

fn routes(effects: &[Effect]) -> Vec<WeightSet> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Apply { action, .. } => match &**action {
                Action::Route { weights } => Some(weights.clone()),
                _ => None,
            },
            _ => None,
        })
        .collect()
}

fn request_id(effects: &[Effect], want: fn(&Effect) -> Option<u64>) -> u64 {
    effects.iter().find_map(want).unwrap()
}

fn observe_id(e: &Effect) -> Option<u64> {
    match e {
        Effect::Observe { id } => Some(*id),
        _ => None,
    }
}

fn apply_id(e: &Effect) -> Option<u64> {
    match e {
        Effect::Apply { id, .. } => Some(*id),
        _ => None,
    }
}

/// The timer the machine waits on (it keeps its timers: `poll_timeout`).
fn timer_id(m: &Rollout) -> Option<u64> {
    m.poll_timeout().map(|(_, id)| id)
}

/// Starts a 10% canary and answers until the candidate has converged, with stable's
/// replicas gone (crashed) in that observation. Returns the machine and the effects of
/// that last answer.
fn canary_with_stable_down() -> (Rollout, Vec<Effect>) {
    use Role::*;
    let p = plan(
        4,
        vec![
            scale(Candidate, 1),
            weight(10),
            scale(Candidate, 4),
            Step::Promote,
            retire(Stable),
        ],
    );
    let mut s = spec(p);
    s.progress_deadline = Duration::from_secs(60);
    let (mut m, fx) = Rollout::new(s, WEIGHTED, Timestamp(0)).unwrap();
    let deploy = request_id(&fx, apply_id);
    let fx = feed(&mut m, 1, Input::Applied { id: deploy });
    let obs = request_id(&fx, observe_id);
    let fx = feed(
        &mut m,
        2,
        Input::Observed {
            id: obs,
            fleet: fleet(0, 1),
        },
    );
    (m, fx)
}

#[test]
fn a_route_waits_for_ready_replicas_behind_every_revision_it_gives_traffic() {
    let (mut m, fx) = canary_with_stable_down();
    // The old engine routed 90% to stable here, with 0 ready replicas.
    assert!(routes(&fx).is_empty(), "routed to an empty stable: {fx:?}");
    assert_eq!(m.phase(), Phase::Progressing);
    // It looks again, then waits a poll interval while stable is still down.
    let obs = request_id(&fx, observe_id);
    let fx = feed(
        &mut m,
        3,
        Input::Observed {
            id: obs,
            fleet: fleet(0, 1),
        },
    );
    assert!(routes(&fx).is_empty());
    let timer = timer_id(&m).unwrap();
    let fx = feed(&mut m, 5_000, Input::TimerFired { id: timer });
    let obs = request_id(&fx, observe_id);
    // Stable is back: the route goes out, 90/10.
    let fx = feed(
        &mut m,
        5_001,
        Input::Observed {
            id: obs,
            fleet: fleet(4, 1),
        },
    );
    let sent = routes(&fx);
    assert_eq!(sent.len(), 1, "{fx:?}");
    assert_eq!((sent[0].of(&v1().id), sent[0].of(&v2().id)), (90, 10));
}

#[test]
fn a_route_to_a_revision_that_never_gets_ready_fails_at_the_progress_deadline() {
    let (mut m, mut fx) = canary_with_stable_down();
    let mut at = 3;
    for _ in 0..100 {
        assert!(routes(&fx).is_empty(), "routed to an empty stable: {fx:?}");
        if let Some(obs) = fx.iter().find_map(observe_id) {
            fx = feed(
                &mut m,
                at,
                Input::Observed {
                    id: obs,
                    fleet: fleet(0, 1),
                },
            );
        } else if let Some(t) = timer_id(&m) {
            at += 2_000;
            fx = feed(&mut m, at, Input::TimerFired { id: t });
        } else {
            break;
        }
    }
    let failed = fx.iter().find_map(|e| match e {
        Effect::Record(ev) => match &ev.kind {
            EventKind::Failed { reason } => Some(reason.clone()),
            _ => None,
        },
        _ => None,
    });
    let reason = failed.expect("the step failed at the deadline");
    assert!(
        reason.contains("progress deadline") && reason.contains("web-v1") && reason.contains("90%"),
        "{reason}"
    );
    assert_eq!(m.phase(), Phase::RollingBack);
}

// ---------------------------------------------------------------------------------------
// The contract over every plan validate accepts, on the simulator
// ---------------------------------------------------------------------------------------

/// A random step; replicas are drawn from 0, 1 and the plan's count so that plans reach
/// their end state often enough to pass validation.
fn any_step(replicas: u32) -> impl Strategy<Value = Step> {
    let count = prop_oneof![Just(0u32), Just(1u32), Just(replicas), 0..=replicas];
    let role = prop_oneof![Just(Role::Candidate), Just(Role::Stable)];
    prop_oneof![
        3 => (role.clone(), count).prop_map(|(role, replicas)| Step::Scale { role, replicas }),
        2 => prop_oneof![Just(0u8), Just(100u8), 1u8..100].prop_map(|percent| Step::SetWeight { percent }),
        1 => (0u64..120).prop_map(|s| Step::Pause { duration: Some(Duration::from_secs(s)) }),
        1 => (1u32..3, 0u32..2).prop_map(|(count, failure_limit)| Step::Analysis(AnalysisStep {
            validators: vec!["v".into()],
            policy: AnalysisPolicy {
                failure_limit,
                ..AnalysisPolicy::every(Duration::from_secs(30), count)
            },
        })),
        2 => Just(Step::Promote),
        1 => (role, 0u64..60).prop_map(|(role, s)| Step::Retire {
            role,
            after: Duration::from_secs(s),
        }),
    ]
}

#[derive(Debug, Clone)]
struct Case {
    seed: u64,
    weighted: bool,
    plan: Plan,
    /// Verdicts in turn: 0 fail, 1 inconclusive, 2 error, else pass.
    verdicts: Vec<u8>,
    /// (n-th apply, permanent?) faults.
    faults: Vec<(u64, bool)>,
    /// Abort at this many seconds of simulated time.
    abort_at: Option<u64>,
    /// Whether a stable revision runs (false: a first deploy).
    with_stable: bool,
}

fn any_case() -> impl Strategy<Value = Case> {
    (1u32..5)
        .prop_flat_map(|replicas| {
            let body = proptest::collection::vec(any_step(replicas), 0..7);
            (
                Just(replicas),
                body,
                // Half the plans end the usual way, so more of them pass validation.
                any::<bool>(),
                any::<u64>(),
                any::<bool>(),
                proptest::collection::vec(0u8..8, 1..20),
                proptest::collection::vec((1u64..10, any::<bool>()), 0..3),
                proptest::option::weighted(0.4, 0u64..300),
                proptest::bool::weighted(0.8),
            )
        })
        .prop_map(
            |(
                replicas,
                mut steps,
                usual_end,
                seed,
                weighted,
                verdicts,
                faults,
                abort_at,
                with_stable,
            )| {
                if usual_end {
                    steps.extend([
                        scale(Role::Candidate, replicas),
                        Step::Promote,
                        retire(Role::Stable),
                    ]);
                }
                Case {
                    seed,
                    weighted,
                    plan: plan(replicas, steps),
                    verdicts,
                    faults,
                    abort_at,
                    with_stable,
                }
            },
        )
}

fn caps(c: &Case) -> Capabilities {
    if c.weighted {
        WEIGHTED
    } else {
        REPLICAS_ONLY
    }
}

fn case_spec(c: &Case) -> RolloutSpec {
    let mut s = spec(c.plan.clone());
    if !c.with_stable {
        s.stable = None;
    }
    s
}

/// Whether the engine would start this plan.
fn accepted(c: &Case) -> bool {
    case_spec(c).validate().is_ok() && c.plan.validate(&caps(c)).is_ok()
}

struct Ran {
    phase: Phase,
    reason: Option<String>,
    events: String,
    world: SimWorld,
}

fn run(c: &Case) -> Ran {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(async {
        let world = SimWorld::new(c.seed);
        world.driver.set_capabilities(caps(c));
        if c.with_stable {
            world.driver.seed_stable(&web(), &v1(), c.plan.replicas);
        }
        for (n, permanent) in &c.faults {
            let kind = if *permanent {
                ErrorKind::Permanent
            } else {
                ErrorKind::Transient
            };
            world
                .driver
                .fail_call(CallKind::Apply, *n, kind, "injected fault");
        }
        let verdicts = c.verdicts.clone();
        let calls = Arc::new(AtomicUsize::new(0));
        let v = FnValidator::new("v", move |ctx| {
            if ctx.candidate.id == v1().id {
                return Ok(Verdict::new("v", Outcome::Pass, "stable healthy"));
            }
            let n = calls.fetch_add(1, Ordering::SeqCst);
            match verdicts[n % verdicts.len()] {
                0 => Ok(Verdict::new("v", Outcome::Fail, "scripted failure")),
                1 => Ok(Verdict::new("v", Outcome::Inconclusive, "scripted")),
                2 => Err(ValidatorError {
                    validator: "v".into(),
                    message: "scripted error".into(),
                }),
                _ => Ok(Verdict::new("v", Outcome::Pass, "scripted")),
            }
        });
        let mut s = case_spec(c);
        s.progress_deadline = Duration::from_secs(120);
        let mut builder = Runner::builder(
            world.driver_arc(),
            world.clock_arc(),
            Arc::new(MemoryJournal::new()),
        )
        .validator(v);
        if let Some(secs) = c.abort_at {
            builder = builder.command_at(Timestamp(secs * 1000), Command::Abort);
        }
        let report = builder.build().start(s).await.unwrap();
        Ran {
            phase: report.status.phase,
            reason: report.status.reason.clone(),
            events: serde_json::to_string(&report.events).unwrap(),
            world,
        }
    })
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 256,
        max_global_rejects: 20_000,
        ..ProptestConfig::default()
    })]

    #[test]
    fn every_accepted_plan_ends_fully_on_one_revision(c in any_case()) {
        prop_assume!(accepted(&c));
        let out = run(&c);
        let fleet = out.world.driver.fleet(&web());
        let r = c.plan.replicas;
        match out.phase {
            Phase::Succeeded => {
                prop_assert_eq!(fleet.revisions.len(), 1, "{:?}\n{}", fleet, c.plan.describe());
                let cand = &fleet.revisions[0];
                prop_assert_eq!(&cand.revision, &v2().id);
                prop_assert_eq!(cand.desired, r, "{:?}", fleet);
                prop_assert_eq!(cand.weight, 100, "{:?}\n{}", fleet, c.plan.describe());
            }
            Phase::RolledBack | Phase::Aborted if !c.with_stable => {
                // A first deploy rolls back to nothing: the candidate is gone.
                prop_assert!(fleet.revisions.is_empty(), "{:?}", fleet);
            }
            Phase::RolledBack | Phase::Aborted => {
                prop_assert_eq!(fleet.revisions.len(), 1, "{:?}\n{}", fleet, c.plan.describe());
                let stable = &fleet.revisions[0];
                prop_assert_eq!(&stable.revision, &v1().id);
                prop_assert_eq!(stable.desired, r, "{:?}", fleet);
                prop_assert_eq!(stable.weight, 100, "{:?}", fleet);
            }
            // A person must act: the reason says why.
            Phase::Paused | Phase::RollbackFailed => {
                prop_assert!(out.reason.as_deref().is_some_and(|r| !r.is_empty()));
            }
            other => prop_assert!(false, "unexpected end {other}: {:?}", out.reason),
        }
        // Same seed, same faults, same verdicts: the same event log.
        let again = run(&c);
        prop_assert_eq!(again.events, out.events);
    }
}

#[test]
fn random_plans_are_accepted_often_enough_to_test_the_contract() {
    // Guards the generator: if validation refused nearly everything, the property above
    // would test nothing.
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let strategy = any_case();
    let (mut total, mut ok) = (0, 0);
    for _ in 0..400 {
        let c = strategy.new_tree(&mut runner).unwrap().current();
        total += 1;
        if accepted(&c) {
            ok += 1;
        }
    }
    assert!(
        ok * 10 >= total,
        "only {ok} of {total} random plans were accepted"
    );
}

// ---------------------------------------------------------------------------------------
// A blue-green preview judged by a traffic metric is warned about
// ---------------------------------------------------------------------------------------

#[test]
fn a_preview_analysed_by_a_traffic_metric_is_warned_about() {
    let world = SimWorld::new(3);
    let error_rate = shipcore::validator::ThresholdConfig::above(
        "error-rate",
        r#"error_rate{revision="{{revision}}"}"#,
        0.05,
    )
    .build(world.metrics_arc())
    .unwrap();
    let smoke = FnValidator::constant("smoke", Outcome::Pass);
    let analysis = |v: &str| AnalysisStep {
        validators: vec![v.into()],
        policy: AnalysisPolicy::every(Duration::from_secs(60), 2),
    };
    let ctx = PlanContext {
        target: web(),
        stable: Some(v1()),
        candidate: v2(),
        replicas: 2,
        capabilities: WEIGHTED,
    };
    let runner = Runner::builder(
        world.driver_arc(),
        world.clock_arc(),
        Arc::new(MemoryJournal::new()),
    )
    .validator(Arc::new(error_rate))
    .validator(smoke)
    .build();
    let blue_green = |pre: &str, post: &str| BlueGreen {
        pre_promotion_analysis: Some(analysis(pre)),
        post_promotion_analysis: Some(analysis(post)),
        ..BlueGreen::default()
    };
    // The preview has no traffic: error-rate there always ends inconclusive.
    let p = blue_green("error-rate", "error-rate").plan(&ctx).unwrap();
    let warnings = runner.warnings(&spec(p.clone()));
    assert_eq!(warnings.len(), 1, "{warnings:?}\n{}", p.describe());
    assert!(
        warnings[0].message.contains("always ends inconclusive"),
        "{}",
        warnings[0]
    );
    // A smoke test on the preview, the traffic metric after the switch: nothing to say.
    let p = blue_green("smoke", "error-rate").plan(&ctx).unwrap();
    assert!(runner.warnings(&spec(p)).is_empty());
    // A canary measures after traffic moved.
    let canary = Canary::default().plan(&ctx).unwrap();
    assert!(runner.warnings(&spec(canary)).is_empty());
}

#[test]
fn a_weight_step_on_a_first_deploy_waits_for_the_promote_to_route() {
    use Role::*;
    // Nothing to split on a first deploy: the old engine routed all traffic to a candidate
    // with no replicas at `SetWeight 0`; now the weight step routes nothing and `Promote`
    // routes once the candidate is ready.
    let p = plan(
        2,
        vec![weight(0), scale(Candidate, 2), weight(50), Step::Promote],
    );
    assert!(p.validate(&WEIGHTED).is_ok());
    let mut s = spec(p);
    s.stable = None;
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let world = SimWorld::new(5);
    world.driver.set_capabilities(WEIGHTED);
    world.driver.record_actions(true);
    let report = rt.block_on(async {
        Runner::builder(
            world.driver_arc(),
            world.clock_arc(),
            Arc::new(MemoryJournal::new()),
        )
        .build()
        .start(s)
        .await
        .unwrap()
    });
    assert_eq!(report.status.phase, Phase::Succeeded, "{:?}", report.status);
    let routes: Vec<String> = world
        .driver
        .actions()
        .iter()
        .filter(|a| matches!(a, Action::Route { .. }))
        .map(|a| a.describe())
        .collect();
    assert_eq!(routes, vec!["route web-v2=100%".to_string()]);
    assert_eq!(world.driver.fleet(&web()).weight_of(&v2().id), 100);
}
