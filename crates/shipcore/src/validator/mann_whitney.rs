//! The Mann–Whitney U test (Wilcoxon rank-sum) for two independent samples, two-sided, and the
//! confidence interval of the Hodges–Lehmann shift estimate; used by the statistical judge.
//!
//! **p-value** ([`mann_whitney_u`]), the same numbers as SciPy's `mannwhitneyu(x, y)` with the
//! method named:
//! - **exact** whenever there are no ties and the count is tractable ([`exact_is_tractable`]:
//!   `n1 * n2 <= 1,000,000` and `C(n1 + n2, n1)` below 10^38, so that every count is an exact
//!   128-bit integer): the null distribution of U is counted (coefficients of the Gaussian
//!   binomial `[n1+n2 choose n1]_q`) and `p = min(1, 2 * P(U <= min(U1, U2)))`, SciPy's
//!   `method="exact"`;
//! - otherwise the **normal approximation** with tie correction and continuity correction:
//!   `z = (max(U1, U2) - n1*n2/2 - 0.5) / sigma`,
//!   `sigma^2 = n1*n2/12 * ((n+1) - sum(t^3 - t) / (n(n-1)))`, `p = min(1, 2 * sf(z))`.
//!
//! SciPy's default (`method="auto"`, 1.17) counts exactly when there are no ties and one side
//! has at most 8 values, and approximates only when *both* sides have more than 8. Counting
//! exactly wherever it is tractable therefore agrees with SciPy's default on every untied
//! sample SciPy counts (up to 125,000 values on the other side) and gives the exact answer
//! where SciPy's default approximates. When every value is tied (sigma = 0) there is no
//! evidence of a difference: `p = 1`.
//!
//! **Confidence interval** ([`shift_confidence_interval`]): the algorithm of R's
//! `wilcox.test(x, y, conf.int = TRUE, conf.level)` (stats package, `wilcox.test.R`), which
//! Kayenta's `MannWhitney.scala` ports:
//! - **exact** when there are no ties and both sides have fewer than 50 values (R's default):
//!   `qu = qwilcox(alpha/2, n1, n2)` (at least 1), the interval is `[d(qu), d(n1*n2 - qu + 1)]`
//!   over the sorted pairwise differences `d = x_i - y_j`;
//! - otherwise the **normal approximation**: each limit is the root in
//!   `[min(x) - max(y), max(x) - min(y)]` of `W(mu) - zq`, where `W(mu)` is the
//!   continuity-corrected, tie-corrected z statistic of `x - mu` against `y` and
//!   `zq = ±qnorm(1 - alpha/2)`; an end of the range is returned when the statistic there is
//!   already past `zq` (R's `f.lower <= 0` / `f.upper >= 0` checks). `W` is a step function of
//!   `mu` that jumps at the pairwise differences, so the root is the difference where it
//!   crosses `zq`: it is located exactly here, where R's `uniroot` (and Kayenta's
//!   `BrentSolver`) stop within their absolute tolerance of 1e-4 of the same point.
//!
//! The estimate is the Hodges–Lehmann estimate, the median of the pairwise differences: R's
//! exact-case estimate, and a root of R's (and Kayenta's) estimating equation in the
//! approximate case, where a root-finder may stop anywhere on the flat stretch around it.

/// How the p-value was computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MwMethod {
    /// Exact null distribution (no ties; tractable sizes).
    Exact,
    /// Normal approximation with tie and continuity correction.
    Asymptotic,
}

/// The result of [`mann_whitney_u`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct MannWhitney {
    /// U statistic of the first sample `x` (SciPy's `statistic`): pairs `(x_i, y_j)` with
    /// `x_i > y_j`, ties counted as one half.
    pub u_x: f64,
    /// U statistic of the second sample (`n1 * n2 - u_x`).
    pub u_y: f64,
    /// Two-sided p-value.
    pub p_value: f64,
    /// How the p-value was computed.
    pub method: MwMethod,
    /// Hodges–Lehmann estimate of the shift of `x` relative to `y`: the median of all
    /// differences `x_i - y_j`. Positive when `x` tends to be larger.
    pub shift: f64,
}

