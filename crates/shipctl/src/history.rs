//! `shipctl history` (the deployment records as a table, JSON lines or an HTML page with the
//! DORA keys) and `shipctl report ID` (the ship report with the per-phase comparison and the
//! DEPLOY.md runbook, the record as JSON, or a self-contained HTML page with the timeline),
//! read from the state directory.

use crate::exit::CliError;
use crate::output::Format;
use crate::state::StateDir;
use shipcore::driver::Capabilities;
use shipcore::engine::{decode_entry, Effect, Event, Rollout};
use shipcore::journal::{FileJournal, Journal};
use shipcore::record::html::{render_history, render_report, HistoryOptions, ReportOptions};
use shipcore::record::{runbook, ship_report, Comparison, DeploymentRecord, RecordStore};
use std::fmt::Write;

/// The format of `report`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ReportFormat {
    /// Markdown: ship report, comparison table, DEPLOY.md runbook.
    Md,
    /// The deployment record as JSON.
    Json,
    /// One self-contained HTML page: the timeline (traffic, replicas, measurements against
    /// their thresholds, every step, gate, command, failure and rollback), the steps, the
    /// comparison and the record.
    Html,
}

fn records(state: &StateDir) -> Result<RecordStore, CliError> {
    RecordStore::open(state.records_dir()).map_err(|e| {
        CliError::Usage(format!(
            "no records in {}: {e}",
            state.records_dir().display()
        ))
    })
}

/// The records of `service` (or all), newest first, as a table or JSON lines; with `html`,
/// one page with the four DORA keys per service and a row per deployment linking to its
/// report (`ID.html`, as `shipctl report ID --format html > ID.html` writes it).
pub fn history(
    state: &StateDir,
    service: Option<&str>,
    format: Format,
    html: bool,
) -> Result<String, CliError> {
    if !state.records_dir().exists() {
        return Ok(format!(
            "no deployments recorded in {}\n",
            state.dir().display()
        ));
    }
    let list = records(state)?
        .list(service, None)
        .map_err(|e| CliError::Usage(format!("cannot read the records: {e}")))?;
    if html {
        let options = HistoryOptions {
            report_href: Some("{id}.html".into()),
            title: service.map(|s| format!("Deployment history of {s}")),
        };
        return Ok(render_history(&list, &options));
    }
    let mut out = String::new();
    if format == Format::Json {
        for r in &list {
            let _ = writeln!(out, "{}", serde_json::to_string(r).unwrap_or_default());
        }
        return Ok(out);
    }
    if list.is_empty() {
        return Ok("no deployments recorded\n".into());
    }
    let _ = writeln!(
        out,
        "{:<28} {:<16} {:<12} {:<10} {:<10} {:<13} {:<22} {:>9}",
        "ID", "SERVICE", "ENVIRONMENT", "VERSION", "PREVIOUS", "STATUS", "DEPLOYED AT", "DURATION"
    );
    for r in &list {
        let _ = writeln!(
            out,
            "{:<28} {:<16} {:<12} {:<10} {:<10} {:<13} {:<22} {:>9}",
            r.id,
            r.service,
            r.environment,
            r.version,
            r.previous_version.as_deref().unwrap_or("-"),
            r.status.as_str(),
            r.deployed_at,
            r.duration
        );
    }
    Ok(out)
}

/// The event log and the first entry's capabilities, replayed from the journal of `id`.
async fn replay(state: &StateDir, id: &str) -> Result<(Vec<Event>, Rollout, Capabilities), String> {
    let journal = FileJournal::open(state.journal_path(id)).map_err(|e| e.to_string())?;
    let entries = journal.read_all().await.map_err(|e| e.to_string())?;
    let caps: Capabilities = entries
        .first()
        .and_then(|e| e.payload.get("capabilities").cloned())
        .and_then(|v| serde_json::from_value(v).ok())
        .ok_or("the journal's first entry has no capabilities")?;
    let mut machine = None;
    let mut events = Vec::new();
    for entry in &entries {
        let stamped = decode_entry(entry).map_err(|e| e.to_string())?;
        for effect in Rollout::replay_into(&mut machine, &stamped).map_err(|e| e.to_string())? {
            if let Effect::Record(ev) = effect {
                events.push(ev);
            }
        }
    }
    let machine = machine.ok_or("the journal is empty")?;
    Ok((events, machine, caps))
}

/// The report of rollout `id`.
pub async fn report(state: &StateDir, id: &str, format: ReportFormat) -> Result<String, CliError> {
    let record: DeploymentRecord = records(state)?.load(id).map_err(|e| {
        CliError::Usage(format!(
            "no record of rollout {id} in {} ({e}); a running or interrupted rollout has none \
             yet: `shipctl status {id}`",
            state.records_dir().display()
        ))
    })?;
    match format {
        ReportFormat::Json => record
            .to_json()
            .map(|s| s + "\n")
            .map_err(|e| CliError::Run(e.to_string())),
        ReportFormat::Html => {
            // Without a journal to replay, the page still shows the record (no timeline).
            let events = replay(state, id)
                .await
                .map(|(e, _, _)| e)
                .unwrap_or_default();
            let options = ReportOptions {
                runbook_href: None,
                history_href: Some("history.html".into()),
            };
            Ok(render_report(&record, &events, &options))
        }
        ReportFormat::Md => {
            let replayed = replay(state, id).await;
            let mut out = match &replayed {
                Ok((events, _, _)) => ship_report(&record, Some(&Comparison::from_events(events))),
                Err(_) => ship_report(&record, None),
            };
            match &replayed {
                Ok((_, machine, caps)) => {
                    out += "\n";
                    out += &runbook(machine.spec(), caps);
                }
                Err(e) => {
                    let _ = writeln!(
                        out,
                        "\n(no runbook: the journal could not be replayed: {e})"
                    );
                }
            }
            Ok(out)
        }
    }
}
