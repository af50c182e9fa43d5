//! Prometheus as a shipcore [`MetricsSource`](shipcore::metrics::MetricsSource): instant and
//! range queries over the HTTP API, ready-made per-revision queries, and alert rules.

#![warn(missing_docs)]
