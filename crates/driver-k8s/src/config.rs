//! What the driver needs to know: the namespace, the user's base Deployment or pod template
//! (in code or as YAML), which container runs the artifact, deadlines, and the optional
//! Gateway API route. Bad configuration is refused naming the field.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Container, ContainerPort, PodSpec, PodTemplateSpec};
use serde_json::Value;
use shipcore::model::FieldError;
use std::time::Duration;

/// Configuration the driver refuses, naming the field and the problem.
/// It wraps a [`FieldError`]; `e.field` and `e.problem` read its fields.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("driver-k8s config: {0}")]
pub struct ConfigError(pub FieldError);

shipcore::field_error_wrapper!(ConfigError);

/// The user's workload every revision is built from: a whole Deployment (its strategy,
/// history limit and pod template are kept) or just a pod template.
#[derive(Debug, Clone, PartialEq)]
pub enum Base {
    /// A Deployment; name, selector and replicas are replaced per revision.
    Deployment(Box<Deployment>),
    /// A pod template.
    PodTemplate(Box<PodTemplateSpec>),
}

impl Base {
    /// Parses YAML holding a `Deployment` (`kind: Deployment`) or a bare pod template.
    ///
    /// ```
    /// let b = shipcore_driver_k8s::Base::from_yaml(
    ///     "spec:\n  containers:\n  - name: app\n    image: placeholder\n",
    /// ).unwrap();
    /// assert!(matches!(b, shipcore_driver_k8s::Base::PodTemplate(_)));
    /// ```
    pub fn from_yaml(text: &str) -> Result<Self, ConfigError> {
        // Straight into the typed structs: through an untyped value, YAML 1.1 would read
        // a label value `y` or `on` as a boolean.
        #[derive(serde::Deserialize)]
        struct Kind {
            kind: Option<String>,
        }
        let kind: Kind = serde_saphyr::from_str(text).map_err(|e| {
            ConfigError::from(FieldError::new("base", format!("is not valid YAML: {e}")))
        })?;
        match kind.kind.as_deref() {
            Some("Deployment") => serde_saphyr::from_str::<Deployment>(text)
                .map(|d| Base::Deployment(Box::new(d)))
                .map_err(|e| {
                    ConfigError::from(FieldError::new(
                        "base",
                        format!("is not a valid Deployment: {e}"),
                    ))
                }),
            Some(other) => Err(ConfigError::from(FieldError::new(
                "base",
                format!("must be a Deployment or a pod template (no kind), not {other}"),
            ))),
            None => serde_saphyr::from_str::<PodTemplateSpec>(text)
                .map(|t| Base::PodTemplate(Box::new(t)))
                .map_err(|e| {
                    ConfigError::from(FieldError::new(
                        "base",
                        format!("is not a valid pod template: {e}"),
                    ))
                }),
        }
    }

    /// The pod template of the base.
    pub fn template(&self) -> Option<&PodTemplateSpec> {
        match self {
            Base::Deployment(d) => d.spec.as_ref().map(|s| &s.template),
            Base::PodTemplate(t) => Some(t),
        }
    }
}

/// A Gateway `parentRef` of a driver-owned route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParentRef {
    /// Gateway name.
    pub name: String,
    /// Gateway namespace (default: the route's).
    pub namespace: Option<String>,
    /// Listener name.
    pub section_name: Option<String>,
}

impl ParentRef {
    /// A parent Gateway by name, in the route's namespace.
    pub fn gateway(name: impl Into<String>) -> Self {
        ParentRef {
            name: name.into(),
            namespace: None,
            section_name: None,
        }
    }
}

/// Where weighted traffic goes: a Gateway API `HTTPRoute`.
#[derive(Debug, Clone, PartialEq)]
pub enum RouteConfig {
    /// The driver applies the whole route (server-side apply): parent Gateways, hostnames,
    /// matches, and one rule whose backendRefs are the revisions' Services.
    Owned {
        /// Route name.
        name: String,
        /// Gateways it attaches to (at least one).
        parent_refs: Vec<ParentRef>,
        /// Hostnames (may be empty).
        hostnames: Vec<String>,
        /// `HTTPRouteMatch` objects of the rule, as JSON (empty: Gateway default `/`).
        matches: Vec<Value>,
    },
    /// The user owns the route (GitOps): the driver only adds, removes and weights the
    /// backendRefs naming its revision Services, with a PUT carrying the resourceVersion,
    /// re-reading on a 409 conflict at most `conflict_retries` times.
    UserOwned {
        /// Route name.
        name: String,
        /// How often a 409 conflict is retried by re-reading.
        conflict_retries: u32,
    },
}

