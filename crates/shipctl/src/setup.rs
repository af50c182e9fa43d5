//! From a parsed rollout file to what the engine runs: the validators, gates and
//! notifiers, the stable revision, and the planned and checked [`RolloutSpec`]. Every
//! refusal is a [`FileError`] pointing at the field in the file.

pub use crate::driver::{platform, Mode, Platform};
use crate::file::{FileError, Loaded, MetricsFile, RolloutFile, StableFile, StrategyFile};
use crate::state::StateDir;
use shipcore::driver::Driver;
use shipcore::engine::{Engine, EngineBuilder, RolloutSpec, RunError};
use shipcore::gate::{Gate, Severity};
use shipcore::metrics::MetricsSource;
use shipcore::model::{Capabilities, FleetState, PlanError, Revision, Step, Target};
use shipcore::notify::Notifier;
use shipcore::strategy::{from_codedeploy_name, PlanContext, Strategy, StrategyConfig};
use shipcore::validator::{Validator, ValidatorDeps};
use std::collections::BTreeMap;
use std::sync::Arc;

/// The target of the file.
pub fn target(file: &RolloutFile) -> Target {
    Target {
        service: file.target.service.clone(),
        environment: file.target.environment.clone(),
        namespace: file.target.namespace.clone(),
    }
}

/// `<service>-<version>`: the default revision and rollout id.
fn default_id(file: &RolloutFile, version: &semver::Version) -> String {
    format!("{}-{version}", file.target.service)
}

/// The candidate revision.
pub fn candidate(file: &RolloutFile) -> Revision {
    let c = &file.candidate;
    let id = c.id.clone().unwrap_or_else(|| default_id(file, &c.version));
    Revision::new(id, c.version.clone(), c.artifact.clone())
}

/// The rollout id.
pub fn rollout_id(file: &RolloutFile) -> String {
    file.id
        .clone()
        .unwrap_or_else(|| default_id(file, &file.candidate.version))
}

/// The stable revision: as written, or what the driver reports serving (its version and
/// artifact from the state directory's revisions).
pub async fn stable(
    loaded: &Loaded,
    state: &StateDir,
    platform: &Platform,
    fleet: &FleetState,
) -> Result<Option<Revision>, FileError> {
    let file = &loaded.file;
    match &file.stable {
        StableFile::None => Ok(None),
        StableFile::Revision(r) => {
            let id = r.id.clone().unwrap_or_else(|| default_id(file, &r.version));
            let rev = Revision::new(id, r.version.clone(), r.artifact.clone());
            // A fresh simulator has nothing running: give it the stable revision.
            if let Some(sim) = &platform.sim {
                if fleet.revisions.is_empty() {
                    sim.driver
                        .seed_stable(&target(file), &rev, file.replicas.max(1));
                }
            }
            Ok(Some(rev))
        }
        StableFile::Observed => {
            let serving = fleet
                .revisions
                .iter()
                .filter(|r| r.ready > 0 || r.weight > 0)
                .max_by_key(|r| (r.weight, r.ready));
            let Some(serving) = serving else {
                return Ok(None);
            };
            let id = serving.revision.as_str().to_string();
            match state.revision(&id) {
                Some(rev) => Ok(Some(rev)),
                None => Err(loaded.error(
                    "stable",
                    format!(
                        "the driver reports {id} serving, but {} has no record of its version \
                         and artifact; write stable: {{id: {id}, version: ..., artifact: ...}}",
                        state.dir().display()
                    ),
                )),
            }
        }
    }
}

/// A severity preset's pacing ([`Severity::pause_per_phase`]: 10, 15 or 30 minutes): every
/// phase of the rollout, from a step that sends the candidate part of the traffic (a weight
/// or a flag between 0 and 100%) through the analyses and gates that judge it, ends with
/// that pause, unless the phase already pauses (a timed pause of the file's own, or a wait
/// for promotion, is kept as written).
pub fn pace(plan: &mut shipcore::model::Plan, severity: Severity) {
    let partial = |step: &Step| match step {
        Step::SetWeight { percent } | Step::SetFlag { percent, .. } => {
            *percent > 0 && *percent < 100
        }
        _ => false,
    };
    let mut i = 0;
    while i < plan.steps.len() {
        if partial(&plan.steps[i]) {
            let mut end = i + 1;
            while matches!(
                plan.steps.get(end),
                Some(Step::Analysis(_) | Step::Gate { .. })
            ) {
                end += 1;
            }
            if !matches!(plan.steps.get(end), Some(Step::Pause { .. })) {
                plan.steps.insert(
                    end,
                    Step::Pause {
                        duration: Some(severity.pause_per_phase()),
                    },
                );
            }
            i = end;
        }
        i += 1;
    }
}

