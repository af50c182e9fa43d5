//! How to reach a Prometheus server: base URL, authentication, extra headers, timeouts and
//! retries, and the largest answer read. Serde-friendly (plan files), checked before use;
//! secrets never appear in `Debug` (credentials, secret header values) nor in errors (the
//! URL may not carry `user:pass@`; use `auth`).

use serde::{Deserialize, Serialize};
use shipcore::model::FieldError;
use shipcore::time::serde_duration;
use std::collections::BTreeMap;
use std::time::Duration;

/// Credentials sent with every request.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Auth {
    /// `Authorization: Bearer <token>`.
    Bearer {
        /// The token.
        token: String,
    },
    /// HTTP basic authentication.
    Basic {
        /// User name.
        username: String,
        /// Password.
        password: String,
    },
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Auth::Bearer { .. } => f.write_str("Bearer { token: <redacted> }"),
            Auth::Basic { username, .. } => {
                write!(
                    f,
                    "Basic {{ username: {username:?}, password: <redacted> }}"
                )
            }
        }
    }
}

/// Where and how to query Prometheus.
///
/// `Debug` hides `auth` and the values of secret headers (`Authorization`, `X-Api-Key`,
/// anything named like a token, key, secret or password; see
/// [`shipcore::redact::is_secret_header`]).
///
/// ```
/// let c: metrics_prom::PrometheusConfig = serde_json::from_str(r#"{
///     "url": "https://prometheus.internal/prom",
///     "auth": {"type": "bearer", "token": "s3cret"},
///     "headers": {"X-Scope-OrgID": "team-a"},
///     "timeout": "5s", "retries": 2}"#).unwrap();
/// assert!(c.check().is_ok());
/// assert!(!format!("{c:?}").contains("s3cret"));
/// assert_eq!(c.max_response_bytes, 16 << 20);
/// // Credentials in the URL are refused: they would show in every error message.
/// let e = metrics_prom::PrometheusConfig::new("http://u:pw@prometheus.internal").check();
/// assert_eq!(e.unwrap_err().field, "url");
/// ```
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrometheusConfig {
    /// Base URL of the server (`http://127.0.0.1:9090`, or with a path prefix such as
    /// `https://host/prometheus`); `/api/v1/query` is appended. No userinfo (`user:pass@`:
    /// set `auth`), query string or fragment.
    pub url: String,
    /// Credentials, if the server wants them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<Auth>,
    /// Extra headers (a tenant header for Cortex/Mimir/Thanos, for example). Secret ones are
    /// hidden in `Debug`; no header is sent to another origin (redirects across origins are
    /// not followed).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// Time limit of one request, including reading the answer (default 10s). Also sent to
    /// Prometheus as the query's evaluation timeout.
    #[serde(default = "default_timeout", with = "serde_duration")]
    pub timeout: Duration,
    /// Time limit for connecting (default 3s).
    #[serde(default = "default_connect_timeout", with = "serde_duration")]
    pub connect_timeout: Duration,
    /// Retries after a transient failure (unreachable, timeout, 5xx, 429); default 3.
    #[serde(default = "default_retries")]
    pub retries: usize,
    /// First delay between retries, doubling up to `max_backoff` (default 200ms).
    #[serde(default = "default_backoff", with = "serde_duration")]
    pub backoff: Duration,
    /// Longest delay between retries (default 2s).
    #[serde(default = "default_max_backoff", with = "serde_duration")]
    pub max_backoff: Duration,
    /// Largest answer read, in bytes (default 16 MiB = 16777216, at most
    /// [`MAX_RESPONSE_BYTES_LIMIT`]). A longer answer is a `Protocol` error, read no
    /// further: narrow the query (aggregate, shorter range, larger step).
    #[serde(default = "default_max_response_bytes")]
    pub max_response_bytes: usize,
}

impl std::fmt::Debug for PrometheusConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PrometheusConfig")
            .field("url", &shipcore::redact::Url(&self.url))
            .field("auth", &self.auth)
            .field("headers", &shipcore::redact::Headers(&self.headers))
            .field("timeout", &self.timeout)
            .field("connect_timeout", &self.connect_timeout)
            .field("retries", &self.retries)
            .field("backoff", &self.backoff)
            .field("max_backoff", &self.max_backoff)
            .field("max_response_bytes", &self.max_response_bytes)
            .finish()
    }
}