/// Untied samples with at most this many values in total are always counted exactly (the
/// exact count is tractable for every split of 40 values); larger untied samples are counted
/// exactly too while [`exact_is_tractable`] holds.
#[cfg(test)]
pub(crate) const EXACT_MAX_TOTAL: usize = 40;

/// Largest `n1 * n2` whose null distribution is counted exactly.
pub(crate) const EXACT_MAX_PAIRS: usize = 1_000_000;

/// Largest number of arrangements `C(n1 + n2, n1)` counted exactly: every count stays an
/// exact 128-bit integer below it.
const EXACT_MAX_ARRANGEMENTS: u128 = 100_000_000_000_000_000_000_000_000_000_000_000_000;

/// Whether the exact null distribution of U for samples of `n1` and `n2` values is counted:
/// `n1 * n2 <= `[`EXACT_MAX_PAIRS`] and `C(n1 + n2, n1) <= 10^38`. True for every split of
/// up to 130 values in total, and for one side of at most 8 values against up to 125,000.
pub(crate) fn exact_is_tractable(n1: usize, n2: usize) -> bool {
    n1 > 0
        && n2 > 0
        && n1.checked_mul(n2).is_some_and(|p| p <= EXACT_MAX_PAIRS)
        && arrangements(n1, n2).is_some()
}

/// `C(n1 + n2, min(n1, n2))` when it is at most `EXACT_MAX_ARRANGEMENTS`.
fn arrangements(n1: usize, n2: usize) -> Option<u128> {
    let (m, n) = (n1.min(n2) as u128, n1.max(n2) as u128);
    let mut c: u128 = 1;
    for i in 1..=m {
        // C(n+i, i) = C(n+i-1, i-1) * (n+i) / i, divided first so nothing overflows early.
        let g = gcd(c, i);
        c = (c / g).checked_mul((n + i) / (i / g))?;
        if c > EXACT_MAX_ARRANGEMENTS {
            return None;
        }
    }
    Some(c)
}

fn gcd(mut a: u128, mut b: u128) -> u128 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// Runs the two-sided test of `x` against `y`. `None` when a sample is empty or holds a
/// non-finite value.
pub(crate) fn mann_whitney_u(x: &[f64], y: &[f64]) -> Option<MannWhitney> {
    let (n1, n2) = (x.len(), y.len());
    if n1 == 0 || n2 == 0 || x.iter().chain(y).any(|v| !v.is_finite()) {
        return None;
    }
    let (ranks, tie_term) = rank(x, y);
    let r1: f64 = ranks[..n1].iter().sum();
    let (f1, f2) = (n1 as f64, n2 as f64);
    let u_x = r1 - f1 * (f1 + 1.0) / 2.0;
    let u_y = f1 * f2 - u_x;
    let big = u_x.max(u_y);
    let exact = match arrangements(n1, n2) {
        Some(total) if tie_term == 0.0 && exact_is_tractable(n1, n2) => Some(total),
        _ => None,
    };
    let (p, method) = if let Some(total) = exact {
        // P(U >= max) = P(U <= min) by symmetry: only the lower tail is counted.
        let small = u_x.min(u_y).round() as usize;
        let tail: i128 = exact_counts(n1.min(n2), n1.max(n2), small).iter().sum();
        (2.0 * tail as f64 / total as f64, MwMethod::Exact)
    } else {
        let n = f1 + f2;
        let var = f1 * f2 / 12.0 * ((n + 1.0) - tie_term / (n * (n - 1.0)));
        if var <= 0.0 {
            (1.0, MwMethod::Asymptotic)
        } else {
            let z = (big - f1 * f2 / 2.0 - 0.5) / var.sqrt();
            (2.0 * normal_sf(z), MwMethod::Asymptotic)
        }
    };
    Some(MannWhitney {
        u_x,
        u_y,
        p_value: p.clamp(0.0, 1.0),
        method,
        shift: hodges_lehmann(x, y),
    })
}

