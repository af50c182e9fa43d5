//! Linting migration files with squawk (`squawk-linter`, the PostgreSQL migration linter):
//! which rules run, and [`Finding`]s that name the file, line and rule. The rules are
//! squawk's own; this module only chooses them and reports what they find.

use crate::layout::MigrationFile;
use crate::sql::{first_parse_problem, line_of};
use squawk_linter::{Linter, LinterSettings, Rule};
use std::collections::BTreeSet;
use std::fmt;

/// squawk's default rules that are style or preference, not safety (`prefer-text-field`,
/// `prefer-bigint-over-int`, ...), and the timeout rules, which flag every file that does
/// not set `lock_timeout`: left out of [`RuleSet::default`]. Add any of them back with
/// [`RuleSet::include`].
pub const STYLE_RULES: &[&str] = &[
    "prefer-bigint-over-int",
    "prefer-bigint-over-smallint",
    "prefer-identity",
    "prefer-text-field",
    "prefer-timestamp-tz",
    "prefer-robust-stmts",
    "ban-char-field",
    "require-lock-timeout",
    "require-statement-timeout",
];

/// The rules whose findings make a migration destructive (data is lost or rewritten, so a
/// backup must come first): dropping a column, table, schema or database, changing a
/// column's type, `TRUNCATE ... CASCADE`.
pub const DESTRUCTIVE_RULES: &[&str] = &[
    "ban-drop-column",
    "ban-drop-table",
    "ban-drop-schema",
    "ban-drop-database",
    "changing-column-type",
    "ban-truncate-cascade",
];

/// One thing squawk found in a file.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub struct Finding {
    /// The file, relative to the migrations directory (`expand/0002_drop_name.sql`).
    pub file: String,
    /// 1-based line of the statement.
    pub line: u32,
    /// The squawk rule (`ban-drop-column`), or `syntax-error` when the file does not parse.
    pub rule: String,
    /// squawk's message.
    pub message: String,
    /// squawk's advice, when it gives one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub help: Option<String>,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}: {}: {}",
            self.file, self.line, self.rule, self.message
        )?;
        if let Some(h) = &self.help {
            write!(f, " ({h})")?;
        }
        Ok(())
    }
}

/// A rule name squawk does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown squawk rule {0:?} (rules are named like ban-drop-column, renaming-column)")]
pub struct UnknownRule(pub String);

/// Which squawk rules to run.
#[derive(Debug, Clone)]
pub struct RuleSet {
    rules: BTreeSet<String>,
}

impl Default for RuleSet {
    /// squawk's default rules without [`STYLE_RULES`].
    fn default() -> Self {
        let rules = Linter::with_default_rules()
            .rules
            .iter()
            .map(|r| r.to_string())
            .filter(|r| !STYLE_RULES.contains(&r.as_str()))
            .collect();
        RuleSet { rules }
    }
}

fn parse_rule(name: &str) -> Result<Rule, UnknownRule> {
    name.parse::<Rule>()
        .map_err(|_| UnknownRule(name.to_string()))
}

impl RuleSet {
    /// Exactly these rules.
    pub fn only(names: &[&str]) -> Result<Self, UnknownRule> {
        let mut rules = BTreeSet::new();
        for n in names {
            rules.insert(parse_rule(n)?.to_string());
        }
        Ok(RuleSet { rules })
    }

    /// The same set with `name` added (an opt-in squawk rule, or a style rule).
    pub fn include(mut self, name: &str) -> Result<Self, UnknownRule> {
        self.rules.insert(parse_rule(name)?.to_string());
        Ok(self)
    }

    /// The same set without `name`: what an allowed rule does.
    pub fn allow(mut self, name: &str) -> Result<Self, UnknownRule> {
        self.rules.remove(&parse_rule(name)?.to_string());
        Ok(self)
    }

    /// Whether `name` runs.
    pub fn contains(&self, name: &str) -> bool {
        self.rules.contains(name)
    }

    /// The rule names, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.rules.iter().map(String::as_str)
    }

    fn linter(&self) -> Linter {
        Linter::from(self.rules.iter().filter_map(|r| r.parse::<Rule>().ok()))
    }
}

