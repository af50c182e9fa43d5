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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
pub(crate) mod tests {
    use super::*;
    use crate::engine::{Event, EventKind, StartInfo};
    use crate::record::RecordMeta;

    /// A record of `service` with `status`, deployed and finished at the given ISO times,
    /// and the commit time, if known.
    pub(crate) fn rec(
        id: &str,
        service: &str,
        status: DeploymentStatus,
        deployed: &str,
        finished: &str,
        commit: Option<&str>,
    ) -> DeploymentRecord {
        let events = vec![Event {
            at: Timestamp(0),
            kind: EventKind::Started(Box::new(StartInfo {
                id: id.into(),
                service: service.into(),
                environment: "production".into(),
                version: "1.0.0".into(),
                previous_version: None,
                strategy: "canary".into(),
                steps: 1,
            })),
        }];
        let mut r = DeploymentRecord::from_events(&events, &RecordMeta::new("ci")).unwrap();
        r.status = status;
        r.deployed_at = deployed.into();
        r.finished_at = Some(finished.into());
        r.changes.committed_at = commit.map(str::to_string);
        r
    }

    const H: u64 = 3_600_000;

    pub(crate) fn sample() -> Vec<DeploymentRecord> {
        use DeploymentStatus::*;
        vec![
            rec(
                "a",
                "checkout",
                Success,
                "2026-01-01T00:00:00Z",
                "2026-01-01T00:30:00Z",
                Some("2025-12-31T22:00:00Z"),
            ),
            rec(
                "b",
                "checkout",
                RolledBack,
                "2026-01-02T00:00:00Z",
                "2026-01-02T00:10:00Z",
                None,
            ),
            rec(
                "c",
                "checkout",
                Aborted,
                "2026-01-02T06:00:00Z",
                "2026-01-02T06:05:00Z",
                None,
            ),
            rec(
                "d",
                "checkout",
                Success,
                "2026-01-02T08:00:00Z",
                "2026-01-02T09:00:00Z",
                Some("2026-01-02T07:00:00Z"),
            ),
            rec(
                "e",
                "checkout",
                Blocked,
                "2026-01-03T00:00:00Z",
                "2026-01-03T00:00:00Z",
                None,
            ),
            rec(
                "f",
                "checkout",
                Success,
                "2026-01-05T00:00:00Z",
                "2026-01-05T00:20:00Z",
                None,
            ),
            rec(
                "p",
                "payments",
                RolledBack,
                "2026-01-03T00:00:00Z",
                "2026-01-03T00:05:00Z",
                None,
            ),
        ]
    }

    #[test]
    fn the_four_keys_per_service_match_hand_computed_figures() {
        let dora = Dora::from_records(&sample());
        let checkout = &dora.per_service[0].1;
        assert_eq!(dora.per_service[0].0, "checkout");
        // Counted a, b, c, d, f (e was blocked: nothing changed).
        assert_eq!(
            (
                checkout.deployments,
                checkout.successes,
                checkout.failures,
                checkout.not_counted
            ),
            (5, 3, 2, 1)
        );
        // 3 successes from Jan 1 to Jan 5: 4 days.
        assert_eq!(checkout.period_days, Some(4.0));
        assert_eq!(checkout.deployments_per_day, Some(0.75));
        // Lead times 2h30m (a) and 2h (d); f has no commit time. Median 2h15m.
        assert_eq!(
            checkout.lead_time,
            Some(Duration::from_millis(2 * H + H / 4))
        );
        assert_eq!(checkout.lead_time_samples, 2);
        assert_eq!(checkout.change_failure_rate, Some(0.4));
        // b and c are one incident: Jan 2 00:00 until d ended at 09:00.
        assert_eq!(checkout.time_to_restore, Some(Duration::from_millis(9 * H)));
        assert_eq!((checkout.restored, checkout.unrestored), (1, 0));

        let payments = &dora.per_service[1].1;
        assert_eq!(dora.per_service[1].0, "payments");
        assert_eq!(payments.deployments_per_day, Some(0.0));
        assert_eq!(payments.lead_time, None, "no commit time: unknown, not 0");
        assert_eq!(payments.change_failure_rate, Some(1.0));
        assert_eq!(
            (
                payments.time_to_restore,
                payments.restored,
                payments.unrestored
            ),
            (None, 0, 1)
        );

        let all = &dora.overall;
        assert_eq!((all.deployments, all.successes, all.failures), (6, 3, 3));
        assert_eq!(all.change_failure_rate, Some(0.5));
        assert_eq!(all.deployments_per_day, Some(0.75));
        assert_eq!(all.lead_time, Some(Duration::from_millis(2 * H + H / 4)));
        assert_eq!(
            (all.time_to_restore, all.restored, all.unrestored),
            (Some(Duration::from_millis(9 * H)), 1, 1)
        );
    }

    #[test]
    fn no_deployments_gives_no_figures_rather_than_zeros() {
        let f = Dora::from_records(&[]).overall;
        assert_eq!(f, DoraFigures::default());
        assert_eq!(
            super::super::history_page::dora_cells(&f),
            [
                "no deployments",
                "unknown (no commit times)",
                "no deployments",
                "no failures"
            ]
        );
    }

    #[test]
    fn no_failures_is_a_zero_rate_and_nothing_to_restore() {
        use DeploymentStatus::*;
        let records = [
            rec(
                "a",
                "web",
                Success,
                "2026-01-01T00:00:00Z",
                "2026-01-01T00:10:00Z",
                None,
            ),
            rec(
                "b",
                "web",
                Success,
                "2026-01-01T12:00:00Z",
                "2026-01-01T12:10:00Z",
                None,
            ),
        ];
        let f = Dora::from_records(&records).overall;
        assert_eq!(f.change_failure_rate, Some(0.0));
        assert_eq!(f.period_days, Some(1.0), "at least a day");
        assert_eq!(f.deployments_per_day, Some(2.0));
        assert_eq!((f.time_to_restore, f.unrestored), (None, 0));
        let cells = super::super::history_page::dora_cells(&f);
        assert_eq!(cells[2], "0% (0 of 2)");
        assert_eq!(cells[3], "no failures");
    }

    #[test]
    fn a_failure_never_restored_says_so() {
        use DeploymentStatus::*;
        let records = [
            rec(
                "a",
                "web",
                Success,
                "2026-01-01T00:00:00Z",
                "2026-01-01T00:10:00Z",
                None,
            ),
            rec(
                "b",
                "web",
                RollbackFailed,
                "2026-01-02T00:00:00Z",
                "2026-01-02T00:10:00Z",
                None,
            ),
        ];
        let f = Dora::from_records(&records).overall;
        assert_eq!(
            (f.failures, f.restored, f.unrestored, f.time_to_restore),
            (1, 0, 1, None)
        );
        assert_eq!(
            super::super::history_page::dora_cells(&f)[3],
            "not restored (1 open)"
        );
    }
}
