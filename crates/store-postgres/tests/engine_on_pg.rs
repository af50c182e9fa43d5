//! The engine with its journal in PostgreSQL: a one-hour canary on the simulator runs to
//! the end journaled in a PgJournal, its record goes to the PostgreSQL history, and
//! another engine that claims the run after it resumes it from the journal to the same end.
#![allow(clippy::unwrap_used)]

mod common;

use common::rollout::*;
use common::*;
use shipcore::engine::Phase;
use shipcore::journal::Journal;
use shipcore::record::{DeploymentRecord, DeploymentStatus, RecordMeta};
use std::sync::Arc;
use std::time::Duration;

const LONG: Duration = Duration::from_secs(60);

#[tokio::test]
async fn a_canary_journaled_in_postgres_runs_and_resumes_elsewhere_to_the_same_end() {
    let Some(url) = pg_url("engine_on_pg") else {
        return;
    };
    let (store, schema) = fresh_store(&url, "engine").await;
    let q = store.queue();
    let s = spec("web-2");
    q.enqueue(&s.id, &serde_json::to_value(&s).unwrap())
        .await
        .unwrap();
    let claimed = q.claim("engine-a", 1, LONG).await.unwrap();
    let spec_back: shipcore::engine::RolloutSpec =
        serde_json::from_value(claimed[0].spec.clone()).unwrap();
    assert_eq!(spec_back.id, "web-2");
    let lease = claimed[0].lease.clone();
    let journal = Arc::new(store.journal(&lease).await.unwrap());

    let (world, engine) = world_and_engine(7);
    let _ = &world;
    let report = engine
        .start(spec_back, journal.clone())
        .unwrap()
        .finished()
        .await
        .unwrap();
    assert_eq!(report.status.phase, Phase::Succeeded, "{:?}", report.status);
    let entries = journal.read_all().await.unwrap();
    assert!(
        entries.len() > 50,
        "an hour of canary journals many inputs: {}",
        entries.len()
    );
    assert!(q.finish(&lease, "succeeded").await.unwrap());

    // The record, from the PostgreSQL journal, into the PostgreSQL history.
    let record = DeploymentRecord::from_journal(journal.as_ref(), &RecordMeta::new("ci"))
        .await
        .unwrap();
    assert_eq!(record.status, DeploymentStatus::Success);
    let history = store.records();
    history.save(&record).await.unwrap();
    assert_eq!(history.load("web-2").await.unwrap(), record);

    // Another engine resumes the same journal (as after a takeover): nothing is redone.
    let fleet_before = world.driver.fleet(&web());
    world.driver.record_actions(true);
    let later = store.queue();
    q.enqueue("web-3", &serde_json::json!({})).await.unwrap();
    let other = later.claim("engine-b", 1, LONG).await.unwrap();
    assert_eq!(
        other[0].lease.run, "web-3",
        "a done run is not claimed again"
    );
    let engine_b = engine_on(&world);
    let resumed = engine_b
        .resume(journal.clone())
        .unwrap()
        .finished()
        .await
        .unwrap();
    assert_eq!(resumed.status.phase, Phase::Succeeded);
    assert_eq!(world.driver.fleet(&web()), fleet_before);
    assert!(
        world.driver.applied().is_empty(),
        "resuming a finished rollout changes nothing: {:?}",
        world.driver.applied()
    );
    drop_schema(&url, &schema).await;
}
