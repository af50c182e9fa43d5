//! Shared helpers for the runnable examples: a printer that turns the engine's event log
//! into lines a person wants to watch scroll by.

use shipcore::engine::{AnalysisScope, Event, EventKind, MeasureResult, RunReport};
use shipcore::gate::GateOutcome;
use shipcore::model::FleetState;
use shipcore::record::Comparison;
use shipcore::time::{format_duration, Timestamp};
use std::time::Duration;

/// What the examples' `main` returns.
pub type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

/// An `on_event` hook printing each event worth a line, with time since `start`.
pub fn printer(start: Timestamp) -> impl Fn(&Event) + Send + Sync + 'static {
    move |ev| {
        if let Some(line) = describe(ev, start.0) {
            println!("{line}");
        }
    }
}

/// The end of a run: final phase, the fleet as the platform reports it, the per-phase
/// comparison table, and how long the simulated rollout took in real and simulated time.
pub fn print_outcome(report: &RunReport, fleet: &FleetState, wall: Duration) {
    println!();
    println!("final phase: {}", report.status.phase);
    println!("fleet:");
    for rev in &fleet.revisions {
        println!(
            "  {:<14} {} ready of {} desired, {:>3}% of traffic",
            rev.revision.as_str(),
            rev.ready,
            rev.desired,
            rev.weight
        );
    }
    let table = Comparison::from_events(&report.events);
    if !table.is_empty() {
        println!();
        println!("{}", table.to_markdown());
    }
    let span = match (report.events.first(), report.events.last()) {
        (Some(a), Some(b)) => Duration::from_millis(b.at.0.saturating_sub(a.at.0)),
        _ => Duration::ZERO,
    };
    println!(
        "{} of simulated rollout in {:.2?} of real time",
        format_duration(span),
        wall
    );
}

/// `t+1m30s` for an event time relative to the rollout's start.
fn clock(ev: &Event, start: u64) -> String {
    format!(
        "t+{:<8}",
        format_duration(Duration::from_millis(ev.at.0.saturating_sub(start)))
    )
}

fn results(results: &[MeasureResult]) -> String {
    results
        .iter()
        .map(|r| match r {
            MeasureResult::Verdict(v) => {
                let ms: Vec<String> = v
                    .measurements
                    .iter()
                    .map(|m| match m.threshold {
                        Some(t) => format!("{}={:.4}{} (limit {:.4})", m.name, m.value, m.unit, t),
                        None => format!("{}={:.4}{}", m.name, m.value, m.unit),
                    })
                    .collect();
                format!("{} {:?} {}", v.validator, v.outcome, ms.join(", "))
            }
            MeasureResult::Error(e) => format!("{} ERROR {}", e.validator, e.message),
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// One line for an event, or `None` for events not worth a line.
pub fn describe(ev: &Event, start: u64) -> Option<String> {
    let t = clock(ev, start);
    let line = match &ev.kind {
        EventKind::Started(s) => format!(
            "{t} ▶ rollout {}: {} {} → {} in {}, {} in {} steps",
            s.id,
            s.service,
            s.previous_version.as_deref().unwrap_or("(none)"),
            s.version,
            s.environment,
            s.strategy,
            s.steps
        ),
        EventKind::Rejected { reason } => format!("{t} ✖ plan rejected: {reason}"),
        EventKind::GateChecked { gate, outcome } => match &**outcome {
            GateOutcome::Pass => format!("{t}   gate {gate}: pass"),
            GateOutcome::Block { reason } => format!("{t}   gate {gate}: BLOCKED — {reason}"),
            GateOutcome::Wait { reason, .. } | GateOutcome::AwaitPerson { reason, .. } => {
                format!("{t}   gate {gate}: waiting — {reason}")
            }
        },
        EventKind::StepStarted { step, description } => {
            format!("{t} ■ step {}: {description}", step + 1)
        }
        EventKind::ActionRequested {
            action, attempt, ..
        } => {
            let again = if *attempt > 1 {
                format!(" (attempt {attempt})")
            } else {
                String::new()
            };
            format!("{t}     → {}{again}", action.describe())
        }
        EventKind::DriverFailed {
            error, will_retry, ..
        } => {
            format!(
                "{t}     ! driver: {error}{}",
                if *will_retry { " — retrying" } else { "" }
            )
        }
        EventKind::Converged { role, replicas, .. } => {
            format!("{t}     ✓ {role} ready: {replicas} replica(s)")
        }
        EventKind::Measured {
            scope,
            number,
            results: r,
        } => {
            let which = match scope {
                AnalysisScope::Step { .. } => "analysis",
                AnalysisScope::Background => "background",
                AnalysisScope::RollbackVerification => "verify stable",
            };
            format!("{t}     {which} #{number}: {}", results(r))
        }
        EventKind::AnalysisCompleted {
            result, message, ..
        } => format!("{t}     ⇒ analysis {result:?}: {message}"),
        EventKind::Paused { reason } => format!("{t} ⏸ paused: {reason}"),
        EventKind::CommandReceived {
            command,
            accepted,
            note,
        } => {
            format!(
                "{t} ⌨ operator {command:?}{}",
                if *accepted {
                    String::new()
                } else {
                    format!(" ignored: {note}")
                }
            )
        }
        EventKind::Failed { reason } => format!("{t} ✖ FAILED: {reason}"),
        EventKind::RollbackStarted { reason } => format!("{t} ↩ ROLLING BACK: {reason}"),
        EventKind::Finished { phase, reason } => format!("{t} ● finished: {phase} — {reason}"),
        EventKind::Resumed => format!("{t} ⟳ resumed from journal"),
        EventKind::StepCompleted { .. }
        | EventKind::ActionApplied { .. }
        | EventKind::PhaseChanged { .. } => return None,
        // Kinds added after this example was written get no line either.
        _ => return None,
    };
    Some(line)
}