/// Lints one file with `rules`. A file that runs in a transaction is linted as such
/// (squawk's `assume_in_transaction`), so `CREATE INDEX CONCURRENTLY` in it is reported
/// (`ban-concurrent-index-creation-in-transaction`) and so are `BEGIN`/`COMMIT` in it. A file
/// that does not parse gives one `syntax-error` finding.
pub fn lint_file(file: &MigrationFile, rules: &RuleSet) -> Vec<Finding> {
    lint_sql(&file.display, &file.sql, !file.no_transaction, rules)
}

/// Lints `sql`, reporting findings against `display` (a file name).
pub fn lint_sql(display: &str, sql: &str, in_transaction: bool, rules: &RuleSet) -> Vec<Finding> {
    if let Some(p) = first_parse_problem(sql) {
        return vec![Finding {
            file: display.to_string(),
            line: p.line,
            rule: "syntax-error".into(),
            message: format!("does not parse: {}", p.message),
            help: None,
        }];
    }
    let parse = squawk_syntax::SourceFile::parse(sql);
    let mut linter = rules.linter();
    linter.settings = LinterSettings {
        assume_in_transaction: in_transaction,
        ..LinterSettings::default()
    };
    let mut findings: Vec<Finding> = linter
        .lint(&parse, sql)
        .into_iter()
        .map(|v| Finding {
            file: display.to_string(),
            line: line_of(sql, usize::from(v.text_range.start())),
            rule: v.code.to_string(),
            message: v.message,
            help: v.help,
        })
        .collect();
    let rule = CONCURRENT_IN_TRANSACTION;
    if in_transaction && rules.contains(rule) && !findings.iter().any(|f| f.rule == rule) {
        findings.extend(concurrent_index_in_single_statement(display, sql, &parse));
    }
    findings
}

const CONCURRENT_IN_TRANSACTION: &str = "ban-concurrent-index-creation-in-transaction";

/// squawk reports `CREATE INDEX CONCURRENTLY` in a transaction only in files of more than
/// one statement (tools commonly run a lone statement outside one). The directory
/// migrator wraps every unmarked file in a transaction, so a lone one would fail too:
/// reported under squawk's rule name, with the marker to add.
fn concurrent_index_in_single_statement(
    display: &str,
    sql: &str,
    parse: &squawk_syntax::Parse<squawk_syntax::SourceFile>,
) -> Vec<Finding> {
    use squawk_syntax::ast;
    parse
        .tree()
        .stmts()
        .filter_map(|stmt| match stmt {
            ast::Stmt::CreateIndex(ci) => ci.concurrently_token(),
            _ => None,
        })
        .map(|tok| Finding {
            file: display.to_string(),
            line: line_of(sql, usize::from(tok.text_range().start())),
            rule: CONCURRENT_IN_TRANSACTION.into(),
            message:
                "CREATE INDEX CONCURRENTLY cannot run inside the transaction this file runs in"
                    .into(),
            help: Some(format!(
                "put the line `{}` in the file",
                crate::layout::NO_TRANSACTION_MARKER
            )),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_rules_keep_safety_and_drop_style() {
        let r = RuleSet::default();
        for safety in [
            "ban-drop-column",
            "renaming-column",
            "changing-column-type",
            "adding-required-field",
            "require-concurrent-index-creation",
        ] {
            assert!(r.contains(safety), "{safety}");
        }
        assert!(!r.contains("prefer-text-field"));
        assert!(!r.contains("require-lock-timeout"));
        assert!(!r
            .clone()
            .allow("ban-drop-column")
            .unwrap()
            .contains("ban-drop-column"));
        assert!(r.include("no-such-rule").is_err());
    }

    #[test]
    fn findings_name_file_line_and_rule() {
        let sql = "-- drop it\n\nALTER TABLE users DROP COLUMN name;\n";
        let f = lint_sql("contract/0001_x.sql", sql, true, &RuleSet::default());
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(f[0].line, 3);
        assert_eq!(f[0].rule, "ban-drop-column");
        assert!(f[0]
            .to_string()
            .starts_with("contract/0001_x.sql:3: ban-drop-column: "));
    }
}