/// The file's strategy as the library's configuration, or the error placed in the file.
pub fn strategy(loaded: &Loaded) -> Result<StrategyConfig, FileError> {
    let s = &loaded.file.strategy;
    Ok(match s {
        StrategyFile::Rolling(x) => StrategyConfig::Rolling(x.clone()),
        StrategyFile::BlueGreen(x) => StrategyConfig::BlueGreen(x.clone()),
        StrategyFile::Canary(x) => StrategyConfig::Canary(x.clone()),
        StrategyFile::Linear(x) => StrategyConfig::Linear(x.clone()),
        StrategyFile::Recreate(x) => StrategyConfig::Recreate(x.clone()),
        StrategyFile::FeatureFlag(x) => StrategyConfig::FeatureFlag(x.clone()),
        StrategyFile::Codedeploy(name) => from_codedeploy_name(name)
            .map_err(|e| loaded.error("strategy.codedeploy", problem_of(&e)))?,
    })
}

/// A plan error's message without its field (the field is shown separately).
fn problem_of(e: &PlanError) -> String {
    match e {
        PlanError::Invalid(f) => f.problem.clone(),
        other => {
            let text = other.to_string();
            let field = format!("{}: ", other.field());
            text.strip_prefix(&field).unwrap_or(&text).to_string()
        }
    }
}

/// A plan error from the strategy, placed at the field under `strategy.<key>`.
fn strategy_error(loaded: &Loaded, e: &PlanError) -> FileError {
    let key = loaded.file.strategy.key();
    let top = e.field().split(['.', '[']).next().unwrap_or_default();
    let field = if matches!(top, "replicas" | "candidate" | "stable" | "target") {
        // The plan context's fields are the file's own top-level fields.
        e.field().to_string()
    } else if key == "codedeploy" || e.field().is_empty() {
        format!("strategy.{key}")
    } else {
        format!("strategy.{key}.{}", e.field())
    };
    loaded.error(&field, problem_of(e))
}

/// Everything a run needs, checked.
pub struct Prepared {
    /// The rollout request.
    pub spec: RolloutSpec,
    /// What the driver can do.
    pub capabilities: Capabilities,
    /// The fleet before the rollout.
    pub fleet: FleetState,
    /// Validators, gates and notifiers, built.
    pub parts: Parts,
}

/// The file's validators, gates and notifiers, built.
#[derive(Default)]
pub struct Parts {
    validators: Vec<Arc<dyn Validator>>,
    gates: Vec<Arc<dyn Gate>>,
    notifiers: Vec<Arc<dyn Notifier>>,
    migrators: Vec<Arc<dyn shipcore::migrate::Migrator>>,
    /// Names of the `migrations` section's gates (lint, backup), checked after the file's.
    migration_gates: Vec<String>,
}

impl Parts {
    /// An engine builder on `platform`'s driver and clock with every part registered.
    pub fn builder(&self, platform: &Platform) -> EngineBuilder {
        let mut b = Engine::builder(platform.driver.clone(), platform.clock.clone());
        for v in &self.validators {
            b = b.validator(v.clone());
        }
        for g in &self.gates {
            b = b.gate(g.clone());
        }
        for n in &self.notifiers {
            b = b.notifier(n.clone());
        }
        for m in &self.migrators {
            b = b.migrator(m.clone());
        }
        b
    }
}

/// Checks that names are unique within `names` (a list field of the file).
fn unique<'a>(
    loaded: &Loaded,
    list: &str,
    names: impl Iterator<Item = &'a str>,
) -> Result<(), FileError> {
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, n) in names.enumerate() {
        if let Some(first) = seen.insert(n, i) {
            return Err(loaded.error(
                &format!("{list}[{i}].name"),
                format!("{n:?} is already the name of {list}[{first}]"),
            ));
        }
    }
    Ok(())
}

