//! Control from another shell: a running `shipctl run` listens on a Unix socket in its
//! rollout's state folder (mode 0600, in a 0700 folder; peers with another uid are refused).
//! The protocol is one JSON object per line each way: a [`Request`], then a [`Reply`].
//! Every command goes through the engine's `RolloutHandle`, so the engine journals it.

use crate::exit::CliError;
use serde::{Deserialize, Serialize};
use shipcore::engine::{Command, RolloutHandle, RolloutStatus};
use std::path::{Path, PathBuf};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};

/// What a client asks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "request", rename_all = "snake_case", deny_unknown_fields)]
pub enum Request {
    /// Where the rollout stands.
    Status,
    /// Send an operator command (`promote`, `abort`, `pause`, `resume`, `retry`, `approve`).
    Command {
        /// The command, as the engine journals it.
        command: Command,
    },
}

/// The answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reply {
    /// Whether the request was carried out (a command: handed to the engine).
    pub ok: bool,
    /// Where the rollout stands after it.
    #[serde(default)]
    pub status: Option<RolloutStatus>,
    /// Why not.
    #[serde(default)]
    pub error: Option<String>,
}

/// Longest request line read (a request is a few dozen bytes).
const MAX_LINE: usize = 4096;

/// A listening control socket; removed when dropped.
#[derive(Debug)]
pub struct Server {
    path: PathBuf,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
        let _ = std::fs::remove_file(&self.path);
    }
}

fn owner_uid(path: &Path) -> std::io::Result<u32> {
    use std::os::unix::fs::MetadataExt;
    Ok(std::fs::metadata(path)?.uid())
}

/// Checks that a socket can be made at `path` (sun_path holds 108 bytes with its NUL).
pub fn check_path(path: &Path) -> Result<(), CliError> {
    let len = path.as_os_str().len();
    if len > 107 {
        return Err(CliError::Usage(format!(
            "the control socket {} is {len} bytes long, more than the 107 a Unix socket \
             path may have: use a shorter --state-dir; nothing was started",
            path.display()
        )));
    }
    Ok(())
}

/// Listens at `path` for commands to the rollout behind `handle`. A socket left by a killed
/// run is replaced; one a live run answers on is refused.
pub async fn serve(path: &Path, handle: RolloutHandle) -> Result<Server, CliError> {
    let shown = path.display().to_string();
    if path.exists() {
        if UnixStream::connect(path).await.is_ok() {
            return Err(CliError::Usage(format!(
                "another shipctl run is listening on {shown}: this rollout is already running"
            )));
        }
        std::fs::remove_file(path)
            .map_err(|e| CliError::Run(format!("cannot remove the stale socket {shown}: {e}")))?;
    }
    check_path(path)?;
    let listener = UnixListener::bind(path).map_err(|e| {
        CliError::Usage(format!(
            "cannot listen on {shown}: {e}; nothing was started"
        ))
    })?;
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
            .map_err(|e| CliError::Run(format!("cannot restrict {shown} to mode 0600: {e}")))?;
    }
    // The socket is ours: its owner is this process's user, the only peer accepted.
    let uid = owner_uid(path).map_err(|e| CliError::Run(format!("{shown}: {e}")))?;
    let task = tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let handle = handle.clone();
            tokio::spawn(async move {
                let _ = answer(stream, handle, uid).await;
            });
        }
    });
    Ok(Server {
        path: path.to_path_buf(),
        task,
    })
}

async fn answer(stream: UnixStream, handle: RolloutHandle, uid: u32) -> std::io::Result<()> {
    let peer = stream.peer_cred()?;
    let (read, mut write) = stream.into_split();
    // The request is read in every case, so a refused client gets the answer, not a
    // broken pipe; it is acted on only for the owner.
    let mut line = String::new();
    BufReader::new(read.take(MAX_LINE as u64))
        .read_line(&mut line)
        .await?;
    let reply = if peer.uid() != uid {
        Reply {
            ok: false,
            status: None,
            error: Some(format!(
                "refused: uid {} is not the uid {uid} running this rollout",
                peer.uid()
            )),
        }
    } else {
        handle_request(&line, &handle)
    };
    let mut text = serde_json::to_string(&reply).unwrap_or_else(|_| "{\"ok\":false}".into());
    text.push('\n');
    write.write_all(text.as_bytes()).await?;
    write.shutdown().await
}

fn handle_request(line: &str, handle: &RolloutHandle) -> Reply {
    let request: Request = match serde_json::from_str(line.trim()) {
        Ok(r) => r,
        Err(e) => {
            return Reply {
                ok: false,
                status: None,
                error: Some(format!("bad request: {e}")),
            }
        }
    };
    match request {
        Request::Status => Reply {
            ok: true,
            status: Some(handle.status()),
            error: None,
        },
        Request::Command { command } => match handle.send(command) {
            Ok(()) => Reply {
                ok: true,
                status: Some(handle.status()),
                error: None,
            },
            Err(e) => Reply {
                ok: false,
                status: Some(handle.status()),
                error: Some(format!("the rollout no longer takes commands: {e:?}")),
            },
        },
    }
}

/// Sends `request` to the run listening at `path`.
pub async fn ask(id: &str, path: &Path, request: &Request) -> Result<Reply, CliError> {
    let not_listening = |why: String| {
        CliError::NotListening(format!(
            "no shipctl run is listening for rollout {id} ({why}): it has finished or was \
             stopped; `shipctl status {id}` shows where it ended, `shipctl resume {id}` \
             continues an interrupted one"
        ))
    };
    let mut stream = match UnixStream::connect(path).await {
        Ok(s) => s,
        Err(e) => return Err(not_listening(format!("{}: {e}", path.display()))),
    };
    let mut text = serde_json::to_string(request).map_err(|e| CliError::Run(e.to_string()))?;
    text.push('\n');
    stream
        .write_all(text.as_bytes())
        .await
        .map_err(|e| not_listening(e.to_string()))?;
    let mut line = String::new();
    BufReader::new(stream.take(1 << 20))
        .read_line(&mut line)
        .await
        .map_err(|e| not_listening(e.to_string()))?;
    if line.trim().is_empty() {
        return Err(not_listening("the socket closed without an answer".into()));
    }
    serde_json::from_str(line.trim())
        .map_err(|e| CliError::Run(format!("unreadable answer from {}: {e}", path.display())))
}

/// Whether a run answers at `path`.
pub async fn is_live(path: &Path) -> bool {
    UnixStream::connect(path).await.is_ok()
}
