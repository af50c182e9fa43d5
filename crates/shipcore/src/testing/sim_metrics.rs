//! [`SimMetrics`]: a [`MetricsSource`] whose numbers follow the [`SimDriver`] it watches:
//! each revision's injected error rate and latency, weighted by the traffic the platform
//! routes right now, with small seeded noise.
//!
//! # Query vocabulary
//!
//! `metric` or `metric{label="value", ...}` (single or double quotes, `=` matchers only):
//!
//! | metric | value |
//! |---|---|
//! | `error_rate` | fraction of failed requests over the last minute, 0..=1 |
//! | `latency_p50`, `latency_p95`, `latency_p99` | latency quantile, **seconds** |
//! | `request_rate` | requests per second |
//!
//! Labels: `revision` (id), `version` (semver), `service`, `environment`, `namespace`.
//! With `revision` or `version` the answer has one series per matching revision that
//! *serves traffic* (weight > 0 and at least one ready instance); without them, one series
//! per matching target: the traffic-weighted mix of its revisions (traffic routed to a
//! revision with no ready instance counts as failed requests; latency mixes the log-normal
//! distributions of the serving revisions).
//!
//! No traffic is no data: a revision with 0 weight or 0 ready instances gives an **empty
//! vector**, never a zero. An unknown metric, label or syntax is
//! [`MetricsErrorKind::BadQuery`]. Range queries answer a matrix with one sample per step,
//! each computed from the platform's current instances at that instant (the simulator
//! keeps no history). Noise depends only on the seed, the expression and the instant, so
//! the same query at the same instant gives the same answer.
//!
//! Tests can force answers per expression: [`SimMetrics::inject_nan`],
//! [`SimMetrics::inject_empty`], [`SimMetrics::inject_value`], [`SimMetrics::inject_error`].

use super::rng::{mix64, SimRng};
use super::sim_driver::SimDriver;
use super::sim_query::{parse_ref, QueryRef, SimMetric};
use super::sim_state::{RevisionRun, RevisionView, SimSnapshot, TargetRun};
use crate::metrics::{
    Labels, MetricQuery, MetricsError, MetricsErrorKind, MetricsSource, QueryResult, Sample, Series,
};
use crate::model::Target;
use crate::time::Timestamp;
use crate::validator::version_string;
use async_trait::async_trait;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// Most samples a range query may ask for (as Prometheus).
pub const MAX_RANGE_POINTS: u64 = 11_000;

/// The error rate is measured over this many seconds of requests (sets the noise).
const WINDOW_SECS: f64 = 60.0;

/// A forced answer for one expression.
#[derive(Debug, Clone, PartialEq)]
pub enum MetricsInjection {
    /// One series whose value is NaN (Prometheus' 0/0).
    NaN,
    /// An empty vector.
    Empty,
    /// One series with this value.
    Value(f64),
    /// The query fails.
    Error {
        /// What kind of failure.
        kind: MetricsErrorKind,
        /// The message.
        message: String,
    },
}

/// Simulated metrics for the platform a [`SimDriver`] simulates (see the module docs for the
/// query vocabulary). Cloning gives another handle sharing injections and counters.
///
/// ```
/// use shipcore::clock::SimClock;
/// use shipcore::metrics::{MetricQuery, MetricsSource, ValueProblem};
/// use shipcore::model::{Revision, Target};
/// use shipcore::testing::{Failure, SimDriver, SimMetrics};
/// use std::sync::Arc;
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let sim = SimDriver::new(Arc::new(SimClock::default()), 1);
/// let v1 = Revision::new("web-v1", "1.0.0".parse().unwrap(), "web:1");
/// sim.seed_stable(&Target::new("web", "production"), &v1, 3);
/// sim.inject(&v1, Failure::error_rate(0.2)).unwrap();
/// let metrics = SimMetrics::new(&sim, 7);
/// let r = metrics.query(&MetricQuery::instant("error_rate{revision=\"web-v1\"}")).await.unwrap();
/// assert!((r.single_value().unwrap() - 0.2).abs() < 0.05);
/// let none = metrics.query(&MetricQuery::instant("error_rate{revision=\"web-v9\"}")).await.unwrap();
/// assert_eq!(none.single_value(), Err(ValueProblem::Empty));
/// # });
/// ```
#[derive(Clone)]
pub struct SimMetrics {
    driver: SimDriver,
    seed: u64,
    noise: f64,
    injected: Arc<Injected>,
    queries: Arc<AtomicU64>,
}

