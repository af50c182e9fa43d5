//! The next semantic version from conventional commits, and the refusal of a version that
//! does not increase over production.
//!
//! A conventional header is `type(scope)!: description`: the colon must be followed by a space
//! (`feat:x` is not conventional, as in the Conventional Commits spec and
//! conventional-commits-parser). Rules from 1.0.0 on: a breaking change (`feat!:`,
//! `fix(api)!:`, or a `BREAKING CHANGE:` footer) bumps major, `feat` bumps minor, `fix` bumps
//! patch; other types (`docs`, `chore`, `refactor`…) and non-conventional messages release
//! nothing. Before 1.0.0 the rules follow Cargo's compatibility rules for 0.x: a breaking
//! change bumps *minor* (0.3.1 → 0.4.0) and `feat` / `fix` bump patch (0.3.1 → 0.3.2); 1.0.0
//! is never reached by a bump, it is a deliberate decision.
//!
//! A pre-release is bumped as node-semver's `semver.inc` does: the pre-release is dropped,
//! and the bump still applies unless the pre-release already is that bump's version:
//! 1.2.3-rc.1 + fix → 1.2.3, + feat → 1.3.0, + breaking → 2.0.0; 1.3.0-rc.1 + feat → 1.3.0,
//! + breaking → 2.0.0; 2.0.0-rc.2 + anything → 2.0.0. Build metadata is dropped.
//!
//! Reverted commits: a revert (`Revert "<header>"` or `revert: <header>`, with the body line
//! `This reverts commit <hash>.`, conventional-commits-parser's default `revertPattern`)
//! drops itself and the commit it reverts when that commit is among the ones considered, as
//! conventional-recommended-bump (conventional-commits-filter) and semantic-release do: a
//! feature added and reverted before a release bumps nothing. With hashes
//! ([`bump_for_commits`]) the reverted commit must match both header and hash; from messages
//! alone ([`bump_for`]) the header decides. A revert of a commit from an earlier release is
//! kept (and bumps nothing itself).

use super::commit::Commit;
use crate::model::FieldError;
use regex::Regex;
use semver::{BuildMetadata, Prerelease, Version};
use std::sync::OnceLock;

/// How much a set of changes moves the version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Bump {
    /// Nothing to release.
    None,
    /// Fixes.
    Patch,
    /// New features.
    Minor,
    /// Breaking changes.
    Major,
}

impl Bump {
    /// The version after this bump of `current` (see the module rules); `None` for no bump.
    ///
    /// ```
    /// use shipcore::version::Bump;
    /// let v = |s: &str| semver::Version::parse(s).unwrap();
    /// assert_eq!(Bump::Minor.apply(&v("1.4.2")), Some(v("1.5.0")));
    /// assert_eq!(Bump::Major.apply(&v("0.4.2")), Some(v("0.5.0")));
    /// assert_eq!(Bump::Minor.apply(&v("1.2.3-rc.1")), Some(v("1.3.0")));
    /// assert_eq!(Bump::Major.apply(&v("1.3.0-rc.1")), Some(v("2.0.0")));
    /// assert_eq!(Bump::Minor.apply(&v("1.3.0-rc.1")), Some(v("1.3.0")));
    /// ```
    pub fn apply(self, current: &Version) -> Option<Version> {
        if self == Bump::None {
            return None;
        }
        let mut v = current.clone();
        v.build = BuildMetadata::EMPTY;
        let release = v.pre.is_empty();
        v.pre = Prerelease::EMPTY;
        let effective = match (v.major, self) {
            (0, Bump::Major) => Bump::Minor,
            (0, _) => Bump::Patch,
            (_, b) => b,
        };
        // semver.inc: a pre-release of X.0.0 / X.Y.0 / X.Y.Z already is the major / minor /
        // patch release it announces.
        match effective {
            Bump::Major if release || v.minor != 0 || v.patch != 0 => {
                v.major += 1;
                v.minor = 0;
                v.patch = 0;
            }
            Bump::Minor if release || v.patch != 0 => {
                v.minor += 1;
                v.patch = 0;
            }
            Bump::Patch if release => v.patch += 1,
            _ => {}
        }
        Some(v)
    }
}

/// A commit message in the Conventional Commits form `type(scope)!: description`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConventionalCommit {
    /// `feat`, `fix`, `docs`… (lower case).
    pub kind: String,
    /// The scope in parentheses, if any.
    pub scope: Option<String>,
    /// Marked breaking by `!` or a `BREAKING CHANGE:` footer.
    pub breaking: bool,
    /// The text after the colon.
    pub description: String,
}

