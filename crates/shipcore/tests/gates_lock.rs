//! Rollout lock: contention, refresh, release, stale-lock recovery (dead pid on this host,
//! expired TTL elsewhere), corrupt records, and the lock gate.
#![allow(clippy::unwrap_used)]

use shipcore::gate::{Gate, GateContext, GateOutcome};
use shipcore::gates::{
    FileLock, GateConfig, LockError, LockGate, LockHolder, LockKey, LockOutcome, RolloutLock,
};
use shipcore::model::{Revision, Target};
use shipcore::time::Timestamp;
use std::sync::Arc;
use std::time::Duration;

const HOUR: Duration = Duration::from_secs(3600);

fn key(env: &str) -> LockKey {
    LockKey::for_target(&Target::new("web", env))
}

fn ctx(rollout: &str, env: &str, now: Timestamp) -> GateContext {
    GateContext {
        rollout_id: rollout.into(),
        target: Target::new("web", env),
        candidate: Revision::new("web-v2", "2.0.0".parse().unwrap(), "web:2.0.0"),
        stable: None,
        now,
        approvals: vec![],
        waiting_since: None,
    }
}

fn write_holder(lock: &FileLock, k: &LockKey, h: &LockHolder) {
    std::fs::write(lock.path(k), serde_json::to_vec(h).unwrap()).unwrap();
}

