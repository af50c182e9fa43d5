//! PgJournal on a real PostgreSQL: the journal contract (dense sequence numbers, entries
//! read back in order, a reopened journal continues), fencing (once another engine claims
//! the run, the old holder's appends are refused and nothing of it lands after the
//! takeover, even with appends racing the claim), and a real rollout journaled in it.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use serde_json::json;
use shipcore::journal::{Journal, JournalError};
use shipcore_store_postgres::{Lease, PgStore, RunState};
use std::sync::Arc;
use std::time::Duration;

const LONG: Duration = Duration::from_secs(60);

async fn claim_one(store: &PgStore, owner: &str, lease: Duration) -> Lease {
    let mut c = store.queue().claim(owner, 1, lease).await.unwrap();
    assert_eq!(c.len(), 1, "{owner} claims one run");
    c.remove(0).lease
}

#[tokio::test]
async fn appends_are_dense_read_in_order_and_continue_after_reopen() {
    let Some(url) = pg_url("journal_contract") else {
        return;
    };
    let (store, schema) = fresh_store(&url, "jcontract").await;
    assert!(store
        .queue()
        .enqueue("r1", &json!({"spec": 1}))
        .await
        .unwrap());
    assert!(
        !store
            .queue()
            .enqueue("r1", &json!({"spec": 2}))
            .await
            .unwrap(),
        "ids are unique"
    );
    let lease = claim_one(&store, "engine-a", LONG).await;
    assert_eq!(lease.token, 1);
    let j = store.journal(&lease).await.unwrap();
    assert!(j.read_all().await.unwrap().is_empty());
    for i in 0..20u64 {
        let payload = json!({"i": i, "f": 0.1 + i as f64 / 3.0, "s": "é\"\n"});
        assert_eq!(j.append(&payload).await.unwrap(), i);
    }
    let all = j.read_all().await.unwrap();
    assert_eq!(all.len(), 20);
    for (i, e) in all.iter().enumerate() {
        assert_eq!(e.seq, i as u64);
        assert_eq!(e.payload["i"], json!(i));
        assert_eq!(
            e.payload["f"],
            json!(0.1 + i as f64 / 3.0),
            "floats round-trip exactly"
        );
        assert_eq!(e.payload["s"], json!("é\"\n"));
    }
    drop(j);
    let j = store.journal(&lease).await.unwrap();
    assert_eq!(j.append(&json!("after reopen")).await.unwrap(), 20);
    assert_eq!(j.read_all().await.unwrap().len(), 21);
    drop_schema(&url, &schema).await;
}

