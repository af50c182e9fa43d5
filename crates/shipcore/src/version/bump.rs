//! The next semantic version from conventional commits, and the refusal of a version that
//! does not increase over production.
//!
//! Rules from 1.0.0 on: a breaking change (`feat!:`, `fix(api)!:`, or a `BREAKING CHANGE:`
//! footer) bumps major, `feat` bumps minor, `fix` bumps patch; other types (`docs`, `chore`,
//! `refactor`…) and non-conventional messages release nothing. Before 1.0.0 the rules
//! follow Cargo's compatibility rules for 0.x: a breaking change bumps *minor* (0.3.1 →
//! 0.4.0) and `feat` / `fix` bump patch (0.3.1 → 0.3.2); 1.0.0 is never reached by a bump,
//! it is a deliberate decision. A pre-release (1.0.0-rc.2) is released as itself without
//! its suffix (1.0.0) by any bump. Build metadata is dropped.

use semver::{BuildMetadata, Prerelease, Version};

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
    /// ```
    pub fn apply(self, current: &Version) -> Option<Version> {
        if self == Bump::None {
            return None;
        }
        let mut v = current.clone();
        v.build = BuildMetadata::EMPTY;
        if !v.pre.is_empty() {
            v.pre = Prerelease::EMPTY;
            return Some(v);
        }
        let effective = match (v.major, self) {
            (0, Bump::Major) => Bump::Minor,
            (0, _) => Bump::Patch,
            (_, b) => b,
        };
        match effective {
            Bump::Major => {
                v.major += 1;
                v.minor = 0;
                v.patch = 0;
            }
            Bump::Minor => {
                v.minor += 1;
                v.patch = 0;
            }
            _ => v.patch += 1,
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

/// The largest bump any of the commit messages asks for.
pub fn bump_for<'a>(messages: impl IntoIterator<Item = &'a str>) -> Bump {
    messages
        .into_iter()
        .filter_map(ConventionalCommit::parse)
        .map(|c| c.bump())
        .max()
        .unwrap_or(Bump::None)
}

/// The version after `current` given these commit messages; `None` if nothing releasable.
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

/// A version problem.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VersionError {
    /// The candidate does not increase over production.
    #[error("version {candidate} is not greater than {production}, the version in production")]
    NotGreater {
        /// The version to deploy.
        candidate: Version,
        /// The version in production.
        production: Version,
    },
    /// A text is not a semantic version.
    #[error("{field}: {text:?} is not a semantic version: {problem}")]
    Invalid {
        /// Where the text came from (`tag`, `version`).
        field: String,
        /// The text.
        text: String,
        /// Why it does not parse.
        problem: String,
    },
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
    Version::parse(t.strip_prefix('v').unwrap_or(t)).map_err(|e| VersionError::Invalid {
        field: field.to_string(),
        text: text.to_string(),
        problem: e.to_string(),
    })
}
