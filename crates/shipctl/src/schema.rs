//! `shipctl schema`: the rollout file's JSON Schema (schemars), for editor completion. The
//! library's configuration types have no schema of their own; the stand-ins here describe
//! their shape (tags, names, step kinds), and the library checks the rest when the file loads.

use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use std::borrow::Cow;

/// The schema of [`RolloutFile`](crate::file::RolloutFile), as pretty JSON.
pub fn rollout_file_schema() -> String {
    let schema = schemars::schema_for!(crate::file::RolloutFile);
    serde_json::to_string_pretty(&schema).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
}

macro_rules! stand_in {
    ($(#[$doc:meta])* $name:ident, $schema:tt) => {
        $(#[$doc])*
        pub struct $name;
        impl JsonSchema for $name {
            fn schema_name() -> Cow<'static, str> {
                stringify!($name).into()
            }
            fn json_schema(_: &mut SchemaGenerator) -> Schema {
                json_schema!($schema)
            }
        }
    };
}

stand_in!(
    /// A duration: `"30s"`, `"5m"`, `"1h30m"`, `"250ms"`, or a number of seconds.
    DurationText,
    {
        "description": "A duration: \"30s\", \"5m\", \"1h30m\", \"250ms\", or a number of seconds.",
        "type": ["string", "integer"]
    }
);

stand_in!(
    /// Any mapping (checked by the library when the file loads).
    AnyObject,
    { "type": "object" }
);

stand_in!(
    /// `rollback` or `freeze`.
    FailurePolicyName,
    { "enum": ["rollback", "freeze"] }
);

stand_in!(
    /// `shipcore::engine::RetryPolicy`.
    RetrySchema,
    {
        "type": "object",
        "additionalProperties": false,
        "required": ["max_attempts", "initial_backoff", "max_backoff"],
        "properties": {
            "max_attempts": { "type": "integer", "minimum": 1 },
            "initial_backoff": { "type": ["string", "integer"] },
            "max_backoff": { "type": ["string", "integer"] }
        }
    }
);

stand_in!(
    /// `shipcore::model::AnalysisStep`: validators under a policy.
    AnalysisSchema,
    {
        "type": "object",
        "additionalProperties": false,
        "required": ["validators"],
        "properties": {
            "validators": { "type": "array", "items": { "type": "string" } },
            "policy": {
                "type": "object",
                "description": "interval, count, initial_delay, failure_limit, inconclusive_limit, consecutive_error_limit, ...",
                "properties": {
                    "interval": { "type": ["string", "integer"] },
                    "count": { "type": "integer", "minimum": 1 }
                }
            }
        }
    }
);

stand_in!(
    /// `shipcore::strategy::Canary`.
    CanarySchema,
    {
        "type": "object",
        "additionalProperties": false,
        "properties": {
            "steps": {
                "type": "array",
                "items": {
                    "description": "One of: {set_weight: 1..=100}, {pause: \"5m\" | {} }, {analysis: {validators, policy}}, {gate: [names]}",
                    "type": "object",
                    "minProperties": 1,
                    "maxProperties": 1,
                    "properties": {
                        "set_weight": { "type": "integer", "minimum": 1, "maximum": 100 },
                        "pause": { "type": ["string", "integer", "object"] },
                        "analysis": { "type": "object" },
                        "gate": { "type": "array", "items": { "type": "string" } }
                    },
                    "additionalProperties": false
                }
            },
            "traffic": { "enum": ["auto", "weighted", "replicas"] },
            "scale_down_delay": { "type": ["string", "integer"] }
        }
    }
);

stand_in!(
    /// `shipcore::gate::GateConfig`, tagged by `type`.
    GateSchema,
    {
        "type": "object",
        "required": ["type", "name"],
        "properties": {
            "type": { "enum": ["command", "http", "file", "approval", "window", "lock"] },
            "name": { "type": "string" }
        }
    }
);

stand_in!(
    /// `shipcore::validator::ValidatorConfig`, tagged by `type`.
    ValidatorSchema,
    {
        "type": "object",
        "required": ["type", "name"],
        "properties": {
            "type": { "enum": ["metric_threshold", "baseline", "judge", "http_health", "smoke", "log_pattern"] },
            "name": { "type": "string" }
        }
    }
);

stand_in!(
    /// `shipcore::notify::NotifierConfig`, tagged by `type`.
    NotifierSchema,
    {
        "type": "object",
        "required": ["type"],
        "properties": {
            "type": { "enum": ["webhook", "log"] }
        }
    }
);

stand_in!(
    /// `shipcore::strategy::Rolling`.
    RollingSchema,
    {
        "type": "object",
        "additionalProperties": false,
        "properties": {
            "max_surge": { "description": "Extra replicas during the update: a count or \"25%\" (default 25%).", "type": ["integer", "string"] },
            "max_unavailable": { "description": "Replicas that may be down: a count or \"25%\" (default 25%).", "type": ["integer", "string"] },
            "analysis": { "type": "object", "description": "Run after each batch: {validators, policy}." },
            "pause": { "description": "Wait after each batch.", "type": ["string", "integer"] }
        }
    }
);

stand_in!(
    /// `shipcore::strategy::BlueGreen`.
    BlueGreenSchema,
    {
        "type": "object",
        "additionalProperties": false,
        "properties": {
            "preview_replicas": { "description": "Candidate replicas while previewed (default: all).", "type": "integer", "minimum": 1 },
            "auto_promotion_after": { "description": "Switch after this long; without it the switch waits for `shipctl promote`.", "type": ["string", "integer"] },
            "pre_promotion_analysis": { "type": "object", "description": "Judge the preview: {validators, policy}." },
            "post_promotion_analysis": { "type": "object", "description": "Judge after the switch: {validators, policy}." },
            "scale_down_delay": { "description": "How long stable stays after the switch (default 30s).", "type": ["string", "integer"] }
        }
    }
);

stand_in!(
    /// `shipcore::strategy::Linear`.
    LinearSchema,
    {
        "type": "object",
        "additionalProperties": false,
        "required": ["percent", "interval"],
        "properties": {
            "percent": { "description": "Traffic moved per step.", "type": "integer", "minimum": 1, "maximum": 100 },
            "interval": { "description": "Time between steps.", "type": ["string", "integer"] },
            "analysis": { "type": "object", "description": "Run at each step: {validators, policy}." },
            "traffic": { "enum": ["auto", "weighted", "replicas"] },
            "scale_down_delay": { "type": ["string", "integer"] }
        }
    }
);

stand_in!(
    /// `shipcore::strategy::Recreate`.
    RecreateSchema,
    {
        "type": "object",
        "additionalProperties": false,
        "properties": {
            "analysis": { "type": "object", "description": "Run once the candidate is up: {validators, policy}." }
        }
    }
);

stand_in!(
    /// `shipcore::strategy::FeatureFlag`.
    FeatureFlagSchema,
    {
        "type": "object",
        "additionalProperties": false,
        "required": ["flag", "percentages"],
        "properties": {
            "flag": { "type": "string" },
            "percentages": { "type": "array", "items": { "type": "integer", "minimum": 1, "maximum": 100 } },
            "pause": { "description": "Between flag steps: \"1h\", seconds, or {} to wait for a person.", "type": ["string", "integer", "object"] },
            "analysis": { "type": "object" },
            "deploy": { "type": "object", "description": "How the code rolls out first (a rolling update's settings)." }
        }
    }
);

stand_in!(
    /// `expand` or `contract`.
    PhaseName,
    { "enum": ["expand", "contract"] }
);

stand_in!(
    /// `shipcore::migrate::PhaseCommand`: what one migration phase runs.
    PhaseCommandSchema,
    {
        "type": "object",
        "additionalProperties": false,
        "required": ["run"],
        "properties": {
            "run": { "type": "array", "items": { "type": "string" }, "description": "The command applying the phase, as argv (no shell)." },
            "pending": { "type": "array", "items": { "type": "string" }, "description": "A command printing the phase's pending migration ids, one per line." }
        }
    }
);

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_schema_names_every_top_level_field_and_strategy() {
        let v: serde_json::Value = serde_json::from_str(&rollout_file_schema()).unwrap();
        let props = v["properties"].as_object().unwrap();
        for f in [
            "id",
            "target",
            "stable",
            "candidate",
            "replicas",
            "strategy",
            "severity",
            "monitoring",
            "gates",
            "validators",
            "metrics",
            "notifiers",
            "driver",
            "state_dir",
            "migrations",
        ] {
            assert!(props.contains_key(f), "{f} missing");
        }
        assert_eq!(v["additionalProperties"], false);
        let text = v.to_string();
        for s in [
            "rolling",
            "blue_green",
            "canary",
            "linear",
            "recreate",
            "feature_flag",
            "codedeploy",
        ] {
            assert!(text.contains(&format!("\"{s}\"")), "{s} missing");
        }
    }
}