fn default_timeout() -> Duration {
    Duration::from_secs(10)
}
fn default_connect_timeout() -> Duration {
    Duration::from_secs(3)
}
fn default_retries() -> usize {
    3
}
fn default_backoff() -> Duration {
    Duration::from_millis(200)
}
fn default_max_backoff() -> Duration {
    Duration::from_secs(2)
}
fn default_max_response_bytes() -> usize {
    DEFAULT_MAX_RESPONSE_BYTES
}

/// Default of [`PrometheusConfig::max_response_bytes`]: 16 MiB.
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 16 << 20;

/// Largest accepted [`PrometheusConfig::max_response_bytes`]: 1 GiB.
pub const MAX_RESPONSE_BYTES_LIMIT: usize = 1 << 30;

/// Most retries accepted (a larger number would hide an outage for minutes).
pub const MAX_RETRIES: usize = 20;

/// A configuration value is wrong; names the field.
/// It wraps a [`FieldError`]; `e.field` and `e.problem` read its fields.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("prometheus config: {0}")]
pub struct ConfigError(pub FieldError);

shipcore::field_error_wrapper!(ConfigError);

impl PrometheusConfig {
    /// Defaults for a server at `url`.
    pub fn new(url: impl Into<String>) -> Self {
        PrometheusConfig {
            url: url.into(),
            auth: None,
            headers: BTreeMap::new(),
            timeout: default_timeout(),
            connect_timeout: default_connect_timeout(),
            retries: default_retries(),
            backoff: default_backoff(),
            max_backoff: default_max_backoff(),
            max_response_bytes: default_max_response_bytes(),
        }
    }

    /// With a bearer token.
    #[must_use]
    pub fn bearer(mut self, token: impl Into<String>) -> Self {
        self.auth = Some(Auth::Bearer {
            token: token.into(),
        });
        self
    }

    /// With basic authentication.
    #[must_use]
    pub fn basic(mut self, username: impl Into<String>, password: impl Into<String>) -> Self {
        self.auth = Some(Auth::Basic {
            username: username.into(),
            password: password.into(),
        });
        self
    }

