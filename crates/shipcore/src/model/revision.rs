use super::FieldError;
use serde::{Deserialize, Serialize};
use std::fmt;

/// The longest identifier [`check_identifier`] accepts, in bytes.
pub const IDENTIFIER_MAX_LEN: usize = 128;

/// True for a safe identifier: `[A-Za-z0-9][A-Za-z0-9._-]{0,127}` (an ASCII letter or
/// digit, then at most 127 letters, digits, `.`, `_` and `-`). Such a name goes into PromQL
/// label values, URLs, file names, command arguments and platform object names without
/// being able to change their structure.
///
/// ```
/// use shipcore::model::is_identifier;
/// assert!(is_identifier("web-v2.1_rc"));
/// assert!(!is_identifier("v2\"} * 0 #") && !is_identifier("-x") && !is_identifier(""));
/// ```
pub fn is_identifier(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= IDENTIFIER_MAX_LEN
        && b[0].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'-'))
}

/// Checks `value` with [`is_identifier`]; the error names `field`, shows the value (quoted,
/// shortened) and says what is allowed.
///
/// ```
/// let e = shipcore::model::check_identifier("stable.id", "a;b").unwrap_err();
/// assert!(e.to_string().starts_with("stable.id: \"a;b\""));
/// ```
pub fn check_identifier(field: &str, value: &str) -> Result<(), FieldError> {
    if is_identifier(value) {
        return Ok(());
    }
    let mut shown: String = value.chars().take(64).collect();
    if shown.len() < value.len() {
        shown.push('…');
    }
    let problem = if value.len() > IDENTIFIER_MAX_LEN {
        format!(
            "is {} bytes long; at most {IDENTIFIER_MAX_LEN} are allowed",
            value.len()
        )
    } else {
        "must start with an ASCII letter or digit and hold only letters, digits, '.', '_' and '-' (at most 128)".to_string()
    };
    Err(FieldError::new(field, format!("{shown:?} {problem}")))
}

/// The name a driver knows a revision by (`"web-2.0.0"`, a compose service suffix). Unique
/// within a [`Target`]. A rollout accepts only safe identifiers (see [`is_identifier`]:
/// `[A-Za-z0-9][A-Za-z0-9._-]{0,127}`); [`RolloutSpec::validate`](crate::engine::RolloutSpec::validate)
/// refuses any other, naming the field (`candidate.id`, `stable.id`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RevisionId(pub String);

impl RevisionId {
    /// A revision id from any string.
    #[must_use]
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
/// and which semantic version it is. Its `id` must be a safe identifier
/// (`[A-Za-z0-9][A-Za-z0-9._-]{0,127}`, see [`is_identifier`]) for a rollout to accept it.
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
    #[must_use]
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
/// them, a namespace / cluster / compose project). `service`, `environment` and `namespace`
/// must be safe identifiers (`[A-Za-z0-9][A-Za-z0-9._-]{0,127}`, see [`is_identifier`]) for
/// a rollout to accept them: they are inserted into metric queries, URLs and file names.
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
    #[must_use]
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
