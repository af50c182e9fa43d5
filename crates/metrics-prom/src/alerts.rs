//! Prometheus alerting rules from thresholds: an [`AlertThreshold`] (warning and critical
//! levels, `for` durations) becomes one rule per level, with a `severity` label, in a rules
//! file that `promtool check rules` accepts. The YAML is written by hand: block structure,
//! every string double-quoted with YAML escapes, so no text can change the structure.
//!
//! ```
//! use metrics_prom::{render_rules, AlertThreshold, RuleGroup, StandardQueries};
//! use std::time::Duration;
//! let q = StandardQueries::new(r#"job="web""#);
//! let high_errors = AlertThreshold::new("WebHighErrorRate", q.error_rate())
//!     .warning(0.01)
//!     .critical(0.05)
//!     .for_duration(Duration::from_secs(120));
//! let yaml = render_rules(&[RuleGroup::new("web", vec![high_errors])]).unwrap();
//! assert!(yaml.contains("    rules:\n      - alert: \"WebHighErrorRate\"\n"));
//! assert!(yaml.contains("        for: 2m\n"));
//! ```

use crate::queries::prom_duration;
use serde::{Deserialize, Serialize};
use shipcore::model::FieldError;
use shipcore::time::{serde_duration, serde_opt_duration};
use shipcore::validator::{FailWhen, ThresholdConfig};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::time::Duration;

/// A rules file could not be made; `field` says where (`groups[0].alerts[1].warning`).
/// It wraps a [`FieldError`]; `e.field` and `e.problem` read its fields.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("alert rules: {0}")]
pub struct AlertRuleError(pub FieldError);

shipcore::field_error_wrapper!(AlertRuleError);

/// One metric with warning and/or critical levels, as alerting rules.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertThreshold {
    /// Alert name (a Prometheus metric name: letters, digits, `_`, `:`). Both levels' rules
    /// share it and differ by the `severity` label.
    pub alert: String,
    /// PromQL expression (already rendered: no `{{variables}}`).
    pub expr: String,
    /// Which side of a level is bad (default `above`).
    #[serde(default)]
    pub fail_when: FailWhen,
    /// Warning level.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warning: Option<f64>,
    /// Critical level.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub critical: Option<f64>,
    /// How long the critical level (and, without `warning_for`, the warning level) must be
    /// breached before the alert fires (default 0: at once).
    #[serde(rename = "for", default, with = "serde_duration")]
    pub for_duration: Duration,
    /// `for` of the warning rule, if different.
    #[serde(
        default,
        with = "serde_opt_duration",
        skip_serializing_if = "Option::is_none"
    )]
    pub warning_for: Option<Duration>,
    /// Extra labels on both rules (`severity` is set by the level).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Annotations on both rules (Go templates such as `{{ $value }}` allowed); a `summary`
    /// is written when none is given.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

