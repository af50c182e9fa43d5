use super::{Entry, Journal, JournalError};
use async_trait::async_trait;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// A journal in one file of JSON lines, one per entry: `CRC32HEX {"seq":N,"payload":...}\n`.
///
/// - **One writer.** Opening takes an exclusive `flock` on the file (released when the
///   journal is dropped or its process dies) and records the holder (process id, host,
///   time) in a sidecar `<file>.holder`; a second opener, in this process or another, gets
///   [`JournalError::Locked`] naming that holder. The file is opened with `O_APPEND`.
/// - **Opening** scans the file as bytes. Only an *unterminated* last line is a torn tail
///   (a crash mid-append, never acknowledged): it is dropped with a warning and cut off.
///   Any complete line that is damaged (checksum, UTF-8, JSON, sequence), the last one
///   included, is [`JournalError::Corrupt`] naming the line, and the file is left as it is.
/// - **Appending** writes the line and `fsync`s it (`fdatasync`; skipped with
///   [`FileJournal::without_fsync`]) before returning `Ok`. If the write or the `fsync`
///   fails (a full disk), the file is cut back to its length before the append (and
///   synced), so nothing half-written stays to be glued onto the next append; if even that
///   fails, the journal is poisoned: every later append returns
///   [`JournalError::Poisoned`] until the journal is reopened.
/// - **Durability and permissions.** A new journal (and its sidecar) is created with mode
///   `0600`, and its folder is `fsync`ed so the file itself survives a power loss.
///
/// File operations go through [`FileOps`], so tests can inject failures
/// ([`FileJournal::open_with_ops`]).
///
/// ```
/// # tokio_test_block(async {
/// use shipcore::journal::{FileJournal, Journal};
/// let dir = std::env::temp_dir().join(format!("shipcore-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir).unwrap();
/// let j = FileJournal::open(dir.join("r1.jsonl")).unwrap();
/// j.append(&serde_json::json!({"hello": 1})).await.unwrap();
/// assert_eq!(j.read_all().await.unwrap().len(), 1);
/// // One writer at a time.
/// assert!(FileJournal::open(dir.join("r1.jsonl")).is_err());
/// # drop(j);
/// # std::fs::remove_dir_all(&dir).unwrap();
/// # });
/// # fn tokio_test_block<F: std::future::Future>(f: F) -> F::Output {
/// #     tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f) }
/// ```
#[derive(Debug)]
pub struct FileJournal {
    path: PathBuf,
    holder_path: PathBuf,
    inner: Mutex<Inner>,
    ops: Arc<dyn FileOps>,
    fsync: bool,
}

#[derive(Debug)]
struct Inner {
    file: File,
    next_seq: u64,
    /// Bytes of acknowledged entries: the file's length after the last good append.
    len: u64,
    /// Set when a failed append could not be undone: why appends are refused.
    poisoned: Option<String>,
}

/// The file operations a [`FileJournal`] performs, so that tests can make any of them fail
/// (a full disk, a failing `fsync`) on a real file. Every method has the real operation as
/// its default: implement only the ones to interfere with and delegate to [`OsFileOps`]'
/// behaviour otherwise.
pub trait FileOps: Send + Sync + std::fmt::Debug {
    /// Writes some of `buf` at the end of `file` (opened with `O_APPEND`) and returns how
    /// many bytes it wrote, as [`Write::write`]: a full disk may write part and fail later.
    fn write(&self, file: &mut File, buf: &[u8]) -> std::io::Result<usize> {
        file.write(buf)
    }
    /// Makes the data written so far durable (`fdatasync`).
    fn sync_data(&self, file: &File) -> std::io::Result<()> {
        file.sync_data()
    }
    /// Cuts `file` to `len` bytes.
    fn set_len(&self, file: &File, len: u64) -> std::io::Result<()> {
        file.set_len(len)
    }
    /// Makes a folder's entries durable (after creating a file in it).
    fn sync_dir(&self, dir: &Path) -> std::io::Result<()> {
        File::open(dir)?.sync_all()
    }
}

/// The real file operations (every [`FileOps`] default).
#[derive(Debug, Default, Clone, Copy)]
pub struct OsFileOps;

impl FileOps for OsFileOps {}