/// The CloudWatch source of the file's `metrics.cloudwatch`: the library's configuration,
/// checked, and a client for it (nothing is called until a measurement).
#[cfg(feature = "cloudwatch")]
pub async fn cloudwatch(
    loaded: &Loaded,
    c: &crate::file::CloudWatchFile,
) -> Result<Arc<dyn MetricsSource>, FileError> {
    use shipcore_metrics_cloudwatch::{CloudWatchConfig, CloudWatchSource};
    let mut cfg = CloudWatchConfig::new(c.region.clone().unwrap_or_default());
    if let Some(e) = &c.endpoint {
        cfg = cfg.endpoint(e.clone());
    }
    if let Some(t) = c.timeout {
        cfg = cfg.timeout(t);
    }
    if let Some(t) = c.connect_timeout {
        cfg.connect_timeout = t;
    }
    if let Some(l) = c.lookback {
        cfg = cfg.lookback(l);
    }
    if let Some(p) = c.max_pages {
        cfg.max_pages = p;
    }
    if let Some(d) = c.max_datapoints {
        cfg.max_datapoints = d;
    }
    let source = CloudWatchSource::connect(cfg).await.map_err(|e| {
        loaded.error(
            &format!("metrics.cloudwatch.{}", e.field),
            e.problem.clone(),
        )
    })?;
    Ok(Arc::new(source))
}

/// Without the `cloudwatch` feature: says how to build a shipctl with it.
#[cfg(not(feature = "cloudwatch"))]
pub async fn cloudwatch(
    loaded: &Loaded,
    _c: &crate::file::CloudWatchFile,
) -> Result<Arc<dyn MetricsSource>, FileError> {
    Err(loaded.error(
        "metrics.cloudwatch",
        "this shipctl was built without the CloudWatch source: build it with \
         `--features cloudwatch`",
    ))
}

/// Builds the validators, gates and notifiers (connecting the metrics source).
pub async fn parts(loaded: &Loaded, platform: &Platform) -> Result<Parts, FileError> {
    let file = &loaded.file;
    let metrics: Option<Arc<dyn MetricsSource>> = match &file.metrics {
        None => platform.metrics.clone(),
        Some(MetricsFile::Sim {}) => match &platform.metrics {
            Some(m) => Some(m.clone()),
            None => {
                return Err(loaded.error("metrics.sim", "the simulator's metrics need driver: sim"))
            }
        },
        Some(MetricsFile::Prometheus(cfg)) => {
            let source = metrics_prom::PrometheusSource::new(cfg.clone()).map_err(|e| {
                loaded.error(
                    &format!("metrics.prometheus.{}", e.field),
                    e.problem.clone(),
                )
            })?;
            Some(Arc::new(source))
        }
        Some(MetricsFile::Cloudwatch(cfg)) => Some(cloudwatch(loaded, cfg).await?),
    };
    let deps = ValidatorDeps { metrics };
    unique(
        loaded,
        "validators",
        file.validators.iter().map(|v| v.name()),
    )?;
    unique(loaded, "gates", file.gates.iter().map(|g| g.name()))?;
    let mut parts = Parts::default();
    for (i, v) in file.validators.iter().enumerate() {
        let built = v.build(&deps).map_err(|e| {
            let field = if e.field == "metrics" {
                "metrics".to_string()
            } else {
                format!("validators[{i}].{}", e.field)
            };
            let problem = if e.field == "metrics" {
                format!("validators[{i}] ({}) {}", v.name(), e.problem)
            } else {
                e.problem.clone()
            };
            loaded.error(&field, problem)
        })?;
        parts.validators.push(built);
    }
    for (i, g) in file.gates.iter().enumerate() {
        let built = g
            .build()
            .map_err(|e| loaded.error(&format!("gates[{i}].{}", e.field), e.problem.clone()))?;
        parts.gates.push(built);
    }
    for (i, n) in file.notifiers.iter().enumerate() {
        let built = n
            .build()
            .map_err(|e| loaded.error(&format!("notifiers[{i}].{}", e.field), e.problem.clone()))?;
        parts.notifiers.push(built);
    }
    if let Some(m) = &file.migrations {
        let built = crate::migrations::build(loaded, m)?;
        for g in built.gates {
            let name = g.name().to_string();
            if let Some(i) = file.gates.iter().position(|fg| fg.name() == name) {
                return Err(loaded.error(
                    &format!("gates[{i}].name"),
                    format!("{name:?} is also the name of a gate of `migrations.postgres`"),
                ));
            }
            parts.migration_gates.push(name);
            parts.gates.push(g);
        }
        parts.migrators.push(built.migrator);
    }
    Ok(parts)
}

