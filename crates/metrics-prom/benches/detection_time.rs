//! Benchmark: time from a canary starting to fail to a failing verdict, with a real
//! Prometheus scraping every 1 s and an analysis every 5 s (target: at most one analysis
//! interval plus one scrape interval, 6 s).
//!
//! Each run starts a good v1 and a v2 that turns bad (10% errors, +300 ms) `--faults-after-s`
//! seconds after it starts; the onset is shifted by a fifth of the analysis interval per run,
//! so the runs cover every phase between failure and analysis tick. The analysis (ticks every
//! 5 s from v2's start) runs shipcore's MetricThreshold validators through PrometheusSource:
//! error rate > 5% and p95 > 250 ms over a 10 s window. Prints every run and the median.
//!
//!     SHIPCORE_E2E=1 cargo bench -p metrics-prom --bench detection_time
//!
//! `SHIPCORE_BENCH_RUNS` sets the number of runs (default 5). Without SHIPCORE_E2E=1 it
//! only says that it skipped. A failing verdict before the onset counts as a false alarm and
//! makes the program exit with status 1, as does a run with no failing verdict.
#![allow(clippy::unwrap_used)]

#[path = "../tests/support/mod.rs"]
mod support;

use metrics_prom::{PrometheusConfig, PrometheusSource, StandardQueries};
use shipcore::metrics::MetricsSource;
use shipcore::model::{Revision, Target};
use shipcore::time::Timestamp;
use shipcore::validator::ThresholdConfig;
use shipcore::validator::{Outcome, ValidationContext, Validator};
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::{Demo, Load, Prometheus};

const ANALYSIS_INTERVAL: Duration = Duration::from_secs(5);
const SCRAPE_INTERVAL: Duration = Duration::from_secs(1);

/// One run's result: detection time, or why there is none.
async fn one_run(bin: &std::path::PathBuf, faults_after: f64) -> Result<Duration, String> {
    let v1 = Demo::start(bin, &["--version", "1.0.0"]);
    let fa = format!("{faults_after}");
    let v2 = Demo::start(
        bin,
        &[
            "--version",
            "2.0.0",
            "--error-rate",
            "0.1",
            "--latency-ms",
            "300",
            "--faults-after-s",
            &fa,
        ],
    );
    let onset = v2.started + Duration::from_secs_f64(faults_after);
    let _prom_guard;
    let src = {
        let prom = Prometheus::start(&[
            support::Target {
                addr: v1.addr.clone(),
                revision: "web-v1".into(),
            },
            support::Target {
                addr: v2.addr.clone(),
                revision: "web-v2".into(),
            },
        ]);
        let s = PrometheusSource::new(
            PrometheusConfig::new(&prom.url)
                .timeout(Duration::from_secs(2))
                .retries(1, Duration::from_millis(100), Duration::from_millis(100)),
        )
        .unwrap();
        _prom_guard = prom;
        s
    };
    let _load = Load::start(
        vec![v1.url(), v2.url()],
        20,
        Duration::from_secs_f64(faults_after + 40.0),
    );
    let source: Arc<dyn MetricsSource> = Arc::new(src);
    let q = StandardQueries::default().with_window(Duration::from_secs(10));
    let errors = ThresholdConfig::above("error-rate", q.error_rate(), 0.05)
        .build(source.clone())
        .unwrap();
    let p95 = ThresholdConfig::above("latency-p95", q.latency_p95(), 0.25)
        .build(source)
        .unwrap();
    let stable = Revision::new("web-v1", "1.0.0".parse().unwrap(), "demo");
    let canary = Revision::new("web-v2", "2.0.0".parse().unwrap(), "demo");
    let target = Target::new("web", "bench");
    let deadline = onset + Duration::from_secs(30);
    let mut k = 1u32;
    loop {
        let tick = v2.started + ANALYSIS_INTERVAL * k;
        k += 1;
        if tick > deadline {
            return Err("no failing verdict within 30 s of the onset".into());
        }
        tokio::time::sleep_until(tick.into()).await;
        let ctx = ValidationContext::new(
            "bench",
            &target,
            &canary,
            Some(&stable),
            Timestamp::now_utc(),
        );
        let mut failed = vec![];
        for v in [&errors, &p95] {
            match v.validate(&ctx).await {
                Ok(verdict) if verdict.outcome == Outcome::Fail => failed.push(verdict.message),
                Ok(_) => {}
                Err(e) => return Err(format!("validator error: {e}")),
            }
        }
        if !failed.is_empty() {
            let now = Instant::now();
            if now < onset {
                return Err(format!(
                    "false alarm {:?} before the onset: {failed:?}",
                    onset - now
                ));
            }
            let took = now - onset;
            println!(
                "    failing verdict {:.2} s after onset: {}",
                took.as_secs_f64(),
                failed.join("; ")
            );
            return Ok(took);
        }
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    if !support::e2e_or_skip("detection_time") {
        return;
    }
    let runs: usize = std::env::var("SHIPCORE_BENCH_RUNS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5)
        .clamp(1, 50);
    let _ = support::prometheus_bin();
    let bin = support::demo_bin();
    println!(
        "detection time: scrape {} s, analysis every {} s, {runs} runs",
        SCRAPE_INTERVAL.as_secs(),
        ANALYSIS_INTERVAL.as_secs()
    );
    let mut times = vec![];
    let mut problems = vec![];
    for i in 0..runs {
        let faults_after = 8.0 + ANALYSIS_INTERVAL.as_secs_f64() * i as f64 / runs as f64;
        println!(
            "run {}: v2 turns bad {faults_after:.1} s after start",
            i + 1
        );
        match one_run(&bin, faults_after).await {
            Ok(t) => times.push(t.as_secs_f64()),
            Err(e) => {
                println!("    {e}");
                problems.push(e);
            }
        }
    }
    times.sort_by(f64::total_cmp);
    if !times.is_empty() {
        let median = if times.len() % 2 == 1 {
            times[times.len() / 2]
        } else {
            (times[times.len() / 2 - 1] + times[times.len() / 2]) / 2.0
        };
        let target = (ANALYSIS_INTERVAL + SCRAPE_INTERVAL).as_secs_f64();
        println!(
            "median {median:.2} s, min {:.2} s, max {:.2} s over {} runs (target <= {target} s: {})",
            times[0],
            times[times.len() - 1],
            times.len(),
            if median <= target { "met" } else { "MISSED" }
        );
    }
    if !problems.is_empty() {
        eprintln!("{} run(s) without a clean detection", problems.len());
        std::process::exit(1);
    }
}
