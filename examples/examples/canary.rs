//! A 10% → 50% → 100% canary of `checkout` 1.4.0 → 1.5.0 on the built-in simulator, judged
//! every minute by an error-rate threshold and a p95 latency threshold. By default 1.5.0
//! fails 12% of its requests: the analysis at 10% fails and the engine rolls back on its own.
//! With `--good` the same canary is healthy and promoted. An hour of rollout runs in
//! milliseconds on the simulated clock.
//!
//! `--html FILE` also writes the rollout's self-contained HTML report (timeline, steps,
//! comparison, record) to FILE and its DEPLOY.md runbook next to it (`FILE.DEPLOY.md`,
//! linked from the report). `--history-html FILE` runs a simulated fortnight of canaries of
//! two services (some good; checkout 1.5.0 breaks at 50% and is rolled back, 1.5.1 restores
//! it; payments 3.1.0 is rolled back and never restored), saves their records in
//! a record store (`<FILE's folder>/<FILE's stem>-records/`), and writes the history page
//! (DORA keys, one row per deployment) to FILE with each deployment's report beside it
//! (`<id>.html`).
//!
//! ```sh
//! cargo run --example canary            # bad 1.5.0: automatic rollback
//! cargo run --example canary -- --good  # healthy 1.5.0: promoted to 100%
//! cargo run --example canary -- --html canary.html --history-html history.html
//! ```

use shipcore::engine::{Event, EventKind, Phase, RolloutSpec, RunReport, Runner};
use shipcore::journal::MemoryJournal;
use shipcore::model::{AnalysisPolicy, AnalysisStep, Capabilities, Revision, Target};
use shipcore::record::html::{render_history, render_report, HistoryOptions, ReportOptions};
use shipcore::record::time_fmt::{format_iso8601, parse_iso8601};
use shipcore::record::{runbook, DeploymentRecord, RecordMeta, RecordStore};
use shipcore::strategy::{Canary, CanaryStep, PauseSpec, PlanContext, Strategy};
use shipcore::testing::{Failure, SimConfig, SimWorld};
use shipcore::validator::ThresholdConfig;
use shipcore_examples::{print_outcome, printer, Result};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// The command line: `[--good] [--html FILE] [--history-html FILE]`.
struct Args {
    good: bool,
    html: Option<PathBuf>,
    history_html: Option<PathBuf>,
}

fn parse_args() -> Result<Args> {
    let mut args = Args {
        good: false,
        html: None,
        history_html: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--good" => args.good = true,
            "--html" | "--history-html" => {
                let file = it
                    .next()
                    .filter(|f| !f.starts_with("--"))
                    .ok_or_else(|| format!("{a} needs a file name (`{a} report.html`)"))?;
                let slot = if a == "--html" {
                    &mut args.html
                } else {
                    &mut args.history_html
                };
                *slot = Some(PathBuf::from(file));
            }
            other => {
                return Err(format!(
                    "unknown argument {other:?} (expected --good, --html FILE, --history-html FILE)"
                )
                .into())
            }
        }
    }
    Ok(args)
}

/// When the candidate starts failing 12% of its requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fails {
    /// Never: a healthy candidate.
    Never,
    /// From the start.
    AtOnce,
    /// From the second measurement after the step that sets this candidate weight (a bug
    /// that shows under load).
    AtWeight(u8),
}

