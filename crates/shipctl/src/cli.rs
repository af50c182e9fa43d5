//! The command line (clap): parses the arguments, runs one command, and maps its outcome to
//! an exit code.

use crate::control::{self, Request};
use crate::exit::{CliError, Exit, EXIT_CODES_HELP};
use crate::file::Loaded;
use crate::output::{Format, Printer};
use crate::state::{StateDir, DEFAULT_DIR};
use clap::{CommandFactory, Parser, Subcommand};
use shipcore::engine::{Command, RolloutStatus};
use shipcore::record::RecordStore;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

/// Run a shipcore rollout from one YAML file: plan it, run it, and steer it from another
/// shell. `shipctl schema` prints the file's JSON Schema; examples/rollouts/ has one file
/// per strategy.
#[derive(Debug, Parser)]
#[command(name = "shipctl", version, after_help = EXIT_CODES_HELP)]
pub struct Cli {
    /// State directory: journals, records, control sockets, the simulator's platform.
    /// Default: the file's `state_dir`, else `.shipctl` in the current directory.
    #[arg(long, global = true, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// `text`: one line per event (on a terminal: a live status line under them, and
    /// colour unless NO_COLOR is set); `json`: one JSON object per line.
    #[arg(long, global = true, value_enum, default_value = "text")]
    pub output: Format,
    /// What to do.
    #[command(subcommand)]
    pub command: Cmd,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Cmd {
    /// Validate FILE, check it against the driver, observe the platform, and print the
    /// steps and the rollback the engine would run. Applies nothing.
    Plan {
        /// The rollout file (YAML).
        file: PathBuf,
    },
    /// Run the rollout in FILE in the foreground until it settles; a blue-green or a
    /// `pause: {}` waits for `shipctl promote ID` from another shell. A rollout that
    /// freezes (failure_policy: freeze) stops the run with exit code 3.
    Run {
        /// The rollout file (YAML).
        file: PathBuf,
    },
    /// Print the JSON Schema of the rollout file.
    Schema,
    /// Where rollout ID stands (live, finished or interrupted); without ID, every rollout
    /// in the state directory.
    Status {
        /// Rollout id.
        id: Option<String>,
    },
    /// Go on past the current pause or step; with --full, skip every remaining step.
    Promote {
        /// Rollout id.
        id: String,
        /// Skip every remaining step.
        #[arg(long)]
        full: bool,
    },
    /// Stop the rollout and roll back; if no run is listening, continue the rollout from
    /// its journal in the foreground and abort it there.
    Abort {
        /// Rollout id.
        id: String,
    },
    /// Stop before the next step.
    Pause {
        /// Rollout id.
        id: String,
    },
    /// Continue a paused rollout; if no run is listening (the process was killed, or a
    /// frozen rollout stopped `run`), continue the rollout from its journal in the
    /// foreground, waiting for commands while it is frozen.
    Resume {
        /// Rollout id.
        id: String,
    },
    /// Start again after a rollback, re-run a frozen step, or retry a failed rollback; if
    /// no run is listening (the rollout ended), continue it from its journal in the
    /// foreground and retry there.
    Retry {
        /// Rollout id.
        id: String,
    },
    /// The deployments recorded in the state directory, newest first.
    History {
        /// Only this service.
        #[arg(long)]
        service: Option<String>,
        /// One HTML page instead: the four DORA keys per service and overall, and a row per
        /// deployment linking to its report (`ID.html`, from `report ID --format html`).
        #[arg(long)]
        html: bool,
    },
    /// The report of a finished rollout: ship report, per-phase comparison and DEPLOY.md
    /// runbook (md), the deployment record (json), or a self-contained page with the
    /// rollout's timeline (html).
    Report {
        /// Rollout id.
        id: String,
        /// md, json or html.
        #[arg(long, value_enum, default_value = "md")]
        format: crate::history::ReportFormat,
    },
    /// Approve the manual-approval gate GATE.
    Approve {
        /// Rollout id.
        id: String,
        /// The approval gate's name.
        gate: String,
    },
    /// Print the shell completion script for SHELL.
    ///
    /// Bash: `shipctl completions bash > ~/.local/share/bash-completion/completions/shipctl`;
    /// zsh: write it as `_shipctl` into a directory on $fpath; fish: `shipctl completions
    /// fish > ~/.config/fish/completions/shipctl.fish`; elvish and powershell: source it
    /// from the shell's rc file.
    Completions {
        /// bash, zsh, fish, elvish or powershell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Release versions from conventional commits.
    Version {
        /// What to do.
        #[command(subcommand)]
        command: VersionCmd,
    },
}

/// `shipctl version` commands.
#[derive(Debug, Subcommand)]
pub enum VersionCmd {
    /// Print the next version from conventional commits, its changelog section, and with
    /// --tag create the annotated tag.
    ///
    /// The next semantic version comes from the conventional commits since the last version
    /// tag reachable from HEAD (feat: minor, fix: patch, `!` or BREAKING CHANGE: major;
    /// before 1.0.0 a breaking change bumps minor; no tag yet: 0.1.0), then its changelog
    /// section: the CHANGELOG's section for that version when it has one, else one written
    /// from the commits. With --tag, also create the annotated tag on HEAD whose message
    /// carries that section. Nothing to release: nothing on stdout (with --output json,
    /// `"next": null`), a note on stderr, exit code 0. Outside a git repository: exit 2.
    Next {
        /// The git working copy.
        #[arg(long, value_name = "DIR", default_value = ".")]
        repo: PathBuf,
        /// The version tags' prefix (`v` for v1.2.3; "" for bare 1.2.3).
        #[arg(long, value_name = "PREFIX", default_value = "v")]
        tag_prefix: String,
        /// The Keep-a-Changelog file to take the section from. Default: REPO/CHANGELOG.md
        /// when it exists.
        #[arg(long, value_name = "FILE")]
        changelog: Option<PathBuf>,
        /// Create the annotated tag (refused if it exists or does not increase the version).
        #[arg(long)]
        tag: bool,
    },
}

/// Runs the command line and returns the process exit code.
pub fn main() -> u8 {
    let cli = Cli::parse();
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            let _ = writeln!(
                std::io::stderr(),
                "shipctl: cannot start the async runtime: {e}"
            );
            return Exit::NeedsPerson.code();
        }
    };
    match rt.block_on(execute(cli)) {
        Ok(exit) => exit.code(),
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "shipctl: {e}");
            e.exit().code()
        }
    }
}

