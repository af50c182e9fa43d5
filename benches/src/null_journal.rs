//! A journal that keeps nothing: for measuring the runner without the cost of storing its
//! inputs (it can never resume, so it is for benchmarks only).

use async_trait::async_trait;
use shipcore::journal::{Encodable, Entry, Journal, JournalError};
use std::sync::atomic::{AtomicU64, Ordering};

/// Counts appends and forgets them; `read_all` is always empty.
#[derive(Debug, Default)]
pub struct NullJournal {
    appended: AtomicU64,
}

impl NullJournal {
    /// An empty journal.
    pub fn new() -> Self {
        Self::default()
    }
    /// Entries appended so far.
    pub fn appended(&self) -> u64 {
        self.appended.load(Ordering::Relaxed)
    }
}

#[async_trait]
impl Journal for NullJournal {
    async fn append(&self, _payload: &serde_json::Value) -> Result<u64, JournalError> {
        Ok(self.appended.fetch_add(1, Ordering::Relaxed))
    }
    async fn read_all(&self) -> Result<Vec<Entry>, JournalError> {
        Ok(Vec::new())
    }
    async fn append_encodable(
        &self,
        _entry: &(dyn Encodable + 'static),
    ) -> Result<u64, JournalError> {
        Ok(self.appended.fetch_add(1, Ordering::Relaxed))
    }
    fn append_now(&self, _entry: &(dyn Encodable + 'static)) -> Option<Result<u64, JournalError>> {
        Some(Ok(self.appended.fetch_add(1, Ordering::Relaxed)))
    }
}