impl RouteConfig {
    /// The route's name.
    pub fn name(&self) -> &str {
        match self {
            RouteConfig::Owned { name, .. } | RouteConfig::UserOwned { name, .. } => name,
        }
    }
}

/// The driver's configuration (builder style). Start from [`K8sConfig::new`] with a base,
/// [`K8sConfig::from_yaml`], or [`K8sConfig::for_container`] for a one-container template.
#[derive(Debug, Clone, PartialEq)]
#[must_use]
pub struct K8sConfig {
    pub(crate) namespace: String,
    pub(crate) base: Base,
    pub(crate) container: Option<String>,
    pub(crate) progress_deadline: Duration,
    pub(crate) retire_delay: Duration,
    pub(crate) timeout: Duration,
    pub(crate) route: Option<RouteConfig>,
    pub(crate) service_port: u16,
    pub(crate) target_port: Option<u16>,
}

impl K8sConfig {
    /// A configuration from `base`: namespace `default`, progress deadline 600 s, retire
    /// delay 30 s (as Argo Rollouts), request timeout 30 s, no route, service port 80.
    pub fn new(base: Base) -> Self {
        K8sConfig {
            namespace: "default".into(),
            base,
            container: None,
            progress_deadline: Duration::from_secs(600),
            retire_delay: Duration::from_secs(30),
            timeout: Duration::from_secs(30),
            route: None,
            service_port: 80,
            target_port: None,
        }
    }

    /// A configuration from YAML (a Deployment or a pod template), see [`Base::from_yaml`].
    pub fn from_yaml(text: &str) -> Result<Self, ConfigError> {
        Ok(Self::new(Base::from_yaml(text)?))
    }

    /// A base pod template with one container `name` listening on `port` (also the
    /// Services' target port).
    pub fn for_container(name: &str, port: u16) -> Self {
        let template = PodTemplateSpec {
            metadata: None,
            spec: Some(PodSpec {
                containers: vec![Container {
                    name: name.into(),
                    image: Some("placeholder".into()),
                    ports: Some(vec![ContainerPort {
                        container_port: i32::from(port),
                        name: Some("http".into()),
                        protocol: Some("TCP".into()),
                        ..Default::default()
                    }]),
                    ..Default::default()
                }],
                ..Default::default()
            }),
        };
        Self::new(Base::PodTemplate(Box::new(template))).target_port(port)
    }

    /// Namespace used when the target names none.
    pub fn namespace(mut self, ns: impl Into<String>) -> Self {
        self.namespace = ns.into();
        self
    }
    /// The container that runs the artifact (default: the only one).
    pub fn container(mut self, name: impl Into<String>) -> Self {
        self.container = Some(name.into());
        self
    }
    /// `progressDeadlineSeconds` of every Deployment (whole seconds, at least 1).
    pub fn progress_deadline(mut self, d: Duration) -> Self {
        self.progress_deadline = d;
        self
    }
    /// How long a retired revision keeps running after it left the route (0 in tests).
    pub fn retire_delay(mut self, d: Duration) -> Self {
        self.retire_delay = d;
        self
    }
    /// Timeout of every API request (connect and read).
    pub fn timeout(mut self, d: Duration) -> Self {
        self.timeout = d;
        self
    }
    /// Weighted traffic through this `HTTPRoute`.
    pub fn route(mut self, route: RouteConfig) -> Self {
        self.route = Some(route);
        self
    }
    /// Port of each revision's Service (and of the route's backendRefs).
    pub fn service_port(mut self, port: u16) -> Self {
        self.service_port = port;
        self
    }
    /// Container port the Services send to (default: the service port).
    pub fn target_port(mut self, port: u16) -> Self {
        self.target_port = Some(port);
        self
    }

    /// The route, if any.
    pub fn route_config(&self) -> Option<&RouteConfig> {
        self.route.as_ref()
    }
    /// The retire delay.
    pub fn retire_delay_value(&self) -> Duration {
        self.retire_delay
    }
    /// The request timeout.
    pub fn timeout_value(&self) -> Duration {
        self.timeout
    }

