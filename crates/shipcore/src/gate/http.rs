//! The HTTP gate: an endpoint (staging health, an approval service) answers with an expected
//! status and, optionally, a JSON field equal to a value. Failures block, or wait and retry
//! when `retry_after` is set (an approval endpoint that says "not yet").
//!
//! The reason of a block or wait (journaled, recorded, notified) shows the URL without
//! userinfo, query string or fragment ([`redact::url`](crate::redact::url)) and at most
//! [`MAX_ENDPOINT_TEXT`](crate::redact::MAX_ENDPOINT_TEXT) bytes of any value from the
//! answer. The body is read up to [`MAX_VALIDATOR_BODY`](crate::http_limits::MAX_VALIDATOR_BODY)
//! (1 MiB); a larger one blocks. Redirects are followed only within the same origin.

use super::config::{check_name, ConfigError};
use crate::gate::{Gate, GateContext, GateOutcome};
use crate::http_limits::{self, BodyError};
use crate::model::FieldError;
use crate::redact::{self, endpoint_text};
use crate::time::{serde_duration, serde_opt_duration};
use crate::validator::{check_path, json_lookup};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Duration;

/// A JSON field that must equal a value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JsonExpect {
    /// Where, in shipcore's one JSON-path dialect ([`json_lookup`]): a dotted path
    /// (`data.status`, `checks.0.ok`, `checks[0].ok`) or a JSON pointer (`/data/status`).
    /// Checked when the gate is built.
    pub path: String,
    /// The value it must have.
    pub equals: serde_json::Value,
}

/// Configuration of an [`HttpGate`]. Its `Debug` shows the URL without userinfo or query
/// string and hides secret header values
/// ([`redact::is_secret_header`](crate::redact::is_secret_header)).
///
/// ```
/// let c: shipcore::gate::HttpConfig = serde_json::from_str(r#"{"name": "staging",
///     "url": "http://127.0.0.1:8080/health", "json": {"path": "status", "equals": "ok"}}"#)
///     .unwrap();
/// assert!(c.build().is_ok());
/// ```
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    /// Gate name.
    pub name: String,
    /// The URL to call (http or https). Its userinfo and query string never appear in
    /// messages.
    pub url: String,
    /// HTTP method (default GET).
    #[serde(default = "default_method")]
    pub method: String,
    /// Request headers (secret ones are hidden in `Debug`; none is sent to another origin).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// A JSON request body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<serde_json::Value>,
    /// Statuses that pass (default: any 2xx).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub expect_status: Vec<u16>,
    /// A JSON field of the response that must have a value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub json: Option<JsonExpect>,
    /// Request timeout (default 10s).
    #[serde(default = "default_timeout", with = "serde_duration")]
    pub timeout: Duration,
    /// When set, a wrong answer is `Wait` (ask again after this long) instead of `Block`.
    #[serde(
        default,
        with = "serde_opt_duration",
        skip_serializing_if = "Option::is_none"
    )]
    pub retry_after: Option<Duration>,
}

impl std::fmt::Debug for HttpConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpConfig")
            .field("name", &self.name)
            .field("url", &redact::Url(&self.url))
            .field("method", &self.method)
            .field("headers", &redact::Headers(&self.headers))
            .field("body", &self.body)
            .field("expect_status", &self.expect_status)
            .field("json", &self.json)
            .field("timeout", &self.timeout)
            .field("retry_after", &self.retry_after)
            .finish()
    }
}

fn default_method() -> String {
    "GET".into()
}

fn default_timeout() -> Duration {
    Duration::from_secs(10)
}

impl HttpConfig {
    /// A GET of `url` expecting any 2xx.
    pub fn get(name: impl Into<String>, url: impl Into<String>) -> Self {
        HttpConfig {
            name: name.into(),
            url: url.into(),
            method: default_method(),
            headers: BTreeMap::new(),
            body: None,
            expect_status: Vec::new(),
            json: None,
            timeout: default_timeout(),
            retry_after: None,
        }
    }