/// Average ranks (1-based) of `x` then `y` in the pooled sample, and `sum(t^3 - t)` over
/// groups of `t` tied values.
fn rank(x: &[f64], y: &[f64]) -> (Vec<f64>, f64) {
    let pooled: Vec<f64> = x.iter().chain(y).copied().collect();
    let mut order: Vec<usize> = (0..pooled.len()).collect();
    order.sort_by(|&a, &b| pooled[a].total_cmp(&pooled[b]));
    let mut ranks = vec![0.0; pooled.len()];
    let mut tie_term = 0.0;
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && pooled[order[j + 1]] == pooled[order[i]] {
            j += 1;
        }
        let avg = (i + j) as f64 / 2.0 + 1.0;
        for &k in &order[i..=j] {
            ranks[k] = avg;
        }
        let t = (j - i + 1) as f64;
        tie_term += t * t * t - t;
        i = j + 1;
    }
    (ranks, tie_term)
}

/// `counts[u]` for `u` in `0..=upto` = number of arrangements of `m` and `n` untied values
/// giving `U = u`: the coefficients of `[m+n choose m]_q`, built by
/// `[n+i, i] = [n+i-1, i-1] (1-q^(n+i)) / (1-q^i)`. Each coefficient only depends on lower
/// ones, so the array stops at `upto`; every intermediate value is bounded by `C(m+n, m)`,
/// exact in `i128` while [`exact_is_tractable`] holds.
fn exact_counts(m: usize, n: usize, upto: usize) -> Vec<i128> {
    let mut c = vec![0i128; upto + 1];
    c[0] = 1;
    for i in 1..=m {
        let s = n + i;
        for k in (s..=upto).rev() {
            c[k] -= c[k - s];
        }
        for k in i..=upto {
            c[k] += c[k - i];
        }
    }
    c
}

/// R's `qwilcox(p, m, n)` for `p <= 0.5`: the smallest `q` with `P(U <= q) >= p`, summed in
/// floating point with R's fuzz of `10 * DBL_EPSILON`.
fn qwilcox_lower(p: f64, m: usize, n: usize, total: u128) -> usize {
    let upto = m * n / 2;
    let counts = exact_counts(m.min(n), m.max(n), upto);
    let total = total as f64;
    let target = p - 10.0 * f64::EPSILON;
    let mut acc = 0.0;
    for (q, c) in counts.iter().enumerate() {
        acc += *c as f64 / total;
        if acc >= target {
            return q;
        }
    }
    upto
}

/// The confidence interval of the location shift of `x` relative to `y` (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ShiftInterval {
    /// Lower confidence limit.
    pub low: f64,
    /// Upper confidence limit.
    pub high: f64,
    /// Hodges–Lehmann estimate: the median of all differences `x_i - y_j`.
    pub estimate: f64,
    /// Exact (R's `qwilcox` over the sorted differences) or normal approximation.
    pub method: MwMethod,
}

/// The two-sided confidence interval at `confidence` of the shift of `x` relative to `y`, and
/// the Hodges–Lehmann estimate, as R's `wilcox.test(x, y, conf.int = TRUE, conf.level =
/// confidence)` computes them (see the module docs for the method and the one difference:
/// roots located exactly). `None` when a sample is empty or holds a non-finite value, or
/// `confidence` is not strictly between 0 and 1.
///
/// When each side holds a single distinct value R stops ("all observations are tied") and
/// Kayenta adds Gaussian noise of 1e-5 of the value; the interval here is the limit of that as
/// the noise vanishes: the point `x - y`.
pub(crate) fn shift_confidence_interval(
    x: &[f64],
    y: &[f64],
    confidence: f64,
) -> Option<ShiftInterval> {
    interval(x, y, confidence, true)
}

/// [`shift_confidence_interval`] by the normal approximation whatever the samples (R's
/// `exact = FALSE`): what Kayenta's `MannWhitney.scala`, its port of R since 2018, computes
/// (with the roots located exactly rather than to its `BrentSolver`'s 1e-4).
// Only the reference tests compare it with Kayenta's values; the judge picks the method
// through `interval`.
#[cfg(test)]
pub(crate) fn shift_confidence_interval_normal(
    x: &[f64],
    y: &[f64],
    confidence: f64,
) -> Option<ShiftInterval> {
    interval(x, y, confidence, false)
}

