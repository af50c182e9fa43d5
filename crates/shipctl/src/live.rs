//! The live view on a terminal: the event lines scroll above a status line (indicatif) that
//! shows the current step, what the rollout waits for, traffic and ready replicas per
//! revision and the last measurement against its threshold; during a timed pause or an
//! analysis (a bake time), a progress bar and the time left, by the wall clock.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use shipcore::engine::{Event, EventKind, MeasureResult};
use shipcore::model::{FleetState, Step};
use shipcore::time::format_duration;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What the status line shows, updated event by event.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LiveState {
    steps: usize,
    step: Option<(usize, String)>,
    fleet: Option<String>,
    measured: Option<String>,
    waiting: Option<String>,
    /// The plan's steps, to know how long a step waits.
    plan: Vec<Step>,
    /// A timed wait in progress: since when (wall clock), how long.
    timed: Option<(Instant, Duration)>,
    /// The status line was removed: nothing draws it again.
    finished: bool,
}

/// How long `step` waits at least: a timed pause, or an analysis's measurements.
pub fn wait_of(step: &Step) -> Option<Duration> {
    match step {
        Step::Pause { duration: Some(d) } => Some(*d),
        Step::Analysis(a) => {
            let n = a.policy.count?;
            Some(a.policy.initial_delay + a.policy.interval * n.saturating_sub(1))
        }
        _ => None,
    }
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
    /// Knows the plan's steps (for the time left in a wait).
    pub fn set_plan(&mut self, steps: Vec<Step>) {
        self.plan = steps;
    }

    /// Takes in one event, seen at `now`.
    pub fn apply_at(&mut self, ev: &Event, now: Instant) {
        match &ev.kind {
            EventKind::StepStarted { step, .. } => {
                self.timed = self
                    .plan
                    .get(*step)
                    .and_then(wait_of)
                    .filter(|d| !d.is_zero())
                    .map(|d| (now, d));
            }
            EventKind::StepCompleted { .. } | EventKind::Finished { .. } => self.timed = None,
            _ => {}
        }
        self.apply(ev);
    }

    /// The timed wait in progress at `now`: done and total.
    pub fn progress(&self, now: Instant) -> Option<(Duration, Duration)> {
        self.timed
            .map(|(since, total)| (now.saturating_duration_since(since).min(total), total))
    }

    /// The status line at `now`, with the time left in a timed wait.
    pub fn line_at(&self, now: Instant) -> String {
        match self.progress(now) {
            Some((done, total)) => {
                let left = Duration::from_secs((total - done).as_secs());
                format!("{} left · {}", format_duration(left), self.line())
            }
            None => self.line(),
        }
    }

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
            // A command may end the wait; a restart from the journal (`Resumed`) does not:
            // a rollout paused before the restart still waits.
            EventKind::CommandReceived { .. } => self.waiting = None,
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
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    bar: ProgressBar,
    state: Mutex<LiveState>,
}

fn style(template: &str) -> Option<ProgressStyle> {
    ProgressStyle::with_template(template).ok()
}

impl Inner {
    fn state(&self) -> std::sync::MutexGuard<'_, LiveState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Redraws the message, and the bar of a timed wait.
    fn refresh(&self) {
        let now = Instant::now();
        let s = self.state();
        // Under the state's lock, so a refresh cannot draw the line again once `finish`
        // removed it (the thread checks `is_finished` before it takes the lock).
        if s.finished {
            return;
        }
        match s.progress(now) {
            Some((done, total)) => {
                if let Some(st) = style("{spinner} {bar:20} {wide_msg}") {
                    self.bar.set_style(st);
                }
                self.bar.set_length(total.as_millis() as u64);
                self.bar.set_position(done.as_millis() as u64);
            }
            None => {
                if let Some(st) = style("{spinner} {wide_msg}") {
                    self.bar.set_style(st);
                }
            }
        }
        self.bar.set_message(s.line_at(now));
    }
}

