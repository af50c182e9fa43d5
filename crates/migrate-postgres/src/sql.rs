//! SQL text helpers on squawk's parser: split a file into statements (for files run
//! outside a transaction, one statement at a time) and turn offsets into line numbers.

use squawk_syntax::ast::AstNode;
use squawk_syntax::SourceFile;

/// One statement of a file: where it starts and its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    /// Byte offset of its first character in the file.
    pub offset: usize,
    /// Its text, without the separating `;`.
    pub text: String,
}

/// A file does not parse: the line and the parser's message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseProblem {
    /// 1-based line.
    pub line: u32,
    /// What the parser says.
    pub message: String,
}

/// The 1-based line of byte `offset` in `text`.
pub fn line_of(text: &str, offset: usize) -> u32 {
    let end = offset.min(text.len());
    let newlines = text.as_bytes()[..end]
        .iter()
        .filter(|b| **b == b'\n')
        .count();
    u32::try_from(newlines).unwrap_or(u32::MAX - 1) + 1
}

/// The byte offset of the `pos`-th character (1-based, as PostgreSQL reports an error's
/// position) of `text`.
pub fn char_pos_to_offset(text: &str, pos: u32) -> usize {
    let n = usize::try_from(pos.saturating_sub(1)).unwrap_or(usize::MAX);
    text.char_indices()
        .nth(n)
        .map_or(text.len(), |(offset, _)| offset)
}

/// The first syntax problem squawk's parser finds in `sql`, if any.
pub fn first_parse_problem(sql: &str) -> Option<ParseProblem> {
    let parse = SourceFile::parse(sql);
    parse.errors().first().map(|e| ParseProblem {
        line: line_of(sql, usize::from(e.range().start())),
        message: e.message().to_string(),
    })
}

/// The statements of `sql`, in order; `Err` if it does not parse (splitting it would be a
/// guess).
pub fn split(sql: &str) -> Result<Vec<Statement>, ParseProblem> {
    if let Some(p) = first_parse_problem(sql) {
        return Err(p);
    }
    let parse = SourceFile::parse(sql);
    Ok(parse
        .tree()
        .stmts()
        .filter_map(|s| {
            let r = s.syntax().text_range();
            let (start, end) = (usize::from(r.start()), usize::from(r.end()));
            let text = sql.get(start..end)?.trim().trim_end_matches(';').trim();
            (!text.is_empty()).then(|| Statement {
                offset: start,
                text: text.to_string(),
            })
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_statements_with_their_offsets() {
        let sql =
            "-- shipcore: no-transaction\nCREATE INDEX CONCURRENTLY i ON t (a);\n\nSELECT ';';\n";
        let s = split(sql).unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].text, "CREATE INDEX CONCURRENTLY i ON t (a)");
        assert_eq!(line_of(sql, s[0].offset), 2);
        assert_eq!(s[1].text, "SELECT ';'");
        assert_eq!(line_of(sql, s[1].offset), 4);
    }

    #[test]
    fn a_file_that_does_not_parse_is_not_split() {
        let p = split("SELECT 1;\nCREATE TABLE (;\n").unwrap_err();
        assert_eq!(p.line, 2);
    }

    #[test]
    fn positions_become_offsets() {
        assert_eq!(char_pos_to_offset("éab", 2), 2);
        assert_eq!(char_pos_to_offset("ab", 9), 2);
    }
}