fn interval(x: &[f64], y: &[f64], confidence: f64, allow_exact: bool) -> Option<ShiftInterval> {
    let (n1, n2) = (x.len(), y.len());
    if n1 == 0
        || n2 == 0
        || x.iter().chain(y).any(|v| !v.is_finite())
        || !(confidence > 0.0 && confidence < 1.0)
    {
        return None;
    }
    let mut d: Vec<f64> = x
        .iter()
        .flat_map(|a| y.iter().map(move |b| a - b))
        .collect();
    let estimate = median_in_place(&mut d);
    if x.iter().all(|v| *v == x[0]) && y.iter().all(|v| *v == y[0]) {
        return Some(ShiftInterval {
            low: estimate,
            high: estimate,
            estimate,
            method: MwMethod::Asymptotic,
        });
    }
    let alpha = 1.0 - confidence;
    let (_, tie_term) = rank(x, y);
    let total = arrangements(n1, n2);
    let (low, high, method) = match total {
        Some(total) if allow_exact && tie_term == 0.0 && n1 < 50 && n2 < 50 => {
            let qu = qwilcox_lower(alpha / 2.0, n1, n2, total).max(1);
            let ql = n1 * n2 - qu;
            (d[qu - 1], d[ql], MwMethod::Exact)
        }
        _ => {
            let (l, h) = asymptotic_interval(x, y, &d, alpha);
            (l, h, MwMethod::Asymptotic)
        }
    };
    Some(ShiftInterval {
        low,
        high,
        estimate,
        method,
    })
}

/// R's `sign`: 0 at 0.
fn sign(v: f64) -> f64 {
    if v > 0.0 {
        1.0
    } else if v < 0.0 {
        -1.0
    } else {
        0.0
    }
}

/// `sum(t^3 - t)` over groups of `t` equal values of `v`.
fn tie_sum(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let mut total = 0.0;
    let mut i = 0;
    while i < s.len() {
        let mut j = i;
        while j + 1 < s.len() && s[j + 1] == s[i] {
            j += 1;
        }
        let t = (j - i + 1) as f64;
        total += t * t * t - t;
        i = j + 1;
    }
    total
}

/// R's `W(d)` in `wilcox.test`: the continuity- and tie-corrected z statistic of `x - mu`
/// against `y`, evaluated literally (pooled ranks of `x - mu` and `y`).
fn r_w(x: &[f64], y: &[f64], mu: f64) -> f64 {
    let xs: Vec<f64> = x.iter().map(|v| v - mu).collect();
    let (ranks, tie_term) = rank(&xs, y);
    let (m, n) = (x.len() as f64, y.len() as f64);
    let dz = ranks[..x.len()].iter().sum::<f64>() - m * (m + 1.0) / 2.0 - m * n / 2.0;
    let sigma = (m * n / 12.0 * ((m + n + 1.0) - tie_term / ((m + n) * (m + n - 1.0)))).sqrt();
    (dz - sign(dz) * 0.5) / sigma
}

/// The normal-approximation limits `(lower, upper)` over the sorted differences `d`.
fn asymptotic_interval(x: &[f64], y: &[f64], d: &[f64], alpha: f64) -> (f64, f64) {
    let (m, n) = (x.len() as f64, y.len() as f64);
    let mumin = x.iter().copied().fold(f64::INFINITY, f64::min)
        - y.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let mumax = x.iter().copied().fold(f64::NEG_INFINITY, f64::max)
        - y.iter().copied().fold(f64::INFINITY, f64::min);
    let (w_min, w_max) = (r_w(x, y, mumin), r_w(x, y, mumax));
    // Between two consecutive differences no value of x - mu equals a value of y: only the
    // ties within each sample count, and with c differences at or below mu the statistic
    // is dz = n1*n2/2 - c.
    let sigma = (m * n / 12.0
        * ((m + n + 1.0) - (tie_sum(x) + tie_sum(y)) / ((m + n) * (m + n - 1.0))))
        .sqrt();
    let half = d.len() as f64 / 2.0;
    let root = |zq: f64| -> f64 {
        if w_min - zq <= 0.0 {
            return mumin;
        }
        if w_max - zq >= 0.0 {
            return mumax;
        }
        // W decreases with mu: the root is the difference where it first drops to zq.
        let c = (1..=d.len())
            .find(|&c| {
                let dz = half - c as f64;
                (dz - sign(dz) * 0.5) / sigma - zq <= 0.0
            })
            .unwrap_or(d.len());
        d[c - 1]
    };
    let zq = normal_isf(alpha / 2.0);
    (root(zq), root(-zq))
}

