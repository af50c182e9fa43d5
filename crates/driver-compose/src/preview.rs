//! Checks of a revision before it takes production traffic (a blue-green preview, or the
//! stable revision after a rollback): shipcore's HTTP health validator run against every
//! running container of the judged revision, through each one's published loopback port.

use crate::ComposeDriver;
use async_trait::async_trait;
use shipcore::validator::HttpHealthConfig;
use shipcore::validator::{Outcome, ValidationContext, Validator, ValidatorError, Verdict};
use std::sync::Arc;

/// A [`Validator`] that passes when every running container of the judged revision
/// (`ctx.candidate`) answers its health check: status, `"status": "healthy"` and the
/// revision's version, as [`HttpHealthConfig`] says. No running container is inconclusive;
/// one failing container fails the verdict, naming it.
#[derive(Debug, Clone)]
pub struct PreviewHealth {
    driver: Arc<ComposeDriver>,
    template: HttpHealthConfig,
}

impl PreviewHealth {
    /// Checks `path` (`/health`) of every container of the judged revision, with the
    /// health validator's defaults; the validator is called `name`.
    pub fn new(driver: Arc<ComposeDriver>, name: impl Into<String>, path: &str) -> Self {
        let name = name.into();
        PreviewHealth {
            driver,
            template: HttpHealthConfig::new(name, path),
        }
    }

    /// The same with a health configuration whose `url` is the path to check.
    pub fn with_config(driver: Arc<ComposeDriver>, template: HttpHealthConfig) -> Self {
        PreviewHealth { driver, template }
    }

    fn err(&self, message: impl Into<String>) -> ValidatorError {
        ValidatorError {
            validator: self.template.name.clone(),
            message: message.into(),
        }
    }
}

#[async_trait]
impl Validator for PreviewHealth {
    fn name(&self) -> &str {
        &self.template.name
    }

    async fn validate(&self, ctx: &ValidationContext) -> Result<Verdict, ValidatorError> {
        let name = self.template.name.clone();
        let instances = self
            .driver
            .instances()
            .await
            .map_err(|e| self.err(e.to_string()))?;
        let judged: Vec<_> = instances
            .into_iter()
            .filter(|i| i.revision == ctx.candidate.id && i.state == "running")
            .filter_map(|i| i.addr.map(|a| (i.name, a)))
            .collect();
        if judged.is_empty() {
            return Ok(Verdict::new(
                name,
                Outcome::Inconclusive,
                format!("no running container of {} to check", ctx.candidate.id),
            ));
        }
        let mut verdict = Verdict::new(name.clone(), Outcome::Pass, String::new());
        let mut problems = Vec::new();
        let mut inconclusive = Vec::new();
        for (container, addr) in &judged {
            let mut cfg = self.template.clone();
            cfg.url = format!("http://{addr}{}", self.template.url);
            let check = cfg.build().map_err(|e| self.err(e.to_string()))?;
            let v = check.validate(ctx).await.map_err(|e| ValidatorError {
                validator: name.clone(),
                message: format!("{container}: {}", e.message),
            })?;
            for mut m in v.measurements {
                m.name = format!("{}@{container}", m.name);
                verdict.measurements.push(m);
            }
            match v.outcome {
                Outcome::Pass => {}
                Outcome::Fail => problems.push(format!("{container}: {}", v.message)),
                Outcome::Inconclusive => inconclusive.push(format!("{container}: {}", v.message)),
            }
        }
        (verdict.outcome, verdict.message) = if !problems.is_empty() {
            (Outcome::Fail, problems.join("; "))
        } else if !inconclusive.is_empty() {
            (Outcome::Inconclusive, inconclusive.join("; "))
        } else {
            (
                Outcome::Pass,
                format!(
                    "{} container(s) of {} healthy at version {}",
                    judged.len(),
                    ctx.candidate.id,
                    ctx.candidate.version
                ),
            )
        };
        Ok(verdict)
    }
}