fn valid_metric_name(s: &str) -> bool {
    !s.is_empty()
        && !s.starts_with(|c: char| c.is_ascii_digit())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

fn valid_label_name(s: &str) -> bool {
    valid_metric_name(s) && !s.contains(':') && !s.starts_with("__")
}

impl AlertThreshold {
    /// A threshold on `expr` with no levels yet.
    pub fn new(alert: impl Into<String>, expr: impl Into<String>) -> Self {
        AlertThreshold {
            alert: alert.into(),
            expr: expr.into(),
            fail_when: FailWhen::Above,
            warning: None,
            critical: None,
            for_duration: Duration::ZERO,
            warning_for: None,
            labels: BTreeMap::new(),
            annotations: BTreeMap::new(),
        }
    }

    /// With a warning level.
    #[must_use]
    pub fn warning(mut self, level: f64) -> Self {
        self.warning = Some(level);
        self
    }

    /// With a critical level.
    #[must_use]
    pub fn critical(mut self, level: f64) -> Self {
        self.critical = Some(level);
        self
    }

    /// With a `for` duration (both levels unless [`warning_for`](Self::warning_for) is set).
    #[must_use]
    pub fn for_duration(mut self, d: Duration) -> Self {
        self.for_duration = d;
        self
    }

    /// Values below the levels are bad (success rate, throughput).
    #[must_use]
    pub fn below(mut self) -> Self {
        self.fail_when = FailWhen::Below;
        self
    }

    /// With a label on both rules.
    #[must_use]
    pub fn label(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.labels.insert(name.into(), value.into());
        self
    }

    /// With an annotation on both rules.
    #[must_use]
    pub fn annotation(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.annotations.insert(name.into(), value.into());
        self
    }

    /// The alert for a metric-threshold validator's configuration: its query rendered with
    /// `vars` (the rollout's `service`, `revision`, ...; values escaped as PromQL string
    /// literals, see [`shipcore::template`]), its levels, side and `for`.
    pub fn from_threshold_config(
        alert: impl Into<String>,
        cfg: &ThresholdConfig,
        vars: &BTreeMap<String, String>,
    ) -> Result<Self, AlertRuleError> {
        let expr =
            shipcore::template::render(&cfg.query, vars, shipcore::template::Placement::PromQl)
                .map_err(|e| FieldError::new("query", e.to_string()))?;
        let mut t = AlertThreshold::new(alert, expr).critical(cfg.critical);
        t.warning = cfg.warning;
        t.fail_when = cfg.fail_when;
        t.for_duration = cfg.for_duration;
        t.check()?;
        Ok(t)
    }

    /// Checks names, levels and labels.
    pub fn check(&self) -> Result<(), AlertRuleError> {
        if !valid_metric_name(&self.alert) {
            return Err(FieldError::new(
                "alert",
                format!(
                    "{:?} is not a valid alert name (letters, digits, _ and :, not starting with a digit)",
                    self.alert
                ),
            ).into());
        }
        if self.expr.trim().is_empty() {
            return Err(FieldError::new("expr", "must not be empty").into());
        }
        if self.expr.contains("{{") {
            return Err(FieldError::new(
                "expr",
                "still holds a {{variable}}; render the template first",
            )
            .into());
        }
        if self.warning.is_none() && self.critical.is_none() {
            return Err(FieldError::new(
                "critical",
                "give a warning or a critical level (or both)",
            )
            .into());
        }
        for (field, level) in [("warning", self.warning), ("critical", self.critical)] {
            if let Some(l) = level.filter(|l| !l.is_finite()) {
                return Err(
                    FieldError::new(field, format!("must be a finite number, not {l}")).into(),
                );
            }
        }
        if let (Some(w), Some(c)) = (self.warning, self.critical) {
            if self.fail_when.breached(w, c) || w == c {
                return Err(FieldError::new(
                    "warning",
                    format!("{w} must come before the critical level {c}"),
                )
                .into());
            }
        }
        for name in self.labels.keys() {
            if !valid_label_name(name) {
                return Err(
                    FieldError::new(format!("labels.{name}"), "is not a valid label name").into(),
                );
            }
            if name == "severity" {
                return Err(FieldError::new(
                    "labels.severity",
                    "is set from the level (warning/critical)",
                )
                .into());
            }
        }
        for name in self.annotations.keys() {
            if !valid_label_name(name) {
                return Err(FieldError::new(
                    format!("annotations.{name}"),
                    "is not a valid annotation name",
                )
                .into());
            }
        }
        Ok(())
    }

    fn write_rules(&self, out: &mut String) {
        let op = match self.fail_when {
            FailWhen::Above => ">",
            FailWhen::Below => "<",
        };
        let side = match self.fail_when {
            FailWhen::Above => "above",
            FailWhen::Below => "below",
        };
        let levels = [
            (
                "warning",
                self.warning,
                self.warning_for.unwrap_or(self.for_duration),
            ),
            ("critical", self.critical, self.for_duration),
        ];
        for (severity, level, for_d) in levels {
            let Some(level) = level else { continue };
            let _ = writeln!(out, "      - alert: {}", quote(&self.alert));
            let expr = format!("({}) {op} {level}", self.expr.trim());
            let _ = writeln!(out, "        expr: {}", quote(&expr));
            if !for_d.is_zero() {
                let _ = writeln!(out, "        for: {}", prom_duration(for_d));
            }
            out.push_str("        labels:\n");
            let mut labels = self.labels.clone();
            labels.insert("severity".into(), severity.into());
            for (k, v) in &labels {
                let _ = writeln!(out, "          {k}: {}", quote(v));
            }
            let mut ann = self.annotations.clone();
            ann.entry("summary".into()).or_insert_with(|| {
                let lasting = if for_d.is_zero() {
                    String::new()
                } else {
                    format!(" for {}", prom_duration(for_d))
                };
                format!(
                    "{}: {{{{ $value }}}} is {side} the {severity} level {level}{lasting}",
                    self.alert
                )
            });
            out.push_str("        annotations:\n");
            for (k, v) in &ann {
                let _ = writeln!(out, "          {k}: {}", quote(v));
            }
        }
    }
}

/// A named group of alert thresholds, evaluated every `interval` (Prometheus' global
/// evaluation interval if `None`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleGroup {
    /// Group name (unique in a file).
    pub name: String,
    /// Evaluation interval.
    #[serde(
        default,
        with = "serde_opt_duration",
        skip_serializing_if = "Option::is_none"
    )]
    pub interval: Option<Duration>,
    /// The thresholds.
    pub alerts: Vec<AlertThreshold>,
}

