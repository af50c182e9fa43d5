//! A stateful fake Kubernetes apiserver that speaks the real wire format, for tests that
//! have no cluster: in-process as a `tower::Service` behind a [`kube::Client`]
//! ([`client`](crate::fake::FakeApiServer::client)), and on `127.0.0.1` over plain HTTP
//! with a kubeconfig ([`serve`](crate::fake::FakeApiServer::serve)) so `kubectl` and other
//! clients can talk to it. Both share one state; clones of the
//! [`FakeApiServer`](crate::fake::FakeApiServer) too.
//!
//! # Public API
//! [`FakeApiServer`](crate::fake::FakeApiServer): `new`, `client`, `serve` (→
//! [`Loopback`](crate::fake::Loopback) `{ url, kubeconfig }`, stopped on drop),
//! `without_gateway_api`, `create_namespace`, `set_controller`
//! ([`ControllerSettings`](crate::fake::ControllerSettings)), `inject`
//! ([`Fault`](crate::fake::Fault), [`FaultAnswer`](crate::fake::FaultAnswer)), `deny`,
//! `compact`, `set_history_limit`, `object`, `objects`, `put_object`, `field_managers`,
//! `requests` ([`RecordedRequest`](crate::fake::RecordedRequest)), `clear_requests`,
//! `dump_manifests`. Direct helpers fail with [`FakeError`](crate::fake::FakeError).
//!
//! # Served resources
//! `v1` namespaces, services, pods (kept by the simulated controller); `apps/v1`
//! deployments (+ `scale` and `status` subresources); `autoscaling/v2`
//! horizontalpodautoscalers; `gateway.networking.k8s.io/v1` httproutes (unless
//! `without_gateway_api`); `authorization.k8s.io/v1` selfsubjectaccessreviews (create only;
//! `allowed: true` unless a test calls `deny(verb, resource)`).
//!
//! # Faithful to the real apiserver
//! - JSON in and out as the apiserver writes it: `apiVersion`/`kind` on objects (list items
//!   of built-in kinds omit them, custom resources keep them), `metadata.uid`,
//!   `resourceVersion` (one global counter), `creationTimestamp`, `generation` (Deployments
//!   and HTTPRoutes, bumped only when `spec` changes), `<Kind>List` with
//!   `metadata.resourceVersion`; the defaults a cluster fills in for Deployments (replicas,
//!   strategy, progressDeadlineSeconds ...), Services (clusterIP, protocol, targetPort ...)
//!   and the HTTPRoute CRD's structural defaults (`parentRefs[]` group/kind; `backendRefs[]`
//!   `group: ""`, `kind: Service`, `weight: 1`). Writes to the main resource never set or
//!   change `status` (only the controller, the `status` subresource and `put_object` do).
//!   A write that changes nothing keeps the resourceVersion.
//! - Verbs: GET, LIST, POST (201), PUT, PATCH with `application/merge-patch+json`,
//!   `application/strategic-merge-patch+json` (applied as a merge patch) and
//!   `application/apply-patch+yaml` (server-side apply, 201 when it creates; `fieldManager`
//!   required, 422 otherwise; `force=true`; `force` on other patches is 422), DELETE
//!   (answers a `Status` `Success`). `dryRun=All` on every write (validated, nothing
//!   stored). The Deployment `scale` subresource (GET, PUT, PATCH as autoscaling/v1 `Scale`
//!   with `status.selector`) and `status` subresources.
//! - Failures are `Status` objects (`kind: Status`, `status: Failure`, `reason`, `code`,
//!   `details.causes[].field`): 404 `NotFound`, 409 `AlreadyExists`, 409 `Conflict` for a
//!   stale `metadata.resourceVersion` on PUT/PATCH/apply, 409 `Conflict` "Apply failed with
//!   N conflicts" when an apply changes fields another manager owns, 422 `Invalid` for
//!   invalid names (DNS-1035 label for Services, DNS-1123 subdomain for Deployments, HPAs
//!   and HTTPRoutes, DNS-1123 label for namespaces), an immutable Deployment selector, a
//!   selector not matching the template labels, containers without name or image,
//!   negative replicas, HTTPRoute backendRefs without a name or with a weight outside
//!   0..=1000000 (and more than 16 rules or backendRefs, 32 parentRefs). Writes into a
//!   missing namespace answer 404; a LIST there answers an empty 200, as a cluster does.
//!   429 answers carry `Retry-After`.
//! - LIST with `labelSelector` (`=`, `==`, `!=`, `in`, `notin`, `key`, `!key`) and
//!   `fieldSelector` (`metadata.name`, `metadata.namespace`; other fields answer 400).
//! - Watch (`watch=true|1`): JSON lines `{"type":"ADDED|MODIFIED|DELETED|ERROR","object":…}`
//!   streamed as changes happen (the controller's status changes included); without
//!   `resourceVersion` (or `0`) it starts with ADDED for every matching object; with one it
//!   replays the newer history; a resourceVersion older than the kept history (see
//!   `compact`, `set_history_limit`) answers an `ERROR` event with a 410 `Expired` `Status`,
//!   and so does a watcher more than 4096 events behind; `timeoutSeconds` ends the stream;
//!   `sendInitialEvents=true` ends the initial events with the `k8s.io/initial-events-end`
//!   bookmark; `allowWatchBookmarks` is accepted. With a selector, an object modified into
//!   it arrives as ADDED and one modified out of it as DELETED, as from the watch cache.
//! - Legacy discovery (`/version` says 1.33, `/api`, `/api/v1`, `/apis`, `/apis/<g>`,
//!   `/apis/<g>/<v>`, with `scale`/`status` subresources, short names and category `all`):
//!   enough for kube and for kubectl 1.32, which falls back from aggregated discovery.
//! - `Table` answers (`Accept: ...;as=Table;g=meta.k8s.io;v=v1`) to GET and LIST, with
//!   kubectl's columns for Deployments (READY, UP-TO-DATE, AVAILABLE; wide: CONTAINERS,
//!   IMAGES, SELECTOR), Services, Pods (STATUS shows the waiting reason), Namespaces and
//!   HTTPRoutes (HOSTNAMES), NAME and AGE for the rest; `includeObject` honoured.
//! - Field managers of non-apply writes: the `fieldManager` parameter, else the user
//!   agent's product name (`kubectl`, ...), else `unknown`.
//!
//! # Simplified
//! - Server-side apply tracks ownership per leaf field path with lists atomic (the real
//!   apiserver merges associative lists such as `containers` or `ports` by key, so a
//!   conflict here names `.spec.template.spec.containers`, not one container's field);
//!   `managedFields` are not written into objects; an update (PUT/PATCH) takes sole
//!   ownership of the fields it changed; fields an applier stops sending are removed when
//!   nobody else owns them. Objects seeded with `put_object` are owned by the manager of
//!   their first `metadata.managedFields` entry, else by `"seed"`.
//! - Deletion is immediate (no finalizers, graceful deletion, `propagationPolicy`);
//!   deleting a namespace deletes its contents at once (no `Terminating` phase).
//! - Not served: admission webhooks, quotas, RBAC (any token is accepted), `limit`/
//!   `continue` chunking (a LIST answers everything), Table output for watches (so
//!   `kubectl get -w` is not supported), protobuf, JSON patch, deletecollection, aggregated
//!   discovery, OpenAPI documents (so `kubectl apply` needs `--validate=false`; `get`,
//!   `rollout status`, `scale`, `delete` work as they are), the HTTPRoute CRD's other
//!   defaults (a rule without `matches` gets `PathPrefix /` on a cluster, nothing here)
//!   and its CEL rules.
//! - The Deployment controller is a timeline, not ReplicaSets (see
//!   [`ControllerSettings`](crate::fake::ControllerSettings)): its status writes bump the
//!   resourceVersion as on a cluster; it keeps fake Pods (template labels +
//!   `pod-template-hash`; waiting reason `ContainerCreating`, or `ErrImagePull` for a bad
//!   image; then `Running` and ready) and deletes them with their Deployment. No other
//!   controller runs: Services get a clusterIP only, HPAs and HTTPRoutes keep the status
//!   `put_object` gave them.
//! - Fault injection ([`Fault`](crate::fake::Fault)) is the fake's own: the next N requests
//!   whose method and `path?query` match answer a `Status` with the given code, or hang.

