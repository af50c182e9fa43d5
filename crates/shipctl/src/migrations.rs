//! The rollout file's `migrations:` section: a schema migrator (the team's own tool, or a
//! directory of PostgreSQL `.sql` files behind the `postgres` feature) whose expand runs
//! first and whose contract runs last, with optional lint and backup gates.

use crate::file::{FileError, Loaded};
use serde::Deserialize;
use shipcore::gate::Gate;
use shipcore::migrate::{CommandMigratorConfig, MigrationPhase, Migrator, PhaseCommand};
use shipcore::model::Plan;
use shipcore::time::serde_opt_duration;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Schema migrations run as plan steps: an expand first, a contract last.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MigrationsFile {
    /// The migrator's name in the plan and the record (default `db`).
    #[serde(default = "default_name")]
    pub name: String,
    /// A migrate-expand step before anything else (default true). Expand migrations must
    /// keep the stable revision working: it is judged with `health_validators` after them.
    #[serde(default = "yes")]
    pub expand: bool,
    /// A migrate-contract step last, after the promotion, the monitoring and the stable's
    /// retirement (default false).
    #[serde(default)]
    pub contract: bool,
    /// The team's own migration tool, one command per phase
    /// (`shipcore::migrate::CommandMigratorConfig` without its name).
    #[serde(default)]
    pub command: Option<CommandFile>,
    /// A directory of PostgreSQL `.sql` files (`shipcore-migrate-postgres`). Needs a
    /// shipctl built with `--features postgres`.
    #[serde(default)]
    pub postgres: Option<PostgresFile>,
}

fn default_name() -> String {
    "db".into()
}

fn yes() -> bool {
    true
}

/// The command migrator's settings (relative paths: from the rollout file's folder).
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CommandFile {
    /// What the expand phase runs: `{run: [argv], pending: [argv]}`.
    #[serde(default)]
    #[schemars(with = "Option<crate::schema::PhaseCommandSchema>")]
    pub expand: Option<PhaseCommand>,
    /// What the contract phase runs: `{run: [argv], pending: [argv]}`.
    #[serde(default)]
    #[schemars(with = "Option<crate::schema::PhaseCommandSchema>")]
    pub contract: Option<PhaseCommand>,
    /// A command printing every applied migration id, one per line.
    #[serde(default)]
    pub status: Option<Vec<String>>,
    /// Working directory (default: the rollout file's folder).
    #[serde(default)]
    pub cwd: Option<PathBuf>,
    /// Extra environment variables (secret-looking ones are hidden in output).
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// How long one command may run (default 30m).
    #[serde(default, with = "serde_opt_duration")]
    #[schemars(with = "Option<crate::schema::DurationText>")]
    pub timeout: Option<Duration>,
    /// Bytes of the end of stdout and stderr kept (default 4000).
    #[serde(default)]
    pub tail_bytes: Option<usize>,
    /// Exit codes meaning "nothing applied, retry" (75, `EX_TEMPFAIL`).
    #[serde(default)]
    pub transient_exit_codes: Vec<i32>,
}

/// The PostgreSQL directory migrator's settings.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PostgresFile {
    /// The environment variable holding the database URL (the URL is never in the file).
    pub url_env: String,
    /// The migrations directory (`expand/`, `contract/`), relative to the rollout file.
    pub dir: PathBuf,
    /// The table recording applied migrations (default `shipcore_migrations`).
    #[serde(default)]
    pub table: Option<String>,
    /// How long to wait for another applier's lock (default 5m).
    #[serde(default, with = "serde_opt_duration")]
    #[schemars(with = "Option<crate::schema::DurationText>")]
    pub lock_timeout: Option<Duration>,
    /// How long connecting may take (default 10s).
    #[serde(default, with = "serde_opt_duration")]
    #[schemars(with = "Option<crate::schema::DurationText>")]
    pub connect_timeout: Option<Duration>,
    /// squawk's lint of the pending files, as a gate before anything changes.
    #[serde(default)]
    pub lint: Option<LintFile>,
    /// A `pg_dump` backup, as a gate before anything changes, when a pending migration is
    /// destructive.
    #[serde(default)]
    pub backup: Option<BackupFile>,
}

