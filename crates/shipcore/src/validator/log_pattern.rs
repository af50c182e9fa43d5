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
//!   "--since=2m"]`; values are checked as command arguments, see [`crate::template`]) whose
//!   whole output (stdout, then stderr) is the window; the command chooses the window. A
//!   non-zero exit, a timeout, or more than [`LOG_MAX_OUTPUT_BYTES`] on one stream is a
//!   validator error. The command leads its own process group: on a timeout (or when
//!   something it started in the background still holds its output 1 s after it exited) the
//!   whole group is killed, so no grandchild outlives the measurement.
//!
//! Lines are matched as bytes, so invalid UTF-8 does not stop the count. A line longer than
//! [`LOG_MAX_LINE_BYTES`] is matched on its first `LOG_MAX_LINE_BYTES` bytes (the rest is read
//! and dropped), so memory stays bounded whatever the log holds. An unreadable file is a
//! validator error. Measurements: `matches` (threshold `max`) and `lines`.

use super::config::ConfigError;
use super::{non_empty, render_arg, render_file, verr};
use crate::model::FieldError;
use crate::process::kill_group;
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
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncRead, AsyncSeekExt, BufReader};

/// The longest line matched in full: longer lines are matched on their first 64 KiB.
pub const LOG_MAX_LINE_BYTES: usize = 64 * 1024;

/// The most a command may write on stdout or on stderr in one measurement: 32 MiB.
pub const LOG_MAX_OUTPUT_BYTES: u64 = 32 * 1024 * 1024;

/// The longest command timeout accepted: 24 hours.
pub const LOG_MAX_TIMEOUT: Duration = Duration::from_secs(24 * 3600);

