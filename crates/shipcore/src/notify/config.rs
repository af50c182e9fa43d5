//! Notifier configuration as data: [`NotifierConfig`] is tagged by `"type"` (`webhook`,
//! `log`), rejects unknown fields, and [`NotifierConfig::build`] checks the values.

use super::{LogNotifier, Templates, WebhookNotifier};
use crate::model::FieldError;
use crate::notify::Notifier;
use crate::time::serde_duration;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;

/// A notifier configuration value is wrong: a [`FieldError`] (which field, what is wrong),
/// shown as `invalid notifier configuration: field: problem`. `e.field` and `e.problem` read
/// the inner error's fields (`url`, `timeout`, `templates.finished`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid notifier configuration: {0}")]
pub struct NotifierConfigError(pub FieldError);

crate::field_error_wrapper!(NotifierConfigError);

/// Any built-in notifier, as configuration. Its `Debug` shows a webhook URL's host only
/// (webhook paths are secrets).
///
/// ```
/// let c: shipcore::notify::NotifierConfig = serde_json::from_str(
///     r#"{"type": "webhook", "url": "https://hooks.example.invalid/T0/B0", "timeout": "5s"}"#)
///     .unwrap();
/// assert!(c.build().is_ok());
/// assert!(!format!("{c:?}").contains("T0/B0"));
/// ```
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
#[non_exhaustive]
pub enum NotifierConfig {
    /// POST Slack-compatible JSON to a URL.
    Webhook {
        /// Where (http or https). A secret: only its host is ever shown.
        url: String,
        /// Request timeout (default 10s).
        #[serde(default = "default_timeout", with = "serde_duration")]
        timeout: Duration,
        /// Send only `{"text": …}`, without Slack blocks.
        #[serde(default)]
        text_only: bool,
        /// Message templates (omitted ones keep their defaults).
        #[serde(default)]
        templates: Templates,
    },
    /// Write notifications to the log (tracing).
    Log {
        /// Message templates.
        #[serde(default)]
        templates: Templates,
    },
}

impl std::fmt::Debug for NotifierConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NotifierConfig::Webhook {
                url,
                timeout,
                text_only,
                templates,
            } => {
                let host = reqwest::Url::parse(url)
                    .ok()
                    .and_then(|u| u.host_str().map(str::to_string))
                    .unwrap_or_else(|| "?".into());
                f.debug_struct("Webhook")
                    .field("url", &format_args!("<redacted, host {host}>"))
                    .field("timeout", timeout)
                    .field("text_only", text_only)
                    .field("templates", templates)
                    .finish()
            }
            NotifierConfig::Log { templates } => {
                f.debug_struct("Log").field("templates", templates).finish()
            }
        }
    }
}

fn default_timeout() -> Duration {
    Duration::from_secs(10)
}

impl NotifierConfig {
    /// Checks the values and builds the notifier.
    pub fn build(&self) -> Result<Arc<dyn Notifier>, NotifierConfigError> {
        let check = |t: &Templates| t.validate().map_err(|e| e.within("templates"));
        match self {
            NotifierConfig::Webhook {
                url,
                timeout,
                text_only,
                templates,
            } => {
                if timeout.is_zero() {
                    return Err(FieldError::new("timeout", "must be greater than zero").into());
                }
                check(templates)?;
                let mut n = WebhookNotifier::new(url)
                    .map_err(|e| FieldError::new("url", e.0))?
                    .timeout(*timeout)
                    .templates(templates.clone());
                if *text_only {
                    n = n.text_only();
                }
                Ok(Arc::new(n))
            }
            NotifierConfig::Log { templates } => {
                check(templates)?;
                Ok(Arc::new(LogNotifier::new().templates(templates.clone())))
            }
        }
    }
}
