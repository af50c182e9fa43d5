//! The migrations directory: `expand/` and `contract/` subdirectories of ordered `.sql`
//! files. Reads and checks it; knows nothing of the database.
//!
//! ```text
//! migrations/
//!   expand/
//!     0001_add_email.sql          -- runs in its own transaction
//!     0002_index_email.sql        -- "-- shipcore: no-transaction" on a line of its own
//!   contract/
//!     0001_drop_legacy_name.sql
//! ```
//!
//! A file is `<number>_<name>.sql`: the number (digits) orders the files of a phase
//! numerically (`2_x` before `10_y`), the name is letters, digits, `_` and `-`. Its id is
//! the file name without `.sql` (`0001_add_email`) and must be unique across both phases.
//! Two files of one phase with the same number, a `.sql` file with another name, or a
//! missing phase directory (one of the two may be absent, not both) are refused. Other
//! files (`README.md`) are ignored.

use shipcore::migrate::{MigrateError, MigrateErrorKind, Migration, MigrationPhase};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The line that makes a file run outside a transaction (for `CREATE INDEX CONCURRENTLY`
/// and other statements PostgreSQL refuses inside one). Case and surrounding spaces are
/// ignored; it may be on any line.
pub const NO_TRANSACTION_MARKER: &str = "-- shipcore: no-transaction";

/// One migration file, read.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct MigrationFile {
    /// The file name without `.sql`.
    pub id: String,
    /// Its number, which orders it within its phase.
    pub number: u64,
    /// Its phase (the subdirectory it is in).
    pub phase: MigrationPhase,
    /// Its path.
    pub path: PathBuf,
    /// `expand/0001_add_email.sql`: the path relative to the migrations directory, as
    /// messages show it.
    pub display: String,
    /// Its text.
    pub sql: String,
    /// It carries [`NO_TRANSACTION_MARKER`].
    pub no_transaction: bool,
    /// CRC-32 of its text, recorded when it is applied.
    pub checksum: u32,
}

impl MigrationFile {
    /// As the trait's [`Migration`].
    pub fn migration(&self) -> Migration {
        Migration::new(self.id.clone(), self.phase).with_file(self.display.clone())
    }
}

fn config_error(what: impl Into<String>, message: impl Into<String>) -> MigrateError {
    MigrateError::new(MigrateErrorKind::Config, what, message)
}

/// Parses `0001_add_email.sql` into its number and id; `Err` says what is wrong.
pub fn parse_name(file_name: &str) -> Result<(u64, String), String> {
    let Some(stem) = file_name.strip_suffix(".sql") else {
        return Err("does not end in .sql".into());
    };
    let digits: String = stem.chars().take_while(|c| c.is_ascii_digit()).collect();
    let rest = &stem[digits.len()..];
    let Some(name) = rest.strip_prefix('_') else {
        return Err("must be <number>_<name>.sql (for example 0001_add_email.sql)".into());
    };
    if digits.is_empty() {
        return Err("must start with a number (for example 0001_add_email.sql)".into());
    }
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        return Err(
            "the name after the number must be letters, digits, '_' or '-' (not empty)".into(),
        );
    }
    let number = digits
        .parse::<u64>()
        .map_err(|_| format!("the number {digits} is too large"))?;
    Ok((number, stem.to_string()))
}

/// True if `sql` has a line equal to [`NO_TRANSACTION_MARKER`] (ignoring case and spaces).
pub fn has_no_transaction_marker(sql: &str) -> bool {
    sql.lines().any(|l| {
        let l = l.trim().to_ascii_lowercase();
        let normalized: String = l.split_whitespace().collect::<Vec<_>>().join(" ");
        normalized == NO_TRANSACTION_MARKER
    })
}

/// Reads the files of `phase` under `dir`, in order. A missing phase directory is an empty
/// phase; [`scan_all`] checks that at least one exists.
pub fn scan(dir: &Path, phase: MigrationPhase) -> Result<Vec<MigrationFile>, MigrateError> {
    let sub = dir.join(phase.as_str());
    let entries = match std::fs::read_dir(&sub) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => {
            return Err(config_error(
                sub.display().to_string(),
                format!("cannot read the directory: {e}"),
            ))
        }
    };
    let mut by_number: BTreeMap<u64, MigrationFile> = BTreeMap::new();
    for entry in entries {
        let entry = entry.map_err(|e| {
            config_error(
                sub.display().to_string(),
                format!("cannot read the directory: {e}"),
            )
        })?;
        let path = entry.path();
        let file_name = entry.file_name().to_string_lossy().into_owned();
        let display = format!("{}/{file_name}", phase.as_str());
        if !file_name.to_ascii_lowercase().ends_with(".sql") {
            continue;
        }
        let (number, id) = parse_name(&file_name)
            .map_err(|why| config_error(display.clone(), format!("bad file name: {why}")))?;
        if !path.is_file() {
            return Err(config_error(display, "is not a regular file"));
        }
        let sql = std::fs::read_to_string(&path)
            .map_err(|e| config_error(display.clone(), format!("cannot read it: {e}")))?;
        if let Some(other) = by_number.get(&number) {
            return Err(config_error(
                display,
                format!(
                    "has the same number ({number}) as {}: the order would be ambiguous",
                    other.display
                ),
            ));
        }
        by_number.insert(
            number,
            MigrationFile {
                id,
                number,
                phase,
                checksum: crc32fast::hash(sql.as_bytes()),
                no_transaction: has_no_transaction_marker(&sql),
                path,
                display,
                sql,
            },
        );
    }
    Ok(by_number.into_values().collect())
}

