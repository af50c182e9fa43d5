//! One line of text per event, for people and CI logs: the format `shipctl run` prints and
//! the runnable examples print, so a rollout reads the same from either.

use super::event::{AnalysisScope, Event, EventKind};
use crate::gate::GateOutcome;
use crate::migrate::MigrationOutcome;
use crate::time::{format_duration, Timestamp};
use crate::validator::MeasureResult;
use std::fmt;
use std::time::Duration;

/// How an event line is styled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LineStyle {
    /// Plain text (logs, pipes, `NO_COLOR`).
    #[default]
    Plain,
    /// Failures in red and rollbacks in yellow, with ANSI escape codes (for a terminal:
    /// the caller decides, the library does no I/O).
    Colour,
}

impl LineStyle {
    /// `text` in the ANSI colour `code` (`31` red, `32` green, `33` yellow) when colouring.
    pub fn paint(self, code: &str, text: &str) -> String {
        match self {
            LineStyle::Colour => format!("\x1b[{code}m{text}\x1b[0m"),
            LineStyle::Plain => text.to_string(),
        }
    }
}

/// An event as one line: `t+1m30s   step 3: set weight 20%`, time relative to `start` (the
/// rollout's first event). Built with [`EventLine::new`]; `Display` writes the line. Events
/// not worth a line (a step completed, an action applied, a phase change) have none:
/// [`EventLine::line`] is `None` for them and `Display` writes nothing.
///
/// ```
/// use shipcore::engine::{Event, EventKind, EventLine, LineStyle};
/// use shipcore::time::Timestamp;
/// let ev = Event {
///     at: Timestamp(90_000),
///     kind: EventKind::Paused { reason: "waiting for promotion".into() },
/// };
/// let line = EventLine::new(&ev, Timestamp(0), LineStyle::Plain).to_string();
/// assert_eq!(line, "t+1m30s   paused: waiting for promotion");
/// ```
#[derive(Debug, Clone, Copy)]
pub struct EventLine<'a> {
    event: &'a Event,
    start: Timestamp,
    style: LineStyle,
}

impl<'a> EventLine<'a> {
    /// The line for `event`, its time shown since `start`, in `style`.
    pub fn new(event: &'a Event, start: Timestamp, style: LineStyle) -> Self {
        EventLine {
            event,
            start,
            style,
        }
    }

    /// The line, or `None` for an event not worth one.
    pub fn line(&self) -> Option<String> {
        let ev = self.event;
        let paint = |code: &str, text: &str| self.style.paint(code, text);
        let t = format!(
            "t+{:<7}",
            format_duration(Duration::from_millis(ev.at.0.saturating_sub(self.start.0)))
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
                format!("{t} {} {reason}", paint("31", "rejected:"))
            }
            EventKind::GateChecked { gate, outcome } => match &**outcome {
                GateOutcome::Pass => format!("{t} gate {gate}: pass"),
                GateOutcome::Block { reason } => {
                    format!("{t} gate {gate}: {} {reason}", paint("31", "BLOCKED"))
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
                    AnalysisScope::StableAfterMigration { .. } => "stable check after migration",
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
                format!("{t} {} {reason}", paint("31", "FAILED:"))
            }
            EventKind::RollbackStarted { reason } => {
                format!("{t} {} {reason}", paint("33", "ROLLING BACK:"))
            }
            EventKind::Finished { phase, reason } => format!("{t} finished: {phase}: {reason}"),
            EventKind::Resumed => format!("{t} resumed from the journal"),
            EventKind::MigrationRequested {
                migrator,
                phase,
                attempt,
                ..
            } => {
                let again = if *attempt > 1 {
                    format!(" (attempt {attempt})")
                } else {
                    String::new()
                };
                format!("{t}   -> migrate {migrator}: {phase}{again}")
            }
            EventKind::Migrated(run) => {
                let each: Vec<String> = run
                    .migrations
                    .iter()
                    .map(|m| match &m.outcome {
                        MigrationOutcome::Applied => m.id.clone(),
                        MigrationOutcome::Failed { error } => {
                            format!("{} {} {error}", m.id, paint("31", "FAILED:"))
                        }
                    })
                    .collect();
                let what = if each.is_empty() {
                    "nothing pending".to_string()
                } else {
                    each.join(", ")
                };
                format!("{t}   {} {}: {what}", run.migrator, run.phase)
            }
            EventKind::MigratorFailed {
                error, will_retry, ..
            } => format!(
                "{t}   migrator error: {error}{}",
                if *will_retry { "; retrying" } else { "" }
            ),
            _ => return None,
        };
        Some(line)
    }
}

impl fmt::Display for EventLine<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line() {
            Some(line) => f.write_str(&line),
            None => Ok(()),
        }
    }
}

/// Each validator's verdict and measurements against their limits, `; `-separated.
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{Command, Phase};

    fn at(ms: u64, kind: EventKind) -> Event {
        Event {
            at: Timestamp(ms),
            kind,
        }
    }

    #[test]
    fn lines_show_time_since_start_and_skip_quiet_events() {
        let start = Timestamp(1_000);
        let ev = at(
            61_000,
            EventKind::StepStarted {
                step: 2,
                description: "set weight 20%".into(),
            },
        );
        assert_eq!(
            EventLine::new(&ev, start, LineStyle::Plain).to_string(),
            "t+1m      step 3: set weight 20%"
        );
        let quiet = at(
            2_000,
            EventKind::PhaseChanged {
                from: Phase::Pending,
                to: Phase::Progressing,
            },
        );
        assert_eq!(EventLine::new(&quiet, start, LineStyle::Plain).line(), None);
        assert_eq!(
            EventLine::new(&quiet, start, LineStyle::Plain).to_string(),
            ""
        );
    }

    #[test]
    fn colour_paints_failures_and_rollbacks_only() {
        let start = Timestamp(0);
        let failed = at(
            0,
            EventKind::Failed {
                reason: "analysis failed".into(),
            },
        );
        let back = at(
            0,
            EventKind::RollbackStarted {
                reason: "analysis failed".into(),
            },
        );
        let cmd = at(
            0,
            EventKind::CommandReceived {
                command: Command::Abort,
                accepted: true,
                note: String::new(),
            },
        );
        assert_eq!(
            EventLine::new(&failed, start, LineStyle::Colour).to_string(),
            "t+0s      \x1b[31mFAILED:\x1b[0m analysis failed"
        );
        assert_eq!(
            EventLine::new(&failed, start, LineStyle::Plain).to_string(),
            "t+0s      FAILED: analysis failed"
        );
        assert_eq!(
            EventLine::new(&back, start, LineStyle::Colour).to_string(),
            "t+0s      \x1b[33mROLLING BACK:\x1b[0m analysis failed"
        );
        let plain = EventLine::new(&cmd, start, LineStyle::Plain).to_string();
        assert_eq!(
            EventLine::new(&cmd, start, LineStyle::Colour).to_string(),
            plain
        );
        assert_eq!(plain, "t+0s      operator command {\"command\":\"abort\"}");
    }
}
