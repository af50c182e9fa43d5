//! Versions: the next semantic version from conventional commits, refusal of a version that
//! does not increase, changelog section extraction, and annotated release tags via `git`.

mod bump;
mod changelog;
mod commit;
mod git_tag;

pub use bump::{
    bump_for, bump_for_commits, ensure_increases, next_version, next_version_for_commits,
    parse_version, releasable_commits, Bump, ConventionalCommit, Revert, VersionError,
};
pub use changelog::{changelog_section, ChangelogError};
pub use commit::Commit;
pub use git_tag::{GitError, GitRepo, Release};
