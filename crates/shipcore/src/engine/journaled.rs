//! The engine's side of the journal: each input is journaled as a [`Stamped`] entry, and
//! [`decode_entry`] is the one decoder that turns an entry back into an input (for resuming,
//! replaying a record, or a test reading a journal).

use super::io::Stamped;
use crate::journal::{Encodable, Entry, JournalError};

impl Encodable for Stamped {
    fn encode(&self) -> Result<serde_json::Value, JournalError> {
        serde_json::to_value(self).map_err(|e| JournalError::Codec(e.to_string()))
    }
    fn to_kept(&self) -> Box<dyn Encodable> {
        Box::new(self.clone())
    }
}

/// A journal entry that is not a valid engine input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("journal entry {seq} is not a valid input: {message}")]
pub struct BadEntry {
    /// The entry's sequence number.
    pub seq: u64,
    /// What the decoder found wrong.
    pub message: String,
}

/// Decodes one journal entry as the engine input it holds.
///
/// ```
/// use shipcore::engine::{decode_entry, Input, Stamped};
/// use shipcore::journal::Entry;
/// use shipcore::time::Timestamp;
///
/// let payload = serde_json::to_value(Stamped::new(Timestamp(5), Input::Resumed)).unwrap();
/// let stamped = decode_entry(&Entry { seq: 0, payload }).unwrap();
/// assert_eq!(stamped.at, Timestamp(5));
/// let bad = decode_entry(&Entry { seq: 3, payload: serde_json::json!({"at": 1}) });
/// assert_eq!(bad.unwrap_err().seq, 3);
/// ```
pub fn decode_entry(entry: &Entry) -> Result<Stamped, BadEntry> {
    Stamped::deserialize_entry(&entry.payload).map_err(|e| BadEntry {
        seq: entry.seq,
        message: e.to_string(),
    })
}

impl Stamped {
    fn deserialize_entry(payload: &serde_json::Value) -> Result<Stamped, serde_json::Error> {
        serde::Deserialize::deserialize(payload)
    }
}
