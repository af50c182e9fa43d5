//! The timeline's data, pure and unit-tested: what the report's chart plots, lane by lane,
//! on one time axis, built from the engine's event log (the same input as the ship report).
//!
//! - **Traffic weight per revision**: a step series per revision; a point where its weight
//!   changes: when the platform accepted a `route` action (`action_applied`), or when a
//!   `converged` event's fleet shows another weight. A revision missing from a route gets 0.
//! - **Replicas per revision**: `desired` from applied `deploy` / `scale` actions and
//!   `converged` fleets, `ready` from `converged` fleets; a `retire` sets both to 0. Only
//!   where events carry them: no point is invented in between.
//! - **Validators**: one lane per validator that judged the candidate (analysis steps and
//!   background analysis; stable's post-rollback verification is not plotted), one series
//!   per measurement name. `m_baseline` (`-baseline`, `.baseline`) is stable's value of
//!   `m`, its own series marked as a baseline. The **critical** line of `m` is the last
//!   threshold reported with `m`; the **warning** line is the threshold of the metric
//!   threshold validator's `m.warning` measurement (reported only when the warning level was
//!   passed, so a warning line shows only then). Which side is bad: above, unless the
//!   warning level is above the critical one, or a failed verdict's value lies below the
//!   critical level.
//!   Lines join the samples of one analysis run; a new run (its measurement 1) starts a new
//!   line.
//! - **Gaps, never zero**: a NaN or infinite value, a verdict without the measurement, and a
//!   validator that could not measure (an error) are samples with no value
//!   ([`Sample::value`] `None`), and the lane keeps a [`Gap`] with the reason.
//! - **Markers**: every step start, gate answer (passed, blocked, waiting), pause, operator
//!   command (promote, abort, …, accepted or ignored), failure, rollback start and the end,
//!   each with its reason text.

use super::super::fmt_num;
use super::super::summary::CheckStatus;
use crate::engine::{AnalysisScope, Command, Event, EventKind, MeasureResult};
use crate::gate::GateOutcome;
use crate::model::{Action, FleetState};
use crate::time::Timestamp;
use crate::validator::Outcome;
use std::collections::BTreeMap;

/// A value that holds from `at` on (a step series).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StepPoint {
    /// From when.
    pub at: Timestamp,
    /// The value from then on.
    pub value: u32,
}

/// Traffic weight of one revision over time, percent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WeightSeries {
    /// Revision id.
    pub revision: String,
    /// Where the weight changed, in time order.
    pub points: Vec<StepPoint>,
}

/// Replicas of one revision over time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicaSeries {
    /// Revision id.
    pub revision: String,
    /// Replicas asked for, where the events say.
    pub desired: Vec<StepPoint>,
    /// Replicas ready, where a `converged` fleet says.
    pub ready: Vec<StepPoint>,
}

/// One measurement of a metric, or a gap.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// When it was measured.
    pub at: Timestamp,
    /// The finite value; `None` is a gap (NaN, infinite, missing, or the validator failed
    /// to measure): drawn as a break in the line, never as zero.
    pub value: Option<f64>,
    /// The verdict's outcome (`error` when the validator could not measure).
    pub outcome: CheckStatus,
    /// The verdict's message or the error, for the tooltip.
    pub note: String,
    /// Which analysis run measured it (numbered from 0 in order of their first
    /// measurement): lines join the samples of one run only, never across runs.
    pub run: u32,
}

/// Which side of the threshold is bad.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BadSide {
    /// Values above the line are bad (error rate, latency).
    Above,
    /// Values below the line are bad (success rate, throughput).
    Below,
}

/// One measurement name of one validator.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricSeries {
    /// Measurement name.
    pub name: String,
    /// Unit, as reported.
    pub unit: String,
    /// For a baseline series (stable's value), the metric it is the baseline of.
    pub baseline_of: Option<String>,
    /// Samples in time order, gaps included.
    pub samples: Vec<Sample>,
    /// The critical level (the last threshold reported), if any.
    pub critical: Option<f64>,
    /// The warning level, if the validator reported one.
    pub warning: Option<f64>,
    /// Which side of the levels is bad.
    pub bad: BadSide,
}

