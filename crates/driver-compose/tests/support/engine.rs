//! The real engine around the Compose driver: a spec planned by a built-in strategy, a
//! `Runner` on the system clock with a `FileJournal`, and a timeline of the events with the
//! instant each was recorded (for detection and rollback times).

use shipcore::clock::SystemClock;
use shipcore::driver::Driver;
use shipcore::engine::{
    Effect, Event, EventKind, Rollout, RolloutSpec, Runner, RunnerBuilder, Stamped,
};
use shipcore::journal::FileJournal;
use shipcore::model::{Revision, Target};
use shipcore::strategy::{PlanContext, Strategy, StrategyConfig};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// `Revision::new` with a parsed version.
pub fn rev(id: &str, version: &str, image: &str) -> Revision {
    Revision::new(id, version.parse().unwrap(), image)
}

/// A spec for `strategy` planned against `driver`'s capabilities, polling every 500 ms, a
/// 120 s progress deadline and quick retries.
pub fn spec(
    id: &str,
    driver: &dyn Driver,
    target: &Target,
    stable: Option<Revision>,
    candidate: Revision,
    replicas: u32,
    strategy: &StrategyConfig,
) -> RolloutSpec {
    let ctx = PlanContext {
        target: target.clone(),
        stable: stable.clone(),
        candidate: candidate.clone(),
        replicas,
        capabilities: driver.capabilities(),
    };
    let plan = strategy
        .plan(&ctx)
        .unwrap_or_else(|e| panic!("planning {}: {e}", strategy.name()));
    eprintln!("{}", plan.describe());
    let mut spec = RolloutSpec::new(id, target.clone(), stable, candidate, plan);
    spec.poll_interval = Duration::from_millis(500);
    spec.progress_deadline = Duration::from_secs(120);
    spec.retry.initial_backoff = Duration::from_millis(500);
    spec.retry.max_backoff = Duration::from_secs(5);
    spec
}

/// Events as they were recorded, each with the instant it reached the hook.
#[derive(Clone, Default)]
pub struct Timeline {
    events: Arc<Mutex<Vec<(Instant, Event)>>>,
}

impl Timeline {
    /// When the first event matching `f` was recorded.
    pub fn first(&self, f: impl Fn(&EventKind) -> bool) -> Option<Instant> {
        let events = self.events.lock().unwrap();
        events.iter().find(|(_, e)| f(&e.kind)).map(|(t, _)| *t)
    }

    /// Every event so far.
    pub fn events(&self) -> Vec<Event> {
        let events = self.events.lock().unwrap();
        events.iter().map(|(_, e)| e.clone()).collect()
    }
}

/// A runner builder on the system clock and a `FileJournal` at `journal`, printing every
/// event (with seconds since `t0`) and keeping them in the returned timeline.
pub fn runner(driver: Arc<dyn Driver>, journal: &Path, t0: Instant) -> (RunnerBuilder, Timeline) {
    let journal = FileJournal::open(journal).unwrap();
    let timeline = Timeline::default();
    let events = timeline.events.clone();
    let builder = Runner::builder(driver, Arc::new(SystemClock), Arc::new(journal)).on_event(
        move |ev: &Event| {
            let now = Instant::now();
            eprintln!("[{:>7.2}s] {}", (now - t0).as_secs_f64(), brief(&ev.kind));
            events.lock().unwrap().push((now, ev.clone()));
        },
    );
    (builder, timeline)
}

/// One line for an event (fleets and measurements shortened).
pub fn brief(kind: &EventKind) -> String {
    match kind {
        EventKind::Converged { role, replicas, .. } => format!("converged {role} x{replicas}"),
        EventKind::ActionRequested {
            action, attempt, ..
        } => {
            format!("action {} (attempt {attempt})", action.describe())
        }
        EventKind::Measured {
            number, results, ..
        } => {
            let r: Vec<String> = results
                .iter()
                .map(|r| match r {
                    shipcore::engine::MeasureResult::Verdict(v) => {
                        format!("{}: {:?} {}", v.validator, v.outcome, v.message)
                    }
                    shipcore::engine::MeasureResult::Error(e) => e.to_string(),
                })
                .collect();
            format!("measured #{number}: {}", r.join(" | "))
        }
        other => {
            let s = serde_json::to_string(other).unwrap_or_default();
            s.chars().take(300).collect()
        }
    }
}

/// Replays a journal file read-only (it may be half-written by a running process): every
/// intact line is fed to a state machine (built from the first). Returns the machine (none
/// before the start is journaled) and the events.
pub fn replay_journal(path: &Path) -> (Option<Rollout>, Vec<Event>) {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let mut machine = None;
    let mut events = Vec::new();
    for line in text.lines() {
        let Some((_, body)) = line.split_once(' ') else {
            continue;
        };
        let Ok(entry) = serde_json::from_str::<serde_json::Value>(body) else {
            continue;
        };
        let Ok(stamped) = serde_json::from_value::<Stamped>(entry["payload"].clone()) else {
            continue;
        };
        let Ok(effects) = Rollout::replay_into(&mut machine, &stamped) else {
            continue;
        };
        for effect in effects {
            if let Effect::Record(ev) = effect {
                events.push(ev);
            }
        }
    }
    (machine, events)
}