/// Forced answers by expression, and how many there are (read without the lock by every
/// query, which thousands of rollouts ask at once).
#[derive(Default)]
struct Injected {
    map: Mutex<BTreeMap<String, MetricsInjection>>,
    count: AtomicUsize,
}

impl std::fmt::Debug for SimMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimMetrics")
            .field("seed", &self.seed)
            .field("noise", &self.noise)
            .field("queries", &self.query_count())
            .finish()
    }
}

impl SimMetrics {
    /// Metrics of `driver`'s platform, with noise seeded by `seed`.
    pub fn new(driver: &SimDriver, seed: u64) -> Self {
        SimMetrics {
            driver: driver.clone(),
            seed,
            noise: 1.0,
            injected: Arc::default(),
            queries: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Scales the noise (0 gives exact values; default 1). Negative or non-finite counts as 0.
    #[must_use]
    pub fn with_noise(mut self, scale: f64) -> Self {
        self.noise = if scale.is_finite() && scale > 0.0 {
            scale
        } else {
            0.0
        };
        self
    }

    /// Changes the injections with `f`.
    fn injections<R>(&self, f: impl FnOnce(&mut BTreeMap<String, MetricsInjection>) -> R) -> R {
        let mut map = self.injected.map.lock().unwrap_or_else(|e| e.into_inner());
        let r = f(&mut map);
        self.injected.count.store(map.len(), Ordering::Release);
        r
    }

    /// The injection for `expr`, looked up only when there is any.
    fn injection(&self, expr: &str) -> Option<MetricsInjection> {
        if self.injected.count.load(Ordering::Acquire) == 0 {
            return None;
        }
        self.injections(|map| map.get(expr).cloned())
    }

    /// Forces the answer to `expr` (matched after trimming) until cleared.
    pub fn inject(&self, expr: &str, injection: MetricsInjection) {
        self.injections(|map| map.insert(expr.trim().to_string(), injection));
    }
    /// `expr` answers one NaN sample.
    pub fn inject_nan(&self, expr: &str) {
        self.inject(expr, MetricsInjection::NaN);
    }
    /// `expr` answers an empty vector.
    pub fn inject_empty(&self, expr: &str) {
        self.inject(expr, MetricsInjection::Empty);
    }
    /// `expr` answers `value`.
    pub fn inject_value(&self, expr: &str, value: f64) {
        self.inject(expr, MetricsInjection::Value(value));
    }
    /// `expr` fails with `kind` and `message`.
    pub fn inject_error(&self, expr: &str, kind: MetricsErrorKind, message: impl Into<String>) {
        self.inject(
            expr,
            MetricsInjection::Error {
                kind,
                message: message.into(),
            },
        );
    }
    /// Removes the injection for `expr`.
    pub fn clear(&self, expr: &str) {
        self.injections(|map| map.remove(expr.trim()));
    }
    /// Removes every injection.
    pub fn clear_all(&self) {
        self.injections(BTreeMap::clear);
    }
    /// Queries answered so far (including failed ones).
    pub fn query_count(&self) -> u64 {
        self.queries.load(Ordering::Relaxed)
    }

    /// The noise of one series: `hash` (the expression's [`fnv1a`]) mixed with the seed,
    /// the instant and the series.
    fn noise_rng(&self, hash: u64, at: Timestamp, series: usize) -> SimRng {
        SimRng::new(mix64(
            self.seed ^ mix64(hash ^ mix64(at.0 ^ ((series as u64) << 48))),
        ))
    }

    /// The series of `q` at `t`, one sample each, with noise, in the order the platform
    /// lists them (targets by key, revisions as deployed).
    fn evaluate(
        &self,
        hash: u64,
        q: &QueryRef<'_>,
        snap: &SimSnapshot,
        t: Timestamp,
    ) -> Vec<Series> {
        let mut out = Vec::new();
        let per_revision = q.label("revision").is_some() || q.label("version").is_some();
        // Parsed once per query, not once per revision (an unparsable one matches nothing).
        let want_version = q
            .label("version")
            .map(|want| want.parse::<semver::Version>().ok());
        let push = |out: &mut Vec<Series>, labels, exact: f64, rps: f64| {
            let mut rng = self.noise_rng(hash, t, out.len());
            let value = self.noisy(q.metric, exact, rps, &mut rng);
            out.push(Series {
                labels,
                samples: vec![Sample { at: t, value }],
            });
        };
        // A query naming the service, environment and namespace names one target: found by
        // key rather than by a scan of every target (a world may hold thousands).
        let pinned = match (
            q.label("service"),
            q.label("environment"),
            q.label("namespace"),
        ) {
            (Some(service), Some(environment), Some(namespace)) => {
                let namespace = (!namespace.is_empty()).then_some(namespace);
                Some(snap.target_named(service, environment, namespace))
            }
            _ => None,
        };
        let mut each = |run: &TargetRun| {
            if per_revision {
                let matches = |r: &RevisionRun| revision_matches(q, want_version.as_ref(), r);
                run.view_each(&snap.config, t, matches, |v| {
                    if !serves(&v) {
                        return;
                    }
                    let rps = snap.config.request_rate * v.weight as f64 / 100.0;
                    let exact = match q.metric {
                        SimMetric::ErrorRate => v.behaviour.error_rate,
                        SimMetric::Latency(p) => v.behaviour.latency.quantile_ms(p) / 1000.0,
                        SimMetric::RequestRate => rps,
                    };
                    push(&mut out, revision_labels(run, &v), exact, rps);
                });
            } else if let Some((exact, rps)) = service_value(
                q.metric,
                &run.view(&snap.config, t),
                snap.config.request_rate,
            ) {
                push(&mut out, target_labels(run), exact, rps);
            }
        };
        match pinned {
            Some(found) => found.into_iter().for_each(&mut each),
            None => snap
                .targets
                .values()
                .filter(|r| target_matches(q, r))
                .for_each(&mut each),
        }
        out
    }

    fn noisy(&self, metric: SimMetric, exact: f64, rps: f64, rng: &mut SimRng) -> f64 {
        if self.noise == 0.0 {
            return exact;
        }
        match metric {
            SimMetric::ErrorRate => {
                // Binomial sampling error of a one-minute window, normal approximation.
                let n = (rps * WINDOW_SECS).max(1.0);
                let sd = (exact * (1.0 - exact) / n).sqrt();
                rng.normal(exact, sd * self.noise).clamp(0.0, 1.0)
            }
            SimMetric::Latency(_) => exact * rng.normal(0.0, 0.05 * self.noise).exp(),
            SimMetric::RequestRate => exact * rng.normal(1.0, 0.02 * self.noise).max(0.0),
        }
    }

    fn answer(&self, query: &MetricQuery) -> Result<QueryResult, MetricsError> {
        let expr = super::sim_query::trim(&query.expr);
        let now = self.driver.now();
        let at = query.at.unwrap_or(now);
        let instant;
        let range;
        let times: &[Timestamp] = match &query.range {
            None => {
                instant = [at];
                &instant
            }
            Some(r) => {
                range = range_times(expr, r.start, r.end, r.step)?;
                &range
            }
        };
        if let Some(inj) = self.injection(expr) {
            let one = |v: f64| Series {
                labels: Labels::new(),
                samples: times.iter().map(|&t| Sample { at: t, value: v }).collect(),
            };
            let series = match inj {
                MetricsInjection::Error { kind, message } => {
                    return Err(MetricsError::new(kind, expr, message))
                }
                MetricsInjection::Empty => vec![],
                MetricsInjection::NaN => vec![one(f64::NAN)],
                MetricsInjection::Value(v) => vec![one(v)],
            };
            return Ok(shape(query, series));
        }
        // The expression's hash seeds its noise. Parsing allocates nothing, so every
        // query is parsed afresh (a cache shared by thousands of rollouts, each asking
        // its own query, would cost more than it saves).
        let hash = fnv1a(expr);
        let q = parse_ref(expr)?;
        let series = self.driver.with_state(|snap| match times {
            [t] => by_labels(self.evaluate(hash, &q, snap, *t)),
            _ => {
                // One series per label set, its samples in time order.
                let mut merged: BTreeMap<Labels, Vec<Sample>> = BTreeMap::new();
                for &t in times {
                    for one in self.evaluate(hash, &q, snap, t) {
                        merged.entry(one.labels).or_default().extend(one.samples);
                    }
                }
                merged
                    .into_iter()
                    .map(|(labels, samples)| Series { labels, samples })
                    .collect()
            }
        });
        Ok(shape(query, series))
    }
}

/// FNV-1a of `text`.
fn fnv1a(text: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h = (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// Sorts one instant's series by their labels, merging any with equal labels (samples
/// kept in order), as collecting them into a map keyed by labels would.
fn by_labels(mut series: Vec<Series>) -> Vec<Series> {
    if series.len() < 2 {
        return series;
    }
    series.sort_by(|a, b| a.labels.cmp(&b.labels));
    let mut out: Vec<Series> = Vec::with_capacity(series.len());
    for one in series {
        match out.last_mut() {
            Some(last) if last.labels == one.labels => last.samples.extend(one.samples),
            _ => out.push(one),
        }
    }
    out
}

fn shape(query: &MetricQuery, series: Vec<Series>) -> QueryResult {
    if query.range.is_some() {
        QueryResult::Matrix(series)
    } else {
        QueryResult::Vector(series)
    }
}

fn range_times(
    expr: &str,
    start: Timestamp,
    end: Timestamp,
    step: std::time::Duration,
) -> Result<Vec<Timestamp>, MetricsError> {
    let bad = |m: String| MetricsError::new(MetricsErrorKind::BadQuery, expr, m);
    let step_ms = step.as_millis() as u64;
    if step_ms == 0 {
        return Err(bad("range step must be at least 1ms".into()));
    }
    if end < start {
        return Err(bad(format!("range end {end} is before its start {start}")));
    }
    let points = (end.0 - start.0) / step_ms + 1;
    if points > MAX_RANGE_POINTS {
        return Err(bad(format!(
            "range asks for {points} points; at most {MAX_RANGE_POINTS} (use a larger step)"
        )));
    }
    Ok((0..points)
        .map(|i| Timestamp(start.0 + i * step_ms))
        .collect())
}

fn serves(v: &RevisionView<'_>) -> bool {
    v.weight > 0 && v.ready > 0
}

/// True when the query does not constrain `label` or asks for exactly `have`.
fn label_ok(q: &QueryRef<'_>, label: &str, have: &str) -> bool {
    q.label(label).map_or(true, |want| want == have)
}

fn target_matches(q: &QueryRef<'_>, run: &TargetRun) -> bool {
    label_ok(q, "service", &run.target.service)
        && label_ok(q, "environment", &run.target.environment)
        && label_ok(
            q,
            "namespace",
            run.target.namespace.as_deref().unwrap_or(""),
        )
}

/// `want_version`: the query's `version` label, if any, parsed (`None` inside when it is
/// not a version, which matches nothing).
fn revision_matches(
    q: &QueryRef<'_>,
    want_version: Option<&Option<semver::Version>>,
    run: &RevisionRun,
) -> bool {
    label_ok(q, "revision", run.revision.id.as_str())
        && want_version.map_or(true, |want| {
            want.as_ref().is_some_and(|w| *w == run.revision.version)
        })
}

fn target_labels(run: &TargetRun) -> Labels {
    run.labels
        .get_or_init(|| Labels::from_iter(target_pairs(&run.target)))
}

/// The target's labels with the revision's id and version (made from the target itself: a
/// rollout asking only per-revision queries keeps no set for the whole target).
fn revision_labels(run: &TargetRun, v: &RevisionView<'_>) -> Labels {
    v.run.labels.get_or_init(|| {
        let revision = &v.run.revision;
        let version = version_string(&revision.version);
        let mut pairs = target_pairs(&run.target);
        pairs.push(("revision", revision.id.as_str()));
        pairs.push(("version", &version));
        Labels::from_iter(pairs)
    })
}

/// A target's labels: service, environment, and namespace when it has one.
fn target_pairs(t: &Target) -> Vec<(&'static str, &str)> {
    let mut pairs = vec![
        ("environment", t.environment.as_str()),
        ("service", t.service.as_str()),
    ];
    if let Some(ns) = &t.namespace {
        pairs.push(("namespace", ns.as_str()));
    }
    pairs
}

/// The whole target's value and request rate, or `None` when it gets no traffic.
fn service_value(
    metric: SimMetric,
    views: &[RevisionView<'_>],
    request_rate: f64,
) -> Option<(f64, f64)> {
    let routed: f64 = views.iter().map(|v| v.weight as f64).sum();
    if routed == 0.0 {
        return None;
    }
    let rps = request_rate * routed / 100.0;
    let serving: Vec<&RevisionView<'_>> = views.iter().filter(|v| serves(v)).collect();
    let value = match metric {
        SimMetric::RequestRate => rps,
        SimMetric::ErrorRate => {
            // Traffic routed to a revision without ready instances fails (503).
            let failed: f64 = views
                .iter()
                .map(|v| {
                    let w = v.weight as f64;
                    if serves(v) {
                        w * v.behaviour.error_rate
                    } else {
                        w
                    }
                })
                .sum();
            failed / routed
        }
        SimMetric::Latency(p) => {
            if serving.is_empty() {
                return None;
            }
            mixture_quantile(&serving, p) / 1000.0
        }
    };
    Some((value, rps))
}

/// The `p` quantile (ms) of the traffic-weighted mixture of the revisions' log-normals.
fn mixture_quantile(serving: &[&RevisionView<'_>], p: f64) -> f64 {
    let comps: Vec<(f64, f64, f64)> = serving
        .iter()
        .map(|v| {
            let l = v.behaviour.latency;
            let sigma = (l.p95_ms / l.p50_ms).ln() / 1.644_853_626_951_472_2;
            (v.weight as f64, l.p50_ms.ln(), sigma)
        })
        .collect();
    let total: f64 = comps.iter().map(|c| c.0).sum();
    let cdf = |x: f64| {
        comps
            .iter()
            .map(|&(w, mu, sigma)| {
                let f = if sigma > 0.0 {
                    normal_cdf((x - mu) / sigma)
                } else if x >= mu {
                    1.0
                } else {
                    0.0
                };
                w * f
            })
            .sum::<f64>()
            / total
    };
    let spread = comps.iter().map(|c| c.2).fold(0.0, f64::max) * 10.0 + 1.0;
    let mut lo = comps.iter().map(|c| c.1).fold(f64::INFINITY, f64::min) - spread;
    let mut hi = comps.iter().map(|c| c.1).fold(f64::NEG_INFINITY, f64::max) + spread;
    for _ in 0..80 {
        let mid = 0.5 * (lo + hi);
        if cdf(mid) < p {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    (0.5 * (lo + hi)).exp()
}

/// Standard normal CDF (Abramowitz–Stegun 7.1.26 erf, absolute error below 1.5e-7).
fn normal_cdf(z: f64) -> f64 {
    let x = z.abs() / std::f64::consts::SQRT_2;
    let t = 1.0 / (1.0 + 0.327_591_1 * x);
    let poly = t
        * (0.254_829_592
            + t * (-0.284_496_736
                + t * (1.421_413_741 + t * (-1.453_152_027 + t * 1.061_405_429))));
    let erf = 1.0 - poly * (-x * x).exp();
    if z >= 0.0 {
        0.5 * (1.0 + erf)
    } else {
        0.5 * (1.0 - erf)
    }
}

#[async_trait]
impl MetricsSource for SimMetrics {
    async fn query(&self, query: &MetricQuery) -> Result<QueryResult, MetricsError> {
        self.queries.fetch_add(1, Ordering::Relaxed);
        self.answer(query)
    }

    /// Always answers at once: the simulator's metrics are computed in memory.
    fn query_now(&self, query: &MetricQuery) -> Option<Result<QueryResult, MetricsError>> {
        self.queries.fetch_add(1, Ordering::Relaxed);
        Some(self.answer(query))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn normal_cdf_matches_known_values() {
        assert!((normal_cdf(0.0) - 0.5).abs() < 1e-7);
        assert!((normal_cdf(1.644_853_6) - 0.95).abs() < 1e-6);
        assert!((normal_cdf(-1.959_964) - 0.025).abs() < 1e-6);
    }

    #[test]
    fn instant_series_are_ordered_and_merged_as_a_label_map_would() {
        let labels = |pairs: &[(&str, &str)]| -> Labels { pairs.iter().copied().collect() };
        let keys = [
            labels(&[("service", "web"), ("environment", "prod")]),
            labels(&[("service", "api"), ("environment", "prod")]),
            labels(&[
                ("service", "web"),
                ("environment", "prod"),
                ("namespace", ""),
            ]),
            labels(&[]),
            labels(&[("service", "api"), ("environment", "prod")]),
        ];
        for n in 0..=keys.len() {
            let series: Vec<Series> = keys[..n]
                .iter()
                .enumerate()
                .map(|(i, l)| Series {
                    labels: l.clone(),
                    samples: vec![Sample {
                        at: Timestamp(7),
                        value: i as f64,
                    }],
                })
                .collect();
            let mut reference: BTreeMap<Labels, Vec<Sample>> = BTreeMap::new();
            for one in series.clone() {
                reference.entry(one.labels).or_default().extend(one.samples);
            }
            let reference: Vec<Series> = reference
                .into_iter()
                .map(|(labels, samples)| Series { labels, samples })
                .collect();
            assert_eq!(by_labels(series), reference, "{n}");
        }
    }

    #[test]
    fn range_times_are_inclusive_and_bounded() {
        let d = std::time::Duration::from_secs(30);
        let t = range_times("x", Timestamp(0), Timestamp(60_000), d).unwrap();
        assert_eq!(t, vec![Timestamp(0), Timestamp(30_000), Timestamp(60_000)]);
        let e = range_times("x", Timestamp(0), Timestamp(u64::MAX / 2), d).unwrap_err();
        assert!(e.message.contains("at most 11000"), "{}", e.message);
        let e = range_times("x", Timestamp(10), Timestamp(0), d).unwrap_err();
        assert!(e.message.contains("before its start"), "{}", e.message);
        let e =
            range_times("x", Timestamp(0), Timestamp(10), std::time::Duration::ZERO).unwrap_err();
        assert_eq!(e.kind, MetricsErrorKind::BadQuery);
    }
}
