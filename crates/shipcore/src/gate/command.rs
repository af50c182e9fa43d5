//! The command gate: runs a program (no shell unless asked), with a timeout; exit code 0
//! passes. The tail of stdout and stderr goes into the block reason and stays available as
//! [`CommandGate::last_run`]. On timeout the whole process group is killed.

use super::config::{check_name, ConfigError};
use crate::gate::{Gate, GateContext, GateOutcome};
use crate::model::FieldError;
use crate::time::{format_duration, serde_duration};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;
use tokio::time::Instant;

/// Configuration of a [`CommandGate`].
///
/// ```
/// let c: shipcore::gate::CommandConfig = serde_json::from_str(
///     r#"{"name": "tests", "program": "npm", "args": ["test"], "timeout": "10m"}"#).unwrap();
/// assert_eq!(c.build().unwrap().config().args, vec!["test"]);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct CommandConfig {
    /// Gate name.
    pub name: String,
    /// The program to run (looked up in `PATH`), or with `shell` a shell command line.
    pub program: String,
    /// Its arguments, passed as they are (no shell word splitting).
    #[serde(default)]
    pub args: Vec<String>,
    /// Run `program` through `sh -c` (then `args` must be empty).
    #[serde(default)]
    pub shell: bool,
    /// How long the command may run before it is killed (default 10m, at most
    /// [`COMMAND_MAX_TIMEOUT`], 24h).
    #[serde(default = "default_timeout", with = "serde_duration")]
    pub timeout: Duration,
    /// Working directory (default: the current one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cwd: Option<PathBuf>,
    /// Extra environment variables.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    /// How many bytes of the end of stdout and of stderr to keep (default 2000, at most
    /// [`COMMAND_MAX_TAIL_BYTES`], 1 MiB). Output beyond it is read and dropped as it comes, so a
    /// chatty command holds at most about twice this much per stream.
    #[serde(default = "default_tail")]
    pub tail_bytes: usize,
}

/// The longest [`CommandConfig::timeout`] accepted: 24 hours.
pub const COMMAND_MAX_TIMEOUT: Duration = Duration::from_secs(24 * 3600);

/// The largest [`CommandConfig::tail_bytes`] accepted: 1 MiB.
pub const COMMAND_MAX_TAIL_BYTES: usize = 1 << 20;

fn default_timeout() -> Duration {
    Duration::from_secs(600)
}

fn default_tail() -> usize {
    2000
}

impl CommandConfig {
    /// A config running `program args…` with the default timeout.
    pub fn new(name: impl Into<String>, program: impl Into<String>, args: &[&str]) -> Self {
        CommandConfig {
            name: name.into(),
            program: program.into(),
            args: args.iter().map(|a| a.to_string()).collect(),
            shell: false,
            timeout: default_timeout(),
            cwd: None,
            env: BTreeMap::new(),
            tail_bytes: default_tail(),
        }
    }

    /// Checks the values and builds the gate.
    pub fn build(&self) -> Result<CommandGate, ConfigError> {
        check_name(&self.name)?;
        if self.program.trim().is_empty() {
            return Err(FieldError::new("program", "must not be empty").into());
        }
        if self.timeout.is_zero() {
            return Err(FieldError::new("timeout", "must be greater than zero").into());
        }
        if self.timeout > COMMAND_MAX_TIMEOUT {
            return Err(FieldError::new(
                "timeout",
                format!(
                    "{} is too long: at most {}",
                    format_duration(self.timeout),
                    format_duration(COMMAND_MAX_TIMEOUT)
                ),
            )
            .into());
        }
        if self.tail_bytes > COMMAND_MAX_TAIL_BYTES {
            return Err(FieldError::new(
                "tail_bytes",
                format!(
                    "{} is too large: at most {COMMAND_MAX_TAIL_BYTES} (1 MiB)",
                    self.tail_bytes
                ),
            )
            .into());
        }
        if self.shell && !self.args.is_empty() {
            return Err(FieldError::new(
                "args",
                "must be empty when shell is true (put the whole command line in program)",
            )
            .into());
        }
        Ok(CommandGate {
            cfg: self.clone(),
            last: Mutex::new(None),
        })
    }
}

