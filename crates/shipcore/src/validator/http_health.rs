//! The HTTP health validator: GET a health URL (a template with the context's variables) and
//! check the status code, the JSON body's `status` (default `"healthy"`), that the reported
//! `version` is the one being deployed, and that every entry in `dependencies` is healthy.
//!
//! Body shape understood: `{"status": "healthy", "version": "2.0.0", "dependencies": ...}`
//! where `dependencies` is an object of name → status string or `{"status": ...}`, or an
//! array of `{"name": ..., "status": ...}`. A `v` prefix on the version is ignored.
//! Measurements: `latency_ms` and `http_status`. An endpoint that cannot be reached (refused,
//! timeout) is a validator error by default, a failure with `unreachable: fail`; so is a
//! body over [`MAX_VALIDATOR_BODY`](crate::http_limits::MAX_VALIDATOR_BODY) (1 MiB).
//!
//! Messages show the URL without userinfo, query string or fragment
//! ([`redact::url`](crate::redact::url)), and each value taken from the body at most
//! [`MAX_ENDPOINT_TEXT`](crate::redact::MAX_ENDPOINT_TEXT) bytes of it. Redirects are
//! followed only within the same origin, so headers never reach another host.

use super::config::ConfigError;
use super::http::{
    check_headers, check_statuses, check_timeout, check_url_template, client, fetch, render_url,
    status_ok, Unreachable,
};
use super::{non_empty, num, verr};
use crate::model::FieldError;
use crate::redact::endpoint_text;
use crate::time::{serde_duration, serde_opt_duration};
use crate::validator::{
    Measurement, Outcome, ValidationContext, Validator, ValidatorError, Verdict,
};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::Duration;

/// Configuration of an [`HttpHealth`] validator. Its `Debug` shows the URL without
/// userinfo or query string and hides secret header values
/// ([`redact::is_secret_header`](crate::redact::is_secret_header)).
///
/// ```
/// let c: shipcore::validator::HttpHealthConfig = serde_json::from_str(r#"{
///     "name": "health", "url": "http://{{service}}.internal:8080/health", "timeout": "2s"}"#)
///     .unwrap();
/// assert_eq!(c.healthy, vec!["healthy".to_string()]);
/// assert!(c.build().is_ok());
/// ```
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct HttpHealthConfig {
    /// Validator name.
    pub name: String,
    /// URL template (`{{service}}`, `{{revision}}`, ... from the context). Its userinfo and
    /// query string never appear in messages.
    pub url: String,
    /// Request headers (secret ones are hidden in `Debug`; none is sent to another origin).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// Statuses that pass (default: any 2xx).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub expect_status: Vec<u16>,
    /// Accepted values of the body's `status` (default `["healthy"]`); empty: the body is not
    /// read for a status.
    #[serde(default = "default_healthy")]
    pub healthy: Vec<String>,
    /// The body's `version` must equal the candidate's version (default true).
    #[serde(default = "yes")]
    pub check_version: bool,
    /// Every entry in the body's `dependencies` must be healthy (default true).
    #[serde(default = "yes")]
    pub check_dependencies: bool,
    /// Request timeout (default 5s).
    #[serde(default = "default_timeout", with = "serde_duration")]
    pub timeout: Duration,
    /// A slower answer fails.
    #[serde(
        default,
        with = "serde_opt_duration",
        skip_serializing_if = "Option::is_none"
    )]
    pub max_latency: Option<Duration>,
    /// What an unreachable endpoint means (default: a validator error).
    #[serde(default)]
    pub unreachable: Unreachable,
}

impl std::fmt::Debug for HttpHealthConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpHealthConfig")
            .field("name", &self.name)
            .field("url", &crate::redact::Url(&self.url))
            .field("headers", &crate::redact::Headers(&self.headers))
            .field("expect_status", &self.expect_status)
            .field("healthy", &self.healthy)
            .field("check_version", &self.check_version)
            .field("check_dependencies", &self.check_dependencies)
            .field("timeout", &self.timeout)
            .field("max_latency", &self.max_latency)
            .field("unreachable", &self.unreachable)
            .finish()
    }
}

fn default_healthy() -> Vec<String> {
    vec!["healthy".into()]
}
fn yes() -> bool {
    true
}
fn default_timeout() -> Duration {
    Duration::from_secs(5)
}

impl HttpHealthConfig {
    /// A health check of `url` with every default.
    pub fn new(name: impl Into<String>, url: impl Into<String>) -> Self {
        HttpHealthConfig {
            name: name.into(),
            url: url.into(),
            headers: BTreeMap::new(),
            expect_status: Vec::new(),
            healthy: default_healthy(),
            check_version: true,
            check_dependencies: true,
            timeout: default_timeout(),
            max_latency: None,
            unreachable: Unreachable::Error,
        }
    }

    /// Checks the values.
    pub fn check(&self) -> Result<(), ConfigError> {
        non_empty("name", &self.name)?;
        check_url_template("url", &self.url)?;
        check_headers("headers", &self.headers)?;
        check_statuses("expect_status", &self.expect_status)?;
        check_timeout("timeout", self.timeout)?;
        if let Some(m) = self.max_latency {
            if m.is_zero() || m > self.timeout {
                return Err(FieldError::new(
                    "max_latency",
                    "must be greater than zero and at most the timeout",
                )
                .into());
            }
        }
        Ok(())
    }

    /// Checks the values and builds the validator.
    pub fn build(&self) -> Result<HttpHealth, ConfigError> {
        self.check()?;
        Ok(HttpHealth {
            cfg: self.clone(),
            client: client("timeout", self.timeout)?,
        })
    }
}

