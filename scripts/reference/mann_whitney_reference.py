#!/usr/bin/env python3
"""Reference values for the Mann-Whitney test and Kayenta's Mann-Whitney classifier.

Writes crates/shipcore/tests/data/mann_whitney_reference.json, read by
crates/shipcore/src/validators/mann_whitney_reference_tests.rs and tests/validators_judge.rs.

Sources of truth (nothing here comes from the Rust code under test):
- p-values: SciPy, scipy.stats.mannwhitneyu(x, y, method="exact") for untied samples,
  method="asymptotic" (continuity correction) when there are ties.
- confidence interval and estimate: R's wilcox.test(x, y, conf.int=TRUE, conf.level=0.98)
  (src/library/stats/R/wilcox.test.R), re-implemented below line by line because R is not
  installable here: the exact case (qwilcox over the sorted pairwise differences, qwilcox
  summed in floating point with R's 10*DBL_EPSILON fuzz) and the normal-approximation case
  (W(d), the end-point checks, uniroot = R's zeroin with tol.root = 1e-4, estimate by uniroot
  without continuity correction). Stored as r_low / r_high / r_estimate.
  The normal-approximation root is a jump of a step function; its exact position ("low",
  "high") is found here by brute force: W is evaluated literally at the midpoint of every
  pair of consecutive distinct differences. The exact-case interval is checked independently
  with SciPy: just outside it the exact two-sided p-value at the shifted sample is below
  alpha, just inside it is not.
- normal_*: the same with exact=FALSE, the normal approximation always, which is what
  Kayenta's MannWhitney.scala (its port of R, since 2018) computes.
- verdicts: Kayenta's MannWhitneyClassifier (kayenta-judge, NetflixACAJudge: tolerance
  0.25, confLevel 0.98, effect size = mean ratio with allowed increase/decrease 1.0):
  High when lower > 0.25*|estimate| and (ratio NaN or ratio >= 1), Low when
  upper < -0.25*|estimate| and (ratio NaN or ratio <= 1); identical samples or a single
  distinct value pass. The previous rule ("significant_shift"): significant at p < 0.02 and
  HL / |median(stable)| beyond +-0.25.

Check of the port against R: with --kayenta-suite PATH (a checkout of spinnaker/kayenta's
kayenta-mannwhitney/src/test/scala/.../MannWhitneySuite.scala) the R values printed in that
suite ("Tie out with R Version") are recomputed with the port below and compared.

Usage: python3 scripts/reference/mann_whitney_reference.py [--kayenta-suite FILE]
Requires: numpy, scipy (pip install numpy scipy). Deterministic (seeded).
"""

import argparse
import json
import math
import os
import re
import sys

import numpy as np
import scipy
from scipy import stats, special

DBL_EPSILON = 2.220446049250313e-16
CONF = 0.98
TOL = 0.25


# ---------------------------------------------------------------- R's building blocks
def cwilcox_counts(m, n):
    """Number of arrangements giving U = 0..m*n (exact integers, Python ints)."""
    # Recursion c(k; m, n) = c(k - n; m - 1, n) + c(k; m, n - 1), as R's cwilcox.
    table = {}

    def counts(mm, nn):
        key = (mm, nn)
        if key in table:
            return table[key]
        if mm == 0 or nn == 0:
            res = [1]
        else:
            a = counts(mm - 1, nn)  # shifted by nn
            b = counts(mm, nn - 1)
            res = [0] * (mm * nn + 1)
            for k, v in enumerate(b):
                res[k] += v
            for k, v in enumerate(a):
                res[k + nn] += v
        table[key] = res
        return res

    return counts(m, n)


def qwilcox(p, m, n):
    """R's qwilcox(p, m, n) (lower tail, p <= 0.5 branch), doubles like R."""
    c = counts_cache(m, n)
    total = float(math.comb(m + n, n))
    x = p - 10 * DBL_EPSILON
    acc = 0.0
    q = 0
    while True:
        acc += c[q] / total
        if acc >= x:
            return q
        q += 1


_COUNTS = {}


def counts_cache(m, n):
    key = (min(m, n), max(m, n))
    if key not in _COUNTS:
        _COUNTS[key] = cwilcox_counts(*key)
    return _COUNTS[key]


def pwilcox_exact(q, m, n):
    c = counts_cache(m, n)
    return sum(c[: q + 1]) / math.comb(m + n, n)


