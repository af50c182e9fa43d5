//! Durable, append-only storage of a rollout's inputs. Every input is appended (and
//! flushed) before the engine acts on it, so replaying the journal rebuilds the exact state.
//! [`FileJournal`] (JSON lines with checksums) is the default; [`MemoryJournal`] is for tests.
//!
//! What a journal promises (the [`Journal`] contract):
//! - an append that returned `Ok` is never lost or changed, whatever fails afterwards (a
//!   killed process, a full disk, a failed `fsync`);
//! - an append that returned `Err` leaves nothing of itself behind that a later append or a
//!   reopen could mistake for an entry: the journal is exactly as it was before, or it
//!   refuses further appends ([`JournalError::Poisoned`]) until it is reopened;
//! - damage that is not a half-written last entry is reported ([`JournalError::Corrupt`]),
//!   never skipped or cut away;
//! - one writer at a time: a second [`FileJournal`] on the same file is refused
//!   ([`JournalError::Locked`]) while the first is open.

mod file;
mod memory;

pub use file::{FileJournal, FileOps, OsFileOps};
pub use memory::MemoryJournal;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

/// A journal operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JournalError {
    /// Reading or writing the storage failed.
    #[error("journal I/O error at {path}: {source}")]
    Io {
        /// File or location.
        path: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A record in the middle of the journal is damaged: the journal cannot be trusted.
    #[error("journal {path} is corrupt at line {line}: {problem}")]
    Corrupt {
        /// File or location.
        path: String,
        /// 1-based line.
        line: usize,
        /// What is wrong.
        problem: String,
    },
    /// Another writer (in this process or another) holds the journal: only one may append.
    #[error("journal {path} is in use by another writer ({holder}); stop it or wait for it to finish before opening the journal")]
    Locked {
        /// File or location.
        path: String,
        /// Who holds it, as it recorded itself (process id, host and since when), or why
        /// that is not known.
        holder: String,
    },
    /// An append failed and the journal could not be put back as it was before it, so it
    /// refuses further appends: reopening it cuts the half-written entry off (it was never
    /// acknowledged) and appends can go on. Not transient for the handle that reports it.
    #[error("journal {path} refuses appends until it is reopened: {problem}")]
    Poisoned {
        /// File or location.
        path: String,
        /// What failed.
        problem: String,
    },
    /// An entry could not be encoded or decoded.
    #[error("journal entry could not be encoded or decoded: {0}")]
    Codec(String),
    /// The writer lost its right to append: another writer took the journal over (a shared
    /// journal whose lease moved on to another owner and fencing token). Nothing was
    /// appended; this writer must stand down, it is not transient.
    #[error("journal of run {run} refuses writer token {token}: the run is now owned by {owner_now} with token {token_now}; this writer must stand down")]
    Fenced {
        /// The run (or journal) written to.
        run: String,
        /// The fencing token this writer holds.
        token: u64,
        /// Who owns the run now (empty when nobody does).
        owner_now: String,
        /// The fencing token in force now.
        token_now: u64,
    },
}

/// One journal entry: a sequence number and an opaque JSON payload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// 0-based position.
    pub seq: u64,
    /// The serialized input.
    pub payload: serde_json::Value,
}

/// Append-only durable log.
#[async_trait]
pub trait Journal: Send + Sync {
    /// Appends one payload durably (flushed) and returns its sequence number. `Ok` means the
    /// entry survives anything short of a damaged disk; on `Err` nothing of the payload is
    /// left in the journal (or, if that cannot be ensured, the journal refuses further
    /// appends with [`JournalError::Poisoned`] until reopened), so retrying is safe.
    async fn append(&self, payload: &serde_json::Value) -> Result<u64, JournalError>;
    /// Reads every acknowledged entry, in order.
    async fn read_all(&self) -> Result<Vec<Entry>, JournalError>;
    /// Appends one entry given as a value that encodes itself (what the engine's runner
    /// awaits with each input, unless [`append_now`](Journal::append_now) appended it
    /// already). The default encodes it and calls [`Journal::append`]; a journal in memory
    /// may keep the value and encode it only when read.
    // The `'static` bound is written out for mockall's generated mock (feature `mock`).
    #[allow(unused_parens)]
    async fn append_encodable(
        &self,
        entry: &(dyn Encodable + 'static),
    ) -> Result<u64, JournalError> {
        let payload = entry.encode()?;
        self.append(&payload).await
    }
    /// Appends `entry` without waiting, when this journal can: `Some` is exactly what
    /// [`append_encodable`](Journal::append_encodable) would have answered, with the same
    /// durability (the entry appended or not, as it says); `None` that this journal cannot
    /// and nothing was appended, so the caller awaits `append_encodable` instead. The
    /// engine's runner asks this first, so a journal that keeps entries in memory saves
    /// each input a future. The default: `None`.
    ///
    /// ```
    /// use shipcore::journal::{Journal, MemoryJournal};
    /// # #[derive(Debug, Clone)] struct Tick;
    /// # impl shipcore::journal::Encodable for Tick {
    /// #     fn encode(&self) -> Result<serde_json::Value, shipcore::journal::JournalError> {
    /// #         Ok(serde_json::json!("tick"))
    /// #     }
    /// #     fn to_kept(&self) -> Box<dyn shipcore::journal::Encodable> { Box::new(self.clone()) }
    /// # }
    /// let journal = MemoryJournal::new();
    /// assert_eq!(journal.append_now(&Tick).unwrap().unwrap(), 0);
    /// assert_eq!(journal.append_now(&Tick).unwrap().unwrap(), 1);
    /// ```
    fn append_now(&self, entry: &(dyn Encodable + 'static)) -> Option<Result<u64, JournalError>> {
        let _ = entry;
        None
    }
}

#[cfg(feature = "mock")]
mockall::mock! {
    /// A [`Journal`] a test scripts with expectations (feature `mock`). Its
    /// [`append_now`](Journal::append_now) keeps the default, so a run on it appends
    /// through `append_encodable`, as with every journal that waits.
    pub Journal {}
    #[async_trait]
    impl Journal for Journal {
        async fn append(&self, payload: &serde_json::Value) -> Result<u64, JournalError>;
        async fn read_all(&self) -> Result<Vec<Entry>, JournalError>;
        #[allow(unused_parens)]
        async fn append_encodable(
            &self,
            entry: &(dyn Encodable + 'static),
        ) -> Result<u64, JournalError>;
    }
}

/// An entry that encodes itself as a journal payload, for
/// [`Journal::append_encodable`]. The engine's inputs are such entries; the journal never
/// needs to know their type.
pub trait Encodable: Send + Sync + std::fmt::Debug {
    /// The entry's JSON payload, as [`Journal::append`] takes it.
    fn encode(&self) -> Result<serde_json::Value, JournalError>;
    /// A copy to keep, for a journal that encodes what it keeps only when read.
    fn to_kept(&self) -> Box<dyn Encodable>;
}
