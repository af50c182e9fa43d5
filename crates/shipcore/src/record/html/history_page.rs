//! The history page: the four DORA keys per service and overall ([`Dora`]), and a row per
//! deployment with its outcome, linking to its report.

use super::super::deployment::{DeploymentRecord, DeploymentStatus};
use super::dora::{Dora, DoraFigures};
use super::page::{safe_href, status_words};
use super::{escape, text, CSS};
use crate::time::format_duration;
use std::fmt::Write;
use std::time::Duration;

/// Links and title of a history page. `Default`: no links, title "Deployment history".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HistoryOptions {
    /// The link to a deployment's report, `{id}` standing for its rollout id
    /// (`"{id}.html"`, `"/reports/{id}"`); `None`: rows have no link.
    pub report_href: Option<String>,
    /// The page's heading; `None`: "Deployment history".
    pub title: Option<String>,
}

fn dur(d: Option<Duration>) -> String {
    d.map(|d| format_duration(Duration::from_secs(d.as_secs())))
        .unwrap_or_default()
}

/// The cells of one DORA row: frequency, lead time, change failure rate, time to restore.
pub(crate) fn dora_cells(f: &DoraFigures) -> [String; 4] {
    let frequency = match (f.deployments_per_day, f.period_days) {
        (Some(per_day), Some(days)) => format!(
            "{:.2} / day ({} successful in {:.1} days)",
            per_day, f.successes, days
        ),
        _ => "no deployments".into(),
    };
    let lead = match f.lead_time {
        Some(d) => format!("{} (median of {})", dur(Some(d)), f.lead_time_samples),
        None => "unknown (no commit times)".into(),
    };
    let cfr = match f.change_failure_rate {
        Some(r) => format!("{:.0}% ({} of {})", r * 100.0, f.failures, f.deployments),
        None => "no deployments".into(),
    };
    let ttr = match (f.time_to_restore, f.unrestored, f.failures) {
        (_, _, 0) => "no failures".to_string(),
        (Some(d), 0, _) => format!("{} (median of {})", dur(Some(d)), f.restored),
        (Some(d), open, _) => format!(
            "{} (median of {}; {open} not restored)",
            dur(Some(d)),
            f.restored
        ),
        (None, open, _) => format!("not restored ({open} open)"),
    };
    [frequency, lead, cfr, ttr]
}

