//! The real engine runs a blue-green update of `web` on Podman + Compose v2 behind HAProxy,
//! under steady load: v2 x3 comes up beside v1 with no production traffic, each preview
//! container's /health is checked through its own loopback port (PreviewHealth: healthy,
//! version 2.0.0), traffic switches at once, and v1 is retired only after the scale-down
//! delay. No request may fail, v2 may answer nothing before the switch, v1 must be gone.
//!
//! Runs only with SHIPCORE_E2E=1 (fails loudly if a part is missing); skipped otherwise.
#![allow(clippy::unwrap_used)]

mod support;

use shipcore::engine::{EventKind, Phase};
use shipcore::model::{Action, AnalysisPolicy, AnalysisStep};
use shipcore::strategy::{BlueGreen, StrategyConfig};
use std::time::{Duration, Instant};
use support::engine::{self, rev};
use support::scenario::{only, Stack};

const SCALE_DOWN_DELAY: Duration = Duration::from_secs(5);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn engine_blue_green_switches_after_a_checked_preview_without_failed_requests() {
    let Some(env) =
        support::env("engine_blue_green_switches_after_a_checked_preview_without_failed_requests")
            .await
    else {
        return;
    };
    let images = support::images(&env);
    let stack = Stack::new(&env, &images, "bluegreen").await;
    let v1 = rev("v1", "1.0.0", &images.v1);
    let v2 = rev("v2", "2.0.0", &images.v2);
    stack.seed(&v1, 3).await;
    let strategy = StrategyConfig::BlueGreen(BlueGreen {
        preview_replicas: None,
        auto_promotion_after: Some(Duration::from_secs(1)),
        pre_promotion_analysis: Some(AnalysisStep {
            validators: vec!["preview-health".into()],
            policy: AnalysisPolicy {
                interval: Duration::from_secs(1),
                count: Some(3),
                ..Default::default()
            },
        }),
        post_promotion_analysis: None,
        scale_down_delay: SCALE_DOWN_DELAY,
    });
    let spec = engine::spec(
        "bluegreen-e2e",
        &*stack.driver,
        &stack.target,
        Some(v1),
        v2,
        3,
        &strategy,
    );
    let load = support::standard_load(stack.proxy.addr());
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (builder, timeline) =
        engine::runner(stack.driver.clone(), &stack.journal("bluegreen"), stack.t0);
    let mut runner = builder.validator(stack.preview_health()).build();
    let started = Instant::now();
    let report = runner.start(spec).await.unwrap();
    let duration = started.elapsed();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let tally = load.finish();
    assert_eq!(report.status.phase, Phase::Succeeded, "{:?}", report.status);

    // The preview was checked, per container, before the switch.
    let events = timeline.events();
    let preview_passes = events
        .iter()
        .filter(|e| {
            matches!(&e.kind, EventKind::Measured { results, .. }
                if format!("{results:?}").contains("3 container(s) of v2 healthy at version 2.0.0"))
        })
        .count();
    assert_eq!(preview_passes, 3, "three preview checks of v2 x3");
    // v2 answered nothing before the switch; v1 went only after the delay.
    let is_route_all_v2 = |k: &EventKind| {
        matches!(k, EventKind::ActionRequested { action, .. }
            if matches!(&**action, Action::Route { weights }
                if weights.0.iter().any(|(r, w)| r.as_str() == "v2" && *w == 100)))
    };
    let switched = timeline.first(is_route_all_v2).unwrap();
    let first_v2 = tally.first_at["2.0.0"];
    assert!(
        first_v2 + Duration::from_millis(600) >= switched,
        "v2 served production traffic {:?} before the switch",
        switched - first_v2
    );
    let retired = timeline
        .first(|k| {
            matches!(k, EventKind::ActionRequested { action, .. }
                if matches!(&**action, Action::Retire { revision } if revision.as_str() == "v1"))
        })
        .unwrap();
    let kept = retired - switched;
    assert!(
        kept >= SCALE_DOWN_DELAY,
        "v1 retired {kept:?} after the switch"
    );
    assert_eq!(stack.containers(), only("v2", 3), "v1 containers left");
    stack.wait_servers_up(3).await;

    eprintln!(
        "FIGURES blue-green v1->v2 x3 through the engine: {} requests, {} failed, v1 {} / v2 {}; {:.1} s start to succeeded; v1 kept {:.1} s after the switch; failures {:?}",
        tally.total(),
        tally.failed,
        tally.version("1.0.0"),
        tally.version("2.0.0"),
        duration.as_secs_f64(),
        kept.as_secs_f64(),
        tally.failures
    );
    assert!(tally.total() > 1000, "the load hardly ran: {tally:?}");
    assert_eq!(tally.failed, 0, "requests failed: {tally:?}");
}
