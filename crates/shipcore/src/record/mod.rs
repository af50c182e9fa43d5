//! Records and reports of rollouts, built from the engine's event log: a
//! [`DeploymentRecord`] (JSON, camelCase), a history of records per service, a markdown ship
//! report, a per-phase comparison table, a generated `DEPLOY.md` runbook for a plan, and
//! self-contained HTML pages ([`html`]: a report with a timeline, a history page with the
//! DORA keys).
//!
//! # Conventions
//!
//! **Attempts.** A `retry` after a rollback, an abort or a block starts the rollout again
//! (the engine re-enters the `gating` phase). A record describes the *final attempt*: its
//! status, rollback and validation summary come from the events after the last
//! `phase_changed → gating`; `attempts` counts them. `deployedAt` is the first `started`.
//!
//! **Status** is the last phase reached: `succeeded` → `"success"`, `rolled_back` →
//! `"rolled_back"`, `rollback_failed` → `"rollback_failed"`, `aborted` → `"aborted"`,
//! `blocked` → `"blocked"`, `frozen` → `"frozen"`, anything else → `"in_progress"`.
//!
//! **Validation summary** ([`ValidationSummary`]) comes from `measured` events about the
//! candidate (analysis steps and background analysis; the post-rollback verification of
//! stable goes to `rollback.verification` instead):
//! - per validator: the last outcome, the last message and measurements, and counts of
//!   passes, failures, inconclusive verdicts and errors;
//! - `errorRate`: the highest finite measurement named `error_rate` (or `error-rate`);
//!   `latencyP95`: the highest named `latency_p95` (or `latency-p95`); `null` if none;
//! - `healthCheck`: the combined last outcome of the validators [`RecordMeta`] lists as
//!   health checks (default: names containing `health`), `smokeTests` likewise (default:
//!   names containing `smoke`): `"failed"` if any failed, else `"error"` if any could not
//!   measure, else `"inconclusive"` if any was, else `"passed"`; `"not_run"` when none ran.
//!
//! **Rollback** (`null` when the final attempt did not roll back): the reason and time of
//! its first `rollback_started`, `trigger` `"operator"` when the engine started it for an
//! operator's `abort` ([`RollbackCause`](crate::engine::RollbackCause), which a journal's
//! replay and a runner's report carry; from an event log alone, when an accepted `abort`
//! command arrived at that instant), else `"automatic"`, `result` from the final phase
//! (`"success"`, `"failed"`, `"in_progress"`), the actions it requested and the outcome of
//! the verification of stable.
//!
//! **Comparison table** ([`Comparison`]): one column per analysis step, in step order (a
//! re-run step keeps only its last run). A row per measurement name. Every number is the
//! *mean* of the finite values it stands for. The **baseline** of metric `m` is the mean of
//! the measurements named `m_baseline` (or `m-baseline`, or `m.baseline` as
//! [`BaselineValidator`](crate::validator::BaselineValidator) names them): validators
//! that compare the candidate with stable report stable's value under that name; without
//! one the baseline cell is empty. The **threshold** column is the last
//! `Measurement::threshold` reported for `m`. A cell fails when a verdict that reported `m`
//! in that phase failed (inconclusive likewise); the row's result is its worst cell.
//!
//! **Time** is written as ISO 8601 UTC (`2024-01-15T14:30:00Z`, with `.mmm` when the
//! instant has milliseconds); see [`time_fmt`].

mod comparison;
mod deployment;
mod history;
pub mod html;
mod meta;
mod migrations;
mod replay;
mod report;
mod runbook;
mod summary;
pub mod time_fmt;

pub use comparison::{Comparison, ComparisonRow, PhaseCell, PhaseColumn};
pub use deployment::{
    DeploymentRecord, DeploymentStatus, GateResult, RollbackInfo, RollbackResult, RollbackTrigger,
};
pub use history::RecordStore;
pub use meta::{Changes, RecordMeta};
pub use migrations::MigrationRecord;
pub use replay::{replay_journal, Replayed};
pub use report::ship_report;
pub use runbook::runbook;
pub use summary::{CheckStatus, ValidationSummary, ValidatorSummary};

use crate::engine::{Event, EventKind, Phase};
use crate::journal::JournalError;
use std::path::PathBuf;

/// Why a record could not be built, stored or read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RecordError {
    /// The event log has no `started` event (empty, or the plan was rejected before start).
    #[error("the event log has no `started` event{}", rejected.as_ref().map(|r| format!(" (the plan was rejected: {r})")).unwrap_or_default())]
    NotStarted {
        /// The rejection reason, when the log holds one.
        rejected: Option<String>,
    },
    /// Reading the journal failed.
    #[error(transparent)]
    Journal(#[from] JournalError),
    /// A journal entry is not a valid engine input.
    #[error(transparent)]
    BadEntry(#[from] crate::engine::BadEntry),
    /// The record store could not read or write a file.
    #[error("record store I/O error on {path}: {source}")]
    Io {
        /// File or folder.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A record file exists but is not a valid record.
    #[error("record file {path} is damaged: {problem}")]
    Damaged {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        problem: String,
    },
    /// A record id cannot name a file.
    #[error("record id {id:?} is invalid: {problem}")]
    InvalidId {
        /// The id.
        id: String,
        /// What is wrong with it.
        problem: String,
    },
    /// No record with that id.
    #[error("no record {id:?} in {dir}")]
    NotFound {
        /// The id.
        id: String,
        /// The store's folder.
        dir: PathBuf,
    },
    /// A record could not be encoded as JSON.
    #[error("record {id:?} could not be encoded as JSON: {message}")]
    Encode {
        /// The record's id.
        id: String,
        /// Encoder message.
        message: String,
    },
}

impl RecordError {
    /// True when retrying later (after fixing storage) may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            RecordError::Io { .. } | RecordError::Journal(JournalError::Io { .. })
        )
    }
}

/// The events of the final attempt: from the last `phase_changed → gating` on (or all).
pub(crate) fn final_attempt(events: &[Event]) -> &[Event] {
    let start = events
        .iter()
        .rposition(|e| {
            matches!(
                e.kind,
                EventKind::PhaseChanged {
                    to: Phase::Gating,
                    ..
                }
            )
        })
        .unwrap_or(0);
    &events[start..]
}

/// Escapes text for one markdown table cell: no pipes, no line breaks.
pub(crate) fn md_cell(text: &str) -> String {
    text.replace('|', "\\|").replace(['\r', '\n'], " ")
}

/// A number for people: up to 4 decimals, no trailing zeros (the text validators write in
/// their messages, so a record and its verdicts agree).
pub(crate) fn fmt_num(v: f64) -> String {
    crate::validator::num(v)
}