    /// Checks every field, naming the first bad one.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !crate::names::is_dns1123_label(&self.namespace) {
            return Err(ConfigError::from(FieldError::new(
                "namespace",
                format!("{:?} is not a DNS-1123 label", self.namespace),
            )));
        }
        self.container_index()?;
        let secs = self.progress_deadline.as_secs();
        if secs == 0 || secs > i32::MAX as u64 {
            return Err(ConfigError::from(FieldError::new(
                "progress_deadline",
                "must be at least 1 s and fit progressDeadlineSeconds",
            )));
        }
        if self.timeout.is_zero() {
            return Err(ConfigError::from(FieldError::new(
                "timeout",
                "must be longer than zero",
            )));
        }
        if self.service_port == 0 || self.target_port == Some(0) {
            return Err(ConfigError::from(FieldError::new(
                "service_port",
                "ports must be 1..=65535",
            )));
        }
        if let Some(route) = &self.route {
            if !crate::names::is_dns1123_subdomain(route.name()) {
                return Err(ConfigError::from(FieldError::new(
                    "route.name",
                    format!("{:?} is not a valid object name", route.name()),
                )));
            }
            if let RouteConfig::Owned {
                parent_refs,
                matches,
                ..
            } = route
            {
                if parent_refs.is_empty() || parent_refs.iter().any(|p| p.name.is_empty()) {
                    return Err(ConfigError::from(FieldError::new(
                        "route.parent_refs",
                        "an owned route needs at least one named parent Gateway",
                    )));
                }
                if matches.iter().any(|m| !m.is_object()) {
                    return Err(ConfigError::from(FieldError::new(
                        "route.matches",
                        "each match must be an HTTPRouteMatch object",
                    )));
                }
            }
        }
        Ok(())
    }

    /// Index of the container that runs the artifact.
    pub(crate) fn container_index(&self) -> Result<usize, ConfigError> {
        let containers = self
            .base
            .template()
            .and_then(|t| t.spec.as_ref())
            .map(|s| s.containers.as_slice())
            .unwrap_or_default();
        if containers.is_empty() {
            return Err(ConfigError::from(FieldError::new(
                "base",
                "the pod template has no containers",
            )));
        }
        match &self.container {
            Some(name) => containers
                .iter()
                .position(|c| &c.name == name)
                .ok_or_else(|| {
                    ConfigError::from(FieldError::new(
                        "container",
                        format!("no container named {name:?} in the base pod template"),
                    ))
                }),
            None if containers.len() == 1 => Ok(0),
            None => Err(ConfigError::from(FieldError::new(
                "container",
                format!(
                    "the base has {} containers: name the one that runs the artifact",
                    containers.len()
                ),
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_deployment_and_template_parse_and_bad_fields_are_named() {
        let d = K8sConfig::from_yaml(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\nspec:\n  selector: {matchLabels: {a: b}}\n  template:\n    spec:\n      containers:\n      - {name: app, image: x}\n      - {name: side, image: y}\n",
        )
        .unwrap();
        assert_eq!(d.validate().unwrap_err().field, "container");
        assert!(d.clone().container("app").validate().is_ok());
        assert_eq!(
            d.container("nope").validate().unwrap_err().field,
            "container"
        );
        assert_eq!(
            K8sConfig::from_yaml("kind: Service\n").unwrap_err().field,
            "base"
        );
        assert_eq!(
            K8sConfig::from_yaml(": : :\n  - [").unwrap_err().field,
            "base"
        );
        let c = K8sConfig::for_container("app", 8080);
        assert!(c.validate().is_ok());
        assert_eq!(
            c.clone().namespace("Bad_NS").validate().unwrap_err().field,
            "namespace"
        );
        assert_eq!(
            c.clone()
                .progress_deadline(Duration::ZERO)
                .validate()
                .unwrap_err()
                .field,
            "progress_deadline"
        );
        let owned = RouteConfig::Owned {
            name: "web".into(),
            parent_refs: vec![],
            hostnames: vec![],
            matches: vec![],
        };
        assert_eq!(
            c.clone().route(owned).validate().unwrap_err().field,
            "route.parent_refs"
        );
        let bad = RouteConfig::UserOwned {
            name: "Web Route".into(),
            conflict_retries: 3,
        };
        assert_eq!(c.route(bad).validate().unwrap_err().field, "route.name");
    }
}