/// Renders the history page of `records` (e.g. [`RecordStore::all`](super::super::RecordStore::all),
/// newest first; rows keep the given order). Self-contained HTML, no JavaScript.
///
/// ```
/// use shipcore::engine::{Event, EventKind, Phase, StartInfo};
/// use shipcore::record::{DeploymentRecord, RecordMeta};
/// use shipcore::record::html::{render_history, HistoryOptions};
/// use shipcore::time::Timestamp;
/// let events = vec![
///     Event { at: Timestamp(0), kind: EventKind::Started(Box::new(StartInfo { id: "r1".into(),
///         service: "web".into(), environment: "production".into(), version: "2.0.0".into(),
///         previous_version: None, strategy: "recreate".into(), steps: 1 })) },
///     Event { at: Timestamp(60_000), kind: EventKind::Finished { phase: Phase::Succeeded,
///         reason: "all steps completed".into() } },
/// ];
/// let record = DeploymentRecord::from_events(&events, &RecordMeta::new("ci")).unwrap();
/// let options = HistoryOptions { report_href: Some("{id}.html".into()), ..Default::default() };
/// let html = render_history(&[record], &options);
/// assert!(html.contains("href=\"r1.html\""));
/// assert!(html.contains("unknown (no commit times)"));
/// ```
pub fn render_history(records: &[DeploymentRecord], options: &HistoryOptions) -> String {
    let title = options.title.as_deref().unwrap_or("Deployment history");
    let dora = Dora::from_records(records);
    let mut out = String::with_capacity(16 * 1024);
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{t}</title><style>{CSS}</style></head><body><header><h1>{t}</h1><p class=\"muted\">{} deployment record(s).</p></header><main>",
        records.len(),
        t = escape(title),
    );
    out.push_str("<section id=\"dora\"><h2>Deployment health (DORA)</h2><table id=\"dora-table\"><thead><tr><th>Service</th><th>Deployment frequency</th><th>Lead time for changes</th><th>Change failure rate</th><th>Time to restore</th></tr></thead><tbody>");
    let mut row = |name: &str, id: &str, f: &DoraFigures| {
        let cells = dora_cells(f);
        let _ = write!(out, "<tr id=\"{id}\"><th>{}</th>", escape(name));
        for c in cells {
            let _ = write!(out, "<td>{}</td>", escape(&c));
        }
        out.push_str("</tr>");
    };
    row("All services", "dora-overall", &dora.overall);
    for (service, f) in &dora.per_service {
        row(service, &format!("dora-{}", super::slug(service)), f);
    }
    out.push_str("</tbody></table><p class=\"muted\">Counted: deployments that ended and changed something (succeeded, rolled back, rollback failed, aborted); blocked, frozen and running ones are not. Frequency: successful deployments per day from the first to the last one (at least a day). Lead time: commit (<code>changes.committedAt</code>) to the end of a successful deployment, median. Change failure rate: rolled back, rollback failed or aborted ÷ counted. Time to restore: first failure to the end of the next success of the same service and environment, median.</p></section>");

    out.push_str("<section id=\"deployments\"><h2>Deployments</h2>");
    if records.is_empty() {
        out.push_str("<p class=\"muted\">No deployments recorded.</p>");
    } else {
        out.push_str("<table id=\"deployments-table\"><thead><tr><th>Deployed at</th><th>Service</th><th>Environment</th><th>Version</th><th>Previous</th><th>Outcome</th><th>Duration</th><th>Report</th></tr></thead><tbody>");
        for r in records {
            let (words, class) = status_words(r.status);
            let outcome_class = match (class, r.status) {
                (_, DeploymentStatus::Success) => "pass",
                ("bad", _) => "fail",
                _ => "muted",
            };
            let link = options
                .report_href
                .as_deref()
                .and_then(|t| safe_href(&t.replace("{id}", &r.id)))
                .map(|h| format!("<a href=\"{h}\">{}</a>", escape(&r.id)))
                .unwrap_or_else(|| escape(&r.id).into_owned());
            let _ = write!(
                out,
                "<tr data-status=\"{}\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"{outcome_class}\">{words}</td><td class=\"num\">{}</td><td>{link}</td></tr>",
                r.status.as_str(),
                escape(&r.deployed_at),
                escape(&r.service),
                escape(&r.environment),
                escape(&r.version),
                escape(r.previous_version.as_deref().unwrap_or("–")),
                escape(&r.duration),
            );
            if let Some(reason) = r
                .reason
                .as_deref()
                .filter(|_| r.status != DeploymentStatus::Success)
            {
                let _ = write!(
                    out,
                    "<tr class=\"why\"><td></td><td colspan=\"7\" class=\"muted\">{}</td></tr>",
                    text(reason)
                );
            }
        }
        out.push_str("</tbody></table>");
    }
    out.push_str("</section></main></body></html>\n");
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::super::dora::tests::{rec, sample};
    use super::*;

    #[test]
    fn the_page_has_the_dora_table_and_a_row_per_deployment_linking_to_its_report() {
        let records = sample();
        let options = HistoryOptions {
            report_href: Some("reports/{id}.html".into()),
            title: None,
        };
        let html = render_history(&records, &options);
        assert!(html.starts_with("<!DOCTYPE html>"));
        assert!(html.contains("<title>Deployment history</title>"));
        assert!(html.contains(r#"<tr id="dora-overall"><th>All services</th>"#));
        assert!(html.contains(r#"<tr id="dora-checkout"><th>checkout</th><td>0.75 / day (3 successful in 4.0 days)</td><td>2h15m (median of 2)</td><td>40% (2 of 5)</td><td>9h (median of 1)</td></tr>"#), "{html}");
        assert!(html.contains(r#"<tr id="dora-payments"><th>payments</th><td>0.00 / day (0 successful in 1.0 days)</td><td>unknown (no commit times)</td><td>100% (1 of 1)</td><td>not restored (1 open)</td></tr>"#));
        assert_eq!(html.matches("<tr data-status=").count(), records.len());
        assert!(html.contains(r#"<a href="reports/a.html">a</a>"#));
        assert!(html.contains(r#"<tr data-status="rolled_back">"#));
        assert!(!html.contains("<script"));
    }

    #[test]
    fn hostile_names_are_escaped_and_unsafe_links_dropped() {
        let mut r = rec(
            "x",
            "<script>alert(1)</script>",
            DeploymentStatus::RolledBack,
            "2026-01-01T00:00:00Z",
            "2026-01-01T00:10:00Z",
            None,
        );
        r.reason = Some("see https://u:hunter2@h.invalid/?token=s3cret".into());
        let options = HistoryOptions {
            report_href: Some("javascript:alert('{id}')".into()),
            title: Some("<b>t</b>".into()),
        };
        let html = render_history(&[r], &options);
        assert!(!html.contains("<script") && !html.contains("<b>t"));
        assert!(html.contains("&lt;script&gt;"));
        assert!(!html.contains("javascript:"));
        assert!(!html.contains("hunter2") && !html.contains("s3cret"));
    }

    #[test]
    fn an_empty_history_says_so() {
        let html = render_history(&[], &HistoryOptions::default());
        assert!(html.contains("No deployments recorded."));
        assert!(html.contains("no deployments"));
    }
}
