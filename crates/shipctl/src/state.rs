//! The state directory: per rollout a copy of its file, its journal and its control socket;
//! the deployment records (history); the revisions shipctl has deployed (so `stable:
//! observed` knows their versions); and the simulator's platform.

use serde::{Deserialize, Serialize};
use shipcore::model::Revision;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Where shipctl keeps what outlives a process.
#[derive(Debug, Clone)]
pub struct StateDir {
    dir: PathBuf,
}

/// A state directory problem.
#[derive(Debug, thiserror::Error)]
#[error("state directory {path}: {message}")]
pub struct StateError {
    /// The file or folder.
    pub path: String,
    /// What went wrong.
    pub message: String,
}

fn err(path: &Path, e: impl std::fmt::Display) -> StateError {
    StateError {
        path: path.display().to_string(),
        message: e.to_string(),
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Known {
    revisions: BTreeMap<String, Revision>,
}

/// The default state directory, relative to the current directory.
pub const DEFAULT_DIR: &str = ".shipctl";

impl StateDir {
    /// The state directory at `dir` (not created until something is written).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        StateDir { dir: dir.into() }
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The simulator's platform.
    pub fn sim_path(&self) -> PathBuf {
        self.dir.join("sim.json")
    }

    /// The deployment records.
    pub fn records_dir(&self) -> PathBuf {
        self.dir.join("records")
    }

    /// The folder of rollout `id`.
    pub fn rollout_dir(&self, id: &str) -> PathBuf {
        self.dir.join("rollouts").join(id)
    }

    /// The journal of rollout `id`.
    pub fn journal_path(&self, id: &str) -> PathBuf {
        self.rollout_dir(id).join("journal.jsonl")
    }

    /// The control socket of rollout `id`.
    pub fn socket_path(&self, id: &str) -> PathBuf {
        self.rollout_dir(id).join("control.sock")
    }

    /// The copy of the rollout file `id` was started from (what `resume` rebuilds from).
    pub fn file_copy(&self, id: &str) -> PathBuf {
        self.rollout_dir(id).join("rollout.yaml")
    }

    /// The folder the original file's relative paths are relative to (written beside the
    /// copy, read by `resume`).
    pub fn base_path(&self, id: &str) -> PathBuf {
        self.rollout_dir(id).join("base_dir")
    }

    /// The ids of the rollouts in this directory, sorted.
    pub fn rollout_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = std::fs::read_dir(self.dir.join("rollouts"))
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| e.file_name().into_string().ok())
            .collect();
        ids.sort();
        ids
    }

    /// Creates the folder of rollout `id` (mode 0700: it holds the control socket).
    pub fn create_rollout_dir(&self, id: &str) -> Result<PathBuf, StateError> {
        let dir = self.rollout_dir(id);
        std::fs::create_dir_all(&dir).map_err(|e| err(&dir, e))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))
                .map_err(|e| err(&dir, e))?;
        }
        Ok(dir)
    }

    fn known_path(&self) -> PathBuf {
        self.dir.join("revisions.json")
    }

    fn known(&self) -> Known {
        std::fs::read(self.known_path())
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default()
    }

    /// A revision shipctl has deployed from this directory, by id.
    pub fn revision(&self, id: &str) -> Option<Revision> {
        self.known().revisions.remove(id)
    }

    /// Remembers `revisions` (written to a temporary file, then renamed).
    pub fn remember(&self, revisions: &[&Revision]) -> Result<(), StateError> {
        let mut known = self.known();
        for r in revisions {
            known
                .revisions
                .insert(r.id.as_str().to_string(), (*r).clone());
        }
        let path = self.known_path();
        std::fs::create_dir_all(&self.dir).map_err(|e| err(&self.dir, e))?;
        let tmp = path.with_extension("json.tmp");
        let text = serde_json::to_vec_pretty(&known).map_err(|e| err(&path, e))?;
        std::fs::write(&tmp, text).map_err(|e| err(&tmp, e))?;
        std::fs::rename(&tmp, &path).map_err(|e| err(&path, e))
    }
}