impl ConventionalCommit {
    /// Parses a full commit message; `None` when its first line is not conventional.
    ///
    /// ```
    /// let c = shipcore::version::ConventionalCommit::parse("feat(api)!: drop v1").unwrap();
    /// assert_eq!((c.kind.as_str(), c.scope.as_deref(), c.breaking), ("feat", Some("api"), true));
    /// ```
    pub fn parse(message: &str) -> Option<ConventionalCommit> {
        let header = message.lines().next()?.trim();
        let (head, description) = header.split_once(':')?;
        if !description.starts_with(' ') {
            return None;
        }
        let description = description.trim();
        if description.is_empty() {
            return None;
        }
        let (head, bang) = match head.strip_suffix('!') {
            Some(h) => (h, true),
            None => (head, false),
        };
        let (kind, scope) = match head.split_once('(') {
            Some((k, rest)) => {
                let scope = rest.strip_suffix(')')?;
                if scope.is_empty() || scope.contains(['(', ')']) {
                    return None;
                }
                (k, Some(scope.to_string()))
            }
            None => (head, None),
        };
        if kind.is_empty() || !kind.chars().all(|c| c.is_ascii_alphabetic()) {
            return None;
        }
        let footer_breaking = message.lines().skip(1).any(|l| {
            let l = l.trim_start();
            l.starts_with("BREAKING CHANGE:") || l.starts_with("BREAKING-CHANGE:")
        });
        Some(ConventionalCommit {
            kind: kind.to_ascii_lowercase(),
            scope,
            breaking: bang || footer_breaking,
            description: description.to_string(),
        })
    }

    /// The bump this commit asks for.
    pub fn bump(&self) -> Bump {
        if self.breaking {
            Bump::Major
        } else {
            match self.kind.as_str() {
                "feat" => Bump::Minor,
                "fix" => Bump::Patch,
                _ => Bump::None,
            }
        }
    }
}

/// What a revert commit reverts: the header and hash named in its message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revert {
    /// The header (first line) of the reverted commit.
    pub header: String,
    /// The hash named in `This reverts commit <hash>.`.
    pub hash: String,
}

impl Revert {
    /// Parses a revert message with conventional-commits-parser's default pattern
    /// `^(?:Revert|revert:)\s"?([\s\S]+?)"?\s*This reverts commit (\w*)\.` (case-insensitive).
    ///
    /// ```
    /// let r = shipcore::version::Revert::parse(
    ///     "Revert \"feat: export csv\"\n\nThis reverts commit 1a2b3c.",
    /// ).unwrap();
    /// assert_eq!((r.header.as_str(), r.hash.as_str()), ("feat: export csv", "1a2b3c"));
    /// ```
    pub fn parse(message: &str) -> Option<Revert> {
        static PATTERN: OnceLock<Option<Regex>> = OnceLock::new();
        let re = PATTERN
            .get_or_init(|| {
                Regex::new(
                    r#"(?i)^(?:Revert|revert:)\s"?([\s\S]+?)"?\s*This reverts commit (\w*)\."#,
                )
                .ok()
            })
            .as_ref()?;
        let c = re.captures(message)?;
        Some(Revert {
            header: c.get(1)?.as_str().trim().to_string(),
            hash: c.get(2)?.as_str().trim().to_string(),
        })
    }
}

/// The messages left once reverts and the commits they revert are dropped. `commits` are
/// `(hash, message)`, newest first (as `git log` lists them); a revert matches the first older
/// commit whose header (and hash, when both are known) it names.
fn without_reverted<'a>(commits: &[(Option<&'a str>, &'a str)]) -> Vec<&'a str> {
    commits
        .iter()
        .zip(reverted_mask(commits))
        .filter(|(_, d)| !d)
        .map(|((_, m), _)| *m)
        .collect()
}

/// For each commit, whether it is dropped: a revert of a commit among them, or that commit.
fn reverted_mask(commits: &[(Option<&str>, &str)]) -> Vec<bool> {
    let mut dropped = vec![false; commits.len()];
    let mut pending: Vec<(usize, Revert)> = Vec::new();
    for (i, (hash, message)) in commits.iter().enumerate() {
        let header = message.lines().next().unwrap_or("").trim();
        let hit = pending
            .iter()
            .position(|(_, r)| r.header == header && hash.map_or(true, |h| h.trim() == r.hash));
        if let Some(k) = hit {
            let (j, _) = pending.remove(k);
            dropped[i] = true;
            dropped[j] = true;
        } else if let Some(r) = Revert::parse(message) {
            pending.push((i, r));
        }
    }
    dropped
}

