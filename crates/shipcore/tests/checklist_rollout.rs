//! The whole checklist, end to end on the simulated platform: pre-rollout gates (a real
//! `true` command, a file, the deploy window in Europe/Berlin on the simulated clock, the
//! rollout lock), canary phases judged against the stable baseline, post-deploy monitoring,
//! then the deployment record and the markdown ship report written to a folder. And the
//! same rollout on a Friday afternoon: blocked by the window before anything changes.
#![allow(clippy::unwrap_used)]

use shipcore::engine::{Phase, RolloutSpec, RunReport, Runner};
use shipcore::gate::{
    CommandConfig, FileGate, FileLock, LockGate, LockKey, RolloutLock, Severity, WindowConfig,
    WindowPreset,
};
use shipcore::journal::MemoryJournal;
use shipcore::model::{AnalysisPolicy, AnalysisStep, Plan, Revision, Target};
use shipcore::record::{
    ship_report, CheckStatus, Comparison, DeploymentRecord, DeploymentStatus, RecordMeta,
    RecordStore,
};
use shipcore::strategy::{Canary, CanaryStep, PauseSpec, PlanContext, Strategy};
use shipcore::testing::{Failure, SimConfig, SimMetrics, SimWorld};
use shipcore::time::Timestamp;
use shipcore::validator::{BaselineConfig, BaselineRule, ThresholdConfig};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

const MIN: Duration = Duration::from_secs(60);
/// Tuesday 2024-01-16 10:00 UTC: 11:00 in Berlin, inside the window.
const TUESDAY_11_BERLIN: Timestamp = Timestamp(1_705_399_200_000);
/// Friday 2024-01-19 15:00 UTC: 16:00 in Berlin, Friday afternoon.
const FRIDAY_16_BERLIN: Timestamp = Timestamp(1_705_676_400_000);

fn web() -> Target {
    Target::new("web", "production")
}
fn v1() -> Revision {
    Revision::new("web-v1", "1.0.0".parse().unwrap(), "registry/web:1.0.0")
}
fn v2() -> Revision {
    Revision::new("web-v2", "2.0.0".parse().unwrap(), "registry/web:2.0.0")
}

/// A simulated platform at `start`: v1 x4 serving; v2 slightly slower and with slightly
/// more errors, within the baseline's allowance. Exact metrics (no noise).
fn world(start: Timestamp) -> (SimWorld, SimMetrics) {
    let w = SimWorld::with_config(SimConfig::seeded(2024), start).unwrap();
    w.driver.seed_stable(&web(), &v1(), 4);
    w.driver.inject(&v2(), Failure::error_rate(0.002)).unwrap();
    w.driver
        .inject(&v2(), Failure::latency(45.0, 130.0))
        .unwrap();
    w.driver.record_actions(true);
    let metrics = SimMetrics::new(&w.driver, 2024).with_noise(0.0);
    (w, metrics)
}

/// Canary 10% → 50%, each phase judged three times against stable and paused for the P1
/// pause, then one hour of P0 post-deploy monitoring every 10 minutes.
fn plan(w: &SimWorld) -> Plan {
    let judge = || {
        CanaryStep::Analysis(AnalysisStep {
            validators: vec!["canary-vs-stable".into()],
            policy: AnalysisPolicy::every(MIN, 3),
        })
    };
    let pause = CanaryStep::Pause(PauseSpec(Some(Severity::P1.pause_per_phase())));
    let canary = Canary {
        steps: vec![
            CanaryStep::SetWeight(10),
            judge(),
            pause.clone(),
            CanaryStep::SetWeight(50),
            judge(),
            pause,
        ],
        ..Default::default()
    };
    let ctx = PlanContext {
        target: web(),
        stable: Some(v1()),
        candidate: v2(),
        replicas: 4,
        capabilities: w.driver.config().capabilities,
    };
    let monitoring = Severity::P0
        .monitoring(&["error-rate"])
        .every(10 * MIN)
        .to_step()
        .unwrap();
    canary.plan(&ctx).unwrap().with_monitoring(monitoring)
}

struct Setup {
    _dir: tempfile::TempDir,
    root: std::path::PathBuf,
    lock: Arc<FileLock>,
}

fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    std::fs::write(root.join("RUNBOOK.md"), "# Rollback\nabort the rollout\n").unwrap();
    let lock = Arc::new(FileLock::new(root.join("locks"), 6 * 60 * MIN));
    Setup {
        _dir: dir,
        root,
        lock,
    }
}

