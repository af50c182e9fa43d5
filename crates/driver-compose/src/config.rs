//! What a [`ComposeDriver`](crate::ComposeDriver) needs to know: the compose project and
//! service, how to call the CLI and reach the engine, the port that serves traffic, and the
//! readiness rules. Checked up front with errors that name the field.

use shipcore::model::FieldError;
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::time::Duration;

/// How to call Docker Compose v2: `docker compose …` or a standalone `docker-compose …`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComposeCli {
    /// The program (`docker`, `/usr/local/bin/docker-compose`).
    pub program: PathBuf,
    /// Arguments before the compose arguments (`["compose"]` for `docker compose`).
    pub prefix: Vec<String>,
}

impl ComposeCli {
    /// `docker compose` (the Docker CLI plugin).
    pub fn docker_plugin() -> Self {
        ComposeCli {
            program: "docker".into(),
            prefix: vec!["compose".into()],
        }
    }
    /// A standalone `docker-compose` v2 binary.
    pub fn standalone(program: impl Into<PathBuf>) -> Self {
        ComposeCli {
            program: program.into(),
            prefix: Vec::new(),
        }
    }
}

impl Default for ComposeCli {
    fn default() -> Self {
        ComposeCli::docker_plugin()
    }
}

/// Who runs the compose file's healthchecks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HealthcheckRunner {
    /// Ask the engine once: Podman without systemd schedules no healthchecks, so the driver
    /// runs them; Docker schedules its own.
    #[default]
    Auto,
    /// The engine schedules them (Docker, Podman with systemd).
    Engine,
    /// The driver runs each container's healthcheck once per `observe`, through Podman's
    /// API (`/libpod/containers/{id}/healthcheck`).
    Driver,
}

/// An HTTP readiness probe the driver performs itself against each container's published
/// port: ready when the answer has the expected status within the timeout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpProbe {
    /// Path to GET (`/health`).
    pub path: String,
    /// Container port to probe; `None` probes [`ComposeConfig::port`].
    pub port: Option<u16>,
    /// Expected status (200).
    pub expect_status: u16,
    /// Time allowed for one probe.
    pub timeout: Duration,
}

impl HttpProbe {
    /// `GET path` must answer 200 within 2 s.
    pub fn get(path: impl Into<String>) -> Self {
        HttpProbe {
            path: path.into(),
            port: None,
            expect_status: 200,
            timeout: Duration::from_secs(2),
        }
    }
}

/// A configuration error: which field, and what is wrong with it.
/// It wraps a [`FieldError`]; `e.field` and `e.problem` read its fields.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid compose driver configuration: {0}")]
pub struct ConfigError(pub FieldError);

shipcore::field_error_wrapper!(ConfigError);

/// Configuration of a [`ComposeDriver`](crate::ComposeDriver): one service of one compose
/// project.
///
/// ```
/// use shipcore_driver_compose::{ComposeConfig, HttpProbe};
/// let mut cfg = ComposeConfig::new("shop", "web", ["compose.yaml"], 8080);
/// cfg.http_probe = Some(HttpProbe::get("/health"));
/// assert_eq!(cfg.service, "web");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ComposeConfig {
    /// Compose project name (`-p`): lowercase letters, digits, `-` and `_`.
    pub project: String,
    /// The base service whose definition each revision copies.
    pub service: String,
    /// Compose files (`-f`), in order; at least one.
    pub files: Vec<PathBuf>,
    /// `--project-directory`; `None` lets compose use the first file's folder.
    pub project_dir: Option<PathBuf>,
    /// How to call compose.
    pub cli: ComposeCli,
    /// `DOCKER_HOST` for the CLI and the engine API (`unix:///run/podman.sock`,
    /// `tcp://127.0.0.1:2375`); `None` inherits the environment's, then the Docker default.
    pub docker_host: Option<String>,
    /// Container port that serves traffic: routed by the router, probed by `http_probe`.
    pub port: u16,
    /// Host address revision containers publish their ports on (127.0.0.1).
    pub publish_host: IpAddr,
    /// Optional HTTP readiness probe on top of the compose healthcheck.
    pub http_probe: Option<HttpProbe>,
    /// Who runs the compose healthchecks.
    pub healthchecks: HealthcheckRunner,
    /// Pull missing images (`compose pull`); when false an image must already exist in the
    /// engine, and a missing one is a permanent error before anything changes.
    pub pull: bool,
    /// Time allowed for one compose command or engine call.
    pub command_timeout: Duration,
    /// Longest wait for a drained endpoint's connections to finish before its container
    /// is stopped.
    pub drain_timeout: Duration,
    /// Grace period between SIGTERM and SIGKILL when a container is stopped; `None` uses
    /// the service's `stop_grace_period` (compose default 10 s).
    pub stop_timeout: Option<Duration>,
    /// Where the driver keeps the traffic shares set by `Route`, so that a new process (a
    /// resumed rollout) sees what the last one set. One small JSON file per project and
    /// service.
    pub state_dir: PathBuf,
}

