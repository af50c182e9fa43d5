//! shipcore's CloudWatch metrics source: `GetMetricData` queries answering canary analyses.
