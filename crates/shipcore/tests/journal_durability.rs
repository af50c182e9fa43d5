//! The file journal under failure, with faults injected through `FileOps` on a real file:
//! a full disk mid-append, a failing `fsync`, an undo that fails too; damaged bytes on
//! open; a second writer; the files' permissions and the folder's `fsync`. (A real full
//! disk is in `journal_tmpfs.rs`; real kills in `crash_safety.rs`.)
#![allow(clippy::unwrap_used)]

use serde_json::{json, Value};
use shipcore::journal::{FileJournal, FileOps, Journal, JournalError};
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// Real file operations with switchable faults.
#[derive(Debug, Default)]
struct Faults {
    /// Bytes the "disk" still takes (None: unlimited). A write that does not fit writes
    /// what fits, as a real full disk does, and the next one fails with ENOSPC.
    space: Mutex<Option<usize>>,
    /// How many of the next `sync_data` calls fail.
    sync_failures: AtomicUsize,
    fail_set_len: AtomicBool,
    dir_syncs: Mutex<Vec<PathBuf>>,
}

fn enospc() -> std::io::Error {
    std::io::Error::from_raw_os_error(28)
}

impl FileOps for Faults {
    fn write(&self, file: &mut File, buf: &[u8]) -> std::io::Result<usize> {
        let mut space = self.space.lock().unwrap();
        match *space {
            None => file.write(buf),
            Some(0) => Err(enospc()),
            Some(n) => {
                let wrote = file.write(&buf[..n.min(buf.len())])?;
                *space = Some(n - wrote);
                Ok(wrote)
            }
        }
    }
    fn sync_data(&self, file: &File) -> std::io::Result<()> {
        let failing = self
            .sync_failures
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1));
        if failing.is_ok() {
            return Err(std::io::Error::other("injected fsync failure"));
        }
        file.sync_data()
    }
    fn set_len(&self, file: &File, len: u64) -> std::io::Result<()> {
        if self.fail_set_len.load(Ordering::SeqCst) {
            return Err(std::io::Error::other("injected truncate failure"));
        }
        file.set_len(len)
    }
    fn sync_dir(&self, dir: &Path) -> std::io::Result<()> {
        self.dir_syncs.lock().unwrap().push(dir.to_path_buf());
        File::open(dir)?.sync_all()
    }
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
}

fn payloads(path: &Path) -> Vec<Value> {
    let j = FileJournal::open(path).unwrap();
    let all = rt().block_on(j.read_all()).unwrap();
    for (i, e) in all.iter().enumerate() {
        assert_eq!(e.seq, i as u64);
    }
    all.into_iter().map(|e| e.payload).collect()
}

fn size(path: &Path) -> u64 {
    std::fs::metadata(path).unwrap().len()
}

#[test]
fn a_full_disk_mid_append_leaves_nothing_behind_and_later_appends_are_kept() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("j.jsonl");
    let faults = Arc::new(Faults::default());
    let j = FileJournal::open_with_ops(&path, faults.clone()).unwrap();
    let mut acked = Vec::new();
    rt().block_on(async {
        for i in 0..3 {
            acked.push(json!({ "i": i }));
            j.append(&acked[i]).await.unwrap();
        }
        let len = size(&path);
        // The disk fills 20 bytes into the next line; the runner retries twice.
        *faults.space.lock().unwrap() = Some(20);
        for _ in 0..3 {
            let err = j.append(&json!({"lost": true})).await.unwrap_err();
            assert!(matches!(err, JournalError::Io { .. }), "{err}");
            assert_eq!(size(&path), len, "a failed append left bytes behind");
        }
        // Space is freed: the next appends are acknowledged and must all survive.
        *faults.space.lock().unwrap() = None;
        for i in 3..5 {
            acked.push(json!({ "i": i }));
            assert_eq!(j.append(&acked[i]).await.unwrap(), i as u64);
        }
        assert_eq!(
            j.read_all().await.unwrap().len(),
            5,
            "read_all in the same process"
        );
    });
    drop(j);
    assert_eq!(payloads(&path), acked);
}