impl ComposeConfig {
    /// A configuration with defaults: `docker compose`, publish on 127.0.0.1, healthchecks
    /// run as the engine needs, no pulls, 120 s per command, 5 s drain, state under the
    /// system temporary folder.
    pub fn new<P: Into<PathBuf>>(
        project: impl Into<String>,
        service: impl Into<String>,
        files: impl IntoIterator<Item = P>,
        port: u16,
    ) -> Self {
        ComposeConfig {
            project: project.into(),
            service: service.into(),
            files: files.into_iter().map(Into::into).collect(),
            project_dir: None,
            cli: ComposeCli::default(),
            docker_host: None,
            port,
            publish_host: IpAddr::V4(Ipv4Addr::LOCALHOST),
            http_probe: None,
            healthchecks: HealthcheckRunner::Auto,
            pull: false,
            command_timeout: Duration::from_secs(120),
            drain_timeout: Duration::from_secs(5),
            stop_timeout: None,
            state_dir: std::env::temp_dir().join("shipcore-compose"),
        }
    }

    /// Checks every field that can be checked without the platform: names, that the files
    /// exist, the port.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let p = &self.project;
        let valid_project = !p.is_empty()
            && p.chars()
                .next()
                .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
            && p.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
        if !valid_project {
            return Err(FieldError::new(
                "project",
                format!("{p:?} is not a compose project name (lowercase letters, digits, '-', '_'; starting with a letter or digit)"),
            ).into());
        }
        if !crate::revision::is_name(&self.service) {
            return Err(FieldError::new(
                "service",
                format!(
                    "{:?} is not a compose service name (letters, digits, '.', '-', '_')",
                    self.service
                ),
            )
            .into());
        }
        if self.files.is_empty() {
            return Err(FieldError::new("files", "at least one compose file is needed").into());
        }
        for (i, f) in self.files.iter().enumerate() {
            if !f.is_file() {
                return Err(FieldError::new(
                    format!("files[{i}]"),
                    format!("compose file {} does not exist", f.display()),
                )
                .into());
            }
        }
        if self.port == 0 {
            return Err(FieldError::new(
                "port",
                "must be the container port that serves traffic, not 0",
            )
            .into());
        }
        if let Some(probe) = &self.http_probe {
            if !probe.path.starts_with('/') {
                return Err(FieldError::new(
                    "http_probe.path",
                    format!("{:?} must start with '/'", probe.path),
                )
                .into());
            }
            if probe.timeout.is_zero() {
                return Err(
                    FieldError::new("http_probe.timeout", "must be greater than zero").into(),
                );
            }
            if probe.port == Some(0) {
                return Err(FieldError::new("http_probe.port", "must not be 0").into());
            }
        }
        if self.command_timeout.is_zero() {
            return Err(FieldError::new("command_timeout", "must be greater than zero").into());
        }
        if self.cli.program.as_os_str().is_empty() {
            return Err(FieldError::new("cli.program", "must not be empty").into());
        }
        if let Some(host) = &self.docker_host {
            crate::engine_api::Endpoint::parse(host)
                .map_err(|e| FieldError::new("docker_host", e))?;
        }
        Ok(())
    }

    /// Container port the HTTP probe uses.
    pub fn probe_port(&self) -> u16 {
        self.http_probe
            .as_ref()
            .and_then(|p| p.port)
            .unwrap_or(self.port)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(dir: &tempfile::TempDir) -> ComposeConfig {
        let file = dir.path().join("compose.yaml");
        std::fs::write(&file, "services: {}\n").unwrap();
        ComposeConfig::new("shipcore-t", "web", [file], 8080)
    }

    #[test]
    fn a_good_configuration_passes() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(cfg(&dir).validate(), Ok(()));
    }

    #[test]
    fn errors_name_the_field() {
        let dir = tempfile::tempdir().unwrap();
        type Change = Box<dyn Fn(&mut ComposeConfig)>;
        let cases: Vec<(&str, Change)> = vec![
            ("project", Box::new(|c| c.project = "Shop".into())),
            ("project", Box::new(|c| c.project = String::new())),
            ("service", Box::new(|c| c.service = "web app".into())),
            ("files", Box::new(|c| c.files.clear())),
            (
                "files[1]",
                Box::new(|c| c.files.push("/nonexistent/compose.yaml".into())),
            ),
            ("port", Box::new(|c| c.port = 0)),
            (
                "http_probe.path",
                Box::new(|c| c.http_probe = Some(HttpProbe::get("health"))),
            ),
            (
                "docker_host",
                Box::new(|c| c.docker_host = Some("ssh://host".into())),
            ),
        ];
        for (field, change) in cases {
            let mut c = cfg(&dir);
            change(&mut c);
            let err = c.validate().unwrap_err();
            assert_eq!(err.field, field, "{err}");
        }
    }

    #[test]
    fn missing_file_error_says_which_file() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = cfg(&dir);
        c.files = vec!["/nonexistent/compose.yaml".into()];
        let err = c.validate().unwrap_err();
        assert!(
            err.to_string()
                .contains("/nonexistent/compose.yaml does not exist"),
            "{err}"
        );
    }
}
