//! The markdown ship report of one deployment: what shipped, when, how it went, the health
//! results behind that, the artifacts, and the rollback (what happened, or how to do it).

use super::comparison::Comparison;
use super::deployment::{DeploymentRecord, DeploymentStatus};
use super::{fmt_num, md_cell};
use std::fmt::Write;

fn status_line(s: DeploymentStatus) -> &'static str {
    match s {
        DeploymentStatus::Success => "SUCCESS",
        DeploymentStatus::RolledBack => "ROLLED BACK",
        DeploymentStatus::RollbackFailed => "ROLLBACK FAILED: a person must act",
        DeploymentStatus::Aborted => "ABORTED (stable restored)",
        DeploymentStatus::Blocked => "BLOCKED (nothing changed)",
        DeploymentStatus::Frozen => "FROZEN: waiting for a person (retry or abort)",
        DeploymentStatus::InProgress => "IN PROGRESS",
    }
}

fn with_unit(v: Option<f64>, unit: Option<&str>) -> String {
    match (v, unit) {
        (Some(v), Some(u)) => format!("{} {u}", fmt_num(v)),
        (Some(v), None) => fmt_num(v),
        (None, _) => "not measured".into(),
    }
}

/// Renders the ship report. With `comparison`, the per-phase table is included.
///
/// ```
/// # use shipcore::engine::{Event, EventKind, Phase, StartInfo};
/// # use shipcore::record::{DeploymentRecord, RecordMeta, ship_report};
/// # use shipcore::time::Timestamp;
/// # let events = vec![
/// #     Event { at: Timestamp(0), kind: EventKind::Started(Box::new(StartInfo { id: "r1".into(),
/// #         service: "web".into(), environment: "production".into(), version: "2.0.0".into(),
/// #         previous_version: None, strategy: "recreate".into(), steps: 1 })) },
/// #     Event { at: Timestamp(60_000), kind: EventKind::Finished { phase: Phase::Succeeded, reason: "all steps completed".into() } },
/// # ];
/// let record = DeploymentRecord::from_events(&events, &RecordMeta::new("ci")).unwrap();
/// let md = ship_report(&record, None);
/// assert!(md.starts_with("# Ship report: web 2.0.0 to production"));
/// ```
pub fn ship_report(record: &DeploymentRecord, comparison: Option<&Comparison>) -> String {
    let r = record;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# Ship report: {} {} to {}\n",
        r.service, r.version, r.environment
    );
    let _ = writeln!(out, "**Status: {}**\n", status_line(r.status));
    out += "| | |\n|---|---|\n";
    let mut row = |k: &str, v: &str| {
        let _ = writeln!(out, "| {k} | {} |", md_cell(v));
    };
    row("Rollout id", &r.id);
    row("Version", &r.version);
    row(
        "Previous version",
        r.previous_version
            .as_deref()
            .unwrap_or("none (first deploy)"),
    );
    row("Environment", &r.environment);
    row("Strategy", &r.strategy);
    row("Started", &r.deployed_at);
    row("Finished", r.finished_at.as_deref().unwrap_or("not yet"));
    row("Duration", &r.duration);
    row(
        "Deployed by",
        if r.deployed_by.is_empty() {
            "unknown"
        } else {
            &r.deployed_by
        },
    );
    if r.attempts > 1 {
        row("Attempts", &r.attempts.to_string());
    }
    if let Some(c) = &r.change_id {
        row("Change", c);
    }
    if !r.approved_by.is_empty() {
        row("Approved by", &r.approved_by.join(", "));
    }
    if let Some(w) = &r.deploy_window {
        row("Deploy window", w);
    }
    if let Some(t) = r.rollback_tested {
        row("Rollback rehearsed", if t { "yes" } else { "no" });
    }
    if let Some(p) = r.monitoring_period {
        row("Monitoring period", &crate::time::format_duration(p));
    }
    if !r.escalation_path.is_empty() {
        row("Escalation", &r.escalation_path.join(" → "));
    }
    if let Some(reason) = &r.reason {
        let _ = writeln!(out, "\n**Why:** {reason}");
    }

    let v = &r.validation;
    out += "\n## Health results\n\n| Check | Result |\n|---|---|\n";
    let _ = writeln!(out, "| Health check | {} |", v.health_check.as_str());
    let _ = writeln!(out, "| Smoke tests | {} |", v.smoke_tests.as_str());
    let _ = writeln!(
        out,
        "| Error rate (highest) | {} |",
        with_unit(v.error_rate, v.error_rate_unit.as_deref())
    );
    let _ = writeln!(
        out,
        "| Latency p95 (highest) | {} |",
        with_unit(v.latency_p95, v.latency_p95_unit.as_deref())
    );
    if !v.validators.is_empty() {
        out += "\n| Validator | Last outcome | Pass | Fail | Inconclusive | Errors | Last message |\n|---|---|---:|---:|---:|---:|---|\n";
        for s in &v.validators {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} | {} |",
                md_cell(&s.name),
                s.last_outcome.as_str(),
                s.passed,
                s.failed,
                s.inconclusive,
                s.errors,
                md_cell(&s.last_message)
            );
        }
    }
    if !r.gates.is_empty() {
        out += "\n| Gate | Outcome | Reason |\n|---|---|---|\n";
        for g in &r.gates {
            let _ = writeln!(
                out,
                "| {} | {} | {} |",
                md_cell(&g.gate),
                g.outcome,
                md_cell(g.reason.as_deref().unwrap_or(""))
            );
        }
    }
    if let Some(c) = comparison {
        out += "\n## Comparison per phase\n\n";
        out += &c.to_markdown();
    }

    out += &super::migrations::migrations_markdown(&r.migrations);

    out += "\n## Artifacts\n\n";
    let _ = writeln!(
        out,
        "- candidate {}: `{}`",
        r.version,
        r.artifact.as_deref().unwrap_or("unknown")
    );
    if let Some(prev) = &r.previous_version {
        let _ = writeln!(
            out,
            "- previous {prev}: `{}`",
            r.previous_artifact.as_deref().unwrap_or("unknown")
        );
    }

    let ch = &r.changes;
    if !ch.commits.is_empty() || ch.pr_number.is_some() || ch.release_notes.is_some() {
        out += "\n## Changes\n\n";
        if let Some(pr) = ch.pr_number {
            let _ = writeln!(out, "- PR #{pr}");
        }
        if !ch.commits.is_empty() {
            let _ = writeln!(out, "- commits: {}", ch.commits.join(", "));
        }
        if let Some(notes) = &ch.release_notes {
            let _ = writeln!(out, "\n{notes}");
        }
    }

    out += "\n## Rollback\n\n";
    match &r.rollback {
        Some(rb) => {
            let trigger = rb.trigger.words();
            let result = rb.result.words("DEPLOY.md");
            let _ = writeln!(
                out,
                "Rolled back {trigger} at {}: {}\n",
                rb.started_at, rb.reason
            );
            let _ = writeln!(out, "- result: {result}");
            if let Some(at) = &rb.finished_at {
                let _ = writeln!(out, "- finished at: {at}");
            }
            let _ = writeln!(
                out,
                "- restored version: {}",
                rb.restored_version
                    .as_deref()
                    .unwrap_or("none (first deploy: candidate removed)")
            );
            let _ = writeln!(
                out,
                "- verification of stable: {}",
                rb.verification.as_str()
            );
            if !rb.actions.is_empty() {
                out += "- actions, in order:\n";
                for (i, a) in rb.actions.iter().enumerate() {
                    let _ = writeln!(out, "  {}. {a}", i + 1);
                }
            }
        }
        None => match &r.previous_version {
            Some(prev) => {
                let _ = writeln!(
                    out,
                    "No rollback happened. To roll back: while the rollout runs, `RolloutHandle::abort()` restores {prev} \
                     (traffic first, then capacity, then the candidate is retired; see DEPLOY.md). After it has finished, \
                     start a new rollout of {prev} (artifact `{}`) with the same plan (with `shipctl run`, a rollout file whose candidate is {prev}).",
                    r.previous_artifact.as_deref().unwrap_or("unknown")
                );
            }
            None => {
                let _ = writeln!(
                    out,
                    "No rollback happened. This was a first deploy: rolling back means retiring {}.",
                    r.version
                );
            }
        },
    }
    out
}
