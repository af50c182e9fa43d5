//! Next versions from conventional commits, refusal of non-increasing versions, and
//! changelog sections.
#![allow(clippy::unwrap_used)]

use semver::Version;
use shipcore::version::{
    bump_for, bump_for_commits, changelog_section, ensure_increases, next_version,
    next_version_for_commits, parse_version, Bump, Commit, ConventionalCommit, Revert,
    VersionError,
};

fn v(s: &str) -> Version {
    Version::parse(s).unwrap()
}

#[test]
fn parses_conventional_headers_and_footers() {
    let c = ConventionalCommit::parse("fix(parser): handle empty input\n\nDetails.").unwrap();
    assert_eq!(c.kind, "fix");
    assert_eq!(c.scope.as_deref(), Some("parser"));
    assert!(!c.breaking);
    assert_eq!(c.description, "handle empty input");
    assert_eq!(c.bump(), Bump::Patch);

    assert!(
        ConventionalCommit::parse("feat!: new config format")
            .unwrap()
            .breaking
    );
    let footer = "refactor: rename settings\n\nBREAKING CHANGE: `port` is now `listen`";
    assert_eq!(
        ConventionalCommit::parse(footer).unwrap().bump(),
        Bump::Major
    );
    assert_eq!(
        ConventionalCommit::parse("Feat: upper case type")
            .unwrap()
            .bump(),
        Bump::Minor
    );
    assert_eq!(
        ConventionalCommit::parse("docs: readme").unwrap().bump(),
        Bump::None
    );

    for not_conventional in [
        "Merge branch 'main'",
        "fix:",
        "fix(): x",
        "fix(a)(b): x",
        "two words: x",
        "",
        // The spec requires a colon *and* a space.
        "feat:no space",
        "fix(parser):x",
        "feat!:x",
    ] {
        assert_eq!(
            ConventionalCommit::parse(not_conventional),
            None,
            "{not_conventional:?}"
        );
    }
    // "BREAKING CHANGE" in the subject text is not a footer.
    assert_eq!(
        ConventionalCommit::parse("fix: mention BREAKING CHANGE: in docs")
            .unwrap()
            .bump(),
        Bump::Patch
    );
}

#[test]
fn bumps_from_one_dot_oh() {
    let cur = v("1.4.2");
    assert_eq!(next_version(&cur, ["fix: a", "docs: b"]), Some(v("1.4.3")));
    assert_eq!(next_version(&cur, ["fix: a", "feat: b"]), Some(v("1.5.0")));
    assert_eq!(
        next_version(&cur, ["feat: b", "fix(x)!: c"]),
        Some(v("2.0.0"))
    );
    assert_eq!(
        next_version(&cur, ["chore: deps", "Merge pull request #3"]),
        None
    );
    assert_eq!(next_version(&cur, std::iter::empty()), None);
    assert_eq!(bump_for(["feat: a", "chore: b"]), Bump::Minor);
}

#[test]
fn zero_x_rules_follow_cargo() {
    assert_eq!(
        next_version(&v("0.3.1"), ["feat!: break"]),
        Some(v("0.4.0"))
    );
    assert_eq!(next_version(&v("0.3.1"), ["feat: add"]), Some(v("0.3.2")));
    assert_eq!(next_version(&v("0.3.1"), ["fix: fix"]), Some(v("0.3.2")));
    assert_eq!(
        next_version(&v("0.0.4"), ["feat!: break"]),
        Some(v("0.1.0"))
    );
}

#[test]
fn prereleases_release_themselves_and_build_metadata_goes() {
    assert_eq!(
        next_version(&v("2.0.0-rc.2"), ["fix: last bug"]),
        Some(v("2.0.0"))
    );
    assert_eq!(
        next_version(&v("2.0.0-rc.2"), ["feat!: more"]),
        Some(v("2.0.0"))
    );
    assert_eq!(
        next_version(&v("1.2.3+build.7"), ["fix: x"]),
        Some(v("1.2.4"))
    );
}

#[test]
fn refuses_versions_that_do_not_increase() {
    assert!(ensure_increases(&v("1.3.1"), &v("1.3.0")).is_ok());
    let e = ensure_increases(&v("1.2.0"), &v("1.3.0")).unwrap_err();
    assert_eq!(
        e.to_string(),
        "version 1.2.0 is not greater than 1.3.0, the version in production"
    );
    assert!(matches!(e, VersionError::NotGreater { .. }));
    assert!(ensure_increases(&v("1.3.0"), &v("1.3.0")).is_err());
    // A pre-release is lower than its release.
    assert!(ensure_increases(&v("1.3.0-rc.1"), &v("1.3.0")).is_err());
    assert_eq!(parse_version("tag", "v1.2.3").unwrap(), v("1.2.3"));
    let e = parse_version("tag", "release-7").unwrap_err();
    assert!(
        e.to_string()
            .starts_with("tag: \"release-7\" is not a semantic version"),
        "{e}"
    );
}

const CHANGELOG: &str = "# Changelog

All notable changes to this project will be documented in this file.

## [Unreleased]
### Added
- Dark mode

## [1.3.0] - 2024-06-01
### Added
- CSV export
- `--since` filter

### Fixed
- Crash on empty input

## 1.2.0
- First public release

[Unreleased]: https://example.invalid/compare/v1.3.0...HEAD
[1.3.0]: https://example.invalid/compare/v1.2.0...v1.3.0
";

