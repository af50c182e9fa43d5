//! The log-pattern validator: counts lines matching a regular expression and fails when
//! there are more than `max`.
//!
//! Two sources:
//! - `file`: only lines **appended since the previous measurement** are read. The validator
//!   remembers a byte offset per (rollout id, file path); a partial last line is left for the
//!   next measurement. A file that shrank (truncated, `copytruncate`) or was replaced (another
//!   inode: rotated) is read again from its start; lines written to the old file between the
//!   last read and the rotation are not seen. The first measurement starts at the end of the
//!   file (`start: "end"`, the default: 0 new lines) or at its beginning (`start: "beginning"`,
//!   for a log the new revision created).
//! - `command`: an argv (templates allowed, e.g. `["kubectl", "logs", "-l", "rev={{revision}}",
//!   "--since=2m"]`) whose whole output (stdout, then stderr) is the window; the command
//!   chooses the window. A non-zero exit or a timeout is a validator error.
//!
//! Lines are matched as bytes, so invalid UTF-8 does not stop the count. An unreadable file
//! is a validator error. Measurements: `matches` (threshold `max`) and `lines`.

use super::config::ConfigError;
use super::{non_empty, render_arg, render_file, verr};
use crate::time::{format_duration, serde_duration};
use crate::validator::{
    Measurement, Outcome, ValidationContext, Validator, ValidatorError, Verdict,
};
use async_trait::async_trait;
use regex::bytes::Regex;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncSeekExt, BufReader};

/// Where a log file's first measurement starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogStart {
    /// At the current end: only lines written from now on count. The default.
    #[default]
    End,
    /// At the beginning of the file.
    Beginning,
}

/// Configuration of a [`LogPattern`] validator. Exactly one of `file` and `command`.
///
/// ```
/// let c: shipcore::validators::LogPatternConfig = serde_json::from_str(r#"{
///     "name": "panics", "pattern": "panic|FATAL", "max": 0, "file": "/var/log/web/{{revision}}.log"}"#)
///     .unwrap();
/// assert!(c.build().is_ok());
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogPatternConfig {
    /// Validator name.
    pub name: String,
    /// Regular expression (Rust `regex` syntax) matched against each line.
    pub pattern: String,
    /// More matching lines than this fail (default 0).
    #[serde(default)]
    pub max: u64,
    /// A log file path (template).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// A command whose output is the window: program then arguments (templates).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<Vec<String>>,
    /// Where a file's first measurement starts (default `end`).
    #[serde(default)]
    pub start: LogStart,
    /// Command timeout (default 30s).
    #[serde(default = "default_timeout", with = "serde_duration")]
    pub timeout: Duration,
}

fn default_timeout() -> Duration {
    Duration::from_secs(30)
}

impl LogPatternConfig {
    /// Checks the values.
    pub fn check(&self) -> Result<(), ConfigError> {
        self.compile().map(|_| ())
    }

    fn compile(&self) -> Result<Regex, ConfigError> {
        non_empty("name", &self.name)?;
        non_empty("pattern", &self.pattern)?;
        let re = Regex::new(&self.pattern)
            .map_err(|e| ConfigError::new("pattern", format!("not a valid regex: {e}")))?;
        match (&self.file, &self.command) {
            (Some(f), None) => non_empty("file", f)?,
            (None, Some(argv)) => {
                if argv.first().map(|p| p.trim().is_empty()).unwrap_or(true) {
                    return Err(ConfigError::new("command", "must name a program first"));
                }
            }
            (Some(_), Some(_)) => {
                return Err(ConfigError::new(
                    "command",
                    "give either file or command, not both",
                ))
            }
            (None, None) => return Err(ConfigError::new("file", "give a file or a command")),
        }
        if self.timeout.is_zero() {
            return Err(ConfigError::new("timeout", "must be greater than zero"));
        }
        Ok(re)
    }

    /// Checks the values and builds the validator.
    pub fn build(&self) -> Result<LogPattern, ConfigError> {
        let re = self.compile()?;
        Ok(LogPattern {
            cfg: self.clone(),
            re,
            positions: Mutex::new(HashMap::new()),
        })
    }
}

/// Where reading a file stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Position {
    offset: u64,
    inode: u64,
}

/// Counts matching log lines; see the module docs.
#[derive(Debug)]
pub struct LogPattern {
    cfg: LogPatternConfig,
    re: Regex,
    positions: Mutex<HashMap<(String, String), Position>>,
}

/// Lines scanned, lines matching, the first match, and a note.
struct Count {
    lines: u64,
    matches: u64,
    first: Option<String>,
    note: String,
}

#[cfg(unix)]
fn inode(m: &std::fs::Metadata) -> u64 {
    use std::os::unix::fs::MetadataExt;
    m.ino()
}

#[cfg(not(unix))]
fn inode(_: &std::fs::Metadata) -> u64 {
    0
}

impl LogPattern {
    fn count_line(&self, line: &[u8], c: &mut Count) {
        c.lines += 1;
        if self.re.is_match(line) {
            c.matches += 1;
            if c.first.is_none() {
                let text = String::from_utf8_lossy(line);
                c.first = Some(text.trim_end().chars().take(200).collect());
            }
        }
    }

