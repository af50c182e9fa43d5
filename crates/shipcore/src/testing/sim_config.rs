//! Configuration of the simulated platform: capabilities, boot time, the healthy baseline,
//! per-version failure injection ([`Failure`] keyed by [`FaultKey`]) and API fault rates.
//! All of it is serializable, because it is part of a [`SimSnapshot`](super::SimSnapshot).

use crate::model::Capabilities;
use crate::model::{FieldError, Revision, RevisionId};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Duration;

/// Bad input to the simulator, or its state file could not be read or written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SimError {
    /// A configuration value is out of range.
    #[error("invalid simulator setting {0}")]
    Invalid(#[from] FieldError),
    /// The state file could not be read or written.
    #[error("simulator state file {path}: {message}")]
    Io {
        /// The file.
        path: String,
        /// The system's message.
        message: String,
    },
    /// The state file exists but does not hold a simulator snapshot.
    #[error("simulator state file {path} is not a valid snapshot: {message}")]
    Corrupt {
        /// The file.
        path: String,
        /// The parser's message.
        message: String,
    },
}

pub(crate) fn check_fraction(field: &str, v: f64) -> Result<f64, SimError> {
    if v.is_finite() && (0.0..=1.0).contains(&v) {
        Ok(v)
    } else {
        Err(FieldError::new(field, format!("{v} is not a fraction within 0..=1")).into())
    }
}

/// Request latency of a version, as two quantiles of a log-normal distribution.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Latency {
    /// Median, milliseconds.
    pub p50_ms: f64,
    /// 95th percentile, milliseconds (at least `p50_ms`).
    pub p95_ms: f64,
}

impl Latency {
    /// The quantile `q` (0 < q < 1) in milliseconds, from the log-normal through p50 and p95.
    ///
    /// ```
    /// let l = shipcore::testing::Latency { p50_ms: 100.0, p95_ms: 200.0 };
    /// assert!((l.quantile_ms(0.95) - 200.0).abs() < 0.5);
    /// assert!(l.quantile_ms(0.99) > 200.0);
    /// ```
    pub fn quantile_ms(&self, q: f64) -> f64 {
        let sigma = (self.p95_ms / self.p50_ms).ln() / 1.644_853_626_951_472_2;
        self.p50_ms * (sigma * normal_quantile(q)).exp()
    }

    fn check(&self, field: &str) -> Result<(), SimError> {
        if !(self.p50_ms.is_finite() && self.p50_ms > 0.0) {
            return Err(FieldError::new(
                format!("{field}.p50_ms"),
                format!("{} must be a positive number", self.p50_ms),
            )
            .into());
        }
        if !(self.p95_ms.is_finite() && self.p95_ms >= self.p50_ms) {
            return Err(FieldError::new(
                format!("{field}.p95_ms"),
                format!("{} must be at least p50_ms ({})", self.p95_ms, self.p50_ms),
            )
            .into());
        }
        Ok(())
    }
}

/// Standard normal quantile for the few levels the simulator uses (Acklam's rational
/// approximation, relative error below 1.2e-9).
fn normal_quantile(p: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969_683_028_665_376e1,
        2.209_460_984_245_205e2,
        -2.759_285_104_469_687e2,
        1.383_577_518_672_69e2,
        -3.066_479_806_614_716e1,
        2.506_628_277_459_239,
    ];
    const B: [f64; 5] = [
        -5.447_609_879_822_406e1,
        1.615_858_368_580_409e2,
        -1.556_989_798_598_866e2,
        6.680_131_188_771_972e1,
        -1.328_068_155_288_572e1,
    ];
    const C: [f64; 6] = [
        -7.784_894_002_430_293e-3,
        -3.223_964_580_411_365e-1,
        -2.400_758_277_161_838,
        -2.549_732_539_343_734,
        4.374_664_141_464_968,
        2.938_163_982_698_783,
    ];
    const D: [f64; 4] = [
        7.784_695_709_041_462e-3,
        3.224_671_290_700_398e-1,
        2.445_134_137_142_996,
        3.754_408_661_907_416,
    ];
    let p = p.clamp(1e-12, 1.0 - 1e-12);
    let tail = |q: f64| {
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    if p < 0.02425 {
        tail((-2.0 * p.ln()).sqrt())
    } else if p > 1.0 - 0.02425 {
        -tail((-2.0 * (1.0 - p).ln()).sqrt())
    } else {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    }
}

