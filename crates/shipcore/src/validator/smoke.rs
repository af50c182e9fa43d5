//! Smoke tests: a list of requests against a base URL, each with the statuses it expects
//! (a 401 from a protected endpoint can mean "up") and optional expectations on the JSON
//! body, addressed by a dotted path (`data.items[0].id`, see [`json_lookup`]).
//!
//! Every request runs, in order; the verdict fails when any request's answer is not as
//! expected and lists each problem. Measurements per request: `<label>.status` and
//! `<label>.latency_ms`. An unreachable endpoint is a validator error by default, a failure
//! with `unreachable: fail`; so is a body over
//! [`MAX_VALIDATOR_BODY`](crate::http_limits::MAX_VALIDATOR_BODY) (1 MiB).
//!
//! Messages show URLs without userinfo, query string or fragment
//! ([`redact::url`](crate::redact::url)) and values from the body cut to
//! [`MAX_ENDPOINT_TEXT`](crate::redact::MAX_ENDPOINT_TEXT) bytes. Redirects are followed
//! only within the same origin: a redirect to another host is not followed (its 3xx is the
//! answer), so headers such as `X-Api-Key` never reach it.
//!
//! [`json_lookup`]: super::json_lookup

use super::config::ConfigError;
use super::http::{
    check_headers, check_statuses, check_timeout, check_url_template, client, fetch, parse_method,
    render_url, render_url_path, status_ok, Unreachable,
};
use super::http_health::joined;
use super::json_path::{check_path, json_lookup};
use super::{non_empty, verr};
use crate::model::FieldError;
use crate::redact::endpoint_text;
use crate::time::serde_duration;
use crate::validator::{
    Measurement, Outcome, ValidationContext, Validator, ValidatorError, Verdict,
};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::Duration;

/// An expectation on the JSON body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BodyExpect {
    /// Dotted path (`a.b[0].c`) or JSON pointer (`/a/b/0/c`), in shipcore's one JSON-path
    /// dialect (grammar: [`json_lookup`]).
    pub path: String,
    /// The value it must equal; omitted: the path must merely exist.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub equals: Option<Value>,
}

/// One request of a smoke test. Its `Debug` hides secret header values
/// ([`redact::is_secret_header`](crate::redact::is_secret_header)).
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmokeRequest {
    /// Label in messages and measurements (default `METHOD path`, the path without its
    /// query string).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// HTTP method (default GET).
    #[serde(default = "default_method")]
    pub method: String,
    /// Path (a template), appended to the base URL.
    pub path: String,
    /// Extra headers for this request (never sent to another origin).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// Body: a JSON value, or a string sent as is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<Value>,
    /// Statuses that pass (default: any 2xx). `[401]` checks that a protected endpoint is up.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub expect_status: Vec<u16>,
    /// Expectations on the JSON body.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub expect: Vec<BodyExpect>,
}

impl std::fmt::Debug for SmokeRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmokeRequest")
            .field("name", &self.name)
            .field("method", &self.method)
            .field("path", &crate::redact::Url(&self.path))
            .field("headers", &crate::redact::Headers(&self.headers))
            .field("body", &self.body)
            .field("expect_status", &self.expect_status)
            .field("expect", &self.expect)
            .finish()
    }
}

fn default_method() -> String {
    "GET".into()
}

impl SmokeRequest {
    /// A GET of `path` expecting `statuses` (empty: any 2xx).
    pub fn get(path: impl Into<String>, statuses: &[u16]) -> Self {
        SmokeRequest {
            name: None,
            method: default_method(),
            path: path.into(),
            headers: BTreeMap::new(),
            body: None,
            expect_status: statuses.to_vec(),
            expect: Vec::new(),
        }
    }

    fn label(&self) -> String {
        self.name.clone().unwrap_or_else(|| {
            format!(
                "{} {}",
                self.method.to_ascii_uppercase(),
                crate::redact::url(&self.path)
            )
        })
    }
}

/// Configuration of a [`SmokeTests`] validator. Its `Debug` shows the base URL without
/// userinfo or query string and hides secret header values.
///
/// ```
/// let c: shipcore::validator::SmokeConfig = serde_json::from_str(r#"{
///   "name": "smoke", "base_url": "http://127.0.0.1:8080",
///   "requests": [
///     {"path": "/health"},
///     {"path": "/admin", "expect_status": [401]},
///     {"method": "POST", "path": "/api/echo", "body": {"x": 1},
///      "expect": [{"path": "echo.x", "equals": 1}]}
///   ]}"#).unwrap();
/// assert!(c.build().is_ok());
/// ```
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct SmokeConfig {
    /// Validator name.
    pub name: String,
    /// Base URL template (`http://{{service}}:8080`).
    pub base_url: String,
    /// The requests, run in order.
    pub requests: Vec<SmokeRequest>,
    /// Headers sent with every request (never to another origin).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// Timeout per request (default 10s).
    #[serde(default = "default_timeout", with = "serde_duration")]
    pub timeout: Duration,
    /// What an unreachable endpoint means (default: a validator error).
    #[serde(default)]
    pub unreachable: Unreachable,
}

