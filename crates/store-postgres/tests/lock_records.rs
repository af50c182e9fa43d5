//! PgLock and PgRecordStore on a real PostgreSQL: two engines racing from many tasks never
//! both hold a target; expiry, refresh only by the holder, release by
//! another refused; the history's save, load, list and previous
//! successful deployment.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use shipcore::gate::{LockError, LockKey, LockOutcome, Refresh, RolloutLock};
use shipcore::record::{DeploymentRecord, DeploymentStatus, RecordMeta};
use shipcore::time::Timestamp;
use shipcore_store_postgres::{ErrorKind, PgStore};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

fn key(s: &str) -> LockKey {
    LockKey {
        service: s.into(),
        environment: "production".into(),
    }
}

/// Two engines (two stores, two connections, two lock objects), twelve rollouts racing
/// for one target: at no moment do two of them hold it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_no_moment_do_two_lock_objects_hold_the_same_target() {
    let Some(url) = pg_url("lock_exclusive") else {
        return;
    };
    let (store_a, schema) = fresh_store(&url, "lockexcl").await;
    let store_b = PgStore::connect(&url, &schema).await.unwrap();
    let a: Arc<dyn RolloutLock> = Arc::new(store_a.lock(Duration::from_secs(30)));
    let b: Arc<dyn RolloutLock> = Arc::new(store_b.lock(Duration::from_secs(30)));
    let holders = Arc::new(AtomicUsize::new(0));
    let max_seen = Arc::new(AtomicUsize::new(0));
    let acquired = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    // Each task is its own owner (rollout id) on one of the two lock objects; holders
    // release long before their TTL, so an overlap would be a real double grant.
    for t in 0..12 {
        let lock = if t % 2 == 0 { a.clone() } else { b.clone() };
        let (holders, max_seen, acquired) = (holders.clone(), max_seen.clone(), acquired.clone());
        tasks.push(tokio::spawn(async move {
            let owner = format!("rollout-{t}");
            for _ in 0..30 {
                if lock
                    .acquire(&key("web"), &owner, Timestamp(1))
                    .await
                    .unwrap()
                    == LockOutcome::Acquired
                {
                    let n = holders.fetch_add(1, Ordering::SeqCst) + 1;
                    max_seen.fetch_max(n, Ordering::SeqCst);
                    acquired.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(2)).await;
                    holders.fetch_sub(1, Ordering::SeqCst);
                    lock.release(&key("web"), &owner).await.unwrap();
                } else {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    eprintln!("lock taken {} times", acquired.load(Ordering::SeqCst));
    assert!(acquired.load(Ordering::SeqCst) >= 5);
    assert_eq!(max_seen.load(Ordering::SeqCst), 1, "never two holders");
    drop_schema(&url, &schema).await;
}

#[tokio::test]
async fn expiry_refresh_and_release_follow_the_holder() {
    let Some(url) = pg_url("lock_lifecycle") else {
        return;
    };
    let (store, schema) = fresh_store(&url, "locklife").await;
    let a = store.lock(Duration::from_millis(200));
    let b = store.lock(Duration::from_millis(200));
    assert_ne!(a.token(), b.token());
    let k = key("web");
    assert_eq!(
        a.acquire(&k, "r1", Timestamp(10)).await.unwrap(),
        LockOutcome::Acquired
    );
    assert_eq!(
        a.acquire(&k, "r1", Timestamp(11)).await.unwrap(),
        LockOutcome::Acquired,
        "again = refresh"
    );
    // The same rollout id through another lock object is another owner.
    match b.acquire(&k, "r1", Timestamp(12)).await.unwrap() {
        LockOutcome::Held(h) => {
            assert_eq!(
                (h.owner.as_str(), h.token.as_str(), h.acquired_at),
                ("r1", a.token(), Timestamp(11))
            );
            assert_eq!(h.pid, std::process::id());
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        b.refresh(&k, "r1", Timestamp(12)).await.unwrap(),
        Refresh::Lost(a.holder(&k).await.unwrap())
    );
    let err = b.release(&k, "r2").await.unwrap_err();
    assert!(matches!(err, LockError::NotHolder { .. }), "{err}");
    assert!(err.to_string().contains("web@production"), "{err}");
    assert_eq!(
        a.refresh(&k, "r1", Timestamp(13)).await.unwrap(),
        Refresh::Kept
    );
    // Not refreshed past its TTL: taken over.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        b.acquire(&k, "r2", Timestamp(14)).await.unwrap(),
        LockOutcome::Acquired
    );
    assert!(
        matches!(a.refresh(&k, "r1", Timestamp(15)).await.unwrap(), Refresh::Lost(Some(h)) if h.owner == "r2")
    );
    // Releasing a free lock succeeds; someone else's fails.
    assert!(a.release(&k, "r1").await.is_err());
    b.release(&k, "r2").await.unwrap();
    b.release(&k, "r2").await.unwrap();
    assert_eq!(a.holder(&k).await.unwrap(), None);
    assert_eq!(a.ttl(), Some(Duration::from_millis(200)));
    drop_schema(&url, &schema).await;
}

async fn a_record() -> DeploymentRecord {
    use common::rollout::*;
    let (_world, engine) = world_and_engine(3);
    let journal = Arc::new(shipcore::journal::MemoryJournal::new());
    let report = engine
        .start(spec("web-1"), journal.clone())
        .unwrap()
        .finished()
        .await
        .unwrap();
    assert_eq!(report.status.phase, shipcore::engine::Phase::Succeeded);
    DeploymentRecord::from_journal(journal.as_ref(), &RecordMeta::new("ci"))
        .await
        .unwrap()
}

#[tokio::test]
async fn the_history_saves_lists_and_finds_the_previous_success() {
    let Some(url) = pg_url("records") else { return };
    let (store, schema) = fresh_store(&url, "records").await;
    let h = store.records();
    let base = a_record().await;
    let make = |id: &str, service: &str, day: u32, ok: bool| {
        let mut r = base.clone();
        r.id = id.into();
        r.service = service.into();
        r.version = format!("{day}.0.0");
        r.deployed_at = format!("2024-01-{day:02}T10:00:00Z");
        r.status = if ok {
            DeploymentStatus::Success
        } else {
            DeploymentStatus::RolledBack
        };
        r
    };
    for r in [
        make("web-1", "web", 1, true),
        make("web-2", "web", 2, true),
        make("web-3", "web", 3, false),
        make("api-1", "api", 4, true),
    ] {
        h.save(&r).await.unwrap();
    }
    let ids = |v: Vec<DeploymentRecord>| v.into_iter().map(|r| r.id).collect::<Vec<_>>();
    assert_eq!(
        ids(h.all().await.unwrap()),
        ["api-1", "web-3", "web-2", "web-1"]
    );
    assert_eq!(
        ids(h.list(Some("web"), Some("production")).await.unwrap()),
        ["web-3", "web-2", "web-1"]
    );
    assert_eq!(
        ids(h.list(None, Some("staging")).await.unwrap()),
        Vec::<String>::new()
    );
    let prev = h
        .previous_successful("web", "production", None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(prev.id, "web-2");
    let prev = h
        .previous_successful("web", "production", Some("web-2"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(prev.id, "web-1");
    assert!(h
        .previous_successful("web", "production", Some("web-1"))
        .await
        .unwrap()
        .is_none());
    // Saving again replaces.
    let mut again = make("web-3", "web", 3, true);
    again.deployed_by = "someone".into();
    h.save(&again).await.unwrap();
    assert_eq!(h.load("web-3").await.unwrap(), again);
    let err = h.load("nope").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert!(err.to_string().contains("nope"), "{err}");
    let mut bad = make("web-9", "web", 9, true);
    bad.deployed_at = "yesterday".into();
    let err = h.save(&bad).await.unwrap_err();
    assert!(err.to_string().contains("deployedAt"), "{err}");
    drop_schema(&url, &schema).await;
}
