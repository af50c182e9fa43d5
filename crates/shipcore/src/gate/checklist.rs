//! The blocking checklist: gates checked in order, one at a time; the first one that does
//! not pass stops the list (later gates are not checked, so e.g. a lock is not taken when
//! the deploy window is closed). The result says which check stopped it and why.

use crate::gate::{Gate, GateContext, GateOutcome};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// One checked gate and its answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChecklistEntry {
    /// Gate name.
    pub gate: String,
    /// What it said.
    pub outcome: GateOutcome,
}

/// The outcome of a checklist, gate by gate.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ChecklistResult {
    /// The gates that were checked, in order; only the last one can be non-`Pass`.
    pub entries: Vec<ChecklistEntry>,
    /// Gates not checked because an earlier one did not pass.
    pub skipped: Vec<String>,
}

impl ChecklistResult {
    /// Every gate passed.
    pub fn passed(&self) -> bool {
        self.skipped.is_empty() && self.entries.iter().all(|e| e.outcome == GateOutcome::Pass)
    }

    /// The gate that blocked, if one did.
    pub fn blocked_by(&self) -> Option<&ChecklistEntry> {
        self.entries
            .iter()
            .find(|e| matches!(e.outcome, GateOutcome::Block { .. }))
    }

    /// The gate that asked to wait, if one did.
    pub fn waiting_on(&self) -> Option<&ChecklistEntry> {
        self.entries.iter().find(|e| {
            matches!(
                e.outcome,
                GateOutcome::Wait { .. } | GateOutcome::AwaitPerson { .. }
            )
        })
    }

    /// One line per gate: `[pass] tests`, `[block] window: outside the deploy window…`.
    pub fn summary(&self) -> String {
        let mut lines: Vec<String> = self
            .entries
            .iter()
            .map(|e| match &e.outcome {
                GateOutcome::Pass => format!("[pass] {}", e.gate),
                GateOutcome::Block { reason } => format!("[block] {}: {reason}", e.gate),
                GateOutcome::Wait { reason, .. } | GateOutcome::AwaitPerson { reason, .. } => {
                    format!("[wait] {}: {reason}", e.gate)
                }
            })
            .collect();
        lines.extend(self.skipped.iter().map(|g| format!("[skipped] {g}")));
        lines.join("\n")
    }
}

/// Checks `gates` in order and stops at the first that does not pass.
pub async fn check_all(gates: &[Arc<dyn Gate>], ctx: &GateContext) -> ChecklistResult {
    let mut result = ChecklistResult::default();
    let mut stopped = false;
    for gate in gates {
        if stopped {
            result.skipped.push(gate.name().to_string());
            continue;
        }
        let outcome = gate.check(ctx).await;
        stopped = outcome != GateOutcome::Pass;
        result.entries.push(ChecklistEntry {
            gate: gate.name().to_string(),
            outcome,
        });
    }
    result
}
