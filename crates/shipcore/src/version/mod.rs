//! Versions: the next semantic version from conventional commits, refusal of a version that
//! does not increase, changelog section extraction, and annotated release tags via `git`.

mod bump;
mod changelog;
mod git_tag;

pub use bump::{
    bump_for, ensure_increases, next_version, parse_version, Bump, ConventionalCommit, VersionError,
};
pub use changelog::{changelog_section, ChangelogError};
pub use git_tag::{Commit, GitError, GitRepo, Release};