/// The upper quantile of the standard normal distribution: `z` with `P(Z > z) = p`, for `p`
/// in `(0, 1)` (R's `qnorm(p, lower.tail = FALSE)`), by bisection on [`normal_sf`].
pub(crate) fn normal_isf(p: f64) -> f64 {
    if !(p > 0.0 && p < 1.0) {
        return f64::NAN;
    }
    if p > 0.5 {
        return -normal_isf(1.0 - p);
    }
    let (mut lo, mut hi) = (0.0_f64, 40.0_f64);
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if mid <= lo || mid >= hi {
            break;
        }
        if normal_sf(mid) > p {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    0.5 * (lo + hi)
}

/// Median of all pairwise differences `x_i - y_j`.
fn hodges_lehmann(x: &[f64], y: &[f64]) -> f64 {
    let mut d: Vec<f64> = x
        .iter()
        .flat_map(|a| y.iter().map(move |b| a - b))
        .collect();
    median_in_place(&mut d)
}

/// Median of `v` (sorts it); NaN when empty.
pub(crate) fn median_in_place(v: &mut [f64]) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    if v.len() % 2 == 1 {
        v[mid]
    } else {
        (v[mid - 1] + v[mid]) / 2.0
    }
}

/// Upper tail of the standard normal distribution, `P(Z > z)`.
pub(crate) fn normal_sf(z: f64) -> f64 {
    0.5 * erfc(z / std::f64::consts::SQRT_2)
}

/// The complementary error function, to better than 1e-12 relative: the Maclaurin series of erf
/// below 2.5, a continued fraction above.
pub(crate) fn erfc(x: f64) -> f64 {
    if x.is_nan() {
        return f64::NAN;
    }
    if x < 0.0 {
        return 2.0 - erfc(-x);
    }
    if x < 2.5 {
        // erf(x) = 2/sqrt(pi) * sum_k (-1)^k x^(2k+1) / (k! (2k+1))
        let mut term = x;
        let mut sum = x;
        let x2 = x * x;
        for k in 1..200 {
            term *= -x2 / k as f64;
            let add = term / (2 * k + 1) as f64;
            sum += add;
            if add.abs() < 1e-17 * sum.abs() {
                break;
            }
        }
        return 1.0 - 2.0 / std::f64::consts::PI.sqrt() * sum;
    }
    if x > 27.0 {
        return 0.0;
    }
    // erfc(x) = exp(-x^2)/sqrt(pi) * 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + 2/(x + ...)))))
    let mut f = x;
    for k in (1..=80).rev() {
        f = x + (k as f64 / 2.0) / f;
    }
    (-x * x).exp() / std::f64::consts::PI.sqrt() / f
}

