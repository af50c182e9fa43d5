//! Rebuilds a rollout's event log from its journal by replaying every journaled input
//! through a fresh [`Rollout`] and keeping the `Effect::Record` events, exactly as the
//! runner does when it resumes. Nothing is performed: no driver, no clock.

use super::deployment::DeploymentRecord;
use super::meta::RecordMeta;
use super::RecordError;
use crate::engine::{decode_entry, BadEntry, Effect, Event, RollbackCause, Rollout, RolloutSpec};
use crate::journal::Journal;

/// What a journal replays to.
#[derive(Debug, Clone)]
pub struct Replayed {
    /// The event log, in order.
    pub events: Vec<Event>,
    /// The rollout's request (from the journal's `start` input), if the journal has one.
    pub spec: Option<RolloutSpec>,
    /// Why each rollback started ([`Effect::RollbackCause`]), in the order of the
    /// `rollback_started` events in `events`.
    pub rollback_causes: Vec<RollbackCause>,
}

/// Replays `journal` through the engine and returns its event log.
///
/// Errors: the journal's own errors, or [`RecordError::BadEntry`] naming the entry that is
/// not a valid engine input.
pub async fn replay_journal(journal: &dyn Journal) -> Result<Replayed, RecordError> {
    let mut machine = None;
    let mut events = Vec::new();
    let mut rollback_causes = Vec::new();
    for entry in journal.read_all().await? {
        let stamped = decode_entry(&entry)?;
        let effects = Rollout::replay_into(&mut machine, &stamped).map_err(|e| BadEntry {
            seq: entry.seq,
            message: e.to_string(),
        })?;
        for effect in effects {
            match effect {
                Effect::Record(ev) => events.push(ev),
                Effect::RollbackCause { cause } => rollback_causes.push(cause),
                _ => {}
            }
        }
    }
    Ok(Replayed {
        events,
        spec: machine.map(|m| m.spec().clone()),
        rollback_causes,
    })
}

impl DeploymentRecord {
    /// Reads `journal`, replays it through the engine and builds the record. The journal's
    /// rollout spec fills what the events lack (artifacts; identity of a rejected plan).
    pub async fn from_journal(
        journal: &dyn Journal,
        meta: &RecordMeta,
    ) -> Result<Self, RecordError> {
        let replayed = replay_journal(journal).await?;
        Self::build(
            &replayed.events,
            meta,
            replayed.spec.as_ref(),
            &replayed.rollback_causes,
        )
    }
}
