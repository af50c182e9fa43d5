//! [`K8sDriver`]: the shipcore [`Driver`] contract on the Kubernetes API. Actions live in
//! `apply.rs`, the route in `route.rs`, observation in `observe.rs`, the watch in
//! `watch.rs`.

mod apply;
mod observe;
mod route;
mod watch;

use crate::config::{ConfigError, K8sConfig};
use crate::error::classify;
use async_trait::async_trait;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Service;
use kube::core::{ApiResource, DynamicObject, GroupVersionKind};
use kube::{Api, Client};
use shipcore::driver::{Capabilities, Driver, DriverError};
use shipcore::model::{Action, FleetState, Revision, RevisionId, Target};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

pub use apply::FIELD_MANAGER;
pub(crate) use apply::{check_owned, check_revision_id, get_opt};
pub use observe::{fleet_from, revision_failure, view_of, RevisionView};

/// The Kubernetes driver: one Deployment and one Service per revision in the target's
/// namespace, weights through a Gateway API `HTTPRoute` when one is configured.
///
/// Capabilities: `side_by_side` always; `weighted_traffic` and `preview` only with a
/// route (without one a canary is a replica-ratio canary behind the apex Service and
/// blue-green is refused); no native rolling, no feature flags.
#[derive(Clone)]
pub struct K8sDriver {
    client: Client,
    cfg: Arc<K8sConfig>,
    state: Arc<Mutex<Memory>>,
}

/// What the driver remembers between calls (only to decide how to report; the cluster
/// remains the source of truth, so a new process needs none of it).
#[derive(Default)]
struct Memory {
    /// Per target: the revision last deployed, i.e. the one the caller now waits for.
    last_deployed: HashMap<String, RevisionId>,
    /// Per target: the Deployment list's resourceVersion at the last observe.
    list_version: HashMap<String, String>,
}

impl std::fmt::Debug for K8sDriver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("K8sDriver")
            .field("config", &self.cfg)
            .finish()
    }
}

impl K8sDriver {
    /// A driver on `client` (its default namespace is ignored: the target's, else the
    /// configured one, is used). Refuses a bad configuration naming the field.
    pub fn new(client: Client, config: K8sConfig) -> Result<Self, ConfigError> {
        config.validate()?;
        Ok(K8sDriver {
            client,
            cfg: Arc::new(config),
            state: Arc::new(Mutex::new(Memory::default())),
        })
    }

    /// A driver on the cluster of the local kubeconfig (or in-cluster service account),
    /// with kube's own retries off (the engine journals and paces its retries) and the
    /// configured timeout on connect, read and write.
    pub async fn connect(config: K8sConfig) -> Result<Self, DriverError> {
        let kc = kube::Config::infer()
            .await
            .map_err(|e| DriverError::permanent("connect", e.to_string()))?;
        Self::from_kube_config(kc, config)
    }

    /// A driver on the cluster `kc` describes (from a kubeconfig file, say:
    /// `kube::Config::from_custom_kubeconfig`), tuned as [`connect`](Self::connect) tunes
    /// it. Installs rustls's `ring` crypto provider first if the process has none (see
    /// [`ensure_crypto_provider`]).
    pub fn from_kube_config(mut kc: kube::Config, config: K8sConfig) -> Result<Self, DriverError> {
        Self::tune(&mut kc, &config);
        ensure_crypto_provider();
        let client = Client::try_from(kc).map_err(|e| classify("connect", &e))?;
        Self::new(client, config).map_err(|e| DriverError::permanent("connect", e.to_string()))
    }

    /// Turns kube's built-in retry off and sets the configured timeouts on `kc`.
    pub fn tune(kc: &mut kube::Config, config: &K8sConfig) {
        kc.default_retry = false;
        kc.read_timeout = Some(config.timeout);
        kc.write_timeout = Some(config.timeout);
        kc.connect_timeout = Some(config.timeout);
    }

    /// The configuration.
    pub fn config(&self) -> &K8sConfig {
        &self.cfg
    }

    /// The client.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The namespace of `target`: its own, else the configured one.
    pub fn namespace(&self, target: &Target) -> String {
        target
            .namespace
            .clone()
            .unwrap_or_else(|| self.cfg.namespace.clone())
    }

    fn deployments(&self, ns: &str) -> Api<Deployment> {
        Api::namespaced(self.client.clone(), ns)
    }
    fn services(&self, ns: &str) -> Api<Service> {
        Api::namespaced(self.client.clone(), ns)
    }
    fn routes(&self, ns: &str) -> Api<DynamicObject> {
        Api::namespaced_with(self.client.clone(), ns, &route_resource())
    }

    fn memory(&self) -> std::sync::MutexGuard<'_, Memory> {
        // A poisoned lock only means a panic elsewhere: the map is still usable.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The `HTTPRoute` resource (`gateway.networking.k8s.io/v1`, plural `httproutes`).
pub fn route_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk(
            crate::objects::GATEWAY_GROUP,
            crate::objects::GATEWAY_VERSION,
            "HTTPRoute",
        ),
        "httproutes",
    )
}

fn key(target: &Target) -> String {
    target.to_string()
}

#[async_trait]
impl Driver for K8sDriver {
    fn capabilities(&self) -> Capabilities {
        let routed = self.cfg.route.is_some();
        Capabilities {
            weighted_traffic: routed,
            side_by_side: true,
            native_rolling: false,
            feature_flags: false,
            preview: routed,
        }
    }

    async fn observe(&self, target: &Target) -> Result<FleetState, DriverError> {
        self.observe_fleet(target).await
    }

    async fn apply(&self, target: &Target, action: &Action) -> Result<(), DriverError> {
        let op = action.describe();
        let span = tracing::info_span!("k8s.apply", target = %target, action = %op);
        use tracing::Instrument;
        async {
            match action {
                Action::Deploy { revision, replicas } => {
                    self.deploy(target, revision, *replicas, &op).await
                }
                Action::Scale { revision, replicas } => {
                    self.scale(target, revision, *replicas, &op).await
                }
                Action::Route { weights } => self.route(target, weights, &op).await,
                Action::Retire { revision } => self.retire(target, revision, &op).await,
                Action::SetFlag { .. } => Err(DriverError::permanent(
                    op.clone(),
                    "the Kubernetes driver manages no feature flags",
                )),
            }
        }
        .instrument(span)
        .await
    }

    async fn preflight(&self, target: &Target, candidate: &Revision) -> Result<(), DriverError> {
        self.preflight_checks(target, candidate).await
    }

    /// A watch of the target's Deployments from the last `observe`'s LIST
    /// resourceVersion: resolves on the first change (a 410 Gone relists and resolves if
    /// the list moved on).
    async fn wait_for_change(&self, target: &Target) {
        self.watch_change(target).await
    }
}

/// Installs rustls's `ring` crypto provider as the process default, unless one is installed
/// already (by the application, or an earlier call).
///
/// kube's TLS set-up asks rustls for the process default. rustls picks one by itself only
/// when exactly one of its providers is compiled in; a binary that also links the AWS SDK
/// (aws-lc-rs) has two, and building a `kube::Client` would panic. [`K8sDriver::connect`]
/// and [`K8sDriver::from_kube_config`] call this; call it yourself before
/// `kube::Client::try_from` elsewhere. An application that prefers aws-lc-rs installs it
/// before and this does nothing.
pub fn ensure_crypto_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Losing a race to another installer is fine: a provider is then installed.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}