// Checked against SciPy and R reference values (a unit test: these functions are internal).
#[cfg(test)]
#[allow(clippy::unwrap_used)]
#[path = "mann_whitney_reference_tests.rs"]
mod reference_tests;

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn erfc_matches_reference_values() {
        // Reference values: scipy.special.erfc (SciPy 1.17.1).
        for (x, want) in [
            (0.0, 1.0),
            (0.5, 0.479_500_122_186_953_5),
            (1.0, 0.157_299_207_050_285_16),
            (1.5, 0.033_894_853_524_689_27),
            (1.9, 0.007_209_570_764_742_531),
            (2.0, 0.004_677_734_981_047_266),
            (2.2, 0.001_862_846_297_981_89),
            (2.4, 0.000_688_513_896_645_078_9),
            (2.5, 0.000_406_952_017_444_958_86),
            (2.6, 0.000_236_034_416_529_349),
            (3.0, 2.209_049_699_858_544_5e-5),
            (3.5, 7.430_983_723_414_129e-7),
            (5.0, 1.537_459_794_428_034_7e-12),
            (10.0, 2.088_487_583_762_544_6e-45),
            (-1.0, 1.842_700_792_949_714_8),
        ] {
            let got = erfc(x);
            assert!(
                ((got - want) / want).abs() < 1e-12,
                "erfc({x}) = {got}, want {want}"
            );
        }
    }

    #[test]
    fn exact_counts_are_the_q_binomial() {
        // [4 choose 2]_q = 1 + q + 2q^2 + q^3 + q^4
        assert_eq!(exact_counts(2, 2, 4), vec![1, 1, 2, 1, 1]);
        // Total is C(m+n, m); a truncated array holds the same first coefficients.
        assert_eq!(exact_counts(5, 7, 35).iter().sum::<i128>(), 792);
        assert_eq!(exact_counts(5, 7, 10)[..], exact_counts(5, 7, 35)[..11]);
        assert_eq!(
            exact_counts(20, 20, 400).iter().sum::<i128>(),
            137_846_528_820
        );
        assert_eq!(arrangements(20, 20), Some(137_846_528_820));
        // C(130, 65) ~ 9.5e37 is counted; C(132, 66) ~ 3.8e38 is not.
        let big = exact_counts(65, 65, 65 * 65);
        assert_eq!(Some(big.iter().sum::<i128>() as u128), arrangements(65, 65));
        assert!(big.iter().all(|c| *c > 0));
        assert_eq!(arrangements(66, 66), None);
        assert!(!exact_is_tractable(66, 66) && !exact_is_tractable(2, 500_001));
    }

    #[test]
    fn ranks_average_ties() {
        let (r, t) = rank(&[1.0, 2.0], &[2.0, 3.0]);
        assert_eq!(r, vec![1.0, 2.5, 2.5, 4.0]);
        assert_eq!(t, 6.0);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod doc_examples {
    use super::*;

    #[test]
    fn every_split_of_exact_max_total_is_tractable() {
        for n1 in 1..EXACT_MAX_TOTAL {
            assert!(exact_is_tractable(n1, EXACT_MAX_TOTAL - n1), "{n1}");
        }
    }

    #[test]
    fn exact_is_tractable_examples() {
        assert!(
            exact_is_tractable(3, 38)
                && exact_is_tractable(60, 60)
                && exact_is_tractable(8, 125_000)
        );
        assert!(!exact_is_tractable(100, 100));
    }

    #[test]
    fn scipy_docs_example() {
        // SciPy docs example: mannwhitneyu(males, females, method="exact") -> U=17, p=0.1111.
        let r = mann_whitney_u(&[19., 22., 16., 29., 24.], &[20., 11., 17., 12.]).unwrap();
        assert_eq!(r.u_x, 17.0);
        assert!((r.p_value - 1.0 / 9.0).abs() < 1e-12);
    }

    #[test]
    fn r_wilcox_test_example_interval() {
        // The example data of R's ?wilcox.test (Hollander & Wolfe): 10 vs 5 untied values, so
        // the exact interval qwilcox(0.025, 10, 5) = 9 gives: the 9th and the 42nd of the 50
        // sorted differences.
        let x = [0.80, 0.83, 1.89, 1.04, 1.45, 1.38, 1.91, 1.64, 0.73, 1.46];
        let y = [1.15, 0.88, 0.90, 0.74, 1.21];
        let ci = shift_confidence_interval(&x, &y, 0.95).unwrap();
        assert_eq!(ci.method, MwMethod::Exact);
        assert!((ci.low + 0.15).abs() < 1e-12 && (ci.high - 0.76).abs() < 1e-12);
        assert!((ci.estimate - 0.305).abs() < 1e-12);
    }
}
