//! `shipctl version next` in a temporary git repository: the version and changelog section
//! conventional commits call for, the annotated tag with --tag, and a clear error with exit
//! code 2 outside a repository.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::Command;

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.com")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.com")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

fn commit(dir: &Path, message: &str) {
    git(dir, &["commit", "--allow-empty", "-q", "-m", message]);
}

/// A repository tagged v1.2.0, then `messages` committed in order.
fn repo(messages: &[&str]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    git(dir.path(), &["init", "-q", "-b", "main"]);
    commit(dir.path(), "feat: first");
    git(
        dir.path(),
        &["tag", "--annotate", "-m", "Release 1.2.0", "v1.2.0"],
    );
    for m in messages {
        commit(dir.path(), m);
    }
    dir
}

fn shipctl(dir: &Path) -> assert_cmd::Command {
    let mut c = assert_cmd::Command::cargo_bin("shipctl").unwrap();
    c.current_dir(dir)
        .env("NO_COLOR", "1")
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.com")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.com")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1");
    c
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).to_string()
}

#[test]
fn feat_and_fix_bump_minor_with_a_changelog_written_from_the_commits() {
    let dir = repo(&[
        "fix(api): reject empty names",
        "docs: typo",
        "feat: export csv",
        "chore: bump deps",
    ]);
    let out = shipctl(dir.path())
        .args(["version", "next"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines[0], "1.3.0", "{stdout}");
    assert_eq!(lines[2], "## [1.3.0]", "{stdout}");
    let features = stdout.find("### Features\n- export csv (").unwrap();
    let fixes = stdout
        .find("### Fixes\n- **api:** reject empty names (")
        .unwrap();
    assert!(features < fixes, "{stdout}");
    assert!(
        !stdout.contains("typo") && !stdout.contains("deps"),
        "{stdout}"
    );
    assert!(!stdout.contains("Breaking"), "{stdout}");
    // Nothing was tagged without --tag.
    assert_eq!(git(dir.path(), &["tag", "--list"]).trim(), "v1.2.0");
}

#[test]
fn a_breaking_change_bumps_major_and_a_reverted_feature_is_not_listed() {
    let dir = repo(&["fix: a", "feat: export csv"]);
    let reverted = git(dir.path(), &["rev-parse", "HEAD"]);
    commit(
        dir.path(),
        &format!(
            "Revert \"feat: export csv\"\n\nThis reverts commit {}.",
            reverted.trim()
        ),
    );
    commit(
        dir.path(),
        "refactor: new config\n\nBREAKING CHANGE: the config file moved",
    );
    let out = shipctl(dir.path())
        .args(["--output", "json", "version", "next"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["previous"], "1.2.0");
    assert_eq!(v["next"], "2.0.0");
    assert_eq!(v["tag"], "v2.0.0");
    assert_eq!(v["tagged"], false);
    let changelog = v["changelog"].as_str().unwrap();
    assert!(
        changelog.starts_with("### Breaking changes\n- new config ("),
        "{changelog}"
    );
    assert!(changelog.contains("### Fixes\n- a ("), "{changelog}");
    assert!(!changelog.contains("export csv"), "{changelog}");
}

#[test]
fn tag_creates_an_annotated_tag_carrying_the_changelog_section() {
    let dir = repo(&["fix: crash on empty input"]);
    std::fs::write(
        dir.path().join("CHANGELOG.md"),
        "# Changelog\n\n## [1.2.1] - 2026-12-02\n### Fixed\n- The crash on empty input\n\n## [1.2.0]\n- First\n",
    )
    .unwrap();
    let out = shipctl(dir.path())
        .args(["version", "next", "--tag"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.starts_with("1.2.1\n"), "{stdout}");
    assert!(
        stdout.contains("### Fixed\n- The crash on empty input"),
        "{stdout}"
    );
    assert!(stdout.contains("created annotated tag v1.2.1"), "{stdout}");
    assert_eq!(git(dir.path(), &["cat-file", "-t", "v1.2.1"]).trim(), "tag");
    let message = git(
        dir.path(),
        &["tag", "--list", "--format=%(contents)", "v1.2.1"],
    );
    assert!(
        message.starts_with("Release 1.2.1\n\n### Fixed\n- The crash on empty input"),
        "{message}"
    );
    // The tag is on HEAD, and now nothing is left to release.
    assert_eq!(
        git(dir.path(), &["rev-parse", "v1.2.1^{commit}"]),
        git(dir.path(), &["rev-parse", "HEAD"])
    );
    let again = shipctl(dir.path())
        .args(["version", "next", "--tag"])
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(0));
    assert_eq!(text(&again.stdout), "");
    assert!(
        text(&again.stderr).contains("nothing to release since v1.2.1"),
        "{}",
        text(&again.stderr)
    );
}

#[test]
fn tag_without_a_changelog_file_uses_the_section_from_the_commits() {
    let dir = repo(&["feat(ui): dark mode"]);
    let out = shipctl(dir.path())
        .args(["version", "next", "--tag", "--repo", "."])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(git(dir.path(), &["cat-file", "-t", "v1.3.0"]).trim(), "tag");
    let message = git(
        dir.path(),
        &["tag", "--list", "--format=%(contents)", "v1.3.0"],
    );
    assert!(
        message.starts_with("Release 1.3.0\n\n### Features\n- **ui:** dark mode ("),
        "{message}"
    );
}

#[test]
fn outside_a_git_repository_is_a_clear_error_with_exit_code_2() {
    let dir = tempfile::tempdir().unwrap();
    let out = shipctl(dir.path())
        .env("GIT_CEILING_DIRECTORIES", dir.path().parent().unwrap())
        .args(["version", "next", "--tag"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("is not in a git repository"), "{stderr}");
    assert_eq!(text(&out.stdout), "");
    // A repository without commits says so.
    git(dir.path(), &["init", "-q"]);
    let out = shipctl(dir.path())
        .args(["version", "next"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("has no commits yet: nothing to release"),
        "{}",
        text(&out.stderr)
    );
    // A missing --changelog file is bad input too.
    let repo = repo(&["fix: x"]);
    let out = shipctl(repo.path())
        .args(["version", "next", "--changelog", "NOPE.md"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("--changelog NOPE.md: cannot read it"),
        "{}",
        text(&out.stderr)
    );
}