#[test]
fn extracts_a_keep_a_changelog_section() {
    assert_eq!(
        changelog_section(CHANGELOG, "1.3.0").unwrap(),
        "### Added\n- CSV export\n- `--since` filter\n\n### Fixed\n- Crash on empty input"
    );
    assert_eq!(
        changelog_section(CHANGELOG, "v1.2.0").unwrap(),
        "- First public release"
    );
    assert_eq!(
        changelog_section(CHANGELOG, "unreleased").unwrap(),
        "### Added\n- Dark mode"
    );
    let e = changelog_section(CHANGELOG, "1.4.0").unwrap_err();
    assert_eq!(
        e.to_string(),
        "CHANGELOG has no section for 1.4.0 (sections: Unreleased, 1.3.0, 1.2.0)"
    );
    // "1.3" must not match "1.3.0".
    assert!(changelog_section(CHANGELOG, "1.3").is_err());
}

#[test]
fn a_colon_without_a_space_is_not_a_feature() {
    // Issue 10 item 9: `feat:no space` bumped minor.
    assert_eq!(bump_for(["feat:no space", "fix: real fix"]), Bump::Patch);
    assert_eq!(next_version(&v("1.4.2"), ["feat:no space"]), None);
}

fn commit(hash: &str, message: &str) -> Commit {
    Commit {
        hash: hash.to_string(),
        message: message.to_string(),
    }
}

#[test]
fn reverted_commits_drop_out_with_their_revert() {
    // Issue 10 item 9: a feat reverted before release bumped minor. Newest first, as git log.
    let revert = "Revert \"feat: export csv\"\n\nThis reverts commit aaa111.";
    let commits = [
        commit("ccc333", revert),
        commit("bbb222", "fix: typo"),
        commit("aaa111", "feat: export csv"),
    ];
    assert_eq!(bump_for_commits(&commits), Bump::Patch);
    assert_eq!(
        next_version_for_commits(&v("1.4.2"), &commits),
        Some(v("1.4.3"))
    );
    // From messages alone the header decides.
    assert_eq!(
        next_version(&v("1.4.2"), [revert, "fix: typo", "feat: export csv"]),
        Some(v("1.4.3"))
    );
    // The `revert:` form, and the revert alone releases nothing.
    let conventional = "revert: feat!: new config format\n\nThis reverts commit aaa111.";
    assert_eq!(
        bump_for_commits(&[
            commit("ccc333", conventional),
            commit("aaa111", "feat!: new config format")
        ]),
        Bump::None
    );
    // With hashes, the hash must match too: a same-titled commit from elsewhere stays.
    assert_eq!(
        bump_for_commits(&[
            commit("ccc333", revert),
            commit("fff999", "feat: export csv")
        ]),
        Bump::Minor
    );
    // A revert of a commit from an earlier release is kept and bumps nothing itself.
    assert_eq!(bump_for_commits(&[commit("ccc333", revert)]), Bump::None);
    // Reverting the revert brings the feature back.
    let again = "Revert \"Revert \"feat: export csv\"\"\n\nThis reverts commit ccc333.";
    assert_eq!(
        bump_for_commits(&[
            commit("ddd444", again),
            commit("ccc333", revert),
            commit("aaa111", "feat: export csv"),
        ]),
        Bump::Minor
    );
    let r = Revert::parse(revert).unwrap();
    assert_eq!(
        (r.header.as_str(), r.hash.as_str()),
        ("feat: export csv", "aaa111")
    );
    assert_eq!(Revert::parse("revert: oops, no body"), None);
}

#[test]
fn prereleases_bump_as_semver_inc_does() {
    // Issue 10 item 9: 1.2.3-rc.1 + feat gave 1.2.3 and 1.3.0-rc.1 + feat! gave 1.3.0;
    // node-semver's semver.inc gives 1.3.0 and 2.0.0.
    assert_eq!(
        next_version(&v("1.2.3-rc.1"), ["feat: a"]),
        Some(v("1.3.0"))
    );
    assert_eq!(
        next_version(&v("1.3.0-rc.1"), ["feat!: b"]),
        Some(v("2.0.0"))
    );
    // The pre-release already is the bump's version: released as itself.
    assert_eq!(next_version(&v("1.2.3-rc.1"), ["fix: a"]), Some(v("1.2.3")));
    assert_eq!(
        next_version(&v("1.3.0-rc.1"), ["feat: a"]),
        Some(v("1.3.0"))
    );
    assert_eq!(next_version(&v("1.3.0-rc.1"), ["fix: a"]), Some(v("1.3.0")));
    assert_eq!(
        next_version(&v("2.0.0-rc.1"), ["feat: a"]),
        Some(v("2.0.0"))
    );
    assert_eq!(
        next_version(&v("1.2.3-beta+build.5"), ["feat!: a"]),
        Some(v("2.0.0"))
    );
    // 0.x rules first (breaking -> minor, feat -> patch), then semver.inc.
    assert_eq!(
        next_version(&v("0.4.0-rc.1"), ["feat!: a"]),
        Some(v("0.4.0"))
    );
    assert_eq!(
        next_version(&v("0.3.1-rc.1"), ["feat!: a"]),
        Some(v("0.4.0"))
    );
    assert_eq!(
        next_version(&v("0.3.1-rc.1"), ["feat: a"]),
        Some(v("0.3.1"))
    );
}
