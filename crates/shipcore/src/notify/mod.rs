//! Telling people what a rollout is doing: the [`Notifier`] trait and the
//! [`Notification`]s it is given (started, step passed, finished, rolled back), with two
//! notifiers beside it, a webhook (Slack-compatible JSON) and a log notifier (tracing), and
//! the message templates that turn a notification into text. A failing notifier never
//! affects the rollout; its failure is logged.

mod config;
mod log;
mod templates;
mod webhook;

pub use config::{NotifierConfig, NotifierConfigError};
pub use log::LogNotifier;
pub use templates::{kind, rollout_id, slack_escape, Templates};
pub use webhook::WebhookNotifier;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

/// Something worth telling people.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Notification {
    /// The rollout started.
    Started {
        /// Rollout id.
        rollout_id: String,
        /// Service.
        service: String,
        /// Version being deployed.
        version: String,
    },
    /// A step completed.
    StepPassed {
        /// Rollout id.
        rollout_id: String,
        /// Step index (0-based).
        step: usize,
        /// What the step was.
        description: String,
    },
    /// The rollout finished (succeeded, rolled back, failed, aborted).
    Finished {
        /// Rollout id.
        rollout_id: String,
        /// Final phase name.
        phase: String,
        /// Why it ended that way.
        reason: String,
    },
    /// A rollback started.
    RollbackStarted {
        /// Rollout id.
        rollout_id: String,
        /// Why.
        reason: String,
    },
    /// The rollout froze: a person must retry or abort it.
    Frozen {
        /// Rollout id.
        rollout_id: String,
        /// Why.
        reason: String,
    },
}

/// A notifier failed; the rollout goes on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("notification failed: {0}")]
pub struct NotifyError(pub String);

/// Delivers notifications.
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait Notifier: Send + Sync {
    /// Send one notification.
    async fn notify(&self, n: &Notification) -> Result<(), NotifyError>;
}
