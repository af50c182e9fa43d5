use serde::{Deserialize, Serialize};
use std::fmt;

/// The name a driver knows a revision by (`"web-2.0.0"`, a task definition family:revision,
/// a compose service suffix). Unique within a [`Target`].
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RevisionId(pub String);

impl RevisionId {
    /// A revision id from any string.
    pub fn new(id: impl Into<String>) -> Self {
        RevisionId(id.into())
    }
    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RevisionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for RevisionId {
    fn from(s: &str) -> Self {
        RevisionId(s.to_string())
    }
}

/// One deployable version of a service: what runs (`artifact`, e.g. an image reference)
/// and which semantic version it is.
///
/// ```
/// let r = shipcore::model::Revision::new("web-v2", "2.0.0".parse().unwrap(), "web:2.0.0");
/// assert_eq!(r.id.as_str(), "web-v2");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revision {
    /// Driver-facing identity.
    pub id: RevisionId,
    /// Semantic version of the code.
    pub version: semver::Version,
    /// What to run: an image reference, a task definition, a binary path.
    pub artifact: String,
}

impl Revision {
    /// A revision from its parts.
    pub fn new(
        id: impl Into<String>,
        version: semver::Version,
        artifact: impl Into<String>,
    ) -> Self {
        Revision {
            id: RevisionId::new(id),
            version,
            artifact: artifact.into(),
        }
    }
}

/// The two revisions a rollout moves between.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// What runs in production now (may be absent on a first deploy).
    Stable,
    /// What the rollout is moving to.
    Candidate,
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Role::Stable => "stable",
            Role::Candidate => "candidate",
        })
    }
}

/// Where a rollout happens: one service in one environment (and, where the platform has
/// them, a namespace / cluster / compose project).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Target {
    /// Service name.
    pub service: String,
    /// Environment name (`production`, `staging`).
    pub environment: String,
    /// Platform scope: Kubernetes namespace, ECS cluster, compose project.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

impl Target {
    /// A target with no namespace.
    pub fn new(service: impl Into<String>, environment: impl Into<String>) -> Self {
        Target {
            service: service.into(),
            environment: environment.into(),
            namespace: None,
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{}/{}@{}", ns, self.service, self.environment),
            None => write!(f, "{}@{}", self.service, self.environment),
        }
    }
}
