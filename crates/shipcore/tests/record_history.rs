//! Deployment history on disk: records of real rollouts written to a folder, listed newest
//! first per service and environment, the previous successful version, atomic overwrite,
//! and clear errors for damaged files, bad journals and logs that never started.
#![allow(clippy::unwrap_used)]

// tests/common is shared (not ours); its `find` has lifetimes clippy calls needless.
#[allow(clippy::needless_lifetimes)]
mod common;

use common::*;
use shipcore::clock::SimClock;
use shipcore::driver::Capabilities;
use shipcore::engine::{Input, Phase, RolloutSpec, Runner, Stamped};
use shipcore::journal::{FileJournal, Journal, MemoryJournal};
use shipcore::model::{Revision, Target};
use shipcore::record::{DeploymentRecord, DeploymentStatus, RecordError, RecordMeta, RecordStore};
use shipcore::time::Timestamp;
use shipcore::validator::{Outcome, Verdict};
use std::sync::Arc;

fn rev(n: u64) -> Revision {
    Revision::new(
        format!("web-v{n}"),
        semver::Version::new(n, 0, 0),
        format!("web:{n}.0.0"),
    )
}

/// Runs a canary of `to` over `from` starting at `start`; it succeeds unless `fail`.
async fn deploy(
    id: &str,
    service: &str,
    from: u64,
    to: u64,
    start: Timestamp,
    fail: bool,
) -> DeploymentRecord {
    let stable = rev(from);
    let driver = FakeDriver::with_stable(Capabilities::ALL, &stable, 2);
    let check = FnValidator::new("error-rate", move |ctx| {
        let bad = fail && ctx.candidate.version.major == to;
        Ok(Verdict::new(
            "error-rate",
            if bad { Outcome::Fail } else { Outcome::Pass },
            "checked",
        ))
    });
    let spec = RolloutSpec::new(
        id,
        Target::new(service, "production"),
        Some(stable),
        rev(to),
        canary_plan(2, "error-rate"),
    );
    let journal = Arc::new(MemoryJournal::new());
    let mut runner = Runner::builder(driver, Arc::new(SimClock::new(start)), journal.clone())
        .validator(check)
        .build();
    let report = runner.start(spec).await.unwrap();
    assert_eq!(
        report.status.phase,
        if fail {
            Phase::RolledBack
        } else {
            Phase::Succeeded
        }
    );
    DeploymentRecord::from_journal(journal.as_ref(), &RecordMeta::new("ci"))
        .await
        .unwrap()
}

const DAY: u64 = 86_400_000;

#[tokio::test]
async fn history_lists_newest_first_and_finds_the_previous_success() {
    let dir = tempfile::tempdir().unwrap();
    let store = RecordStore::open(dir.path().join("records")).unwrap();
    let t0 = Timestamp(1_705_329_000_000);
    let a = deploy("web-1", "web", 1, 2, t0, false).await;
    let b = deploy("web-2", "web", 2, 3, Timestamp(t0.0 + DAY), true).await;
    let c = deploy("api-1", "api", 1, 2, Timestamp(t0.0 + 2 * DAY), false).await;
    assert_eq!(
        (a.status, b.status),
        (DeploymentStatus::Success, DeploymentStatus::RolledBack)
    );
    for r in [&b, &a, &c] {
        let path = store.save(r).unwrap();
        assert_eq!(
            path,
            dir.path().join("records").join(format!("{}.json", r.id))
        );
    }

    let web: Vec<_> = store
        .list(Some("web"), Some("production"))
        .unwrap()
        .into_iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(web, ["web-2", "web-1"], "newest first");
    let all: Vec<_> = store
        .list(None, None)
        .unwrap()
        .into_iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(all, ["api-1", "web-2", "web-1"]);
    assert!(store.list(Some("web"), Some("staging")).unwrap().is_empty());

    // The rollout that rolled back: what was the last good version before it?
    assert_eq!(
        store
            .previous_successful_version("web", "production", Some("web-2"))
            .unwrap()
            .as_deref(),
        Some("2.0.0")
    );
    assert_eq!(
        store
            .previous_successful_version("web", "production", None)
            .unwrap()
            .as_deref(),
        Some("2.0.0")
    );
    assert_eq!(
        store
            .previous_successful_version("web", "production", Some("web-1"))
            .unwrap(),
        None,
        "nothing before the first"
    );
    assert_eq!(
        store
            .previous_successful_version("db", "production", None)
            .unwrap(),
        None
    );
    assert!(matches!(
        store.previous_successful("web", "production", Some("nope")),
        Err(RecordError::NotFound { .. })
    ));

    assert_eq!(store.load("web-2").unwrap(), b);
}

#[tokio::test]
async fn saving_again_replaces_atomically_and_leaves_no_temporary_files() {
    let dir = tempfile::tempdir().unwrap();
    let store = RecordStore::open(dir.path()).unwrap();
    let mut r = deploy("web-9", "web", 1, 2, Timestamp(1_705_329_000_000), false).await;
    store.save(&r).unwrap();
    r.deployed_by = "jane".into();
    store.save(&r).unwrap();
    assert_eq!(store.load("web-9").unwrap().deployed_by, "jane");
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names, ["web-9.json"]);

    // Files that are not records are left alone by listings.
    std::fs::write(dir.path().join(".web-9.json.tmp.1.1"), "{partial").unwrap();
    std::fs::write(dir.path().join("notes.txt"), "hello").unwrap();
    assert_eq!(store.list(None, None).unwrap().len(), 1);

    let mut bad = r.clone();
    bad.id = "../escape".into();
    assert!(matches!(
        store.save(&bad),
        Err(RecordError::InvalidId { .. })
    ));
}