impl LiveView {
    /// A live view on stdout (call only when stdout is a terminal), for a rollout of
    /// `plan`'s steps. A background thread moves the bar of a timed wait.
    pub fn new(plan: Vec<Step>) -> Self {
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stdout());
        if let Some(st) = style("{spinner} {wide_msg}") {
            bar.set_style(st);
        }
        bar.enable_steady_tick(Duration::from_millis(120));
        let mut state = LiveState::default();
        state.set_plan(plan);
        let inner = Arc::new(Inner {
            bar,
            state: Mutex::new(state),
        });
        let weak = Arc::downgrade(&inner);
        std::thread::spawn(move || loop {
            std::thread::sleep(Duration::from_millis(250));
            match weak.upgrade() {
                Some(inner) if !inner.bar.is_finished() => inner.refresh(),
                _ => break,
            }
        });
        LiveView { inner }
    }

    /// Prints `line` above the status line and updates the status from `ev`.
    pub fn event(&self, ev: &Event, line: Option<&str>) {
        if let Some(line) = line {
            self.println(line);
        }
        self.inner.state().apply_at(ev, Instant::now());
        self.inner.refresh();
    }

    /// Updates the status from events that happened before this process (a resumed run's
    /// journal), printing nothing.
    pub fn replay(&self, events: &[Event]) {
        let now = Instant::now();
        {
            let mut state = self.inner.state();
            for ev in events {
                state.apply_at(ev, now);
            }
        }
        self.inner.refresh();
    }

    /// Prints a line above the status line (after [`LiveView::finish`], a plain line).
    pub fn println(&self, line: &str) {
        let s = self.inner.state();
        if s.finished {
            crate::output::outln(line);
        } else {
            self.inner.bar.println(line);
        }
    }

    /// Removes the status line for good (before the final lines, which are then written
    /// as plain lines, so no redraw of the status line can move over them).
    pub fn finish(&self) {
        let mut s = self.inner.state();
        if !s.finished {
            s.finished = true;
            self.inner.bar.finish_and_clear();
        }
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

    #[test]
    fn a_resumed_run_starts_from_the_replayed_events_and_still_waits() {
        let replayed: Vec<Event> = serde_json::from_str(
            r#"[
            {"at": 0, "event": "started", "id": "r", "service": "web", "environment": "p",
             "version": "2.0.0", "previous_version": "1.0.0", "strategy": "blue_green", "steps": 6},
            {"at": 10, "event": "step_started", "step": 2, "description": "pause until promoted"},
            {"at": 10, "event": "paused", "reason": "waiting for promotion"}
        ]"#,
        )
        .unwrap();
        let resumed: Event = serde_json::from_str(r#"{"at": 20, "event": "resumed"}"#).unwrap();
        let mut s = LiveState::default();
        for e in &replayed {
            s.apply(e);
        }
        s.apply(&resumed);
        assert_eq!(
            s.line(),
            "step 3/6: pause until promoted · waiting: waiting for promotion"
        );
    }

    #[test]
    fn a_timed_wait_shows_the_time_left_by_the_wall_clock() {
        let mut s = LiveState::default();
        s.set_plan(vec![
            Step::SetWeight { percent: 10 },
            Step::Pause {
                duration: Some(Duration::from_secs(300)),
            },
        ]);
        let ev: Event = serde_json::from_str(
            r#"{"at": 0, "event": "step_started", "step": 1, "description": "pause 5m"}"#,
        )
        .unwrap();
        let t0 = Instant::now();
        s.apply_at(&ev, t0);
        let later = t0 + Duration::from_secs(128);
        assert_eq!(
            s.progress(later),
            Some((Duration::from_secs(128), Duration::from_secs(300)))
        );
        assert_eq!(s.line_at(later), "2m52s left · step 2/0: pause 5m");
        // Past its end, nothing is left (the engine's step ends it).
        let e = s.progress(t0 + Duration::from_secs(900)).unwrap();
        assert_eq!(e.0, e.1);
    }

    #[test]
    fn an_analysis_waits_for_its_measurements() {
        let a: Step = serde_json::from_str(
            r#"{"step": "analysis", "validators": ["e"], "policy": {"interval": "1m", "count": 5}}"#,
        )
        .unwrap();
        assert_eq!(wait_of(&a), Some(Duration::from_secs(240)));
        assert_eq!(wait_of(&Step::Pause { duration: None }), None);
    }
}
