//! Running a child process for a gate or a migrator: in its own process group, with its
//! output's tails captured, a deadline after which the whole group is killed, and no
//! background child left holding the pipes.

use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::time::{timeout_at, Instant};

/// How a captured run ended.
#[derive(Debug, Clone, Default)]
pub(crate) struct Captured {
    /// The exit code, when it exited (not killed by a signal or the deadline).
    pub(crate) exit_code: Option<i32>,
    /// Killed at the deadline.
    pub(crate) timed_out: bool,
    /// Waiting for it failed (its exit status is unknown).
    pub(crate) wait_error: Option<String>,
    /// The last `keep` bytes of its standard output, lossily UTF-8.
    pub(crate) stdout_tail: String,
    /// The last `keep` bytes of its standard error, lossily UTF-8.
    pub(crate) stderr_tail: String,
    /// How long it ran.
    pub(crate) duration: Duration,
}

/// Spawns `cmd` (stdin closed, output piped, its own process group, killed on drop), waits
/// until it exits or `timeout` passes (then kills its group), and keeps the last `keep`
/// bytes of each output. `Err` only when it could not be started.
pub(crate) async fn run_captured(
    mut cmd: tokio::process::Command,
    timeout: Duration,
    keep: usize,
) -> std::io::Result<Captured> {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    #[cfg(unix)]
    cmd.process_group(0);
    let started = Instant::now();
    let mut child = cmd.spawn()?;
    let out_buf = Arc::new(Mutex::new(Vec::new()));
    let err_buf = Arc::new(Mutex::new(Vec::new()));
    let mut readers = Vec::new();
    if let Some(out) = child.stdout.take() {
        readers.push(tokio::spawn(read_tail(out, out_buf.clone(), keep)));
    }
    if let Some(err) = child.stderr.take() {
        readers.push(tokio::spawn(read_tail(err, err_buf.clone(), keep)));
    }
    let pid = child.id();
    // Callers bound the timeout; the fallback times out at once rather than panic.
    let deadline = started.checked_add(timeout).unwrap_or(started);
    let mut run = Captured::default();
    match timeout_at(deadline, child.wait()).await {
        Ok(Ok(status)) => run.exit_code = status.code(),
        Ok(Err(e)) => run.wait_error = Some(e.to_string()),
        Err(_) => {
            run.timed_out = true;
            kill_group(pid, &mut child).await;
        }
    }
    // Background children may keep the pipes open after the program exited: give the
    // readers a moment, then kill what is left of the process group.
    let grace = Instant::now() + Duration::from_secs(1);
    let mut lingering = false;
    for r in &mut readers {
        if timeout_at(grace, &mut *r).await.is_err() {
            lingering = true;
        }
    }
    if lingering {
        kill_group(pid, &mut child).await;
        for r in readers {
            r.abort();
        }
    }
    run.stdout_tail = tail_text(&out_buf, keep);
    run.stderr_tail = tail_text(&err_buf, keep);
    run.duration = started.elapsed();
    Ok(run)
}

async fn read_tail<R: AsyncRead + Unpin>(mut r: R, buf: Arc<Mutex<Vec<u8>>>, keep: usize) {
    let mut chunk = [0u8; 8192];
    loop {
        match r.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                let mut b = buf.lock().unwrap_or_else(|e| e.into_inner());
                b.extend_from_slice(&chunk[..n]);
                if b.len() > keep.saturating_mul(2).max(8192) {
                    let cut = b.len() - keep;
                    b.drain(..cut);
                }
            }
        }
    }
}

fn tail_text(buf: &Mutex<Vec<u8>>, keep: usize) -> String {
    let b = buf.lock().unwrap_or_else(|e| e.into_inner());
    let start = b.len().saturating_sub(keep);
    String::from_utf8_lossy(&b[start..]).into_owned()
}

/// Kills the process group `pid` leads (the child was spawned with `process_group(0)`) with
/// `kill -KILL -- -pid`, then the child itself, and reaps it (waiting at most 1 s).
pub(crate) async fn kill_group(pid: Option<u32>, child: &mut tokio::process::Child) {
    #[cfg(unix)]
    if let Some(pid) = pid {
        // The child leads its own process group (process_group(0)), so -pid names it.
        let _ = tokio::process::Command::new("kill")
            .args(["-s", "KILL", "--", &format!("-{pid}")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .await;
    }
    #[cfg(not(unix))]
    let _ = pid;
    let _ = child.start_kill();
    let _ = timeout_at(Instant::now() + Duration::from_secs(1), child.wait()).await;
}