/// The migration lint gate.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LintFile {
    /// Gate name (default `migration-lint`).
    #[serde(default)]
    pub name: Option<String>,
    /// Phases to lint (default both).
    #[serde(default)]
    #[schemars(with = "Option<Vec<crate::schema::PhaseName>>")]
    pub phases: Option<Vec<MigrationPhase>>,
    /// squawk rules allowed for this rollout (`ban-drop-column`).
    #[serde(default)]
    pub allow: Vec<String>,
    /// squawk rules added to the default set.
    #[serde(default)]
    pub include: Vec<String>,
}

/// The backup gate.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BackupFile {
    /// Where dumps go (relative to the rollout file; created if missing).
    pub dir: PathBuf,
    /// Gate name (default `migration-backup`).
    #[serde(default)]
    pub name: Option<String>,
    /// Phases whose destructive pending migrations need a backup (default both).
    #[serde(default)]
    #[schemars(with = "Option<Vec<crate::schema::PhaseName>>")]
    pub phases: Option<Vec<MigrationPhase>>,
    /// The `pg_dump` program (default `pg_dump` from `PATH`).
    #[serde(default)]
    pub pg_dump: Option<PathBuf>,
    /// How long `pg_dump` may run (default 1h).
    #[serde(default, with = "serde_opt_duration")]
    #[schemars(with = "Option<crate::schema::DurationText>")]
    pub timeout: Option<Duration>,
}

/// The section, built: the migrator and the gates to check before anything changes.
pub struct Built {
    /// The migrator, under the section's name.
    pub migrator: Arc<dyn Migrator>,
    /// Lint and backup gates, in the order they are checked.
    pub gates: Vec<Arc<dyn Gate>>,
}

impl std::fmt::Debug for Built {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Built")
            .field("migrator", &self.migrator.name())
            .field(
                "gates",
                &self.gates.iter().map(|g| g.name()).collect::<Vec<_>>(),
            )
            .finish()
    }
}

/// Adds the section's migrate steps to `plan`: expand first, contract last (call it after
/// the monitoring is in the plan).
pub fn add_steps(m: &MigrationsFile, plan: Plan) -> Plan {
    let mut plan = plan;
    if m.expand {
        plan = plan.with_expand(&m.name);
    }
    if m.contract {
        plan = plan.with_contract(&m.name);
    }
    plan
}

/// Lines for `shipctl plan`: which migrator runs which phases (never the URL), and what
/// judges the stable after the expand (`health`: the file's `health_validators`).
pub fn describe(m: &MigrationsFile, health: &[String]) -> String {
    let phases = match (m.expand, m.contract) {
        (true, true) => "expand first, contract last",
        (true, false) => "expand first",
        _ => "contract last",
    };
    let how = match (&m.command, &m.postgres) {
        (Some(c), _) => {
            let argv = |p: &Option<PhaseCommand>| {
                p.as_ref()
                    .map(|p| {
                        // A URL in the argv loses its userinfo and query (no secret in output).
                        let words: Vec<String> = p
                            .run
                            .iter()
                            .map(|w| match w.contains("://") {
                                true => shipcore::redact::url(w),
                                false => w.clone(),
                            })
                            .collect();
                        words.join(" ")
                    })
                    .unwrap_or_else(|| "-".into())
            };
            format!(
                "command (expand: {}; contract: {})",
                argv(&c.expand),
                argv(&c.contract)
            )
        }
        (None, Some(p)) => {
            let mut s = format!("postgres (dir {}, URL from ${}", p.dir.display(), p.url_env);
            if let Some(l) = &p.lint {
                s += &format!(
                    ", lint gate {}",
                    l.name.as_deref().unwrap_or("migration-lint")
                );
            }
            if let Some(b) = &p.backup {
                s += &format!(
                    ", backup gate {} into {}",
                    b.name.as_deref().unwrap_or("migration-backup"),
                    b.dir.display()
                );
            }
            s + ")"
        }
        (None, None) => "no migrator".into(),
    };
    let mut out = format!("migrations: {} by {how}: {phases}\n", m.name);
    if m.expand && health.is_empty() {
        out += "warning: migrations.expand: no health_validators: the stable is not judged \
                after the expand, so a schema change that breaks it goes unnoticed until the \
                candidate's analyses; name validators under `health_validators`\n";
    } else if m.expand {
        let _ = writeln!(
            out,
            "  after the expand, the stable is judged with [{}]; if it broke, the rollout \
             freezes (a rollback cannot undo a schema)",
            health.join(", ")
        );
    }
    out
}