def zeroin(f, ax, bx, fa, fb, tol, maxit=1000):
    """R_zeroin2 (src/library/stats/src/zeroin.c), as ported by Kayenta's BrentSolver."""
    a, b = ax, bx
    c, fc = a, fa
    if fa == 0.0:
        return a
    if fb == 0.0:
        return b
    while maxit > 0:
        maxit -= 1
        prev_step = b - a
        if abs(fc) < abs(fb):
            a, b, c = b, c, b
            fa, fb, fc = fb, fc, fb
        tol_act = 2 * DBL_EPSILON * abs(b) + tol / 2
        new_step = (c - b) / 2
        if abs(new_step) <= tol_act or fb == 0.0:
            return b
        if abs(prev_step) >= tol_act and abs(fa) > abs(fb):
            cb = c - b
            if a == c:
                t1 = fb / fa
                p = cb * t1
                q = 1.0 - t1
            else:
                q = fa / fc
                t1 = fb / fc
                t2 = fb / fa
                p = t2 * (cb * q * (q - t1) - (b - a) * (t1 - 1.0))
                q = (q - 1.0) * (t1 - 1.0) * (t2 - 1.0)
            if p > 0:
                q = -q
            else:
                p = -p
            if p < (0.75 * cb * q - abs(tol_act * q) / 2) and p < abs(prev_step * q / 2):
                new_step = p / q
        if abs(new_step) < tol_act:
            new_step = tol_act if new_step > 0 else -tol_act
        a, fa = b, fb
        b += new_step
        fb = f(b)
        if (fb > 0 and fc > 0) or (fb < 0 and fc < 0):
            c, fc = a, fa
    return b


def r_sign(v):
    return 1.0 if v > 0 else (-1.0 if v < 0 else 0.0)


def r_W(x, y, d, correct=True):
    """W(d) of wilcox.test.R, two-sample, two-sided."""
    nx, ny = float(len(x)), float(len(y))
    dr = stats.rankdata(np.concatenate([x - d, y]))
    _, nties = np.unique(dr, return_counts=True)
    dz = dr[: len(x)].sum() - nx * (nx + 1) / 2 - nx * ny / 2
    corr = r_sign(dz) * 0.5 if correct else 0.0
    sigma = math.sqrt((nx * ny / 12) * ((nx + ny + 1) - (nties**3 - nties).sum() / ((nx + ny) * (nx + ny - 1))))
    if sigma == 0:
        return float("nan")
    return (dz - corr) / sigma


def wilcox_conf_int(x, y, conf_level, exact=None):
    """R's wilcox.test(x, y, conf.int=TRUE, conf.level, exact)$conf.int / $estimate, and the
    exact jump points of the normal-approximation roots. exact=False is what Kayenta's
    MannWhitney.scala computes (it ports only the normal-approximation case)."""
    x = np.asarray(x, float)
    y = np.asarray(y, float)
    nx, ny = len(x), len(y)
    r = stats.rankdata(np.concatenate([x, y]))
    ties = len(np.unique(r)) != len(r)
    if exact is None:
        exact = nx < 50 and ny < 50
    alpha = 1 - conf_level
    diffs = np.sort(np.subtract.outer(x, y).ravel())
    if exact and not ties:
        qu = qwilcox(alpha / 2, nx, ny)
        if qu == 0:
            qu = 1
        ql = nx * ny - qu
        lo, hi = diffs[qu - 1], diffs[ql]
        est = float(np.median(diffs))
        return dict(method="exact", r_low=lo, r_high=hi, r_estimate=est, low=lo, high=hi, estimate=est)
    mumin = x.min() - y.max()
    mumax = x.max() - y.min()
    wmin, wmax = r_W(x, y, mumin), r_W(x, y, mumax)

    def root(zq):
        fl = wmin - zq
        if fl <= 0:
            return mumin
        fu = wmax - zq
        if fu >= 0:
            return mumax
        return zeroin(lambda d: r_W(x, y, d) - zq, mumin, mumax, fl, fu, 1e-4)

    zq = stats.norm.isf(alpha / 2)
    r_low, r_high = root(zq), root(-zq)
    wn = lambda d: r_W(x, y, d, correct=False)
    r_est = zeroin(wn, mumin, mumax, wn(mumin), wn(mumax), 1e-4)

    # Exact jump points: W between consecutive distinct differences, evaluated literally.
    uniq = np.unique(diffs)
    mids = (uniq[:-1] + uniq[1:]) / 2
    wmid = np.array([r_W(x, y, m) for m in mids])

    def jump(zq):
        if wmin - zq <= 0:
            return mumin
        if wmax - zq >= 0:
            return mumax
        # first interval (above uniq[k]) where W - zq <= 0: root at uniq[k]
        for k, w in enumerate(wmid):
            if w - zq <= 0:
                return uniq[k]
        return mumax

    return dict(
        method="asymptotic", r_low=r_low, r_high=r_high, r_estimate=r_est,
        low=jump(zq), high=jump(-zq), estimate=float(np.median(diffs)),
    )


