//! A generated `DEPLOY.md` runbook for a rollout spec: what ships, the gates, each step, the
//! analysis thresholds, the exact rollback the engine runs (mirroring the engine's rollback
//! expansion) and how to do it by hand.

use super::md_cell;
use crate::engine::{FailurePolicy, RolloutSpec};
use crate::model::Capabilities;
use crate::model::{Action, AnalysisStep, InconclusiveAction, MigrationPhase, Step, WeightSet};
use crate::time::format_duration as dur;
use std::fmt::Write;

/// Checks of stable the engine makes after a rollback before it gives up (the engine's
/// verification attempts).
const VERIFY_ATTEMPTS: u32 = 3;

fn analysis_table(out: &mut String, a: &AnalysisStep) {
    let p = &a.policy;
    out.push_str("| Setting | Value |\n|---|---|\n");
    let mut row = |k: &str, v: String| {
        let _ = writeln!(out, "| {k} | {} |", md_cell(&v));
    };
    row("Validators", a.validators.join(", "));
    row("Interval", dur(p.interval));
    row(
        "Measurements",
        p.count
            .map(|c| c.to_string())
            .unwrap_or_else(|| "until the rollout ends".into()),
    );
    row("Initial delay", dur(p.initial_delay));
    row("Failures tolerated", p.failure_limit_text());
    row("Inconclusive tolerated", p.inconclusive_limit.to_string());
    row(
        "Errors in a row tolerated",
        p.consecutive_error_limit.to_string(),
    );
    row(
        "Passes in a row required (end it early)",
        p.consecutive_success_limit
            .map(|n| n.to_string())
            .unwrap_or_else(|| "off".into()),
    );
    row(
        "Too many inconclusive",
        match p.on_inconclusive {
            InconclusiveAction::Pause => "pause for a person".into(),
            InconclusiveAction::Fail => "fail".into(),
        },
    );
}

/// The rollback, as numbered lines, with the exact actions (`Action::describe`).
fn rollback_lines(spec: &RolloutSpec, caps: &Capabilities) -> Vec<String> {
    let cand = &spec.candidate.id;
    let Some(stable) = &spec.stable else {
        let retire = Action::Retire {
            revision: cand.clone(),
        };
        return vec![format!(
            "Retire the candidate: `{}`. This is a first deploy: there is no stable revision to restore, so the service runs nothing afterwards.",
            retire.describe()
        )];
    };
    let n = spec.plan.replicas;
    let mut lines = Vec::new();
    if caps.weighted_traffic {
        let split = Action::Route {
            weights: WeightSet(vec![(stable.id.clone(), 100), (cand.clone(), 0)]),
        };
        lines.push(format!(
            "If {} still has ready replicas: send all traffic back to it first: `{}`.",
            stable.id,
            split.describe()
        ));
    }
    let deploy = Action::Deploy {
        revision: stable.clone(),
        replicas: n,
    };
    lines.push(format!(
        "Restore capacity: `{}` (artifact `{}`, version {}).",
        deploy.describe(),
        stable.artifact,
        stable.version
    ));
    lines.push(format!(
        "Wait until {n} replicas of {} are ready (polled every {}, within the progress deadline of {}).",
        stable.id,
        dur(spec.poll_interval),
        dur(spec.progress_deadline)
    ));
    if caps.weighted_traffic {
        let only = Action::Route {
            weights: WeightSet(vec![(stable.id.clone(), 100)]),
        };
        lines.push(format!(
            "Route 100% of traffic to stable: `{}`.",
            only.describe()
        ));
    }
    lines.push(format!(
        "Retire the candidate: `{}`.",
        Action::Retire {
            revision: cand.clone()
        }
        .describe()
    ));
    if spec.health_validators.is_empty() {
        lines.push("No health validators are configured: stable is not verified after the rollback (add `health_validators`).".into());
    } else {
        lines.push(format!(
            "Verify stable with [{}]: up to {VERIFY_ATTEMPTS} checks, {} apart; if it is still unhealthy the rollout ends `rollback_failed`.",
            spec.health_validators.join(", "),
            dur(spec.poll_interval)
        ));
    }
    lines
}

fn step_note(step: &Step, caps: &Capabilities, policy: FailurePolicy) -> Option<&'static str> {
    match step {
        Step::SetWeight { .. } | Step::Promote if !caps.weighted_traffic => {
            Some("no-op on this driver: it cannot split traffic by weight")
        }
        Step::Analysis(_) => Some(match policy {
            FailurePolicy::Rollback => "failure rolls back; thresholds below",
            FailurePolicy::Freeze => "failure freezes the rollout; thresholds below",
        }),
        Step::Pause { duration: None } => Some("waits for `handle.promote()`"),
        Step::Migrate {
            phase: MigrationPhase::Expand,
            ..
        } => Some(
            "schema change before any traffic moves; stable is judged right after it with the health validators, \
             and if it broke, the rollout freezes (a rollback cannot undo a schema); not undone by a rollback",
        ),
        Step::Migrate { .. } => Some(
            "removes what the old code needed, after promotion and monitoring; not undone by a rollback",
        ),
        _ => None,
    }
}