    /// With an extra header.
    #[must_use]
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.insert(name.into(), value.into());
        self
    }

    /// With a request timeout.
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// With `retries` retries, the first after `backoff`, delays doubling up to `max_backoff`.
    #[must_use]
    pub fn retries(mut self, retries: usize, backoff: Duration, max_backoff: Duration) -> Self {
        self.retries = retries;
        self.backoff = backoff;
        self.max_backoff = max_backoff;
        self
    }

    /// With the largest answer read, in bytes.
    #[must_use]
    pub fn max_response_bytes(mut self, bytes: usize) -> Self {
        self.max_response_bytes = bytes;
        self
    }

    /// The base URL, checked (http or https, no userinfo, no query string), ending in `/`
    /// so that API paths are appended to any path prefix.
    pub fn base_url(&self) -> Result<reqwest::Url, ConfigError> {
        let mut url = reqwest::Url::parse(self.url.trim()).map_err(|e| {
            FieldError::new(
                "url",
                format!("{:?} is not a URL: {e}", shipcore::redact::url(&self.url)),
            )
        })?;
        if url.scheme() != "http" && url.scheme() != "https" {
            return Err(FieldError::new(
                "url",
                format!("scheme {:?} is not http or https", url.scheme()),
            )
            .into());
        }
        if url.cannot_be_a_base() || url.host_str().is_none() {
            return Err(FieldError::new("url", "has no host").into());
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(FieldError::new(
                "url",
                "must not carry credentials (user:password@); set them in `auth` \
                 ({\"type\": \"basic\", \"username\": …, \"password\": …}), which never \
                 shows in messages",
            )
            .into());
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(FieldError::new("url", "must not have a query string or fragment").into());
        }
        if !url.path().ends_with('/') {
            let p = format!("{}/", url.path());
            url.set_path(&p);
        }
        Ok(url)
    }

    /// Checks every value.
    pub fn check(&self) -> Result<(), ConfigError> {
        self.base_url()?;
        for (name, value) in &self.headers {
            reqwest::header::HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
                FieldError::new(format!("headers.{name}"), "is not a valid header name")
            })?;
            reqwest::header::HeaderValue::from_str(value).map_err(|_| {
                FieldError::new(
                    format!("headers.{name}"),
                    "value has characters a header cannot carry",
                )
            })?;
            if name.eq_ignore_ascii_case("authorization") && self.auth.is_some() {
                return Err(FieldError::new(
                    format!("headers.{name}"),
                    "conflicts with `auth`; set one of them",
                )
                .into());
            }
        }
        if let Some(Auth::Bearer { token }) = &self.auth {
            if token.trim().is_empty() {
                return Err(FieldError::new("auth.token", "must not be empty").into());
            }
            if reqwest::header::HeaderValue::from_str(&format!("Bearer {token}")).is_err() {
                return Err(
                    FieldError::new("auth.token", "has characters a header cannot carry").into(),
                );
            }
        }
        if let Some(Auth::Basic { username, .. }) = &self.auth {
            if username.is_empty() {
                return Err(FieldError::new("auth.username", "must not be empty").into());
            }
        }
        if self.timeout.is_zero() {
            return Err(FieldError::new("timeout", "must be greater than zero").into());
        }
        if self.connect_timeout.is_zero() {
            return Err(FieldError::new("connect_timeout", "must be greater than zero").into());
        }
        if self.retries > MAX_RETRIES {
            return Err(FieldError::new(
                "retries",
                format!("{} is more than {MAX_RETRIES}", self.retries),
            )
            .into());
        }
        if self.max_response_bytes == 0 || self.max_response_bytes > MAX_RESPONSE_BYTES_LIMIT {
            return Err(FieldError::new(
                "max_response_bytes",
                format!(
                    "{} is not between 1 and {MAX_RESPONSE_BYTES_LIMIT}",
                    self.max_response_bytes
                ),
            )
            .into());
        }
        if self.backoff > self.max_backoff {
            return Err(FieldError::new("backoff", "must not be longer than max_backoff").into());
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn base_url_keeps_a_path_prefix_and_ends_with_a_slash() {
        let c = PrometheusConfig::new("https://host:9443/prom");
        assert_eq!(c.base_url().unwrap().as_str(), "https://host:9443/prom/");
        let api = c.base_url().unwrap().join("api/v1/query").unwrap();
        assert_eq!(api.as_str(), "https://host:9443/prom/api/v1/query");
        let c = PrometheusConfig::new("http://127.0.0.1:9090");
        assert_eq!(c.base_url().unwrap().as_str(), "http://127.0.0.1:9090/");
    }

    #[test]
    fn bad_values_name_the_field() {
        let field = |c: PrometheusConfig| c.check().unwrap_err().0.field;
        assert_eq!(field(PrometheusConfig::new("not a url")), "url");
        assert_eq!(field(PrometheusConfig::new("ftp://h/")), "url");
        assert_eq!(field(PrometheusConfig::new("http://h/?x=1")), "url");
        assert_eq!(
            field(PrometheusConfig::new("http://h").header("Bad Name", "x")),
            "headers.Bad Name"
        );
        assert_eq!(
            field(PrometheusConfig::new("http://h").header("X-A", "line\nbreak")),
            "headers.X-A"
        );
        assert_eq!(
            field(
                PrometheusConfig::new("http://h")
                    .bearer("t")
                    .header("Authorization", "x")
            ),
            "headers.Authorization"
        );
        assert_eq!(
            field(PrometheusConfig::new("http://h").bearer(" ")),
            "auth.token"
        );
        assert_eq!(
            field(PrometheusConfig::new("http://h").timeout(Duration::ZERO)),
            "timeout"
        );
        let many = PrometheusConfig::new("http://h").retries(
            50,
            Duration::from_millis(1),
            Duration::from_millis(2),
        );
        assert_eq!(field(many), "retries");
        let backwards = PrometheusConfig::new("http://h").retries(
            1,
            Duration::from_secs(5),
            Duration::from_secs(1),
        );
        assert_eq!(field(backwards), "backoff");
    }

    #[test]
    fn serde_defaults_and_unknown_fields() {
        let c: PrometheusConfig = serde_json::from_str(r#"{"url": "http://h:9090"}"#).unwrap();
        assert_eq!(c, PrometheusConfig::new("http://h:9090"));
        let e = serde_json::from_str::<PrometheusConfig>(r#"{"url": "http://h", "retry": 1}"#)
            .unwrap_err();
        assert!(e.to_string().contains("retry"), "{e}");
        let c: PrometheusConfig = serde_json::from_str(
            r#"{"url": "http://h", "auth": {"type": "basic", "username": "u", "password": "pw"}}"#,
        )
        .unwrap();
        let shown = format!("{c:?}");
        assert!(shown.contains("\"u\"") && !shown.contains("pw"), "{shown}");
    }
}