def check_exact_interval(x, y, lo, hi, conf_level):
    """Independent check of an exact interval with SciPy's exact test at shifted samples."""
    alpha = 1 - conf_level
    diffs = np.unique(np.subtract.outer(x, y).ravel())
    gap = np.min(np.diff(diffs)) / 4 if len(diffs) > 1 else 1.0
    p = lambda mu: stats.mannwhitneyu(np.asarray(x) - mu, y, method="exact").pvalue
    # R widens the interval to the extreme differences when alpha is not achievable
    # (qwilcox = 0): then even the outermost shift is not rejected.
    achievable = 2 * pwilcox_exact(0, len(x), len(y)) < alpha
    # tiny shifts can create ties in floating point; those checks are skipped
    for mu, inside in ((lo - gap, False), (lo + gap, True), (hi - gap, True), (hi + gap, False)):
        shifted = np.concatenate([np.asarray(x) - mu, y])
        if len(np.unique(shifted)) != len(shifted):
            continue
        if not inside and not achievable:
            continue
        pv = p(mu)
        assert (pv >= alpha - 1e-12) == inside, (x, y, lo, hi, mu, pv)


def scipy_p(x, y):
    pooled = np.concatenate([x, y])
    untied = len(np.unique(pooled)) == len(pooled)
    method = "exact" if untied else "asymptotic"
    r = stats.mannwhitneyu(x, y, method=method, use_continuity=True, alternative="two-sided")
    return method, float(r.statistic), float(r.pvalue)


# ---------------------------------------------------------------- verdicts
def kayenta_verdict(x, y, low, high, estimate):
    if sorted(x) == sorted(y) or len(set(list(x) + list(y))) == 1:
        return "pass"
    bound = TOL * abs(estimate)
    mx, my = float(np.mean(x)), float(np.mean(y))
    ratio = float("nan") if mx == 0.0 or my == 0.0 else mx / my
    if low > bound and (math.isnan(ratio) or ratio >= 1.0):
        return "high"
    if high < -bound and (math.isnan(ratio) or ratio <= 1.0):
        return "low"
    return "pass"


def shift_verdict(x, y, p):
    alpha = 1 - CONF
    shift = float(np.median(np.subtract.outer(x, y).ravel()))
    scale = abs(float(np.median(y)))
    if shift == 0.0:
        effect = 0.0
    elif scale == 0.0:
        effect = math.copysign(math.inf, shift)
    else:
        effect = shift / scale
    if p < alpha and effect > TOL:
        return "high"
    if p < alpha and effect < -TOL:
        return "low"
    return "pass"