#[tokio::test]
async fn a_damaged_record_file_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = RecordStore::open(dir.path()).unwrap();
    store
        .save(&deploy("web-1", "web", 1, 2, Timestamp(1_705_329_000_000), false).await)
        .unwrap();
    let broken = dir.path().join("web-2.json");
    std::fs::write(&broken, "{\"id\": \"web-2\", \"service\": ").unwrap();
    for err in [
        store.load("web-2").unwrap_err(),
        store.list(Some("web"), None).unwrap_err(),
    ] {
        let text = err.to_string();
        assert!(matches!(err, RecordError::Damaged { .. }), "{text}");
        assert!(text.contains(&broken.display().to_string()), "{text}");
    }

    // Valid JSON, wrong content: a record under another id's name, a bad timestamp.
    let good = std::fs::read_to_string(dir.path().join("web-1.json")).unwrap();
    std::fs::write(&broken, &good).unwrap();
    let text = store.load("web-2").unwrap_err().to_string();
    assert!(
        text.contains("web-2.json") && text.contains("holds record \"web-1\""),
        "{text}"
    );
    std::fs::write(
        &broken,
        good.replace("\"id\": \"web-1\"", "\"id\": \"web-2\"")
            .replace("2024-01-15T14:30:00Z", "yesterday"),
    )
    .unwrap();
    let text = store.load("web-2").unwrap_err().to_string();
    assert!(
        text.contains("web-2.json") && text.contains("deployedAt"),
        "{text}"
    );
}

#[tokio::test]
async fn records_come_from_a_file_journal_too() {
    let dir = tempfile::tempdir().unwrap();
    let journal = Arc::new(
        FileJournal::open(dir.path().join("r1.journal"))
            .unwrap()
            .without_fsync(),
    );
    let driver = FakeDriver::with_stable(Capabilities::ALL, &v1(), 2);
    let mut runner = Runner::builder(
        driver,
        Arc::new(SimClock::new(Timestamp::ZERO)),
        journal.clone(),
    )
    .validator(FnValidator::constant("ok", Outcome::Pass))
    .build();
    let report = runner.start(spec(canary_plan(2, "ok"))).await.unwrap();
    // One writer at a time: the runner's journal is closed before it is reopened.
    drop((runner, journal));
    let reopened = FileJournal::open(dir.path().join("r1.journal")).unwrap();
    let record = DeploymentRecord::from_journal(&reopened, &RecordMeta::new("ci"))
        .await
        .unwrap();
    // Stable was never deployed during a successful rollout, so only the spec knows its
    // artifact: the journal and the runner's report both carry it, and one builder makes
    // the same record from either.
    let from_report = DeploymentRecord::from_report(&report, &RecordMeta::new("ci")).unwrap();
    assert_eq!(record.previous_artifact.as_deref(), Some("web:1.0.0"));
    assert_eq!(record, from_report);
    assert_eq!(
        (record.status, record.deployed_at.as_str()),
        (DeploymentStatus::Success, "1970-01-01T00:00:00Z")
    );
    assert!(record.rollback.is_none());
    let md = shipcore::record::ship_report(&record, None);
    assert!(md.contains("**Status: SUCCESS**"), "{md}");
    assert!(
        md.contains("No rollback happened. To roll back")
            && md.contains("`RolloutHandle::abort()` restores 1.0.0"),
        "{md}"
    );
    assert!(
        md.contains("start a new rollout of 1.0.0 (artifact `web:1.0.0`)"),
        "{md}"
    );
    assert_eq!(
        serde_json::to_value(&record).unwrap()["rollback"],
        serde_json::Value::Null
    );
}

#[tokio::test]
async fn bad_journals_and_unstarted_logs_give_clear_errors() {
    let journal = MemoryJournal::new();
    journal
        .append(&serde_json::json!({"at": 0, "input": "launch_missiles"}))
        .await
        .unwrap();
    let err = DeploymentRecord::from_journal(&journal, &RecordMeta::default())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, RecordError::BadEntry(bad) if bad.seq == 0),
        "{err}"
    );

    assert!(matches!(
        DeploymentRecord::from_events(&[], &RecordMeta::default()),
        Err(RecordError::NotStarted { rejected: None })
    ));

    // A plan the engine rejects has no `started` event; the journal's spec still names it.
    let mut bad = spec(canary_plan(2, "ok"));
    bad.plan.replicas = 0;
    let journal = MemoryJournal::new();
    let start = Stamped::new(
        Timestamp(5_000),
        Input::Start {
            spec: Box::new(bad),
            capabilities: Capabilities::ALL,
        },
    );
    journal
        .append(&serde_json::to_value(&start).unwrap())
        .await
        .unwrap();
    let record = DeploymentRecord::from_journal(&journal, &RecordMeta::default())
        .await
        .unwrap();
    assert_eq!(
        (record.id.as_str(), record.version.as_str(), record.status),
        ("r1", "2.0.0", DeploymentStatus::Blocked)
    );
    assert!(
        record.reason.as_deref().unwrap().contains("replicas"),
        "{:?}",
        record.reason
    );
    let events = shipcore::record::replay_journal(&journal)
        .await
        .unwrap()
        .events;
    let err = DeploymentRecord::from_events(&events, &RecordMeta::default()).unwrap_err();
    assert!(
        matches!(&err, RecordError::NotStarted { rejected: Some(r) } if r.contains("replicas")),
        "{err}"
    );
}
