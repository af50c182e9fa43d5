//! Rollout lock: contention, refresh, release, stale-lock recovery (dead pid on this host,
//! expired TTL elsewhere), corrupt records, and the lock gate.
#![allow(clippy::unwrap_used)]

use shipcore::gate::{
    FileLock, GateConfig, LockError, LockGate, LockHolder, LockKey, LockOutcome, Refresh,
    RolloutLock,
};
use shipcore::gate::{Gate, GateContext, GateOutcome};
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
    assert_eq!(
        names,
        vec![
            "web@production.lock",
            "web@production.lock.guard",
            "web@staging.lock",
            "web@staging.lock.guard"
        ]
    );
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
                token: String::new(),
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
        token: String::new(),
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
        token: String::new(),
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
        token: String::new(),
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
    let first = cfg.build().unwrap();
    let gate = &first;
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
    // Another lock object is another owner, even for r1: it cannot give r1's lock back.
    assert!(matches!(
        lock.release(&key("production"), "r1").await,
        Err(LockError::NotHolder { .. })
    ));
    let held_by = lock.holder(&key("production")).await.unwrap().unwrap();
    assert_eq!(held_by.owner, "r1");
    // The gate that took it gives it back when the rollout ends.
    first
        .on_finish(
            &ctx("r1", "production", t0),
            shipcore::engine::Phase::Succeeded,
        )
        .await;
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

#[tokio::test]
async fn a_second_runner_of_the_same_rollout_does_not_take_over() {
    let dir = tempfile::tempdir().unwrap();
    let k = key("production");
    let t0 = Timestamp(1_700_000_000_000);
    // Two runners of rollout r1 (a retried CI job, a second `resume`): two lock objects.
    let first = FileLock::new(dir.path(), 12 * HOUR);
    let twin = FileLock::new(dir.path(), 12 * HOUR);
    assert_ne!(
        first.token(),
        twin.token(),
        "each lock object draws its own token"
    );
    assert_eq!(
        first.acquire(&k, "r1", t0).await.unwrap(),
        LockOutcome::Acquired
    );
    let held = first.holder(&k).await.unwrap().unwrap();
    assert_eq!(held.token, first.token());
    match twin.acquire(&k, "r1", t0.plus(HOUR)).await.unwrap() {
        LockOutcome::Held(h) => assert_eq!(h, held),
        other => panic!("the twin must not get r1's lock: {other:?}"),
    }
    assert_eq!(
        twin.refresh(&k, "r1", t0.plus(HOUR)).await.unwrap(),
        Refresh::Lost(Some(held.clone()))
    );
    assert!(matches!(
        twin.release(&k, "r1").await,
        Err(LockError::NotHolder { .. })
    ));
    assert_eq!(first.holder(&k).await.unwrap(), Some(held));

    // The same rollout id held by a live process on another host is held too.
    let remote = LockHolder {
        owner: "r1".into(),
        token: "0123456789abcdef".into(),
        pid: std::process::id(),
        host: "other-host".into(),
        acquired_at: t0,
    };
    write_holder(&twin, &k, &remote);
    assert_eq!(
        twin.acquire(&k, "r1", t0.plus(HOUR)).await.unwrap(),
        LockOutcome::Held(remote.clone())
    );
    assert_eq!(
        std::fs::read(twin.path(&k)).unwrap(),
        serde_json::to_vec(&remote).unwrap(),
        "the file is left as it was"
    );
    // Until it goes stale.
    assert_eq!(
        twin.acquire(&k, "r1", t0.plus(13 * HOUR)).await.unwrap(),
        LockOutcome::Acquired
    );
}

#[test]
fn refresh_and_release_never_race_a_stale_takeover() {
    // The holder's lock went stale (its last refresh is older than the TTL) just as it
    // refreshes; a second process takes over the stale lock at the same moment. Exactly
    // one of them may come out holding it, and the file must name that one.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let rounds = 1000;
    let mut both = 0;
    for round in 0..rounds {
        let dir = tempfile::tempdir().unwrap();
        let holder = Arc::new(FileLock::new(dir.path(), HOUR));
        let taker = Arc::new(FileLock::new(dir.path(), HOUR));
        let k = key("production");
        let t0 = Timestamp(1_700_000_000_000);
        rt.block_on(holder.acquire(&k, "r1", t0)).unwrap();
        let late = t0.plus(2 * HOUR);
        let barrier = Arc::new(std::sync::Barrier::new(2));
        let releasing = round % 3 == 2;
        let h = {
            let (holder, barrier, k) = (holder.clone(), barrier.clone(), k.clone());
            std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                barrier.wait();
                if releasing {
                    // Releasing must not remove the taker's fresh lock.
                    let _ = rt.block_on(holder.release(&k, "r1"));
                    false
                } else {
                    rt.block_on(holder.acquire(&k, "r1", late)).unwrap() == LockOutcome::Acquired
                }
            })
        };
        let t = {
            let (taker, barrier, k) = (taker.clone(), barrier.clone(), k.clone());
            std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                barrier.wait();
                rt.block_on(taker.acquire(&k, "r2", late)).unwrap() == LockOutcome::Acquired
            })
        };
        let (kept, took) = (h.join().unwrap(), t.join().unwrap());
        let file = rt.block_on(taker.holder(&k)).unwrap();
        if kept && took {
            both += 1;
        }
        match (kept, took, file) {
            (true, false, Some(f)) => assert_eq!(f.owner, "r1", "round {round}"),
            (false, true, Some(f)) => assert_eq!(f.owner, "r2", "round {round}"),
            (false, false, None) if releasing => {}
            (false, true, None) => panic!("round {round}: the taker's lock was removed"),
            other => panic!("round {round}: {other:?}"),
        }
    }
    assert_eq!(both, 0, "both told Acquired in {both} of {rounds} rounds");
}

#[tokio::test]
async fn lock_files_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let lock = FileLock::new(dir.path(), HOUR);
    let k = key("production");
    lock.acquire(&k, "r1", Timestamp(0)).await.unwrap();
    for p in [lock.path(&k), lock.path(&k).with_extension("lock.guard")] {
        let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{}", p.display());
    }
}
