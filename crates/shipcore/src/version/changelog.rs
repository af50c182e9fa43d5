//! Changelog excerpts: the section for one version from a Keep-a-Changelog style
//! CHANGELOG.md (`## [1.2.0] - 2024-05-01`, `## 1.2.0`, `## [Unreleased]`), for release
//! tags and notes.

/// A changelog has no section for the version.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("CHANGELOG has no section for {version} (sections: {})", if available.is_empty() { "none".to_string() } else { available.join(", ") })]
#[non_exhaustive]
pub struct ChangelogError {
    /// The version asked for.
    pub version: String,
    /// The sections it has.
    pub available: Vec<String>,
}

/// The name of a `## ` heading: `[1.2.0] - 2024-05-01` → `1.2.0`.
fn heading_name(line: &str) -> Option<&str> {
    let rest = line.strip_prefix("## ")?.trim();
    let name = if let Some(inner) = rest.strip_prefix('[') {
        inner.split(']').next().unwrap_or(inner)
    } else {
        rest.split([' ', '\t']).next().unwrap_or(rest)
    };
    Some(name.trim())
}

fn same_version(a: &str, b: &str) -> bool {
    let strip = |s: &str| s.trim().trim_start_matches('v').to_ascii_lowercase();
    strip(a) == strip(b)
}

/// The body of the section for `version` (a leading `v` is ignored; `Unreleased` works),
/// without its heading, blank lines trimmed. The section ends at the next `## ` heading or
/// at the link reference definitions (`[1.2.0]: https://…`) at the end of the file.
///
/// ```
/// let text = "# Changelog\n\n## [1.1.0] - 2024-05-01\n### Added\n- CSV export\n\n## [1.0.0]\n- First\n";
/// let s = shipcore::version::changelog_section(text, "v1.1.0").unwrap();
/// assert_eq!(s, "### Added\n- CSV export");
/// ```
pub fn changelog_section(text: &str, version: &str) -> Result<String, ChangelogError> {
    let mut available = Vec::new();
    let mut body: Option<Vec<&str>> = None;
    for line in text.lines() {
        if let Some(name) = heading_name(line) {
            if body.is_some() {
                break;
            }
            available.push(name.to_string());
            if same_version(name, version) {
                body = Some(Vec::new());
            }
            continue;
        }
        if let Some(lines) = body.as_mut() {
            let is_link_def = line.starts_with('[') && line.contains("]: ");
            if is_link_def {
                break;
            }
            lines.push(line);
        }
    }
    match body {
        Some(lines) => {
            let start = lines.iter().position(|l| !l.trim().is_empty());
            let end = lines.iter().rposition(|l| !l.trim().is_empty());
            Ok(match (start, end) {
                (Some(s), Some(e)) => lines[s..=e].join("\n"),
                _ => String::new(),
            })
        }
        None => Err(ChangelogError {
            version: version.to_string(),
            available,
        }),
    }
}
