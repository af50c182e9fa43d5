//! Figures for the Compose driver under the real engine, repeated and summarised by their
//! medians: a rolling update v1 → v2 x3 against a naive `compose up -d` recreate (failed
//! requests, durations and their ratio), and a bad canary (10% errors, +300 ms) judged by a
//! real Prometheus (blast radius, the naive deploy's failures for the same exposure, time
//! to detect, time to finish the rollback). Every run prints its own line too.
//!
//!     SHIPCORE_E2E=1 SHIPCORE_BENCH_RUNS=3 cargo bench -p shipcore-driver-compose --bench rollout_figures
//!
//! Needs what the e2e tests need (scripts/ci/e2e-compose.sh installs and starts it all);
//! without SHIPCORE_E2E=1 it says so and exits. `SHIPCORE_BENCH_RUNS` defaults to 3.
#![allow(clippy::unwrap_used)]

#[path = "../tests/support/mod.rs"]
mod support;

use std::time::Duration;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n == 0 {
        f64::NAN
    } else if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let Some(env) = support::env("the rollout_figures bench").await else {
        return;
    };
    let runs: usize = std::env::var("SHIPCORE_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|n| *n > 0)
        .unwrap_or(3);
    let images = support::images(&env);
    let mut rolling = Vec::new();
    for i in 1..=runs {
        let f = support::scenario::rolling_vs_naive(&env, &images).await;
        println!(
            "run {i}/{runs} rolling: engine {} failed of {} in {:.1} s | naive {} failed of {} in {:.1} s (up -d {:.1} s)",
            f.engine.failed,
            f.engine.total(),
            secs(f.duration),
            f.naive.tally.failed,
            f.naive.tally.total(),
            secs(f.naive.to_new),
            secs(f.naive.up)
        );
        rolling.push(f);
    }
    let mut canary = Vec::new();
    for i in 1..=runs {
        let f = support::scenario::bad_canary(&env, &images).await;
        println!(
            "run {i}/{runs} bad canary: blast {} failed of {} | naive {} failed of {} | detect {:.1} s | rollback {:.1} s | exposed {:.1} s",
            f.tally.failed,
            f.tally.total(),
            f.naive.tally.failed,
            f.naive.tally.total(),
            secs(f.detect),
            secs(f.rollback),
            secs(f.exposure)
        );
        canary.push(f);
    }
    let m = |f: &dyn Fn(&support::scenario::RollingFigures) -> f64| {
        median(rolling.iter().map(f).collect())
    };
    let c = |f: &dyn Fn(&support::scenario::CanaryFigures) -> f64| {
        median(canary.iter().map(f).collect())
    };
    println!("\nMEDIANS over {runs} run(s) ({} image)", images.app);
    println!(
        "rolling v1->v2 x3 (engine): failed {} | duration {:.1} s",
        m(&|f| f.engine.failed as f64),
        m(&|f| secs(f.duration))
    );
    println!(
        "naive compose up -d recreate: failed {} | duration {:.1} s (up -d to first v2 answer)",
        m(&|f| f.naive.tally.failed as f64),
        m(&|f| secs(f.naive.to_new))
    );
    println!(
        "duration ratio engine/naive: {:.1}x",
        m(&|f| secs(f.duration) / secs(f.naive.to_new))
    );
    println!(
        "bad canary (engine): blast radius {} failed | detect {:.1} s | rollback {:.1} s | exposed {:.1} s",
        c(&|f| f.tally.failed as f64),
        c(&|f| secs(f.detect)),
        c(&|f| secs(f.rollback)),
        c(&|f| secs(f.exposure))
    );
    println!(
        "naive deploy of the bad v2 (same exposure): failed {}",
        c(&|f| f.naive.tally.failed as f64)
    );
}
