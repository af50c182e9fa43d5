//! Release tags through the `git` program: the last version tag reachable from HEAD, the
//! commits since it, the next version they call for, and an annotated tag whose message
//! carries the changelog excerpt.

use super::bump::{next_version_for_commits, VersionError};
use super::changelog::{changelog_section, ChangelogError};
use super::commit::Commit;
use semver::Version;
use std::path::PathBuf;
use std::process::Stdio;
use tokio::io::AsyncWriteExt;

/// A git operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum GitError {
    /// `git` could not be started.
    #[error("cannot run git: {0}")]
    Spawn(String),
    /// `git` ran and failed.
    #[error("`git {command}` failed with {code:?}: {stderr}")]
    Failed {
        /// The arguments.
        command: String,
        /// Its exit code.
        code: Option<i32>,
        /// What it printed on stderr.
        stderr: String,
    },
    /// The tag exists already.
    #[error("tag {0} already exists")]
    TagExists(String),
    /// A version problem (a tag that is not a version, a version that does not increase).
    #[error(transparent)]
    Version(#[from] VersionError),
    /// The changelog has no section for the release.
    #[error(transparent)]
    Changelog(#[from] ChangelogError),
}

/// What the next release would be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Release {
    /// The last released version (from the last tag), if any.
    pub previous: Option<Version>,
    /// The version to release.
    pub next: Version,
    /// The commits since the last tag, newest first.
    pub commits: Vec<Commit>,
}

/// A git working copy, driven through the `git` program.
#[derive(Debug, Clone)]
pub struct GitRepo {
    dir: PathBuf,
    prefix: String,
}

impl GitRepo {
    /// The repository at `dir`; version tags look like `v1.2.3`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        GitRepo {
            dir: dir.into(),
            prefix: "v".into(),
        }
    }

    /// Uses `prefix` for version tags (`""` for bare `1.2.3`, `web-v` for `web-v1.2.3`).
    #[must_use]
    pub fn tag_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// The tag name for a version: `v1.2.3`.
    pub fn tag_name(&self, v: &Version) -> String {
        format!("{}{v}", self.prefix)
    }

    async fn git(&self, args: &[&str], stdin: Option<&str>) -> Result<String, GitError> {
        let mut cmd = tokio::process::Command::new("git");
        cmd.arg("-C")
            .arg(&self.dir)
            .args(args)
            .env("LC_ALL", "C")
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = cmd.spawn().map_err(|e| GitError::Spawn(e.to_string()))?;
        if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
            pipe.write_all(text.as_bytes())
                .await
                .map_err(|e| GitError::Spawn(format!("writing to git: {e}")))?;
        }
        let out = child
            .wait_with_output()
            .await
            .map_err(|e| GitError::Spawn(e.to_string()))?;
        if !out.status.success() {
            return Err(GitError::Failed {
                command: args.join(" "),
                code: out.status.code(),
                stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
            });
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// The highest version tag reachable from HEAD (tags that are not versions are ignored).
    pub async fn last_version(&self) -> Result<Option<(String, Version)>, GitError> {
        let pattern = format!("{}*", self.prefix);
        let out = self
            .git(&["tag", "--merged", "HEAD", "--list", &pattern], None)
            .await?;
        Ok(out
            .lines()
            .filter_map(|tag| {
                let v = tag.strip_prefix(self.prefix.as_str())?;
                let v = Version::parse(v.trim()).ok()?;
                Some((tag.trim().to_string(), v))
            })
            .max_by(|a, b| a.1.cmp(&b.1)))
    }

    /// Commits after `since` up to HEAD (all commits when `None`), newest first.
    pub async fn commits_since(&self, since: Option<&str>) -> Result<Vec<Commit>, GitError> {
        let range = since.map(|t| format!("{t}..HEAD"));
        let mut args = vec!["log", "--format=%H%x1f%B%x1e"];
        args.push(range.as_deref().unwrap_or("HEAD"));
        let out = self.git(&args, None).await?;
        Ok(out
            .split('\u{1e}')
            .filter_map(|rec| {
                let (hash, message) = rec.split_once('\u{1f}')?;
                Some(Commit {
                    hash: hash.trim().to_string(),
                    message: message.trim().to_string(),
                })
            })
            .collect())
    }

    /// The next release from the conventional commits since the last version tag (a commit
    /// reverted since then is dropped with its revert); `None` when nothing releasable
    /// happened. Without a tag, the first release is 0.1.0.
    pub async fn next_release(&self) -> Result<Option<Release>, GitError> {
        let last = self.last_version().await?;
        let commits = self
            .commits_since(last.as_ref().map(|(t, _)| t.as_str()))
            .await?;
        let next = match &last {
            Some((_, v)) => next_version_for_commits(v, &commits),
            None => next_version_for_commits(&Version::new(0, 0, 0), &commits)
                .map(|_| Version::new(0, 1, 0)),
        };
        Ok(next.map(|next| Release {
            previous: last.map(|(_, v)| v),
            next,
            commits,
        }))
    }

    /// Creates the annotated tag `name` on HEAD with `message`.
    pub async fn create_tag(&self, name: &str, message: &str) -> Result<(), GitError> {
        let exists = self.git(&["tag", "--list", name], None).await?;
        if exists.lines().any(|l| l.trim() == name) {
            return Err(GitError::TagExists(name.to_string()));
        }
        self.git(
            &["tag", "--annotate", "--file=-", "--cleanup=verbatim", name],
            Some(message),
        )
        .await?;
        Ok(())
    }

    /// The message of an annotated tag.
    pub async fn tag_message(&self, name: &str) -> Result<String, GitError> {
        let out = self
            .git(&["tag", "--list", "--format=%(contents)", name], None)
            .await?;
        Ok(out.trim_end().to_string())
    }

    /// Tags HEAD as `version` with the changelog section for it: message
    /// `Release 1.2.0\n\n<excerpt>`. Refuses a version not greater than the last tag's.
    /// Returns the tag name.
    pub async fn tag_release(
        &self,
        version: &Version,
        changelog: &str,
    ) -> Result<String, GitError> {
        if let Some((_, last)) = self.last_version().await? {
            super::bump::ensure_increases(version, &last)?;
        }
        let excerpt = changelog_section(changelog, &version.to_string())?;
        let tag = self.tag_name(version);
        let message = if excerpt.is_empty() {
            format!("Release {version}\n")
        } else {
            format!("Release {version}\n\n{excerpt}\n")
        };
        self.create_tag(&tag, &message).await?;
        Ok(tag)
    }
}