/// A crash loop: instances never become ready, or serve for a while and then crash (and
/// stay down, restarting in a loop).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CrashLoop {
    /// `None`: never ready. `Some(d)`: ready as usual, then not ready from `d` after that on.
    #[serde(default, with = "crate::time::serde_opt_duration")]
    pub after: Option<Duration>,
}

/// One injected failure of a version.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "failure", rename_all = "snake_case")]
pub enum Failure {
    /// Instances crash (see [`CrashLoop`]).
    CrashLoop(CrashLoop),
    /// Instances take this much longer than the boot time to become ready (applies to
    /// instances started after the injection).
    SlowReadiness {
        /// Extra boot time.
        #[serde(with = "crate::time::serde_duration")]
        extra: Duration,
    },
    /// Fraction of requests that fail (0..=1).
    ErrorRate {
        /// The fraction.
        rate: f64,
    },
    /// Request latency.
    Latency(Latency),
    /// Boot time of this version (replaces the default).
    BootTime {
        /// Time from start to ready.
        #[serde(with = "crate::time::serde_duration")]
        boot: Duration,
    },
}

impl Failure {
    /// Instances never become ready.
    pub fn never_ready() -> Self {
        Failure::CrashLoop(CrashLoop { after: None })
    }
    /// Instances serve for `after` once ready, then crash and stay down.
    pub fn crash_after(after: Duration) -> Self {
        Failure::CrashLoop(CrashLoop { after: Some(after) })
    }
    /// A fraction of requests fail.
    pub fn error_rate(rate: f64) -> Self {
        Failure::ErrorRate { rate }
    }
    /// Latency with the given median and 95th percentile, milliseconds.
    pub fn latency(p50_ms: f64, p95_ms: f64) -> Self {
        Failure::Latency(Latency { p50_ms, p95_ms })
    }
    /// Readiness takes `extra` longer.
    pub fn slow_readiness(extra: Duration) -> Self {
        Failure::SlowReadiness { extra }
    }

    pub(crate) fn check(&self) -> Result<(), SimError> {
        match self {
            Failure::ErrorRate { rate } => check_fraction("error_rate", *rate).map(|_| ()),
            Failure::Latency(l) => l.check("latency"),
            _ => Ok(()),
        }
    }
}

/// Which revisions a failure applies to: one revision id, or every revision of a version.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "by", content = "value", rename_all = "snake_case")]
pub enum FaultKey {
    /// A revision id (`web-v2`).
    Revision(String),
    /// A semantic version (`2.0.0`): every revision with that version.
    Version(semver::Version),
}

impl FaultKey {
    /// Key by revision id.
    pub fn revision(id: impl Into<String>) -> Self {
        FaultKey::Revision(id.into())
    }
    /// Key by version.
    pub fn version(v: semver::Version) -> Self {
        FaultKey::Version(v)
    }
}

impl From<&RevisionId> for FaultKey {
    /// Keys by revision id.
    fn from(id: &RevisionId) -> Self {
        FaultKey::Revision(id.0.clone())
    }
}

impl From<semver::Version> for FaultKey {
    /// Keys by version.
    fn from(v: semver::Version) -> Self {
        FaultKey::Version(v)
    }
}

impl From<&Revision> for FaultKey {
    /// Keys by the revision's id.
    fn from(r: &Revision) -> Self {
        FaultKey::Revision(r.id.0.clone())
    }
}

