//! The comparison table a release manager reads: one row per metric, its baseline and
//! threshold, its value in each analysis phase, and pass/fail. Built from `measured` events
//! of analysis steps; how baselines are found is in the [module docs](super).

use super::summary::CheckStatus;
use super::{final_attempt, fmt_num, md_cell};
use crate::engine::{AnalysisResult, AnalysisScope, Event, EventKind, MeasureResult};
use crate::model::{Action, RevisionId, Step};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One analysis phase (a column).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PhaseColumn {
    /// Step index (0-based; shown 1-based, as in `Plan::describe`).
    pub step: usize,
    /// Column header: `Step 3 (10%)`.
    pub label: String,
    /// The candidate's traffic share when the phase measured, if traffic was split.
    pub candidate_weight: Option<u8>,
    /// How the phase's analysis ended (`None` if it did not end).
    pub result: Option<AnalysisResult>,
}

/// One metric in one phase.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PhaseCell {
    /// Mean of the finite values (`None` when every value was NaN or infinite).
    pub value: Option<f64>,
    /// Measurements taken.
    pub samples: u32,
    /// Worst outcome of the verdicts that reported the metric.
    pub outcome: CheckStatus,
}

/// One metric (a row).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ComparisonRow {
    /// Measurement name.
    pub metric: String,
    /// Unit, as reported.
    pub unit: String,
    /// Mean of the `<metric>_baseline` measurements (stable's value), if any.
    pub baseline: Option<f64>,
    /// The last threshold reported with the metric, if any.
    pub threshold: Option<f64>,
    /// One cell per phase, `None` where the metric was not measured.
    pub cells: Vec<Option<PhaseCell>>,
    /// Worst cell.
    pub result: CheckStatus,
}

/// The per-phase comparison table.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Comparison {
    /// Columns, in step order.
    pub phases: Vec<PhaseColumn>,
    /// Rows, in order of first appearance.
    pub rows: Vec<ComparisonRow>,
}

#[derive(Default, Clone, Copy)]
struct Mean {
    sum: f64,
    finite: u32,
    samples: u32,
}

impl Mean {
    fn add(&mut self, v: f64) {
        self.samples += 1;
        if v.is_finite() {
            self.sum += v;
            self.finite += 1;
        }
    }
    fn merge(&mut self, o: Mean) {
        self.sum += o.sum;
        self.finite += o.finite;
        self.samples += o.samples;
    }
    fn value(&self) -> Option<f64> {
        (self.finite > 0).then(|| self.sum / f64::from(self.finite))
    }
}

#[derive(Default)]
struct PhaseData {
    weight: Option<u8>,
    /// Measured after the candidate was promoted: the post-deploy monitoring window.
    monitoring: bool,
    result: Option<AnalysisResult>,
    metrics: BTreeMap<String, (Mean, CheckStatus)>,
    baselines: BTreeMap<String, Mean>,
}

fn note(name: &str, order: &mut Vec<String>) {
    if !order.iter().any(|n| n == name) {
        order.push(name.to_string());
    }
}

fn baseline_of(name: &str) -> Option<&str> {
    name.strip_suffix("_baseline")
        .or_else(|| name.strip_suffix("-baseline"))
        .or_else(|| name.strip_suffix(".baseline"))
        .filter(|m| !m.is_empty())
}

fn candidate_id(events: &[Event]) -> Option<RevisionId> {
    let version = events.iter().find_map(|e| match &e.kind {
        EventKind::Started(start) => Some(start.version.clone()),
        _ => None,
    })?;
    events.iter().find_map(|e| match &e.kind {
        EventKind::ActionRequested { action, .. } => match &**action {
            Action::Deploy { revision, .. } if revision.version.to_string() == version => {
                Some(revision.id.clone())
            }
            _ => None,
        },
        _ => None,
    })
}

