//! The real engine canaries a bad v2 (10% errors, +300 ms) 10% → 50% → 100% on Podman +
//! Compose v2 behind HAProxy, judged by a real Prometheus (1 s scrape, targets from the
//! driver's instances via file_sd) through metrics-prom's PrometheusSource and shipcore's
//! metric thresholds: it must roll back by itself, leaving v1 x3 with all the traffic.
//! Printed: the blast radius, the naive deploy of the same bad version for the same time,
//! the time to detect and the time to finish the rollback.
//!
//! Runs only with SHIPCORE_E2E=1 (fails loudly if a part is missing); skipped otherwise.
#![allow(clippy::unwrap_used)]

mod support;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn engine_rolls_back_a_bad_canary_judged_by_real_prometheus() {
    let Some(env) = support::env("engine_rolls_back_a_bad_canary_judged_by_real_prometheus").await
    else {
        return;
    };
    let images = support::images(&env);
    let f = support::scenario::bad_canary(&env, &images).await;
    eprintln!("rollback reason: {}", f.reason);
    eprintln!(
        "FIGURES bad canary through the engine: blast radius {} failed of {} requests ({} answered by v2); detect {:.1} s (v2's first answer to the failing verdict); rollback {:.1} s (verdict to rolled back); v2 exposed {:.1} s; failures {:?}",
        f.tally.failed,
        f.tally.total(),
        f.tally.version("2.0.0"),
        f.detect.as_secs_f64(),
        f.rollback.as_secs_f64(),
        f.exposure.as_secs_f64(),
        f.tally.failures
    );
    eprintln!(
        "FIGURES naive compose up -d of the same bad v2, observed {:.1} s after its first answer: {} failed of {} requests; failures {:?}",
        f.exposure.as_secs_f64(),
        f.naive.tally.failed,
        f.naive.tally.total(),
        f.naive.tally.failures
    );
    assert!(
        f.reason.contains("error-rate") || f.reason.contains("latency-p95"),
        "the rollback must come from the metric analysis: {}",
        f.reason
    );
    assert!(f.naive.tally.total() > 100, "{:?}", f.naive.tally);
}
