//! How a run is shown: one plain line per event (colour only on a terminal and without
//! `NO_COLOR`; on a terminal, with a live status line under them), or the events as JSON
//! lines (`--output json`).

use shipcore::engine::{AnalysisScope, Event, EventKind, MeasureResult, Phase};
use shipcore::gate::GateOutcome;
use shipcore::time::format_duration;
use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// The output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// One line per event, for people and CI logs.
    Text,
    /// One JSON object per line: the engine's events, then a `shipctl` summary line.
    Json,
}

/// Prints events as they happen.
#[derive(Debug)]
pub struct Printer {
    format: Format,
    color: bool,
    /// The first event's time (ms), for `t+…`; `u64::MAX` until then.
    start: AtomicU64,
    /// The status line, when stdout is a terminal (text format); drawn from the first
    /// event on, so a run refused before it starts leaves no status line behind.
    live: Option<std::sync::OnceLock<crate::live::LiveView>>,
    /// The plan's steps, for the live view's timed waits.
    plan: std::sync::Mutex<Vec<shipcore::model::Step>>,
}

/// Writes `text` to stdout. A closed stdout (`shipctl history | head`) is not worth a
/// panic: what cannot be written is dropped.
pub fn out(text: &str) {
    let mut o = std::io::stdout().lock();
    let _ = o.write_all(text.as_bytes());
    let _ = o.flush();
}

/// Writes `line` and a newline to stdout (see [`out`]).
pub fn outln(line: &str) {
    out(&format!("{line}\n"));
}

/// Whether to colour: stdout is a terminal and `NO_COLOR` is unset or empty.
pub fn use_color() -> bool {
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    !no_color && std::io::stdout().is_terminal()
}

impl Printer {
    /// A printer in `format`.
    pub fn new(format: Format) -> Self {
        Printer {
            format,
            color: format == Format::Text && use_color(),
            start: AtomicU64::new(u64::MAX),
            live: None,
            plan: std::sync::Mutex::new(Vec::new()),
        }
    }

    /// The same, with the live status line when stdout is a terminal (for `run`/`resume`).
    pub fn live(format: Format) -> Self {
        let live = (format == Format::Text && std::io::stdout().is_terminal())
            .then(std::sync::OnceLock::new);
        Printer {
            live,
            ..Printer::new(format)
        }
    }

    /// The plan's steps, so the live view knows how long a step waits (call before the
    /// first event).
    pub fn set_plan(&self, steps: &[shipcore::model::Step]) {
        *self.plan.lock().unwrap_or_else(|e| e.into_inner()) = steps.to_vec();
    }

    /// The format.
    pub fn format(&self) -> Format {
        self.format
    }

    fn paint(&self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }

    /// Prints one event (text: only events worth a line).
    pub fn event(&self, ev: &Event) {
        let _ = self
            .start
            .compare_exchange(u64::MAX, ev.at.0, Ordering::SeqCst, Ordering::SeqCst);
        let line = match self.format {
            Format::Json => serde_json::to_string(ev).ok(),
            Format::Text => self.describe(ev),
        };
        if let Some(live) = &self.live {
            live.get_or_init(|| {
                let plan = self.plan.lock().unwrap_or_else(|e| e.into_inner()).clone();
                crate::live::LiveView::new(plan)
            })
            .event(ev, line.as_deref());
            return;
        }
        if let Some(line) = line {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{line}");
            let _ = out.flush();
        }
    }

    /// Prints a line of text (text format only).
    pub fn note(&self, line: &str) {
        match (self.live.as_ref().and_then(|l| l.get()), self.format) {
            (Some(live), _) => live.println(line),
            (None, Format::Text) => outln(line),
            (None, Format::Json) => {}
        }
    }