/// What has been injected for one key; unset fields fall back (revision id, then version,
/// then the healthy defaults of [`SimConfig`]).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct VersionFaults {
    /// Crash loop.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crash: Option<CrashLoop>,
    /// Extra boot time.
    #[serde(
        default,
        with = "crate::time::serde_opt_duration",
        skip_serializing_if = "Option::is_none"
    )]
    pub slow_readiness: Option<Duration>,
    /// Boot time replacing the default.
    #[serde(
        default,
        with = "crate::time::serde_opt_duration",
        skip_serializing_if = "Option::is_none"
    )]
    pub boot_time: Option<Duration>,
    /// Error rate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_rate: Option<f64>,
    /// Latency.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency: Option<Latency>,
}

impl VersionFaults {
    pub(crate) fn set(&mut self, f: Failure) {
        match f {
            Failure::CrashLoop(c) => self.crash = Some(c),
            Failure::SlowReadiness { extra } => self.slow_readiness = Some(extra),
            Failure::ErrorRate { rate } => self.error_rate = Some(rate),
            Failure::Latency(l) => self.latency = Some(l),
            Failure::BootTime { boot } => self.boot_time = Some(boot),
        }
    }
    fn or(self, other: VersionFaults) -> VersionFaults {
        VersionFaults {
            crash: self.crash.or(other.crash),
            slow_readiness: self.slow_readiness.or(other.slow_readiness),
            boot_time: self.boot_time.or(other.boot_time),
            error_rate: self.error_rate.or(other.error_rate),
            latency: self.latency.or(other.latency),
        }
    }
}

/// The behaviour of one revision after failure injection is resolved.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Behaviour {
    /// Crash loop, if any.
    pub crash: Option<CrashLoop>,
    /// Start to ready.
    pub boot: Duration,
    /// Fraction of failing requests.
    pub error_rate: f64,
    /// Latency distribution of successful requests.
    pub latency: Latency,
}

/// Everything that shapes the simulated platform. Serializable; part of every snapshot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SimConfig {
    /// Seed of the driver's random generator (transient faults).
    pub seed: u64,
    /// What the simulated platform can do (default: everything).
    pub capabilities: Capabilities,
    /// Start to ready of an instance (default 10 s).
    #[serde(with = "crate::time::serde_duration")]
    pub boot_time: Duration,
    /// Error rate of a healthy version (default 0.001).
    pub healthy_error_rate: f64,
    /// Latency of a healthy version (default p50 40 ms, p95 120 ms).
    pub healthy_latency: Latency,
    /// Requests per second a target receives in total (default 100).
    pub request_rate: f64,
    /// Probability that a driver call fails with a transient error (default 0).
    pub transient_fault_rate: f64,
    /// Of the transient `apply` faults, the share that happen *after* the change was made:
    /// the platform did it but the answer was lost (default 0). Tests idempotent retries.
    pub lost_response_share: f64,
    /// Injected failures.
    #[serde(default, with = "fault_pairs")]
    pub faults: BTreeMap<FaultKey, VersionFaults>,
}

/// JSON maps need string keys: the fault map travels as a list of `[key, faults]` pairs.
mod fault_pairs {
    use super::{FaultKey, VersionFaults};
    use serde::{Deserialize, Deserializer, Serializer};
    use std::collections::BTreeMap;

    pub fn serialize<S: Serializer>(
        m: &BTreeMap<FaultKey, VersionFaults>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.collect_seq(m.iter())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<BTreeMap<FaultKey, VersionFaults>, D::Error> {
        Ok(Vec::<(FaultKey, VersionFaults)>::deserialize(d)?
            .into_iter()
            .collect())
    }
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            seed: 0,
            capabilities: Capabilities::ALL,
            boot_time: Duration::from_secs(10),
            healthy_error_rate: 0.001,
            healthy_latency: Latency {
                p50_ms: 40.0,
                p95_ms: 120.0,
            },
            request_rate: 100.0,
            transient_fault_rate: 0.0,
            lost_response_share: 0.0,
            faults: BTreeMap::new(),
        }
    }
}

impl SimConfig {
    /// The defaults with a seed.
    pub fn seeded(seed: u64) -> Self {
        SimConfig {
            seed,
            ..Default::default()
        }
    }