mod apply;
mod controller;
mod discovery;
mod http;
mod loopback;
mod pods;
mod request;
mod selector;
mod status;
mod store;
mod table;
mod validate;
mod verbs;
mod watch;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use serde_json::Value;
use tokio::sync::{broadcast, Notify};

pub use controller::ControllerSettings;
pub use loopback::Loopback;

use apply::Ownership;
use controller::Controller;
use store::{Event, Key, Store, WriteOpts};

/// Which requests an injected fault answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    /// Only requests with this method (`None`: any method).
    pub method: Option<::http::Method>,
    /// Only requests whose `path?query` contains this string (empty: every request).
    pub path_contains: String,
    /// How many matching requests the fault answers before it is spent.
    pub times: u32,
    /// What they get.
    pub answer: FaultAnswer,
}

/// How a faulted request is answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FaultAnswer {
    /// A `Status` failure with this HTTP code (409, 429, 500, 503, 504 ...) and its usual
    /// reason (`Conflict`, `TooManyRequests`, `InternalError`, `ServiceUnavailable`, `Timeout`).
    Status(u16),
    /// Never answer (the client's timeout must fire).
    Hang,
}

impl Fault {
    /// A fault answering the next `times` requests to any path containing `path_contains`.
    pub fn new(path_contains: impl Into<String>, times: u32, answer: FaultAnswer) -> Self {
        Fault {
            method: None,
            path_contains: path_contains.into(),
            times,
            answer,
        }
    }

