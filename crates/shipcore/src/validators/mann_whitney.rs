//! The Mann–Whitney U test (Wilcoxon rank-sum) for two independent samples, two-sided, plus
//! the Hodges–Lehmann shift estimate; used by the statistical judge.
//!
//! Method (the same numbers as SciPy's `mannwhitneyu(x, y)` with the method named):
//! - **exact** when there are no ties and `n1 + n2 <= 40`: the null distribution of U is
//!   counted exactly (coefficients of the Gaussian binomial `[n1+n2 choose n1]_q`), and
//!   `p = min(1, 2 * P(U >= max(U1, U2)))`;
//! - otherwise the **normal approximation** with tie correction and continuity correction:
//!   `z = (max(U1, U2) - n1*n2/2 - 0.5) / sigma`,
//!   `sigma^2 = n1*n2/12 * ((n+1) - sum(t^3 - t) / (n(n-1)))`, `p = min(1, 2 * sf(z))`.
//!
//! When every value is tied (sigma = 0) there is no evidence of a difference: `p = 1`.
//! (SciPy's `method="auto"` switches to the approximation earlier, at 8 values per side; the
//! exact count is the better answer, so it is used as long as it is exact in f64.)

/// How the p-value was computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MwMethod {
    /// Exact null distribution (no ties, small samples).
    Exact,
    /// Normal approximation with tie and continuity correction.
    Asymptotic,
}

/// The result of [`mann_whitney_u`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MannWhitney {
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

/// Largest `n1 + n2` for which the exact distribution is used (its counts stay exact in f64).
pub const EXACT_MAX_TOTAL: usize = 40;

/// Runs the two-sided test of `x` against `y`. `None` when a sample is empty or holds a
/// non-finite value.
///
/// ```
/// use shipcore::validators::mann_whitney_u;
/// // SciPy docs example: mannwhitneyu(males, females, method="exact") -> U=17, p=0.1111.
/// let r = mann_whitney_u(&[19., 22., 16., 29., 24.], &[20., 11., 17., 12.]).unwrap();
/// assert_eq!(r.u_x, 17.0);
/// assert!((r.p_value - 1.0 / 9.0).abs() < 1e-12);
/// ```
pub fn mann_whitney_u(x: &[f64], y: &[f64]) -> Option<MannWhitney> {
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
    let (p, method) = if tie_term == 0.0 && n1 + n2 <= EXACT_MAX_TOTAL {
        let counts = exact_counts(n1.min(n2), n1.max(n2));
        let total: f64 = counts.iter().sum();
        let at_least: f64 = counts.iter().skip(big.round() as usize).sum();
        (2.0 * at_least / total, MwMethod::Exact)
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

/// `counts[u]` = number of arrangements of `m` and `n` untied values giving `U = u`: the
/// coefficients of `[m+n choose m]_q`, built by `[n+i, i] = [n+i-1, i-1] (1-q^(n+i)) / (1-q^i)`.
fn exact_counts(m: usize, n: usize) -> Vec<f64> {
    let max = m * n;
    let mut c = vec![0.0; max + 1];
    c[0] = 1.0;
    for i in 1..=m {
        let s = n + i;
        for k in (s..=max).rev() {
            c[k] -= c[k - s];
        }
        for k in i..=max {
            c[k] += c[k - i];
        }
    }
    c
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
pub fn normal_sf(z: f64) -> f64 {
    0.5 * erfc(z / std::f64::consts::SQRT_2)
}

/// The complementary error function, to better than 1e-12 relative: the Maclaurin series of erf
/// below 2.5, a continued fraction above.
pub fn erfc(x: f64) -> f64 {
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
        assert_eq!(exact_counts(2, 2), vec![1.0, 1.0, 2.0, 1.0, 1.0]);
        // Total is C(m+n, m).
        assert_eq!(exact_counts(5, 7).iter().sum::<f64>(), 792.0);
        assert_eq!(exact_counts(20, 20).iter().sum::<f64>(), 137_846_528_820.0);
    }

    #[test]
    fn ranks_average_ties() {
        let (r, t) = rank(&[1.0, 2.0], &[2.0, 3.0]);
        assert_eq!(r, vec![1.0, 2.5, 2.5, 4.0]);
        assert_eq!(t, 6.0);
    }
}
