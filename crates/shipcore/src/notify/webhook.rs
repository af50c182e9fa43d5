//! The webhook notifier: POSTs a Slack-compatible JSON payload (`{"text": …, "blocks": […]}`)
//! to a URL, with a timeout. Any failure (unreachable, timeout, non-2xx) is a
//! [`NotifyError`]; it never panics. Errors show only the URL's host, since webhook paths
//! are often secrets.

use super::templates::{kind, rollout_id, Templates};
use crate::notifier::{Notification, Notifier, NotifyError};
use async_trait::async_trait;
use serde_json::json;
use std::time::Duration;

/// Sends notifications to a webhook (Slack incoming webhooks, Mattermost, Teams workflows,
/// or any endpoint that takes JSON).
///
/// ```
/// let n = shipcore::notify::WebhookNotifier::new("https://hooks.example.invalid/T0/B0")
///     .unwrap()
///     .timeout(std::time::Duration::from_secs(5));
/// assert_eq!(n.host(), "hooks.example.invalid");
/// ```
#[derive(Debug, Clone)]
pub struct WebhookNotifier {
    url: reqwest::Url,
    client: reqwest::Client,
    timeout: Duration,
    templates: Templates,
    blocks: bool,
}

impl WebhookNotifier {
    /// A notifier posting to `url` (http or https), 10 s timeout, default templates.
    pub fn new(url: &str) -> Result<Self, NotifyError> {
        let parsed = reqwest::Url::parse(url)
            .map_err(|e| NotifyError(format!("webhook url is not a URL: {e}")))?;
        if parsed.scheme() != "http" && parsed.scheme() != "https" {
            return Err(NotifyError("webhook url must be http or https".into()));
        }
        Ok(WebhookNotifier {
            url: parsed,
            client: reqwest::Client::new(),
            timeout: Duration::from_secs(10),
            templates: Templates::default(),
            blocks: true,
        })
    }

    /// Sets the request timeout.
    pub fn timeout(mut self, d: Duration) -> Self {
        self.timeout = d;
        self
    }

    /// Uses these templates (check them with [`Templates::validate`] first).
    pub fn templates(mut self, t: Templates) -> Self {
        self.templates = t;
        self
    }

    /// Sends only `{"text": …}` (for endpoints that reject Slack blocks).
    pub fn text_only(mut self) -> Self {
        self.blocks = false;
        self
    }

    /// The webhook's host, as shown in errors.
    pub fn host(&self) -> &str {
        self.url.host_str().unwrap_or("?")
    }

    /// The JSON body sent for `n`.
    pub fn payload(&self, n: &Notification) -> serde_json::Value {
        let text = self.templates.render(n);
        if !self.blocks {
            return json!({ "text": text });
        }
        json!({
            "text": text,
            "blocks": [
                { "type": "section", "text": { "type": "mrkdwn", "text": text } },
                { "type": "context", "elements": [
                    { "type": "mrkdwn", "text": format!("rollout `{}` · {}", rollout_id(n), kind(n)) }
                ] }
            ]
        })
    }
}

#[async_trait]
impl Notifier for WebhookNotifier {
    async fn notify(&self, n: &Notification) -> Result<(), NotifyError> {
        let host = self.host();
        let resp = self
            .client
            .post(self.url.clone())
            .timeout(self.timeout)
            .json(&self.payload(n))
            .send()
            .await
            .map_err(|e| {
                if e.is_timeout() {
                    NotifyError(format!("webhook {host} timed out after {:?}", self.timeout))
                } else {
                    NotifyError(format!(
                        "webhook {host} unreachable: {e}",
                        e = e.without_url()
                    ))
                }
            })?;
        let status = resp.status();
        if status.is_success() {
            return Ok(());
        }
        let body = resp.text().await.unwrap_or_default();
        let body: String = body.chars().take(200).collect();
        Err(NotifyError(format!(
            "webhook {host} answered {}: {}",
            status.as_u16(),
            body.trim()
        )))
    }
}
