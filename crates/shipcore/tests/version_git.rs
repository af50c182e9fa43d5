//! Release tags on a real temporary git repository: conventional commits since the last
//! tag, the next version, and an annotated tag carrying the changelog excerpt.
#![allow(clippy::unwrap_used)]

use semver::Version;
use shipcore::version::{GitError, GitRepo, VersionError};
use std::path::Path;
use std::process::Command;

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn repo() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    git(p, &["init", "-q", "-b", "main"]);
    git(p, &["config", "user.name", "Release Bot"]);
    git(p, &["config", "user.email", "bot@example.invalid"]);
    git(p, &["config", "tag.gpgSign", "false"]);
    git(p, &["config", "commit.gpgSign", "false"]);
    dir
}

fn commit(dir: &Path, message: &str) {
    let n = std::fs::read_dir(dir).unwrap().count();
    std::fs::write(dir.join(format!("f{n}.txt")), message).unwrap();
    git(dir, &["add", "."]);
    git(dir, &["commit", "-q", "-m", message]);
}

const CHANGELOG: &str = "# Changelog\n\n## [1.3.0] - 2024-06-01\n### Added\n- CSV export\n\n### Fixed\n- Crash on empty input\n\n## [1.2.0]\n- Older\n";

#[tokio::test]
async fn next_release_from_commits_since_the_last_tag_and_tagging_it() {
    let dir = repo();
    let p = dir.path();
    commit(p, "feat: first feature");
    git(p, &["tag", "-a", "v1.2.0", "-m", "Release 1.2.0"]);
    git(p, &["tag", "not-a-version"]);
    commit(p, "docs: readme");
    commit(p, "fix(parser): crash on empty input");
    commit(p, "feat(export): CSV export\n\nAdds --format csv.");

    let r = GitRepo::new(p);
    let (tag, last) = r.last_version().await.unwrap().unwrap();
    assert_eq!(
        (tag.as_str(), last.to_string().as_str()),
        ("v1.2.0", "1.2.0")
    );
    let release = r.next_release().await.unwrap().unwrap();
    assert_eq!(release.previous, Some(Version::new(1, 2, 0)));
    assert_eq!(release.next, Version::new(1, 3, 0));
    let subjects: Vec<&str> = release.commits.iter().map(|c| c.subject()).collect();
    assert_eq!(
        subjects,
        vec![
            "feat(export): CSV export",
            "fix(parser): crash on empty input",
            "docs: readme"
        ]
    );
    assert_eq!(
        release.commits[0].message,
        "feat(export): CSV export\n\nAdds --format csv."
    );
    assert_eq!(release.commits[0].hash, git(p, &["rev-parse", "HEAD"]));

    let tag = r.tag_release(&release.next, CHANGELOG).await.unwrap();
    assert_eq!(tag, "v1.3.0");
    assert_eq!(
        git(p, &["cat-file", "-t", "v1.3.0"]),
        "tag",
        "an annotated tag object"
    );
    assert_eq!(
        git(p, &["rev-list", "-n", "1", "v1.3.0"]),
        git(p, &["rev-parse", "HEAD"])
    );
    let message = r.tag_message("v1.3.0").await.unwrap();
    assert_eq!(
        message,
        "Release 1.3.0\n\n### Added\n- CSV export\n\n### Fixed\n- Crash on empty input"
    );

    // Nothing new since the tag: nothing to release.
    assert_eq!(r.next_release().await.unwrap(), None);
    commit(p, "chore: bump deps");
    assert_eq!(r.next_release().await.unwrap(), None);
    commit(
        p,
        "fix!: drop the old API\n\nBREAKING CHANGE: v1 endpoints removed",
    );
    assert_eq!(
        r.next_release().await.unwrap().unwrap().next,
        Version::new(2, 0, 0)
    );
}

#[tokio::test]
async fn refusals_name_what_is_wrong() {
    let dir = repo();
    let p = dir.path();
    commit(p, "feat: one");
    git(p, &["tag", "-a", "v1.3.0", "-m", "Release 1.3.0"]);
    commit(p, "fix: two");
    let r = GitRepo::new(p);

    // Not greater than the last release.
    match r.tag_release(&Version::new(1, 2, 9), CHANGELOG).await {
        Err(GitError::Version(VersionError::NotGreater {
            candidate,
            production,
        })) => {
            assert_eq!(
                (candidate.to_string(), production.to_string()),
                ("1.2.9".into(), "1.3.0".into())
            );
        }
        other => panic!("expected NotGreater, got {other:?}"),
    }
    // No changelog section: no tag.
    match r.tag_release(&Version::new(1, 3, 1), CHANGELOG).await {
        Err(GitError::Changelog(e)) => {
            assert!(e.to_string().contains("no section for 1.3.1"), "{e}")
        }
        other => panic!("expected a changelog error, got {other:?}"),
    }
    assert_eq!(git(p, &["tag", "--list", "v1.3.1"]), "");
    // An existing tag is not overwritten.
    let e = r.create_tag("v1.3.0", "again").await.unwrap_err();
    assert_eq!(e, GitError::TagExists("v1.3.0".into()));
    // Not a repository: git's own message comes through.
    let empty = tempfile::tempdir().unwrap();
    match GitRepo::new(empty.path()).last_version().await {
        Err(GitError::Failed { stderr, .. }) => {
            assert!(stderr.contains("not a git repository"), "{stderr}")
        }
        other => panic!("expected Failed, got {other:?}"),
    }
}

#[tokio::test]
async fn first_release_and_custom_prefix() {
    let dir = repo();
    let p = dir.path();
    commit(p, "chore: scaffold");
    let r = GitRepo::new(p).tag_prefix("web-v");
    assert_eq!(r.next_release().await.unwrap(), None);
    commit(p, "feat: hello");
    let rel = r.next_release().await.unwrap().unwrap();
    assert_eq!(
        (rel.previous, rel.next.clone()),
        (None, Version::new(0, 1, 0))
    );
    assert_eq!(rel.commits.len(), 2);
    let changelog = "## [0.1.0]\n- Hello\n";
    assert_eq!(
        r.tag_release(&rel.next, changelog).await.unwrap(),
        "web-v0.1.0"
    );
    // Other tags (another service's) do not count.
    git(p, &["tag", "-a", "api-v5.0.0", "-m", "api"]);
    commit(p, "fix: typo");
    let rel = r.next_release().await.unwrap().unwrap();
    assert_eq!(rel.next, Version::new(0, 1, 1));
}

#[tokio::test]
async fn a_feature_reverted_with_git_revert_before_release_bumps_nothing() {
    let dir = repo();
    let p = dir.path();
    commit(p, "feat: first feature");
    git(p, &["tag", "-a", "v1.2.0", "-m", "Release 1.2.0"]);
    commit(p, "fix: typo");
    commit(p, "feat: risky feature");
    // `git revert` writes `Revert "feat: risky feature"` + `This reverts commit <hash>.`
    git(p, &["revert", "--no-edit", "HEAD"]);
    let r = GitRepo::new(p);
    let next = r.next_release().await.unwrap().unwrap();
    assert_eq!(next.next, Version::new(1, 2, 1));
    assert_eq!(next.commits.len(), 3);
}
