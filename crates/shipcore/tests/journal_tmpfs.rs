//! The file journal on a real full disk: a 64 KiB tmpfs (mounted by the test; needs root,
//! as CI runs; skipped with a message otherwise, a failure with `SHIPCORE_E2E=1`).
//!
//! The journal fills the disk mid-line, the caller retries (as a runner does after a
//! transient journal error), space is freed, and appends go on: after reopening, every
//! acknowledged entry is there, in order, and nothing else.
#![allow(clippy::unwrap_used)]

mod tmpfs_support;

use serde_json::{json, Value};
use shipcore::journal::{FileJournal, FileOps, Journal, JournalError};
use std::fs::File;
use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// The real operations, counting short writes (a line cut by the full disk).
#[derive(Debug, Default)]
struct CountShortWrites(AtomicUsize);

impl FileOps for CountShortWrites {
    fn write(&self, file: &mut File, buf: &[u8]) -> std::io::Result<usize> {
        let n = file.write(buf)?;
        if n < buf.len() {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
        Ok(n)
    }
}

fn payload(i: usize) -> Value {
    // About 1 KiB, so that lines straddle the tmpfs's 4 KiB pages.
    json!({ "i": i, "pad": format!("{i:x}").repeat(1000 / format!("{i:x}").len()) })
}

#[test]
fn a_full_tmpfs_loses_no_acknowledged_entry() {
    let Some(fs) = tmpfs_support::Tmpfs::mount("64k", "a_full_tmpfs_loses_no_acknowledged_entry")
    else {
        return;
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let path = fs.path().join("rollout.journal");
    // Leave room for about 20 entries.
    let filler = fs.fill_leaving(20 * 1024);
    let ops = Arc::new(CountShortWrites::default());
    let j = FileJournal::open_with_ops(&path, ops.clone()).unwrap();
    let mut acked = Vec::new();
    rt.block_on(async {
        let mut full = None;
        for i in 0..200 {
            match j.append(&payload(i)).await {
                Ok(seq) => {
                    assert_eq!(seq, i as u64);
                    acked.push(payload(i));
                }
                Err(e) => {
                    full = Some(e);
                    break;
                }
            }
        }
        let err = full.expect("the 64 KiB tmpfs never filled up");
        match &err {
            JournalError::Io { source, .. } => assert_eq!(source.raw_os_error(), Some(28), "{err}"),
            other => panic!("expected ENOSPC, got {other}"),
        }
        assert!(acked.len() >= 5, "only {} entries fit", acked.len());
        // The runner retries a transient journal error: still full.
        for _ in 0..3 {
            assert!(j.append(&payload(999)).await.is_err());
        }
        // Space is freed; the rollout goes on.
        std::fs::remove_file(&filler).unwrap();
        for _ in 0..2 {
            let i = acked.len();
            assert_eq!(j.append(&payload(i)).await.unwrap(), i as u64);
            acked.push(payload(i));
        }
    });
    assert!(
        ops.0.load(Ordering::SeqCst) >= 1,
        "the disk never cut a line short: the test did not exercise a partial write"
    );
    drop(j);
    let j = FileJournal::open(&path).unwrap();
    let all = rt.block_on(j.read_all()).unwrap();
    let got: Vec<Value> = all.into_iter().map(|e| e.payload).collect();
    assert_eq!(got.len(), acked.len(), "acknowledged entries lost or added");
    assert!(
        got == acked,
        "the journal does not hold the acknowledged entries"
    );
    drop(j);
}
