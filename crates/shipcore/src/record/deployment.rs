//! The deployment record: what was deployed where, by whom, how it went and why, built from
//! the engine's event log plus caller-provided [`RecordMeta`]. Serialized as camelCase JSON
//! in the shape of a classic deployment record (`rollback: null` when there was none).

use super::meta::{Changes, RecordMeta};
use super::summary::{CheckStatus, ValidationSummary};
use super::time_fmt::{format_iso8601, parse_iso8601};
use super::{final_attempt, RecordError};
use crate::engine::{
    AnalysisResult, AnalysisScope, Command, Event, EventKind, MeasureResult, Phase, RollbackCause,
    RolloutSpec, RunReport,
};
use crate::gate::GateOutcome;
use crate::model::Action;
use crate::time::{format_duration, serde_opt_duration, Timestamp};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// How a deployment ended (or that it has not).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeploymentStatus {
    /// Succeeded: the candidate serves all traffic.
    Success,
    /// Failed and restored stable automatically.
    RolledBack,
    /// The rollback itself failed: a person must act.
    RollbackFailed,
    /// An operator aborted it; stable restored.
    Aborted,
    /// A gate (or plan validation) refused it; nothing changed.
    Blocked,
    /// Stopped by the freeze policy; waits for a person.
    Frozen,
    /// Still running, paused or rolling back.
    InProgress,
}

impl DeploymentStatus {
    /// The status for the engine's final phase.
    pub fn from_phase(phase: Phase) -> Self {
        match phase {
            Phase::Succeeded => DeploymentStatus::Success,
            Phase::RolledBack => DeploymentStatus::RolledBack,
            Phase::RollbackFailed => DeploymentStatus::RollbackFailed,
            Phase::Aborted => DeploymentStatus::Aborted,
            Phase::Blocked => DeploymentStatus::Blocked,
            Phase::Frozen => DeploymentStatus::Frozen,
            _ => DeploymentStatus::InProgress,
        }
    }
    /// snake_case name, as in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            DeploymentStatus::Success => "success",
            DeploymentStatus::RolledBack => "rolled_back",
            DeploymentStatus::RollbackFailed => "rollback_failed",
            DeploymentStatus::Aborted => "aborted",
            DeploymentStatus::Blocked => "blocked",
            DeploymentStatus::Frozen => "frozen",
            DeploymentStatus::InProgress => "in_progress",
        }
    }
}

/// Who started a rollback.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RollbackTrigger {
    /// The engine, after a failure.
    Automatic,
    /// An operator's `abort`.
    Operator,
}

impl RollbackTrigger {
    /// How the reports say who started it: "automatically", "by an operator".
    pub(crate) fn words(self) -> &'static str {
        match self {
            RollbackTrigger::Automatic => "automatically",
            RollbackTrigger::Operator => "by an operator",
        }
    }
}

/// How a rollback ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RollbackResult {
    /// Stable restored.
    Success,
    /// The rollback failed: a person must act.
    Failed,
    /// Still rolling back.
    InProgress,
}

impl RollbackResult {
    /// How the reports say it ended; a failure points at `runbook` for restoring stable.
    pub(crate) fn words(self, runbook: &str) -> std::borrow::Cow<'static, str> {
        match self {
            RollbackResult::Success => "stable restored".into(),
            RollbackResult::Failed => {
                format!("FAILED: a person must restore stable by hand (see {runbook})").into()
            }
            RollbackResult::InProgress => "in progress".into(),
        }
    }
}

/// The `rollback` block of a record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RollbackInfo {
    /// Why it rolled back.
    pub reason: String,
    /// Automatic or operator.
    pub trigger: RollbackTrigger,
    /// When it started (ISO 8601 UTC).
    pub started_at: String,
    /// When it ended (ISO 8601 UTC), if it has.
    pub finished_at: Option<String>,
    /// How it ended.
    pub result: RollbackResult,
    /// Verification of stable's health after the rollback.
    pub verification: CheckStatus,
    /// The version restored (`null` on a first deploy: the candidate was removed).
    pub restored_version: Option<String>,
    /// The actions the rollback asked of the platform, in order.
    #[serde(default)]
    pub actions: Vec<String>,
}

/// A gate's last answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GateResult {
    /// Gate name.
    pub gate: String,
    /// `pass`, `block` or `wait`.
    pub outcome: String,
    /// The gate's reason, when it gave one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// A deployment record.
