//! HTTP plumbing shared by the health and smoke validators: checked configuration pieces,
//! one request with its status, latency and body, and what an unreachable endpoint means.

use super::config::ConfigError;
use crate::model::FieldError;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// What an endpoint that cannot be reached (refused, DNS, timeout) means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Unreachable {
    /// A validator error: the measurement could not be taken; it counts toward the
    /// analysis' consecutive-error limit (a blip is retried). The default.
    #[default]
    Error,
    /// A failed verdict: not answering is unhealthy.
    Fail,
}

/// Checks that `template` is an http(s) URL once its `{{variables}}` are filled in.
pub(crate) fn check_url_template(field: &str, template: &str) -> Result<(), ConfigError> {
    let mut probe = String::new();
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        probe.push_str(&rest[..start]);
        match rest[start..].find("}}") {
            Some(end) => {
                probe.push('x');
                rest = &rest[start + end + 2..];
            }
            None => {
                return Err(FieldError::new(field, "has a `{{` without a closing `}}`").into());
            }
        }
    }
    probe.push_str(rest);
    let url = reqwest::Url::parse(&probe).map_err(|e| {
        FieldError::new(
            field,
            format!("{:?} is not a URL: {e}", crate::redact::url(template)),
        )
    })?;
    if url.scheme() != "http" && url.scheme() != "https" {
        return Err(FieldError::new(field, "must be an http or https URL").into());
    }
    Ok(())
}

/// Checks that every header has a valid HTTP name and value (`field.<name>` otherwise).
pub(crate) fn check_headers(
    field: &str,
    headers: &std::collections::BTreeMap<String, String>,
) -> Result<(), ConfigError> {
    for (name, value) in headers {
        if reqwest::header::HeaderName::from_bytes(name.as_bytes()).is_err() {
            return Err(FieldError::new(
                format!("{field}.{name}"),
                format!("{name:?} is not a valid HTTP header name"),
            )
            .into());
        }
        if reqwest::header::HeaderValue::from_str(value).is_err() {
            return Err(FieldError::new(
                format!("{field}.{name}"),
                "is not a valid HTTP header value (control characters or line breaks)",
            )
            .into());
        }
    }
    Ok(())
}

/// Parses an HTTP method.
pub(crate) fn parse_method(field: &str, method: &str) -> Result<reqwest::Method, ConfigError> {
    reqwest::Method::from_bytes(method.trim().to_ascii_uppercase().as_bytes())
        .map_err(|_| FieldError::new(field, format!("{method:?} is not an HTTP method")).into())
}

/// Checks a list of expected statuses.
pub(crate) fn check_statuses(field: &str, statuses: &[u16]) -> Result<(), ConfigError> {
    match statuses.iter().find(|s| !(100..=599).contains(*s)) {
        Some(bad) => {
            Err(FieldError::new(field, format!("{bad} is not an HTTP status (100..=599)")).into())
        }
        None => Ok(()),
    }
}

/// Checks a timeout.
pub(crate) fn check_timeout(field: &str, timeout: Duration) -> Result<(), ConfigError> {
    if timeout.is_zero() {
        return Err(FieldError::new(field, "must be greater than zero").into());
    }
    Ok(())
}

/// Whether `status` is expected (`expected` empty: any 2xx).
pub(crate) fn status_ok(expected: &[u16], status: u16) -> bool {
    if expected.is_empty() {
        (200..300).contains(&status)
    } else {
        expected.contains(&status)
    }
}

/// The expected statuses for messages.
pub(crate) fn status_text(expected: &[u16]) -> String {
    if expected.is_empty() {
        "2xx".into()
    } else {
        let v: Vec<String> = expected.iter().map(|s| s.to_string()).collect();
        v.join(" or ")
    }
}

/// Builds a client with a whole-request timeout that follows redirects only within the
/// same origin ([`same_origin_redirects`](crate::http_limits::same_origin_redirects)).
pub(crate) fn client(field: &str, timeout: Duration) -> Result<reqwest::Client, ConfigError> {
    reqwest::Client::builder()
        .timeout(timeout)
        .redirect(crate::http_limits::same_origin_redirects())
        .build()
        .map_err(|e| FieldError::new(field, format!("cannot build an HTTP client: {e}")).into())
}

