//! One step of a canary as a user writes it (`{set_weight: 10}`, `{pause: "5m"}`,
//! `{pause: {}}`, `{analysis: {...}}`, `{gate: [approval]}`), like Argo's canary steps.

use crate::model::AnalysisStep;
use crate::time::{format_duration, parse_duration};
use serde::de::{self, MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::time::Duration;

/// A canary step.
///
/// ```
/// use shipcore::strategy::{CanaryStep, PauseSpec};
/// use std::time::Duration;
/// let steps: Vec<CanaryStep> = serde_json::from_str(
///     r#"[{"set_weight": 10}, {"pause": "5m"}, {"pause": {}}, {"gate": ["approval"]}]"#,
/// ).unwrap();
/// assert_eq!(steps, vec![
///     CanaryStep::SetWeight(10),
///     CanaryStep::Pause(PauseSpec(Some(Duration::from_secs(300)))),
///     CanaryStep::Pause(PauseSpec(None)),
///     CanaryStep::Gate(vec!["approval".into()]),
/// ]);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CanaryStep {
    /// Send this percent of traffic to the candidate (1..=100, increasing from step to step).
    SetWeight(u32),
    /// Wait: `"5m"`, a number of seconds, `{duration: "5m"}`, or `{}` until promoted.
    Pause(PauseSpec),
    /// Run validators under a policy.
    Analysis(AnalysisStep),
    /// Check named gates.
    Gate(Vec<String>),
}

/// How long a canary pause lasts; `None` waits for an operator to promote.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PauseSpec(pub Option<Duration>);

impl Serialize for PauseSpec {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Some(d) => s.serialize_str(&format_duration(d)),
            None => s.serialize_map(Some(0))?.end(),
        }
    }
}

struct PauseVisitor;

impl<'de> Visitor<'de> for PauseVisitor {
    type Value = PauseSpec;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a duration like \"5m\", a number of seconds, {duration: \"5m\"} or {}")
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<PauseSpec, E> {
        Ok(PauseSpec(Some(Duration::from_secs(v))))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<PauseSpec, E> {
        match u64::try_from(v) {
            Ok(v) => self.visit_u64(v),
            Err(_) => Err(E::custom(format!("pause of {v} seconds is negative"))),
        }
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<PauseSpec, E> {
        parse_duration(v)
            .map(|d| PauseSpec(Some(d)))
            .map_err(E::custom)
    }

    fn visit_unit<E: de::Error>(self) -> Result<PauseSpec, E> {
        Ok(PauseSpec(None))
    }

    fn visit_none<E: de::Error>(self) -> Result<PauseSpec, E> {
        Ok(PauseSpec(None))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<PauseSpec, A::Error> {
        #[derive(Deserialize)]
        struct D(#[serde(with = "crate::time::serde_opt_duration")] Option<Duration>);
        let mut duration = None;
        while let Some(key) = map.next_key::<String>()? {
            if key != "duration" {
                return Err(de::Error::unknown_field(&key, &["duration"]));
            }
            if duration.is_some() {
                return Err(de::Error::duplicate_field("duration"));
            }
            duration = Some(map.next_value::<D>()?.0);
        }
        Ok(PauseSpec(duration.flatten()))
    }
}

impl<'de> Deserialize<'de> for PauseSpec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(PauseVisitor)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn de(s: &str) -> Result<CanaryStep, serde_json::Error> {
        serde_json::from_str(s)
    }

    #[test]
    fn pauses_in_every_spelling() {
        let five = CanaryStep::Pause(PauseSpec(Some(Duration::from_secs(300))));
        assert_eq!(de(r#"{"pause": "5m"}"#).unwrap(), five);
        assert_eq!(de(r#"{"pause": 300}"#).unwrap(), five);
        assert_eq!(de(r#"{"pause": {"duration": "5m"}}"#).unwrap(), five);
        let forever = CanaryStep::Pause(PauseSpec(None));
        assert_eq!(de(r#"{"pause": {}}"#).unwrap(), forever);
        assert_eq!(de(r#"{"pause": null}"#).unwrap(), forever);
        assert_eq!(de(r#"{"pause": {"duration": null}}"#).unwrap(), forever);
    }

    #[test]
    fn bad_steps_say_what_is_wrong() {
        let e = de(r#"{"pause": {"durration": "5m"}}"#)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("unknown field `durration`") && e.contains("duration"),
            "{e}"
        );
        let e = de(r#"{"pause": "5 minutes"}"#).unwrap_err().to_string();
        assert!(e.contains("invalid duration"), "{e}");
        let e = de(r#"{"pause": -3}"#).unwrap_err().to_string();
        assert!(e.contains("negative"), "{e}");
        let e = de(r#"{"set_wieght": 10}"#).unwrap_err().to_string();
        assert!(e.contains("unknown variant `set_wieght`"), "{e}");
        let e = de(r#"{"analysis": {"validators": ["x"], "polcy": {}}}"#).unwrap_err();
        assert!(e.to_string().contains("unknown field `polcy`"), "{e}");
    }

    #[test]
    fn round_trips() {
        let steps = vec![
            CanaryStep::SetWeight(20),
            CanaryStep::Pause(PauseSpec(Some(Duration::from_secs(90)))),
            CanaryStep::Pause(PauseSpec(None)),
            CanaryStep::Gate(vec!["approval".into()]),
            CanaryStep::Analysis(AnalysisStep {
                validators: vec!["errors".into()],
                policy: Default::default(),
            }),
        ];
        let text = serde_json::to_string(&steps).unwrap();
        assert!(text.contains(r#"{"pause":"1m30s"}"#), "{text}");
        assert!(text.contains(r#"{"pause":{}}"#), "{text}");
        let back: Vec<CanaryStep> = serde_json::from_str(&text).unwrap();
        assert_eq!(back, steps);
    }
}