    /// Restricts the fault to one method.
    #[must_use]
    pub fn method(mut self, method: ::http::Method) -> Self {
        self.method = Some(method);
        self
    }
}

/// One request the fake received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedRequest {
    /// HTTP method.
    pub method: ::http::Method,
    /// Path without the query.
    pub path: String,
    /// Raw query string (empty when none).
    pub query: String,
    /// `Content-Type` header, if any.
    pub content_type: Option<String>,
    /// Body as UTF-8 (lossy).
    pub body: String,
}

impl RecordedRequest {
    /// The decoded value of query parameter `name`, if present.
    pub fn query_param(&self, name: &str) -> Option<String> {
        http::query_pairs(&self.query)
            .into_iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
    }
}

/// Errors of the fake's direct (non-HTTP) helpers.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FakeError {
    /// The object's `apiVersion`/`kind` is not served by the fake.
    #[error("the fake apiserver does not serve {api_version} {kind}")]
    UnknownKind {
        /// The object's apiVersion.
        api_version: String,
        /// The object's kind.
        kind: String,
    },
    /// The apiserver logic refused the object, as it would answer over HTTP.
    #[error("{code} {reason}: {message}")]
    Rejected {
        /// HTTP status code.
        code: u16,
        /// `Status.reason`.
        reason: String,
        /// `Status.message`.
        message: String,
    },
}

impl From<status::ApiError> for FakeError {
    fn from(e: status::ApiError) -> Self {
        FakeError::Rejected {
            code: e.code,
            reason: e.reason.to_string(),
            message: e.message,
        }
    }
}

#[derive(Debug)]
struct FaultState {
    fault: Fault,
    left: u32,
}

#[derive(Debug)]
pub(crate) struct State {
    store: Store,
    controller: Controller,
    settings: ControllerSettings,
    faults: Vec<FaultState>,
    requests: Vec<RecordedRequest>,
    denied: BTreeSet<(String, String)>,
}

#[derive(Debug)]
pub(crate) struct Inner {
    state: Mutex<State>,
    events: broadcast::Sender<Event>,
    wake: Arc<Notify>,
    gateway: AtomicBool,
    task: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Ok(mut t) = self.task.lock() {
            if let Some(h) = t.take() {
                h.abort();
            }
        }
    }
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Publishes events (under the state lock, so watches see them exactly once and in
    /// order), lets the controller react at once, and wakes its task.
    fn publish(&self, st: &mut State, events: Vec<Event>) {
        let at = tokio::time::Instant::now();
        let mut deploy_changed = false;
        for ev in events {
            st.controller.observe(&ev, at);
            deploy_changed |= ev.key.plural == "deployments";
            let _ = self.events.send(ev);
        }
        if deploy_changed {
            let State {
                controller,
                store,
                settings,
                ..
            } = st;
            let (evs, _) = controller.reconcile(store, settings, at);
            for ev in evs {
                let _ = self.events.send(ev);
            }
            self.wake.notify_one();
        }
    }
}

/// The fake apiserver. Cheap to clone; clones share the state.
#[derive(Debug, Clone)]
pub struct FakeApiServer {
    inner: Arc<Inner>,
}

impl Default for FakeApiServer {
    fn default() -> Self {
        Self::new()
    }
}

async fn controller_loop(weak: Weak<Inner>) {
    loop {
        let Some(inner) = weak.upgrade() else { return };
        let next = {
            let mut st = inner.lock();
            let at = tokio::time::Instant::now();
            let State {
                controller,
                store,
                settings,
                ..
            } = &mut *st;
            let (evs, next) = controller.reconcile(store, settings, at);
            for ev in evs {
                let _ = inner.events.send(ev);
            }
            next
        };
        let wake = inner.wake.clone();
        drop(inner);
        let notified = wake.notified();
        match next {
            Some(t) => {
                tokio::select! {
                    _ = notified => {},
                    _ = tokio::time::sleep_until(t) => {},
                }
            }
            None => notified.await,
        }
    }
}

