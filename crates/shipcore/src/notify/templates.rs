//! Message templates: turn a [`Notification`] into one line of text. Each kind has a template
//! with `{placeholders}`; [`Templates::validate`] rejects a placeholder the kind does not have.

use crate::notifier::Notification;
use serde::{Deserialize, Serialize};

/// One template per notification kind.
///
/// Placeholders: all kinds have `{rollout_id}`; `started` has `{service}` and `{version}`;
/// `step_passed` has `{step}` (1-based) and `{description}`; `finished` has `{phase}` and
/// `{reason}`; `rollback` has `{reason}`.
///
/// ```
/// use shipcore::notifier::Notification;
/// let t = shipcore::notify::Templates::default();
/// let n = Notification::Started { rollout_id: "r1".into(), service: "web".into(),
///     version: "1.2.0".into() };
/// assert_eq!(t.render(&n), "Rollout r1 started: deploying web 1.2.0");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Templates {
    /// The rollout started.
    pub started: String,
    /// A step passed.
    pub step_passed: String,
    /// The rollout finished.
    pub finished: String,
    /// A rollback started.
    pub rollback: String,
}

impl Default for Templates {
    fn default() -> Self {
        Templates {
            started: "Rollout {rollout_id} started: deploying {service} {version}".into(),
            step_passed: "Rollout {rollout_id}: step {step} passed ({description})".into(),
            finished: "Rollout {rollout_id} finished: {phase} ({reason})".into(),
            rollback: "Rollout {rollout_id} is rolling back: {reason}".into(),
        }
    }
}

/// A template uses a placeholder its notification kind does not have.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("template {field}: unknown placeholder {{{placeholder}}} (available: {available})")]
#[non_exhaustive]
pub struct TemplateError {
    /// Which template (`started`, `step_passed`, `finished`, `rollback`).
    pub field: String,
    /// The unknown placeholder.
    pub placeholder: String,
    /// The placeholders that template may use.
    pub available: String,
}

const STARTED: &[&str] = &["rollout_id", "service", "version"];
const STEP: &[&str] = &["rollout_id", "step", "description"];
const FINISHED: &[&str] = &["rollout_id", "phase", "reason"];
const ROLLBACK: &[&str] = &["rollout_id", "reason"];

impl Templates {
    /// Checks that every placeholder exists for its kind.
    pub fn validate(&self) -> Result<(), TemplateError> {
        for (field, text, names) in [
            ("started", &self.started, STARTED),
            ("step_passed", &self.step_passed, STEP),
            ("finished", &self.finished, FINISHED),
            ("rollback", &self.rollback, ROLLBACK),
        ] {
            for p in placeholders(text) {
                if !names.contains(&p) {
                    return Err(TemplateError {
                        field: field.into(),
                        placeholder: p.into(),
                        available: names.join(", "),
                    });
                }
            }
        }
        Ok(())
    }

    /// The text of a notification.
    pub fn render(&self, n: &Notification) -> String {
        self.render_with(n, |v| v.to_string())
    }

    /// The text of a notification for Slack's `mrkdwn`: every placeholder's value (text that
    /// comes from outside: ids, reasons quoting an endpoint's answer) has `&`, `<` and `>`
    /// escaped ([`slack_escape`]), so that it cannot ping `<!channel>` or show a disguised
    /// link; the template itself, written by the operator, is kept as is.
    ///
    /// ```
    /// use shipcore::notifier::Notification;
    /// let t = shipcore::notify::Templates::default();
    /// let n = Notification::RollbackStarted { rollout_id: "r1".into(),
    ///     reason: "<!channel> see <https://evil.invalid|docs> & more".into() };
    /// assert_eq!(t.render_slack(&n),
    ///     "Rollout r1 is rolling back: &lt;!channel&gt; see &lt;https://evil.invalid|docs&gt; &amp; more");
    /// ```
    pub fn render_slack(&self, n: &Notification) -> String {
        self.render_with(n, slack_escape)
    }

    fn render_with(&self, n: &Notification, value: impl Fn(&str) -> String) -> String {
        let v = |s: &str| value(s);
        match n {
            Notification::Started {
                rollout_id,
                service,
                version,
            } => fill(
                &self.started,
                &[
                    ("rollout_id", &v(rollout_id)),
                    ("service", &v(service)),
                    ("version", &v(version)),
                ],
            ),
            Notification::StepPassed {
                rollout_id,
                step,
                description,
            } => fill(
                &self.step_passed,
                &[
                    ("rollout_id", &v(rollout_id)),
                    ("step", &(step + 1).to_string()),
                    ("description", &v(description)),
                ],
            ),
            Notification::Finished {
                rollout_id,
                phase,
                reason,
            } => fill(
                &self.finished,
                &[
                    ("rollout_id", &v(rollout_id)),
                    ("phase", &v(phase)),
                    ("reason", &v(reason)),
                ],
            ),
            Notification::RollbackStarted { rollout_id, reason } => fill(
                &self.rollback,
                &[("rollout_id", &v(rollout_id)), ("reason", &v(reason))],
            ),
        }
    }
}

/// `text` with Slack's control characters escaped: `&` as `&amp;`, `<` as `&lt;`, `>` as
/// `&gt;` (Slack's rules for text in `mrkdwn` and in a message's `text`), so that text from
/// outside cannot mention `<!channel>`, `<@user>` or make a link.
pub fn slack_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

/// The kind of a notification as a word (`started`, `step_passed`, `finished`, `rollback`).
pub fn kind(n: &Notification) -> &'static str {
    match n {
        Notification::Started { .. } => "started",
        Notification::StepPassed { .. } => "step_passed",
        Notification::Finished { .. } => "finished",
        Notification::RollbackStarted { .. } => "rollback",
    }
}

/// The rollout id of a notification.
pub fn rollout_id(n: &Notification) -> &str {
    match n {
        Notification::Started { rollout_id, .. }
        | Notification::StepPassed { rollout_id, .. }
        | Notification::Finished { rollout_id, .. }
        | Notification::RollbackStarted { rollout_id, .. } => rollout_id,
    }
}

fn placeholders(text: &str) -> impl Iterator<Item = &str> {
    text.split('{')
        .skip(1)
        .filter_map(|part| part.split_once('}').map(|(name, _)| name))
}

/// Replaces `{name}` by its value in one pass (values are not expanded again).
fn fill(template: &str, values: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(template.len() + 64);
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        match after.find('}').and_then(|close| {
            let name = &after[..close];
            values
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (close, *v))
        }) {
            Some((close, value)) => {
                out.push_str(value);
                rest = &after[close + 1..];
            }
            None => {
                out.push('{');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}
