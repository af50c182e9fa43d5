//! Journals and event logs written by shipcore 0.1 (before the engine redesign), stored
//! under `tests/data/journals-0.1/`: today's runs must give them byte for byte, the stored
//! journals must replay to the stored event logs, and a rollout stopped mid-canary by 0.1
//! must resume from its journal to the stored end.
//!
//! `SHIPCORE_WRITE_FIXTURES=1 cargo test -p shipcore --test journal_fixtures` rewrites the
//! files (only when a change of journal or event format is intended; say so in the commit).
#![allow(clippy::unwrap_used)]

mod sim_rollout;

use shipcore::engine::{Command, Phase, RunReport};
use shipcore::journal::FileJournal;
use shipcore::record::replay_journal;
use shipcore::testing::SimWorld;
use shipcore::time::Timestamp;
use std::path::{Path, PathBuf};
use std::sync::Arc;

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/journals-0.1")
}

fn writing() -> bool {
    std::env::var_os("SHIPCORE_WRITE_FIXTURES").is_some()
}

/// Compares `got` with the stored file `name`, or stores it when writing fixtures.
fn check(name: &str, got: &[u8]) {
    let path = dir().join(name);
    if writing() {
        std::fs::write(&path, got).unwrap();
        return;
    }
    let want = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(
        want == got,
        "{name} differs from the stored 0.1 file ({} bytes stored, {} now)",
        want.len(),
        got.len()
    );
}

/// A journal as 0.1 wrote it: each line without its checksum, and without the one field
/// later versions add to a verdict whose level is breached (`breached_since`, the threshold
/// `for` window carried in the journal). Everything else must be byte for byte the same.
fn as_0_1(journal: &[u8]) -> String {
    let breach = regex::Regex::new(r#""breached_since":\d+,|,"breached_since":\d+"#).unwrap();
    String::from_utf8(journal.to_vec())
        .unwrap()
        .lines()
        .map(|line| {
            let (_crc, entry) = line.split_once(' ').unwrap();
            breach.replace_all(entry, "").into_owned() + "\n"
        })
        .collect()
}

/// Compares the journal `got` with the stored 0.1 journal `name` (see [`as_0_1`]).
fn check_journal(name: &str, got: &[u8]) {
    let path = dir().join(name);
    if writing() {
        std::fs::write(&path, got).unwrap();
        return;
    }
    let want = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let (want, got) = (as_0_1(&want), as_0_1(got));
    assert!(
        want == got,
        "{name} differs from the stored 0.1 file ({} bytes stored, {} now)",
        want.len(),
        got.len()
    );
}

fn events_json(report: &RunReport) -> Vec<u8> {
    serde_json::to_vec_pretty(&report.events).unwrap()
}

const RUNS: [(&str, u64, bool, Phase); 2] = [
    ("canary_bad_seed11", 11, true, Phase::RolledBack),
    ("canary_good_seed12", 12, false, Phase::Succeeded),
];

#[tokio::test]
async fn todays_runs_give_the_stored_journals_and_event_logs_byte_for_byte() {
    for (name, seed, bad, phase) in RUNS {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("rollout.journal");
        let world = sim_rollout::world(seed, bad);
        let journal = Arc::new(FileJournal::open(&path).unwrap());
        let report = sim_rollout::runner(&world, world.driver_arc(), journal)
            .start(sim_rollout::spec())
            .await
            .unwrap();
        assert_eq!(report.status.phase, phase, "{name}");
        let journal = std::fs::read(&path).unwrap();
        check_journal(&format!("{name}.journal"), &journal);
        if bad {
            // The breach is carried in today's journal: the check above can see a difference.
            assert!(String::from_utf8(journal)
                .unwrap()
                .contains("breached_since"));
        }
        check(&format!("{name}.events.json"), &events_json(&report));
    }
}

#[tokio::test]
async fn stored_journals_replay_to_their_stored_event_logs() {
    if writing() {
        return;
    }
    for (name, ..) in RUNS {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("rollout.journal");
        std::fs::copy(dir().join(format!("{name}.journal")), &path).unwrap();
        let replayed = replay_journal(&FileJournal::open(&path).unwrap())
            .await
            .unwrap();
        let got = serde_json::to_vec_pretty(&replayed.events).unwrap();
        check(&format!("{name}.events.json"), &got);
        assert_eq!(replayed.spec.unwrap(), sim_rollout::spec());
    }
}

/// Paused by an operator at 200 s (in the first analysis), resumed at 900 s.
const PAUSED_AT: Timestamp = Timestamp(200_000);
const RESUMED_AT: Timestamp = Timestamp(900_000);

#[tokio::test]
async fn a_rollout_paused_by_0_1_resumes_from_its_journal_to_the_stored_end() {
    let tmp = tempfile::tempdir().unwrap();
    let journal_path = tmp.path().join("paused.journal");
    let world_path = tmp.path().join("paused.world.json");
    if writing() {
        let world = SimWorld::persisting(13, &world_path).unwrap();
        world
            .driver
            .seed_stable(&sim_rollout::target(), &sim_rollout::v1(), 4);
        sim_rollout::configure(&world, false);
        let journal = Arc::new(FileJournal::open(&journal_path).unwrap());
        let report = sim_rollout::runner(&world, world.driver_arc(), journal)
            .command_at(PAUSED_AT, Command::Pause)
            .start(sim_rollout::spec())
            .await
            .unwrap();
        assert_eq!(report.status.phase, Phase::Paused);
        check("paused.journal", &std::fs::read(&journal_path).unwrap());
        check("paused.world.json", &std::fs::read(&world_path).unwrap());
    } else {
        std::fs::copy(dir().join("paused.journal"), &journal_path).unwrap();
        std::fs::copy(dir().join("paused.world.json"), &world_path).unwrap();
    }
    // A new process: the world continues from its file, the runner from the journal.
    let world = SimWorld::persisting(13, &world_path).unwrap();
    sim_rollout::configure(&world, false);
    let journal = Arc::new(FileJournal::open(&journal_path).unwrap());
    let report = sim_rollout::runner(&world, world.driver_arc(), journal)
        .command_at(RESUMED_AT, Command::Resume)
        .resume()
        .await
        .unwrap();
    assert_eq!(report.status.phase, Phase::Succeeded);
    check("paused.resumed.events.json", &events_json(&report));
}