impl FakeApiServer {
    /// A fake with namespace `default`, the Gateway API served and default
    /// [`ControllerSettings`].
    pub fn new() -> Self {
        let (events, _) = broadcast::channel(4096);
        let state = State {
            store: Store::new(),
            controller: Controller::default(),
            settings: ControllerSettings::default(),
            faults: Vec::new(),
            requests: Vec::new(),
            denied: BTreeSet::new(),
        };
        let fake = FakeApiServer {
            inner: Arc::new(Inner {
                state: Mutex::new(state),
                events,
                wake: Arc::new(Notify::new()),
                gateway: AtomicBool::new(true),
                task: Mutex::new(None),
            }),
        };
        let _ = fake.create_namespace("default");
        fake.ensure_controller();
        fake
    }

    /// Starts the controller task if a Tokio runtime is running and the task is not running
    /// (never started, or its runtime has shut down: a fake may outlive one test runtime).
    fn ensure_controller(&self) {
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let mut task = self.inner.task.lock().unwrap_or_else(|p| p.into_inner());
        if task.as_ref().is_none_or(|h| h.is_finished()) {
            *task = Some(handle.spawn(controller_loop(Arc::downgrade(&self.inner))));
        }
    }

    /// A [`kube::Client`] talking to this fake in-process (default namespace `default`).
    /// Must be called inside a Tokio runtime.
    pub fn client(&self) -> kube::Client {
        self.ensure_controller();
        kube::Client::new(http::FakeService::new(self.inner.clone()), "default")
    }

    /// Serves the fake on `http://127.0.0.1:<free port>` and writes a kubeconfig for it.
    pub async fn serve(&self) -> std::io::Result<Loopback> {
        self.ensure_controller();
        loopback::serve(self.inner.clone()).await
    }

    /// Hides `gateway.networking.k8s.io` from discovery and answers 404 for HTTPRoutes, as a
    /// cluster without the Gateway API CRDs does.
    pub fn without_gateway_api(self) -> Self {
        self.inner.gateway.store(false, Ordering::SeqCst);
        self
    }