/// Checks the section and builds its migrator and gates.
pub fn build(loaded: &Loaded, m: &MigrationsFile) -> Result<Built, FileError> {
    shipcore::model::check_identifier("migrations.name", &m.name)
        .map_err(|e| loaded.error("migrations.name", e.problem))?;
    if !m.expand && !m.contract {
        return Err(loaded.error(
            "migrations.expand",
            "neither expand nor contract is on: the section would run nothing; set \
             `expand: true` or `contract: true`, or remove `migrations`",
        ));
    }
    match (&m.command, &m.postgres) {
        (Some(c), None) => command(loaded, m, c),
        (None, Some(p)) => postgres(loaded, m, p),
        (Some(_), Some(_)) => Err(loaded.error(
            "migrations.postgres",
            "give one migrator, `command` or `postgres`, not both",
        )),
        (None, None) => Err(loaded.error(
            "migrations",
            "missing migrator: give `command: {expand: {run: [...]}}` or `postgres: {url_env: \
             ..., dir: ...}`",
        )),
    }
}

/// A phase the section runs but the migrator has nothing for.
fn missing_phase(loaded: &Loaded, field: &str, phase: &str) -> FileError {
    loaded.error(
        field,
        format!(
            "missing: `migrations.{phase}` is on, so the {phase} phase needs a command \
             (`{phase}: {{run: [...]}}`), or set `migrations.{phase}: false`"
        ),
    )
}

fn command(loaded: &Loaded, m: &MigrationsFile, c: &CommandFile) -> Result<Built, FileError> {
    for (on, cmd, phase) in [
        (m.expand, &c.expand, "expand"),
        (m.contract, &c.contract, "contract"),
    ] {
        if on && cmd.is_none() {
            return Err(missing_phase(loaded, "migrations.command", phase));
        }
    }
    let mut cfg = CommandMigratorConfig::new(m.name.clone());
    cfg.expand = c.expand.clone();
    cfg.contract = c.contract.clone();
    cfg.status = c.status.clone();
    cfg.cwd = Some(match &c.cwd {
        Some(dir) => loaded.base.join(dir),
        None => loaded.base.clone(),
    });
    cfg.env = c.env.clone();
    if let Some(t) = c.timeout {
        cfg.timeout = t;
    }
    if let Some(t) = c.tail_bytes {
        cfg.tail_bytes = t;
    }
    cfg.transient_exit_codes = c.transient_exit_codes.clone();
    let migrator = cfg.build().map_err(|e| {
        loaded.error(
            &format!("migrations.command.{}", e.0.field),
            e.0.problem.clone(),
        )
    })?;
    Ok(Built {
        migrator: Arc::new(migrator),
        gates: Vec::new(),
    })
}

/// The database URL from the environment variable `url_env` names.
#[cfg_attr(not(feature = "postgres"), allow(dead_code))]
fn url_from_env(loaded: &Loaded, p: &PostgresFile) -> Result<String, FileError> {
    let field = "migrations.postgres.url_env";
    let var = p.url_env.trim();
    if var.is_empty() || var.contains(['=', '\0']) {
        return Err(loaded.error(field, "must name an environment variable (DATABASE_URL)"));
    }
    match std::env::var(var) {
        Ok(url) if !url.trim().is_empty() => Ok(url),
        Ok(_) => Err(loaded.error(
            field,
            format!("the environment variable {var} is empty: it must hold the database URL"),
        )),
        Err(std::env::VarError::NotPresent) => Err(loaded.error(
            field,
            format!("the environment variable {var} is not set: it must hold the database URL"),
        )),
        Err(std::env::VarError::NotUnicode(_)) => Err(loaded.error(
            field,
            format!("the environment variable {var} is not valid UTF-8"),
        )),
    }
}