    /// Checks the values and builds the gate.
    pub fn build(&self) -> Result<HttpGate, ConfigError> {
        check_name(&self.name)?;
        let url = reqwest::Url::parse(&self.url).map_err(|e| {
            FieldError::new(
                "url",
                format!("{:?} is not a URL: {e}", redact::url(&self.url)),
            )
        })?;
        if url.scheme() != "http" && url.scheme() != "https" {
            return Err(FieldError::new("url", "must be http or https").into());
        }
        let method = reqwest::Method::from_bytes(self.method.to_ascii_uppercase().as_bytes())
            .map_err(|_| FieldError::new("method", format!("{:?} is not a method", self.method)))?;
        if self.timeout.is_zero() {
            return Err(FieldError::new("timeout", "must be greater than zero").into());
        }
        if self.retry_after == Some(Duration::ZERO) {
            return Err(FieldError::new("retry_after", "must be greater than zero").into());
        }
        if let Some(bad) = self
            .expect_status
            .iter()
            .find(|s| !(100..=599).contains(*s))
        {
            return Err(FieldError::new(
                "expect_status",
                format!("{bad} is not an HTTP status (100..=599)"),
            )
            .into());
        }
        if let Some(j) = &self.json {
            check_path(&j.path).map_err(|problem| FieldError::new("json.path", problem))?;
        }
        for (name, value) in &self.headers {
            let field = || format!("headers.{name}");
            if reqwest::header::HeaderName::from_bytes(name.as_bytes()).is_err() {
                return Err(FieldError::new(field(), "is not a valid HTTP header name").into());
            }
            if reqwest::header::HeaderValue::from_str(value).is_err() {
                return Err(FieldError::new(
                    field(),
                    "is not a valid HTTP header value (control characters or line breaks)",
                )
                .into());
            }
        }
        let client = reqwest::Client::builder()
            .timeout(self.timeout)
            .redirect(http_limits::same_origin_redirects())
            .build()
            .map_err(|e| FieldError::new("url", format!("cannot build an HTTP client: {e}")))?;
        Ok(HttpGate {
            cfg: self.clone(),
            shown: redact::parsed_url(&url),
            url,
            method,
            client,
        })
    }
}

/// Calls an endpoint and compares the answer.
pub struct HttpGate {
    cfg: HttpConfig,
    url: reqwest::Url,
    /// The URL as messages show it (redacted).
    shown: String,
    method: reqwest::Method,
    client: reqwest::Client,
}

impl std::fmt::Debug for HttpGate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpGate")
            .field("cfg", &self.cfg)
            .field("method", &self.method)
            .finish_non_exhaustive()
    }
}

impl HttpGate {
    /// Calls the endpoint: `Ok(())` when the answer is as expected, else why not.
    pub async fn probe(&self) -> Result<(), String> {
        let mut req = self.client.request(self.method.clone(), self.url.clone());
        for (k, v) in &self.cfg.headers {
            req = req.header(k, v);
        }
        if let Some(body) = &self.cfg.body {
            req = req.json(body);
        }
        let shown = &self.shown;
        let timed_out = || {
            format!(
                "{} {shown} timed out after {}",
                self.method,
                crate::time::format_duration(self.cfg.timeout)
            )
        };
        let resp = req.send().await.map_err(|e| {
            if e.is_timeout() {
                timed_out()
            } else {
                format!(
                    "{} {shown} failed: {}",
                    self.method,
                    redact::reqwest_error(e)
                )
            }
        })?;
        let status = resp.status().as_u16();
        let status_ok = if self.cfg.expect_status.is_empty() {
            (200..300).contains(&status)
        } else {
            self.cfg.expect_status.contains(&status)
        };
        if !status_ok {
            let want = if self.cfg.expect_status.is_empty() {
                "2xx".to_string()
            } else {
                format!("{:?}", self.cfg.expect_status)
            };
            return Err(match http_limits::redirect_note(&resp) {
                Some(note) => format!("{shown} answered {status} ({note}), expected {want}"),
                None => format!("{shown} answered {status}, expected {want}"),
            });
        }
        let Some(expect) = &self.cfg.json else {
            return Ok(());
        };
        let bytes = http_limits::read_capped(resp, http_limits::MAX_VALIDATOR_BODY)
            .await
            .map_err(|e| match e {
                BodyError::Read { timeout: true, .. } => timed_out(),
                other => format!("{shown}: {other}"),
            })?;
        let body: serde_json::Value = serde_json::from_slice(&bytes)
            .map_err(|e| format!("{shown} did not answer JSON: {e}"))?;
        match json_lookup(&body, &expect.path) {
            Some(v) if *v == expect.equals => Ok(()),
            Some(v) => Err(format!(
                "{shown}: field {} is {}, expected {}",
                expect.path,
                endpoint_text(&v.to_string()),
                expect.equals
            )),
            None => Err(format!(
                "{shown}: field {} is missing (expected {})",
                expect.path, expect.equals
            )),
        }
    }
}

#[async_trait]
impl Gate for HttpGate {
    fn name(&self) -> &str {
        &self.cfg.name
    }

    async fn check(&self, _ctx: &GateContext) -> GateOutcome {
        match (self.probe().await, self.cfg.retry_after) {
            (Ok(()), _) => GateOutcome::Pass,
            (Err(why), Some(retry)) => GateOutcome::wait(retry, why),
            (Err(why), None) => GateOutcome::block(why),
        }
    }
}