#[tokio::test]
async fn a_holder_whose_lease_moved_on_is_fenced_and_writes_nothing_more() {
    let Some(url) = pg_url("journal_fencing") else {
        return;
    };
    let (store, schema) = fresh_store(&url, "jfence").await;
    let q = store.queue();
    q.enqueue("r1", &json!({})).await.unwrap();
    let a = claim_one(&store, "engine-a", Duration::from_millis(300)).await;
    let ja = store.journal(&a).await.unwrap();
    ja.append(&json!("a0")).await.unwrap();
    ja.append(&json!("a1")).await.unwrap();
    // While A's lease holds, nobody else may claim it.
    assert!(q.claim("engine-b", 10, LONG).await.unwrap().is_empty());
    tokio::time::sleep(Duration::from_millis(400)).await;
    // Expired: B claims it (token 2) and continues its journal.
    let claimed = q.claim("engine-b", 10, LONG).await.unwrap();
    assert_eq!(claimed.len(), 1);
    assert!(claimed[0].has_journal, "B resumes, not starts");
    let b = claimed[0].lease.clone();
    assert_eq!(b.token, 2);
    let jb = store.journal(&b).await.unwrap();
    assert_eq!(jb.append(&json!("b2")).await.unwrap(), 2);
    // A comes back: refused, naming the run, the new owner and the tokens.
    let err = ja.append(&json!("a-late")).await.unwrap_err();
    match &err {
        JournalError::Fenced {
            run,
            token,
            owner_now,
            token_now,
        } => {
            assert_eq!(
                (run.as_str(), *token, owner_now.as_str(), *token_now),
                ("r1", 1, "engine-b", 2)
            );
        }
        other => panic!("expected Fenced, got {other:?}"),
    }
    let text = err.to_string();
    assert!(
        text.contains("r1") && text.contains("engine-b") && text.contains("token 1"),
        "{text}"
    );
    // A can neither renew nor finish.
    assert!(!q.renew(&a, LONG).await.unwrap());
    assert!(!q.finish(&a, "succeeded").await.unwrap());
    let payloads: Vec<_> = jb
        .read_all()
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.payload)
        .collect();
    assert_eq!(payloads, vec![json!("a0"), json!("a1"), json!("b2")]);
    // B finishes; then B too is refused.
    assert!(q.renew(&b, LONG).await.unwrap());
    assert!(q.finish(&b, "succeeded").await.unwrap());
    let row = q.get("r1").await.unwrap().unwrap();
    assert_eq!(
        (row.state, row.outcome.as_deref(), row.token),
        (RunState::Done, Some("succeeded"), 2)
    );
    assert!(matches!(
        jb.append(&json!("b-after-done")).await,
        Err(JournalError::Fenced { .. })
    ));
    assert!(
        q.claim("engine-c", 10, LONG).await.unwrap().is_empty(),
        "done runs are not claimed"
    );
    drop_schema(&url, &schema).await;
}

/// The old holder appends as fast as it can while another engine takes the run over:
/// every append it was told succeeded is in the journal, none lands after the new
/// holder's first entry, and sequence numbers stay dense.
#[tokio::test]
async fn appends_racing_a_takeover_never_land_after_it() {
    let Some(url) = pg_url("journal_race") else {
        return;
    };
    let (store, schema) = fresh_store(&url, "jrace").await;
    let q = store.queue();
    for round in 0..5 {
        let id = format!("r{round}");
        q.enqueue(&id, &json!({})).await.unwrap();
        let a = claim_one(&store, "engine-a", Duration::from_millis(1)).await;
        let ja = Arc::new(store.journal(&a).await.unwrap());
        let writer = {
            let ja = ja.clone();
            tokio::spawn(async move {
                let mut acked = Vec::new();
                for i in 0..10_000u64 {
                    match ja.append(&json!({"by": "a", "i": i})).await {
                        Ok(seq) => acked.push(seq),
                        Err(JournalError::Fenced { .. }) => return acked,
                        Err(e) => panic!("unexpected {e}"),
                    }
                }
                panic!("never fenced");
            })
        };
        tokio::time::sleep(Duration::from_millis(20 + 10 * round)).await;
        let other = PgStore::connect(&url, &schema).await.unwrap();
        // SKIP LOCKED passes over the row while one of A's appends holds it: ask again.
        let b = loop {
            let mut c = other.queue().claim("engine-b", 1, LONG).await.unwrap();
            if let Some(c) = c.pop() {
                break c.lease;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        };
        let jb = other.journal(&b).await.unwrap();
        let first_b = jb.append(&json!({"by": "b"})).await.unwrap();
        let acked = writer.await.unwrap();
        let all = jb.read_all().await.unwrap();
        assert_eq!(all.len() as u64, first_b + 1);
        for e in &all[..first_b as usize] {
            assert_eq!(e.payload["by"], json!("a"));
        }
        assert_eq!(
            acked,
            (0..first_b).collect::<Vec<_>>(),
            "every acknowledged append of A is kept, in order"
        );
        let c = raw(&url).await;
        let late: i64 = c
            .query_one(
                &format!("SELECT count(*) FROM {schema}.shipcore_journal WHERE run_id = $1 AND token = 1 AND seq > $2"),
                &[&id, &(first_b as i64)],
            )
            .await
            .unwrap()
            .get(0);
        assert_eq!(late, 0);
    }
    drop_schema(&url, &schema).await;
}