/// A measurement that produced nothing to plot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gap {
    /// When.
    pub at: Timestamp,
    /// Why (the validator's error, `no measurements`, or `NaN`).
    pub reason: String,
}

/// One validator's lane.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidatorLane {
    /// Validator name.
    pub validator: String,
    /// Its series, in order of first appearance.
    pub metrics: Vec<MetricSeries>,
    /// Measurements with nothing to plot.
    pub gaps: Vec<Gap>,
}

/// What a marker marks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum MarkerKind {
    /// A step began.
    StepStarted,
    /// A gate passed.
    GatePassed,
    /// A gate blocked the rollout.
    GateBlocked,
    /// A gate said wait (or waits for a person).
    GateWaiting,
    /// The rollout paused.
    Paused,
    /// An operator command arrived (promote, abort, pause, resume, retry, approve).
    Command,
    /// A failure.
    Failed,
    /// A rollback began.
    Rollback,
    /// The rollout settled.
    Finished,
}

impl MarkerKind {
    /// Stable CSS class / id part (`rollback`, `gate-blocked`).
    pub fn class(self) -> &'static str {
        match self {
            MarkerKind::StepStarted => "step",
            MarkerKind::GatePassed => "gate-passed",
            MarkerKind::GateBlocked => "gate-blocked",
            MarkerKind::GateWaiting => "gate-waiting",
            MarkerKind::Paused => "pause",
            MarkerKind::Command => "command",
            MarkerKind::Failed => "failure",
            MarkerKind::Rollback => "rollback",
            MarkerKind::Finished => "finished",
        }
    }
}

/// A moment on the timeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Marker {
    /// When.
    pub at: Timestamp,
    /// What.
    pub kind: MarkerKind,
    /// Short label (`step 3`, `abort`, `gate change-window`).
    pub label: String,
    /// The reason or description, for the tooltip.
    pub detail: String,
}

/// Everything the chart plots.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Timeline {
    /// The first event's time.
    pub start: Timestamp,
    /// The last event's time.
    pub end: Timestamp,
    /// Traffic weight per revision.
    pub weights: Vec<WeightSeries>,
    /// Replicas per revision.
    pub replicas: Vec<ReplicaSeries>,
    /// One lane per validator.
    pub validators: Vec<ValidatorLane>,
    /// Markers, in time order.
    pub markers: Vec<Marker>,
}

/// Pushes a step point when the value differs from the last one.
fn push_change(points: &mut Vec<StepPoint>, at: Timestamp, value: u32) {
    if points.last().map(|p| p.value) != Some(value) {
        points.push(StepPoint { at, value });
    }
}

fn entry<'a, T>(
    list: &'a mut Vec<T>,
    key: &str,
    name: impl Fn(&T) -> &str,
    new: impl FnOnce() -> T,
) -> &'a mut T {
    let pos = match list.iter().position(|x| name(x) == key) {
        Some(p) => p,
        None => {
            list.push(new());
            list.len() - 1
        }
    };
    &mut list[pos]
}

fn baseline_of(name: &str) -> Option<&str> {
    name.strip_suffix("_baseline")
        .or_else(|| name.strip_suffix("-baseline"))
        .or_else(|| name.strip_suffix(".baseline"))
        .filter(|m| !m.is_empty())
}

fn command_word(c: &Command) -> String {
    match c {
        Command::Pause => "pause".into(),
        Command::Resume => "resume".into(),
        Command::Promote { full: false } => "promote".into(),
        Command::Promote { full: true } => "promote (full)".into(),
        Command::Abort => "abort".into(),
        Command::Retry => "retry".into(),
        Command::Approve { gate } => format!("approve {gate}"),
    }
}

#[derive(Default)]
struct Builder {
    tl: Timeline,
    routes: BTreeMap<u64, Action>,
    /// The current run number of each analysis scope, and how many runs began.
    runs: Vec<(AnalysisScope, u32)>,
    run_count: u32,
    run: u32,
}

impl Builder {
    fn weight(&mut self, at: Timestamp, revision: &str, value: u32) {
        let s = entry(
            &mut self.tl.weights,
            revision,
            |s| &s.revision,
            || WeightSeries {
                revision: revision.to_string(),
                points: vec![],
            },
        );
        push_change(&mut s.points, at, value);
    }

