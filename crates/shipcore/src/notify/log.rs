//! The log notifier: writes each notification as a `tracing` event (target
//! `shipcore::notify`), at `warn` for rollbacks and unsuccessful ends, `info` otherwise.

use super::templates::{kind, rollout_id, Templates};
use crate::notify::{Notification, Notifier, NotifyError};
use async_trait::async_trait;

/// Logs notifications through `tracing`.
#[derive(Debug, Clone, Default)]
pub struct LogNotifier {
    templates: Templates,
}

impl LogNotifier {
    /// A log notifier with the default templates.
    pub fn new() -> Self {
        LogNotifier::default()
    }

    /// Uses these templates.
    #[must_use]
    pub fn templates(mut self, t: Templates) -> Self {
        self.templates = t;
        self
    }
}

fn is_bad(n: &Notification) -> bool {
    match n {
        Notification::RollbackStarted { .. } | Notification::Frozen { .. } => true,
        Notification::Finished { phase, .. } => !matches!(
            phase.to_ascii_lowercase().as_str(),
            "succeeded" | "success" | "completed"
        ),
        _ => false,
    }
}

#[async_trait]
impl Notifier for LogNotifier {
    async fn notify(&self, n: &Notification) -> Result<(), NotifyError> {
        let text = self.templates.render(n);
        let (rollout, kind) = (rollout_id(n), kind(n));
        if is_bad(n) {
            tracing::warn!(target: "shipcore::notify", rollout, kind, "{text}");
        } else {
            tracing::info!(target: "shipcore::notify", rollout, kind, "{text}");
        }
        Ok(())
    }
}