/// Observes the platform, resolves the stable revision, plans, and checks the spec against
/// the driver and the registered names (nothing is applied).
pub async fn prepare(
    loaded: &Loaded,
    state: &StateDir,
    platform: &Platform,
) -> Result<Prepared, FileError> {
    let file = &loaded.file;
    // The names that default ids are made of are checked first, so an error names them
    // rather than the id made from them.
    let t = &file.target;
    let names = [
        ("target.service", Some(&t.service)),
        ("target.environment", Some(&t.environment)),
        ("target.namespace", t.namespace.as_ref()),
        ("candidate.id", file.candidate.id.as_ref()),
        ("id", file.id.as_ref()),
    ];
    for (field, value) in names {
        if let Some(v) = value {
            shipcore::model::check_identifier(field, v)
                .map_err(|e| loaded.error(field, e.problem))?;
        }
    }
    let target = target(file);
    let parts = parts(loaded, platform).await?;
    let strategy = strategy(loaded)?;
    let observed = observe(loaded, platform, &target).await?;
    let stable = stable(loaded, state, platform, &observed).await?;
    // The fleet again: a fresh simulator was just given its stable revision.
    let fleet = observe(loaded, platform, &target).await?;
    let capabilities = platform.driver.capabilities();
    let candidate = candidate(file);
    let ctx = PlanContext {
        target: target.clone(),
        stable: stable.clone(),
        candidate: candidate.clone(),
        replicas: file.replicas,
        capabilities,
    };
    let mut plan = strategy
        .plan(&ctx)
        .map_err(|e| strategy_error(loaded, &e))?;
    if let Some(severity) = file.severity {
        pace(&mut plan, severity);
        if file.monitoring.is_none() {
            return Err(loaded.error(
                "monitoring",
                format!(
                    "missing: severity {severity} watches the candidate for {} after the \
                     rollout (the preset's post-deploy monitoring): add `monitoring: \
                     {{validators: [...]}}` naming the validators to watch with",
                    shipcore::time::format_duration(severity.monitoring_window())
                ),
            ));
        }
    }
    if let Some(m) = &file.monitoring {
        let names: Vec<&str> = m.validators.iter().map(String::as_str).collect();
        // The preset's monitoring (its window, every minute), or the file's own window.
        let mut mon = match (m.window, file.severity) {
            (Some(w), _) => shipcore::model::Monitoring::new(&names, w),
            (None, Some(s)) => s.monitoring(&names),
            (None, None) => {
                return Err(loaded.error(
                    "monitoring.window",
                    "missing: give a window (\"4h\") or a severity (P0, P1, P2)",
                ))
            }
        };
        if let Some(every) = m.every {
            mon = mon.every(every);
        }
        let step = mon
            .to_step()
            .map_err(|e| loaded.error(&format!("monitoring.{}", e.field()), problem_of(&e)))?;
        plan = plan.with_monitoring(step);
    }
    if let Some(m) = &file.migrations {
        plan = crate::migrations::add_steps(m, plan);
    }
    let mut spec = RolloutSpec::new(rollout_id(file), target, stable, candidate, plan);
    spec.gates = file.gates.iter().map(|g| g.name().to_string()).collect();
    spec.gates.extend(parts.migration_gates.iter().cloned());
    spec.background_analysis = file.background_analysis.clone();
    spec.health_validators = file.health_validators.clone();
    if let Some(d) = file.progress_deadline {
        spec.progress_deadline = d;
    }
    if let Some(p) = file.failure_policy {
        spec.failure_policy = p;
    }
    if let Some(d) = file.poll_interval {
        spec.poll_interval = d;
    }
    if let Some(r) = &file.retry {
        spec.retry = r.clone();
    }
    spec.validate().map_err(|e| spec_error(loaded, &e))?;
    let engine = parts.builder(platform).build();
    engine.preflight(&spec).map_err(|e| match e {
        RunError::Plan(p) => spec_error(loaded, &p),
        RunError::UnknownValidator { name, .. } => loaded.error(
            &find_use(loaded, &name),
            format!("validator {name:?} is not defined under `validators`"),
        ),
        RunError::UnknownGate { name, .. } => loaded.error(
            &find_use(loaded, &name),
            format!("gate {name:?} is not defined under `gates`"),
        ),
        other => loaded.error("<document>", other.to_string()),
    })?;
    Ok(Prepared {
        spec,
        capabilities,
        fleet,
        parts,
    })
}

