//! The four DORA keys from deployment records, per service and overall.
//!
//! Which records count: those that ended and changed something: `success`, `rolled_back`,
//! `rollback_failed`, `aborted`. `blocked` (nothing changed), `frozen` and `in_progress`
//! (not ended) are counted apart ([`DoraFigures::not_counted`]).
//!
//! - **Deployment frequency**: successful deployments per day, over the period from the
//!   first to the last counted record's `deployedAt`, at least one day long.
//! - **Lead time for changes**: median, over successful deployments whose
//!   `changes.committedAt` is known, of the time from that commit to the end of the
//!   deployment (`finishedAt`). Unknown (`None`) when no commit time is known, never 0.
//! - **Change failure rate**: (`rolled_back` + `rollback_failed` + `aborted`) ÷ counted.
//! - **Time to restore**: per service and environment in time order, a failure opens an
//!   incident at its `deployedAt` (further failures before a success belong to it) and the
//!   next success's `finishedAt` closes it; the median over closed incidents. Incidents never
//!   closed are counted in [`DoraFigures::unrestored`].

use super::super::deployment::{DeploymentRecord, DeploymentStatus};
use super::super::time_fmt::parse_iso8601;
use crate::time::Timestamp;
use std::time::Duration;

/// The DORA figures of a set of deployments.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DoraFigures {
    /// Deployments counted (ended, changed something).
    pub deployments: usize,
    /// Of which succeeded.
    pub successes: usize,
    /// Of which rolled back, failed to roll back, or were aborted.
    pub failures: usize,
    /// Records not counted: blocked, frozen, in progress.
    pub not_counted: usize,
    /// Length of the period the frequency is taken over, days (at least 1); `None` without
    /// deployments.
    pub period_days: Option<f64>,
    /// Successful deployments per day; `None` without deployments.
    pub deployments_per_day: Option<f64>,
    /// Median lead time for changes; `None` when no commit time is known.
    pub lead_time: Option<Duration>,
    /// Successful deployments with a known commit time (the lead time's sample).
    pub lead_time_samples: usize,
    /// Failures ÷ deployments; `None` without deployments.
    pub change_failure_rate: Option<f64>,
    /// Median time to restore over restored incidents; `None` when none was restored.
    pub time_to_restore: Option<Duration>,
    /// Incidents closed by a later success.
    pub restored: usize,
    /// Incidents no success has closed yet.
    pub unrestored: usize,
}

/// DORA figures overall and per service.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Dora {
    /// Every record.
    pub overall: DoraFigures,
    /// Per service, by name.
    pub per_service: Vec<(String, DoraFigures)>,
}

fn is_failure(s: DeploymentStatus) -> bool {
    matches!(
        s,
        DeploymentStatus::RolledBack | DeploymentStatus::RollbackFailed | DeploymentStatus::Aborted
    )
}

fn counted(s: DeploymentStatus) -> bool {
    s == DeploymentStatus::Success || is_failure(s)
}

/// When a deployment ended: `finishedAt`, else `deployedAt` + its duration.
fn ended_at(r: &DeploymentRecord) -> Option<Timestamp> {
    match r.finished_at.as_deref().map(parse_iso8601) {
        Some(Ok(t)) => Some(t),
        _ => r
            .deployed_at_ms()
            .map(|t| t.plus(Duration::from_millis(r.duration_ms))),
    }
}

fn median(mut v: Vec<u64>) -> Option<Duration> {
    if v.is_empty() {
        return None;
    }
    v.sort_unstable();
    let n = v.len();
    let ms = if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2
    };
    Some(Duration::from_millis(ms))
}

const DAY_MS: f64 = 86_400_000.0;

impl DoraFigures {
    /// The figures of `records` (any order).
    pub fn from_records(records: &[&DeploymentRecord]) -> Self {
        let mut f = DoraFigures::default();
        let mut list: Vec<(&DeploymentRecord, Timestamp)> = Vec::new();
        for r in records {
            if !counted(r.status) {
                f.not_counted += 1;
                continue;
            }
            let Some(at) = r.deployed_at_ms() else {
                f.not_counted += 1;
                continue;
            };
            list.push((r, at));
        }
        list.sort_by(|a, b| a.1.cmp(&b.1).then_with(|| a.0.id.cmp(&b.0.id)));
        f.deployments = list.len();
        f.successes = list
            .iter()
            .filter(|(r, _)| r.status == DeploymentStatus::Success)
            .count();
        f.failures = list.iter().filter(|(r, _)| is_failure(r.status)).count();
        if let (Some(first), Some(last)) = (list.first(), list.last()) {
            let days = (last.1 .0.saturating_sub(first.1 .0) as f64 / DAY_MS).max(1.0);
            f.period_days = Some(days);
            f.deployments_per_day = Some(f.successes as f64 / days);
            f.change_failure_rate = Some(f.failures as f64 / f.deployments as f64);
        }

        let leads: Vec<u64> = list
            .iter()
            .filter(|(r, _)| r.status == DeploymentStatus::Success)
            .filter_map(|(r, _)| {
                let commit = parse_iso8601(r.changes.committed_at.as_deref()?).ok()?;
                let end = ended_at(r)?;
                (end >= commit).then(|| end.0 - commit.0)
            })
            .collect();
        f.lead_time_samples = leads.len();
        f.lead_time = median(leads);

        // Incidents, per service and environment.
        let mut restores = Vec::new();
        let mut keys: Vec<(&str, &str)> = list
            .iter()
            .map(|(r, _)| (r.service.as_str(), r.environment.as_str()))
            .collect();
        keys.sort_unstable();
        keys.dedup();
        for (service, env) in keys {
            let mut open: Option<Timestamp> = None;
            for (r, at) in list
                .iter()
                .filter(|(r, _)| r.service == service && r.environment == env)
            {
                if is_failure(r.status) {
                    open.get_or_insert(*at);
                } else if let Some(since) = open.take() {
                    let end = ended_at(r).unwrap_or(*at);
                    restores.push(end.0.saturating_sub(since.0));
                }
            }
            if open.is_some() {
                f.unrestored += 1;
            }
        }
        f.restored = restores.len();
        f.time_to_restore = median(restores);
        f
    }
}

impl Dora {
    /// The figures of `records` overall and per service (services in name order).
    pub fn from_records(records: &[DeploymentRecord]) -> Self {
        let all: Vec<&DeploymentRecord> = records.iter().collect();
        let mut services: Vec<&str> = records.iter().map(|r| r.service.as_str()).collect();
        services.sort_unstable();
        services.dedup();
        Dora {
            overall: DoraFigures::from_records(&all),
            per_service: services
                .into_iter()
                .map(|s| {
                    let mine: Vec<&DeploymentRecord> =
                        records.iter().filter(|r| r.service == s).collect();
                    (s.to_string(), DoraFigures::from_records(&mine))
                })
                .collect(),
        }
    }
}
