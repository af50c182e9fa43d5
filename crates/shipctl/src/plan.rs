//! `shipctl plan FILE`: validate the file, check it against the driver, observe the
//! platform, and print the expanded steps and the rollback the engine would run. A dry run:
//! the platform is opened read-only and nothing is applied.

use crate::exit::CliError;
use crate::file::Loaded;
use crate::setup::{self, Mode, Prepared};
use crate::state::StateDir;
use shipcore::driver::Capabilities;
use shipcore::engine::RolloutSpec;
use shipcore::journal::MemoryJournal;
use shipcore::model::{FleetState, Revision};
use std::fmt::Write;
use std::sync::Arc;

/// Validates and plans `loaded` without applying anything; returns the text to print.
pub async fn plan(loaded: &Loaded, state: &StateDir) -> Result<String, CliError> {
    let platform = setup::platform(loaded, state, Mode::DryRun).await?;
    let prepared = setup::prepare(loaded, state, &platform).await?;
    let engine = prepared.parts.builder(&platform).build();
    let warnings = engine
        .runner(Arc::new(MemoryJournal::new()))
        .warnings(&prepared.spec);
    let mut out = describe(&prepared, loaded.file.driver.name());
    if let Some(m) = &loaded.file.migrations {
        out += &crate::migrations::describe(m, &loaded.file.health_validators);
    }
    for w in warnings {
        let _ = writeln!(out, "warning: {}: {}", w.field, w.message);
    }
    out += "\nDry run: nothing was applied.\n";
    Ok(out)
}

fn revision(r: &Revision) -> String {
    format!(
        "{} (version {}, artifact {})",
        r.id.as_str(),
        r.version,
        r.artifact
    )
}

fn capabilities(c: &Capabilities) -> String {
    let all = [
        ("weighted_traffic", c.weighted_traffic),
        ("side_by_side", c.side_by_side),
        ("native_rolling", c.native_rolling),
        ("feature_flags", c.feature_flags),
        ("preview", c.preview),
    ];
    let has: Vec<&str> = all.iter().filter(|(_, on)| *on).map(|(n, _)| *n).collect();
    let lacks: Vec<&str> = all.iter().filter(|(_, on)| !*on).map(|(n, _)| *n).collect();
    let mut s = if has.is_empty() {
        "none".to_string()
    } else {
        has.join(", ")
    };
    if !lacks.is_empty() {
        s += &format!(" (not: {})", lacks.join(", "));
    }
    s
}

/// The fleet as lines.
pub fn fleet_lines(fleet: &FleetState) -> String {
    if fleet.revisions.is_empty() {
        return "  (nothing running)\n".into();
    }
    let mut out = String::new();
    for r in &fleet.revisions {
        let _ = writeln!(
            out,
            "  {:<24} {} ready of {} desired, {:>3}% of traffic",
            r.revision.as_str(),
            r.ready,
            r.desired,
            r.weight
        );
    }
    out
}

/// The numbered rollback the engine runs, from the library's runbook (which mirrors the
/// engine's rollback expansion).
pub fn rollback_lines(spec: &RolloutSpec, caps: &Capabilities) -> Vec<String> {
    let book = shipcore::record::runbook(spec, caps);
    let Some(start) = book.find("## Rollback procedure (what the engine runs)") else {
        return Vec::new();
    };
    book[start..]
        .lines()
        .skip(1)
        .take_while(|l| !l.starts_with("If any of these fails") && !l.starts_with("## "))
        .filter(|l| l.chars().next().is_some_and(|c| c.is_ascii_digit()))
        .map(str::to_string)
        .collect()
}

fn describe(p: &Prepared, driver: &str) -> String {
    let s = &p.spec;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "rollout {}: {} in {} on the {driver} driver",
        s.id, s.target.service, s.target.environment
    );
    let _ = writeln!(
        out,
        "stable:    {}",
        s.stable
            .as_ref()
            .map(revision)
            .unwrap_or_else(|| "none (first deploy)".into())
    );
    let _ = writeln!(out, "candidate: {}", revision(&s.candidate));
    let _ = writeln!(
        out,
        "driver capabilities: {}",
        capabilities(&p.capabilities)
    );
    out += "platform now:\n";
    out += &fleet_lines(&p.fleet);
    if s.gates.is_empty() {
        out += "gates: none\n";
    } else {
        let _ = writeln!(
            out,
            "gates, in order, before anything changes: {}",
            s.gates.join(", ")
        );
    }
    out += "steps (";
    out += &s.plan.describe();
    // Plan::describe starts "<strategy> plan, N replicas:"; close the parenthesis there.
    if let Some(i) = out.find(" replicas:\n") {
        out.replace_range(i..i + " replicas:\n".len(), " replicas):\n");
    }
    if let Some(bg) = &s.background_analysis {
        let _ = writeln!(
            out,
            "background analysis: [{}] every {}",
            bg.validators.join(", "),
            shipcore::time::format_duration(bg.policy.interval)
        );
    }
    let _ = writeln!(
        out,
        "on failure: {}",
        match s.failure_policy {
            shipcore::engine::FailurePolicy::Freeze => "freeze and wait for a person",
            _ => "roll back automatically",
        }
    );
    out += "rollback (what the engine runs on failure or abort):\n";
    for line in rollback_lines(s, &p.capabilities) {
        let _ = writeln!(out, "  {line}");
    }
    out
}