/// One answer.
pub(crate) struct Fetched {
    pub status: u16,
    pub latency_ms: f64,
    pub body: Vec<u8>,
    /// For a 3xx answer: the redirect that was not followed (another origin).
    pub redirect: Option<String>,
}

impl Fetched {
    /// `answered 302, expected 2xx` and, for a redirect, where it pointed.
    pub fn status_problem(&self, expected: &[u16]) -> String {
        match &self.redirect {
            Some(note) => format!(
                "answered {} ({note}), expected {}",
                self.status,
                status_text(expected)
            ),
            None => format!(
                "answered {}, expected {}",
                self.status,
                status_text(expected)
            ),
        }
    }
}

/// Renders a whole URL template (values after the host percent-encoded, see
/// [`super::render_url`]); an error shows the template redacted.
pub(crate) fn render_url(
    validator: &str,
    template: &str,
    vars: &BTreeMap<String, String>,
) -> Result<String, crate::validator::ValidatorError> {
    redact_template(template, super::render_url(validator, template, vars))
}

/// Renders the part of a URL after its host (values percent-encoded, see
/// [`super::render_url_path`]); an error shows the template redacted.
pub(crate) fn render_url_path(
    validator: &str,
    template: &str,
    vars: &BTreeMap<String, String>,
) -> Result<String, crate::validator::ValidatorError> {
    redact_template(template, super::render_url_path(validator, template, vars))
}

fn redact_template(
    template: &str,
    rendered: Result<String, crate::validator::ValidatorError>,
) -> Result<String, crate::validator::ValidatorError> {
    rendered.map_err(|mut e| {
        e.message = e.message.replace(template, &crate::redact::url(template));
        e
    })
}

/// A request body: JSON, or a string sent as is.
pub(crate) fn with_body(
    req: reqwest::RequestBuilder,
    body: Option<&serde_json::Value>,
) -> reqwest::RequestBuilder {
    match body {
        None => req,
        Some(serde_json::Value::String(s)) => req.body(s.clone()),
        Some(v) => req.json(v),
    }
}

/// Sends one request and reads the answer, at most
/// [`MAX_VALIDATOR_BODY`](crate::http_limits::MAX_VALIDATOR_BODY) bytes of it; the error
/// says what went wrong, showing the URL without credentials or query
/// ([`redact::url`](crate::redact::url)).
pub(crate) async fn fetch(
    client: &reqwest::Client,
    method: reqwest::Method,
    url: &str,
    headers: &BTreeMap<String, String>,
    body: Option<&serde_json::Value>,
    timeout: Duration,
) -> Result<Fetched, String> {
    let mut req = client.request(method.clone(), url);
    for (k, v) in headers {
        req = req.header(k, v);
    }
    req = with_body(req, body);
    let started = Instant::now();
    let shown = crate::redact::url(url);
    let timed_out = || {
        format!(
            "{method} {shown} timed out after {}",
            crate::time::format_duration(timeout)
        )
    };
    let resp = req.send().await.map_err(|e| {
        if e.is_timeout() {
            timed_out()
        } else {
            format!(
                "{method} {shown} failed: {}",
                crate::redact::reqwest_error(e)
            )
        }
    })?;
    let status = resp.status().as_u16();
    let redirect = crate::http_limits::redirect_note(&resp);
    let body = crate::http_limits::read_capped(resp, crate::http_limits::MAX_VALIDATOR_BODY)
        .await
        .map_err(|e| match e {
            crate::http_limits::BodyError::Read { timeout: true, .. } => timed_out(),
            other => format!("{method} {shown}: {other}"),
        })?;
    Ok(Fetched {
        status,
        latency_ms: started.elapsed().as_secs_f64() * 1000.0,
        body,
        redirect,
    })
}
