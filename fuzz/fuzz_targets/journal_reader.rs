//! The journal reader on arbitrary file contents: `FileJournal::open` must answer `Ok` or
//! `Err`, never panic, and may cut off only an unterminated last line (a failed open leaves
//! the file as it was). When it opens, what it kept must be stable: reading again, reopening
//! (after any repair it made) and appending one entry keep every entry it returned.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shipcore::journal::{FileJournal, Journal};
use std::path::PathBuf;
use std::sync::OnceLock;

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a current-thread runtime")
    })
}

/// One file per process, under `$SHIPCORE_FUZZ_SCRATCH` (scripts/ci/fuzz.sh points it at a
/// tmpfs folder it removes afterwards), else /dev/shm or the temp folder.
fn journal_path() -> &'static PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        let shm = PathBuf::from("/dev/shm");
        let base = match std::env::var_os("SHIPCORE_FUZZ_SCRATCH") {
            Some(dir) => PathBuf::from(dir),
            None if shm.is_dir() => shm,
            None => std::env::temp_dir(),
        };
        let dir = base.join(format!("shipcore-fuzz-journal-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a scratch directory");
        dir.join("fuzz.jsonl")
    })
}

fuzz_target!(|data: &[u8]| {
    let path = journal_path();
    std::fs::write(path, data).expect("write the input");
    let rt = runtime();
    let Ok(journal) = FileJournal::open(path) else {
        // A journal that cannot be opened is reported, never repaired.
        let left = std::fs::read(path).expect("read the file back");
        assert_eq!(left, data, "a failed open changed the file");
        return;
    };
    // Opening cuts off at most an unterminated last line (a torn tail), nothing else.
    let kept = std::fs::read(path).expect("read the file back");
    assert!(data.starts_with(&kept), "open changed bytes it kept");
    assert!(
        !data[kept.len()..].contains(&b'\n'),
        "open cut more than an unterminated last line"
    );
    let journal = journal.without_fsync();
    let first = rt
        .block_on(journal.read_all())
        .expect("read_all after a clean open");
    let again = rt.block_on(journal.read_all()).expect("second read_all");
    assert_eq!(first, again, "two reads of one open journal differ");
    drop(journal);

    let reopened = FileJournal::open(path)
        .expect("a journal that opened once opens again")
        .without_fsync();
    let after_reopen = rt
        .block_on(reopened.read_all())
        .expect("read_all after reopen");
    assert_eq!(first, after_reopen, "reopening changed the entries");
    let seq = rt
        .block_on(reopened.append(&serde_json::json!({"fuzz": true})))
        .expect("append after reopen");
    assert_eq!(
        seq,
        first.len() as u64,
        "the next sequence number follows the entries"
    );
    drop(reopened);

    let last = FileJournal::open(path).expect("reopen after an append");
    let all = rt.block_on(last.read_all()).expect("read_all after append");
    assert_eq!(all.len(), first.len() + 1, "the appended entry is kept");
    assert_eq!(
        &all[..first.len()],
        &first[..],
        "appending changed earlier entries"
    );
});