    /// The last line: how the rollout ended and the exit code.
    pub fn finished(&self, id: &str, phase: Phase, reason: Option<&str>, code: u8) {
        if let Some(live) = self.live.as_ref().and_then(|l| l.get()) {
            live.finish();
        }
        match self.format {
            Format::Json => outln(&format!(
                "{}",
                serde_json::json!({
                    "shipctl": "finished", "id": id, "phase": phase,
                    "reason": reason, "exit_code": code,
                })
            )),
            Format::Text => {
                let colour = match phase {
                    Phase::Succeeded => "32",
                    Phase::RolledBack | Phase::Aborted => "33",
                    _ => "31",
                };
                let phase = self.paint(colour, &phase.to_string());
                match reason {
                    Some(r) => outln(&format!("rollout {id}: {phase} ({r}); exit code {code}")),
                    None => outln(&format!("rollout {id}: {phase}; exit code {code}")),
                }
            }
        }
    }

    fn describe(&self, ev: &Event) -> Option<String> {
        let start = self.start.load(Ordering::SeqCst);
        let t = format!(
            "t+{:<7}",
            format_duration(Duration::from_millis(ev.at.0.saturating_sub(start)))
        );
        let line = match &ev.kind {
            EventKind::Started(s) => format!(
                "{t} started {}: {} {} -> {} in {}, {} in {} steps",
                s.id,
                s.service,
                s.previous_version.as_deref().unwrap_or("(none)"),
                s.version,
                s.environment,
                s.strategy,
                s.steps
            ),
            EventKind::Rejected { reason } => {
                format!("{t} {} {reason}", self.paint("31", "rejected:"))
            }
            EventKind::GateChecked { gate, outcome } => match &**outcome {
                GateOutcome::Pass => format!("{t} gate {gate}: pass"),
                GateOutcome::Block { reason } => {
                    format!("{t} gate {gate}: {} {reason}", self.paint("31", "BLOCKED"))
                }
                GateOutcome::Wait { reason, .. } | GateOutcome::AwaitPerson { reason, .. } => {
                    format!("{t} gate {gate}: waiting: {reason}")
                }
            },
            EventKind::StepStarted { step, description } => {
                format!("{t} step {}: {description}", step + 1)
            }
            EventKind::ActionRequested {
                action, attempt, ..
            } => {
                let again = if *attempt > 1 {
                    format!(" (attempt {attempt})")
                } else {
                    String::new()
                };
                format!("{t}   -> {}{again}", action.describe())
            }
            EventKind::DriverFailed {
                error, will_retry, ..
            } => format!(
                "{t}   driver error: {error}{}",
                if *will_retry { "; retrying" } else { "" }
            ),
            EventKind::Converged { role, replicas, .. } => {
                format!("{t}   {role} ready: {replicas} replica(s)")
            }
            EventKind::Measured {
                scope,
                number,
                results,
            } => {
                let which = match scope {
                    AnalysisScope::Step { .. } => "analysis",
                    AnalysisScope::Background => "background analysis",
                    AnalysisScope::RollbackVerification => "stable check",
                };
                format!("{t}   {which} #{number}: {}", measurements(results))
            }
            EventKind::AnalysisCompleted {
                result, message, ..
            } => format!("{t}   analysis {result:?}: {message}"),
            EventKind::Paused { reason } => format!("{t} paused: {reason}"),
            EventKind::CommandReceived {
                command,
                accepted,
                note,
            } => {
                let cmd = serde_json::to_string(command).unwrap_or_default();
                if *accepted {
                    format!("{t} operator command {cmd}")
                } else {
                    format!("{t} operator command {cmd} ignored: {note}")
                }
            }
            EventKind::Failed { reason } => {
                format!("{t} {} {reason}", self.paint("31", "FAILED:"))
            }
            EventKind::RollbackStarted { reason } => {
                format!("{t} {} {reason}", self.paint("33", "ROLLING BACK:"))
            }
            EventKind::Finished { phase, reason } => format!("{t} finished: {phase}: {reason}"),
            EventKind::Resumed => format!("{t} resumed from the journal"),
            _ => return None,
        };
        Some(line)
    }
}

fn measurements(results: &[MeasureResult]) -> String {
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
            MeasureResult::Error(e) => format!("{} error: {}", e.validator, e.message),
        })
        .collect::<Vec<_>>()
        .join("; ")
}
