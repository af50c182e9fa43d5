//! Mann–Whitney U against known values. Provenance: every expected value below was computed
//! with SciPy 1.17.1, `scipy.stats.mannwhitneyu(x, y, method=...)` (two-sided, continuity
//! correction on), except where noted. The reference file `tests/data/mann_whitney_reference.json`
//! is written by `scripts/reference/mann_whitney_reference.py` (SciPy p-values, and R's
//! `wilcox.test(conf.int = TRUE)` algorithm re-implemented there and checked against the R
//! values printed in Kayenta's MannWhitneySuite).

use super::{
    exact_is_tractable, mann_whitney_u, normal_isf, normal_sf, shift_confidence_interval,
    shift_confidence_interval_normal, MwMethod,
};
use serde_json::Value;

fn reference() -> Value {
    let text = include_str!("../../tests/data/mann_whitney_reference.json");
    serde_json::from_str(text).unwrap()
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

fn method(v: &Value) -> MwMethod {
    match v.as_str().unwrap() {
        "exact" => MwMethod::Exact,
        "asymptotic" => MwMethod::Asymptotic,
        other => panic!("unknown method {other}"),
    }
}

fn close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol * b.abs().max(1e-300)
}

#[test]
fn scipy_docs_example_exact() {
    // SciPy docs example (males vs females): method="exact" -> U=17, p=0.1111111111111111.
    let r = mann_whitney_u(&[19., 22., 16., 29., 24.], &[20., 11., 17., 12.]).unwrap();
    assert_eq!(r.method, MwMethod::Exact);
    assert_eq!((r.u_x, r.u_y), (17.0, 3.0));
    assert!(
        close(r.p_value, 0.111_111_111_111_111_1, 1e-12),
        "{}",
        r.p_value
    );
    // Swapping the samples swaps U and keeps p.
    let s = mann_whitney_u(&[20., 11., 17., 12.], &[19., 22., 16., 29., 24.]).unwrap();
    assert_eq!(s.u_x, 3.0);
    assert_eq!(s.p_value, r.p_value);
    assert!(r.shift > 0.0 && s.shift < 0.0);
}

#[test]
fn exact_small_samples() {
    // By hand: x entirely below y, 3 vs 3: P(U=0) = 1/C(6,3) = 1/20, two-sided p = 0.1.
    let r = mann_whitney_u(&[1., 2., 3.], &[4., 5., 6.]).unwrap();
    assert_eq!(r.u_x, 0.0);
    assert!(close(r.p_value, 0.1, 1e-12));
    assert_eq!(r.shift, -3.0);
    // SciPy: x=[1.1,2.3,0.7,3.4,2.2,1.9,2.8], y=[3.1,4.2,2.9,3.8,5.1,4.4,3.3,2.5],
    // method="exact" -> U=5, p=0.005905205905205905.
    let r = mann_whitney_u(
        &[1.1, 2.3, 0.7, 3.4, 2.2, 1.9, 2.8],
        &[3.1, 4.2, 2.9, 3.8, 5.1, 4.4, 3.3, 2.5],
    )
    .unwrap();
    assert_eq!(r.u_x, 5.0);
    assert!(
        close(r.p_value, 0.005_905_205_905_205_905, 1e-10),
        "{}",
        r.p_value
    );
    // SciPy: a=1..20, b=a+7.5: method="exact" -> U=78, p=0.0006675619675571311.
    let a: Vec<f64> = (1..=20).map(f64::from).collect();
    let b: Vec<f64> = a.iter().map(|v| v + 7.5).collect();
    let r = mann_whitney_u(&a, &b).unwrap();
    assert_eq!(r.method, MwMethod::Exact);
    assert_eq!(r.u_x, 78.0);
    assert!(
        close(r.p_value, 0.000_667_561_967_557_131_1, 1e-9),
        "{}",
        r.p_value
    );
}

#[test]
fn normal_approximation_with_ties() {
    // ClickHouse test 01560_mann_whitney.sql (and SciPy): 20 vs 20 with ties ->
    // U=223, p=0.5426959774289482.
    let left = [
        310., 195., 530., 155., 530., 245., 385., 450., 465., 545., 170., 180., 125., 180., 230.,
        75., 430., 480., 495., 295.,
    ];
    let right = [
        116., 171., 176., 421., 111., 326., 481., 111., 346., 441., 261., 411., 206., 521., 456.,
        446., 296., 51., 426., 261.,
    ];
    let r = mann_whitney_u(&left, &right).unwrap();
    assert_eq!(r.method, MwMethod::Asymptotic);
    assert_eq!((r.u_x, r.u_y), (223.0, 177.0));
    assert!(
        close(r.p_value, 0.542_695_977_428_948_2, 1e-10),
        "{}",
        r.p_value
    );
    // SciPy: error rates, canary d vs baseline c (10 vs 10, ties) -> U=100,
    // p=0.00017861448837368162.
    let c = [
        0.01, 0.012, 0.011, 0.013, 0.01, 0.012, 0.011, 0.0105, 0.0115, 0.0125,
    ];
    let d = [
        0.05, 0.052, 0.049, 0.051, 0.055, 0.048, 0.05, 0.053, 0.047, 0.054,
    ];
    let r = mann_whitney_u(&d, &c).unwrap();
    assert_eq!(r.u_x, 100.0);
    assert!(
        close(r.p_value, 0.000_178_614_488_373_681_62, 1e-9),
        "{}",
        r.p_value
    );
}

