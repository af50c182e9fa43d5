//! `shipctl run FILE` and `shipctl resume ID`: the rollout in the foreground on the
//! library's engine, journaled to the state directory, controllable through the socket,
//! with its deployment record written at the end.

use crate::control;
use crate::exit::{CliError, Exit};
use crate::file::Loaded;
use crate::output::Printer;
use crate::setup::{self, Mode, Platform};
use crate::state::StateDir;
use shipcore::engine::{Command, Effect, Phase, Rollout, RunError, RunReport};
use shipcore::journal::{FileJournal, Journal};
use shipcore::record::{DeploymentRecord, RecordMeta, RecordStore};
use shipcore::time::Timestamp;
use std::sync::Arc;

fn run_error(e: RunError) -> CliError {
    match e {
        RunError::Plan(_)
        | RunError::UnknownValidator { .. }
        | RunError::UnknownGate { .. }
        | RunError::Preflight(_)
        | RunError::AlreadyStarted(_)
        | RunError::NothingToResume => CliError::Usage(format!("refused, nothing changed: {e}")),
        other => CliError::Run(format!(
            "the run stopped: {other}; the journal keeps where it was (`shipctl resume`)"
        )),
    }
}

/// Runs the rollout in `loaded`; returns its exit code.
pub async fn run(
    loaded: &Loaded,
    state: &StateDir,
    printer: Arc<Printer>,
) -> Result<Exit, CliError> {
    // Everything is checked on a read-only copy of the platform first: bad input changes
    // nothing, not even the simulator's state file.
    {
        let dry = setup::platform(loaded, state, Mode::DryRun).await?;
        setup::prepare(loaded, state, &dry).await?;
    }
    let id = setup::rollout_id(&loaded.file);
    let journal_path = state.journal_path(&id);
    if std::fs::metadata(&journal_path).is_ok_and(|m| m.len() > 0) {
        return Err(CliError::Usage(format!(
            "rollout {id} already has a journal ({}): `shipctl resume {id}` continues it, \
             `shipctl status {id}` shows it; give the file another `id` to start anew",
            journal_path.display()
        )));
    }
    control::check_path(&state.socket_path(&id))?;
    let platform = setup::platform(loaded, state, Mode::Live).await?;
    let prepared = setup::prepare(loaded, state, &platform).await?;
    state.create_rollout_dir(&id)?;
    let copy = state.file_copy(&id);
    let base = state.base_path(&id);
    for (path, bytes) in [
        (&copy, loaded.text.as_bytes()),
        (&base, loaded.base.as_os_str().as_encoded_bytes()),
    ] {
        std::fs::write(path, bytes).map_err(|e| {
            CliError::State(crate::state::StateError {
                path: path.display().to_string(),
                message: e.to_string(),
            })
        })?;
    }
    let mut known = vec![&prepared.spec.candidate];
    known.extend(prepared.spec.stable.as_ref());
    state.remember(&known)?;
    let journal = open_journal(state, &id)?;
    printer.set_plan(&prepared.spec.plan.steps);
    let p = printer.clone();
    let engine = prepared
        .parts
        .builder(&platform)
        .on_event(move |e| p.event(e))
        .build();
    let mut runner = engine.runner(journal);
    let server = control::serve(&state.socket_path(&id), runner.handle()).await?;
    printer.note(&format!(
        "control: shipctl promote|abort|pause|resume|retry|status {id} (state {})",
        state.dir().display()
    ));
    // A frozen rollout waits for a person; `run` (a CI job) stops there with exit code 3,
    // and the person continues it with `shipctl resume ID` and `retry` or `abort`.
    let mut watch = runner.handle();
    let report = tokio::select! {
        r = runner.start(prepared.spec) => r,
        _ = tokio::signal::ctrl_c() => return Ok(interrupted(&id, &printer)),
        s = watch.wait_for(|s| s.phase == Phase::Frozen) => {
            drop(server);
            printer.note(&format!(
                "frozen: a person must act: `shipctl resume {id}`, then from another shell \
                 `shipctl retry {id}` (re-run the failed step) or `shipctl abort {id}` (roll back)"
            ));
            let exit = Exit::of_phase(s.phase);
            printer.finished(&id, s.phase, s.reason.as_deref(), exit.code());
            return Ok(exit);
        }
    };
    drop(server);
    finish(&id, state, &platform, report, &printer).await
}

/// Ctrl-C: the run stops where it is; the journal holds everything to continue it.
fn interrupted(id: &str, printer: &Printer) -> Exit {
    printer.note(&format!(
        "interrupted: the rollout stopped where it was; `shipctl resume {id}` continues it"
    ));
    Exit::NeedsPerson
}

