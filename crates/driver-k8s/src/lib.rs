//! shipcore's Kubernetes driver: one Deployment and one Service per revision, traffic
//! weights through a Gateway API `HTTPRoute`, readiness seen through a watch.

/// A wire-faithful fake apiserver for tests without a cluster (feature `testing`).
#[cfg(feature = "testing")]
pub mod fake;