/// Calls a health endpoint; see the module docs.
#[derive(Debug)]
pub struct HttpHealth {
    cfg: HttpHealthConfig,
    client: reqwest::Client,
}

fn text_of(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn same_version(reported: &str, want: &semver::Version) -> bool {
    let r = reported.trim().trim_start_matches('v');
    match semver::Version::parse(r) {
        Ok(v) => v == *want,
        Err(_) => r == want.to_string(),
    }
}

impl HttpHealth {
    /// The problems with a JSON body (empty: healthy).
    fn judge_body(&self, body: &Value, ctx: &ValidationContext) -> Vec<String> {
        let c = &self.cfg;
        let mut problems = Vec::new();
        if !c.healthy.is_empty() {
            match body.get("status") {
                Some(s) if c.healthy.contains(&text_of(s)) => {}
                Some(s) => problems.push(format!(
                    "status is {}, expected {:?}",
                    endpoint_text(&s.to_string()),
                    c.healthy
                )),
                None => problems.push("the body has no \"status\"".into()),
            }
        }
        if c.check_version {
            let want = &ctx.candidate.version;
            match body.get("version") {
                Some(v) if same_version(&text_of(v), want) => {}
                Some(v) => problems.push(format!(
                    "reports version {}, deploying {want}",
                    endpoint_text(&v.to_string())
                )),
                None => problems.push(format!("the body has no \"version\" (deploying {want})")),
            }
        }
        if c.check_dependencies {
            if let Some(deps) = body.get("dependencies") {
                problems.extend(self.unhealthy_dependencies(deps));
            }
        }
        problems
    }

    fn unhealthy_dependencies(&self, deps: &Value) -> Vec<String> {
        let accepted = if self.cfg.healthy.is_empty() {
            default_healthy()
        } else {
            self.cfg.healthy.clone()
        };
        let entries: Vec<(String, Option<&Value>)> = match deps {
            Value::Object(map) => map
                .iter()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        if v.is_object() {
                            v.get("status")
                        } else {
                            Some(v)
                        },
                    )
                })
                .collect(),
            Value::Array(items) => items
                .iter()
                .enumerate()
                .map(|(i, d)| {
                    let name = d
                        .get("name")
                        .map(text_of)
                        .unwrap_or_else(|| format!("#{i}"));
                    (name, d.get("status"))
                })
                .collect(),
            other => {
                return vec![format!(
                    "\"dependencies\" is {}, not an object or array",
                    endpoint_text(&other.to_string())
                )]
            }
        };
        entries
            .into_iter()
            .filter_map(|(name, status)| match status {
                Some(s) if accepted.contains(&text_of(s)) => None,
                Some(s) => Some(format!(
                    "dependency {} is {}",
                    endpoint_text(&name),
                    endpoint_text(&s.to_string())
                )),
                None => Some(format!(
                    "dependency {} reports no status",
                    endpoint_text(&name)
                )),
            })
            .collect()
    }
}

#[async_trait]
impl Validator for HttpHealth {
    fn name(&self) -> &str {
        &self.cfg.name
    }

    async fn validate(&self, ctx: &ValidationContext) -> Result<Verdict, ValidatorError> {
        let c = &self.cfg;
        let url = render_url(&c.name, &c.url, &ctx.vars)?;
        let got = fetch(
            &self.client,
            reqwest::Method::GET,
            &url,
            &c.headers,
            None,
            c.timeout,
        )
        .await;
        let got = match (got, c.unreachable) {
            (Ok(g), _) => g,
            (Err(e), Unreachable::Error) => return Err(verr(&c.name, e)),
            (Err(e), Unreachable::Fail) => return Ok(Verdict::new(&c.name, Outcome::Fail, e)),
        };
        let limit_ms = c.max_latency.map(|d| d.as_secs_f64() * 1000.0);
        let mut v = Verdict::new(&c.name, Outcome::Pass, "")
            .with(Measurement::new(
                "latency_ms",
                got.latency_ms,
                limit_ms,
                "ms",
            ))
            .with(Measurement::new(
                "http_status",
                f64::from(got.status),
                None,
                "",
            ));
        let mut problems = Vec::new();
        if !status_ok(&c.expect_status, got.status) {
            problems.push(got.status_problem(&c.expect_status));
        }
        if let Some(limit) = limit_ms.filter(|l| got.latency_ms > *l) {
            problems.push(format!(
                "took {} ms, limit {} ms",
                num(got.latency_ms),
                num(limit)
            ));
        }
        let needs_body = !c.healthy.is_empty() || c.check_version || c.check_dependencies;
        if problems.is_empty() && needs_body {
            match serde_json::from_slice::<Value>(&got.body) {
                Ok(body) => problems.extend(self.judge_body(&body, ctx)),
                Err(e) => problems.push(format!("the body is not JSON: {e}")),
            }
        }
        let url = crate::redact::url(&url);
        if problems.is_empty() {
            v.message = format!(
                "{url} healthy ({}, {} ms)",
                got.status,
                num(got.latency_ms.round())
            );
        } else {
            v.outcome = Outcome::Fail;
            v.message = format!("{url}: {}", joined(&problems));
        }
        Ok(v)
    }
}

/// At most this many problems are listed in one message (a body with thousands of unhealthy
/// dependencies would otherwise make a message of any size).
pub(crate) const MAX_PROBLEMS: usize = 10;

/// The problems, `; `-separated, at most [`MAX_PROBLEMS`] of them and a count of the rest.
pub(crate) fn joined(problems: &[String]) -> String {
    let shown = problems[..problems.len().min(MAX_PROBLEMS)].join("; ");
    match problems.len().saturating_sub(MAX_PROBLEMS) {
        0 => shown,
        more => format!("{shown}; and {more} more"),
    }
}