#[test]
fn big_samples_use_the_approximation() {
    // SciPy: x = [(i*7) % 23 for i in range(30)], y = [(i*5) % 29 + 3.5 for i in range(25)]
    // (ties inside x), method="asymptotic" -> U=230, p=0.014573639621813936.
    let x: Vec<f64> = (0..30).map(|i| f64::from(i * 7 % 23)).collect();
    let y: Vec<f64> = (0..25).map(|i| f64::from(i * 5 % 29) + 3.5).collect();
    let r = mann_whitney_u(&x, &y).unwrap();
    assert_eq!(r.method, MwMethod::Asymptotic);
    assert_eq!(r.u_x, 230.0);
    assert!(
        close(r.p_value, 0.014_573_639_621_813_936, 1e-10),
        "{}",
        r.p_value
    );
    // SciPy: 21 vs 20 without ties (41 values) is still counted exactly, method="exact" ->
    // U=204, p=0.8871837339543296 (the approximation said 0.8859338919440062).
    let x: Vec<f64> = (0..21).map(|i| f64::from(i * 7 % 23)).collect();
    let y: Vec<f64> = (0..20).map(|i| f64::from(i * 5 % 23) + 0.5).collect();
    let r = mann_whitney_u(&x, &y).unwrap();
    assert_eq!(r.method, MwMethod::Exact);
    assert_eq!(r.u_x, 204.0);
    assert!(
        close(r.p_value, 0.887_183_733_954_329_6, 1e-12),
        "{}",
        r.p_value
    );
    // Past the tractable size the approximation is used: 100 vs 100 untied.
    let x: Vec<f64> = (0..100).map(|i| f64::from(i) * 2.0).collect();
    let y: Vec<f64> = (0..100).map(|i| f64::from(i) * 2.0 + 1.0).collect();
    assert!(!exact_is_tractable(100, 100));
    assert_eq!(mann_whitney_u(&x, &y).unwrap().method, MwMethod::Asymptotic);
}

#[test]
fn small_side_against_many_values_is_counted_exactly() {
    // Issue 10 item 8: 3 vs 38 untied values at U = 12. SciPy's default (method="auto")
    // counts exactly: p = 0.019136960600375234; the normal approximation said 0.0259, a
    // verdict flip at alpha = 0.02.
    let x = [2.5, 4.5, 6.5];
    let y: Vec<f64> = (1..=38).map(f64::from).collect();
    let r = mann_whitney_u(&x, &y).unwrap();
    assert_eq!(r.u_x, 12.0);
    assert_eq!(r.method, MwMethod::Exact);
    assert!(
        close(r.p_value, 0.019_136_960_600_375_234, 1e-12),
        "{}",
        r.p_value
    );
    assert!(r.p_value < 0.02);
}

#[test]
fn p_values_match_the_scipy_reference() {
    let reference = reference();
    let mut cases = 0;
    for c in reference["p_values"].as_array().unwrap() {
        let (x, y) = (floats(&c["x"]), floats(&c["y"]));
        let r = mann_whitney_u(&x, &y).unwrap();
        let name = c["name"].as_str().unwrap();
        assert_eq!(r.method, method(&c["method"]), "{name}");
        assert_eq!(r.u_x, c["u"].as_f64().unwrap(), "{name}");
        let want = c["p"].as_f64().unwrap();
        assert!(
            close(r.p_value, want, 1e-11),
            "{name}: {} vs {want}",
            r.p_value
        );
        cases += 1;
    }
    for c in reference["judge"].as_array().unwrap() {
        let (x, y) = (floats(&c["candidate"]), floats(&c["stable"]));
        let r = mann_whitney_u(&x, &y).unwrap();
        let name = c["name"].as_str().unwrap();
        assert_eq!(r.method, method(&c["p_method"]), "{name}");
        assert_eq!(r.u_x, c["u"].as_f64().unwrap(), "{name}");
        let want = c["p"].as_f64().unwrap();
        assert!(
            close(r.p_value, want, 1e-11),
            "{name}: {} vs {want}",
            r.p_value
        );
        cases += 1;
    }
    assert_eq!(cases, 57 + 307);
}