/// The commits (newest first) that count for a release: reverts and the commits they revert
/// dropped, as [`bump_for_commits`] drops them, so a changelog written from them lists what
/// the bump is based on.
///
/// ```
/// use shipcore::version::{releasable_commits, Commit};
/// let c = |hash: &str, message: &str| Commit { hash: hash.into(), message: message.into() };
/// let commits = [
///     c("bbb", "Revert \"feat: export csv\"\n\nThis reverts commit aaa."),
///     c("aaa", "feat: export csv"),
///     c("999", "fix: typo"),
/// ];
/// let kept: Vec<&str> = releasable_commits(&commits).iter().map(|c| c.hash.as_str()).collect();
/// assert_eq!(kept, ["999"]);
/// ```
pub fn releasable_commits(commits: &[Commit]) -> Vec<&Commit> {
    let pairs: Vec<(Option<&str>, &str)> = commits
        .iter()
        .map(|c| (Some(c.hash.as_str()), c.message.as_str()))
        .collect();
    commits
        .iter()
        .zip(reverted_mask(&pairs))
        .filter(|(_, d)| !d)
        .map(|(c, _)| c)
        .collect()
}

fn largest_bump<'a>(messages: impl IntoIterator<Item = &'a str>) -> Bump {
    messages
        .into_iter()
        .filter_map(ConventionalCommit::parse)
        .map(|c| c.bump())
        .max()
        .unwrap_or(Bump::None)
}

/// The largest bump any of the commit messages asks for, once reverted commits and their
/// reverts are dropped (messages newest first; without hashes a revert matches by header).
pub fn bump_for<'a>(messages: impl IntoIterator<Item = &'a str>) -> Bump {
    let commits: Vec<(Option<&str>, &str)> = messages.into_iter().map(|m| (None, m)).collect();
    largest_bump(without_reverted(&commits))
}

/// The largest bump the commits (newest first) ask for, once reverted commits and their
/// reverts are dropped: a revert matches the commit with the header and hash it names.
///
/// ```
/// use shipcore::version::{bump_for_commits, Bump, Commit};
/// let c = |hash: &str, message: &str| Commit { hash: hash.into(), message: message.into() };
/// let commits = [
///     c("bbb", "Revert \"feat: export csv\"\n\nThis reverts commit aaa."),
///     c("aaa", "feat: export csv"),
///     c("999", "fix: typo"),
/// ];
/// assert_eq!(bump_for_commits(&commits), Bump::Patch);
/// ```
pub fn bump_for_commits(commits: &[Commit]) -> Bump {
    let pairs: Vec<(Option<&str>, &str)> = commits
        .iter()
        .map(|c| (Some(c.hash.as_str()), c.message.as_str()))
        .collect();
    largest_bump(without_reverted(&pairs))
}

/// The version after `current` given these commit messages (newest first); `None` if
/// nothing releasable.
///
/// ```
/// let v = semver::Version::parse("1.4.2").unwrap();
/// let next = shipcore::version::next_version(&v, ["fix: typo", "feat: export csv"]);
/// assert_eq!(next.unwrap().to_string(), "1.5.0");
/// ```
pub fn next_version<'a>(
    current: &Version,
    messages: impl IntoIterator<Item = &'a str>,
) -> Option<Version> {
    bump_for(messages).apply(current)
}

/// The version after `current` given these commits (newest first), reverts matched by hash;
/// `None` if nothing releasable.
pub fn next_version_for_commits(current: &Version, commits: &[Commit]) -> Option<Version> {
    bump_for_commits(commits).apply(current)
}

/// A version problem.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VersionError {
    /// The candidate does not increase over production.
    #[error("version {candidate} is not greater than {production}, the version in production")]
    NotGreater {
        /// The version to deploy.
        candidate: Version,
        /// The version in production.
        production: Version,
    },
    /// A text is not a semantic version: the field it came from (`tag`, `version`), and
    /// the text with the parser's reason.
    #[error(transparent)]
    Invalid(#[from] FieldError),
}

/// Refuses a candidate that is not strictly greater than the version in production.
///
/// ```
/// let v = |s: &str| semver::Version::parse(s).unwrap();
/// let err = shipcore::version::ensure_increases(&v("1.2.0"), &v("1.3.0")).unwrap_err();
/// assert!(err.to_string().contains("1.2.0 is not greater than 1.3.0"));
/// ```
pub fn ensure_increases(candidate: &Version, production: &Version) -> Result<(), VersionError> {
    if candidate > production {
        Ok(())
    } else {
        Err(VersionError::NotGreater {
            candidate: candidate.clone(),
            production: production.clone(),
        })
    }
}

/// Parses a version, allowing a leading `v` (`v1.2.3`); errors name `field`.
pub fn parse_version(field: &str, text: &str) -> Result<Version, VersionError> {
    let t = text.trim();
    Version::parse(t.strip_prefix('v').unwrap_or(t)).map_err(|e| {
        FieldError::new(field, format!("{text:?} is not a semantic version: {e}")).into()
    })
}
