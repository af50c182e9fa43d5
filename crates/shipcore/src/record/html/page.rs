//! The report page of one rollout: header (outcome, versions, duration, strategy, target),
//! the timeline chart, the steps with their times, the baseline-vs-phase comparison, the
//! health results, the rollback, the deployment record and the runbook link.

use super::super::comparison::Comparison;
use super::super::deployment::{DeploymentRecord, DeploymentStatus};
use super::super::fmt_num;
use super::super::time_fmt::format_iso8601;
use super::svg::{revision_index, timeline_svg, PALETTE};
use super::timeline::Timeline;
use super::{escape, scrub_urls, text, CSS};
use crate::engine::{AnalysisResult, Event, EventKind};
use std::fmt::Write;

/// Links and extras of a report page. `Default` gives none.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReportOptions {
    /// Where the rollout's `DEPLOY.md` runbook is (a relative path or an `http(s)` URL);
    /// `None`: the page says how to get one (`shipctl report ID`).
    pub runbook_href: Option<String>,
    /// Where the history page is, for a link back; `None`: no link.
    pub history_href: Option<String>,
}

/// How a status reads in the header, and its CSS class.
pub(crate) fn status_words(s: DeploymentStatus) -> (&'static str, &'static str) {
    match s {
        DeploymentStatus::Success => ("SUCCEEDED", "good"),
        DeploymentStatus::RolledBack => ("ROLLED BACK", "bad"),
        DeploymentStatus::RollbackFailed => ("ROLLBACK FAILED: a person must act", "bad"),
        DeploymentStatus::Aborted => ("ABORTED (stable restored)", "bad"),
        DeploymentStatus::Blocked => ("BLOCKED (nothing changed)", "bad"),
        DeploymentStatus::Frozen => ("FROZEN: waiting for a person", "neutral"),
        DeploymentStatus::InProgress => ("IN PROGRESS", "neutral"),
    }
}

/// An href for a page: relative paths and `http`, `https`, `file` URLs (redacted); anything
/// else (`javascript:`, `data:`) gives `None`.
pub(crate) fn safe_href(href: &str) -> Option<String> {
    let scheme_end = href.find(':');
    let first_slash = href.find(['/', '?', '#']);
    if let Some(c) = scheme_end {
        if first_slash.map_or(true, |s| c < s) {
            let scheme = href[..c].to_ascii_lowercase();
            if !matches!(scheme.as_str(), "http" | "https" | "file") {
                return None;
            }
        }
    }
    Some(escape(&crate::redact::url(href)).into_owned())
}

fn fact(out: &mut String, k: &str, v: &str) {
    let _ = write!(out, "<dt>{}</dt><dd>{}</dd>", escape(k), text(v));
}

fn steps_table(out: &mut String, events: &[Event]) {
    struct Row {
        step: usize,
        description: String,
        started: crate::time::Timestamp,
        completed: Option<crate::time::Timestamp>,
    }
    let mut rows: Vec<Row> = Vec::new();
    for e in events {
        match &e.kind {
            EventKind::StepStarted { step, description } => rows.push(Row {
                step: *step,
                description: description.clone(),
                started: e.at,
                completed: None,
            }),
            EventKind::StepCompleted { step } => {
                if let Some(r) = rows
                    .iter_mut()
                    .rev()
                    .find(|r| r.step == *step && r.completed.is_none())
                {
                    r.completed = Some(e.at);
                }
            }
            _ => {}
        }
    }
    if rows.is_empty() {
        out.push_str("<p class=\"muted\">No step started.</p>");
        return;
    }
    out.push_str("<table id=\"steps-table\"><thead><tr><th>Step</th><th>What</th><th>Started</th><th>Completed</th><th>Took</th></tr></thead><tbody>");
    for r in &rows {
        let (done, took) = match r.completed {
            Some(c) => (
                format_iso8601(c),
                crate::time::format_duration(c.since(r.started)),
            ),
            None => ("not completed".into(), "–".into()),
        };
        let _ = write!(
            out,
            "<tr><td class=\"num\">{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"num\">{}</td></tr>",
            r.step + 1,
            text(&r.description),
            format_iso8601(r.started),
            done,
            took
        );
    }
    out.push_str("</tbody></table>");
}

