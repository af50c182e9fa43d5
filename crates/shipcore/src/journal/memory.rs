use super::{Entry, Journal, JournalError};
use async_trait::async_trait;
use std::sync::Mutex;

/// A journal kept in memory: for tests, simulations and benchmarks.
#[derive(Debug, Default)]
pub struct MemoryJournal {
    entries: Mutex<Vec<Entry>>,
}

impl MemoryJournal {
    /// An empty journal.
    pub fn new() -> Self {
        Self::default()
    }
    /// A copy of the entries, for assertions.
    pub fn entries(&self) -> Vec<Entry> {
        self.entries.lock().map(|e| e.clone()).unwrap_or_default()
    }
}

#[async_trait]
impl Journal for MemoryJournal {
    async fn append(&self, payload: &serde_json::Value) -> Result<u64, JournalError> {
        let mut e = self
            .entries
            .lock()
            .map_err(|_| JournalError::Codec("journal lock poisoned".into()))?;
        let seq = e.len() as u64;
        e.push(Entry {
            seq,
            payload: payload.clone(),
        });
        Ok(seq)
    }
    async fn read_all(&self) -> Result<Vec<Entry>, JournalError> {
        Ok(self.entries())
    }
}
