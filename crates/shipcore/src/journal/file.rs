use super::{Entry, Journal, JournalError};
use async_trait::async_trait;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// A journal in one file of JSON lines, one per entry: `CRC32HEX {"seq":N,"payload":...}`.
///
/// Opening scans the file: a torn or damaged *last* line (a crash mid-write) is dropped with
/// a warning and cut off; damage anywhere else is [`JournalError::Corrupt`]. Each append is
/// written and flushed (and `fsync`ed unless [`FileJournal::without_fsync`]) before it returns.
///
/// ```
/// # tokio_test_block(async {
/// use shipcore::journal::{FileJournal, Journal};
/// let dir = std::env::temp_dir().join(format!("shipcore-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir).unwrap();
/// let j = FileJournal::open(dir.join("r1.jsonl")).unwrap();
/// j.append(&serde_json::json!({"hello": 1})).await.unwrap();
/// assert_eq!(j.read_all().await.unwrap().len(), 1);
/// # std::fs::remove_dir_all(&dir).unwrap();
/// # });
/// # fn tokio_test_block<F: std::future::Future>(f: F) -> F::Output {
/// #     tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f) }
/// ```
#[derive(Debug)]
pub struct FileJournal {
    path: PathBuf,
    inner: Mutex<Inner>,
    fsync: bool,
}

#[derive(Debug)]
struct Inner {
    file: File,
    next_seq: u64,
}

fn io_err(path: &Path) -> impl Fn(std::io::Error) -> JournalError + '_ {
    move |source| JournalError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Parses one line; `None` if it is damaged.
fn parse_line(line: &str) -> Result<Entry, String> {
    let (crc_hex, body) = line.split_once(' ').ok_or("no checksum separator")?;
    let crc = u32::from_str_radix(crc_hex, 16).map_err(|_| "checksum is not hex")?;
    if crc32fast::hash(body.as_bytes()) != crc {
        return Err("checksum mismatch".into());
    }
    serde_json::from_str(body).map_err(|e| format!("bad JSON: {e}"))
}

impl FileJournal {
    /// Opens (or creates) the journal at `path`, repairing a torn last line.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, JournalError> {
        let path = path.as_ref().to_path_buf();
        if let Some(dir) = path.parent() {
            if !dir.as_os_str().is_empty() {
                std::fs::create_dir_all(dir).map_err(io_err(&path))?;
            }
        }
        let mut file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&path)
            .map_err(io_err(&path))?;
        let (entries, good_len) = scan(&path, &file)?;
        let len = file.metadata().map_err(io_err(&path))?.len();
        if good_len < len {
            tracing::warn!(path = %path.display(), dropped_bytes = len - good_len, "journal had a torn last line; dropped it");
            file.set_len(good_len).map_err(io_err(&path))?;
        }
        file.seek(SeekFrom::End(0)).map_err(io_err(&path))?;
        let next_seq = entries.len() as u64;
        Ok(FileJournal {
            path,
            inner: Mutex::new(Inner { file, next_seq }),
            fsync: true,
        })
    }

    /// Skips `fsync` after each append (still written to the OS before returning: survives
    /// a killed process, not a power loss). For tests and simulations.
    pub fn without_fsync(mut self) -> Self {
        self.fsync = false;
        self
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Reads all intact entries and the byte length they occupy.
fn scan(path: &Path, file: &File) -> Result<(Vec<Entry>, u64), JournalError> {
    let mut reader = BufReader::new(file.try_clone().map_err(io_err(path))?);
    reader.seek(SeekFrom::Start(0)).map_err(io_err(path))?;
    let mut entries = Vec::new();
    let mut good_len = 0u64;
    let mut buf = String::new();
    let mut pending_damage: Option<(usize, String)> = None;
    let mut lineno = 0usize;
    loop {
        buf.clear();
        let n = match reader.read_line(&mut buf) {
            Ok(n) => n,
            // Invalid UTF-8: treat as damage at this line.
            Err(e) if e.kind() == std::io::ErrorKind::InvalidData => {
                pending_damage.get_or_insert((lineno + 1, "not UTF-8".into()));
                break;
            }
            Err(e) => return Err(io_err(path)(e)),
        };
        if n == 0 {
            break;
        }
        lineno += 1;
        if let Some((line, problem)) = pending_damage.take() {
            // A damaged line followed by more lines: not a torn tail.
            return Err(JournalError::Corrupt {
                path: path.display().to_string(),
                line,
                problem,
            });
        }
        let complete = buf.ends_with('\n');
        match parse_line(buf.trim_end_matches('\n')) {
            Ok(e) if complete => {
                if e.seq != entries.len() as u64 {
                    return Err(JournalError::Corrupt {
                        path: path.display().to_string(),
                        line: lineno,
                        problem: format!("sequence {} where {} was expected", e.seq, entries.len()),
                    });
                }
                entries.push(e);
                good_len += n as u64;
            }
            Ok(_) => pending_damage = Some((lineno, "last line has no newline".into())),
            Err(problem) => pending_damage = Some((lineno, problem)),
        }
    }
    Ok((entries, good_len))
}

#[async_trait]
impl Journal for FileJournal {
    async fn append(&self, payload: &serde_json::Value) -> Result<u64, JournalError> {
        let mut inner = self
            .inner
            .lock()
            .map_err(|_| JournalError::Codec("journal lock poisoned".into()))?;
        let seq = inner.next_seq;
        let body = serde_json::to_string(&Entry {
            seq,
            payload: payload.clone(),
        })
        .map_err(|e| JournalError::Codec(e.to_string()))?;
        let line = format!("{:08x} {}\n", crc32fast::hash(body.as_bytes()), body);
        inner
            .file
            .write_all(line.as_bytes())
            .map_err(io_err(&self.path))?;
        inner.file.flush().map_err(io_err(&self.path))?;
        if self.fsync {
            inner.file.sync_data().map_err(io_err(&self.path))?;
        }
        inner.next_seq += 1;
        Ok(seq)
    }

    async fn read_all(&self) -> Result<Vec<Entry>, JournalError> {
        let inner = self
            .inner
            .lock()
            .map_err(|_| JournalError::Codec("journal lock poisoned".into()))?;
        Ok(scan(&self.path, &inner.file)?.0)
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
