//! The rollout's event log: what the engine decided and saw, in order. Derived from the
//! journaled inputs, so replaying a journal reproduces it byte for byte. Records and reports
//! are built from it.

use super::command::Command;
use crate::driver::DriverError;
use crate::gate::GateOutcome;
use crate::migrate::{AppliedMigration, MigrateError, MigrationPhase};
use crate::model::Phase;
use crate::model::{Action, FleetState, Role};
use crate::time::Timestamp;
use crate::validator::MeasureResult;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// How an analysis run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AnalysisResult {
    /// Healthy.
    Passed,
    /// Unhealthy (failure or error limit exceeded).
    Failed,
    /// Too many inconclusive measurements.
    Inconclusive,
}

/// Which analysis a measurement belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "scope", rename_all = "snake_case")]
pub enum AnalysisScope {
    /// An analysis step.
    Step {
        /// Step index.
        step: usize,
    },
    /// The background analysis.
    Background,
    /// Verification of stable after a rollback.
    RollbackVerification,
    /// The stable revision judged right after an expand migration: does the old code still
    /// work on the new schema?
    StableAfterMigration {
        /// The migration step's index.
        step: usize,
    },
}

/// What [`EventKind::Started`] says about the rollout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StartInfo {
    /// Rollout id.
    pub id: String,
    /// The service being rolled out.
    pub service: String,
    /// The environment it is rolled out in.
    pub environment: String,
    /// Candidate version.
    pub version: String,
    /// Stable version, if any.
    pub previous_version: Option<String>,
    /// Strategy name.
    pub strategy: String,
    /// Number of steps.
    pub steps: usize,
}

/// One entry of the event log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// When it happened, on the rollout's clock.
    pub at: Timestamp,
    /// What.
    #[serde(flatten)]
    pub kind: EventKind,
}

/// What happened.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
#[non_exhaustive]
pub enum EventKind {
    /// The rollout began: what, where, from which version to which, and how.
    // Boxed: the largest event, and there is one per rollout.
    Started(Box<StartInfo>),
    /// The plan was refused before anything ran.
    Rejected {
        /// Why.
        reason: String,
    },
    /// A gate answered.
    GateChecked {
        /// Gate name.
        gate: String,
        /// Its answer.
        outcome: Box<GateOutcome>,
    },
    /// A step began.
    StepStarted {
        /// Index.
        step: usize,
        /// What it does.
        description: String,
    },
    /// A step completed.
    StepCompleted {
        /// Index.
        step: usize,
    },
    /// An action was sent to the driver.
    ActionRequested {
        /// Request id.
        id: u64,
        /// The action (shared with the request that carries it).
        action: Arc<Action>,
        /// Attempt number, from 1.
        attempt: u32,
    },
    /// The driver accepted an action.
    ActionApplied {
        /// Request id.
        id: u64,
    },
    /// The driver failed an action or an observation.
    DriverFailed {
        /// Request id.
        id: u64,
        /// The error.
        error: Box<DriverError>,
        /// Whether the engine will try again.
        will_retry: bool,
    },
    /// A revision reached its replica count.
    Converged {
        /// Which role.
        role: Role,
        /// Replica count reached.
        replicas: u32,
        /// The fleet as observed.
        fleet: Arc<FleetState>,
    },
    /// Validators measured once.
    Measured {
        /// Which analysis.
        scope: AnalysisScope,
        /// Measurement number, from 1.
        number: u32,
        /// Results. A verdict's [`breached_since`](crate::validator::Verdict::breached_since)
        /// is the engine's carried state: the journal keeps it, the event log does not
        /// show it.
        #[serde(serialize_with = "results_as_recorded")]
        results: Arc<[MeasureResult]>,
    },
    /// An analysis run ended.
    AnalysisCompleted {
        /// Which analysis.
        scope: AnalysisScope,
        /// How.
        result: AnalysisResult,
        /// Summary for people.
        message: String,
    },
    /// The rollout paused.
    Paused {
        /// Why.
        reason: String,
    },
    /// An operator command arrived.
    CommandReceived {
        /// The command.
        command: Command,
        /// Whether it was applied (or ignored, and why).
        accepted: bool,
        /// Explanation when ignored.
        note: String,
    },
    /// A failure happened (the policy decides what follows).
    Failed {
        /// Why.
        reason: String,
    },
    /// A rollback began.
    RollbackStarted {
        /// Why.
        reason: String,
    },
    /// The phase changed.
    PhaseChanged {
        /// From.
        from: Phase,
        /// To.
        to: Phase,
    },
    /// The rollout settled in a phase that needs no engine work.
    Finished {
        /// Final phase.
        phase: Phase,
        /// Why it ended this way.
        reason: String,
    },
    /// The runner restarted from the journal.
    Resumed,
    /// A migrator was asked to apply one phase.
    MigrationRequested {
        /// Request id.
        id: u64,
        /// The migrator's name.
        migrator: String,
        /// Which phase.
        phase: MigrationPhase,
        /// Attempt number, from 1.
        attempt: u32,
    },
    /// A migrator applied one phase: every migration it ran, in order (a failed one last).
    // Boxed: rare, and larger than the events every rollout records.
    Migrated(Box<MigrationRun>),
    /// A migrator could not run at all.
    MigratorFailed {
        /// Request id.
        id: u64,
        /// The error, classified.
        error: Box<MigrateError>,
        /// Whether the engine will try again.
        will_retry: bool,
    },
}

/// What [`EventKind::Migrated`] says: one phase of one migrator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MigrationRun {
    /// Request id.
    pub id: u64,
    /// The migrator's name.
    pub migrator: String,
    /// Which phase.
    pub phase: MigrationPhase,
    /// Every migration the phase ran, in order.
    pub migrations: Vec<AppliedMigration>,
    /// The tool's output, when the migrator runs one.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub output: String,
}

/// Writes measurement results as the event log shows them: without a verdict's
/// `breached_since`, so logs read the same as before the engine carried it.
fn results_as_recorded<S: serde::Serializer>(
    results: &Arc<[MeasureResult]>,
    s: S,
) -> Result<S::Ok, S::Error> {
    s.collect_seq(results.iter().map(AsRecorded))
}

struct AsRecorded<'a>(&'a MeasureResult);

impl Serialize for AsRecorded<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            MeasureResult::Verdict(v) if v.breached_since.is_some() => {
                let mut shown = v.clone();
                shown.breached_since = None;
                MeasureResult::Verdict(shown).serialize(s)
            }
            other => other.serialize(s),
        }
    }
}