fn comparison_table(out: &mut String, c: &Comparison) {
    if c.is_empty() {
        out.push_str("<p class=\"muted\">No analysis step ran.</p>");
        return;
    }
    let num = |v: Option<f64>| v.map(fmt_num).unwrap_or_else(|| "–".into());
    out.push_str("<table id=\"comparison-table\"><thead><tr><th>Metric</th><th>Baseline (stable)</th><th>Threshold</th>");
    for p in &c.phases {
        let _ = write!(out, "<th>{}</th>", escape(&p.label));
    }
    out.push_str("<th>Result</th></tr></thead><tbody>");
    let word = |o: super::super::summary::CheckStatus| -> (&'static str, &'static str) {
        use super::super::summary::CheckStatus as S;
        match o {
            S::Failed => ("FAIL", "fail"),
            S::Passed => ("pass", "pass"),
            S::Inconclusive => ("inconclusive", "muted"),
            S::Error => ("error", "fail"),
            S::NotRun => ("–", "muted"),
        }
    };
    for row in &c.rows {
        let name = if row.unit.is_empty() {
            row.metric.clone()
        } else {
            format!("{} ({})", row.metric, row.unit)
        };
        let _ = write!(
            out,
            "<tr><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>",
            escape(&name),
            num(row.baseline),
            num(row.threshold)
        );
        for cell in &row.cells {
            match cell {
                Some(cell) => {
                    let (w, class) = word(cell.outcome);
                    let _ = write!(
                        out,
                        "<td class=\"num\">{} <span class=\"{class}\">{w}</span></td>",
                        num(cell.value)
                    );
                }
                None => out.push_str("<td class=\"num\">–</td>"),
            }
        }
        let (w, class) = word(row.result);
        let _ = write!(out, "<td class=\"{class}\">{w}</td></tr>");
    }
    out.push_str("<tr><th>Analysis</th><td></td><td></td>");
    for p in &c.phases {
        let (w, class) = match p.result {
            Some(AnalysisResult::Passed) => ("passed", "pass"),
            Some(AnalysisResult::Failed) => ("FAILED", "fail"),
            Some(AnalysisResult::Inconclusive) => ("inconclusive", "muted"),
            None => ("not finished", "muted"),
        };
        let _ = write!(out, "<td class=\"{class}\">{w}</td>");
    }
    out.push_str("<td></td></tr></tbody></table>");
}

fn legend(out: &mut String, tl: &Timeline) {
    out.push_str("<p class=\"legend\">");
    for w in &tl.weights {
        let _ = write!(
            out,
            "<span><i class=\"swatch\" style=\"background:{}\"></i>{}</span>",
            PALETTE[revision_index(tl, &w.revision) % PALETTE.len()],
            escape(&w.revision)
        );
    }
    out.push_str(
        "<span><i class=\"swatch\" style=\"background:#D55E00\"></i>critical level (band beyond it)</span>\
         <span><i class=\"swatch\" style=\"background:#E69F00\"></i>warning level (dashed)</span>\
         <span>× on a lane's floor: no data (never drawn as zero)</span>\
         <span>▼ step · ● gate passed · ■ gate blocked/waiting · ◆ command · ✕ failure · ◀ rollback · □ end</span></p>",
    );
}