fn default_timeout() -> Duration {
    Duration::from_secs(10)
}

impl std::fmt::Debug for SmokeConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmokeConfig")
            .field("name", &self.name)
            .field("base_url", &crate::redact::Url(&self.base_url))
            .field("requests", &self.requests)
            .field("headers", &crate::redact::Headers(&self.headers))
            .field("timeout", &self.timeout)
            .field("unreachable", &self.unreachable)
            .finish()
    }
}

impl SmokeConfig {
    /// Checks the values.
    pub fn check(&self) -> Result<(), ConfigError> {
        non_empty("name", &self.name)?;
        check_url_template("base_url", &self.base_url)?;
        check_headers("headers", &self.headers)?;
        check_timeout("timeout", self.timeout)?;
        if self.requests.is_empty() {
            return Err(FieldError::new("requests", "must hold at least one request").into());
        }
        for (i, r) in self.requests.iter().enumerate() {
            let at = |e: ConfigError| e.within(&format!("requests[{i}]"));
            parse_method("method", &r.method).map_err(at)?;
            check_url_template("path", &format!("{}{}", self.base_url, r.path)).map_err(at)?;
            check_statuses("expect_status", &r.expect_status).map_err(at)?;
            check_headers("headers", &r.headers).map_err(at)?;
            for (j, e) in r.expect.iter().enumerate() {
                check_path(&e.path)
                    .map_err(|p| at(FieldError::new(format!("expect[{j}].path"), p).into()))?;
            }
        }
        Ok(())
    }

    /// Checks the values and builds the validator.
    pub fn build(&self) -> Result<SmokeTests, ConfigError> {
        self.check()?;
        let mut methods = Vec::new();
        for r in &self.requests {
            methods.push(parse_method("method", &r.method)?);
        }
        Ok(SmokeTests {
            cfg: self.clone(),
            methods,
            client: client("timeout", self.timeout)?,
        })
    }
}

/// Runs a list of requests; see the module docs.
#[derive(Debug)]
pub struct SmokeTests {
    cfg: SmokeConfig,
    methods: Vec<reqwest::Method>,
    client: reqwest::Client,
}

fn body_problems(req: &SmokeRequest, body: &[u8]) -> Vec<String> {
    if req.expect.is_empty() {
        return Vec::new();
    }
    let json: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => return vec![format!("the body is not JSON: {e}")],
    };
    req.expect
        .iter()
        .filter_map(|e| match (json_lookup(&json, &e.path), &e.equals) {
            (None, _) => Some(format!("{} is missing", e.path)),
            (Some(got), Some(want)) if got != want => Some(format!(
                "{} is {}, expected {want}",
                e.path,
                endpoint_text(&got.to_string())
            )),
            _ => None,
        })
        .collect()
}

#[async_trait]
impl Validator for SmokeTests {
    fn name(&self) -> &str {
        &self.cfg.name
    }

    async fn validate(&self, ctx: &ValidationContext) -> Result<Verdict, ValidatorError> {
        let c = &self.cfg;
        let base = render_url(&c.name, &c.base_url, &ctx.vars)?;
        let mut v = Verdict::new(&c.name, Outcome::Pass, "");
        let mut problems = Vec::new();
        let mut failed = 0usize;
        for (r, method) in c.requests.iter().zip(&self.methods) {
            let label = r.label();
            let url = format!("{base}{}", render_url_path(&c.name, &r.path, &ctx.vars)?);
            let mut headers = c.headers.clone();
            headers.extend(r.headers.clone());
            let got = fetch(
                &self.client,
                method.clone(),
                &url,
                &headers,
                r.body.as_ref(),
                c.timeout,
            )
            .await;
            let got = match (got, c.unreachable) {
                (Ok(g), _) => g,
                (Err(e), Unreachable::Error) => return Err(verr(&c.name, format!("{label}: {e}"))),
                (Err(e), Unreachable::Fail) => {
                    failed += 1;
                    problems.push(format!("{label}: {e}"));
                    continue;
                }
            };
            v.measurements.push(Measurement::new(
                format!("{label}.status"),
                f64::from(got.status),
                None,
                "",
            ));
            v.measurements.push(Measurement::new(
                format!("{label}.latency_ms"),
                got.latency_ms,
                None,
                "ms",
            ));
            if !status_ok(&r.expect_status, got.status) {
                failed += 1;
                problems.push(format!("{label}: {}", got.status_problem(&r.expect_status)));
                continue;
            }
            let body = body_problems(r, &got.body);
            if !body.is_empty() {
                failed += 1;
                problems.extend(body.into_iter().map(|p| format!("{label}: {p}")));
            }
        }
        let n = c.requests.len();
        if problems.is_empty() {
            v.message = format!("{n} of {n} requests as expected");
        } else {
            v.outcome = Outcome::Fail;
            v.message = format!(
                "{failed} of {n} requests not as expected: {}",
                joined(&problems)
            );
        }
        Ok(v)
    }
}