    fn position(&self, key: &(String, String)) -> Option<Position> {
        match self.positions.lock() {
            Ok(m) => m.get(key).copied(),
            Err(p) => p.into_inner().get(key).copied(),
        }
    }

    fn remember(&self, key: (String, String), pos: Position) {
        match self.positions.lock() {
            Ok(mut m) => m.insert(key, pos),
            Err(p) => p.into_inner().insert(key, pos),
        };
    }

    async fn scan_file(&self, ctx: &ValidationContext, path: &str) -> Result<Count, String> {
        let file = tokio::fs::File::open(path)
            .await
            .map_err(|e| format!("cannot open {path}: {e}"))?;
        let meta = file
            .metadata()
            .await
            .map_err(|e| format!("cannot stat {path}: {e}"))?;
        let (len, ino) = (meta.len(), inode(&meta));
        let key = (ctx.rollout_id.clone(), path.to_string());
        let (from, note) = match self.position(&key) {
            None if self.cfg.start == LogStart::End => {
                self.remember(
                    key,
                    Position {
                        offset: len,
                        inode: ino,
                    },
                );
                let note = format!("watching {path} from byte {len} (first measurement)");
                return Ok(Count {
                    lines: 0,
                    matches: 0,
                    first: None,
                    note,
                });
            }
            None => (0, String::new()),
            Some(p) if p.inode != ino => (0, format!("{path} was rotated; read from its start")),
            Some(p) if len < p.offset => (0, format!("{path} was truncated; read from its start")),
            Some(p) => (p.offset, String::new()),
        };
        let mut reader = BufReader::new(file);
        reader
            .seek(std::io::SeekFrom::Start(from))
            .await
            .map_err(|e| format!("cannot seek in {path}: {e}"))?;
        let mut c = Count {
            lines: 0,
            matches: 0,
            first: None,
            note,
        };
        let mut offset = from;
        let mut line = Vec::new();
        loop {
            line.clear();
            let n = reader
                .read_until(b'\n', &mut line)
                .await
                .map_err(|e| format!("cannot read {path}: {e}"))?;
            // Stop at the end, and before a partial last line (it is still being written).
            if n == 0 || line.last() != Some(&b'\n') {
                break;
            }
            offset += n as u64;
            self.count_line(&line, &mut c);
        }
        self.remember(key, Position { offset, inode: ino });
        Ok(c)
    }

    async fn scan_command(&self, argv: &[String]) -> Result<Count, String> {
        let Some((program, args)) = argv.split_first() else {
            return Err("empty command".into());
        };
        let shown = argv.join(" ");
        let child = tokio::process::Command::new(program)
            .args(args)
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true)
            .output();
        let out = tokio::time::timeout(self.cfg.timeout, child)
            .await
            .map_err(|_| {
                format!(
                    "`{shown}` timed out after {}",
                    format_duration(self.cfg.timeout)
                )
            })?
            .map_err(|e| format!("cannot run `{shown}`: {e}"))?;
        if !out.status.success() {
            let tail: String = String::from_utf8_lossy(&out.stderr)
                .chars()
                .rev()
                .take(300)
                .collect();
            let tail: String = tail.chars().rev().collect();
            return Err(format!(
                "`{shown}` exited with {}: {}",
                out.status,
                tail.trim()
            ));
        }
        let mut c = Count {
            lines: 0,
            matches: 0,
            first: None,
            note: String::new(),
        };
        for stream in [&out.stdout, &out.stderr] {
            for line in stream.split(|b| *b == b'\n') {
                if !line.is_empty() {
                    self.count_line(line, &mut c);
                }
            }
        }
        Ok(c)
    }
}

#[async_trait]
impl Validator for LogPattern {
    fn name(&self) -> &str {
        &self.cfg.name
    }

    async fn validate(&self, ctx: &ValidationContext) -> Result<Verdict, ValidatorError> {
        let cfg = &self.cfg;
        let count = match (&cfg.file, &cfg.command) {
            (Some(f), _) => {
                let path = render_file(&cfg.name, f, &ctx.vars)?;
                self.scan_file(ctx, &path).await
            }
            (None, Some(argv)) => {
                let argv = argv
                    .iter()
                    .map(|a| render_arg(&cfg.name, a, &ctx.vars))
                    .collect::<Result<Vec<_>, _>>()?;
                self.scan_command(&argv).await
            }
            (None, None) => Err("neither file nor command".into()),
        }
        .map_err(|e| verr(&cfg.name, e))?;
        let outcome = if count.matches > cfg.max {
            Outcome::Fail
        } else {
            Outcome::Pass
        };
        let mut msg = format!(
            "{} of {} lines match /{}/ (max {})",
            count.matches, count.lines, cfg.pattern, cfg.max
        );
        if let Some(first) = &count.first {
            msg += &format!("; first: {first}");
        }
        if !count.note.is_empty() {
            msg += &format!("; {}", count.note);
        }
        Ok(Verdict::new(&cfg.name, outcome, msg)
            .with(Measurement::new(
                "matches",
                count.matches as f64,
                Some(cfg.max as f64),
                "lines",
            ))
            .with(Measurement::new("lines", count.lines as f64, None, "lines")))
    }
}