#[tokio::test]
async fn one_holder_at_a_time_with_refresh_and_release() {
    let dir = tempfile::tempdir().unwrap();
    let lock = FileLock::new(dir.path().join("locks"), 6 * HOUR);
    let t0 = Timestamp(1_700_000_000_000);
    let k = key("production");

    assert_eq!(
        lock.acquire(&k, "r1", t0).await.unwrap(),
        LockOutcome::Acquired
    );
    let holder = lock.holder(&k).await.unwrap().unwrap();
    assert_eq!(holder.owner, "r1");
    assert_eq!(holder.pid, std::process::id());
    assert_eq!(holder.host, lock.host());
    assert_eq!(holder.acquired_at, t0);

    match lock.acquire(&k, "r2", t0.plus(HOUR)).await.unwrap() {
        LockOutcome::Held(h) => assert_eq!(h, holder),
        other => panic!("r2 must not get the lock: {other:?}"),
    }
    // The holder refreshes by acquiring again.
    assert_eq!(
        lock.acquire(&k, "r1", t0.plus(2 * HOUR)).await.unwrap(),
        LockOutcome::Acquired
    );
    assert_eq!(
        lock.holder(&k).await.unwrap().unwrap().acquired_at,
        t0.plus(2 * HOUR)
    );
    // Another environment is another lock.
    assert_eq!(
        lock.acquire(&key("staging"), "r2", t0).await.unwrap(),
        LockOutcome::Acquired
    );

    match lock.release(&k, "r2").await {
        Err(LockError::NotHolder { key, owner, holder }) => {
            assert_eq!((key.as_str(), owner.as_str()), ("web@production", "r2"));
            assert!(holder.contains("rollout r1"), "{holder}");
        }
        other => panic!("r2 must not release r1's lock: {other:?}"),
    }
    lock.release(&k, "r1").await.unwrap();
    lock.release(&k, "r1").await.unwrap(); // releasing a free lock succeeds
    assert_eq!(lock.holder(&k).await.unwrap(), None);
    assert_eq!(
        lock.acquire(&k, "r2", t0.plus(3 * HOUR)).await.unwrap(),
        LockOutcome::Acquired
    );
    // No temporary files are left behind.
    let names: Vec<String> = std::fs::read_dir(dir.path().join("locks"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let mut names = names;
    names.sort();
    assert_eq!(names, vec!["web@production.lock", "web@staging.lock"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn contention_has_exactly_one_winner() {
    for round in 0..40 {
        let dir = tempfile::tempdir().unwrap();
        let lock = Arc::new(FileLock::new(dir.path(), HOUR));
        if round % 2 == 1 {
            // Odd rounds race to take over a stale lock left by a dead process.
            let dead = LockHolder {
                owner: "crashed".into(),
                pid: 99_999_999,
                host: lock.host().into(),
                acquired_at: Timestamp(0),
            };
            write_holder(&lock, &key("production"), &dead);
        }
        let barrier = Arc::new(tokio::sync::Barrier::new(8));
        let mut tasks = Vec::new();
        for i in 0..8 {
            let (lock, barrier) = (lock.clone(), barrier.clone());
            tasks.push(tokio::spawn(async move {
                barrier.wait().await;
                let owner = format!("r{i}");
                (
                    owner.clone(),
                    lock.acquire(&key("production"), &owner, Timestamp(0))
                        .await
                        .unwrap(),
                )
            }));
        }
        let mut winners = Vec::new();
        for t in tasks {
            let (owner, out) = t.await.unwrap();
            if out == LockOutcome::Acquired {
                winners.push(owner);
            }
        }
        assert_eq!(winners.len(), 1, "round {round}: winners {winners:?}");
        let holder = lock.holder(&key("production")).await.unwrap().unwrap();
        assert_eq!(holder.owner, winners[0]);
    }
}

#[tokio::test]
async fn lock_of_a_dead_process_on_this_host_is_taken_over() {
    let dir = tempfile::tempdir().unwrap();
    let lock = FileLock::new(dir.path(), 12 * HOUR);
    let k = key("production");
    let now = Timestamp(1_700_000_000_000);
    // pid_max on Linux is at most 2^22, so this pid cannot exist.
    let dead = LockHolder {
        owner: "crashed".into(),
        pid: 99_999_999,
        host: lock.host().into(),
        acquired_at: now,
    };
    write_holder(&lock, &k, &dead);
    assert!(lock.is_stale(&dead, now));
    assert_eq!(
        lock.acquire(&k, "r2", now).await.unwrap(),
        LockOutcome::Acquired
    );
    assert_eq!(lock.holder(&k).await.unwrap().unwrap().owner, "r2");

    // The same dead pid on another host is not judged by our /proc: it is held until the TTL.
    let remote = LockHolder {
        owner: "remote".into(),
        pid: 99_999_999,
        host: "other-host".into(),
        acquired_at: now,
    };
    write_holder(&lock, &k, &remote);
    assert_eq!(
        lock.acquire(&k, "r3", now.plus(11 * HOUR)).await.unwrap(),
        LockOutcome::Held(remote.clone())
    );
    assert_eq!(
        lock.acquire(&k, "r3", now.plus(13 * HOUR)).await.unwrap(),
        LockOutcome::Acquired
    );

    // A live process (this one) on this host holds it until the TTL passes.
    let live = LockHolder {
        owner: "live".into(),
        pid: std::process::id(),
        host: lock.host().into(),
        acquired_at: now,
    };
    write_holder(&lock, &k, &live);
    assert!(!lock.is_stale(&live, now.plus(HOUR)));
    assert!(matches!(
        lock.acquire(&k, "r4", now.plus(HOUR)).await.unwrap(),
        LockOutcome::Held(_)
    ));
}

#[tokio::test]
async fn corrupt_lock_record_is_an_error_not_a_takeover() {
    let dir = tempfile::tempdir().unwrap();
    let lock = FileLock::new(dir.path(), HOUR);
    let k = key("production");
    std::fs::write(lock.path(&k), "{not json").unwrap();
    match lock.acquire(&k, "r1", Timestamp(0)).await {
        Err(LockError::Corrupt { path, .. }) => assert!(path.ends_with("web@production.lock")),
        other => panic!("expected Corrupt, got {other:?}"),
    }
    let gate = LockGate::new("lock", Arc::new(lock));
    match gate.check(&ctx("r1", "production", Timestamp(0))).await {
        GateOutcome::Block { reason } => assert!(reason.contains("is corrupt"), "{reason}"),
        other => panic!("expected Block, got {other:?}"),
    }
}

#[tokio::test]
async fn lock_gate_blocks_a_second_rollout_until_released() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = GateConfig::from_json(&format!(
        r#"{{"type": "lock", "name": "lock", "dir": {:?}, "ttl": "6h"}}"#,
        dir.path().display().to_string()
    ))
    .unwrap();
    let gate = cfg.build().unwrap();
    let t0 = Timestamp(1_718_000_000_000);
    assert_eq!(
        gate.check(&ctx("r1", "production", t0)).await,
        GateOutcome::Pass
    );
    // Checking again (engine retry, resume) keeps passing for the holder.
    assert_eq!(
        gate.check(&ctx("r1", "production", t0.plus(HOUR))).await,
        GateOutcome::Pass
    );
    match gate.check(&ctx("r2", "production", t0.plus(HOUR))).await {
        GateOutcome::Block { reason } => {
            assert!(
                reason.starts_with("web@production is locked by rollout r1 (pid "),
                "{reason}"
            );
            assert!(reason.contains("since 2024-06-10T07:13:20Z"), "{reason}");
        }
        other => panic!("expected Block, got {other:?}"),
    }
    assert_eq!(
        gate.check(&ctx("r2", "staging", t0)).await,
        GateOutcome::Pass
    );

    let lock = Arc::new(FileLock::new(dir.path(), 6 * HOUR));
    let gate = LockGate::new("lock", lock.clone()).retry_after(Duration::from_secs(60));
    match gate.check(&ctx("r2", "production", t0.plus(HOUR))).await {
        GateOutcome::Wait { retry_after, .. } => assert_eq!(retry_after, Duration::from_secs(60)),
        other => panic!("expected Wait, got {other:?}"),
    }
    gate.release(&ctx("r1", "production", t0)).await.unwrap();
    assert_eq!(
        gate.check(&ctx("r2", "production", t0.plus(HOUR))).await,
        GateOutcome::Pass
    );
}

#[test]
fn config_errors_name_the_field() {
    let e = GateConfig::from_json(r#"{"type": "lock", "name": "l", "dir": "/tmp/x", "ttl": "0s"}"#)
        .unwrap()
        .build()
        .err()
        .unwrap();
    assert_eq!(e.field, "ttl");
    let e = GateConfig::from_json(r#"{"type": "lock", "name": "l", "dir": ""}"#)
        .unwrap()
        .build()
        .err()
        .unwrap();
    assert_eq!(e.field, "dir");
    let e = GateConfig::from_json(r#"{"type": "lock", "name": "l"}"#).unwrap_err();
    assert!(e.problem.contains("missing field `dir`"), "{e}");
}