    /// Checks every value; errors name the field.
    pub fn validate(&self) -> Result<(), SimError> {
        check_fraction("healthy_error_rate", self.healthy_error_rate)?;
        check_fraction("transient_fault_rate", self.transient_fault_rate)?;
        check_fraction("lost_response_share", self.lost_response_share)?;
        self.healthy_latency.check("healthy_latency")?;
        if !(self.request_rate.is_finite() && self.request_rate >= 0.0) {
            return Err(FieldError::new(
                "request_rate",
                format!("{} must be a non-negative number", self.request_rate),
            )
            .into());
        }
        for (key, f) in &self.faults {
            if let Some(r) = f.error_rate {
                check_fraction(&format!("faults[{key:?}].error_rate"), r)?;
            }
            if let Some(l) = f.latency {
                l.check(&format!("faults[{key:?}].latency"))?;
            }
        }
        Ok(())
    }

    /// The resolved behaviour of a revision: revision-id faults over version faults over
    /// the healthy defaults.
    pub fn behaviour(&self, revision: &Revision) -> Behaviour {
        let f = if self.faults.is_empty() {
            VersionFaults::default()
        } else {
            let by_id = self.faults_of_revision(&revision.id.0).unwrap_or_default();
            let by_version = self
                .faults_of_version(&revision.version)
                .unwrap_or_default();
            by_id.or(by_version)
        };
        Behaviour {
            crash: f.crash,
            boot: f.boot_time.unwrap_or(self.boot_time) + f.slow_readiness.unwrap_or_default(),
            error_rate: f.error_rate.unwrap_or(self.healthy_error_rate),
            latency: f.latency.unwrap_or(self.healthy_latency),
        }
    }
}

/// Up to this many injected keys, they are scanned instead of building a key to look up.
const SCAN_FAULTS: usize = 16;

impl SimConfig {
    /// `faults[FaultKey::Revision(id)]`, without copying `id` into a key when there are few.
    fn faults_of_revision(&self, id: &str) -> Option<VersionFaults> {
        if self.faults.len() > SCAN_FAULTS {
            return self.faults.get(&FaultKey::revision(id)).copied();
        }
        // Keys are unique, and equal ids are the one equal key.
        self.faults.iter().find_map(|(key, f)| match key {
            FaultKey::Revision(r) if r == id => Some(*f),
            _ => None,
        })
    }

