//! How a run is shown: one plain line per event (colour only on a terminal and without
//! `NO_COLOR`; on a terminal, with a live status line under them), or the events as JSON
//! lines (`--output json`).

use shipcore::engine::{Event, EventLine, LineStyle, Phase};
use shipcore::time::Timestamp;
use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicU64, Ordering};

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
    /// The events of a resumed rollout's journal, for the live view to start from.
    replayed: std::sync::Mutex<Vec<Event>>,
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
            replayed: std::sync::Mutex::new(Vec::new()),
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

    /// The events a resumed rollout's journal replayed (call before the first event): not
    /// printed again, but new lines' times count from the rollout's first event, and the
    /// live view starts from where the rollout stands (its step, what it waits for, the
    /// fleet) instead of "starting".
    pub fn replayed(&self, events: Vec<Event>) {
        if let Some(first) = events.first() {
            let _ = self.start.compare_exchange(
                u64::MAX,
                first.at.0,
                Ordering::SeqCst,
                Ordering::SeqCst,
            );
        }
        *self.replayed.lock().unwrap_or_else(|e| e.into_inner()) = events;
    }

    /// The format.
    pub fn format(&self) -> Format {
        self.format
    }

    fn style(&self) -> LineStyle {
        if self.color {
            LineStyle::Colour
        } else {
            LineStyle::Plain
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
                let view = crate::live::LiveView::new(plan);
                let replayed =
                    std::mem::take(&mut *self.replayed.lock().unwrap_or_else(|e| e.into_inner()));
                view.replay(&replayed);
                view
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

    /// Removes the live status line, if any, before the lines that close a run (the
    /// record, the fleet, the outcome): they are written as plain lines under the events.
    pub fn end_live(&self) {
        if let Some(live) = self.live.as_ref().and_then(|l| l.get()) {
            live.finish();
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
                let phase = self.style().paint(colour, &phase.to_string());
                match reason {
                    Some(r) => outln(&format!("rollout {id}: {phase} ({r}); exit code {code}")),
                    None => outln(&format!("rollout {id}: {phase}; exit code {code}")),
                }
            }
        }
    }

    fn describe(&self, ev: &Event) -> Option<String> {
        let start = self.start.load(Ordering::SeqCst);
        EventLine::new(ev, Timestamp(start), self.style()).line()
    }
}