    fn replicas(
        &mut self,
        at: Timestamp,
        revision: &str,
        desired: Option<u32>,
        ready: Option<u32>,
    ) {
        let s = entry(
            &mut self.tl.replicas,
            revision,
            |s| &s.revision,
            || ReplicaSeries {
                revision: revision.to_string(),
                desired: vec![],
                ready: vec![],
            },
        );
        if let Some(d) = desired {
            push_change(&mut s.desired, at, d);
        }
        if let Some(r) = ready {
            push_change(&mut s.ready, at, r);
        }
    }

    fn fleet(&mut self, at: Timestamp, fleet: &FleetState) {
        for r in &fleet.revisions {
            self.weight(at, r.revision.as_str(), u32::from(r.weight));
            self.replicas(at, r.revision.as_str(), Some(r.desired), Some(r.ready));
        }
    }

    fn applied(&mut self, at: Timestamp, action: &Action) {
        match action {
            Action::Route { weights } => {
                let known: Vec<String> =
                    self.tl.weights.iter().map(|s| s.revision.clone()).collect();
                for (rev, w) in &weights.0 {
                    self.weight(at, rev.as_str(), u32::from(*w));
                }
                for rev in known {
                    if !weights.0.iter().any(|(r, _)| r.as_str() == rev) {
                        self.weight(at, &rev, 0);
                    }
                }
            }
            Action::Deploy { revision, replicas } => {
                self.replicas(at, revision.id.as_str(), Some(*replicas), None);
            }
            Action::Scale { revision, replicas } => {
                self.replicas(at, revision.as_str(), Some(*replicas), None);
            }
            Action::Retire { revision } => {
                self.replicas(at, revision.as_str(), Some(0), Some(0));
                if self
                    .tl
                    .weights
                    .iter()
                    .any(|s| s.revision == revision.as_str())
                {
                    self.weight(at, revision.as_str(), 0);
                }
            }
            Action::SetFlag { .. } => {}
        }
    }

    fn marker(
        &mut self,
        at: Timestamp,
        kind: MarkerKind,
        label: impl Into<String>,
        detail: impl Into<String>,
    ) {
        self.tl.markers.push(Marker {
            at,
            kind,
            label: label.into(),
            detail: detail.into(),
        });
    }

    /// The run a measurement belongs to: measurement 1 of a scope starts a new run.
    fn run_of(&mut self, scope: &AnalysisScope, number: u32) -> u32 {
        match self.runs.iter_mut().find(|(s, _)| s == scope) {
            Some((_, run)) if number > 1 => *run,
            found => {
                let run = self.run_count;
                self.run_count += 1;
                match found {
                    Some((_, r)) => *r = run,
                    None => self.runs.push((scope.clone(), run)),
                }
                run
            }
        }
    }