impl Comparison {
    /// Builds the table from an event log (the final attempt's analysis steps).
    pub fn from_events(events: &[Event]) -> Self {
        let candidate = candidate_id(events);
        let attempt = final_attempt(events);
        let mut weight: Option<u8> = None;
        let mut promoted = false;
        let mut phases: BTreeMap<usize, PhaseData> = BTreeMap::new();
        let mut order: Vec<String> = Vec::new();
        let mut units: BTreeMap<String, String> = BTreeMap::new();
        let mut thresholds: BTreeMap<String, f64> = BTreeMap::new();
        for e in attempt {
            match &e.kind {
                EventKind::ActionRequested { action, .. } => {
                    if let Action::Route { weights } = &**action {
                        weight = candidate.as_ref().map(|c| weights.of(c));
                    }
                }
                EventKind::StepStarted { step, description } => {
                    phases.remove(step);
                    promoted |= description == &Step::Promote.describe();
                }
                EventKind::AnalysisCompleted {
                    scope: AnalysisScope::Step { step },
                    result,
                    ..
                } => {
                    phases.entry(*step).or_default().result = Some(*result);
                }
                EventKind::Measured {
                    scope: AnalysisScope::Step { step },
                    results,
                    ..
                } => {
                    let phase = phases.entry(*step).or_default();
                    if phase.metrics.is_empty() && phase.baselines.is_empty() {
                        phase.weight = weight;
                        phase.monitoring = promoted;
                    }
                    for r in results.iter() {
                        let MeasureResult::Verdict(v) = r else {
                            continue;
                        };
                        for m in &v.measurements {
                            if let Some(metric) = baseline_of(&m.name) {
                                note(metric, &mut order);
                                phase
                                    .baselines
                                    .entry(metric.to_string())
                                    .or_default()
                                    .add(m.value);
                                continue;
                            }
                            note(&m.name, &mut order);
                            if !m.unit.is_empty() {
                                units.insert(m.name.clone(), m.unit.clone());
                            }
                            if let Some(t) = m.threshold {
                                thresholds.insert(m.name.clone(), t);
                            }
                            let cell = phase
                                .metrics
                                .entry(m.name.clone())
                                .or_insert((Mean::default(), CheckStatus::NotRun));
                            cell.0.add(m.value);
                            cell.1 = CheckStatus::worst([cell.1, v.outcome.into()]);
                        }
                    }
                }
                _ => {}
            }
        }
        let columns: Vec<PhaseColumn> = phases
            .iter()
            .map(|(step, p)| PhaseColumn {
                step: *step,
                label: match (p.monitoring, p.weight) {
                    (true, _) => format!("Monitoring (step {})", step + 1),
                    (false, Some(w)) => format!("Step {} ({w}%)", step + 1),
                    (false, None) => format!("Step {}", step + 1),
                },
                candidate_weight: p.weight,
                result: p.result,
            })
            .collect();
        let rows = order
            .into_iter()
            .map(|metric| {
                let mut baseline = Mean::default();
                let cells: Vec<Option<PhaseCell>> = phases
                    .values()
                    .map(|p| {
                        if let Some(b) = p.baselines.get(&metric) {
                            baseline.merge(*b);
                        }
                        p.metrics.get(&metric).map(|(mean, outcome)| PhaseCell {
                            value: mean.value(),
                            samples: mean.samples,
                            outcome: *outcome,
                        })
                    })
                    .collect();
                let result = CheckStatus::worst(cells.iter().flatten().map(|c| c.outcome));
                ComparisonRow {
                    unit: units.get(&metric).cloned().unwrap_or_default(),
                    threshold: thresholds.get(&metric).copied(),
                    baseline: baseline.value(),
                    cells,
                    result,
                    metric,
                }
            })
            .collect();
        Comparison {
            phases: columns,
            rows,
        }
    }

    /// True when no analysis step measured anything.
    pub fn is_empty(&self) -> bool {
        self.phases.is_empty()
    }

    /// The table as markdown.
    pub fn to_markdown(&self) -> String {
        if self.is_empty() {
            return "_No analysis step ran._\n".into();
        }
        let num = |v: Option<f64>| v.map(fmt_num).unwrap_or_else(|| "–".into());
        let mut out = String::from("| Metric | Baseline | Threshold |");
        for p in &self.phases {
            out += &format!(" {} |", md_cell(&p.label));
        }
        out += " Result |\n|---|---:|---:|";
        out += &"---:|".repeat(self.phases.len());
        out += "---|\n";
        for row in &self.rows {
            let name = if row.unit.is_empty() {
                row.metric.clone()
            } else {
                format!("{} ({})", row.metric, row.unit)
            };
            out += &format!(
                "| {} | {} | {} |",
                md_cell(&name),
                num(row.baseline),
                num(row.threshold)
            );
            for cell in &row.cells {
                match cell {
                    Some(c) => out += &format!(" {} {} |", num(c.value), verdict_word(c.outcome)),
                    None => out += " – |",
                }
            }
            out += &format!(" {} |\n", verdict_word(row.result));
        }
        out += "| **Analysis** | | |";
        for p in &self.phases {
            let word = match p.result {
                Some(AnalysisResult::Passed) => "passed",
                Some(AnalysisResult::Failed) => "FAILED",
                Some(AnalysisResult::Inconclusive) => "inconclusive",
                None => "not finished",
            };
            out += &format!(" {word} |");
        }
        out += " |\n";
        out
    }
}