    /// `faults[FaultKey::Version(version)]`, without cloning `version` when there are few.
    fn faults_of_version(&self, version: &semver::Version) -> Option<VersionFaults> {
        if self.faults.len() > SCAN_FAULTS {
            return self
                .faults
                .get(&FaultKey::Version(version.clone()))
                .copied();
        }
        // semver's Ord says Equal exactly when Eq says equal, so this is the key `get` finds.
        self.faults.iter().find_map(|(key, f)| match key {
            FaultKey::Version(v) if v == version => Some(*f),
            _ => None,
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn rev(id: &str, v: &str) -> Revision {
        Revision::new(id, v.parse().unwrap(), format!("web:{v}"))
    }

    #[test]
    fn revision_faults_override_version_faults_field_by_field() {
        let mut c = SimConfig::default();
        let mut by_version = VersionFaults::default();
        by_version.set(Failure::error_rate(0.2));
        by_version.set(Failure::latency(100.0, 300.0));
        c.faults
            .insert(FaultKey::version("2.0.0".parse().unwrap()), by_version);
        let mut by_id = VersionFaults::default();
        by_id.set(Failure::error_rate(0.5));
        c.faults.insert(FaultKey::revision("web-b"), by_id);

        let a = c.behaviour(&rev("web-a", "2.0.0"));
        assert_eq!(a.error_rate, 0.2);
        let b = c.behaviour(&rev("web-b", "2.0.0"));
        assert_eq!(b.error_rate, 0.5);
        assert_eq!(b.latency.p95_ms, 300.0);
        let other = c.behaviour(&rev("web-c", "1.0.0"));
        assert_eq!(other.error_rate, 0.001);
        assert_eq!(other.boot, Duration::from_secs(10));
    }

    #[test]
    fn slow_readiness_adds_to_the_boot_time() {
        let mut c = SimConfig::default();
        let mut f = VersionFaults::default();
        f.set(Failure::BootTime {
            boot: Duration::from_secs(5),
        });
        f.set(Failure::slow_readiness(Duration::from_secs(30)));
        c.faults.insert(FaultKey::revision("x"), f);
        assert_eq!(
            c.behaviour(&rev("x", "1.0.0")).boot,
            Duration::from_secs(35)
        );
    }

    #[test]
    fn validate_names_the_bad_field() {
        let c = SimConfig {
            transient_fault_rate: 1.5,
            ..Default::default()
        };
        let e = c.validate().unwrap_err().to_string();
        assert!(
            e.contains("transient_fault_rate") && e.contains("1.5"),
            "{e}"
        );
        let c = SimConfig {
            healthy_latency: Latency {
                p50_ms: 100.0,
                p95_ms: 50.0,
            },
            ..Default::default()
        };
        let e = c.validate().unwrap_err().to_string();
        assert!(e.contains("healthy_latency.p95_ms"), "{e}");
        assert!(SimConfig::default().validate().is_ok());
    }

    #[test]
    fn latency_quantiles_follow_the_log_normal() {
        let l = Latency {
            p50_ms: 40.0,
            p95_ms: 120.0,
        };
        assert!((l.quantile_ms(0.5) - 40.0).abs() < 1e-6);
        assert!((l.quantile_ms(0.95) - 120.0).abs() < 1e-3);
        // sigma = ln 3 / 1.6449; p99 = 40 * exp(2.3263 * sigma) ≈ 189.17 ms
        assert!(
            (l.quantile_ms(0.99) - 189.17).abs() < 0.5,
            "{}",
            l.quantile_ms(0.99)
        );
    }

    #[test]
    fn fault_lookups_find_what_the_map_finds_with_few_and_many_keys() {
        let versions = [
            "1.0.0",
            "1.0.0+1",
            "1.0.0+01",
            "1.0.0+001",
            "1.0.0-rc.1",
            "1.0.0-rc.01x",
            "2.0.0",
        ];
        let ids = ["a", "b", "web-v2", ""];
        for extra in [0usize, 5, 40] {
            let mut c = SimConfig::default();
            for (i, v) in versions.iter().enumerate().skip(1).step_by(2) {
                let mut f = VersionFaults::default();
                f.set(Failure::error_rate(i as f64 / 100.0));
                c.faults.insert(FaultKey::version(v.parse().unwrap()), f);
            }
            let mut f = VersionFaults::default();
            f.set(Failure::BootTime {
                boot: Duration::from_secs(3),
            });
            c.faults.insert(FaultKey::revision("b"), f);
            for n in 0..extra {
                c.faults.insert(
                    FaultKey::revision(format!("x{n}")),
                    VersionFaults::default(),
                );
            }
            for v in versions {
                for id in ids {
                    let r = rev(id, v);
                    let by_id = c.faults.get(&FaultKey::revision(id)).copied();
                    let by_version = c.faults.get(&FaultKey::Version(r.version.clone())).copied();
                    assert_eq!(c.faults_of_revision(id), by_id, "{extra} {id}");
                    assert_eq!(c.faults_of_version(&r.version), by_version, "{extra} {v}");
                    let f = by_id.unwrap_or_default().or(by_version.unwrap_or_default());
                    let b = c.behaviour(&r);
                    assert_eq!(b.error_rate, f.error_rate.unwrap_or(c.healthy_error_rate));
                    assert_eq!(b.boot, f.boot_time.unwrap_or(c.boot_time));
                }
            }
        }
    }

    #[test]
    fn config_round_trips_through_json() {
        let mut c = SimConfig::seeded(3);
        let mut f = VersionFaults::default();
        f.set(Failure::crash_after(Duration::from_secs(90)));
        c.faults
            .insert(FaultKey::version("2.1.0".parse().unwrap()), f);
        let json = serde_json::to_string(&c).unwrap();
        let back: SimConfig = serde_json::from_str(&json).unwrap();
        assert_eq!(back, c);
    }
}
