//! Validator configuration from JSON: decoding, checking and building (with a metrics
//! source that is never queried) must answer, never panic; a decoded configuration survives
//! a JSON round trip unchanged.
#![no_main]

use async_trait::async_trait;
use libfuzzer_sys::fuzz_target;
use shipcore::metrics::{MetricQuery, MetricsError, MetricsErrorKind, MetricsSource, QueryResult};
use shipcore::validator::{ValidatorConfig, ValidatorDeps};
use std::sync::Arc;

/// Building never queries; answering anyway keeps the target honest if that changes.
struct NoMetrics;

#[async_trait]
impl MetricsSource for NoMetrics {
    async fn query(&self, query: &MetricQuery) -> Result<QueryResult, MetricsError> {
        Err(MetricsError::new(
            MetricsErrorKind::Unavailable,
            query.expr.clone(),
            "fuzzing: no metrics",
        ))
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(config) = ValidatorConfig::from_json(text) else {
        return;
    };
    let _ = config.name();
    let _ = config.needs_metrics();
    let checked = config.check();
    let deps = ValidatorDeps::with_metrics(Arc::new(NoMetrics));
    let built = config.build(&deps);
    if built.is_ok() {
        assert!(
            checked.is_ok(),
            "build accepted what check refused: {checked:?}"
        );
    }
    let _ = config.build(&ValidatorDeps::default());
    let json = serde_json::to_string(&config).expect("a validator configuration serializes");
    let back = ValidatorConfig::from_json(&json).expect("a serialized configuration decodes");
    assert_eq!(
        back, config,
        "validator configuration changed in a JSON round trip: {json}"
    );
});
