//! How plan steps, a full promotion and a rollback expand into primitive operations the
//! machine executes one at a time: apply an action, wait for readiness, sleep, wait for a
//! person, analyse, check a gate, verify. Pure.

use super::spec::RolloutSpec;
use crate::model::Capabilities;
use crate::model::{Action, AnalysisStep, FleetState, MigrationPhase, Role, Step, WeightSet};
use std::sync::Arc;
use std::time::Duration;

/// A primitive operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Op {
    /// Apply an action. A route waits first until every revision it gives traffic to has
    /// ready replicas (or the progress deadline fails the step).
    Apply(Action),
    /// A route applied only if every revision it gives traffic to has ready replicas, and
    /// dropped otherwise (rollback's first move of traffic back to stable).
    RouteIfServing(Action),
    AwaitReady {
        role: Role,
        replicas: u32,
    },
    Sleep(Duration),
    WaitPromotion,
    Analyze(AnalysisStep),
    Gate(String),
    Verify(Arc<[String]>),
    /// Apply one phase of a migrator's migrations.
    Migrate {
        migrator: Arc<str>,
        phase: MigrationPhase,
    },
    /// Judge stable right after an expand migration: broken, the rollout freezes.
    VerifyAfterExpand(Arc<[String]>),
}

fn route(spec: &RolloutSpec, candidate_percent: u8) -> Action {
    let mut weights = Vec::with_capacity(2);
    if let Some(stable) = &spec.stable {
        weights.push((stable.id.clone(), 100 - candidate_percent.min(100)));
        weights.push((spec.candidate.id.clone(), candidate_percent.min(100)));
    } else {
        weights.push((spec.candidate.id.clone(), 100));
    }
    Action::Route {
        weights: WeightSet(weights),
    }
}

fn deploy(spec: &RolloutSpec, role: Role, replicas: u32) -> Option<Action> {
    let revision = match role {
        Role::Candidate => spec.candidate.clone(),
        Role::Stable => spec.stable.clone()?,
    };
    Some(Action::Deploy { revision, replicas })
}

/// The operations of one step.
pub(crate) fn expand_step(step: &Step, spec: &RolloutSpec, caps: &Capabilities) -> Vec<Op> {
    match step {
        Step::Scale { role, replicas } => match deploy(spec, *role, *replicas) {
            Some(action) => vec![
                Op::Apply(action),
                Op::AwaitReady {
                    role: *role,
                    replicas: *replicas,
                },
            ],
            None => vec![],
        },
        // A split needs two revisions: on a first deploy the candidate gets all traffic at
        // `Promote`, once it has replicas, not at a weight step that may come before them.
        Step::SetWeight { percent } if caps.weighted_traffic && spec.stable.is_some() => {
            vec![Op::Apply(route(spec, *percent))]
        }
        Step::SetWeight { .. } => vec![],
        Step::SetFlag { flag, percent } => vec![Op::Apply(Action::SetFlag {
            flag: flag.clone(),
            percent: *percent,
        })],
        Step::Pause { duration: Some(d) } => vec![Op::Sleep(*d)],
        Step::Pause { duration: None } => vec![Op::WaitPromotion],
        Step::Analysis(a) => vec![Op::Analyze(a.clone())],
        Step::Gate { gates } => gates.iter().cloned().map(Op::Gate).collect(),
        Step::Promote if caps.weighted_traffic => vec![Op::Apply(route(spec, 100))],
        Step::Promote => vec![],
        Step::Retire { role, after } => {
            let revision = match role {
                Role::Candidate => Some(spec.candidate.id.clone()),
                Role::Stable => spec.stable.as_ref().map(|s| s.id.clone()),
            };
            match revision {
                Some(revision) => vec![Op::Sleep(*after), Op::Apply(Action::Retire { revision })],
                None => vec![],
            }
        }
        Step::Migrate { migrator, phase } => {
            let mut ops = vec![Op::Migrate {
                migrator: Arc::from(migrator.as_str()),
                phase: *phase,
            }];
            // The old code must still work on the new schema: judged while it serves alone.
            if *phase == MigrationPhase::Expand
                && spec.stable.is_some()
                && !spec.health_validators.is_empty()
            {
                ops.push(Op::VerifyAfterExpand(
                    spec.health_validators.iter().cloned().collect(),
                ));
            }
            ops
        }
    }
}

/// Every flag the plan sets, with the last percent it sets it to, in order of first use.
fn plan_flags(spec: &RolloutSpec) -> Vec<(String, u8)> {
    let mut flags: Vec<(String, u8)> = Vec::new();
    for step in &spec.plan.steps {
        if let Step::SetFlag { flag, percent } = step {
            match flags.iter_mut().find(|(f, _)| f == flag) {
                Some(entry) => entry.1 = *percent,
                None => flags.push((flag.clone(), *percent)),
            }
        }
    }
    flags
}

/// Straight to the end state: candidate at full capacity with all traffic, stable retired,
/// flags at the plan's final percentages.
pub(crate) fn promote_full_ops(spec: &RolloutSpec, caps: &Capabilities) -> Vec<Op> {
    let replicas = spec.plan.replicas;
    let mut ops = vec![
        Op::Apply(Action::Deploy {
            revision: spec.candidate.clone(),
            replicas,
        }),
        Op::AwaitReady {
            role: Role::Candidate,
            replicas,
        },
    ];
    if caps.weighted_traffic {
        ops.push(Op::Apply(route(spec, 100)));
    }
    for (flag, percent) in plan_flags(spec) {
        ops.push(Op::Apply(Action::SetFlag { flag, percent }));
    }
    if let Some(stable) = &spec.stable {
        ops.push(Op::Apply(Action::Retire {
            revision: stable.id.clone(),
        }));
    }
    ops
}

/// Restore stable: every flag the plan touched off first (instant, and it stops the new
/// behaviour), traffic (if stable still has ready replicas, checked again just before the
/// route when the fleet changed since the last observation), then capacity, then traffic
/// again (idempotent), then retire the candidate, then verify stable's health.
pub(crate) fn rollback_ops(
    spec: &RolloutSpec,
    caps: &Capabilities,
    fleet: Option<&FleetState>,
) -> Vec<Op> {
    let mut ops: Vec<Op> = plan_flags(spec)
        .into_iter()
        .map(|(flag, _)| Op::Apply(Action::SetFlag { flag, percent: 0 }))
        .collect();
    let Some(stable) = &spec.stable else {
        // First deploy: there is nothing to restore, only the candidate to remove.
        ops.push(Op::Apply(Action::Retire {
            revision: spec.candidate.id.clone(),
        }));
        return ops;
    };
    let stable_serving = fleet.map(|f| f.ready_of(&stable.id) > 0).unwrap_or(false);
    if caps.weighted_traffic && stable_serving {
        ops.push(Op::RouteIfServing(route(spec, 0)));
    }
    if let Some(action) = deploy(spec, Role::Stable, spec.plan.replicas) {
        ops.push(Op::Apply(action));
    }
    ops.push(Op::AwaitReady {
        role: Role::Stable,
        replicas: spec.plan.replicas,
    });
    if caps.weighted_traffic {
        ops.push(Op::Apply(Action::Route {
            weights: WeightSet(vec![(stable.id.clone(), 100)]),
        }));
    }
    ops.push(Op::Apply(Action::Retire {
        revision: spec.candidate.id.clone(),
    }));
    if !spec.health_validators.is_empty() {
        ops.push(Op::Verify(spec.health_validators.iter().cloned().collect()));
    }
    ops
}