/// How much of the end of stderr is kept for the error of a failed command.
const ERR_TAIL_BYTES: usize = 1024;

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
/// let c: shipcore::validator::LogPatternConfig = serde_json::from_str(r#"{
///     "name": "panics", "pattern": "panic|FATAL", "max": 0, "file": "/var/log/web/{{revision}}.log"}"#)
///     .unwrap();
/// assert!(c.build().is_ok());
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
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
    /// Command timeout (default 30s, at most [`LOG_MAX_TIMEOUT`], 24h).
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
            .map_err(|e| FieldError::new("pattern", format!("not a valid regex: {e}")))?;
        match (&self.file, &self.command) {
            (Some(f), None) => non_empty("file", f)?,
            (None, Some(argv)) => {
                if argv.first().map(|p| p.trim().is_empty()).unwrap_or(true) {
                    return Err(FieldError::new("command", "must name a program first").into());
                }
            }
            (Some(_), Some(_)) => {
                return Err(
                    FieldError::new("command", "give either file or command, not both").into(),
                )
            }
            (None, None) => return Err(FieldError::new("file", "give a file or a command").into()),
        }
        if self.timeout.is_zero() {
            return Err(FieldError::new("timeout", "must be greater than zero").into());
        }
        if self.timeout > LOG_MAX_TIMEOUT {
            return Err(FieldError::new(
                "timeout",
                format!(
                    "{} is too long: at most {}",
                    format_duration(self.timeout),
                    format_duration(LOG_MAX_TIMEOUT)
                ),
            )
            .into());
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

/// Lines scanned, lines matching, the first match, lines cut at [`LOG_MAX_LINE_BYTES`],
/// and a note.
#[derive(Debug, Default)]
struct Count {
    lines: u64,
    matches: u64,
    first: Option<String>,
    long_lines: u64,
    note: String,
}

impl Count {
    /// Counts one line (a cut one too).
    fn line(&mut self, re: &Regex, line: &[u8], cut: bool) {
        self.lines += 1;
        if cut {
            self.long_lines += 1;
        }
        if re.is_match(line) {
            self.matches += 1;
            if self.first.is_none() {
                let text = String::from_utf8_lossy(line);
                self.first = Some(text.trim_end().chars().take(200).collect());
            }
        }
    }

    /// Adds `other`'s lines after this one's.
    fn extend(&mut self, other: Count) {
        self.lines += other.lines;
        self.matches += other.matches;
        self.long_lines += other.long_lines;
        if self.first.is_none() {
            self.first = other.first;
        }
    }
}

/// Reads one line into `line`, keeping at most `cap` bytes of it (the rest is consumed and
/// dropped). Returns the bytes consumed, whether the line ended with `\n`, and whether it
/// was cut.
async fn read_line_capped<R: AsyncBufRead + Unpin>(
    r: &mut R,
    line: &mut Vec<u8>,
    cap: usize,
) -> std::io::Result<(usize, bool, bool)> {
    let mut consumed = 0;
    let mut cut = false;
    loop {
        let buf = r.fill_buf().await?;
        if buf.is_empty() {
            return Ok((consumed, false, cut));
        }
        let (len, newline) = match buf.iter().position(|b| *b == b'\n') {
            Some(i) => (i + 1, true),
            None => (buf.len(), false),
        };
        let take = len.min(cap.saturating_sub(line.len()));
        line.extend_from_slice(&buf[..take]);
        cut |= take < len && !(newline && take + 1 == len);
        r.consume(len);
        consumed += len;
        if newline {
            return Ok((consumed, true, cut));
        }
    }
}

/// What one output stream of a command held.
#[derive(Debug, Default)]
struct StreamScan {
    count: Count,
    /// The last [`ERR_TAIL_BYTES`] bytes (or a little more).
    tail: Vec<u8>,
    /// It wrote more than [`LOG_MAX_OUTPUT_BYTES`]; reading stopped there.
    over_limit: bool,
    /// Reading failed: why.
    error: Option<String>,
}

/// Counts the lines of one output stream (empty lines skipped, the newline not matched),
/// reading at most [`LOG_MAX_OUTPUT_BYTES`].
async fn scan_stream<R: AsyncRead + Unpin>(r: R, re: Regex) -> StreamScan {
    let mut reader = BufReader::new(r);
    let mut scan = StreamScan::default();
    let mut line = Vec::new();
    let mut total: u64 = 0;
    loop {
        line.clear();
        match read_line_capped(&mut reader, &mut line, LOG_MAX_LINE_BYTES).await {
            Ok((0, _, _)) => return scan,
            Ok((n, _, cut)) => {
                total = total.saturating_add(n as u64);
                scan.tail.extend_from_slice(&line);
                if scan.tail.len() > 2 * ERR_TAIL_BYTES {
                    let drop = scan.tail.len() - ERR_TAIL_BYTES;
                    scan.tail.drain(..drop);
                }
                let text = line.strip_suffix(b"\n").unwrap_or(&line);
                if !text.is_empty() {
                    scan.count.line(&re, text, cut);
                }
                if total > LOG_MAX_OUTPUT_BYTES {
                    scan.over_limit = true;
                    return scan;
                }
            }
            Err(e) => {
                scan.error = Some(e.to_string());
                return scan;
            }
        }
    }
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
                    note,
                    ..Count::default()
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
            note,
            ..Count::default()
        };
        let mut offset = from;
        let mut line = Vec::new();
        loop {
            line.clear();
            let (n, newline, cut) = read_line_capped(&mut reader, &mut line, LOG_MAX_LINE_BYTES)
                .await
                .map_err(|e| format!("cannot read {path}: {e}"))?;
            // Stop at the end, and before a partial last line (it is still being written).
            if n == 0 || !newline {
                break;
            }
            offset += n as u64;
            c.line(&self.re, &line, cut);
        }
        self.remember(key, Position { offset, inode: ino });
        Ok(c)
    }

    async fn scan_command(&self, argv: &[String]) -> Result<Count, String> {
        let Some((program, args)) = argv.split_first() else {
            return Err("empty command".into());
        };
        let shown = argv.join(" ");
        let mut cmd = tokio::process::Command::new(program);
        cmd.args(args)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true);
        // Its own process group, so a timeout kills what it started too.
        #[cfg(unix)]
        cmd.process_group(0);
        let started = tokio::time::Instant::now();
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("cannot run `{shown}`: {e}"))?;
        let pid = child.id();
        let (Some(out), Some(err)) = (child.stdout.take(), child.stderr.take()) else {
            kill_group(pid, &mut child).await;
            return Err(format!("cannot read the output of `{shown}`"));
        };
        let mut readers = [
            tokio::spawn(scan_stream(out, self.re.clone())),
            tokio::spawn(scan_stream(err, self.re.clone())),
        ];
        // `compile` bounds the timeout; the fallback times out at once rather than panic.
        let deadline = started
            .checked_add(self.cfg.timeout.min(LOG_MAX_TIMEOUT))
            .unwrap_or(started);
        let status = match tokio::time::timeout_at(deadline, child.wait()).await {
            Ok(Ok(status)) => status,
            Ok(Err(e)) => {
                kill_group(pid, &mut child).await;
                return Err(format!("waiting for `{shown}` failed: {e}"));
            }
            Err(_) => {
                kill_group(pid, &mut child).await;
                for r in &readers {
                    r.abort();
                }
                return Err(format!(
                    "`{shown}` timed out after {} and was killed (with its process group)",
                    format_duration(self.cfg.timeout)
                ));
            }
        };
        // Something it started in the background may still hold the pipes: give the
        // readers a moment, then kill what is left of the group (the pipes then close).
        let grace = tokio::time::Instant::now() + Duration::from_secs(1);
        let mut scans = Vec::with_capacity(2);
        for (i, r) in readers.iter_mut().enumerate() {
            let scan = match tokio::time::timeout_at(grace, &mut *r).await {
                Ok(scan) => scan,
                Err(_) => {
                    kill_group(pid, &mut child).await;
                    let after_kill = tokio::time::Instant::now() + Duration::from_secs(1);
                    match tokio::time::timeout_at(after_kill, &mut *r).await {
                        Ok(scan) => scan,
                        Err(_) => {
                            r.abort();
                            return Err(format!(
                                "`{shown}`: its {} stayed open after it exited",
                                if i == 0 { "stdout" } else { "stderr" }
                            ));
                        }
                    }
                }
            };
            scans.push(scan.map_err(|e| format!("reading the output of `{shown}` failed: {e}"))?);
        }
        let mut c = Count::default();
        let mut err_tail = Vec::new();
        for (i, scan) in scans.into_iter().enumerate() {
            let stream = if i == 0 { "stdout" } else { "stderr" };
            if let Some(e) = scan.error {
                return Err(format!("reading the {stream} of `{shown}` failed: {e}"));
            }
            if scan.over_limit {
                kill_group(pid, &mut child).await;
                return Err(format!(
                    "`{shown}` wrote more than {LOG_MAX_OUTPUT_BYTES} bytes on {stream}; narrow its window"
                ));
            }
            if i == 1 {
                err_tail = scan.tail;
            }
            c.extend(scan.count);
        }
        if !status.success() {
            let tail: String = String::from_utf8_lossy(&err_tail)
                .chars()
                .rev()
                .take(300)
                .collect();
            let tail: String = tail.chars().rev().collect();
            return Err(format!("`{shown}` exited with {status}: {}", tail.trim()));
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
        if count.long_lines > 0 {
            msg += &format!(
                "; {} lines longer than {LOG_MAX_LINE_BYTES} bytes were matched on their start",
                count.long_lines
            );
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
