//! Manual approval (confirm-promotion): `Wait` until a person approves, through the rollout
//! handle (the engine puts the gate's name into `GateContext.approvals`) or by creating an
//! approval file; with an optional timeout that continues or stops, like CodeDeploy's
//! `DeploymentReadyOption`. The wait is measured on `GateContext.now`, per rollout.

use super::config::{check_name, ConfigError};
use crate::gate::{Gate, GateContext, GateOutcome};
use crate::time::{format_duration, serde_duration, serde_opt_duration, Timestamp};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

/// What happens when nobody approved within the timeout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimeoutAction {
    /// Stop the rollout (`Block`).
    #[default]
    Stop,
    /// Go on as if approved (`Pass`).
    Continue,
}

/// Configuration of an [`ApprovalGate`].
///
/// ```
/// let c: shipcore::gates::ApprovalConfig = serde_json::from_str(r#"{"name": "promote",
///     "approval_file": "/tmp/approve-{rollout_id}", "timeout": "1h", "on_timeout": "stop"}"#)
///     .unwrap();
/// assert!(c.build().is_ok());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApprovalConfig {
    /// Gate name: approving this name through the rollout handle passes the gate.
    pub name: String,
    /// A file whose existence approves; `{rollout_id}` in it is replaced by the rollout id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval_file: Option<PathBuf>,
    /// How long to wait for approval (default: forever).
    #[serde(
        default,
        with = "serde_opt_duration",
        skip_serializing_if = "Option::is_none"
    )]
    pub timeout: Option<Duration>,
    /// What the timeout does (default stop).
    #[serde(default)]
    pub on_timeout: TimeoutAction,
    /// How often to ask again while waiting (default 30s).
    #[serde(default = "default_poll", with = "serde_duration")]
    pub poll_interval: Duration,
}

fn default_poll() -> Duration {
    Duration::from_secs(30)
}

impl ApprovalConfig {
    /// Approval through the rollout handle only, no timeout.
    pub fn new(name: impl Into<String>) -> Self {
        ApprovalConfig {
            name: name.into(),
            approval_file: None,
            timeout: None,
            on_timeout: TimeoutAction::Stop,
            poll_interval: default_poll(),
        }
    }

    /// Checks the values and builds the gate.
    pub fn build(&self) -> Result<ApprovalGate, ConfigError> {
        check_name(&self.name)?;
        if self.timeout == Some(Duration::ZERO) {
            return Err(ConfigError::new("timeout", "must be greater than zero"));
        }
        if self.poll_interval.is_zero() {
            return Err(ConfigError::new(
                "poll_interval",
                "must be greater than zero",
            ));
        }
        if let Some(p) = &self.approval_file {
            if p.as_os_str().is_empty() {
                return Err(ConfigError::new("approval_file", "must not be empty"));
            }
        }
        Ok(ApprovalGate {
            cfg: self.clone(),
            asked: Mutex::new(HashMap::new()),
        })
    }
}

/// Waits for a person's approval.
#[derive(Debug)]
pub struct ApprovalGate {
    cfg: ApprovalConfig,
    asked: Mutex<HashMap<String, Timestamp>>,
}

impl ApprovalGate {
    /// The approval file for a rollout, if one is configured.
    pub fn approval_file(&self, rollout_id: &str) -> Option<PathBuf> {
        self.cfg
            .approval_file
            .as_ref()
            .map(|p| PathBuf::from(p.to_string_lossy().replace("{rollout_id}", rollout_id)))
    }

    /// When the gate first asked for approval of this rollout (`None` if never or approved).
    pub fn first_asked(&self, rollout_id: &str) -> Option<Timestamp> {
        self.asked
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(rollout_id)
            .copied()
    }

    fn settle(&self, rollout_id: &str) {
        self.asked
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(rollout_id);
    }
}

#[async_trait]
impl Gate for ApprovalGate {
    fn name(&self) -> &str {
        &self.cfg.name
    }

    async fn check(&self, ctx: &GateContext) -> GateOutcome {
        let file = self.approval_file(&ctx.rollout_id);
        let by_handle = ctx.approvals.iter().any(|a| a == &self.cfg.name);
        let by_file = match &file {
            Some(f) => tokio::fs::try_exists(f).await.unwrap_or(false),
            None => false,
        };
        if by_handle || by_file {
            self.settle(&ctx.rollout_id);
            return GateOutcome::Pass;
        }
        let first = *self
            .asked
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(ctx.rollout_id.clone())
            .or_insert(ctx.now);
        let waited = ctx.now.since(first);
        let how = match &file {
            Some(f) => format!(
                "approve `{}` through the rollout handle or create {}",
                self.cfg.name,
                f.display()
            ),
            None => format!("approve `{}` through the rollout handle", self.cfg.name),
        };
        match self.cfg.timeout {
            Some(limit) if waited >= limit => {
                self.settle(&ctx.rollout_id);
                match self.cfg.on_timeout {
                    TimeoutAction::Continue => {
                        tracing::warn!(gate = %self.cfg.name, rollout = %ctx.rollout_id,
                            "no approval within {}; continuing as configured", format_duration(limit));
                        GateOutcome::Pass
                    }
                    TimeoutAction::Stop => GateOutcome::block(format!(
                        "no approval for `{}` within {}; stopping as configured",
                        self.cfg.name,
                        format_duration(limit)
                    )),
                }
            }
            Some(limit) => {
                let left = limit - waited;
                GateOutcome::wait(
                    self.cfg.poll_interval.min(left),
                    format!(
                        "waiting for approval ({} left): {how}",
                        format_duration(left)
                    ),
                )
            }
            None => GateOutcome::wait(
                self.cfg.poll_interval,
                format!("waiting for approval: {how}"),
            ),
        }
    }
}