async fn run(s: &Setup, w: &SimWorld, metrics: &SimMetrics) -> RunReport {
    let metrics: Arc<dyn shipcore::metrics::MetricsSource> = Arc::new(metrics.clone());
    let q = |m: &str| format!("{m}{{revision=\"{{{{revision}}}}\"}}");
    let mut latency = BaselineRule::at_most("latency_p95", q("latency_p95"), 1.2, 0.0);
    latency.unit = "s".into();
    let baseline = BaselineConfig {
        name: "canary-vs-stable".into(),
        rules: vec![
            BaselineRule::at_most("error_rate", q("error_rate"), 1.0, 0.01),
            latency,
        ],
        sample_size: None,
    }
    .build(metrics.clone())
    .unwrap();
    let threshold = ThresholdConfig::above("error-rate", q("error_rate"), 0.05)
        .build(metrics)
        .unwrap();
    let window = WindowConfig {
        name: "window".into(),
        zone: "Europe/Berlin".into(),
        preset: Some(WindowPreset::NoFridayAfternoonNoWeekend),
        windows: vec![],
        freezes: vec![],
        wait: false,
    };
    let mut runner = Runner::builder(
        w.driver_arc(),
        w.clock_arc(),
        Arc::new(MemoryJournal::new()),
    )
    .validator(Arc::new(baseline))
    .validator(Arc::new(threshold))
    .gate(Arc::new(
        CommandConfig::new("tests-pass", "true", &[])
            .build()
            .unwrap(),
    ))
    .gate(Arc::new(FileGate::exists(
        "runbook",
        s.root.join("RUNBOOK.md"),
    )))
    .gate(Arc::new(window.build().unwrap()))
    .gate(Arc::new(LockGate::new("lock", s.lock.clone())))
    .build();
    let mut spec = RolloutSpec::new("web-2.0.0-prod", web(), Some(v1()), v2(), plan(w));
    spec.gates = ["tests-pass", "runbook", "window", "lock"]
        .map(String::from)
        .to_vec();
    runner.start(spec).await.unwrap()
}

fn meta() -> RecordMeta {
    let mut m = RecordMeta::new("ci-pipeline");
    m.change_id = Some("CHG-7".into());
    m.deploy_window = Some("Mon-Thu 09-17, Fri 09-12 Europe/Berlin".into());
    m.monitoring_period = Some(Severity::P0.monitoring_window());
    m
}

/// Saves the record and the report in `dir`; returns what was read back from the files.
fn write(dir: &Path, record: &DeploymentRecord, report: &str) -> (serde_json::Value, String) {
    let store = RecordStore::open(dir.join("records")).unwrap();
    let path = store.save(record).unwrap();
    // Read back through the store (floats may differ in the last bit after JSON).
    let loaded = store.load(&record.id).unwrap();
    assert_eq!(
        (loaded.status, &loaded.gates),
        (record.status, &record.gates)
    );
    let listed = store.list(Some("web"), Some("production")).unwrap();
    assert_eq!(listed.len(), 1);
    let md_path = dir.join("records").join(format!("{}.md", record.id));
    std::fs::write(&md_path, report).unwrap();
    let json = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    (json, std::fs::read_to_string(md_path).unwrap())
}

async fn lock_holder(s: &Setup) -> Option<String> {
    let key = LockKey::for_target(&web());
    s.lock.holder(&key).await.unwrap().map(|h| h.owner)
}

