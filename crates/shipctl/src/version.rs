//! `shipctl version next`: the next semantic version from the conventional commits since the
//! last version tag, its changelog section, and (with `--tag`) the annotated release tag.
//! The rules are the library's ([`shipcore::version`]): this module only asks git through
//! [`GitRepo`] and prints.

use crate::exit::{CliError, Exit};
use crate::output::{outln, Format};
use shipcore::version::{
    changelog_section, releasable_commits, Commit, ConventionalCommit, GitError, GitRepo, Release,
};
use std::path::{Path, PathBuf};

/// What `version next` was asked for.
#[derive(Debug, Clone)]
pub struct NextArgs {
    /// The git working copy.
    pub repo: PathBuf,
    /// The version tags' prefix (`v` for `v1.2.3`).
    pub tag_prefix: String,
    /// The changelog to take the section from; `None`: `REPO/CHANGELOG.md` when it exists.
    pub changelog: Option<PathBuf>,
    /// Create the annotated tag on HEAD.
    pub tag: bool,
}

/// The changelog body for `version`: its section in `changelog` when it has one, else a
/// section written from the releasable commits (breaking changes, features, fixes).
fn section(changelog: Option<&str>, version: &str, commits: &[Commit]) -> (String, bool) {
    if let Some(body) = changelog.and_then(|text| changelog_section(text, version).ok()) {
        if !body.is_empty() {
            return (body, true);
        }
    }
    let mut breaking = Vec::new();
    let mut features = Vec::new();
    let mut fixes = Vec::new();
    for commit in releasable_commits(commits) {
        let Some(c) = ConventionalCommit::parse(&commit.message) else {
            continue;
        };
        let short: String = commit.hash.chars().take(7).collect();
        let item = match &c.scope {
            Some(scope) => format!("- **{scope}:** {} ({short})", c.description),
            None => format!("- {} ({short})", c.description),
        };
        if c.breaking {
            breaking.push(item.clone());
        }
        match c.kind.as_str() {
            "feat" => features.push(item),
            "fix" => fixes.push(item),
            _ => {}
        }
    }
    let mut parts = Vec::new();
    for (title, items) in [
        ("### Breaking changes", breaking),
        ("### Features", features),
        ("### Fixes", fixes),
    ] {
        if !items.is_empty() {
            // Oldest first, as a changelog reads.
            let items: Vec<String> = items.into_iter().rev().collect();
            parts.push(format!("{title}\n{}", items.join("\n")));
        }
    }
    (parts.join("\n\n"), false)
}

fn git_error(repo: &Path, e: GitError) -> CliError {
    match &e {
        GitError::Spawn(_) => CliError::Run(format!("version next: {e}")),
        GitError::Failed { stderr, .. } if stderr.contains("not a git repository") => {
            CliError::Usage(format!(
                "version next: {} is not in a git repository ({stderr})",
                repo.display()
            ))
        }
        GitError::Failed { stderr, .. }
            if stderr.contains("malformed object name HEAD")
                || stderr.contains("does not have any commits") =>
        {
            CliError::Usage(format!(
                "version next: the repository at {} has no commits yet: nothing to release",
                repo.display()
            ))
        }
        GitError::Failed { stderr, .. } if stderr.contains("cannot change to") => {
            CliError::Usage(format!(
                "version next: --repo {}: no such directory ({stderr})",
                repo.display()
            ))
        }
        _ => CliError::Usage(format!("version next in {}: {e}", repo.display())),
    }
}

/// Runs `shipctl version next`.
pub async fn next(args: &NextArgs, format: Format) -> Result<Exit, CliError> {
    let repo = GitRepo::new(&args.repo).tag_prefix(args.tag_prefix.clone());
    let changelog_path = match &args.changelog {
        Some(p) => Some(p.clone()),
        None => Some(args.repo.join("CHANGELOG.md")).filter(|p| p.is_file()),
    };
    let changelog = match &changelog_path {
        Some(p) => Some(std::fs::read_to_string(p).map_err(|e| {
            CliError::Usage(format!("--changelog {}: cannot read it: {e}", p.display()))
        })?),
        None => None,
    };
    let release = repo
        .next_release()
        .await
        .map_err(|e| git_error(&args.repo, e))?;
    let Some(Release {
        previous,
        next,
        commits,
    }) = release
    else {
        let since = repo
            .last_version()
            .await
            .map_err(|e| git_error(&args.repo, e))?
            .map(|(tag, _)| format!("since {tag}"))
            .unwrap_or_else(|| "in the history".into());
        if format == Format::Json {
            outln(&serde_json::json!({"next": null, "tagged": false}).to_string());
        }
        eprintln_msg(&format!(
            "shipctl: nothing to release {since}: no feat, fix or breaking commit{}",
            if args.tag { "; no tag created" } else { "" }
        ));
        return Ok(Exit::Succeeded);
    };
    let version = next.to_string();
    let (body, from_file) = section(changelog.as_deref(), &version, &commits);
    let tag = repo.tag_name(&next);
    if args.tag {
        // The library tags with the changelog's section for the version: the file's when it
        // has one, else the section written from the commits.
        let text = if from_file {
            changelog.clone().unwrap_or_default()
        } else {
            format!("## [{version}]\n\n{body}\n")
        };
        repo.tag_release(&next, &text)
            .await
            .map_err(|e| git_error(&args.repo, e))?;
    }
    match format {
        Format::Json => outln(
            &serde_json::json!({
                "previous": previous.map(|v| v.to_string()),
                "next": version,
                "tag": tag,
                "commits": commits.len(),
                "changelog": body,
                "changelog_from": if from_file {
                    changelog_path.map(|p| p.display().to_string())
                } else {
                    None
                },
                "tagged": args.tag,
            })
            .to_string(),
        ),
        Format::Text => {
            let mut text = format!("{version}\n\n## [{version}]\n");
            if !body.is_empty() {
                text += &format!("\n{body}\n");
            }
            if args.tag {
                text += &format!("\ncreated annotated tag {tag}\n");
            }
            crate::output::out(&text);
        }
    }
    Ok(Exit::Succeeded)
}

fn eprintln_msg(line: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "{line}");
}