fn state_for(cli_dir: &Option<PathBuf>, loaded: Option<&Loaded>) -> StateDir {
    let dir = cli_dir
        .clone()
        .or_else(|| loaded.and_then(|l| l.file.state_dir.clone()))
        .unwrap_or_else(|| PathBuf::from(DEFAULT_DIR));
    StateDir::new(dir)
}

/// Runs one parsed command.
pub async fn execute(cli: Cli) -> Result<Exit, CliError> {
    match &cli.command {
        Cmd::Schema => {
            crate::output::outln(&crate::schema::rollout_file_schema());
            Ok(Exit::Succeeded)
        }
        Cmd::Plan { file } => {
            let loaded = Loaded::read(file)?;
            let state = state_for(&cli.state_dir, Some(&loaded));
            let text = crate::plan::plan(&loaded, &state).await?;
            crate::output::out(&text);
            Ok(Exit::Succeeded)
        }
        Cmd::Run { file } => {
            let loaded = Loaded::read(file)?;
            let state = state_for(&cli.state_dir, Some(&loaded));
            crate::run::run(&loaded, &state, Arc::new(Printer::live(cli.output))).await
        }
        Cmd::Status { id } => {
            let state = state_for(&cli.state_dir, None);
            status(&state, id.as_deref(), cli.output).await
        }
        Cmd::Resume { id } => {
            let state = state_for(&cli.state_dir, None);
            check_id(id)?;
            if control::is_live(&state.socket_path(id)).await {
                send(&state, id, Command::Resume, cli.output).await
            } else {
                crate::run::resume(id, &state, Arc::new(Printer::live(cli.output)), None).await
            }
        }
        Cmd::Promote { id, full } => {
            let cmd = Command::Promote { full: *full };
            send(&state_for(&cli.state_dir, None), id, cmd, cli.output).await
        }
        Cmd::Abort { id } => {
            let state = state_for(&cli.state_dir, None);
            live_or_journal(&state, id, Command::Abort, cli.output).await
        }
        Cmd::Pause { id } => {
            send(
                &state_for(&cli.state_dir, None),
                id,
                Command::Pause,
                cli.output,
            )
            .await
        }
        Cmd::Retry { id } => {
            let state = state_for(&cli.state_dir, None);
            live_or_journal(&state, id, Command::Retry, cli.output).await
        }
        Cmd::History { service, html } => {
            let state = state_for(&cli.state_dir, None);
            crate::output::out(&crate::history::history(
                &state,
                service.as_deref(),
                cli.output,
                *html,
            )?);
            Ok(Exit::Succeeded)
        }
        Cmd::Report { id, format } => {
            check_id(id)?;
            let state = state_for(&cli.state_dir, None);
            crate::output::out(&crate::history::report(&state, id, *format).await?);
            Ok(Exit::Succeeded)
        }
        Cmd::Approve { id, gate } => {
            let cmd = Command::Approve { gate: gate.clone() };
            send(&state_for(&cli.state_dir, None), id, cmd, cli.output).await
        }
        Cmd::Completions { shell } => {
            let mut script = Vec::new();
            clap_complete::generate(*shell, &mut Cli::command(), "shipctl", &mut script);
            crate::output::out(&String::from_utf8_lossy(&script));
            Ok(Exit::Succeeded)
        }
        Cmd::Version {
            command:
                VersionCmd::Next {
                    repo,
                    tag_prefix,
                    changelog,
                    tag,
                },
        } => {
            let args = crate::version::NextArgs {
                repo: repo.clone(),
                tag_prefix: tag_prefix.clone(),
                changelog: changelog.clone(),
                tag: *tag,
            };
            crate::version::next(&args, cli.output).await
        }
    }
}