/// Reads both phases; refuses a directory with neither `expand/` nor `contract/`, and an
/// id used in both.
pub fn scan_all(dir: &Path) -> Result<Vec<MigrationFile>, MigrateError> {
    if !dir.join("expand").is_dir() && !dir.join("contract").is_dir() {
        return Err(config_error(
            dir.display().to_string(),
            "has neither an expand/ nor a contract/ subdirectory of .sql files",
        ));
    }
    let mut all = scan(dir, MigrationPhase::Expand)?;
    let contract = scan(dir, MigrationPhase::Contract)?;
    for c in &contract {
        if let Some(e) = all.iter().find(|e| e.id == c.id) {
            return Err(config_error(
                c.display.clone(),
                format!(
                    "has the same id as {}: ids must be unique across both phases",
                    e.display
                ),
            ));
        }
    }
    all.extend(contract);
    Ok(all)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked() {
        assert_eq!(
            parse_name("0001_add_email.sql").unwrap(),
            (1, "0001_add_email".into())
        );
        assert_eq!(parse_name("10_x-y.sql").unwrap(), (10, "10_x-y".into()));
        assert!(parse_name("add_email.sql").unwrap_err().contains("number"));
        assert!(parse_name("0001.sql").is_err());
        assert!(parse_name("0001_.sql").is_err());
        assert!(parse_name("0001_a b.sql").is_err());
        assert!(parse_name("0001_a.txt").is_err());
    }

    #[test]
    fn marker_is_found_on_any_line() {
        assert!(has_no_transaction_marker(
            "-- shipcore: no-transaction\nCREATE INDEX"
        ));
        assert!(has_no_transaction_marker(
            "SELECT 1;\n  --  Shipcore:  No-Transaction  \n"
        ));
        assert!(!has_no_transaction_marker(
            "SELECT 1; -- shipcore: no-transaction"
        ));
    }

    #[test]
    fn files_are_ordered_numerically_and_duplicates_refused() {
        let d = tempfile::tempdir().unwrap();
        let e = d.path().join("expand");
        std::fs::create_dir(&e).unwrap();
        std::fs::write(e.join("10_b.sql"), "SELECT 2;").unwrap();
        std::fs::write(e.join("2_a.sql"), "SELECT 1;").unwrap();
        std::fs::write(e.join("README.md"), "notes").unwrap();
        let files = scan_all(d.path()).unwrap();
        let ids: Vec<_> = files.iter().map(|f| f.id.as_str()).collect();
        assert_eq!(ids, ["2_a", "10_b"]);
        assert_eq!(files[0].display, "expand/2_a.sql");

        std::fs::write(e.join("002_c.sql"), "SELECT 3;").unwrap();
        let err = scan_all(d.path()).unwrap_err();
        assert_eq!(err.kind, MigrateErrorKind::Config);
        assert!(err.message.contains("same number (2)"), "{err}");
        std::fs::remove_file(e.join("002_c.sql")).unwrap();

        std::fs::write(e.join("bad name.sql"), "SELECT 3;").unwrap();
        let err = scan_all(d.path()).unwrap_err();
        assert_eq!(err.migration, "expand/bad name.sql");
        assert!(err.message.contains("bad file name"), "{err}");
        std::fs::remove_file(e.join("bad name.sql")).unwrap();

        let c = d.path().join("contract");
        std::fs::create_dir(&c).unwrap();
        std::fs::write(c.join("2_a.sql"), "SELECT 1;").unwrap();
        let err = scan_all(d.path()).unwrap_err();
        assert!(err.message.contains("unique across both phases"), "{err}");
    }

    #[test]
    fn a_directory_without_phases_is_refused() {
        let d = tempfile::tempdir().unwrap();
        let err = scan_all(d.path()).unwrap_err();
        assert!(err.message.contains("neither an expand/"), "{err}");
    }
}
