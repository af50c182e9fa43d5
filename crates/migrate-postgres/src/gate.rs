//! [`MigrationLintGate`]: a [`Gate`] that lints migration files with squawk before a rollout
//! and blocks it on the unsafe operations (dropping or renaming a column, changing a type,
//! a NOT NULL column without a default, a non-concurrent index, long locks...), naming
//! file, line and rule, unless the rollout allows that rule.

use crate::dir_migrator::PgDirMigrator;
use crate::layout::{scan_all, MigrationFile};
use crate::lint::{lint_file, Finding, RuleSet, UnknownRule};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use shipcore::gate::{Gate, GateContext, GateOutcome};
use shipcore::migrate::{MigrateError, MigrationPhase};
use shipcore::model::FieldError;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// A lint gate configuration value is wrong, shown as
/// `invalid migration lint gate configuration: field: problem`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid migration lint gate configuration: {0}")]
pub struct LintConfigError(pub FieldError);

shipcore::field_error_wrapper!(LintConfigError);

/// Configuration of a [`MigrationLintGate`] that lints every file of a directory.
///
/// ```
/// let c: shipcore_migrate_postgres::LintConfig = serde_json::from_str(r#"{
///     "name": "migration-safety",
///     "dir": "migrations",
///     "allow": ["ban-drop-column"]
/// }"#).unwrap();
/// assert!(c.build().is_ok());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct LintConfig {
    /// Gate name (default `migration-lint`).
    #[serde(default = "default_name")]
    pub name: String,
    /// The migrations directory (`expand/`, `contract/`).
    pub dir: PathBuf,
    /// The phases to lint (default both).
    #[serde(default = "both_phases")]
    pub phases: Vec<MigrationPhase>,
    /// squawk rules allowed for this rollout: their findings do not block.
    #[serde(default)]
    pub allow: Vec<String>,
    /// squawk rules to run on top of the default set (opt-in rules such as
    /// `require-lock-timeout`, or the style rules left out by default).
    #[serde(default)]
    pub include: Vec<String>,
}

fn default_name() -> String {
    "migration-lint".into()
}
fn both_phases() -> Vec<MigrationPhase> {
    vec![MigrationPhase::Expand, MigrationPhase::Contract]
}

impl LintConfig {
    /// A gate linting every file of `dir`, both phases, default rules.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        LintConfig {
            name: default_name(),
            dir: dir.into(),
            phases: both_phases(),
            allow: Vec::new(),
            include: Vec::new(),
        }
    }

    /// The same, allowing `rule` for this rollout.
    #[must_use]
    pub fn allow(mut self, rule: impl Into<String>) -> Self {
        self.allow.push(rule.into());
        self
    }

    /// The rule set this configuration runs: the default set, plus `include`, minus
    /// `allow`. Unknown names are refused, naming the entry.
    pub fn rules(&self) -> Result<RuleSet, LintConfigError> {
        let mut rules = RuleSet::default();
        for (i, r) in self.include.iter().enumerate() {
            rules = rules.include(r).map_err(|e: UnknownRule| {
                FieldError::new(format!("include[{i}]"), e.to_string())
            })?;
        }
        for (i, r) in self.allow.iter().enumerate() {
            rules = rules
                .allow(r)
                .map_err(|e: UnknownRule| FieldError::new(format!("allow[{i}]"), e.to_string()))?;
        }
        Ok(rules)
    }

    /// Checks the values and builds the gate (linting every file of the directory).
    pub fn build(&self) -> Result<MigrationLintGate, LintConfigError> {
        if self.name.trim().is_empty() {
            return Err(FieldError::new("name", "must not be empty").into());
        }
        if self.dir.as_os_str().is_empty() {
            return Err(FieldError::new("dir", "must not be empty").into());
        }
        if self.phases.is_empty() {
            return Err(FieldError::new("phases", "must name expand, contract or both").into());
        }
        let rules = self.rules()?;
        Ok(MigrationLintGate {
            name: self.name.clone(),
            phases: self.phases.clone(),
            rules,
            source: Source::Dir(self.dir.clone()),
        })
    }
}

#[derive(Debug, Clone)]
enum Source {
    Dir(PathBuf),
    Pending(Arc<PgDirMigrator>),
}

/// Lints migration files with squawk; blocks on any finding, naming file, line and rule.
///
/// Built from a [`LintConfig`] it lints every file of a directory; built with
/// [`for_pending`](Self::for_pending) it lints only what a [`PgDirMigrator`] has not
/// applied yet (the files this rollout would run).
#[derive(Debug, Clone)]
pub struct MigrationLintGate {
    name: String,
    phases: Vec<MigrationPhase>,
    rules: RuleSet,
    source: Source,
}

impl MigrationLintGate {
    /// A gate linting the pending files of `migrator`, in `cfg`'s phases with `cfg`'s
    /// rules (`cfg.dir` is not used: the migrator's directory is).
    pub fn for_pending(
        cfg: &LintConfig,
        migrator: Arc<PgDirMigrator>,
    ) -> Result<Self, LintConfigError> {
        let mut gate = cfg.build()?;
        gate.source = Source::Pending(migrator);
        Ok(gate)
    }

    /// The rules it runs.
    pub fn rules(&self) -> &RuleSet {
        &self.rules
    }

    async fn files(&self) -> Result<Vec<MigrationFile>, MigrateError> {
        match &self.source {
            Source::Dir(dir) => Ok(scan_all(dir)?
                .into_iter()
                .filter(|f| self.phases.contains(&f.phase))
                .collect()),
            Source::Pending(m) => {
                let mut out = Vec::new();
                for p in &self.phases {
                    out.extend(m.pending_files(*p).await?);
                }
                Ok(out)
            }
        }
    }

    /// Every finding in the files it lints, in file order.
    pub async fn findings(&self) -> Result<Vec<Finding>, MigrateError> {
        let files = self.files().await?;
        Ok(files
            .iter()
            .flat_map(|f| lint_file(f, &self.rules))
            .collect())
    }
}

#[async_trait]
impl Gate for MigrationLintGate {
    fn name(&self) -> &str {
        &self.name
    }

    async fn check(&self, _ctx: &GateContext) -> GateOutcome {
        let findings = match self.findings().await {
            Ok(f) => f,
            Err(e) if e.is_transient() => {
                return GateOutcome::wait(
                    Duration::from_secs(15),
                    format!("cannot list the pending migrations yet: {e}"),
                )
            }
            Err(e) => return GateOutcome::block(format!("cannot lint the migrations: {e}")),
        };
        if findings.is_empty() {
            return GateOutcome::Pass;
        }
        let mut reason = format!(
            "{} unsafe migration finding(s) (allow a rule for this rollout to accept it):",
            findings.len()
        );
        for f in &findings {
            reason += &format!("\n  {f}");
        }
        tracing::warn!(gate = %self.name, findings = findings.len(), "migrations blocked by lint");
        GateOutcome::block(reason)
    }
}
