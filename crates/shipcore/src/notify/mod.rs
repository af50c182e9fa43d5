//! [`Notifier`](crate::notifier::Notifier) implementations: a webhook (Slack-compatible JSON)
//! and a log notifier (tracing), with the message templates that turn a
//! [`Notification`](crate::notifier::Notification) into text.

mod config;
mod log;
mod templates;
mod webhook;

pub use config::{NotifierConfig, NotifierConfigError};
pub use log::LogNotifier;
pub use templates::{kind, rollout_id, slack_escape, Templates};
pub use webhook::WebhookNotifier;