fn verdict_word(s: CheckStatus) -> &'static str {
    match s {
        CheckStatus::Passed => "pass",
        CheckStatus::Failed => "FAIL",
        CheckStatus::Inconclusive => "inconclusive",
        CheckStatus::Error => "error",
        CheckStatus::NotRun => "–",
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::model::{Revision, WeightSet};
    use crate::time::Timestamp;
    use crate::validator::{Measurement, Outcome, Verdict};

    fn ev(at: u64, kind: EventKind) -> Event {
        Event {
            at: Timestamp(at),
            kind,
        }
    }
    fn measured(step: usize, outcome: Outcome, err: f64, base: f64) -> EventKind {
        let v = Verdict::new("err", outcome, "")
            .with(Measurement::new("error_rate", err, Some(5.0), "%"))
            .with(Measurement::new("error_rate_baseline", base, None, "%"));
        EventKind::Measured {
            scope: AnalysisScope::Step { step },
            number: 1,
            results: vec![MeasureResult::Verdict(v)].into(),
        }
    }
    fn route(w: u8) -> EventKind {
        let weights = WeightSet(vec![("web-v1".into(), 100 - w), ("web-v2".into(), w)]);
        EventKind::ActionRequested {
            id: 0,
            action: Action::Route { weights }.into(),
            attempt: 1,
        }
    }

    #[test]
    fn columns_per_step_means_baselines_and_worst_outcomes() {
        let rev = Revision::new("web-v2", semver::Version::new(2, 0, 0), "web:2");
        let events = vec![
            ev(
                0,
                EventKind::Started(Box::new(crate::engine::StartInfo {
                    id: "r".into(),
                    service: "web".into(),
                    environment: "prod".into(),
                    version: "2.0.0".into(),
                    previous_version: None,
                    strategy: "canary".into(),
                    steps: 6,
                })),
            ),
            ev(
                1,
                EventKind::ActionRequested {
                    id: 0,
                    action: Action::Deploy {
                        revision: rev,
                        replicas: 1,
                    }
                    .into(),
                    attempt: 1,
                },
            ),
            ev(2, route(10)),
            ev(3, measured(2, Outcome::Pass, 1.0, 0.5)),
            ev(4, measured(2, Outcome::Pass, 2.0, 0.5)),
            ev(
                5,
                EventKind::AnalysisCompleted {
                    scope: AnalysisScope::Step { step: 2 },
                    result: AnalysisResult::Passed,
                    message: String::new(),
                },
            ),
            ev(6, route(50)),
            ev(7, measured(5, Outcome::Fail, 12.0, 2.0)),
            ev(
                8,
                EventKind::AnalysisCompleted {
                    scope: AnalysisScope::Step { step: 5 },
                    result: AnalysisResult::Failed,
                    message: String::new(),
                },
            ),
        ];
        let c = Comparison::from_events(&events);
        let labels: Vec<_> = c.phases.iter().map(|p| p.label.as_str()).collect();
        assert_eq!(labels, ["Step 3 (10%)", "Step 6 (50%)"]);
        assert_eq!(c.rows.len(), 1, "the baseline is not a row of its own");
        let row = &c.rows[0];
        assert_eq!(
            (row.metric.as_str(), row.baseline, row.threshold),
            ("error_rate", Some(1.0), Some(5.0))
        );
        let cells: Vec<_> = row
            .cells
            .iter()
            .map(|c| c.as_ref().map(|c| (c.value, c.samples, c.outcome)))
            .collect();
        assert_eq!(
            cells,
            [
                Some((Some(1.5), 2, CheckStatus::Passed)),
                Some((Some(12.0), 1, CheckStatus::Failed))
            ]
        );
        assert_eq!(row.result, CheckStatus::Failed);
        let md = c.to_markdown();
        assert!(
            md.contains("| error_rate (%) | 1 | 5 | 1.5 pass | 12 FAIL | FAIL |"),
            "{md}"
        );
        assert!(
            md.contains("| **Analysis** | | | passed | FAILED | |"),
            "{md}"
        );
    }

    #[test]
    fn a_rerun_step_keeps_only_its_last_run() {
        let events = vec![
            ev(
                0,
                EventKind::StepStarted {
                    step: 1,
                    description: String::new(),
                },
            ),
            ev(1, measured(1, Outcome::Fail, 40.0, 1.0)),
            ev(
                2,
                EventKind::StepStarted {
                    step: 1,
                    description: String::new(),
                },
            ),
            ev(3, measured(1, Outcome::Pass, 2.0, 1.0)),
        ];
        let c = Comparison::from_events(&events);
        assert_eq!(c.phases[0].label, "Step 2");
        assert_eq!(
            c.rows[0].cells[0].as_ref().map(|c| (c.value, c.outcome)),
            Some((Some(2.0), CheckStatus::Passed))
        );
        assert!(Comparison::from_events(&[])
            .to_markdown()
            .contains("No analysis step ran"));
    }
}