    /// Creates a namespace (no-op when it exists).
    pub fn create_namespace(&self, name: &str) -> Result<(), FakeError> {
        if self.object("v1", "namespaces", "", name).is_some() {
            return Ok(());
        }
        self.put_object(serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}))
            .map(|_| ())
    }

    /// Replaces the simulated Deployment controller's settings (affects changes from now on
    /// and the pending timelines).
    pub fn set_controller(&self, settings: ControllerSettings) {
        self.inner.lock().settings = settings;
        self.inner.wake.notify_one();
    }

    /// Adds a fault; faults are checked in the order added.
    pub fn inject(&self, fault: Fault) {
        let left = fault.times;
        self.inner.lock().faults.push(FaultState { fault, left });
    }

    /// Makes SelfSubjectAccessReviews for `verb` on `resource` (plural, e.g. `deployments`;
    /// `*` for every resource) answer `allowed: false`.
    pub fn deny(&self, verb: &str, resource: &str) {
        self.inner
            .lock()
            .denied
            .insert((verb.to_string(), resource.to_string()));
    }

    /// Forgets the watch history: a watch from any resourceVersion before now answers 410.
    pub fn compact(&self) {
        self.inner.lock().store.compact();
    }

    /// How many events the watch history keeps (default 10000); older resourceVersions
    /// answer 410 Gone.
    pub fn set_history_limit(&self, events: usize) {
        let mut st = self.inner.lock();
        st.store.history_limit = events.max(1);
        while st.store.history.len() > st.store.history_limit {
            if let Some(e) = st.store.history.pop_front() {
                st.store.oldest_rv = e.rv;
            }
        }
    }

    /// The stored object, or `None`. `api_version` as in objects (`apps/v1`, `v1`),
    /// `kind_plural` the resource (`deployments`); `ns` is ignored for cluster-scoped kinds.
    pub fn object(
        &self,
        api_version: &str,
        kind_plural: &str,
        ns: &str,
        name: &str,
    ) -> Option<Value> {
        let (group, version) = split_api_version(api_version);
        let res = discovery::find(group, version, kind_plural, true)?;
        let st = self.inner.lock();
        st.store
            .objects
            .get(&Key::new(res, ns, name))
            .map(|s| s.value.clone())
    }

    /// All stored objects of a resource in a namespace (`None`: every namespace).
    pub fn objects(&self, api_version: &str, kind_plural: &str, ns: Option<&str>) -> Vec<Value> {
        let (group, version) = split_api_version(api_version);
        let Some(res) = discovery::find(group, version, kind_plural, true) else {
            return Vec::new();
        };
        let st = self.inner.lock();
        st.store.list(res, ns).cloned().collect()
    }

    /// Stores an object as given (create or replace, with validation and defaulting; its
    /// `status` is kept), e.g. a user-owned HTTPRoute with conditions, an HPA or a foreign
    /// Deployment. Returns the stored object.
    pub fn put_object(&self, value: Value) -> Result<Value, FakeError> {
        let api_version = value
            .get("apiVersion")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let kind = value
            .get("kind")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let (group, version) = split_api_version(&api_version);
        let res = discovery::RESOURCES
            .iter()
            .find(|r| r.group == group && r.version == version && r.kind == kind)
            .ok_or(FakeError::UnknownKind {
                api_version: api_version.clone(),
                kind: kind.clone(),
            })?;
        let ns = value
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .unwrap_or("default");
        let name = value
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("");
        let key = Key::new(res, ns, name);
        let manager = value
            .pointer("/metadata/managedFields/0/manager")
            .and_then(Value::as_str)
            .unwrap_or("seed")
            .to_string();
        let inner = &self.inner;
        let mut st = inner.lock();
        let owners = Ownership::created(&value, &manager, false);
        let mut value_in = value.clone();
        if let (Some(old), Some(meta)) = (
            st.store.objects.get(&key),
            value_in.get_mut("metadata").and_then(Value::as_object_mut),
        ) {
            meta.insert(
                "resourceVersion".into(),
                old.value["metadata"]["resourceVersion"].clone(),
            );
        }
        let (mut stored, ev) =
            st.store
                .write(res, &key, value_in, owners, &WriteOpts { dry_run: false })?;
        let mut events: Vec<Event> = ev.into_iter().collect();
        if let Some(status) = value.get("status") {
            if let Some((obj, ev)) = st.store.write_status(&key, status.clone()) {
                stored = obj;
                events.push(ev);
            }
        }
        inner.publish(&mut st, events);
        Ok(stored)
    }

    /// The field managers of a stored object and how many leaf fields each owns (empty when
    /// the object does not exist).
    pub fn field_managers(
        &self,
        api_version: &str,
        kind_plural: &str,
        ns: &str,
        name: &str,
    ) -> std::collections::BTreeMap<String, usize> {
        let (group, version) = split_api_version(api_version);
        let Some(res) = discovery::find(group, version, kind_plural, true) else {
            return Default::default();
        };
        let st = self.inner.lock();
        st.store
            .objects
            .get(&Key::new(res, ns, name))
            .map(|s| s.owners.managers())
            .unwrap_or_default()
    }

    /// Every request received so far, in order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.inner.lock().requests.clone()
    }

    /// Forgets the recorded requests.
    pub fn clear_requests(&self) {
        self.inner.lock().requests.clear();
    }

    /// Writes every stored Deployment and Service as one YAML file each
    /// (`<namespace>_<kind>_<name>.yaml`, without `status` and server-set metadata) into
    /// `dir`, for validation with `kubernetes-validate`; returns the files written.
    pub fn dump_manifests(&self, dir: &Path) -> std::io::Result<Vec<PathBuf>> {
        let mut objs = self.objects("apps/v1", "deployments", None);
        objs.extend(self.objects("v1", "services", None));
        std::fs::create_dir_all(dir)?;
        let mut written = Vec::new();
        for mut o in objs {
            if let Some(m) = o.as_object_mut() {
                m.remove("status");
            }
            if let Some(meta) = o.get_mut("metadata").and_then(Value::as_object_mut) {
                for k in [
                    "uid",
                    "resourceVersion",
                    "generation",
                    "creationTimestamp",
                    "managedFields",
                ] {
                    meta.remove(k);
                }
            }
            let kind = o
                .get("kind")
                .and_then(Value::as_str)
                .unwrap_or("object")
                .to_lowercase();
            let ns = o
                .pointer("/metadata/namespace")
                .and_then(Value::as_str)
                .unwrap_or("");
            let name = o
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or("");
            let path = dir.join(format!("{ns}_{kind}_{name}.yaml"));
            let yaml = serde_saphyr::to_string(&o).map_err(std::io::Error::other)?;
            std::fs::write(&path, yaml)?;
            written.push(path);
        }
        Ok(written)
    }
}

/// `apps/v1` -> (`apps`, `v1`); `v1` -> (``, `v1`).
fn split_api_version(api_version: &str) -> (&str, &str) {
    api_version.rsplit_once('/').unwrap_or(("", api_version))
}
