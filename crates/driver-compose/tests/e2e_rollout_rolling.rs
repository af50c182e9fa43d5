//! The real engine rolls `web` from v1 to v2 (3 replicas, surge 1, unavailable 0) on
//! Podman + Compose v2 behind HAProxy, under steady load on 127.0.0.1: no request may fail.
//! The same change made the naive way (`docker compose up -d` recreating the container)
//! under the same load is measured beside it; both figures are printed.
//!
//! Runs only with SHIPCORE_E2E=1 (fails loudly if a part is missing); skipped otherwise.
#![allow(clippy::unwrap_used)]

mod support;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn engine_rolling_update_drops_nothing_where_naive_recreate_does() {
    let Some(env) =
        support::env("engine_rolling_update_drops_nothing_where_naive_recreate_does").await
    else {
        return;
    };
    let images = support::images(&env);
    let f = support::scenario::rolling_vs_naive(&env, &images).await;
    eprintln!(
        "FIGURES rolling v1->v2 x3 through the engine: {} requests, {} failed, {:.1} s (start to succeeded); failures {:?}",
        f.engine.total(),
        f.engine.failed,
        f.duration.as_secs_f64(),
        f.engine.failures
    );
    eprintln!(
        "FIGURES naive compose up -d recreate:         {} requests, {} failed, {:.1} s (up -d to first v2 answer; up -d itself {:.1} s); failures {:?}",
        f.naive.tally.total(),
        f.naive.tally.failed,
        f.naive.to_new.as_secs_f64(),
        f.naive.up.as_secs_f64(),
        f.naive.tally.failures
    );
    assert!(
        f.engine.total() > 1000,
        "the load hardly ran: {:?}",
        f.engine
    );
    assert_eq!(
        f.engine.failed, 0,
        "requests failed during the rolling update: {:?}",
        f.engine
    );
    assert!(
        f.naive.tally.total() > 100,
        "the naive measurement sent too few requests: {:?}",
        f.naive.tally
    );
}
