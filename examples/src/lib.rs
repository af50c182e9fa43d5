//! Shared helpers for the runnable examples: a printer that turns the engine's event log
//! into lines a person wants to watch scroll by.

use shipcore::engine::{Event, EventLine, LineStyle, RunReport};
use shipcore::model::FleetState;
use shipcore::record::Comparison;
use shipcore::time::{format_duration, Timestamp};
use std::io::IsTerminal;
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

/// One line for an event, or `None` for events not worth a line: the library's
/// [`EventLine`], the format `shipctl run` prints, coloured on a terminal unless `NO_COLOR`
/// is set.
pub fn describe(ev: &Event, start: u64) -> Option<String> {
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    let style = if !no_color && std::io::stdout().is_terminal() {
        LineStyle::Colour
    } else {
        LineStyle::Plain
    };
    EventLine::new(ev, Timestamp(start), style).line()
}
