//! Manual approval (confirm-promotion): the rollout pauses until a person approves,
//! through the rollout handle (the engine puts the gate's name into
//! `GateContext.approvals`) or by creating an approval file named after the rollout (the
//! gate consumes it); with an optional timeout that continues or stops, like CodeDeploy's
//! `DeploymentReadyOption`. The wait is measured on `GateContext.now` from
//! `GateContext.waiting_since`, which the engine journals, so a restart does not reset it.

use super::config::{check_name, ConfigError};
use crate::gate::{Gate, GateContext, GateOutcome};
use crate::model::FieldError;
use crate::template::{pieces, render, Piece, Placement};
use crate::time::{format_duration, serde_duration, serde_opt_duration, Timestamp};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::ErrorKind;
use std::path::PathBuf;
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
/// let c: shipcore::gate::ApprovalConfig = serde_json::from_str(r#"{"name": "promote",
///     "approval_file": "/var/lib/shipcore/approvals/{{rollout_id}}.approved",
///     "timeout": "1h", "on_timeout": "stop"}"#)
///     .unwrap();
/// assert!(c.build().is_ok());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct ApprovalConfig {
    /// Gate name: approving this name through the rollout handle passes the gate.
    pub name: String,
    /// A file whose existence approves one rollout: a template (the
    /// [`template`](crate::template) language) that must contain `{{rollout_id}}`, its only
    /// variable, replaced by the rollout id; and the gate removes the file when it approves, so
    /// one file never approves another rollout, nor the same rollout a second time. Keep
    /// it in a directory only the people who may approve can write to (not `/tmp`).
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
    /// How often to look for the approval file while waiting (default 30s).
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
            return Err(FieldError::new("timeout", "must be greater than zero").into());
        }
        if self.poll_interval.is_zero() {
            return Err(FieldError::new("poll_interval", "must be greater than zero").into());
        }
        if let Some(p) = &self.approval_file {
            if p.as_os_str().is_empty() {
                return Err(FieldError::new("approval_file", "must not be empty").into());
            }
            check_approval_template(p)?;
        }
        Ok(ApprovalGate { cfg: self.clone() })
    }
}

/// Waits for a person's approval: answers [`GateOutcome::AwaitPerson`] until approved
/// (through the handle, or by the rollout's approval file, which it then removes) or timed
/// out. Stateless: the wait's start comes from the engine (`GateContext.waiting_since`).
#[derive(Debug)]
pub struct ApprovalGate {
    cfg: ApprovalConfig,
}

impl ApprovalGate {
    /// The approval file for a rollout, if one is configured: the template with
    /// `{{rollout_id}}` replaced. `None` also when `rollout_id` cannot be a file name (it
    /// holds a `/` or a control character, or is `.` or `..`), which a validated
    /// [`RolloutSpec`](crate::engine::RolloutSpec)'s id never does.
    ///
    /// ```
    /// use shipcore::gate::ApprovalConfig;
    /// let mut c = ApprovalConfig::new("promote");
    /// c.approval_file = Some("/srv/approvals/{{rollout_id}}.ok".into());
    /// let gate = c.build().unwrap();
    /// assert_eq!(gate.approval_file("web-42"), Some("/srv/approvals/web-42.ok".into()));
    /// assert_eq!(gate.approval_file("../etc"), None);
    /// ```
    pub fn approval_file(&self, rollout_id: &str) -> Option<PathBuf> {
        let template = self.cfg.approval_file.as_ref()?.to_str()?;
        let vars = BTreeMap::from([(ROLLOUT_ID.to_string(), rollout_id.to_string())]);
        render(template, &vars, Placement::FileName)
            .ok()
            .map(PathBuf::from)
    }
}

/// The approval file's only variable.
const ROLLOUT_ID: &str = "rollout_id";

/// An approval file template is UTF-8, names `{{rollout_id}}` and nothing else, and does
/// not use the single-brace spelling of older versions.
fn check_approval_template(path: &std::path::Path) -> Result<(), FieldError> {
    let field = "approval_file";
    let text = path
        .to_str()
        .ok_or_else(|| FieldError::new(field, "must be valid UTF-8"))?;
    let mut named = false;
    for piece in pieces(text) {
        match piece {
            Piece::Var { name, .. } if name == ROLLOUT_ID => named = true,
            Piece::Var { raw, .. } => {
                return Err(FieldError::new(
                    field,
                    format!("{raw} is not known here: its only variable is {{{{rollout_id}}}}"),
                ))
            }
            Piece::Text(t) if t.contains("{rollout_id}") => {
                return Err(FieldError::new(
                    field,
                    "uses {rollout_id}: write {{rollout_id}} (shipcore's one template language)",
                ))
            }
            Piece::Text(_) => {}
        }
    }
    if named {
        Ok(())
    } else {
        Err(FieldError::new(
            field,
            "must contain {{rollout_id}}, so that a file approves one rollout only",
        ))
    }
}

/// An instant as people read it (RFC 3339, UTC).
fn show(t: Timestamp) -> String {
    jiff::Timestamp::from_millisecond(t.0.min(i64::MAX as u64) as i64)
        .map(|t| t.to_string())
        .unwrap_or_else(|_| t.0.to_string())
}

#[async_trait]
impl Gate for ApprovalGate {
    fn name(&self) -> &str {
        &self.cfg.name
    }

    async fn check(&self, ctx: &GateContext) -> GateOutcome {
        if ctx.approvals.iter().any(|a| a == &self.cfg.name) {
            return GateOutcome::Pass;
        }
        let file = self.approval_file(&ctx.rollout_id);
        let mut trouble = String::new();
        if let Some(f) = &file {
            // Consumed: removing it is what approves, so of two runners only one passes.
            match tokio::fs::remove_file(f).await {
                Ok(()) => {
                    tracing::info!(gate = %self.cfg.name, rollout = %ctx.rollout_id, file = %f.display(), "approved by file (consumed)");
                    return GateOutcome::Pass;
                }
                Err(e) if e.kind() == ErrorKind::NotFound => {}
                Err(e) => {
                    trouble = format!(" ({} cannot be consumed: {e})", f.display());
                }
            }
        }
        let since = ctx.waiting_since.unwrap_or(ctx.now);
        let waited = ctx.now.since(since);
        let how = match &file {
            Some(f) => format!(
                "approve `{}` through the rollout handle or create {}{trouble}",
                self.cfg.name,
                f.display()
            ),
            None => format!("approve `{}` through the rollout handle", self.cfg.name),
        };
        let poll = file.as_ref().map(|_| self.cfg.poll_interval);
        match self.cfg.timeout {
            Some(limit) if waited >= limit => match self.cfg.on_timeout {
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
            },
            Some(limit) => {
                let left = limit - waited;
                GateOutcome::await_person(
                    format!(
                        "waiting for approval until {} ({} after {}): {how}",
                        show(since.plus(limit)),
                        format_duration(limit),
                        show(since)
                    ),
                    Some(poll.map_or(left, |p| p.min(left))),
                )
            }
            None => GateOutcome::await_person(format!("waiting for approval: {how}"), poll),
        }
    }
}