/// A spec error placed in the file: spec fields are the file's (`target.service`,
/// `candidate.id`); plan fields belong to the strategy that made the plan.
fn spec_error(loaded: &Loaded, e: &PlanError) -> FileError {
    let f = e.field();
    let field = if f.starts_with("plan") || f.starts_with("steps") {
        format!("strategy.{}", loaded.file.strategy.key())
    } else if f.is_empty() {
        "<document>".to_string()
    } else {
        f.to_string()
    };
    let problem = if field.starts_with("strategy.") && !f.is_empty() {
        format!("{f}: {}", problem_of(e))
    } else {
        problem_of(e)
    };
    loaded.error(&field, problem)
}

/// The first place in the file where `name` is written as a value (a step naming a
/// validator or gate), or the document.
fn find_use(loaded: &Loaded, name: &str) -> String {
    loaded
        .index
        .path_of_value(name)
        .unwrap_or_else(|| "<document>".into())
}

/// What the driver serves for `target` now; an error names the driver field.
async fn observe(
    loaded: &Loaded,
    platform: &Platform,
    target: &Target,
) -> Result<FleetState, FileError> {
    platform.driver.observe(target).await.map_err(|e| {
        loaded.error(
            "driver",
            format!(
                "cannot observe {} in {}: {e}",
                target.service, target.environment
            ),
        )
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::file::CloudWatchFile;
    use std::path::Path;

    use crate::file::tests_support::BASE;

    fn loaded(metrics: &str) -> Result<Loaded, FileError> {
        Loaded::parse(
            Path::new("r.yaml"),
            format!("{BASE}metrics:\n  cloudwatch: {{{metrics}}}\n"),
        )
    }

    fn section(l: &Loaded) -> &CloudWatchFile {
        match &l.file.metrics {
            Some(MetricsFile::Cloudwatch(c)) => c,
            other => panic!("not cloudwatch: {other:?}"),
        }
    }

    #[test]
    fn a_cloudwatch_section_parses_with_or_without_the_feature() {
        let l = loaded("region: eu-west-1, lookback: 10m, max_pages: 3").unwrap();
        let c = section(&l);
        assert_eq!(c.region.as_deref(), Some("eu-west-1"));
        assert_eq!(c.lookback, Some(std::time::Duration::from_secs(600)));
        assert_eq!(c.max_pages, Some(3));
        let e = loaded("regoin: eu-west-1").unwrap_err();
        assert_eq!(e.field, "metrics.cloudwatch.regoin", "{e}");
        let e = loaded("lookback: soon").unwrap_err();
        assert_eq!(e.field, "metrics.cloudwatch.lookback", "{e}");
    }

    #[cfg(not(feature = "cloudwatch"))]
    #[tokio::test]
    async fn without_the_feature_cloudwatch_says_how_to_build_it() {
        let l = loaded("region: eu-west-1").unwrap();
        let e = cloudwatch(&l, section(&l)).await.err().unwrap();
        assert_eq!(e.field, "metrics.cloudwatch");
        assert!(e.problem.contains("--features cloudwatch"), "{e}");
        assert_eq!(e.pos.unwrap().line, 7, "{e}");
    }

    #[cfg(feature = "cloudwatch")]
    #[tokio::test]
    async fn the_section_is_checked_by_the_sources_own_config() {
        // A good section connects without calling CloudWatch (the endpoint is not there).
        let l = loaded("region: us-east-1, endpoint: 'http://127.0.0.1:1', timeout: 2s").unwrap();
        assert!(cloudwatch(&l, section(&l)).await.is_ok());
        for (body, field, problem) in [
            (
                "region: EU West",
                "metrics.cloudwatch.region",
                "not an AWS region",
            ),
            (
                "region: us-east-1, endpoint: 'ftp://x'",
                "metrics.cloudwatch.endpoint",
                "not an http(s) URL",
            ),
            (
                "region: us-east-1, lookback: 0s",
                "metrics.cloudwatch.lookback",
                "greater than zero",
            ),
            (
                "region: us-east-1, connect_timeout: 0s",
                "metrics.cloudwatch.connect_timeout",
                "greater than zero",
            ),
            (
                "region: us-east-1, max_datapoints: 0",
                "metrics.cloudwatch.max_datapoints",
                "at least 1",
            ),
        ] {
            let l = loaded(body).unwrap();
            let e = cloudwatch(&l, section(&l)).await.err().unwrap();
            assert_eq!(e.field, field, "{body}: {e}");
            assert!(e.problem.contains(problem), "{body}: {e}");
            assert_eq!(e.pos.map(|p| p.line), Some(7), "{body}: {e}");
        }
    }
}
