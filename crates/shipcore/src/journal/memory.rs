use super::{Encodable, Entry, Journal, JournalError};
use async_trait::async_trait;
use std::sync::{Mutex, MutexGuard};

/// One entry as kept: JSON appended as such, or an entry kept as it was given (encoded when
/// read).
#[derive(Debug)]
enum Kept {
    Json(serde_json::Value),
    Encodable(Box<dyn Encodable>),
}

/// A journal kept in memory: for tests, simulations and benchmarks.
#[derive(Debug, Default)]
pub struct MemoryJournal {
    entries: Mutex<Vec<Kept>>,
}

impl MemoryJournal {
    /// An empty journal.
    pub fn new() -> Self {
        Self::default()
    }
    /// A copy of the entries, for assertions.
    pub fn entries(&self) -> Vec<Entry> {
        self.encoded().unwrap_or_default()
    }
    fn lock(&self) -> Result<MutexGuard<'_, Vec<Kept>>, JournalError> {
        self.entries
            .lock()
            .map_err(|_| JournalError::Codec("journal lock poisoned".into()))
    }
    fn encoded(&self) -> Result<Vec<Entry>, JournalError> {
        let kept = self.lock()?;
        let mut out = Vec::with_capacity(kept.len());
        for (seq, k) in kept.iter().enumerate() {
            let payload = match k {
                Kept::Json(v) => v.clone(),
                Kept::Encodable(e) => e.encode()?,
            };
            out.push(Entry {
                seq: seq as u64,
                payload,
            });
        }
        Ok(out)
    }
    fn push(&self, k: Kept) -> Result<u64, JournalError> {
        let mut e = self.lock()?;
        let seq = e.len() as u64;
        e.push(k);
        Ok(seq)
    }
}

#[async_trait]
impl Journal for MemoryJournal {
    async fn append(&self, payload: &serde_json::Value) -> Result<u64, JournalError> {
        self.push(Kept::Json(payload.clone()))
    }
    async fn read_all(&self) -> Result<Vec<Entry>, JournalError> {
        self.encoded()
    }
    async fn append_encodable(
        &self,
        entry: &(dyn Encodable + 'static),
    ) -> Result<u64, JournalError> {
        self.push(Kept::Encodable(entry.to_kept()))
    }
    fn append_now(&self, entry: &(dyn Encodable + 'static)) -> Option<Result<u64, JournalError>> {
        Some(self.push(Kept::Encodable(entry.to_kept())))
    }
}