/// Renders the report page of one rollout: `record` (its deployment record) and `events`
/// (its event log, e.g. `RunReport::events` or a replayed journal; empty when unknown: the
/// page then has no chart and says so). Self-contained HTML: inline CSS and SVG, no
/// JavaScript, nothing fetched; every text escaped, URLs redacted.
///
/// ```
/// use shipcore::engine::{Event, EventKind, Phase, StartInfo};
/// use shipcore::record::{DeploymentRecord, RecordMeta};
/// use shipcore::record::html::{render_report, ReportOptions};
/// use shipcore::time::Timestamp;
/// let events = vec![
///     Event { at: Timestamp(0), kind: EventKind::Started(Box::new(StartInfo { id: "r1".into(),
///         service: "web".into(), environment: "production".into(), version: "2.0.0".into(),
///         previous_version: Some("1.0.0".into()), strategy: "canary".into(), steps: 1 })) },
///     Event { at: Timestamp(60_000), kind: EventKind::Finished { phase: Phase::Succeeded,
///         reason: "all steps completed".into() } },
/// ];
/// let record = DeploymentRecord::from_events(&events, &RecordMeta::new("ci")).unwrap();
/// let options = ReportOptions { runbook_href: Some("DEPLOY.md".into()), ..Default::default() };
/// let html = render_report(&record, &events, &options);
/// assert!(html.starts_with("<!DOCTYPE html>"));
/// assert!(html.contains("<svg class=\"timeline\""));
/// assert!(html.contains("href=\"DEPLOY.md\""));
/// assert!(!html.contains("<script"));
/// ```
pub fn render_report(
    record: &DeploymentRecord,
    events: &[Event],
    options: &ReportOptions,
) -> String {
    let r = record;
    let (status, class) = status_words(r.status);
    let title = format!("{} {} to {}", r.service, r.version, r.environment);
    let mut out = String::with_capacity(32 * 1024);
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>Rollout report: {}</title><style>{CSS}</style></head><body>",
        escape(&title)
    );
    let _ = write!(
        out,
        "<header><h1>Rollout report: {}</h1><p id=\"outcome\" class=\"outcome {class}\" data-status=\"{}\">{status}</p><dl class=\"facts\">",
        escape(&title),
        r.status.as_str()
    );
    fact(
        &mut out,
        "Versions",
        &format!(
            "{} → {}",
            r.previous_version
                .as_deref()
                .unwrap_or("none (first deploy)"),
            r.version
        ),
    );
    fact(&mut out, "Duration", &r.duration);
    fact(&mut out, "Strategy", &r.strategy);
    fact(
        &mut out,
        "Target",
        &format!("{} in {}", r.service, r.environment),
    );
    fact(&mut out, "Started", &r.deployed_at);
    fact(
        &mut out,
        "Finished",
        r.finished_at.as_deref().unwrap_or("not yet"),
    );
    fact(&mut out, "Rollout id", &r.id);
    if r.attempts > 1 {
        fact(&mut out, "Attempts", &r.attempts.to_string());
    }
    if let Some(reason) = &r.reason {
        fact(&mut out, "Why", reason);
    }
    out.push_str("</dl>");
    if let Some(h) = options.history_href.as_deref().and_then(safe_href) {
        let _ = write!(out, "<p><a href=\"{h}\">← deployment history</a></p>");
    }
    out.push_str("</header><main>");

    out.push_str("<section id=\"timeline\"><h2>Timeline</h2>");
    let tl = Timeline::from_events(events);
    if tl.is_empty() {
        out.push_str("<p class=\"muted\">No event log: nothing to plot.</p>");
    } else {
        out.push_str("<figure>");
        out.push_str(&timeline_svg(&tl));
        let _ = write!(
            out,
            "<figcaption>Time since the start ({}). Hover a marker or a point for its reason.</figcaption>",
            format_iso8601(tl.start)
        );
        legend(&mut out, &tl);
        out.push_str("</figure>");
    }
    out.push_str("</section>");

    out.push_str("<section id=\"steps\"><h2>Steps</h2>");
    steps_table(&mut out, events);
    out.push_str("</section>");

    out.push_str("<section id=\"comparison\"><h2>Baseline vs phase</h2>");
    comparison_table(&mut out, &Comparison::from_events(events));
    out.push_str("</section>");

    out.push_str("<section id=\"health\"><h2>Health results</h2>");
    let v = &r.validation;
    let _ = write!(
        out,
        "<p>Health check: <b>{}</b> · Smoke tests: <b>{}</b></p>",
        v.health_check.as_str(),
        v.smoke_tests.as_str()
    );
    if !v.validators.is_empty() {
        out.push_str("<table id=\"validators-table\"><thead><tr><th>Validator</th><th>Last outcome</th><th>Pass</th><th>Fail</th><th>Inconclusive</th><th>Errors</th><th>Last message</th></tr></thead><tbody>");
        for s in &v.validators {
            let _ = write!(
                out,
                "<tr><td>{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td>{}</td></tr>",
                escape(&s.name),
                s.last_outcome.as_str(),
                s.passed,
                s.failed,
                s.inconclusive,
                s.errors,
                text(&s.last_message)
            );
        }
        out.push_str("</tbody></table>");
    }
    if !r.gates.is_empty() {
        out.push_str("<table id=\"gates-table\"><thead><tr><th>Gate</th><th>Outcome</th><th>Reason</th></tr></thead><tbody>");
        for g in &r.gates {
            let _ = write!(
                out,
                "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape(&g.gate),
                escape(&g.outcome),
                text(g.reason.as_deref().unwrap_or(""))
            );
        }
        out.push_str("</tbody></table>");
    }
    out.push_str("</section>");

    if !r.migrations.is_empty() {
        out.push_str("<section id=\"migrations\"><h2>Migrations</h2>");
        out.push_str("<table id=\"migrations-table\"><thead><tr><th>Migration</th><th>Migrator</th><th>Phase</th><th>Took</th><th>Outcome</th></tr></thead><tbody>");
        for m in &r.migrations {
            let outcome = match &m.error {
                Some(e) => format!("failed: {}", text(e)),
                None => escape(&m.outcome).into_owned(),
            };
            let _ = write!(
                out,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td class=\"num\">{}</td><td>{outcome}</td></tr>",
                escape(&m.id),
                escape(&m.migrator),
                m.phase,
                escape(&m.duration),
            );
        }
        out.push_str("</tbody></table>");
        if r.migrations.iter().any(|m| m.applied()) {
            out.push_str("<p>Applied migrations are not undone by a rollback: the schema stays as they left it.</p>");
        }
        out.push_str("</section>");
    }

    out.push_str("<section id=\"rollback\"><h2>Rollback</h2>");
    match &r.rollback {
        Some(rb) => {
            let trigger = rb.trigger.words();
            let result = rb.result.words("the runbook");
            let _ = write!(
                out,
                "<p>Rolled back {trigger} at {}: {}</p><ul><li>result: {result}</li><li>restored version: {}</li><li>verification of stable: {}</li>",
                escape(&rb.started_at),
                text(&rb.reason),
                escape(rb.restored_version.as_deref().unwrap_or("none (first deploy: candidate removed)")),
                rb.verification.as_str()
            );
            if !rb.actions.is_empty() {
                out.push_str("<li>actions, in order:<ol>");
                for a in &rb.actions {
                    let _ = write!(out, "<li>{}</li>", text(a));
                }
                out.push_str("</ol></li>");
            }
            out.push_str("</ul>");
        }
        None => out.push_str("<p>No rollback happened.</p>"),
    }
    out.push_str("</section>");

    out.push_str("<section id=\"runbook\"><h2>Runbook</h2>");
    match options.runbook_href.as_deref().and_then(safe_href) {
        Some(h) => {
            let _ = write!(out, "<p><a id=\"runbook-link\" href=\"{h}\">DEPLOY.md: how this rollout runs and how to roll it back by hand</a></p>");
        }
        None => {
            let _ = write!(
                out,
                "<p>The DEPLOY.md runbook of this rollout: <code>shipctl report {}</code>.</p>",
                escape(&r.id)
            );
        }
    }
    out.push_str("</section>");

    out.push_str("<section id=\"record\"><h2>Deployment record</h2>");
    let _ = write!(
        out,
        "<dl class=\"facts\"><dt>Deployed by</dt><dd>{}</dd><dt>Artifact</dt><dd>{}</dd><dt>Previous artifact</dt><dd>{}</dd></dl>",
        text(if r.deployed_by.is_empty() { "unknown" } else { &r.deployed_by }),
        text(r.artifact.as_deref().unwrap_or("unknown")),
        text(r.previous_artifact.as_deref().unwrap_or("unknown"))
    );
    match r.to_json() {
        Ok(json) => {
            let _ = write!(
                out,
                "<details><summary>The record as JSON</summary><pre id=\"record-json\">{}</pre></details>",
                escape(&scrub_urls(&json))
            );
        }
        Err(e) => {
            let _ = write!(
                out,
                "<p class=\"fail\">The record could not be shown as JSON: {}</p>",
                text(&e.to_string())
            );
        }
    }
    out.push_str("</section></main></body></html>\n");
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::super::timeline::tests::{err_rate, ev, measured, started};
    use super::*;
    use crate::engine::Phase;
    use crate::record::RecordMeta;
    use crate::validator::Outcome;

    const HOSTILE: &str = "<script>alert(1)</script>";
    const SECRET_URL: &str = "https://ci:hunter2@gate.invalid/check?token=abc123#frag";

    fn hostile_events() -> Vec<Event> {
        let reason = format!("gate {HOSTILE} said no, see {SECRET_URL}");
        vec![
            started(0, HOSTILE),
            ev(
                0,
                EventKind::StepStarted {
                    step: 0,
                    description: format!("step {HOSTILE}"),
                },
            ),
            measured(60_000, 1, vec![err_rate(Outcome::Fail, 0.12, false)]),
            ev(
                60_000,
                EventKind::Failed {
                    reason: reason.clone(),
                },
            ),
            ev(
                60_000,
                EventKind::RollbackStarted {
                    reason: reason.clone(),
                },
            ),
            ev(
                61_000,
                EventKind::Finished {
                    phase: Phase::RolledBack,
                    reason,
                },
            ),
        ]
    }

    #[test]
    fn hostile_text_is_escaped_and_secrets_do_not_appear() {
        let events = hostile_events();
        let record =
            DeploymentRecord::from_events(&events, &RecordMeta::new(format!("ci {SECRET_URL}")))
                .unwrap();
        let options = ReportOptions {
            runbook_href: Some(SECRET_URL.into()),
            history_href: Some("javascript:alert(1)".into()),
        };
        let html = render_report(&record, &events, &options);
        assert!(!html.contains("<script"), "no script element may come out");
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        for secret in ["hunter2", "abc123", "token=", "frag"] {
            assert!(!html.contains(secret), "{secret} leaked");
        }
        assert!(
            html.contains("https://gate.invalid/check"),
            "the URL stays, redacted"
        );
        assert!(
            !html.contains("javascript:"),
            "a javascript: link is dropped"
        );
        assert!(html.contains(r#"<a id="runbook-link" href="https://gate.invalid/check">"#));
    }

    #[test]
    fn the_page_holds_header_timeline_steps_comparison_record_and_runbook() {
        let events = hostile_events();
        let record = DeploymentRecord::from_events(&events, &RecordMeta::new("ci")).unwrap();
        let html = render_report(&record, &events, &ReportOptions::default());
        assert!(html.starts_with("<!DOCTYPE html>"));
        assert!(html.contains(
            r#"<p id="outcome" class="outcome bad" data-status="rolled_back">ROLLED BACK</p>"#
        ));
        assert!(html.contains("<dt>Versions</dt><dd>1.0.0 → 2.0.0</dd>"));
        assert!(html.contains("<dt>Duration</dt><dd>1m1s</dd>"));
        assert!(html.contains("<dt>Strategy</dt><dd>canary</dd>"));
        for id in [
            "timeline",
            "steps",
            "comparison",
            "health",
            "rollback",
            "runbook",
            "record",
        ] {
            assert!(
                html.contains(&format!(r#"<section id="{id}">"#)),
                "section {id}"
            );
        }
        assert!(html.contains(r#"<svg class="timeline""#));
        assert!(html.contains(r#"id="steps-table""#) && html.contains("not completed"));
        assert!(html.contains(r#"id="comparison-table""#));
        assert!(
            html.contains("<code>shipctl report r1</code>"),
            "how to get the runbook"
        );
        assert!(html.contains(r#"<pre id="record-json">"#));
        assert!(html.contains("@media print"));
        // Self-contained: nothing fetched, no script.
        for fetch in ["<script", "<link", "src=", "@import", "url("] {
            assert!(!html.contains(fetch), "{fetch}");
        }
    }

    #[test]
    fn without_an_event_log_the_page_says_there_is_nothing_to_plot() {
        let events = hostile_events();
        let record = DeploymentRecord::from_events(&events, &RecordMeta::new("ci")).unwrap();
        let html = render_report(&record, &[], &ReportOptions::default());
        assert!(html.contains("No event log: nothing to plot."));
        assert!(!html.contains("<svg"));
    }

    proptest::proptest! {
        /// Any text and any number: no panic, nothing from the input becomes markup.
        #[test]
        fn any_input_renders_without_markup_from_it(
            service in ".{0,40}",
            reason in ".{0,80}",
            validator in ".{0,20}",
            metric in ".{0,20}",
            values in proptest::collection::vec(proptest::num::f64::ANY, 0..6),
        ) {
            use crate::validator::{MeasureResult, Measurement, Verdict};
            let mut events = vec![started(0, &format!("<x>{service}"))];
            for (i, v) in values.iter().enumerate() {
                let verdict = Verdict::new(format!("<v>{validator}"), Outcome::Fail, reason.clone())
                    .with(Measurement::new(format!("<m>{metric}"), *v, Some(*v / 2.0), "<u>"));
                events.push(measured(1_000 * (i as u64 + 1), i as u32 + 1, vec![MeasureResult::Verdict(verdict)]));
            }
            events.push(ev(9_000, EventKind::RollbackStarted { reason: format!("<r>{reason}") }));
            events.push(ev(9_000, EventKind::Finished { phase: Phase::RolledBack, reason: reason.clone() }));
            let record = DeploymentRecord::from_events(&events, &RecordMeta::new(reason.clone())).unwrap();
            let html = render_report(&record, &events, &ReportOptions::default());
            for tag in ["<x>", "<v>", "<m>", "<u>", "<r>", "<script"] {
                proptest::prop_assert!(!html.contains(tag), "{} came out as markup", tag);
            }
            proptest::prop_assert_eq!(html.matches("<g").count(), html.matches("</g>").count());
        }
    }

    #[test]
    fn only_relative_and_web_links_are_kept() {
        assert_eq!(safe_href("DEPLOY.md").as_deref(), Some("DEPLOY.md"));
        assert_eq!(
            safe_href("reports/a b.html").as_deref(),
            Some("reports/a b.html")
        );
        assert_eq!(
            safe_href("https://x.invalid/r?t=1").as_deref(),
            Some("https://x.invalid/r")
        );
        assert_eq!(safe_href("JavaScript:alert(1)"), None);
        assert_eq!(safe_href("data:text/html,x"), None);
        assert_eq!(safe_href("\"><b>").as_deref(), Some("&quot;&gt;&lt;b&gt;"));
    }
}