# ---------------------------------------------------------------- cases
def judge_cases(rng):
    cases = []
    sizes = [3, 5, 8, 10, 12, 15, 20, 30, 40, 49, 50, 60]
    shifts = [0.0, 0.01, 0.02, 0.04, 0.08, 0.15, 0.3, 0.6, -0.04, -0.15, -0.4]
    noises = [0.002, 0.01, 0.05, 0.2]
    kinds = ["normal", "lognormal", "rounded", "outlier"]
    for i in range(300):
        n1 = int(rng.choice(sizes))
        n2 = int(rng.choice(sizes)) if rng.random() < 0.3 else n1
        center = float(rng.choice([0.01, 0.2, 1.0, 150.0]))
        shift = float(rng.choice(shifts))
        noise = float(rng.choice(noises))
        kind = kinds[i % len(kinds)]
        if kind == "lognormal":
            y = center * rng.lognormal(0, noise * 3, n2)
            x = center * (1 + shift) * rng.lognormal(0, noise * 3, n1)
        else:
            y = center * (1 + noise * rng.standard_normal(n2))
            x = center * (1 + shift + noise * rng.standard_normal(n1))
        if kind == "rounded":  # ties, as from a coarse counter
            step = center * noise
            y = np.round(y / step) * step
            x = np.round(x / step) * step
        if kind == "outlier":
            y[0] = center * 20
        # 6 significant digits, like a metrics backend's output; JSON round-trips them exactly
        x = np.array([float(f"{float(v):.6g}") for v in x])
        y = np.array([float(f"{float(v):.6g}") for v in y])
        cases.append((f"seed{i}-{kind}-{n1}x{n2}-shift{shift}-noise{noise}", x, y))
    # hand-made edge cases
    cases.append(("constant-sides-differ", np.full(20, 0.02), np.zeros(20)))
    cases.append(("one-side-constant", rng.normal(0.02, 0.005, 20), np.zeros(20)))
    cases.append(("identical", np.arange(1.0, 21.0), np.arange(1.0, 21.0)[::-1].copy()))
    cases.append(("single-values", np.array([2.0]), np.array([1.0])))
    cases.append(("tiny-exact", np.array([1.0, 2.0, 3.0]), np.array([4.0, 5.0, 6.0])))
    cases.append(("too-small-for-98", np.array([1.0, 2.0]), np.arange(3.0, 9.0)))
    # the example: a tight 4 % shift, 10 vs 10 untied
    base = np.array([100.0, 100.5, 99.6, 100.2, 99.9, 100.7, 99.4, 100.1, 99.8, 100.3])
    cases.append(("tight-4pct", base * 1.04 + 0.013, base))
    return cases


def p_cases(rng):
    out = []
    # one side of at most 8 values, the other large: SciPy's default counts exactly.
    for m in range(1, 9):
        for n in (33, 38, 45, 60, 80, 150):
            vals = rng.permutation(m + n).astype(float) + rng.random()
            out.append((f"small-{m}x{n}", vals[:m] + 0.0, vals[m:] + 0.0))
    # the example: 3 vs 38 at U = 12 (pairs with x > y: 2 + 4 + 6)
    y = np.arange(1.0, 39.0)
    x = np.array([2.5, 4.5, 6.5])
    out.append(("issue-3x38-U12", x, y))
    for (m, n) in ((21, 20), (30, 35), (45, 50), (60, 60), (10, 120)):
        vals = rng.permutation(m + n).astype(float) * 0.37 + 1.0
        out.append((f"both-large-{m}x{n}", vals[:m] + 3.1, vals[m:]))
    # ties: approximation
    for (m, n) in ((5, 40), (20, 20), (50, 50)):
        out.append((f"tied-{m}x{n}", np.round(rng.normal(3, 1, m)), np.round(rng.normal(3.5, 1, n))))
    return out


