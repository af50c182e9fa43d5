//! shipcore's Kubernetes driver: one Deployment and one Service per revision, traffic
//! weights through a Gateway API `HTTPRoute`, readiness seen through a watch.