#[test]
fn shift_intervals_match_the_r_algorithm() {
    let reference = reference();
    let confidence = reference["confidence"].as_f64().unwrap();
    let (mut exact, mut approx) = (0, 0);
    for c in reference["judge"].as_array().unwrap() {
        let (x, y) = (floats(&c["candidate"]), floats(&c["stable"]));
        let name = c["name"].as_str().unwrap();
        let ci = shift_confidence_interval(&x, &y, confidence).unwrap();
        let get = |k: &str| c[k].as_f64().unwrap();
        assert_eq!(ci.method, method(&c["ci_method"]), "{name}");
        let scale = get("high").abs().max(get("low").abs()).max(1e-300);
        for (got, want, r) in [
            (ci.low, get("low"), get("r_low")),
            (ci.high, get("high"), get("r_high")),
        ] {
            // The root itself, exactly (it is one of the pairwise differences) ...
            assert!(
                (got - want).abs() <= 1e-12 * scale,
                "{name}: {got} vs {want}"
            );
            // ... and within R's uniroot tolerance (tol.root = 1e-4) of R's answer.
            assert!((got - r).abs() <= 1e-4, "{name}: {got} vs R {r}");
        }
        assert!(
            (ci.estimate - get("estimate")).abs() <= 1e-12 * scale,
            "{name}: {} vs {}",
            ci.estimate,
            get("estimate")
        );
        match ci.method {
            MwMethod::Exact => exact += 1,
            MwMethod::Asymptotic => approx += 1,
        }
    }
    assert!(
        exact > 100 && approx > 100,
        "{exact} exact, {approx} approximate"
    );
}

#[test]
fn normal_approximation_intervals_match_kayentas_port() {
    // R's exact = FALSE on every pair: what Kayenta's MannWhitney.scala computes.
    let reference = reference();
    let confidence = reference["confidence"].as_f64().unwrap();
    for c in reference["judge"].as_array().unwrap() {
        let (x, y) = (floats(&c["candidate"]), floats(&c["stable"]));
        let name = c["name"].as_str().unwrap();
        let ci = shift_confidence_interval_normal(&x, &y, confidence).unwrap();
        assert_eq!(ci.method, MwMethod::Asymptotic, "{name}");
        let get = |k: &str| c[k].as_f64().unwrap();
        let scale = get("normal_high")
            .abs()
            .max(get("normal_low").abs())
            .max(1e-300);
        for (got, want, r) in [
            (ci.low, get("normal_low"), get("normal_r_low")),
            (ci.high, get("normal_high"), get("normal_r_high")),
        ] {
            assert!(
                (got - want).abs() <= 1e-12 * scale,
                "{name}: {got} vs {want}"
            );
            assert!((got - r).abs() <= 1e-4, "{name}: {got} vs R {r}");
        }
    }
}

#[test]
fn shift_interval_hand_checks() {
    // 1,2,3 vs 4,5,6: qwilcox(0.01, 3, 3) = 0 -> 1, so the interval spans all differences
    // (R warns that 98 % is not achievable and returns it anyway).
    let ci = shift_confidence_interval(&[1., 2., 3.], &[4., 5., 6.], 0.98).unwrap();
    assert_eq!((ci.low, ci.high, ci.estimate), (-5.0, -1.0, -3.0));
    // Both sides constant: R stops; Kayenta adds vanishing noise; the limit is the point.
    let ci = shift_confidence_interval(&[0.02; 20], &[0.0; 20], 0.98).unwrap();
    assert_eq!((ci.low, ci.high, ci.estimate), (0.02, 0.02, 0.02));
    assert!(shift_confidence_interval(&[], &[1.0], 0.98).is_none());
    assert!(shift_confidence_interval(&[1.0], &[f64::NAN], 0.98).is_none());
    assert!(shift_confidence_interval(&[1.0], &[2.0], 1.0).is_none());
}

#[test]
fn degenerate_inputs() {
    assert!(mann_whitney_u(&[], &[1.0]).is_none());
    assert!(mann_whitney_u(&[f64::NAN], &[1.0]).is_none());
    assert!(mann_whitney_u(&[1.0, f64::INFINITY], &[1.0]).is_none());
    // All tied: no evidence of a difference.
    let r = mann_whitney_u(&[2.0; 5], &[2.0; 7]).unwrap();
    assert_eq!(r.p_value, 1.0);
    assert_eq!(r.shift, 0.0);
}

#[test]
fn normal_tail() {
    // SciPy: norm.sf(1.959963984540054) = 0.025; norm.sf(0) = 0.5; norm.sf(-1) = 0.8413447460685429.
    assert!(close(normal_sf(1.959_963_984_540_054), 0.025, 1e-12));
    assert_eq!(normal_sf(0.0), 0.5);
    assert!(close(normal_sf(-1.0), 0.841_344_746_068_542_9, 1e-14));
    // SciPy: norm.isf(0.01) = 2.3263478740408408, norm.isf(0.025) = 1.9599639845400545,
    // norm.isf(1e-10) = 6.361340902404056.
    assert!(close(normal_isf(0.01), 2.326_347_874_040_840_8, 1e-12));
    assert!(close(normal_isf(0.025), 1.959_963_984_540_054_5, 1e-12));
    assert!(close(normal_isf(1e-10), 6.361_340_902_404_056, 1e-11));
    assert!(close(normal_isf(0.99), -2.326_347_874_040_840_8, 1e-12));
}