#[test]
fn a_failed_fsync_undoes_the_append_so_a_retry_is_not_a_duplicate() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("j.jsonl");
    let faults = Arc::new(Faults::default());
    let j = FileJournal::open_with_ops(&path, faults.clone()).unwrap();
    rt().block_on(async {
        j.append(&json!("a")).await.unwrap();
        let len = size(&path);
        faults.sync_failures.store(1, Ordering::SeqCst);
        // The whole line reached the file, but was not made durable: it must go.
        assert!(j.append(&json!("b")).await.is_err());
        assert_eq!(size(&path), len);
        assert_eq!(j.append(&json!("b")).await.unwrap(), 1);
    });
    drop(j);
    assert_eq!(payloads(&path), vec![json!("a"), json!("b")]);
}

#[test]
fn when_the_undo_fails_too_appends_are_refused_until_reopened() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("j.jsonl");
    let faults = Arc::new(Faults::default());
    let j = FileJournal::open_with_ops(&path, faults.clone()).unwrap();
    rt().block_on(async {
        j.append(&json!("a")).await.unwrap();
        *faults.space.lock().unwrap() = Some(20);
        faults.fail_set_len.store(true, Ordering::SeqCst);
        let first = j.append(&json!("b")).await.unwrap_err();
        assert!(matches!(first, JournalError::Io { .. }), "{first}");
        // Space is back, but the half line is still there: appending now would glue onto it.
        *faults.space.lock().unwrap() = None;
        faults.fail_set_len.store(false, Ordering::SeqCst);
        let err = j.append(&json!("c")).await.unwrap_err();
        match &err {
            JournalError::Poisoned { problem, .. } => {
                assert!(problem.contains("injected truncate failure"), "{problem}")
            }
            other => panic!("expected Poisoned, got {other}"),
        }
        assert!(err.to_string().contains("reopened"), "{err}");
        // What was acknowledged is still readable.
        assert_eq!(j.read_all().await.unwrap().len(), 1);
    });
    drop(j);
    // Reopening cuts the unacknowledged half line off; appends go on.
    let j = FileJournal::open(&path).unwrap();
    rt().block_on(async { assert_eq!(j.append(&json!("c")).await.unwrap(), 1) });
    drop(j);
    assert_eq!(payloads(&path), vec![json!("a"), json!("c")]);
}

/// The payload of entry `i` of [`journal_of`]: its lines are 52 bytes long.
fn step(i: usize) -> Value {
    json!(format!("step {i:015}"))
}

/// Writes `n` small entries and returns the file's bytes.
fn journal_of(path: &Path, n: usize) -> Vec<u8> {
    let j = FileJournal::open(path).unwrap().without_fsync();
    rt().block_on(async {
        for i in 0..n {
            j.append(&step(i)).await.unwrap();
        }
    });
    drop(j);
    std::fs::read(path).unwrap()
}

fn corrupt_line(path: &Path) -> (usize, String) {
    match FileJournal::open(path).unwrap_err() {
        JournalError::Corrupt { line, problem, .. } => (line, problem),
        other => panic!("expected Corrupt, got {other}"),
    }
}

#[test]
fn a_complete_last_line_with_a_bad_checksum_is_corruption_and_its_bytes_are_kept() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("j.jsonl");
    let mut bytes = journal_of(&path, 3);
    // Change a digit of the last line's payload; its newline stays.
    let at = bytes.len() - 4;
    assert_eq!(bytes[at], b'2');
    bytes[at] = b'7';
    std::fs::write(&path, &bytes).unwrap();
    let (line, problem) = corrupt_line(&path);
    assert_eq!(line, 3);
    assert!(problem.contains("checksum"), "{problem}");
    assert_eq!(std::fs::read(&path).unwrap(), bytes, "the file was changed");
}

#[test]
fn a_half_line_glued_onto_a_later_append_is_corruption_not_a_torn_tail() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("j.jsonl");
    let good = journal_of(&path, 3);
    let lines: Vec<&[u8]> = good.split_inclusive(|&b| b == b'\n').collect();
    // What the old journal left after a failed append: half of line 3, then line 3 again.
    let mut bytes = [lines[0], lines[1]].concat();
    bytes.extend_from_slice(&lines[2][..15]);
    bytes.extend_from_slice(lines[2]);
    std::fs::write(&path, &bytes).unwrap();
    let (line, _) = corrupt_line(&path);
    assert_eq!(line, 3);
    assert_eq!(std::fs::read(&path).unwrap(), bytes);
}