/// What the journal says happened before this process: the rollout's spec and the events
/// of the inputs it holds, replayed through the library's machine (as the runner's
/// `resume` replays them, without side effects), for the live view of a resumed run.
async fn journaled(
    journal: &dyn Journal,
) -> (
    Option<shipcore::engine::RolloutSpec>,
    Vec<shipcore::engine::Event>,
) {
    let Ok(entries) = journal.read_all().await else {
        return (None, Vec::new());
    };
    let spec = entries
        .first()
        .and_then(|e| e.payload.get("spec"))
        .and_then(|s| serde_json::from_value(s.clone()).ok());
    let mut machine = None;
    let mut events = Vec::new();
    for entry in &entries {
        let Ok(stamped) = shipcore::engine::decode_entry(entry) else {
            break;
        };
        let Ok(effects) = Rollout::replay_into(&mut machine, &stamped) else {
            break;
        };
        events.extend(effects.into_iter().filter_map(|e| match e {
            Effect::Record(ev) => Some(ev),
            _ => None,
        }));
    }
    (spec, events)
}

fn open_journal(state: &StateDir, id: &str) -> Result<Arc<dyn Journal>, CliError> {
    let path = state.journal_path(id);
    let j = FileJournal::open(&path)
        .map_err(|e| CliError::Run(format!("journal {}: {e}", path.display())))?;
    Ok(Arc::new(j))
}

/// Continues rollout `id` from its journal, with the validators, gates and driver of the
/// file it was started from; `then` is delivered to the engine as soon as it has replayed
/// the journal (a `retry` or `abort` of a rollout no run is listening for).
pub async fn resume(
    id: &str,
    state: &StateDir,
    printer: Arc<Printer>,
    then: Option<Command>,
) -> Result<Exit, CliError> {
    let journal_path = state.journal_path(id);
    if !journal_path.exists() {
        return Err(CliError::Usage(format!(
            "no rollout {id} in {}: no journal at {}",
            state.dir().display(),
            journal_path.display()
        )));
    }
    let copy = state.file_copy(id);
    let mut loaded = Loaded::read(&copy)?;
    // Relative paths stay relative to where the original file was.
    if let Ok(base) = std::fs::read_to_string(state.base_path(id)) {
        loaded.base = base.into();
    }
    let platform = setup::platform(&loaded, state, Mode::Live).await?;
    let parts = setup::parts(&loaded, &platform).await?;
    let journal = open_journal(state, id)?;
    let (spec, replayed) = journaled(journal.as_ref()).await;
    if let Some(spec) = spec {
        printer.set_plan(&spec.plan.steps);
    }
    printer.replayed(replayed);
    let p = printer.clone();
    let engine = parts
        .builder(&platform)
        .on_event(move |e| p.event(e))
        .build();
    let mut runner = engine.runner(journal);
    if let Some(cmd) = then {
        runner = runner.command_at(Timestamp::ZERO, cmd);
    }
    let server = control::serve(&state.socket_path(id), runner.handle()).await?;
    let report = tokio::select! {
        r = runner.resume() => r,
        _ = tokio::signal::ctrl_c() => return Ok(interrupted(id, &printer)),
    };
    drop(server);
    finish(id, state, &platform, report, &printer).await
}

/// Prints the end, writes the record, and gives the exit code.
async fn finish(
    id: &str,
    state: &StateDir,
    platform: &Platform,
    report: Result<RunReport, RunError>,
    printer: &Printer,
) -> Result<Exit, CliError> {
    printer.end_live();
    let report = report.map_err(run_error)?;
    if let Some(sim) = &platform.sim {
        let _ = sim.driver.persist();
    }
    let user = std::env::var("USER").unwrap_or_else(|_| "shipctl".into());
    let record = DeploymentRecord::from_report(&report, &RecordMeta::new(user));
    match record {
        Ok(record) => {
            let saved = RecordStore::open(state.records_dir()).and_then(|s| s.save(&record));
            match saved {
                Ok(path) => printer.note(&format!("record: {}", path.display())),
                Err(e) => printer.note(&format!("warning: the record was not written: {e}")),
            }
        }
        Err(e) => printer.note(&format!("no record: {e}")),
    }
    // The platform as the driver reports it now (the engine's last observation may be
    // from before the last action).
    let fleet = match &report.spec {
        Some(spec) => platform.driver.observe(&spec.target).await.ok(),
        None => None,
    };
    if let Some(fleet) = fleet.as_ref().or(report.fleet.as_ref()) {
        printer.note("fleet now:");
        printer.note(crate::plan::fleet_lines(fleet).trim_end());
    }
    let exit = Exit::of_phase(report.status.phase);
    printer.finished(
        id,
        report.status.phase,
        report.status.reason.as_deref(),
        exit.code(),
    );
    Ok(exit)
}