/// `cmd` to the run listening for `id`, or, with none, to the rollout continued from its
/// journal in the foreground (a retry after a rollback, an abort of an interrupted run).
async fn live_or_journal(
    state: &StateDir,
    id: &str,
    cmd: Command,
    format: Format,
) -> Result<Exit, CliError> {
    check_id(id)?;
    if control::is_live(&state.socket_path(id)).await {
        send(state, id, cmd, format).await
    } else {
        crate::run::resume(id, state, Arc::new(Printer::live(format)), Some(cmd)).await
    }
}

/// Rollout ids name folders: the library's id rule, checked before any path is made.
fn check_id(id: &str) -> Result<(), CliError> {
    let ok = !id.is_empty()
        && id.len() <= 128
        && !id.starts_with('.')
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(CliError::Usage(format!(
            "{id:?} is not a rollout id (letters, digits, `-`, `_`, `.`; not starting with `.`)"
        )))
    }
}

fn status_line(s: &RolloutStatus) -> String {
    let mut line = format!(
        "{}: {} at step {}/{}",
        s.id,
        s.phase,
        (s.step + 1).min(s.steps),
        s.steps
    );
    if let Some(r) = &s.reason {
        line += &format!(" ({r})");
    }
    line
}

async fn send(state: &StateDir, id: &str, cmd: Command, format: Format) -> Result<Exit, CliError> {
    check_id(id)?;
    let name = serde_json::to_value(&cmd)
        .ok()
        .and_then(|v| {
            v.get("command")
                .and_then(|c| c.as_str())
                .map(str::to_string)
        })
        .unwrap_or_default();
    let reply = control::ask(
        id,
        &state.socket_path(id),
        &Request::Command { command: cmd },
    )
    .await?;
    if format == Format::Json {
        crate::output::outln(&serde_json::to_string(&reply).unwrap_or_default());
    }
    if !reply.ok {
        return Err(CliError::Usage(format!(
            "{name} was not delivered to {id}: {}",
            reply.error.unwrap_or_default()
        )));
    }
    if format == Format::Text {
        match &reply.status {
            Some(s) => crate::output::outln(&format!(
                "{name} sent to {id} (journaled by the engine); was {}",
                status_line(s)
            )),
            None => crate::output::outln(&format!("{name} sent to {id}")),
        }
    }
    Ok(Exit::Succeeded)
}

async fn status(state: &StateDir, id: Option<&str>, format: Format) -> Result<Exit, CliError> {
    let ids = match id {
        Some(id) => {
            check_id(id)?;
            vec![id.to_string()]
        }
        None => state.rollout_ids(),
    };
    if ids.is_empty() {
        crate::output::outln(&format!("no rollouts in {}", state.dir().display()));
        return Ok(Exit::Succeeded);
    }
    let records = RecordStore::open(state.records_dir()).ok();
    for id in ids {
        let sock = state.socket_path(&id);
        let line = if control::is_live(&sock).await {
            let reply = control::ask(&id, &sock, &Request::Status).await?;
            match (format, &reply.status) {
                (Format::Json, _) => serde_json::to_string(&reply).unwrap_or_default(),
                (Format::Text, Some(s)) => format!("{} (running)", status_line(s)),
                (Format::Text, None) => format!("{id}: running"),
            }
        } else if let Some(rec) = records.as_ref().and_then(|r| r.load(&id).ok()) {
            match format {
                Format::Json => serde_json::json!({
                    "id": id, "running": false, "status": rec.status.as_str(),
                    "reason": rec.reason, "version": rec.version,
                })
                .to_string(),
                Format::Text => format!(
                    "{id}: {} (finished; {} {} in {}){}",
                    rec.status.as_str(),
                    rec.service,
                    rec.version,
                    rec.environment,
                    rec.reason.map(|r| format!(": {r}")).unwrap_or_default()
                ),
            }
        } else if state.journal_path(&id).exists() {
            match format {
                Format::Json => serde_json::json!({"id": id, "running": false, "interrupted": true}).to_string(),
                Format::Text => format!(
                    "{id}: not running and not finished (interrupted): `shipctl resume {id}` continues it"
                ),
            }
        } else {
            return Err(CliError::Usage(format!(
                "no rollout {id} in {}",
                state.dir().display()
            )));
        };
        crate::output::outln(&line);
    }
    Ok(Exit::Succeeded)
}
