//! Durable, append-only storage of a rollout's inputs. Every input is appended (and
//! flushed) before the engine acts on it, so replaying the journal rebuilds the exact state.
//! [`FileJournal`] (JSON lines with checksums) is the default; [`MemoryJournal`] is for tests.

mod file;
mod memory;

pub use file::FileJournal;
pub use memory::MemoryJournal;

use crate::engine::Stamped;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};

/// A journal operation failed.
#[derive(Debug, thiserror::Error)]
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
    /// An entry could not be encoded or decoded.
    #[error("journal entry could not be encoded or decoded: {0}")]
    Codec(String),
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
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait Journal: Send + Sync {
    /// Appends one payload durably (flushed) and returns its sequence number.
    async fn append(&self, payload: &serde_json::Value) -> Result<u64, JournalError>;
    /// Reads every intact entry, in order.
    async fn read_all(&self) -> Result<Vec<Entry>, JournalError>;
    /// Appends one engine input (what the runner calls). The default encodes it as JSON and
    /// calls [`Journal::append`]; a journal in memory may keep the input as it is and encode
    /// it when read, so a run pays no JSON per transition.
    async fn append_input(&self, input: &Stamped) -> Result<u64, JournalError> {
        let payload =
            serde_json::to_value(input).map_err(|e| JournalError::Codec(e.to_string()))?;
        self.append(&payload).await
    }
}