fn io_err(path: &Path) -> impl Fn(std::io::Error) -> JournalError + '_ {
    move |source| JournalError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Parses one complete line (without its newline).
fn parse_line(line: &[u8]) -> Result<Entry, String> {
    let space = line
        .iter()
        .position(|&b| b == b' ')
        .ok_or("no checksum separator")?;
    let (crc_hex, body) = (&line[..space], &line[space + 1..]);
    let crc = std::str::from_utf8(crc_hex)
        .ok()
        .and_then(|h| u32::from_str_radix(h, 16).ok())
        .ok_or("checksum is not hex")?;
    if let Err(e) = std::str::from_utf8(body) {
        return Err(format!(
            "not UTF-8 (byte {} of the line)",
            space + 1 + e.valid_up_to() + 1
        ));
    }
    if crc32fast::hash(body) != crc {
        return Err("checksum mismatch".into());
    }
    serde_json::from_slice(body).map_err(|e| format!("bad JSON: {e}"))
}

/// Creates `path` (mode 0600) or opens it as it is; true when it was created.
fn open_file(path: &Path) -> std::io::Result<(File, bool)> {
    let mut opts = OpenOptions::new();
    opts.read(true).append(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    match opts.clone().create_new(true).open(path) {
        Ok(f) => Ok((f, true)),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok((opts.open(path)?, false)),
        Err(e) => Err(e),
    }
}

/// Takes the exclusive lock without waiting; false when someone else holds it.
#[cfg(unix)]
fn try_lock(file: &File) -> std::io::Result<bool> {
    use rustix::fs::{flock, FlockOperation};
    match flock(file, FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => Ok(true),
        Err(e) if e == rustix::io::Errno::WOULDBLOCK => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// Without `flock` (not Unix) there is no lock: one writer is the caller's to ensure.
#[cfg(not(unix))]
fn try_lock(_file: &File) -> std::io::Result<bool> {
    Ok(true)
}

fn host_name() -> String {
    ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .find_map(|p| {
            let name = std::fs::read_to_string(p).ok()?;
            let name = name.trim();
            (!name.is_empty()).then(|| name.to_string())
        })
        .unwrap_or_else(|| "an unknown host".into())
}

fn holder_path(path: &Path) -> PathBuf {
    let mut p = path.as_os_str().to_owned();
    p.push(".holder");
    PathBuf::from(p)
}

/// Who holds the journal, from its sidecar.
fn read_holder(holder_path: &Path) -> String {
    match std::fs::read_to_string(holder_path) {
        Ok(text) if !text.trim().is_empty() => {
            format!("held by {}", text.trim())
        }
        Ok(_) => "holder not recorded yet".into(),
        Err(e) => format!("holder unknown: {}: {e}", holder_path.display()),
    }
}

/// Records this process as the holder (best effort: the lock, not this file, is what
/// excludes other writers).
fn write_holder(holder_path: &Path) {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let text = format!(
        "pid {} on {} since unix time {since}\n",
        std::process::id(),
        host_name()
    );
    let mut opts = OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    if let Err(e) = opts
        .open(holder_path)
        .and_then(|mut f| f.write_all(text.as_bytes()))
    {
        tracing::warn!(path = %holder_path.display(), error = %e, "could not record the journal's holder");
    }
}

/// Writes all of `buf` through `ops`, as [`Write::write_all`].
fn write_all(ops: &dyn FileOps, file: &mut File, mut buf: &[u8]) -> std::io::Result<()> {
    while !buf.is_empty() {
        match ops.write(file, buf) {
            Ok(0) => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::WriteZero,
                    "the file took no more bytes",
                ))
            }
            Ok(n) => buf = &buf[n.min(buf.len())..],
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

impl FileJournal {
    /// Opens (or creates) the journal at `path`: takes the writer's lock, checks every line
    /// and cuts off a torn (unterminated) last line.
    ///
    /// # Errors
    /// [`JournalError::Locked`] if another writer holds it, [`JournalError::Corrupt`] naming
    /// the first damaged complete line, [`JournalError::Io`] if the file cannot be used.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, JournalError> {
        Self::open_with_ops(path, Arc::new(OsFileOps))
    }

    /// [`FileJournal::open`] performing file operations through `ops` (to inject faults in
    /// tests).
    ///
    /// # Errors
    /// As [`FileJournal::open`].
    pub fn open_with_ops(
        path: impl AsRef<Path>,
        ops: Arc<dyn FileOps>,
    ) -> Result<Self, JournalError> {
        let path = path.as_ref().to_path_buf();
        let dir = path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .map(Path::to_path_buf);
        if let Some(dir) = &dir {
            std::fs::create_dir_all(dir).map_err(io_err(&path))?;
        }
        let (file, created) = open_file(&path).map_err(io_err(&path))?;
        let holder_path = holder_path(&path);
        // The lock comes first: the torn tail of a journal that another process is writing
        // is that process's append in progress, not ours to cut.
        if !try_lock(&file).map_err(io_err(&path))? {
            return Err(JournalError::Locked {
                path: path.display().to_string(),
                holder: read_holder(&holder_path),
            });
        }
        if created {
            let dir = dir.unwrap_or_else(|| PathBuf::from("."));
            ops.sync_dir(&dir).map_err(io_err(&dir))?;
        }
        write_holder(&holder_path);
        let scan = scan(&path, &file, None)?;
        let len = file.metadata().map_err(io_err(&path))?.len();
        if scan.good_len < len {
            tracing::warn!(path = %path.display(), dropped_bytes = len - scan.good_len, "journal had a torn (unterminated) last line, never acknowledged; dropped it");
            ops.set_len(&file, scan.good_len)
                .and_then(|()| ops.sync_data(&file))
                .map_err(io_err(&path))?;
        }
        let next_seq = scan.entries.len() as u64;
        Ok(FileJournal {
            path,
            holder_path,
            inner: Mutex::new(Inner {
                file,
                next_seq,
                len: scan.good_len,
                poisoned: None,
            }),
            ops,
            fsync: true,
        })
    }

    /// Skips `fsync` after each append (still written to the OS before returning: survives
    /// a killed process, not a power loss). For tests and simulations.
    #[must_use]
    pub fn without_fsync(mut self) -> Self {
        self.fsync = false;
        self
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The sidecar file that names the journal's current holder.
    pub fn holder_path(&self) -> &Path {
        &self.holder_path
    }

    fn lock_inner(&self) -> Result<std::sync::MutexGuard<'_, Inner>, JournalError> {
        self.inner
            .lock()
            .map_err(|_| JournalError::Codec("journal lock poisoned".into()))
    }
}

impl Drop for FileJournal {
    fn drop(&mut self) {
        // Still holding the lock here, so the sidecar is ours to remove.
        let _ = std::fs::remove_file(&self.holder_path);
    }
}

/// What a scan found.
struct Scan {
    entries: Vec<Entry>,
    /// Bytes of complete, intact lines (all of them: damage is an error).
    good_len: u64,
}

/// Reads every complete line (of the first `limit` bytes, or all) as bytes; a damaged
/// complete line is an error naming it, an unterminated last line is left out.
fn scan(path: &Path, file: &File, limit: Option<u64>) -> Result<Scan, JournalError> {
    let mut handle = file;
    handle.seek(SeekFrom::Start(0)).map_err(io_err(path))?;
    let mut reader = BufReader::new(handle.take(limit.unwrap_or(u64::MAX)));
    let mut entries = Vec::new();
    let mut good_len = 0u64;
    let mut buf = Vec::new();
    let mut lineno = 0usize;
    loop {
        buf.clear();
        let n = reader.read_until(b'\n', &mut buf).map_err(io_err(path))?;
        if n == 0 || buf.last() != Some(&b'\n') {
            // End of file, or an unterminated last line: a torn append.
            break;
        }
        lineno += 1;
        let corrupt = |problem: String| JournalError::Corrupt {
            path: path.display().to_string(),
            line: lineno,
            problem,
        };
        let entry = parse_line(&buf[..n - 1]).map_err(corrupt)?;
        if entry.seq != entries.len() as u64 {
            return Err(corrupt(format!(
                "sequence {} where {} was expected",
                entry.seq,
                entries.len()
            )));
        }
        entries.push(entry);
        good_len += n as u64;
    }
    Ok(Scan { entries, good_len })
}

#[async_trait]
impl Journal for FileJournal {
    async fn append(&self, payload: &serde_json::Value) -> Result<u64, JournalError> {
        let mut inner = self.lock_inner()?;
        if let Some(problem) = &inner.poisoned {
            return Err(JournalError::Poisoned {
                path: self.path.display().to_string(),
                problem: problem.clone(),
            });
        }
        let seq = inner.next_seq;
        let body = serde_json::to_string(&Entry {
            seq,
            payload: payload.clone(),
        })
        .map_err(|e| JournalError::Codec(e.to_string()))?;
        let line = format!("{:08x} {}\n", crc32fast::hash(body.as_bytes()), body);
        let ops = &*self.ops;
        let before = inner.len;
        let written = write_all(ops, &mut inner.file, line.as_bytes()).and_then(|()| {
            if self.fsync {
                ops.sync_data(&inner.file)
            } else {
                Ok(())
            }
        });
        if let Err(e) = written {
            // Nothing of a failed append may stay: a partial line would be glued onto the
            // next append and make it (or the whole journal) unreadable.
            let undone = ops.set_len(&inner.file, before).and_then(|()| {
                if self.fsync {
                    ops.sync_data(&inner.file)
                } else {
                    Ok(())
                }
            });
            if let Err(undo) = undone {
                tracing::error!(path = %self.path.display(), error = %e, undo_error = %undo, "journal append failed and could not be undone; refusing appends until reopened");
                inner.poisoned = Some(format!(
                    "an append failed ({e}) and cutting the file back to its last \
                     acknowledged entry (byte {before}) failed too ({undo})"
                ));
            }
            return Err(io_err(&self.path)(e));
        }
        inner.len += line.len() as u64;
        inner.next_seq += 1;
        Ok(seq)
    }

    async fn read_all(&self) -> Result<Vec<Entry>, JournalError> {
        let inner = self.lock_inner()?;
        Ok(scan(&self.path, &inner.file, Some(inner.len))?.entries)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
    }

    #[test]
    fn appends_and_reopens() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("j.jsonl");
        rt().block_on(async {
            let j = FileJournal::open(&p).unwrap().without_fsync();
            for i in 0..5 {
                assert_eq!(j.append(&json!({ "i": i })).await.unwrap(), i);
            }
            drop(j);
            let j = FileJournal::open(&p).unwrap();
            let all = j.read_all().await.unwrap();
            assert_eq!(all.len(), 5);
            assert_eq!(all[4].payload, json!({"i": 4}));
            assert_eq!(j.append(&json!("next")).await.unwrap(), 5);
        });
    }

    #[test]
    fn torn_last_line_is_dropped_and_cut() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("j.jsonl");
        rt().block_on(async {
            let j = FileJournal::open(&p).unwrap();
            j.append(&json!(1)).await.unwrap();
            j.append(&json!(2)).await.unwrap();
        });
        let full = std::fs::read(&p).unwrap();
        // Cut the last line in half, as a crash mid-write would.
        let cut = full.len() - 7;
        std::fs::write(&p, &full[..cut]).unwrap();
        rt().block_on(async {
            let j = FileJournal::open(&p).unwrap();
            let all = j.read_all().await.unwrap();
            assert_eq!(all.len(), 1);
            assert_eq!(j.append(&json!(3)).await.unwrap(), 1);
            let all = j.read_all().await.unwrap();
            assert_eq!(
                all.iter().map(|e| e.payload.clone()).collect::<Vec<_>>(),
                vec![json!(1), json!(3)]
            );
        });
    }

    #[test]
    fn damage_in_the_middle_is_an_error_naming_the_line() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("j.jsonl");
        rt().block_on(async {
            let j = FileJournal::open(&p).unwrap();
            for i in 0..3 {
                j.append(&json!(i)).await.unwrap();
            }
        });
        let text = std::fs::read_to_string(&p).unwrap();
        let damaged = text.replacen("\"payload\":1", "\"payload\":7", 1);
        std::fs::write(&p, damaged).unwrap();
        let err = FileJournal::open(&p).unwrap_err();
        match err {
            JournalError::Corrupt { line, problem, .. } => {
                assert_eq!(line, 2);
                assert!(problem.contains("checksum"), "{problem}");
            }
            other => panic!("expected Corrupt, got {other}"),
        }
    }
}