///
/// ```
/// use shipcore::engine::{Event, EventKind, Phase, StartInfo};
/// use shipcore::record::{DeploymentRecord, DeploymentStatus, RecordMeta};
/// use shipcore::time::Timestamp;
/// let events = vec![
///     Event { at: Timestamp(1_705_329_000_000), kind: EventKind::Started(Box::new(StartInfo {
///         id: "r1".into(), service: "web".into(), environment: "production".into(),
///         version: "2.0.0".into(), previous_version: Some("1.0.0".into()),
///         strategy: "recreate".into(), steps: 3 })) },
///     Event { at: Timestamp(1_705_329_272_000), kind: EventKind::Finished {
///         phase: Phase::Succeeded, reason: "all steps completed".into() } },
/// ];
/// let record = DeploymentRecord::from_events(&events, &RecordMeta::new("ci")).unwrap();
/// assert_eq!(record.status, DeploymentStatus::Success);
/// assert_eq!(record.deployed_at, "2024-01-15T14:30:00Z");
/// assert_eq!(record.duration, "4m32s");
/// let json = serde_json::to_value(&record).unwrap();
/// assert_eq!(json["previousVersion"], "1.0.0");
/// assert!(json["rollback"].is_null());
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentRecord {
    /// Rollout id.
    pub id: String,
    /// The service that was deployed.
    pub service: String,
    /// Version deployed.
    pub version: String,
    /// The environment it was deployed to.
    pub environment: String,
    /// When it started (ISO 8601 UTC).
    pub deployed_at: String,
    /// Person or pipeline.
    pub deployed_by: String,
    /// How it ended.
    pub status: DeploymentStatus,
    /// How long it took (`"4m32s"`), until it settled or until the last event.
    pub duration: String,
    /// `duration` in milliseconds.
    pub duration_ms: u64,
    /// The version that ran before (`null` on a first deploy).
    pub previous_version: Option<String>,
    /// What ships.
    #[serde(default)]
    pub changes: Changes,
    /// Health of the candidate.
    pub validation: ValidationSummary,
    /// The rollback, or `null`.
    pub rollback: Option<RollbackInfo>,
    /// Change ticket.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change_id: Option<String>,
    /// Approvers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub approved_by: Vec<String>,
    /// Approved deploy window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deploy_window: Option<String>,
    /// Whether the rollback was rehearsed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback_tested: Option<bool>,
    /// Watch period after the deployment (`"24h"`).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "serde_opt_duration"
    )]
    pub monitoring_period: Option<Duration>,
    /// Whom to call, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub escalation_path: Vec<String>,
    /// Strategy that made the plan.
    pub strategy: String,
    /// When it settled (ISO 8601 UTC), `null` while in progress.
    pub finished_at: Option<String>,
    /// Why it ended this way (or is paused / frozen / rolling back).
    pub reason: Option<String>,
    /// Times the rollout was started (a `retry` after a rollback starts it again).
    pub attempts: u32,
    /// The candidate's artifact (image reference…), when known.
    pub artifact: Option<String>,
    /// The previous version's artifact, when known.
    pub previous_artifact: Option<String>,
    /// Each gate's last answer in the final attempt.
    #[serde(default)]
    pub gates: Vec<GateResult>,
    /// The schema migrations run, from every attempt (a schema change outlives a retry).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub migrations: Vec<super::MigrationRecord>,
}

struct StartFacts {
    at: Timestamp,
    id: String,
    service: String,
    environment: String,
    version: String,
    previous_version: Option<String>,
    strategy: String,
}

fn start_facts(events: &[Event], spec: Option<&RolloutSpec>) -> Result<StartFacts, RecordError> {
    for e in events {
        if let EventKind::Started(start) = &e.kind {
            let (id, service, environment) = (
                start.id.clone(),
                start.service.clone(),
                start.environment.clone(),
            );
            let (version, previous_version, strategy) = (
                start.version.clone(),
                start.previous_version.clone(),
                start.strategy.clone(),
            );
            return Ok(StartFacts {
                at: e.at,
                id,
                service,
                environment,
                version,
                previous_version,
                strategy,
            });
        }
    }
    match spec {
        Some(s) => Ok(StartFacts {
            at: events.first().map(|e| e.at).unwrap_or_default(),
            id: s.id.clone(),
            service: s.target.service.clone(),
            environment: s.target.environment.clone(),
            version: s.candidate.version.to_string(),
            previous_version: s.stable.as_ref().map(|r| r.version.to_string()),
            strategy: s.plan.strategy.clone(),
        }),
        None => {
            let rejected = events.iter().find_map(|e| match &e.kind {
                EventKind::Rejected { reason } => Some(reason.clone()),
                _ => None,
            });
            Err(RecordError::NotStarted { rejected })
        }
    }
}