/// Renders `DEPLOY.md` for `spec` on a driver with `caps`.
///
/// ```
/// use shipcore::driver::Capabilities;
/// use shipcore::engine::RolloutSpec;
/// use shipcore::model::{Plan, Revision, Role, Step, Target};
/// let spec = RolloutSpec::new("r1", Target::new("web", "production"),
///     Some(Revision::new("web-v1", "1.0.0".parse().unwrap(), "web:1.0.0")),
///     Revision::new("web-v2", "2.0.0".parse().unwrap(), "web:2.0.0"),
///     Plan { strategy: "recreate".into(), replicas: 3, steps: vec![Step::Scale { role: Role::Candidate, replicas: 3 }] });
/// let md = shipcore::record::runbook(&spec, &Capabilities::ALL);
/// assert!(md.contains("`deploy web-v1 x3`"));
/// ```
pub fn runbook(spec: &RolloutSpec, caps: &Capabilities) -> String {
    let t = &spec.target;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# DEPLOY.md: {} {} to {}\n",
        t.service, spec.candidate.version, t.environment
    );
    let _ = writeln!(
        out,
        "Generated by shipcore from rollout spec `{}`. Times are engine times; steps are numbered from 1.\n",
        spec.id
    );

    out += "## What ships\n\n| | |\n|---|---|\n";
    let mut row = |k: &str, v: String| {
        let _ = writeln!(out, "| {k} | {} |", md_cell(&v));
    };
    row("Service", t.service.clone());
    row(
        "Environment",
        match &t.namespace {
            Some(ns) => format!("{} (namespace {ns})", t.environment),
            None => t.environment.clone(),
        },
    );
    let c = &spec.candidate;
    row(
        "Candidate",
        format!("{} version {} artifact `{}`", c.id, c.version, c.artifact),
    );
    row(
        "Stable",
        match &spec.stable {
            Some(s) => format!("{} version {} artifact `{}`", s.id, s.version, s.artifact),
            None => "none (first deploy)".into(),
        },
    );
    row(
        "Strategy",
        format!("{}, {} replicas", spec.plan.strategy, spec.plan.replicas),
    );
    row(
        "On failure",
        match spec.failure_policy {
            FailurePolicy::Rollback => "roll back automatically".into(),
            FailurePolicy::Freeze => {
                "freeze and wait for a person (`retry` re-runs the step, `abort` rolls back)".into()
            }
        },
    );
    row("Progress deadline", dur(spec.progress_deadline));
    let r = &spec.retry;
    row(
        "Driver retries",
        format!(
            "{} attempts, backoff {} doubling up to {}",
            r.max_attempts,
            dur(r.initial_backoff),
            dur(r.max_backoff)
        ),
    );

    out += "\n## Gates before anything changes\n\n";
    if spec.gates.is_empty() {
        out += "None.\n";
    } else {
        for (i, g) in spec.gates.iter().enumerate() {
            let _ = writeln!(out, "{}. `{g}`", i + 1);
        }
        out += "\nChecked in order; the first that blocks stops the rollout with nothing changed (`blocked`).\n";
    }

    out += "\n## Steps\n\n";
    for (i, step) in spec.plan.steps.iter().enumerate() {
        let note = step_note(step, caps, spec.failure_policy)
            .map(|n| format!(" — {n}"))
            .unwrap_or_default();
        let _ = writeln!(out, "{}. {}{note}", i + 1, step.describe());
    }

    out += "\n## Analysis thresholds\n";
    let mut any = false;
    for (i, step) in spec.plan.steps.iter().enumerate() {
        if let Step::Analysis(a) = step {
            any = true;
            let _ = writeln!(out, "\n### Step {}: {}\n", i + 1, step.describe());
            analysis_table(&mut out, a);
        }
    }
    if let Some(bg) = &spec.background_analysis {
        any = true;
        out += "\n### Background analysis (from the first step to the end)\n\n";
        analysis_table(&mut out, bg);
    }
    if !any {
        out += "\nNo analysis: nothing judges the candidate's health during this rollout.\n";
    }

    out += "\n## Rollback procedure (what the engine runs)\n\n";
    out += "Triggers: a failed analysis, the progress deadline exceeded, a permanent driver error (or transient errors past the retries), an operator's abort.\n\n";
    for (i, line) in rollback_lines(spec, caps).iter().enumerate() {
        let _ = writeln!(out, "{}. {line}", i + 1);
    }
    let migrations: Vec<String> = spec
        .plan
        .steps
        .iter()
        .enumerate()
        .filter_map(|(i, s)| match s {
            Step::Migrate { migrator, phase } => {
                Some(format!("step {} ({migrator}, {phase})", i + 1))
            }
            _ => None,
        })
        .collect();
    if !migrations.is_empty() {
        let _ = writeln!(
            out,
            "\nNot undone by a rollback: the schema migrations of {}. A rollback redeploys code only; \
             the schema stays as the migrations left it, which the expand/contract rules keep safe for the stable.",
            migrations.join(", ")
        );
    }
    out += "\nIf any of these fails, the rollout ends `rollback_failed`: a person must act. `handle.retry()` runs the rollback again.\n";

    out += "\n## Rolling back by hand\n\n";
    out += "Through the engine: `handle.abort()` on the rollout's `RolloutHandle` (or resume its journal with a runner built with \
`command_at(now, Command::Abort)`); the engine then runs the procedure above and records it. From a shell, \
`shipctl abort <rollout id>` does the same for a rollout started with `shipctl run` (a stopped one is continued from \
its journal to take the abort).\n\n";
    out += "Without the engine: perform the same actions, in the same order, with the platform's own tools, and check each \
one before the next:\n\n";
    for (i, line) in rollback_lines(spec, caps).iter().enumerate() {
        let _ = writeln!(out, "{}. {line}", i + 1);
    }
    if let Some(stable) = &spec.stable {
        let _ = writeln!(
            out,
            "\nDone when {} serves all traffic with {} ready replicas and {} no longer runs.",
            stable.id, spec.plan.replicas, spec.candidate.id
        );
    }
    out
}
