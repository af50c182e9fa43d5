//! Runs the Docker Compose v2 CLI for one project: `-p`, the project's files, and an
//! optional generated override fed on standard input (`-f -`), with `DOCKER_HOST` passed
//! through, a deadline, and failures classified with the CLI's stderr kept.

use crate::config::ComposeConfig;
use crate::error::classified;
use shipcore::driver::DriverError;
use std::process::Stdio;
use tokio::io::AsyncWriteExt;

/// How much of the CLI's stderr an error keeps (its end, where compose says what failed).
const STDERR_KEEP: usize = 4000;

/// The compose CLI bound to one project.
#[derive(Debug, Clone)]
pub struct ComposeCliRunner {
    cfg: ComposeConfig,
}

impl ComposeCliRunner {
    /// A runner for the project in `cfg`.
    pub fn new(cfg: ComposeConfig) -> Self {
        ComposeCliRunner { cfg }
    }

    /// The full argument list for `args`, with the override on stdin when `overlay` is set.
    pub fn argv(&self, args: &[&str], overlay: bool) -> Vec<String> {
        let mut argv: Vec<String> = self.cfg.cli.prefix.clone();
        argv.extend([
            "--ansi".into(),
            "never".into(),
            "-p".into(),
            self.cfg.project.clone(),
        ]);
        if let Some(dir) = &self.cfg.project_dir {
            argv.extend(["--project-directory".into(), dir.display().to_string()]);
        }
        for f in &self.cfg.files {
            argv.extend(["-f".into(), f.display().to_string()]);
        }
        if overlay {
            argv.extend(["-f".into(), "-".into()]);
        }
        argv.extend(args.iter().map(|a| a.to_string()));
        argv
    }

    /// Runs `compose <args>`; `overlay` (a compose document) goes to stdin. Returns stdout.
    pub async fn run(
        &self,
        operation: &str,
        args: &[&str],
        overlay: Option<&str>,
    ) -> Result<String, DriverError> {
        let argv = self.argv(args, overlay.is_some());
        let mut cmd = tokio::process::Command::new(&self.cfg.cli.program);
        cmd.args(&argv)
            .stdin(if overlay.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        if let Some(host) = &self.cfg.docker_host {
            cmd.env("DOCKER_HOST", host);
        }
        let program = self.cfg.cli.program.display().to_string();
        let mut child = cmd.spawn().map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                DriverError::permanent(
                    operation,
                    format!("compose CLI {program:?} not found: install Docker Compose v2 or set ComposeConfig.cli"),
                )
            } else {
                DriverError::transient(operation, format!("cannot start {program:?}: {e}"))
            }
        })?;
        if let (Some(doc), Some(mut stdin)) = (overlay, child.stdin.take()) {
            stdin.write_all(doc.as_bytes()).await.map_err(|e| {
                DriverError::transient(operation, format!("writing the override to compose: {e}"))
            })?;
            drop(stdin);
        }
        let timeout = self.cfg.command_timeout;
        let out = match tokio::time::timeout(timeout, child.wait_with_output()).await {
            Ok(Ok(out)) => out,
            Ok(Err(e)) => {
                return Err(DriverError::transient(
                    operation,
                    format!("waiting for compose: {e}"),
                ))
            }
            Err(_) => {
                return Err(DriverError::transient(
                    operation,
                    format!("compose {} timed out after {timeout:?}", args.join(" ")),
                ))
            }
        };
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        if out.status.success() {
            return Ok(stdout);
        }
        let stderr = String::from_utf8_lossy(&out.stderr);
        let stderr = stderr.trim();
        let tail = match stderr.char_indices().rev().nth(STDERR_KEEP) {
            Some((i, _)) => &stderr[i..],
            None => stderr,
        };
        let code = out
            .status
            .code()
            .map(|c| c.to_string())
            .unwrap_or_else(|| "a signal".into());
        Err(classified(
            operation,
            format!("`compose {}` exited with {code}: {tail}", args.join(" ")),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ComposeCli;
    use std::os::unix::fs::PermissionsExt;
    use std::time::Duration;

    /// A fake compose: prints its arguments and stdin, fails when told to.
    fn fake_cli(dir: &std::path::Path) -> std::path::PathBuf {
        let path = dir.join("fake-compose");
        std::fs::write(
            &path,
            "#!/bin/sh\n\
             for a in \"$@\"; do\n\
               case \"$a\" in\n\
                 fail-permanent) echo 'no such service: web-v9' >&2; exit 1;;\n\
                 fail-engine) echo 'Cannot connect to the Docker daemon at unix:///x.sock. Is the docker daemon running?' >&2; exit 1;;\n\
                 hang) sleep 5;;\n\
               esac\n\
             done\n\
             echo \"args: $*\"\n\
             echo \"host: $DOCKER_HOST\"\n\
             if [ \"$STDIN\" != no ]; then cat; fi\n",
        )
        .unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path
    }

    fn runner(dir: &std::path::Path) -> ComposeCliRunner {
        let mut cfg = ComposeConfig::new("shipcore-t", "web", [dir.join("compose.yaml")], 8080);
        cfg.cli = ComposeCli {
            program: fake_cli(dir),
            prefix: vec!["compose".into()],
        };
        cfg.docker_host = Some("unix:///tmp/x.sock".into());
        cfg.command_timeout = Duration::from_millis(500);
        ComposeCliRunner::new(cfg)
    }

    #[tokio::test]
    async fn passes_project_files_override_and_docker_host() {
        let dir = tempfile::tempdir().unwrap();
        let out = runner(dir.path())
            .run("ps", &["ps", "--format", "json"], Some("services: {}\n"))
            .await
            .unwrap();
        let file = dir.path().join("compose.yaml");
        assert!(
            out.contains(&format!(
                "args: compose --ansi never -p shipcore-t -f {} -f - ps --format json",
                file.display()
            )),
            "{out}"
        );
        assert!(out.contains("host: unix:///tmp/x.sock"), "{out}");
        assert!(
            out.contains("services: {}"),
            "the override reaches stdin: {out}"
        );
    }

    #[tokio::test]
    async fn failures_are_classified_with_stderr_kept() {
        let dir = tempfile::tempdir().unwrap();
        let r = runner(dir.path());
        let e = r
            .run("deploy", &["up", "fail-permanent"], None)
            .await
            .unwrap_err();
        assert!(!e.is_transient(), "{e}");
        assert!(e.message.contains("no such service: web-v9"), "{e}");
        let e = r
            .run("deploy", &["up", "fail-engine"], None)
            .await
            .unwrap_err();
        assert!(e.is_transient(), "{e}");
        assert!(
            e.message.contains("Cannot connect to the Docker daemon"),
            "{e}"
        );
    }

    #[tokio::test]
    async fn a_hanging_cli_times_out_as_transient() {
        let dir = tempfile::tempdir().unwrap();
        let e = runner(dir.path())
            .run("observe", &["hang"], None)
            .await
            .unwrap_err();
        assert!(e.is_transient());
        assert!(e.message.contains("timed out"), "{e}");
    }

    #[tokio::test]
    async fn a_missing_binary_is_permanent() {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = ComposeConfig::new("shipcore-t", "web", [dir.path().join("c.yaml")], 8080);
        cfg.cli = ComposeCli::standalone("/nonexistent/docker-compose");
        let e = ComposeCliRunner::new(cfg)
            .run("observe", &["ps"], None)
            .await
            .unwrap_err();
        assert!(!e.is_transient());
        assert!(e.message.contains("not found"), "{e}");
    }
}