/// Runs one canary of `service` from `old` to `new` in `world`, the candidate failing as
/// `fails` says; prints the events when `print`.
async fn canary(
    world: &SimWorld,
    service: &str,
    (old, new): (&str, &str),
    fails: Fails,
    print: bool,
) -> Result<RunReport> {
    let target = Target::new(service, "production");
    let v1 = Revision::new(
        format!("{service}-v1"),
        old.parse()?,
        format!("registry/{service}:{old}"),
    );
    let v2 = Revision::new(
        format!("{service}-v2"),
        new.parse()?,
        format!("registry/{service}:{new}"),
    );
    world.driver.seed_stable(&target, &v1, 4);
    if fails == Fails::AtOnce {
        world.driver.inject(&v2, Failure::error_rate(0.12))?;
    }

    // Each phase: five measurements a minute apart; one failure is enough to roll back.
    let analysis = || {
        CanaryStep::Analysis(AnalysisStep {
            validators: vec!["error-rate".into(), "latency-p95".into()],
            policy: AnalysisPolicy::every(Duration::from_secs(60), 5),
        })
    };
    let canary = Canary {
        steps: vec![
            CanaryStep::SetWeight(10),
            analysis(),
            CanaryStep::Pause(PauseSpec(Some(Duration::from_secs(300)))),
            CanaryStep::SetWeight(50),
            analysis(),
            CanaryStep::Pause(PauseSpec(Some(Duration::from_secs(300)))),
            CanaryStep::SetWeight(100),
            analysis(),
        ],
        scale_down_delay: Duration::from_secs(60),
        ..Canary::default()
    };
    let plan = canary.plan(&PlanContext {
        target: target.clone(),
        stable: Some(v1.clone()),
        candidate: v2.clone(),
        replicas: 4,
        capabilities: world.driver_arc().capabilities(),
    })?;
    let spec = RolloutSpec::new(
        format!("{service}-{new}"),
        target.clone(),
        Some(v1),
        v2.clone(),
        plan,
    );

    let mut error_rate =
        ThresholdConfig::above("error-rate", r#"error_rate{revision="{{revision}}"}"#, 0.05);
    error_rate.warning = Some(0.01);
    let latency = ThresholdConfig::above(
        "latency-p95",
        r#"latency_p95{revision="{{revision}}"}"#,
        0.5,
    );
    let mut builder = Runner::builder(
        world.driver_arc(),
        world.clock_arc(),
        Arc::new(MemoryJournal::new()),
    )
    .validator(Arc::new(error_rate.build(world.metrics_arc())?))
    .validator(Arc::new(latency.build(world.metrics_arc())?));
    if print {
        builder = builder.on_event(printer(world.now()));
    } else if let Fails::AtWeight(w) = fails {
        let (driver, candidate) = (world.driver.clone(), v2.clone());
        let step = format!("weight {w}%");
        let reached = std::sync::atomic::AtomicBool::new(false);
        builder = builder.on_event(move |ev: &Event| match &ev.kind {
            EventKind::StepStarted { description, .. } if description.ends_with(&step) => {
                reached.store(true, std::sync::atomic::Ordering::SeqCst);
            }
            EventKind::Measured { .. }
                if reached.swap(false, std::sync::atomic::Ordering::SeqCst) =>
            {
                // The fault is valid (a fraction in 0..=1): injecting it cannot fail.
                let _ = driver.inject(&candidate, Failure::error_rate(0.12));
            }
            _ => {}
        });
    }
    let mut runner = builder.build();

    let wall = std::time::Instant::now();
    let report = runner.start(spec).await?;
    if print {
        print_outcome(&report, &world.driver.fleet(&target), wall.elapsed());
    }
    Ok(report)
}

/// Writes `report`'s HTML report to `file` and its runbook to `file.DEPLOY.md`.
fn write_report(
    report: &RunReport,
    record: &DeploymentRecord,
    caps: &Capabilities,
    file: &Path,
) -> Result<()> {
    let mut options = ReportOptions::default();
    if let Some(spec) = &report.spec {
        let name = file
            .file_name()
            .map(|n| format!("{}.DEPLOY.md", n.to_string_lossy()))
            .ok_or_else(|| format!("{} is not a file name", file.display()))?;
        std::fs::write(file.with_file_name(&name), runbook(spec, caps))
            .map_err(|e| format!("cannot write {name}: {e}"))?;
        options.runbook_href = Some(name);
    }
    let html = render_report(record, &report.events, &options);
    std::fs::write(file, html).map_err(|e| format!("cannot write {}: {e}", file.display()))?;
    Ok(())
}

/// One deployment of the simulated history.
struct Deployment {
    service: &'static str,
    old: &'static str,
    new: &'static str,
    fails: Fails,
    start: &'static str,
    /// When its change was committed, if known.
    commit: Option<&'static str>,
}

const fn deploy(
    service: &'static str,
    (old, new): (&'static str, &'static str),
    fails: Fails,
    start: &'static str,
    commit: Option<&'static str>,
) -> Deployment {
    Deployment {
        service,
        old,
        new,
        fails,
        start,
        commit,
    }
}

/// A simulated fortnight. checkout 1.5.0 breaks a minute into its 50% phase and is rolled
/// back; 1.5.1 restores it; payments 3.1.0 breaks at once and is never followed by a success.
const SERIES: [Deployment; 8] = [
    deploy(
        "checkout",
        ("1.1.0", "1.2.0"),
        Fails::Never,
        "2026-11-02T09:00:00Z",
        Some("2026-10-30T16:20:00Z"),
    ),
    deploy(
        "payments",
        ("2.9.0", "3.0.0"),
        Fails::Never,
        "2026-11-03T10:00:00Z",
        None,
    ),
    deploy(
        "checkout",
        ("1.2.0", "1.3.0"),
        Fails::Never,
        "2026-11-04T11:00:00Z",
        Some("2026-11-03T15:00:00Z"),
    ),
    deploy(
        "checkout",
        ("1.3.0", "1.4.0"),
        Fails::Never,
        "2026-11-06T09:30:00Z",
        Some("2026-11-05T17:45:00Z"),
    ),
    deploy(
        "payments",
        ("3.0.0", "3.1.0"),
        Fails::AtOnce,
        "2026-11-09T14:00:00Z",
        None,
    ),
    deploy(
        "checkout",
        ("1.4.0", "1.5.0"),
        Fails::AtWeight(50),
        "2026-11-11T10:00:00Z",
        Some("2026-11-10T12:00:00Z"),
    ),
    deploy(
        "checkout",
        ("1.4.0", "1.5.1"),
        Fails::Never,
        "2026-11-11T15:00:00Z",
        Some("2026-11-11T13:10:00Z"),
    ),
    deploy(
        "checkout",
        ("1.5.1", "1.6.0"),
        Fails::Never,
        "2026-11-13T09:00:00Z",
        Some("2026-11-12T18:00:00Z"),
    ),
];

/// Runs [`SERIES`], saves the records in a store next to `file`, writes the history page
/// to `file` and each deployment's report beside it.
async fn write_history(file: &Path) -> Result<()> {
    let dir = file
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let stem = file
        .file_stem()
        .ok_or_else(|| format!("{} is not a file name", file.display()))?;
    let store = RecordStore::open(dir.join(format!("{}-records", stem.to_string_lossy())))?;
    for (i, d) in SERIES.iter().enumerate() {
        let start = parse_iso8601(d.start)?;
        let world = SimWorld::with_config(SimConfig::seeded(100 + i as u64), start)?;
        let report = canary(&world, d.service, (d.old, d.new), d.fails, false).await?;
        let mut meta = RecordMeta::new("example-pipeline");
        meta.changes.committed_at = d.commit.map(str::to_string);
        let record = DeploymentRecord::from_report(&report, &meta)?;
        let caps = world.driver_arc().capabilities();
        write_report(
            &report,
            &record,
            &caps,
            &dir.join(format!("{}.html", record.id)),
        )?;
        store.save(&record)?;
    }
    let records = store.all()?;
    let options = HistoryOptions {
        report_href: Some("{id}.html".into()),
        title: Some(format!(
            "Deployment history (simulated, from {})",
            format_iso8601(parse_iso8601(SERIES[0].start)?)
        )),
    };
    std::fs::write(file, render_history(&records, &options))
        .map_err(|e| format!("cannot write {}: {e}", file.display()))?;
    println!(
        "history page of {} deployments: {} (records in {})",
        records.len(),
        file.display(),
        store.dir().display()
    );
    Ok(())
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<()> {
    let args = parse_args()?;
    let world = SimWorld::new(42);
    let fails = if args.good {
        Fails::Never
    } else {
        Fails::AtOnce
    };
    let report = canary(&world, "checkout", ("1.4.0", "1.5.0"), fails, true).await?;
    let expected = if args.good {
        Phase::Succeeded
    } else {
        Phase::RolledBack
    };
    if report.status.phase != expected {
        return Err(format!("expected {expected:?}, ended {:?}", report.status.phase).into());
    }
    if let Some(file) = &args.html {
        let record = DeploymentRecord::from_report(&report, &RecordMeta::new("example"))?;
        write_report(&report, &record, &world.driver_arc().capabilities(), file)?;
        println!("HTML report: {}", file.display());
    }
    if let Some(file) = &args.history_html {
        write_history(file).await?;
    }
    Ok(())
}
