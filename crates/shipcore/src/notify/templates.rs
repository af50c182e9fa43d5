//! Message templates: turn a [`Notification`] into one line of text. Each kind has a template
//! in the one template language of shipcore, `{{placeholder}}` (read by
//! [`template::pieces`](crate::template::pieces), as metric queries and URLs are);
//! [`Templates::validate`] rejects a placeholder the kind does not have, and the single-brace
//! `{placeholder}` of earlier versions.

use crate::model::FieldError;
use crate::notify::Notification;
use crate::template::{pieces, Piece};
use serde::{Deserialize, Serialize};

/// One template per notification kind.
///
/// Placeholders: all kinds have `{{rollout_id}}`; `started` has `{{service}}` and
/// `{{version}}`; `step_passed` has `{{step}}` (1-based) and `{{description}}`; `finished` has
/// `{{phase}}` and `{{reason}}`; `rollback` and `frozen` have `{{reason}}`. Spaces inside the braces are
/// allowed (`{{ service }}`).
///
/// Until this version notification templates used single braces (`{service}`). Such a
/// template is refused by [`validate`](Self::validate) (so at configuration load, naming the
/// field) with the fix, `{{service}}`, rather than guessed at: a single-brace `{word}` may
/// also be meant as text, and a message silently posted with `{service}` in it would be
/// found only in the channel.
///
/// ```
/// use shipcore::notify::Notification;
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
    /// The rollout froze for a person.
    pub frozen: String,
}

impl Default for Templates {
    fn default() -> Self {
        Templates {
            started: "Rollout {{rollout_id}} started: deploying {{service}} {{version}}".into(),
            step_passed: "Rollout {{rollout_id}}: step {{step}} passed ({{description}})".into(),
            finished: "Rollout {{rollout_id}} finished: {{phase}} ({{reason}})".into(),
            rollback: "Rollout {{rollout_id}} is rolling back: {{reason}}".into(),
            frozen: "Rollout {{rollout_id}} is frozen and needs a person: {{reason}}".into(),
        }
    }
}

const STARTED: &[&str] = &["rollout_id", "service", "version"];
const STEP: &[&str] = &["rollout_id", "step", "description"];
const FINISHED: &[&str] = &["rollout_id", "phase", "reason"];
const ROLLBACK: &[&str] = &["rollout_id", "reason"];

impl Templates {
    /// Checks that every placeholder exists for its kind, and that no template still uses
    /// the single-brace `{name}` of earlier versions for a placeholder name. The error names
    /// the template (`started`, `finished`…) and says what to write.
    ///
    /// ```
    /// let t = shipcore::notify::Templates {
    ///     started: "go {service}".into(),
    ///     ..Default::default()
    /// };
    /// let e = t.validate().unwrap_err();
    /// assert_eq!(e.field, "started");
    /// assert!(e.problem.contains("write {{service}}"), "{e}");
    /// ```
    pub fn validate(&self) -> Result<(), FieldError> {
        for (field, text, names) in [
            ("started", &self.started, STARTED),
            ("step_passed", &self.step_passed, STEP),
            ("finished", &self.finished, FINISHED),
            ("rollback", &self.rollback, ROLLBACK),
            ("frozen", &self.frozen, ROLLBACK),
        ] {
            for piece in pieces(text) {
                match piece {
                    Piece::Var { name, .. } if !names.contains(&name) => {
                        let available: Vec<String> =
                            names.iter().map(|n| format!("{{{{{n}}}}}")).collect();
                        return Err(FieldError::new(
                            field,
                            format!(
                                "unknown placeholder {{{{{name}}}}} (available: {})",
                                available.join(", ")
                            ),
                        ));
                    }
                    Piece::Var { .. } => {}
                    Piece::Text(t) => {
                        if let Some(name) = single_brace(t) {
                            return Err(FieldError::new(
                                field,
                                format!(
                                    "{{{name}}} is the single-brace placeholder of earlier \
                                     versions; write {{{{{name}}}}} (notification templates \
                                     use the same {{{{name}}}} syntax as queries)"
                                ),
                            ));
                        }
                    }
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
    /// use shipcore::notify::Notification;
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
            Notification::Frozen { rollout_id, reason } => fill(
                &self.frozen,
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

/// The kind of a notification as a word (`started`, `step_passed`, `finished`, `rollback`,
/// `frozen`).
pub fn kind(n: &Notification) -> &'static str {
    match n {
        Notification::Started { .. } => "started",
        Notification::StepPassed { .. } => "step_passed",
        Notification::Finished { .. } => "finished",
        Notification::RollbackStarted { .. } => "rollback",
        Notification::Frozen { .. } => "frozen",
    }
}

/// The rollout id of a notification.
pub fn rollout_id(n: &Notification) -> &str {
    match n {
        Notification::Started { rollout_id, .. }
        | Notification::StepPassed { rollout_id, .. }
        | Notification::Finished { rollout_id, .. }
        | Notification::RollbackStarted { rollout_id, .. }
        | Notification::Frozen { rollout_id, .. } => rollout_id,
    }
}

/// Every placeholder name of any kind.
const ALL: &[&str] = &[
    "rollout_id",
    "service",
    "version",
    "step",
    "description",
    "phase",
    "reason",
];

/// The first `{name}` in `text` (a template's own text) whose name is a placeholder name:
/// the single-brace syntax of earlier versions.
fn single_brace(text: &str) -> Option<&str> {
    text.split('{')
        .skip(1)
        .filter_map(|part| part.split_once('}').map(|(name, _)| name.trim()))
        .find(|name| ALL.contains(name))
}

/// Replaces each `{{name}}` by its value in one pass (values are not expanded again); an
/// unknown placeholder stays as written ([`Templates::validate`] refuses it at load).
fn fill(template: &str, values: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(template.len() + 64);
    for piece in pieces(template) {
        match piece {
            Piece::Text(text) => out.push_str(text),
            Piece::Var { name, raw } => match values.iter().find(|(k, _)| *k == name) {
                Some((_, v)) => out.push_str(v),
                None => out.push_str(raw),
            },
        }
    }
    out
}