/// The final phase and when it was reached.
fn final_phase(events: &[Event]) -> (Phase, Option<Timestamp>) {
    let mut phase = (Phase::Pending, None);
    for e in events {
        match &e.kind {
            EventKind::PhaseChanged { to, .. } => phase = (*to, Some(e.at)),
            EventKind::Finished { phase: p, .. } => phase = (*p, Some(e.at)),
            _ => {}
        }
    }
    phase
}

/// Mirrors the engine's status reason: set by failures, pauses, rollbacks and endings,
/// cleared when the rollout moves on.
fn current_reason(attempt: &[Event]) -> Option<String> {
    let mut reason = None;
    for e in attempt {
        match &e.kind {
            EventKind::Failed { reason: r }
            | EventKind::Paused { reason: r }
            | EventKind::RollbackStarted { reason: r }
            | EventKind::Finished { reason: r, .. } => reason = Some(r.clone()),
            EventKind::PhaseChanged {
                to: Phase::Progressing | Phase::Gating | Phase::Promoting,
                ..
            } => reason = None,
            _ => {}
        }
    }
    reason
}

fn gate_results(attempt: &[Event]) -> Vec<GateResult> {
    let mut out: Vec<GateResult> = Vec::new();
    for e in attempt {
        let EventKind::GateChecked { gate, outcome } = &e.kind else {
            continue;
        };
        let (word, reason) = match &**outcome {
            GateOutcome::Pass => ("pass", None),
            GateOutcome::Block { reason } => ("block", Some(reason.clone())),
            GateOutcome::Wait { reason, .. } | GateOutcome::AwaitPerson { reason, .. } => {
                ("wait", Some(reason.clone()))
            }
        };
        let result = GateResult {
            gate: gate.clone(),
            outcome: word.into(),
            reason,
        };
        match out.iter_mut().find(|g| &g.gate == gate) {
            Some(g) => *g = result,
            None => out.push(result),
        }
    }
    out
}

fn verification(after: &[Event]) -> CheckStatus {
    let mut status = CheckStatus::NotRun;
    for e in after {
        match &e.kind {
            EventKind::Measured {
                scope: AnalysisScope::RollbackVerification,
                results,
                ..
            } => {
                status = CheckStatus::worst(results.iter().map(|r| match r {
                    MeasureResult::Verdict(v) => v.outcome.into(),
                    MeasureResult::Error(_) => CheckStatus::Error,
                }));
            }
            EventKind::AnalysisCompleted {
                scope: AnalysisScope::RollbackVerification,
                result,
                ..
            } => {
                status = match result {
                    AnalysisResult::Passed => CheckStatus::Passed,
                    AnalysisResult::Failed => CheckStatus::Failed,
                    AnalysisResult::Inconclusive => CheckStatus::Inconclusive,
                };
            }
            _ => {}
        }
    }
    status
}