    fn measured(&mut self, at: Timestamp, results: &[MeasureResult]) {
        let run = self.run;
        for r in results {
            match r {
                MeasureResult::Error(e) => {
                    let lane = self.lane(&e.validator);
                    lane.gaps.push(Gap {
                        at,
                        reason: format!("could not measure: {}", e.message),
                    });
                    for m in &mut lane.metrics {
                        m.samples.push(Sample {
                            at,
                            value: None,
                            outcome: CheckStatus::Error,
                            note: e.message.clone(),
                            run,
                        });
                    }
                }
                MeasureResult::Verdict(v) => {
                    let outcome = CheckStatus::from(v.outcome);
                    let lane = self.lane(&v.validator);
                    let plotted: Vec<&crate::validator::Measurement> = v
                        .measurements
                        .iter()
                        .filter(|m| !m.name.ends_with(".warning"))
                        .collect();
                    if plotted.is_empty() {
                        lane.gaps.push(Gap {
                            at,
                            reason: format!("no measurements: {}", v.message),
                        });
                    }
                    for m in &plotted {
                        let value = m.value.is_finite().then_some(m.value);
                        if value.is_none() {
                            lane.gaps.push(Gap {
                                at,
                                reason: format!("{} = {}: {}", m.name, fmt_num(m.value), v.message),
                            });
                        }
                        let series = entry(
                            &mut lane.metrics,
                            &m.name,
                            |s| &s.name,
                            || MetricSeries {
                                name: m.name.clone(),
                                unit: m.unit.clone(),
                                baseline_of: baseline_of(&m.name).map(str::to_string),
                                samples: vec![],
                                critical: None,
                                warning: None,
                                bad: BadSide::Above,
                            },
                        );
                        if let Some(t) = m.threshold {
                            if series.baseline_of.is_none() {
                                series.critical = Some(t);
                            }
                        }
                        if series.unit.is_empty() {
                            series.unit = m.unit.clone();
                        }
                        if let (Some(x), Some(t), Outcome::Fail) = (value, m.threshold, v.outcome) {
                            if x < t && series.baseline_of.is_none() {
                                series.bad = BadSide::Below;
                            }
                        }
                        series.samples.push(Sample {
                            at,
                            value,
                            outcome,
                            note: v.message.clone(),
                            run,
                        });
                    }
                    // After the series exist: `m.warning` sets the warning level of `m`.
                    for m in &v.measurements {
                        if let Some(metric) = m.name.strip_suffix(".warning") {
                            if let (Some(series), Some(t)) = (
                                lane.metrics.iter_mut().find(|s| s.name == metric),
                                m.threshold,
                            ) {
                                series.warning = Some(t);
                            }
                        }
                    }
                    // A series this verdict did not report is a gap at this instant.
                    for series in &mut lane.metrics {
                        if !plotted.iter().any(|m| m.name == series.name) {
                            series.samples.push(Sample {
                                at,
                                value: None,
                                outcome,
                                note: format!("{} not reported: {}", series.name, v.message),
                                run,
                            });
                        }
                    }
                    // A warning below critical means bad is above, and vice versa.
                    for series in &mut lane.metrics {
                        if let (Some(w), Some(c)) = (series.warning, series.critical) {
                            series.bad = if w <= c {
                                BadSide::Above
                            } else {
                                BadSide::Below
                            };
                        }
                    }
                }
            }
        }
    }

    fn lane(&mut self, validator: &str) -> &mut ValidatorLane {
        entry(
            &mut self.tl.validators,
            validator,
            |l| &l.validator,
            || ValidatorLane {
                validator: validator.to_string(),
                metrics: vec![],
                gaps: vec![],
            },
        )
    }
}

impl Timeline {
    /// Builds the timeline from a whole event log (every attempt: a retried rollout shows
    /// its earlier attempts too). An empty log gives an empty timeline.
    pub fn from_events(events: &[Event]) -> Self {
        let mut b = Builder::default();
        b.tl.start = events.first().map(|e| e.at).unwrap_or_default();
        b.tl.end = events.last().map(|e| e.at).unwrap_or_default();
        for e in events {
            let at = e.at;
            match &e.kind {
                EventKind::Rejected { reason } => {
                    b.marker(at, MarkerKind::Failed, "rejected", reason.clone())
                }
                EventKind::GateChecked { gate, outcome } => match &**outcome {
                    GateOutcome::Pass => {
                        b.marker(at, MarkerKind::GatePassed, format!("gate {gate}"), "passed")
                    }
                    GateOutcome::Block { reason } => b.marker(
                        at,
                        MarkerKind::GateBlocked,
                        format!("gate {gate}"),
                        format!("blocked: {reason}"),
                    ),
                    GateOutcome::Wait { reason, .. } | GateOutcome::AwaitPerson { reason, .. } => b
                        .marker(
                            at,
                            MarkerKind::GateWaiting,
                            format!("gate {gate}"),
                            format!("wait: {reason}"),
                        ),
                },
                EventKind::StepStarted { step, description } => b.marker(
                    at,
                    MarkerKind::StepStarted,
                    format!("step {}", step + 1),
                    description.clone(),
                ),
                EventKind::ActionRequested { id, action, .. } => {
                    b.routes.insert(*id, (**action).clone());
                }
                EventKind::ActionApplied { id } => {
                    if let Some(action) = b.routes.remove(id) {
                        b.applied(at, &action);
                    }
                }
                EventKind::Converged { fleet, .. } => b.fleet(at, fleet),
                EventKind::Measured {
                    scope,
                    results,
                    number,
                } if *scope != AnalysisScope::RollbackVerification => {
                    b.run = b.run_of(scope, *number);
                    b.measured(at, results);
                }
                EventKind::Paused { reason } => {
                    b.marker(at, MarkerKind::Paused, "pause", reason.clone())
                }
                EventKind::CommandReceived {
                    command,
                    accepted,
                    note,
                } => {
                    let detail = if *accepted {
                        "accepted".to_string()
                    } else {
                        format!("ignored: {note}")
                    };
                    b.marker(at, MarkerKind::Command, command_word(command), detail)
                }
                EventKind::Failed { reason } => {
                    b.marker(at, MarkerKind::Failed, "failure", reason.clone())
                }
                EventKind::RollbackStarted { reason } => {
                    b.marker(at, MarkerKind::Rollback, "rollback", reason.clone())
                }
                EventKind::Finished { phase, reason } => {
                    b.marker(at, MarkerKind::Finished, phase.to_string(), reason.clone())
                }
                _ => {}
            }
        }
        b.tl
    }