/// `text` with the URL and its password taken out.
#[cfg_attr(not(feature = "postgres"), allow(dead_code))]
fn redacted(text: &str, url: &str) -> String {
    let mut out = text.replace(url, &shipcore::redact::url(url));
    if let Some(password) = password_of(url) {
        if !password.is_empty() {
            out = out.replace(password, "<redacted>");
        }
    }
    out
}

/// The password in a `scheme://user:password@host` URL.
fn password_of(url: &str) -> Option<&str> {
    let rest = &url[url.find("://")? + 3..];
    let userinfo = &rest[..rest.find('@')?];
    Some(&userinfo[userinfo.find(':')? + 1..])
}

#[cfg(not(feature = "postgres"))]
fn postgres(loaded: &Loaded, _m: &MigrationsFile, _p: &PostgresFile) -> Result<Built, FileError> {
    Err(loaded.error(
        "migrations.postgres",
        "this shipctl was built without the PostgreSQL migrator: build it with \
         `--features postgres`",
    ))
}

#[cfg(feature = "postgres")]
fn postgres(loaded: &Loaded, m: &MigrationsFile, p: &PostgresFile) -> Result<Built, FileError> {
    use shipcore_migrate_postgres::{
        BackupGate, LintConfig, MigrationLintGate, PgDirConfig, PgDumpConfig,
    };
    let url = url_from_env(loaded, p)?;
    // A field of the library's configuration, as a field of this section (the URL is the
    // environment variable's).
    let place = |field: &str, problem: &str, under: &str| {
        if field == "url" {
            let problem = format!("the environment variable {}: {problem}", p.url_env.trim());
            return loaded.error("migrations.postgres.url_env", redacted(&problem, &url));
        }
        let field = format!("migrations.postgres.{under}{field}");
        loaded.error(&field, redacted(problem, &url))
    };
    let both = [MigrationPhase::Expand, MigrationPhase::Contract];
    for (on, sub, phase) in [
        (m.expand, "expand", "expand"),
        (m.contract, "contract", "contract"),
    ] {
        let dir = loaded.base.join(&p.dir).join(sub);
        if on && !dir.is_dir() {
            return Err(loaded.error(
                "migrations.postgres.dir",
                format!(
                    "{} has no {phase}/ folder, but `migrations.{phase}` is on: create it \
                     (it may be empty) or set `migrations.{phase}: false`",
                    loaded.base.join(&p.dir).display()
                ),
            ));
        }
    }
    let mut cfg = PgDirConfig::new(url.clone(), loaded.base.join(&p.dir)).name(m.name.clone());
    if let Some(t) = &p.table {
        cfg = cfg.table(t.clone());
    }
    if let Some(t) = p.lock_timeout {
        cfg = cfg.lock_timeout(t);
    }
    if let Some(t) = p.connect_timeout {
        cfg.connect_timeout = t;
    }
    let migrator = Arc::new(
        cfg.build()
            .map_err(|e| place(&e.0.field, &e.0.problem, ""))?,
    );
    let mut gates: Vec<Arc<dyn Gate>> = Vec::new();
    if let Some(l) = &p.lint {
        let mut lc = LintConfig::new(loaded.base.join(&p.dir));
        if let Some(n) = &l.name {
            lc.name = n.clone();
        }
        if let Some(ph) = &l.phases {
            lc.phases = ph.clone();
        }
        lc.allow = l.allow.clone();
        lc.include = l.include.clone();
        let gate = MigrationLintGate::for_pending(&lc, migrator.clone())
            .map_err(|e| place(&e.0.field, &e.0.problem, "lint."))?;
        gates.push(Arc::new(gate));
    }
    if let Some(b) = &p.backup {
        let mut dc = PgDumpConfig::new(url.clone(), loaded.base.join(&b.dir));
        if let Some(prog) = &b.pg_dump {
            dc = dc.pg_dump(prog.clone());
        }
        if let Some(t) = b.timeout {
            dc.timeout = t;
        }
        // Its errors are "field: problem" text; the URL was checked above already.
        let dump = dc
            .build()
            .map_err(|e| loaded.error("migrations.postgres.backup", redacted(&e.message, &url)))?;
        let phases = b.phases.clone().unwrap_or_else(|| both.to_vec());
        if phases.is_empty() {
            return Err(loaded.error(
                "migrations.postgres.backup.phases",
                "must name expand, contract or both",
            ));
        }
        let name = b.name.clone().unwrap_or_else(|| "migration-backup".into());
        gates.push(Arc::new(BackupGate::new(
            name,
            migrator.clone(),
            &phases,
            dump,
        )));
    }
    Ok(Built { migrator, gates })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::file::tests_support::BASE;
    use std::path::Path;

    fn loaded(section: &str) -> Result<Loaded, FileError> {
        Loaded::parse(
            Path::new("deploy/r.yaml"),
            format!("{BASE}migrations:\n{section}"),
        )
    }

    fn built(section: &str) -> Result<Built, FileError> {
        let l = loaded(section)?;
        build(&l, l.file.migrations.as_ref().unwrap())
    }

    fn one_step_plan() -> Plan {
        Plan {
            strategy: "canary".into(),
            replicas: 2,
            steps: vec![shipcore::model::Step::Promote],
        }
    }

    const CMD: &str = "  command: {expand: {run: [./migrate.sh, up]}}\n";

    #[test]
    fn defaults_are_db_expand_first_and_no_contract() {
        let l = loaded(CMD).unwrap();
        let m = l.file.migrations.as_ref().unwrap();
        assert_eq!(m.name, "db");
        assert!(m.expand && !m.contract);
        let b = build(&l, m).unwrap();
        assert_eq!(b.migrator.name(), "db");
        assert!(b.gates.is_empty());
        let plan = add_steps(m, one_step_plan());
        assert_eq!(plan.steps[0].describe(), "migrate db: expand");
        assert_eq!(plan.steps.len(), 2);
    }

    #[test]
    fn contract_goes_last_and_needs_a_command() {
        let text = "  name: users\n  contract: true\n  command:\n    expand: {run: [a]}\n    contract: {run: [b], pending: [c]}\n";
        let l = loaded(text).unwrap();
        let m = l.file.migrations.as_ref().unwrap();
        build(&l, m).unwrap();
        let plan = add_steps(m, one_step_plan());
        let steps: Vec<String> = plan.steps.iter().map(|s| s.describe()).collect();
        assert_eq!(
            steps,
            [
                "migrate users: expand",
                "promote candidate (all traffic)",
                "migrate users: contract"
            ]
        );
        let e = built("  contract: true\n  command: {expand: {run: [a]}}\n").unwrap_err();
        assert_eq!(e.field, "migrations.command", "{e}");
        assert!(e.problem.contains("contract phase needs a command"), "{e}");
        assert_eq!(e.pos.map(|p| p.line), Some(8), "{e}");
    }

    #[test]
    fn errors_name_the_field_under_migrations() {
        for (section, field, problem) in [
            ("  comand: {}\n", "migrations.comand", "unknown field"),
            ("  name: \"a b\"\n", "migrations.name", ""),
            (
                "  expand: false\n  command: {expand: {run: [a]}}\n",
                "migrations.expand",
                "would run nothing",
            ),
            ("  name: x\n", "migrations", "missing migrator"),
            (
                "  command: {expand: {run: [a]}}\n  postgres: {url_env: DATABASE_URL, dir: m}\n",
                "migrations.postgres",
                "not both",
            ),
            (
                "  command: {expand: {run: []}}\n",
                "migrations.command.expand.run",
                "",
            ),
            (
                "  command: {expand: {run: [a]}, timeout: 0s}\n",
                "migrations.command.timeout",
                "out of range",
            ),
            (
                "  command: {expand: {run: [a]}, name: x}\n",
                "migrations.command.name",
                "unknown field",
            ),
            (
                "  command: {contract: {run: [a]}}\n",
                "migrations.command",
                "expand phase needs",
            ),
        ] {
            let e = match loaded(section) {
                Err(e) => e,
                Ok(l) => build(&l, l.file.migrations.as_ref().unwrap()).unwrap_err(),
            };
            assert_eq!(e.field, field, "{section}: {e}");
            assert!(e.problem.contains(problem), "{section}: {e}");
            assert!(e.pos.is_some(), "{section}: {e}");
        }
    }

    #[test]
    fn the_commands_folder_is_the_rollout_files() {
        let l = loaded(CMD).unwrap();
        let b = build(&l, l.file.migrations.as_ref().unwrap()).unwrap();
        let dbg = format!("{b:?}");
        assert!(dbg.contains("\"db\""), "{dbg}");
        let cwd = std::path::absolute("deploy").unwrap();
        let l = loaded(CMD).unwrap();
        assert_eq!(l.base, cwd);
    }

    #[test]
    fn describe_shows_the_phases_and_never_a_url() {
        let l = loaded(
            "  contract: true\n  command:\n    expand: {run: [tool, 'postgres://app:s3cret@db/app']}\n    contract: {run: [tool, down]}\n",
        )
        .unwrap();
        let text = describe(l.file.migrations.as_ref().unwrap(), &["up".into()]);
        assert!(text.contains("judged with [up]; if it broke"), "{text}");
        assert!(
            text.starts_with("migrations: db by command (expand: tool postgres://"),
            "{text}"
        );
        assert!(text.contains("expand first, contract last"), "{text}");
        assert!(!text.contains("s3cret"), "{text}");
        let l =
            loaded("  postgres: {url_env: APP_DB, dir: migrations, lint: {}, backup: {dir: b}}\n")
                .unwrap();
        let text = describe(l.file.migrations.as_ref().unwrap(), &[]);
        assert!(
            text.contains("warning: migrations.expand: no health_validators"),
            "{text}"
        );
        assert!(
            text.contains(
                "URL from $APP_DB, lint gate migration-lint, backup gate migration-backup into b)"
            ),
            "{text}"
        );
    }

    #[test]
    fn redaction_takes_out_url_and_password() {
        let url = "postgres://app:s3cret@db:5432/app";
        let text = redacted(&format!("cannot use {url}; password s3cret"), url);
        assert!(!text.contains("s3cret"), "{text}");
        assert_eq!(password_of("postgres://app@db/app"), None);
        assert_eq!(password_of(url), Some("s3cret"));
    }

    #[test]
    fn a_missing_or_empty_url_variable_is_named() {
        let var = format!("SHIPCTL_TEST_NO_SUCH_URL_{}", std::process::id());
        let l = loaded(&format!("  postgres: {{url_env: {var}, dir: m}}\n")).unwrap();
        let p = l
            .file
            .migrations
            .as_ref()
            .unwrap()
            .postgres
            .as_ref()
            .unwrap();
        let e = url_from_env(&l, p).unwrap_err();
        assert_eq!(e.field, "migrations.postgres.url_env");
        assert!(
            e.problem.contains(&var) && e.problem.contains("not set"),
            "{e}"
        );
        let l = loaded("  postgres: {url_env: '', dir: m}\n").unwrap();
        let p = l
            .file
            .migrations
            .as_ref()
            .unwrap()
            .postgres
            .as_ref()
            .unwrap();
        assert!(url_from_env(&l, p)
            .unwrap_err()
            .problem
            .contains("must name"));
    }

    #[cfg(not(feature = "postgres"))]
    #[test]
    fn without_the_feature_postgres_says_how_to_build_it() {
        let e = built("  postgres: {url_env: DATABASE_URL, dir: m, lint: {allow: [ban-drop-column], phases: [expand]}}\n")
            .unwrap_err();
        assert_eq!(e.field, "migrations.postgres");
        assert!(e.problem.contains("--features postgres"), "{e}");
    }
}
