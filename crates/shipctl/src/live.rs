//! The live view on a terminal: the event lines scroll above a status line (indicatif) that
//! shows the current step, traffic and ready replicas per revision, the last measurement
//! against its threshold, and what the rollout waits for.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use shipcore::engine::{Event, EventKind, MeasureResult};
use shipcore::model::FleetState;
use std::sync::Mutex;
use std::time::Duration;

/// What the status line shows, updated event by event.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LiveState {
    steps: usize,
    step: Option<(usize, String)>,
    fleet: Option<String>,
    measured: Option<String>,
    waiting: Option<String>,
}

fn fleet_text(f: &FleetState) -> String {
    f.revisions
        .iter()
        .map(|r| {
            format!(
                "{} {}% {}/{} ready",
                r.revision.as_str(),
                r.weight,
                r.ready,
                r.desired
            )
        })
        .collect::<Vec<_>>()
        .join(" | ")
}

impl LiveState {
    /// Takes in one event.
    pub fn apply(&mut self, ev: &Event) {
        match &ev.kind {
            EventKind::Started(s) => self.steps = s.steps,
            EventKind::StepStarted { step, description } => {
                self.step = Some((*step, description.clone()));
                self.waiting = None;
            }
            EventKind::Converged { fleet, .. } => self.fleet = Some(fleet_text(fleet)),
            EventKind::Measured { results, .. } => {
                let parts: Vec<String> = results
                    .iter()
                    .flat_map(|r| match r {
                        MeasureResult::Verdict(v) => v
                            .measurements
                            .iter()
                            .map(|m| match m.threshold {
                                Some(t) => format!("{} {:.4} (limit {:.4})", m.name, m.value, t),
                                None => format!("{} {:.4}", m.name, m.value),
                            })
                            .collect::<Vec<_>>(),
                        MeasureResult::Error(e) => vec![format!("{}: error", e.validator)],
                    })
                    .collect();
                self.measured = Some(parts.join(", "));
            }
            EventKind::Paused { reason } => self.waiting = Some(reason.clone()),
            EventKind::CommandReceived { .. } | EventKind::Resumed => self.waiting = None,
            _ => {}
        }
    }

    /// The status line.
    pub fn line(&self) -> String {
        let mut parts = Vec::new();
        if let Some((i, d)) = &self.step {
            parts.push(format!("step {}/{}: {d}", i + 1, self.steps));
        }
        // What the rollout waits for comes first: a narrow terminal cuts the line's end.
        if let Some(w) = &self.waiting {
            parts.push(format!("waiting: {w}"));
        }
        if let Some(f) = &self.fleet {
            parts.push(f.clone());
        }
        if let Some(m) = &self.measured {
            parts.push(m.clone());
        }
        if parts.is_empty() {
            "starting".into()
        } else {
            parts.join(" · ")
        }
    }
}

/// The status line under the event lines.
#[derive(Debug)]
pub struct LiveView {
    bar: ProgressBar,
    state: Mutex<LiveState>,
}

impl LiveView {
    /// A live view on stdout (call only when stdout is a terminal).
    pub fn new() -> Self {
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stdout());
        if let Ok(style) = ProgressStyle::with_template("{spinner} {elapsed_precise} {wide_msg}") {
            bar.set_style(style);
        }
        bar.enable_steady_tick(Duration::from_millis(120));
        LiveView {
            bar,
            state: Mutex::new(LiveState::default()),
        }
    }

    /// Prints `line` above the status line and updates the status from `ev`.
    pub fn event(&self, ev: &Event, line: Option<&str>) {
        if let Some(line) = line {
            self.bar.println(line);
        }
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        s.apply(ev);
        self.bar.set_message(s.line());
    }

    /// Prints a line above the status line.
    pub fn println(&self, line: &str) {
        self.bar.println(line);
    }

    /// Removes the status line (before the final lines).
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

impl Default for LiveView {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_status_line_follows_the_events() {
        let events: Vec<Event> = serde_json::from_str(
            r#"[
            {"at": 0, "event": "started", "id": "r", "service": "web", "environment": "p",
             "version": "2.0.0", "previous_version": "1.0.0", "strategy": "canary", "steps": 4},
            {"at": 0, "event": "step_started", "step": 1, "description": "set candidate weight 10%"},
            {"at": 5, "event": "paused", "reason": "waiting for promotion"}
        ]"#,
        )
        .unwrap();
        let mut s = LiveState::default();
        assert_eq!(s.line(), "starting");
        for e in &events {
            s.apply(e);
        }
        assert_eq!(
            s.line(),
            "step 2/4: set candidate weight 10% · waiting: waiting for promotion"
        );
    }
}