    /// True when there is nothing to plot.
    pub fn is_empty(&self) -> bool {
        self.weights.is_empty()
            && self.replicas.is_empty()
            && self.validators.is_empty()
            && self.markers.is_empty()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
pub(crate) mod tests {
    use super::*;
    use crate::engine::{AnalysisResult, Phase, StartInfo};
    use crate::model::{Revision, RevisionId, RevisionState, Role, WeightSet};
    use crate::validator::{Measurement, ValidatorError, Verdict};
    use std::sync::Arc;

    pub(crate) fn ev(at: u64, kind: EventKind) -> Event {
        Event {
            at: Timestamp(at),
            kind,
        }
    }
    fn v2() -> Revision {
        Revision::new("web-v2", "2.0.0".parse().unwrap(), "web:2")
    }
    fn request(at: u64, id: u64, action: Action) -> Event {
        ev(
            at,
            EventKind::ActionRequested {
                id,
                action: Arc::new(action),
                attempt: 1,
            },
        )
    }
    fn applied(at: u64, id: u64) -> Event {
        ev(at, EventKind::ActionApplied { id })
    }
    fn route(pairs: &[(&str, u8)]) -> Action {
        Action::Route {
            weights: WeightSet(
                pairs
                    .iter()
                    .map(|(r, w)| (RevisionId::from(*r), *w))
                    .collect(),
            ),
        }
    }
    fn state(rev: &str, desired: u32, ready: u32, weight: u8) -> RevisionState {
        RevisionState {
            revision: RevisionId::from(rev),
            desired,
            ready,
            updated: ready,
            weight,
        }
    }
    pub(crate) fn started(at: u64, service: &str) -> Event {
        ev(
            at,
            EventKind::Started(Box::new(StartInfo {
                id: "r1".into(),
                service: service.into(),
                environment: "production".into(),
                version: "2.0.0".into(),
                previous_version: Some("1.0.0".into()),
                strategy: "canary".into(),
                steps: 3,
            })),
        )
    }
    pub(crate) fn measured(at: u64, number: u32, results: Vec<MeasureResult>) -> Event {
        ev(
            at,
            EventKind::Measured {
                scope: AnalysisScope::Step { step: 2 },
                number,
                results: results.into(),
            },
        )
    }
    pub(crate) fn err_rate(outcome: Outcome, value: f64, warning: bool) -> MeasureResult {
        let mut v = Verdict::new("error-rate", outcome, format!("error-rate = {value}"));
        v = v.with(Measurement::new("error-rate", value, Some(0.05), ""));
        if warning {
            v = v.with(Measurement::new(
                "error-rate.warning",
                value,
                Some(0.01),
                "",
            ));
        }
        MeasureResult::Verdict(v)
    }

    #[test]
    fn weights_are_steps_per_revision_from_applied_routes_and_observed_fleets() {
        let events = vec![
            started(0, "web"),
            request(
                0,
                1,
                Action::Deploy {
                    revision: v2(),
                    replicas: 1,
                },
            ),
            applied(1_000, 1),
            ev(
                10_000,
                EventKind::Converged {
                    role: Role::Candidate,
                    replicas: 1,
                    fleet: Arc::new(FleetState {
                        revisions: vec![state("web-v1", 4, 4, 100), state("web-v2", 1, 1, 0)],
                        flags: Default::default(),
                    }),
                },
            ),
            request(10_000, 2, route(&[("web-v1", 90), ("web-v2", 10)])),
            applied(12_000, 2),
            // A route the platform refused moves nothing.
            request(15_000, 3, route(&[("web-v1", 50), ("web-v2", 50)])),
            // Only web-v1 named: web-v2 drops to 0.
            request(20_000, 4, route(&[("web-v1", 100)])),
            applied(20_000, 4),
            request(
                25_000,
                5,
                Action::Retire {
                    revision: RevisionId::from("web-v2"),
                },
            ),
            applied(26_000, 5),
        ];
        let tl = Timeline::from_events(&events);
        let pts = |rev: &str| -> Vec<(u64, u32)> {
            let s = tl.weights.iter().find(|s| s.revision == rev).unwrap();
            s.points.iter().map(|p| (p.at.0, p.value)).collect()
        };
        assert_eq!(pts("web-v1"), [(10_000, 100), (12_000, 90), (20_000, 100)]);
        assert_eq!(pts("web-v2"), [(10_000, 0), (12_000, 10), (20_000, 0)]);
        let v2 = tl.replicas.iter().find(|s| s.revision == "web-v2").unwrap();
        let d: Vec<_> = v2.desired.iter().map(|p| (p.at.0, p.value)).collect();
        let r: Vec<_> = v2.ready.iter().map(|p| (p.at.0, p.value)).collect();
        assert_eq!(
            d,
            [(1_000, 1), (26_000, 0)],
            "desired from deploy, then retire"
        );
        assert_eq!(
            r,
            [(10_000, 1), (26_000, 0)],
            "ready only where a fleet says"
        );
        assert_eq!((tl.start.0, tl.end.0), (0, 26_000));
    }

    #[test]
    fn measurements_are_points_against_levels_and_missing_data_is_a_gap_never_zero() {
        let events = vec![
            measured(60_000, 1, vec![err_rate(Outcome::Pass, 0.02, true)]),
            measured(
                120_000,
                2,
                vec![MeasureResult::Error(ValidatorError {
                    validator: "error-rate".into(),
                    message: "connection refused".into(),
                })],
            ),
            measured(
                180_000,
                3,
                vec![err_rate(Outcome::Inconclusive, f64::NAN, false)],
            ),
            measured(
                240_000,
                4,
                vec![MeasureResult::Verdict(Verdict::new(
                    "error-rate",
                    Outcome::Inconclusive,
                    "no data",
                ))],
            ),
            measured(300_000, 5, vec![err_rate(Outcome::Fail, 0.12, false)]),
        ];
        let tl = Timeline::from_events(&events);
        assert_eq!(tl.validators.len(), 1);
        let lane = &tl.validators[0];
        assert_eq!(
            lane.metrics.len(),
            1,
            "the .warning measurement is a level, not a series"
        );
        let m = &lane.metrics[0];
        let values: Vec<(u64, Option<f64>)> = m.samples.iter().map(|s| (s.at.0, s.value)).collect();
        assert_eq!(
            values,
            [
                (60_000, Some(0.02)),
                (120_000, None),
                (180_000, None),
                (240_000, None),
                (300_000, Some(0.12))
            ]
        );
        assert!(
            !m.samples.iter().any(|s| s.value == Some(0.0)),
            "a gap is never zero"
        );
        assert_eq!(
            (m.critical, m.warning, m.bad),
            (Some(0.05), Some(0.01), BadSide::Above)
        );
        assert_eq!(m.samples[1].outcome, CheckStatus::Error);
        assert_eq!(m.samples[4].outcome, CheckStatus::Failed);
        let gaps: Vec<(u64, &str)> = lane
            .gaps
            .iter()
            .map(|g| (g.at.0, g.reason.as_str()))
            .collect();
        assert_eq!(gaps.len(), 3);
        assert_eq!(gaps[0], (120_000, "could not measure: connection refused"));
        assert!(gaps[1].1.starts_with("error-rate = NaN"), "{}", gaps[1].1);
        assert!(gaps[2].1.starts_with("no measurements"), "{}", gaps[2].1);
    }

    #[test]
    fn a_failed_value_below_its_level_means_below_is_bad_and_baselines_are_their_own_series() {
        let v = Verdict::new("throughput", Outcome::Fail, "too low")
            .with(Measurement::new("rps", 40.0, Some(100.0), "req/s"))
            .with(Measurement::new("rps_baseline", 120.0, None, "req/s"));
        let tl = Timeline::from_events(&[
            measured(1_000, 1, vec![MeasureResult::Verdict(v)]),
            // Stable's verification after a rollback is not the candidate's lane.
            ev(
                2_000,
                EventKind::Measured {
                    scope: AnalysisScope::RollbackVerification,
                    number: 1,
                    results: vec![err_rate(Outcome::Pass, 0.0, false)].into(),
                },
            ),
        ]);
        assert_eq!(tl.validators.len(), 1);
        let ms = &tl.validators[0].metrics;
        assert_eq!(ms[0].bad, BadSide::Below);
        assert_eq!(ms[1].baseline_of.as_deref(), Some("rps"));
        assert_eq!(ms[1].critical, None);
    }

    #[test]
    fn samples_of_different_analysis_runs_are_told_apart() {
        let tl = Timeline::from_events(&[
            measured(1_000, 1, vec![err_rate(Outcome::Pass, 0.01, false)]),
            measured(2_000, 2, vec![err_rate(Outcome::Pass, 0.01, false)]),
            measured(9_000, 1, vec![err_rate(Outcome::Pass, 0.02, false)]),
        ]);
        let runs: Vec<u32> = tl.validators[0].metrics[0]
            .samples
            .iter()
            .map(|s| s.run)
            .collect();
        assert_eq!(runs, [0, 0, 1]);
    }

    #[test]
    fn markers_carry_kind_label_and_reason() {
        let events = vec![
            ev(
                0,
                EventKind::GateChecked {
                    gate: "window".into(),
                    outcome: Box::new(GateOutcome::Block {
                        reason: "outside the deploy window".into(),
                    }),
                },
            ),
            ev(
                1,
                EventKind::GateChecked {
                    gate: "ci".into(),
                    outcome: Box::new(GateOutcome::Pass),
                },
            ),
            ev(
                2,
                EventKind::StepStarted {
                    step: 0,
                    description: "set candidate weight 10%".into(),
                },
            ),
            ev(
                3,
                EventKind::Paused {
                    reason: "waiting for a person".into(),
                },
            ),
            ev(
                4,
                EventKind::CommandReceived {
                    command: Command::Promote { full: false },
                    accepted: false,
                    note: "not paused".into(),
                },
            ),
            ev(
                5,
                EventKind::CommandReceived {
                    command: Command::Abort,
                    accepted: true,
                    note: String::new(),
                },
            ),
            ev(
                6,
                EventKind::Failed {
                    reason: "error rate 12%".into(),
                },
            ),
            ev(
                6,
                EventKind::RollbackStarted {
                    reason: "error rate 12%".into(),
                },
            ),
            ev(
                6,
                EventKind::AnalysisCompleted {
                    scope: AnalysisScope::Step { step: 1 },
                    result: AnalysisResult::Failed,
                    message: "x".into(),
                },
            ),
            ev(
                7,
                EventKind::Finished {
                    phase: Phase::RolledBack,
                    reason: "error rate 12%".into(),
                },
            ),
        ];
        let tl = Timeline::from_events(&events);
        let got: Vec<(MarkerKind, &str, &str)> = tl
            .markers
            .iter()
            .map(|m| (m.kind, m.label.as_str(), m.detail.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                (
                    MarkerKind::GateBlocked,
                    "gate window",
                    "blocked: outside the deploy window"
                ),
                (MarkerKind::GatePassed, "gate ci", "passed"),
                (
                    MarkerKind::StepStarted,
                    "step 1",
                    "set candidate weight 10%"
                ),
                (MarkerKind::Paused, "pause", "waiting for a person"),
                (MarkerKind::Command, "promote", "ignored: not paused"),
                (MarkerKind::Command, "abort", "accepted"),
                (MarkerKind::Failed, "failure", "error rate 12%"),
                (MarkerKind::Rollback, "rollback", "error rate 12%"),
                (MarkerKind::Finished, "rolled_back", "error rate 12%"),
            ]
        );
    }

    #[test]
    fn an_empty_log_is_an_empty_timeline() {
        assert!(Timeline::from_events(&[]).is_empty());
    }
}
