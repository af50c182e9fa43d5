//! Severity presets: how carefully a change is rolled out. P0 (an urgent fix) moves fastest
//! between phases; P2 (a routine release) pauses longest. Each also sets the post-deploy
//! monitoring window.

use crate::model::Monitoring;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::time::Duration;

/// How urgent a change is, which sets the pacing of its rollout.
///
/// | severity | pause per phase | post-deploy monitoring |
/// |----------|-----------------|------------------------|
/// | P0       | 10 minutes      | 1 hour                 |
/// | P1       | 15 minutes      | 4 hours                |
/// | P2       | 30 minutes      | 24 hours               |
///
/// Monitoring figures: a P0 fix goes out while people are watching it, and one hour covers
/// the warm-up of caches and connection pools and the first alert evaluation windows; a P1
/// change is watched for half a working day; a P2 (routine) release is watched for a whole
/// daily traffic cycle, so that a problem that only shows at the daily peak or in nightly
/// jobs is still caught by the automatic rollback.
///
/// ```
/// use shipcore::gate::Severity;
/// let s: Severity = serde_json::from_str("\"P1\"").unwrap();
/// assert_eq!(s.pause_per_phase().as_secs(), 15 * 60);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Severity {
    /// Urgent fix (an outage, a security hole).
    #[serde(alias = "p0")]
    P0,
    /// Important change.
    #[serde(alias = "p1")]
    P1,
    /// Routine release.
    #[serde(alias = "p2")]
    P2,
}

impl Severity {
    /// The pause after each phase of the rollout: 10 / 15 / 30 minutes.
    pub fn pause_per_phase(self) -> Duration {
        Duration::from_secs(60)
            * match self {
                Severity::P0 => 10,
                Severity::P1 => 15,
                Severity::P2 => 30,
            }
    }

    /// How long to keep analysing after the rollout completed: 1 / 4 / 24 hours.
    pub fn monitoring_window(self) -> Duration {
        Duration::from_secs(3600)
            * match self {
                Severity::P0 => 1,
                Severity::P1 => 4,
                Severity::P2 => 24,
            }
    }

    /// The post-deploy monitoring of this severity: `validators` every minute for
    /// [`monitoring_window`](Self::monitoring_window). Place it with
    /// [`Plan::with_monitoring`](crate::model::Plan::with_monitoring).
    ///
    /// ```
    /// use shipcore::gate::Severity;
    /// let m = Severity::P0.monitoring(&["error-rate"]);
    /// assert_eq!(m.to_step().unwrap().policy.count, Some(60));
    /// ```
    pub fn monitoring(self, validators: &[&str]) -> Monitoring {
        Monitoring::new(validators, self.monitoring_window())
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::P0 => "P0",
            Severity::P1 => "P1",
            Severity::P2 => "P2",
        })
    }
}
