//! Next versions from conventional commits, refusal of non-increasing versions, and
//! changelog sections.
#![allow(clippy::unwrap_used)]

use semver::Version;
use shipcore::version::{
    bump_for, changelog_section, ensure_increases, next_version, parse_version, Bump,
    ConventionalCommit, VersionError,
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