#[tokio::test]
async fn every_gate_passes_the_canary_beats_its_baseline_and_monitoring_keeps_it() {
    let s = setup();
    let (w, metrics) = world(TUESDAY_11_BERLIN);
    let report = run(&s, &w, &metrics).await;
    assert_eq!(report.status.phase, Phase::Succeeded, "{:?}", report.status);
    let fleet = w.driver.fleet(&web());
    assert_eq!(fleet.revisions.len(), 1, "{fleet:?}");
    assert_eq!(
        (fleet.ready_of(&v2().id), fleet.weight_of(&v2().id)),
        (4, 100)
    );
    assert_eq!(lock_holder(&s).await, None, "the lock is given back");

    let record = DeploymentRecord::from_report(&report, &meta()).unwrap();
    let comparison = Comparison::from_events(&report.events);
    let md = ship_report(&record, Some(&comparison));
    let (json, md) = write(&s.root, &record, &md);
    eprintln!("{md}");

    // The record, as stored.
    assert_eq!(json["status"], "success");
    assert_eq!(json["id"], "web-2.0.0-prod");
    assert_eq!(
        (&json["version"], &json["previousVersion"]),
        (&"2.0.0".into(), &"1.0.0".into())
    );
    assert_eq!(json["deployedAt"], "2024-01-16T10:00:00Z");
    assert_eq!(json["artifact"], "registry/web:2.0.0");
    assert_eq!(json["monitoringPeriod"], "1h");
    assert!(json["rollback"].is_null());
    let gates: Vec<_> = record
        .gates
        .iter()
        .map(|g| (g.gate.as_str(), g.outcome.as_str()))
        .collect();
    assert_eq!(
        gates,
        [
            ("tests-pass", "pass"),
            ("runbook", "pass"),
            ("window", "pass"),
            ("lock", "pass")
        ]
    );
    let v = &record.validation;
    assert_eq!(v.error_rate, Some(0.002), "{v:?}");
    assert!((v.latency_p95.unwrap() - 0.13).abs() < 1e-6, "{v:?}");
    let by_name = |n: &str| v.validators.iter().find(|s| s.name == n).unwrap();
    let judge = by_name("canary-vs-stable");
    assert_eq!(
        (judge.passed, judge.failed, judge.last_outcome),
        (6, 0, CheckStatus::Passed)
    );
    let watch = by_name("error-rate");
    assert_eq!(
        (watch.passed, watch.failed),
        (6, 0),
        "one hour every 10 minutes"
    );

    // The comparison: both canary phases and the monitoring window, candidate vs stable.
    let labels: Vec<_> = comparison.phases.iter().map(|p| p.label.as_str()).collect();
    assert_eq!(labels.len(), 3, "{labels:?}");
    assert!(
        labels[0].ends_with("(10%)") && labels[1].ends_with("(50%)"),
        "{labels:?}"
    );
    assert!(labels[2].starts_with("Monitoring (step "), "{labels:?}");
    let row = |m: &str| comparison.rows.iter().find(|r| r.metric == m).unwrap();
    let err = row("error_rate");
    assert_eq!(
        (err.baseline, err.result),
        (Some(0.001), CheckStatus::Passed)
    );
    let cells: Vec<_> = err
        .cells
        .iter()
        .map(|c| c.as_ref().map(|c| c.value))
        .collect();
    assert_eq!(cells, [Some(Some(0.002)), Some(Some(0.002)), None]);
    let lat = row("latency_p95");
    assert_eq!(lat.unit, "s");
    assert!((lat.baseline.unwrap() - 0.12).abs() < 1e-6, "{lat:?}");
    assert!((lat.threshold.unwrap() - 0.144).abs() < 1e-6, "{lat:?}");
    assert_eq!(lat.result, CheckStatus::Passed);
    let watched = row("error-rate");
    assert_eq!(watched.cells[2].as_ref().unwrap().samples, 6);

    // The ship report, as stored.
    assert!(md.starts_with("# Ship report: web 2.0.0 to production"));
    assert!(md.contains("**Status: SUCCESS**"));
    assert!(md.contains("| Previous version | 1.0.0 |"));
    assert!(md.contains("| Monitoring period | 1h |"));
    assert!(md.contains("| window | pass |"));
    assert!(md.contains("| canary-vs-stable | passed | 6 | 0 |"), "{md}");
    assert!(md.contains("## Comparison per phase"));
    let table_row = |m: &str| {
        md.lines()
            .find(|l| l.starts_with(&format!("| {m}")))
            .unwrap()
            .to_string()
    };
    let err_line = table_row("error_rate");
    assert!(
        err_line.contains("0.001") && err_line.contains("0.002"),
        "{err_line}"
    );
    let lat_line = table_row("latency_p95");
    assert!(
        lat_line.contains("0.12") && lat_line.contains("0.13"),
        "{lat_line}"
    );
}

#[tokio::test]
async fn friday_afternoon_is_blocked_by_the_window_before_anything_changes() {
    let s = setup();
    let (w, metrics) = world(FRIDAY_16_BERLIN);
    let report = run(&s, &w, &metrics).await;
    assert_eq!(report.status.phase, Phase::Blocked, "{:?}", report.status);
    assert_eq!(w.driver.actions(), vec![], "no action reached the platform");
    assert_eq!(w.driver.calls().total, 0);
    assert_eq!(
        lock_holder(&s).await,
        None,
        "the lock after the window was never taken"
    );

    let record = DeploymentRecord::from_report(&report, &meta()).unwrap();
    let md = ship_report(&record, None);
    let (json, md) = write(&s.root, &record, &md);
    assert_eq!(json["status"], "blocked");
    assert_eq!(record.status, DeploymentStatus::Blocked);
    let blocked = record.gates.last().unwrap();
    assert_eq!(
        (blocked.gate.as_str(), blocked.outcome.as_str()),
        ("window", "block")
    );
    let why = blocked.reason.clone().unwrap();
    assert_eq!(
        why,
        "outside the deploy window (now Friday 16:00 Europe/Berlin); next window opens \
         Monday 09:00 (2024-01-22 09:00 CET, in 2d17h)"
    );
    assert_eq!(
        record.gates.len(),
        3,
        "lock not checked: {:?}",
        record.gates
    );
    assert_eq!(json["reason"], format!("gate window blocked: {why}"));
    assert!(md.contains("**Status: BLOCKED (nothing changed)**"));
    assert!(md.contains("next window opens Monday 09:00"));
}