/// What one run of the command did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommandRun {
    /// The command as shown to people.
    pub command: String,
    /// Exit code, if the program exited normally.
    pub exit_code: Option<i32>,
    /// It ran past the timeout and was killed.
    pub timed_out: bool,
    /// It could not be started (or waited for): why.
    pub error: Option<String>,
    /// The end of its standard output.
    pub stdout_tail: String,
    /// The end of its standard error.
    pub stderr_tail: String,
    /// Wall time it took.
    #[serde(with = "serde_duration")]
    pub duration: Duration,
}

impl CommandRun {
    /// Exit code 0 within the timeout.
    pub fn passed(&self) -> bool {
        self.exit_code == Some(0) && !self.timed_out && self.error.is_none()
    }

    fn describe_failure(&self, timeout: Duration) -> String {
        let what = if let Some(e) = &self.error {
            format!("could not run `{}`: {e}", self.command)
        } else if self.timed_out {
            format!(
                "`{}` timed out after {} and was killed",
                self.command,
                format_duration(timeout)
            )
        } else {
            match self.exit_code {
                Some(code) => format!("`{}` exited with code {code}", self.command),
                None => format!("`{}` was killed by a signal", self.command),
            }
        };
        let mut out = what;
        for (label, tail) in [("stdout", &self.stdout_tail), ("stderr", &self.stderr_tail)] {
            if !tail.trim().is_empty() {
                out += &format!("\n{label} (tail):\n{}", tail.trim_end());
            }
        }
        out
    }
}

/// Runs a program; exit code 0 passes, anything else blocks with the output tail.
#[derive(Debug)]
pub struct CommandGate {
    cfg: CommandConfig,
    last: Mutex<Option<CommandRun>>,
}

impl CommandGate {
    /// The configuration it runs.
    pub fn config(&self) -> &CommandConfig {
        &self.cfg
    }

    /// The most recent run, with its output tails.
    pub fn last_run(&self) -> Option<CommandRun> {
        self.last.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn display(&self) -> String {
        if self.cfg.shell || self.cfg.args.is_empty() {
            self.cfg.program.clone()
        } else {
            format!("{} {}", self.cfg.program, self.cfg.args.join(" "))
        }
    }

    /// Runs the command once for `ctx` (its rollout is exported as `SHIPCORE_*` variables).
    pub async fn run(&self, ctx: &GateContext) -> CommandRun {
        let started = Instant::now();
        let mut cmd = if self.cfg.shell {
            let mut c = tokio::process::Command::new("sh");
            c.arg("-c").arg(&self.cfg.program);
            c
        } else {
            let mut c = tokio::process::Command::new(&self.cfg.program);
            c.args(&self.cfg.args);
            c
        };
        if let Some(dir) = &self.cfg.cwd {
            cmd.current_dir(dir);
        }
        cmd.envs(&self.cfg.env)
            .env("SHIPCORE_ROLLOUT_ID", &ctx.rollout_id)
            .env("SHIPCORE_SERVICE", &ctx.target.service)
            .env("SHIPCORE_ENVIRONMENT", &ctx.target.environment)
            .env("SHIPCORE_VERSION", ctx.candidate.version.to_string());
        let keep = self.cfg.tail_bytes.min(COMMAND_MAX_TAIL_BYTES);
        let timeout = self.cfg.timeout.min(COMMAND_MAX_TIMEOUT);
        let mut run = CommandRun {
            command: self.display(),
            exit_code: None,
            timed_out: false,
            error: None,
            stdout_tail: String::new(),
            stderr_tail: String::new(),
            duration: Duration::ZERO,
        };
        match crate::process::run_captured(cmd, timeout, keep).await {
            Ok(c) => {
                run.exit_code = c.exit_code;
                run.timed_out = c.timed_out;
                run.error = c.wait_error.map(|e| format!("waiting for it failed: {e}"));
                run.stdout_tail = c.stdout_tail;
                run.stderr_tail = c.stderr_tail;
                run.duration = c.duration;
            }
            Err(e) => {
                run.error = Some(e.to_string());
                run.duration = started.elapsed();
            }
        }
        run
    }
}

#[async_trait]
impl Gate for CommandGate {
    fn name(&self) -> &str {
        &self.cfg.name
    }

    async fn check(&self, ctx: &GateContext) -> GateOutcome {
        let run = self.run(ctx).await;
        let outcome = if run.passed() {
            GateOutcome::Pass
        } else {
            GateOutcome::block(run.describe_failure(self.cfg.timeout))
        };
        *self.last.lock().unwrap_or_else(|e| e.into_inner()) = Some(run);
        outcome
    }
}
