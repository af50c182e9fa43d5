//! # shipcore-driver-k8s
//!
//! A [`shipcore::driver::Driver`] for Kubernetes, through kube-rs: what Argo Rollouts and
//! Flagger do with a controller, done as a driver the engine calls.
//!
//! ## How revisions map onto Kubernetes
//!
//! | shipcore | Kubernetes |
//! |---|---|
//! | revision | one `Deployment` and one `Service`, both named `<service>-<slug>` ([`names::object_name`]: a DNS-1035 label; the full id in the annotation `shipcore.io/revision-id`) |
//! | `Deploy{rev, n}` | server-side apply (field manager `shipcore`) of the Deployment built from the user's [`Base`] (image = artifact, `replicas = n`, `progressDeadlineSeconds`), then of the Service; with a route, the revision joins it at weight 0 beside serving revisions (100 on a first deploy); without, the apex Service `<service>` selects every revision |
//! | `Scale{rev, n}` | merge patch of the `scale` subresource; refused when an HPA targets the Deployment |
//! | `Route{weights}` | the `HTTPRoute`'s `backendRefs[].weight` (group, kind, port and weight written out); needs a [`RouteConfig`] |
//! | `Retire{rev}` | out of the route first, the retire delay (default 30 s), then Service and Deployment deleted; absent is success |
//! | `SetFlag` | refused (permanent): no feature flags |
//!
//! Labels: `app.kubernetes.io/{name,version,managed-by=shipcore}` and
//! `shipcore.io/{service,environment,revision}`; the selector is service + environment +
//! revision. An object of the same name that shipcore does not manage is never taken over.
//!
//! ## Observe
//!
//! A LIST of the target's Deployments by label plus a GET of the route. `ready =
//! min(availableReplicas, spec.replicas)`, trusted only once `observedGeneration >=
//! generation` (0 before). A revision whose Deployment reports `ProgressDeadlineExceeded`,
//! or whose pods sit in `ErrImagePull`/`ImagePullBackOff`/`CrashLoopBackOff` past the
//! progress deadline, is a permanent error naming it while the caller waits for it (the
//! revision it deployed last), so the engine rolls back; otherwise it is reported unready,
//! so a rollback can still observe stable. Weights come from the route (a missing weight
//! is 1; normalised to percentages summing to 100); when no routed revision has ready
//! replicas, or without a route, traffic follows ready replicas.
//! [`Driver::wait_for_change`](shipcore::driver::Driver::wait_for_change) resolves from a watch as soon as a Deployment changes.
//!
//! ## Failure modes designed out
//!
//! Traffic goes only to revisions with ready replicas (a `Route` giving traffic to one
//! without is a transient error), so moving traffic back to stable depends only on
//! stable's readiness; a revision the route still sends traffic to is not scaled to 0, and
//! a retired revision leaves the route before its pods go; every API
//! request has a timeout and kube's own retry is off (the engine retries and journals).
//!
//! ## Errors
//!
//! Classified by HTTP code and `Status` reason ([`error::classify`]): connection errors,
//! timeouts, 409 on a stale resourceVersion, 429, 500, 502, 503 and 504 are transient; 400,
//! 401, 403, 404 (outside delete), 422 (with `causes[].field`) and server-side apply
//! conflicts are permanent.
//!
//! ```no_run
//! use shipcore::driver::Driver;
//! use shipcore::model::{Action, Revision, Target};
//! use shipcore_driver_k8s::{K8sConfig, K8sDriver, ParentRef, RouteConfig};
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let cfg = K8sConfig::for_container("app", 8080)
//!     .namespace("shop")
//!     .route(RouteConfig::Owned {
//!         name: "web".into(),
//!         parent_refs: vec![ParentRef::gateway("public")],
//!         hostnames: vec!["web.example.com".into()],
//!         matches: vec![],
//!     });
//! let driver = K8sDriver::connect(cfg).await?;
//! let target = Target::new("web", "production");
//! let v2 = Revision::new("2.0.0", "2.0.0".parse()?, "registry.local/web:2.0.0");
//! driver.apply(&target, &Action::Deploy { revision: v2, replicas: 3 }).await?;
//! println!("{:?}", driver.observe(&target).await?);
//! # Ok(()) }
//! ```
#![warn(missing_docs)]
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod config;
mod driver;
pub mod error;
pub mod names;
pub mod objects;
pub mod preflight;

pub use config::{Base, ConfigError, K8sConfig, ParentRef, RouteConfig};
pub use driver::{
    ensure_crypto_provider, fleet_from, revision_failure, route_resource, view_of, K8sDriver,
    RevisionView, FIELD_MANAGER,
};

/// A wire-faithful fake apiserver for tests without a cluster (feature `testing`).
#[cfg(feature = "testing")]
pub mod fake;