#[test]
fn invalid_utf8_in_a_middle_line_is_an_error_naming_it_and_nothing_is_cut() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("j.jsonl");
    let mut bytes = journal_of(&path, 5);
    assert_eq!(bytes.len(), 260, "five 52-byte lines, as in the report");
    // A byte of line 2's payload becomes invalid UTF-8.
    let second = bytes.iter().position(|&b| b == b'\n').unwrap() + 1;
    let at = second + 40;
    bytes[at] = 0xff;
    std::fs::write(&path, &bytes).unwrap();
    let (line, problem) = corrupt_line(&path);
    assert_eq!(line, 2);
    assert!(problem.contains("UTF-8"), "{problem}");
    assert_eq!(size(&path), 260, "the file was cut");
    assert_eq!(std::fs::read(&path).unwrap(), bytes);
}

#[test]
fn damage_in_the_last_complete_line_is_kept_but_an_unterminated_one_is_cut() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("j.jsonl");
    let good = journal_of(&path, 3);
    // Invalid UTF-8 in the last, complete line: corruption.
    let mut bytes = good.clone();
    let n = bytes.len();
    bytes[n - 5] = 0xfe;
    std::fs::write(&path, &bytes).unwrap();
    assert_eq!(corrupt_line(&path).0, 3);
    assert_eq!(std::fs::read(&path).unwrap(), bytes);
    // The same line without its newline was never acknowledged: a torn tail, dropped.
    std::fs::write(&path, &bytes[..n - 1]).unwrap();
    assert_eq!(payloads(&path), vec![step(0), step(1)]);
    let third = good.len() - good.rsplit(|&b| b == b'\n').nth(1).unwrap().len() - 1;
    assert_eq!(size(&path), third as u64);
}

#[test]
fn a_second_writer_is_refused_naming_the_holder() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("j.jsonl");
    let first = FileJournal::open(&path).unwrap();
    rt().block_on(first.append(&json!(1))).unwrap();
    let err = FileJournal::open(&path).unwrap_err();
    match &err {
        JournalError::Locked { holder, .. } => {
            assert!(
                holder.contains(&format!("pid {}", std::process::id())),
                "{holder}"
            );
            assert!(holder.contains(" on "), "{holder}");
        }
        other => panic!("expected Locked, got {other}"),
    }
    assert!(err.to_string().contains("another writer"), "{err}");
    // The refused opener changed nothing; the holder goes on appending.
    assert_eq!(rt().block_on(first.append(&json!(2))).unwrap(), 1);
    drop(first);
    assert_eq!(payloads(&path), vec![json!(1), json!(2)]);
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[cfg(unix)]
#[test]
fn a_new_journal_is_private_and_its_folder_is_synced() {
    let dir = tempfile::tempdir().unwrap();
    let sub = dir.path().join("journals");
    let path = sub.join("r1.jsonl");
    let faults = Arc::new(Faults::default());
    let j = FileJournal::open_with_ops(&path, faults.clone()).unwrap();
    assert_eq!(mode(&path), 0o600, "journal");
    assert_eq!(mode(j.holder_path()), 0o600, "holder sidecar");
    assert_eq!(*faults.dir_syncs.lock().unwrap(), vec![sub.clone()]);
    drop(j);
    // Reopening an existing journal creates nothing, so there is nothing to sync.
    let _j = FileJournal::open_with_ops(&path, faults.clone()).unwrap();
    assert_eq!(faults.dir_syncs.lock().unwrap().len(), 1);
}

#[cfg(unix)]
#[test]
fn deployment_records_are_private() {
    use shipcore::engine::{Event, EventKind, Phase, StartInfo};
    use shipcore::record::{DeploymentRecord, RecordMeta, RecordStore};
    use shipcore::time::Timestamp;
    let dir = tempfile::tempdir().unwrap();
    let store = RecordStore::open(dir.path()).unwrap();
    let events = vec![
        Event {
            at: Timestamp(1_705_329_000_000),
            kind: EventKind::Started(Box::new(StartInfo {
                id: "web-1".into(),
                service: "web".into(),
                environment: "production".into(),
                version: "2.0.0".into(),
                previous_version: Some("1.0.0".into()),
                strategy: "recreate".into(),
                steps: 3,
            })),
        },
        Event {
            at: Timestamp(1_705_329_272_000),
            kind: EventKind::Finished {
                phase: Phase::Succeeded,
                reason: "all steps completed".into(),
            },
        },
    ];
    let record = DeploymentRecord::from_events(&events, &RecordMeta::new("ci")).unwrap();
    let path = store.save(&record).unwrap();
    assert_eq!(mode(&path), 0o600);
}