def kayenta_suite_check(path):
    """Recompute the R values printed in Kayenta's MannWhitneySuite with the port above."""
    text = open(path).read()
    results = []
    for test in ("Tie out with R Version\"", "Tie out with R Version (Large)\""):
        start = text.index(test)
        body = text[start : text.index("test(", start + 10) if "test(" in text[start + 10 :] else len(text)]
        arrays = {}
        for name in ("control", "experiment"):
            mt = re.search(r"val " + name + r" = Array\(([^)]*)\)", body)
            arrays[name] = np.array([float(v) for v in mt.group(1).replace("\n", " ").split(",")])
        conf = 0.98 if "confidenceLevel = 0.98" in body else 0.95
        want = {k: float(re.search(r"val " + k + r" = ([-0-9.E]+)", body).group(1)) for k in ("rCiLow", "rCiHigh", "rEst")}
        got = wilcox_conf_int(arrays["experiment"], arrays["control"], conf)
        results.append((test, conf, want, got))
        print(f"{test} conf={conf}: R {want}\n  port r_low={got['r_low']!r} r_high={got['r_high']!r} r_estimate={got['r_estimate']!r}"
              f"\n  exact roots low={got['low']!r} high={got['high']!r} HL={got['estimate']!r}")
        assert abs(got["r_low"] - want["rCiLow"]) < 1e-6 and abs(got["r_high"] - want["rCiHigh"]) < 1e-6, "port differs from R"
        assert abs(got["r_estimate"] - want["rEst"]) < 1e-4
    return results


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kayenta-suite")
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "..",
                                                   "crates", "shipcore", "tests", "data", "mann_whitney_reference.json"))
    args = ap.parse_args()
    if args.kayenta_suite:
        kayenta_suite_check(args.kayenta_suite)

    # R's documented example (?wilcox.test, Hollander & Wolfe p. 110): exact interval
    # [-0.76, 0.71], estimate 0.305 at 95 %.
    hw = wilcox_conf_int([0.80, 0.83, 1.89, 1.04, 1.45, 1.38, 1.91, 1.64, 0.73, 1.46], [1.15, 0.88, 0.90, 0.74, 1.21], 0.95)
    print("Hollander-Wolfe example:", hw)

    rng = np.random.default_rng(20261201)
    judge = []
    disagree = 0
    r_vs_exact = 0.0
    normal_vs_r = 0.0
    normal_verdict_r_differs = 0
    for name, x, y in judge_cases(rng):
        method, u, p = scipy_p(x, y)
        constant = len(set(x)) == 1 and len(set(y)) == 1
        ci = wilcox_conf_int(x, y, CONF) if not constant else None
        normal = wilcox_conf_int(x, y, CONF, exact=False) if not constant else None
        if constant:  # both sides constant: the limit of Kayenta's noise, the point x - y
            d = float(x[0] - y[0])
            ci = dict(method="asymptotic", r_low=d, r_high=d, r_estimate=d, low=d, high=d, estimate=d)
            normal = ci
        if ci["method"] == "exact":
            check_exact_interval(x, y, ci["low"], ci["high"], CONF)
        else:
            r_vs_exact = max(r_vs_exact, abs(ci["r_low"] - ci["low"]), abs(ci["r_high"] - ci["high"]))
        kv = kayenta_verdict(x, y, ci["low"], ci["high"], ci["estimate"])
        kv_r = kayenta_verdict(x, y, ci["r_low"], ci["r_high"], ci["r_estimate"])
        kn = kayenta_verdict(x, y, normal["low"], normal["high"], normal["estimate"])
        kn_r = kayenta_verdict(x, y, normal["r_low"], normal["r_high"], normal["r_estimate"])
        normal_vs_r = max(normal_vs_r, abs(normal["r_low"] - normal["low"]), abs(normal["r_high"] - normal["high"]))
        normal_verdict_r_differs += kn != kn_r
        sv = shift_verdict(x, y, p)
        disagree += kv != sv
        judge.append(dict(name=name, candidate=list(map(float, x)), stable=list(map(float, y)),
                          p_method=method, u=u, p=p, ci_method=ci["method"],
                          low=float(ci["low"]), high=float(ci["high"]), estimate=float(ci["estimate"]),
                          r_low=float(ci["r_low"]), r_high=float(ci["r_high"]), r_estimate=float(ci["r_estimate"]),
                          normal_low=float(normal["low"]), normal_high=float(normal["high"]),
                          normal_r_low=float(normal["r_low"]), normal_r_high=float(normal["r_high"]),
                          kayenta=kv, kayenta_with_r_roots=kv_r, kayenta_normal=kn,
                          significant_shift=sv))
    pv = []
    for name, x, y in p_cases(rng):
        method, u, p = scipy_p(x, y)
        pv.append(dict(name=name, x=list(map(float, x)), y=list(map(float, y)), method=method, u=u, p=p))
    out = dict(
        generator="scripts/reference/mann_whitney_reference.py",
        scipy=scipy.__version__, numpy=np.__version__, confidence=CONF, tolerance=TOL,
        judge=judge, p_values=pv,
    )
    with open(args.out, "w") as f:
        json.dump(out, f, indent=None, separators=(",", ":"))
        f.write("\n")
    kinds = {}
    for c in judge:
        kinds[(c["ci_method"], c["kayenta"])] = kinds.get((c["ci_method"], c["kayenta"]), 0) + 1
    print(f"{len(judge)} judge cases {kinds}; kayenta vs significant_shift disagree on {disagree}; "
          f"kayenta with R's roots differs on {sum(c['kayenta'] != c['kayenta_with_r_roots'] for c in judge)}; "
          f"max |R uniroot - exact root| = {r_vs_exact:.3g}; {len(pv)} p-value cases; "
          f"kayenta_normal differs from kayenta on {sum(c['kayenta'] != c['kayenta_normal'] for c in judge)}, "
          f"from itself with R's roots on {normal_verdict_r_differs} (max root gap {normal_vs_r:.3g})")


if __name__ == "__main__":
    sys.exit(main())
