//! Deployment history: a folder of records, one `<rollout id>.json` file each, written
//! atomically (temporary file with mode 0600, fsync, rename, fsync of the folder), listed
//! per service and environment newest first. Blocking file I/O: from async code, call it
//! in `tokio::task::spawn_blocking` or accept the short block.

use super::deployment::{DeploymentRecord, DeploymentStatus};
use super::RecordError;
use crate::time::Timestamp;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// A folder of deployment records.
///
/// ```no_run
/// use shipcore::record::RecordStore;
/// let store = RecordStore::open("/var/lib/shipcore/records")?;
/// for r in store.list(Some("web"), Some("production"))? {
///     println!("{} {} {}", r.deployed_at, r.version, r.status.as_str());
/// }
/// # Ok::<(), shipcore::record::RecordError>(())
/// ```
#[derive(Debug, Clone)]
pub struct RecordStore {
    dir: PathBuf,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> RecordError + '_ {
    move |source| RecordError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn check_id(id: &str) -> Result<(), RecordError> {
    let bad = |problem: &str| {
        Err(RecordError::InvalidId {
            id: id.to_string(),
            problem: problem.to_string(),
        })
    };
    if id.is_empty() {
        return bad("must not be empty");
    }
    if id.len() > 200 {
        return bad("must be at most 200 characters");
    }
    if id.starts_with('.') {
        return bad("must not start with '.'");
    }
    if !id
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return bad("must use only letters, digits, '-', '_', '.'");
    }
    Ok(())
}

impl RecordStore {
    /// Opens (creating if needed) the folder `dir`.
    pub fn open(dir: impl AsRef<Path>) -> Result<Self, RecordError> {
        let dir = dir.as_ref().to_path_buf();
        fs::create_dir_all(&dir).map_err(io(&dir))?;
        Ok(RecordStore { dir })
    }

    /// The folder the records are kept in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The file that holds (or would hold) record `id`.
    pub fn path_of(&self, id: &str) -> Result<PathBuf, RecordError> {
        check_id(id)?;
        Ok(self.dir.join(format!("{id}.json")))
    }

    /// Writes `record` atomically, replacing an earlier version of the same id; a new file is
    /// readable and writable by its owner only (mode 0600). Returns the file's path.
    pub fn save(&self, record: &DeploymentRecord) -> Result<PathBuf, RecordError> {
        let path = self.path_of(&record.id)?;
        let json = record.to_json()?;
        let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
        let tmp = self.dir.join(format!(
            ".{}.json.tmp.{}.{n}",
            record.id,
            std::process::id()
        ));
        let write = || -> std::io::Result<()> {
            let mut opts = fs::OpenOptions::new();
            opts.write(true).create(true).truncate(true);
            // Records name people, tickets and versions: readable by their owner only.
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
            let mut f = opts.open(&tmp)?;
            f.write_all(json.as_bytes())?;
            f.write_all(b"\n")?;
            f.sync_all()
        };
        if let Err(e) = write() {
            // Best effort: a stray temporary file is ignored by listings anyway.
            let _ = fs::remove_file(&tmp);
            return Err(io(&tmp)(e));
        }
        fs::rename(&tmp, &path).map_err(io(&path))?;
        fs::File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(io(&self.dir))?;
        Ok(path)
    }

    /// Reads record `id`. A file that is not a valid record gives [`RecordError::Damaged`]
    /// naming it.
    pub fn load(&self, id: &str) -> Result<DeploymentRecord, RecordError> {
        let path = self.path_of(id)?;
        match fs::read_to_string(&path) {
            Ok(text) => Self::decode(&path, &text, Some(id)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(RecordError::NotFound {
                id: id.to_string(),
                dir: self.dir.clone(),
            }),
            Err(e) => Err(io(&path)(e)),
        }
    }

    fn decode(path: &Path, text: &str, id: Option<&str>) -> Result<DeploymentRecord, RecordError> {
        let damaged = |problem: String| RecordError::Damaged {
            path: path.to_path_buf(),
            problem,
        };
        let record: DeploymentRecord =
            serde_json::from_str(text).map_err(|e| damaged(e.to_string()))?;
        if let Some(id) = id {
            if record.id != id {
                return Err(damaged(format!(
                    "it holds record {:?}, not {id:?}",
                    record.id
                )));
            }
        }
        if let Err(problem) = super::time_fmt::parse_iso8601(&record.deployed_at) {
            return Err(damaged(format!("deployedAt: {problem}")));
        }
        Ok(record)
    }

    /// Every record, newest first (by `deployedAt`, then by id). Temporary and non-JSON
    /// files are skipped; a damaged record file is an error naming it.
    pub fn all(&self) -> Result<Vec<DeploymentRecord>, RecordError> {
        let mut out = Vec::new();
        for entry in fs::read_dir(&self.dir).map_err(io(&self.dir))? {
            let entry = entry.map_err(io(&self.dir))?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            let Some(id) = name.strip_suffix(".json") else {
                continue;
            };
            if name.starts_with('.') || !entry.file_type().map(|t| t.is_file()).unwrap_or(false) {
                continue;
            }
            let path = entry.path();
            let text = fs::read_to_string(&path).map_err(io(&path))?;
            out.push(Self::decode(&path, &text, Some(id))?);
        }
        let key = |r: &DeploymentRecord| r.deployed_at_ms().unwrap_or(Timestamp::ZERO);
        out.sort_by(|a, b| key(b).cmp(&key(a)).then_with(|| b.id.cmp(&a.id)));
        Ok(out)
    }

    /// Records of a service and/or environment (`None` matches any), newest first.
    pub fn list(
        &self,
        service: Option<&str>,
        environment: Option<&str>,
    ) -> Result<Vec<DeploymentRecord>, RecordError> {
        let mut all = self.all()?;
        all.retain(|r| {
            service.map_or(true, |s| r.service == s)
                && environment.map_or(true, |e| r.environment == e)
        });
        Ok(all)
    }

    /// The newest successful deployment of `service` in `environment`; with `before`, the
    /// newest one deployed strictly before record `before` (which must exist).
    pub fn previous_successful(
        &self,
        service: &str,
        environment: &str,
        before: Option<&str>,
    ) -> Result<Option<DeploymentRecord>, RecordError> {
        let limit = match before {
            Some(id) => Some(self.load(id)?.deployed_at_ms().unwrap_or(Timestamp::ZERO)),
            None => None,
        };
        let found = self
            .list(Some(service), Some(environment))?
            .into_iter()
            .find(|r| {
                r.status == DeploymentStatus::Success
                    && Some(r.id.as_str()) != before
                    && limit.map_or(true, |l| r.deployed_at_ms().is_some_and(|t| t < l))
            });
        Ok(found)
    }

    /// The version of [`previous_successful`](Self::previous_successful).
    pub fn previous_successful_version(
        &self,
        service: &str,
        environment: &str,
        before: Option<&str>,
    ) -> Result<Option<String>, RecordError> {
        Ok(self
            .previous_successful(service, environment, before)?
            .map(|r| r.version))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn ids_that_cannot_name_a_file_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let store = RecordStore::open(dir.path()).unwrap();
        for id in ["", "../etc/passwd", ".hidden", "a/b", "x y"] {
            let err = store.path_of(id).unwrap_err();
            assert!(
                matches!(err, RecordError::InvalidId { .. }),
                "{id:?}: {err}"
            );
        }
        assert!(matches!(
            store.load("missing"),
            Err(RecordError::NotFound { .. })
        ));
    }
}