/// The final attempt's rollback. Who started it: the engine's cause for it (`causes`, one
/// per `rollback_started` event of `events`, whose suffix `attempt` is) when known, else
/// an accepted `abort` at the rollback's instant.
fn rollback_info(
    events: &[Event],
    attempt: &[Event],
    causes: &[RollbackCause],
    phase: Phase,
    restored_version: Option<String>,
) -> Option<RollbackInfo> {
    let start = attempt
        .iter()
        .position(|e| matches!(e.kind, EventKind::RollbackStarted { .. }))?;
    let first = &attempt[start];
    let EventKind::RollbackStarted { reason } = &first.kind else {
        return None;
    };
    let after = &attempt[start..];
    let earlier = events.len().saturating_sub(attempt.len()) + start;
    let ordinal = events
        .iter()
        .take(earlier)
        .filter(|e| matches!(e.kind, EventKind::RollbackStarted { .. }))
        .count();
    let guessed = || {
        attempt.iter().any(|e| {
            e.at == first.at
                && matches!(
                    &e.kind,
                    EventKind::CommandReceived {
                        command: Command::Abort,
                        accepted: true,
                        ..
                    }
                )
        })
    };
    let by_operator = match causes.get(ordinal) {
        Some(cause) => *cause == RollbackCause::Operator,
        None => guessed(),
    };
    let result = match phase {
        Phase::RolledBack | Phase::Aborted => RollbackResult::Success,
        Phase::RollbackFailed => RollbackResult::Failed,
        _ => RollbackResult::InProgress,
    };
    let finished_at = match result {
        RollbackResult::InProgress => None,
        _ => after
            .iter()
            .rev()
            .find(|e| matches!(e.kind, EventKind::Finished { .. }))
            .map(|e| format_iso8601(e.at)),
    };
    let actions = after
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::ActionRequested {
                action, attempt: 1, ..
            } => Some(action.describe()),
            _ => None,
        })
        .collect();
    Some(RollbackInfo {
        reason: reason.clone(),
        trigger: if by_operator {
            RollbackTrigger::Operator
        } else {
            RollbackTrigger::Automatic
        },
        started_at: format_iso8601(first.at),
        finished_at,
        result,
        verification: verification(after),
        restored_version,
        actions,
    })
}

/// The artifact of the first `deploy` of `version` in the log.
fn artifact_of(events: &[Event], version: Option<&str>) -> Option<String> {
    let version = version?;
    events.iter().find_map(|e| match &e.kind {
        EventKind::ActionRequested { action, .. } => match &**action {
            Action::Deploy { revision, .. } if revision.version.to_string() == version => {
                Some(revision.artifact.clone())
            }
            _ => None,
        },
        _ => None,
    })
}

impl DeploymentRecord {
    /// Builds the record from an event log (`RunReport::events`, or a replayed journal).
    /// Fails with [`RecordError::NotStarted`] when the log has no `started` event.
    pub fn from_events(events: &[Event], meta: &RecordMeta) -> Result<Self, RecordError> {
        Self::build(events, meta, None, &[])
    }

    /// Builds the record from a runner's report: the same record
    /// [`from_journal`](Self::from_journal) builds from that rollout's journal (both take the
    /// event log and the spec, and go through one builder).
    pub fn from_report(report: &RunReport, meta: &RecordMeta) -> Result<Self, RecordError> {
        Self::build(
            &report.events,
            meta,
            report.spec.as_deref(),
            &report.rollback_causes,
        )
    }

    /// Builds from events; `spec` fills what the events lack (a rejected plan has no
    /// `started` event; artifacts not deployed during the rollout). The one builder behind
    /// [`from_events`](Self::from_events), [`from_report`](Self::from_report) and
    /// [`from_journal`](Self::from_journal).
    ///
    /// `causes`: why each rollback started, in the order of the `rollback_started` events
    /// (the engine's [`Effect::RollbackCause`](crate::engine::Effect::RollbackCause)); empty
    /// when only the events are known.
    pub(crate) fn build(
        events: &[Event],
        meta: &RecordMeta,
        spec: Option<&RolloutSpec>,
        causes: &[RollbackCause],
    ) -> Result<Self, RecordError> {
        let start = start_facts(events, spec)?;
        let attempt = final_attempt(events);
        let (phase, phase_at) = final_phase(events);
        let status = DeploymentStatus::from_phase(phase);
        let settled_at = if status == DeploymentStatus::InProgress {
            None
        } else {
            phase_at
        };
        let end = settled_at
            .or_else(|| events.last().map(|e| e.at))
            .unwrap_or(start.at);
        let took = end.since(start.at);
        let attempts = events
            .iter()
            .filter(|e| {
                matches!(
                    e.kind,
                    EventKind::PhaseChanged {
                        to: Phase::Gating,
                        ..
                    }
                )
            })
            .count();
        let artifact = artifact_of(events, Some(&start.version))
            .or_else(|| spec.map(|s| s.candidate.artifact.clone()));
        let previous_artifact =
            artifact_of(events, start.previous_version.as_deref()).or_else(|| {
                spec.and_then(|s| s.stable.as_ref())
                    .map(|r| r.artifact.clone())
            });
        Ok(DeploymentRecord {
            rollback: rollback_info(
                events,
                attempt,
                causes,
                phase,
                start.previous_version.clone(),
            ),
            validation: ValidationSummary::from_events(attempt, meta),
            reason: current_reason(attempt),
            gates: gate_results(attempt),
            migrations: super::migrations::migrations_of(events),
            id: start.id,
            service: start.service,
            version: start.version,
            environment: start.environment,
            deployed_at: format_iso8601(start.at),
            deployed_by: meta.deployed_by.clone(),
            status,
            duration: format_duration(Duration::from_secs(took.as_secs())),
            duration_ms: took.as_millis() as u64,
            previous_version: start.previous_version,
            changes: meta.changes.clone(),
            change_id: meta.change_id.clone(),
            approved_by: meta.approved_by.clone(),
            deploy_window: meta.deploy_window.clone(),
            rollback_tested: meta.rollback_tested,
            monitoring_period: meta.monitoring_period,
            escalation_path: meta.escalation_path.clone(),
            strategy: start.strategy,
            finished_at: settled_at.map(format_iso8601),
            attempts: attempts.max(1) as u32,
            artifact,
            previous_artifact,
        })
    }