impl RuleGroup {
    /// A group evaluated at Prometheus' global interval.
    pub fn new(name: impl Into<String>, alerts: Vec<AlertThreshold>) -> Self {
        RuleGroup {
            name: name.into(),
            interval: None,
            alerts,
        }
    }
}

/// A double-quoted YAML scalar: `\`, `"` and every control or line-separator character are
/// escaped, so any text is one scalar.
fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() || matches!(c, '\u{2028}' | '\u{2029}' | '\u{feff}') => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A Prometheus rules file (YAML) for `groups`, checked first.
pub fn render_rules(groups: &[RuleGroup]) -> Result<String, AlertRuleError> {
    if groups.is_empty() {
        return Err(FieldError::new("groups", "give at least one group").into());
    }
    let mut names = BTreeSet::new();
    for (i, g) in groups.iter().enumerate() {
        let at = format!("groups[{i}]");
        if g.name.trim().is_empty() {
            return Err(FieldError::new(format!("{at}.name"), "must not be empty").into());
        }
        if !names.insert(g.name.as_str()) {
            return Err(FieldError::new(
                format!("{at}.name"),
                format!("{:?} is used by an earlier group", g.name),
            )
            .into());
        }
        if g.interval.is_some_and(|d| d.as_millis() == 0) {
            return Err(FieldError::new(format!("{at}.interval"), "must be at least 1ms").into());
        }
        if g.alerts.is_empty() {
            return Err(
                FieldError::new(format!("{at}.alerts"), "give at least one threshold").into(),
            );
        }
        for (j, a) in g.alerts.iter().enumerate() {
            a.check()
                .map_err(|e| e.within(&format!("{at}.alerts[{j}]")))?;
        }
    }
    let mut out = String::new();
    out.push_str("# Alerting rules generated by shipcore (metrics-prom) from thresholds.\n");
    out.push_str("# Check with: promtool check rules <this file>\n");
    out.push_str("groups:\n");
    for g in groups {
        let _ = writeln!(out, "  - name: {}", quote(&g.name));
        if let Some(d) = g.interval {
            let _ = writeln!(out, "    interval: {}", prom_duration(d));
        }
        out.push_str("    rules:\n");
        for a in &g.alerts {
            a.write_rules(&mut out);
        }
    }
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn one_rule_per_level_with_severity_and_for() {
        let t = AlertThreshold::new("HighLatency", "latency_p95")
            .warning(0.2)
            .critical(0.5)
            .for_duration(Duration::from_secs(300))
            .label("team", "web");
        let mut g = RuleGroup::new("web", vec![t]);
        g.interval = Some(Duration::from_secs(30));
        let yaml = render_rules(&[g]).unwrap();
        let expected = "\
# Alerting rules generated by shipcore (metrics-prom) from thresholds.
# Check with: promtool check rules <this file>
groups:
  - name: \"web\"
    interval: 30s
    rules:
      - alert: \"HighLatency\"
        expr: \"(latency_p95) > 0.2\"
        for: 5m
        labels:
          severity: \"warning\"
          team: \"web\"
        annotations:
          summary: \"HighLatency: {{ $value }} is above the warning level 0.2 for 5m\"
      - alert: \"HighLatency\"
        expr: \"(latency_p95) > 0.5\"
        for: 5m
        labels:
          severity: \"critical\"
          team: \"web\"
        annotations:
          summary: \"HighLatency: {{ $value }} is above the critical level 0.5 for 5m\"
";
        assert_eq!(yaml, expected);
    }

    #[test]
    fn quoting_keeps_any_text_in_one_scalar() {
        assert_eq!(quote("a\"b\\c\nd"), "\"a\\\"b\\\\c\\nd\"");
        assert_eq!(quote("x\u{7}y\u{85}"), "\"x\\u0007y\\u0085\"");
        assert_eq!(quote("rate{job=\"x\"}[5m]"), "\"rate{job=\\\"x\\\"}[5m]\"");
    }

    #[test]
    fn below_thresholds_use_less_than() {
        let t = AlertThreshold::new("LowSuccess", "success_ratio")
            .below()
            .warning(0.99)
            .critical(0.95);
        let yaml = render_rules(&[RuleGroup::new("g", vec![t])]).unwrap();
        assert!(yaml.contains("expr: \"(success_ratio) < 0.95\""), "{yaml}");
        assert!(!yaml.contains("for:"), "{yaml}");
    }

    #[test]
    fn from_a_threshold_validator_config() {
        let cfg: ThresholdConfig = serde_json::from_str(
            r#"{"name": "errors", "query": "error_rate{revision=\"{{revision}}\"}",
                "warning": 0.01, "critical": 0.05, "for": "2m"}"#,
        )
        .unwrap();
        let vars = BTreeMap::from([("revision".to_string(), "web-v2".to_string())]);
        let t = AlertThreshold::from_threshold_config("WebErrors", &cfg, &vars).unwrap();
        assert_eq!(t.expr, "error_rate{revision=\"web-v2\"}");
        assert_eq!((t.warning, t.critical), (Some(0.01), Some(0.05)));
        assert_eq!(t.for_duration, Duration::from_secs(120));
        let e =
            AlertThreshold::from_threshold_config("WebErrors", &cfg, &BTreeMap::new()).unwrap_err();
        assert_eq!(e.field, "query");
        // A crafted revision id stays inside its label value (it used to end the selector
        // and multiply the alert's expression by 0).
        let vars = BTreeMap::from([("revision".to_string(), "v2\"} * 0 #".to_string())]);
        let t = AlertThreshold::from_threshold_config("WebErrors", &cfg, &vars).unwrap();
        assert_eq!(t.expr, r#"error_rate{revision="v2\"} * 0 #"}"#);
    }

    #[test]
    fn bad_input_names_the_field() {
        let ok = || AlertThreshold::new("A", "x").critical(1.0);
        let field = |t: AlertThreshold| {
            render_rules(&[RuleGroup::new("g", vec![t])])
                .unwrap_err()
                .0
                .field
        };
        assert_eq!(
            field(AlertThreshold::new("A", "x")),
            "groups[0].alerts[0].critical"
        );
        assert_eq!(field(ok().warning(2.0)), "groups[0].alerts[0].warning");
        assert_eq!(field(ok().warning(f64::NAN)), "groups[0].alerts[0].warning");
        assert_eq!(
            field(AlertThreshold::new("9lives", "x").critical(1.0)),
            "groups[0].alerts[0].alert"
        );
        assert_eq!(
            field(AlertThreshold::new("A", "x{a=\"{{revision}}\"}").critical(1.0)),
            "groups[0].alerts[0].expr"
        );
        assert_eq!(
            field(ok().label("severity", "page")),
            "groups[0].alerts[0].labels.severity"
        );
        assert_eq!(
            field(ok().label("bad-name", "x")),
            "groups[0].alerts[0].labels.bad-name"
        );
        assert_eq!(
            field(ok().annotation("a b", "x")),
            "groups[0].alerts[0].annotations.a b"
        );
        let twice = [
            RuleGroup::new("g", vec![ok()]),
            RuleGroup::new("g", vec![ok()]),
        ];
        assert_eq!(render_rules(&twice).unwrap_err().field, "groups[1].name");
        assert_eq!(render_rules(&[]).unwrap_err().field, "groups");
    }
}
