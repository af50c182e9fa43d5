//! The webhook notifier: POSTs a Slack-compatible JSON payload (`{"text": …, "blocks": […]}`)
//! to a URL, with a timeout. Any failure (unreachable, timeout, non-2xx) is a
//! [`NotifyError`]; it never panics. Errors and `Debug` show only the URL's host, since
//! webhook paths are often secrets; an error answer's body is read up to
//! [`MAX_ERROR_BODY`](crate::http_limits::MAX_ERROR_BODY) and shown up to 200 characters.
//! Text from outside (ids, reasons) is escaped for Slack ([`slack_escape`]). Redirects are
//! followed only within the same origin.
//!
//! [`slack_escape`]: super::slack_escape

use super::templates::{kind, rollout_id, slack_escape, Templates};
use crate::notify::{Notification, Notifier, NotifyError};
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
/// assert!(!format!("{n:?}").contains("T0/B0"));
/// ```
#[derive(Clone)]
pub struct WebhookNotifier {
    url: reqwest::Url,
    client: reqwest::Client,
    timeout: Duration,
    templates: Templates,
    blocks: bool,
}

impl std::fmt::Debug for WebhookNotifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookNotifier")
            .field("host", &self.host())
            .field("timeout", &self.timeout)
            .field("templates", &self.templates)
            .field("blocks", &self.blocks)
            .finish_non_exhaustive()
    }
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
            client: reqwest::Client::builder()
                .redirect(crate::http_limits::same_origin_redirects())
                .build()
                .map_err(|e| {
                    NotifyError(format!(
                        "cannot build an HTTP client: {}",
                        crate::redact::reqwest_error(e)
                    ))
                })?,
            timeout: Duration::from_secs(10),
            templates: Templates::default(),
            blocks: true,
        })
    }

    /// Sets the request timeout.
    #[must_use]
    pub fn timeout(mut self, d: Duration) -> Self {
        self.timeout = d;
        self
    }

    /// Uses these templates (check them with [`Templates::validate`] first).
    #[must_use]
    pub fn templates(mut self, t: Templates) -> Self {
        self.templates = t;
        self
    }

    /// Sends only `{"text": …}` (for endpoints that reject Slack blocks).
    #[must_use]
    pub fn text_only(mut self) -> Self {
        self.blocks = false;
        self
    }

    /// The webhook's host, as shown in errors.
    pub fn host(&self) -> &str {
        self.url.host_str().unwrap_or("?")
    }

    /// The JSON body sent for `n`: the text rendered with
    /// [`Templates::render_slack`], so `&`, `<` and `>` from outside are escaped.
    pub fn payload(&self, n: &Notification) -> serde_json::Value {
        let text = self.templates.render_slack(n);
        if !self.blocks {
            return json!({ "text": text });
        }
        json!({
            "text": text,
            "blocks": [
                { "type": "section", "text": { "type": "mrkdwn", "text": text } },
                { "type": "context", "elements": [
                    { "type": "mrkdwn", "text": format!("rollout `{}` · {}", slack_escape(rollout_id(n)), kind(n)) }
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
                        "webhook {host} unreachable: {}",
                        crate::redact::reqwest_error(e)
                    ))
                }
            })?;
        let status = resp.status();
        if status.is_success() {
            return Ok(());
        }
        let body = crate::http_limits::read_prefix(resp, crate::http_limits::MAX_ERROR_BODY).await;
        let body: String = String::from_utf8_lossy(&body).chars().take(200).collect();
        Err(NotifyError(format!(
            "webhook {host} answered {}: {}",
            status.as_u16(),
            body.trim()
        )))
    }
}