    /// Pretty JSON.
    pub fn to_json(&self) -> Result<String, RecordError> {
        serde_json::to_string_pretty(self).map_err(|e| RecordError::Encode {
            id: self.id.clone(),
            message: e.to_string(),
        })
    }

    /// `deployedAt` as a timestamp (`None` if the text is not ISO 8601 UTC).
    pub fn deployed_at_ms(&self) -> Option<Timestamp> {
        parse_iso8601(&self.deployed_at).ok()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::engine::StartInfo;

    fn ev(at: u64, kind: EventKind) -> Event {
        Event {
            at: Timestamp(at),
            kind,
        }
    }

    /// An automatic rollback with an accepted `abort` recorded at the same instant.
    fn coincidence() -> Vec<Event> {
        vec![
            ev(
                0,
                EventKind::Started(Box::new(StartInfo {
                    id: "r1".into(),
                    service: "web".into(),
                    environment: "prod".into(),
                    version: "2.0.0".into(),
                    previous_version: Some("1.0.0".into()),
                    strategy: "canary".into(),
                    steps: 3,
                })),
            ),
            ev(
                0,
                EventKind::PhaseChanged {
                    from: Phase::Pending,
                    to: Phase::Gating,
                },
            ),
            ev(
                9_000,
                EventKind::RollbackStarted {
                    reason: "analysis failed: error rate 7%".into(),
                },
            ),
            ev(
                9_000,
                EventKind::CommandReceived {
                    command: Command::Abort,
                    accepted: true,
                    note: String::new(),
                },
            ),
            ev(
                9_000,
                EventKind::Finished {
                    phase: Phase::RolledBack,
                    reason: "analysis failed: error rate 7%".into(),
                },
            ),
        ]
    }

    #[test]
    fn the_engines_cause_decides_who_rolled_back_not_an_abort_at_the_same_instant() {
        let events = coincidence();
        let meta = RecordMeta::default();
        let by_cause =
            DeploymentRecord::build(&events, &meta, None, &[RollbackCause::Analysis]).unwrap();
        assert_eq!(
            by_cause.rollback.unwrap().trigger,
            RollbackTrigger::Automatic
        );
        // Only the events: the instant decides, as it always did.
        let guessed = DeploymentRecord::from_events(&events, &meta).unwrap();
        assert_eq!(guessed.rollback.unwrap().trigger, RollbackTrigger::Operator);
        let by_operator =
            DeploymentRecord::build(&events, &meta, None, &[RollbackCause::Operator]).unwrap();
        assert_eq!(
            by_operator.rollback.unwrap().trigger,
            RollbackTrigger::Operator
        );
    }

    #[test]
    fn the_cause_of_the_final_attempts_first_rollback_is_the_one_counted() {
        // Attempt 1 rolled back (aborted by an operator), a retry started attempt 2, which
        // rolled back after a failed analysis.
        let mut events = coincidence();
        events.push(ev(
            10_000,
            EventKind::PhaseChanged {
                from: Phase::RolledBack,
                to: Phase::Gating,
            },
        ));
        events.push(ev(
            20_000,
            EventKind::RollbackStarted {
                reason: "analysis failed".into(),
            },
        ));
        let causes = [RollbackCause::Operator, RollbackCause::Analysis];
        let record =
            DeploymentRecord::build(&events, &RecordMeta::default(), None, &causes).unwrap();
        assert_eq!(record.rollback.unwrap().trigger, RollbackTrigger::Automatic);
    }
}
