//! The platform a rollout runs against, opened from the file's `driver`: the simulator
//! (persisted in the state directory, or a read-only copy for a dry run) or, with the
//! `compose` feature, Docker Compose, with `k8s` a Kubernetes cluster, with `ecs` Amazon
//! ECS; each with the clock and metrics that go with it.

use crate::file::{DriverFile, FileError, Loaded};
use crate::setup::candidate;
use crate::state::StateDir;
use shipcore::clock::Clock;
use shipcore::driver::Driver;
use shipcore::metrics::MetricsSource;
use shipcore::model::Capabilities;
use shipcore::testing::{SimSnapshot, SimWorld};
use std::sync::Arc;

/// The platform a rollout runs against.
pub struct Platform {
    /// The driver.
    pub driver: Arc<dyn Driver>,
    /// The clock the engine reads (simulated for `sim`).
    pub clock: Arc<dyn Clock>,
    /// The driver's own metrics, if it has any (the simulator's).
    pub metrics: Option<Arc<dyn MetricsSource>>,
    /// The simulator, when the driver is `sim`.
    pub sim: Option<SimWorld>,
}

/// How the platform is opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Changes persist in the state directory (`run`, `resume`).
    Live,
    /// Read-only: a copy of the platform in memory (`plan`).
    DryRun,
}

/// Opens the file's platform (connecting to it, for a cluster: nothing is applied).
pub async fn platform(
    loaded: &Loaded,
    state: &StateDir,
    mode: Mode,
) -> Result<Platform, FileError> {
    let file = &loaded.file;
    match &file.driver {
        DriverFile::Sim(sim) => {
            let path = state.sim_path();
            let world = match mode {
                Mode::Live => {
                    std::fs::create_dir_all(state.dir()).map_err(|e| {
                        loaded.error(
                            "state_dir",
                            format!("cannot create {}: {e}", state.dir().display()),
                        )
                    })?;
                    SimWorld::persisting(sim.seed, &path)
                        .map_err(|e| loaded.error("driver.sim", e.to_string()))?
                }
                Mode::DryRun => match std::fs::read(&path) {
                    Ok(bytes) => {
                        let snap: SimSnapshot = serde_json::from_slice(&bytes).map_err(|e| {
                            loaded.error(
                                "driver.sim",
                                format!("simulator state {} is unreadable: {e}", path.display()),
                            )
                        })?;
                        SimWorld::from_snapshot(snap)
                            .map_err(|e| loaded.error("driver.sim", e.to_string()))?
                    }
                    Err(_) => SimWorld::new(sim.seed),
                },
            };
            // The file says how the candidate behaves: faults an earlier run left on a
            // revision of the same id are cleared first.
            let cand = candidate(&loaded.file);
            world.driver.heal(&cand);
            for (i, f) in sim.candidate_failures.iter().enumerate() {
                world.driver.inject(&cand, *f).map_err(|e| {
                    loaded.error(
                        &format!("driver.sim.candidate_failures[{i}]"),
                        e.to_string(),
                    )
                })?;
            }
            // As the file says, whatever an earlier run left in the state file.
            let caps = Capabilities {
                weighted_traffic: sim.weighted_traffic.unwrap_or(true),
                ..world.driver.config().capabilities
            };
            world.driver.set_capabilities(caps);
            Ok(Platform {
                driver: world.driver_arc(),
                clock: world.clock_arc(),
                metrics: Some(world.metrics_arc()),
                sim: Some(world),
            })
        }
        DriverFile::Compose(c) => compose(loaded, state, c),
        DriverFile::K8s(k) => k8s::platform(loaded, k).await,
        DriverFile::Ecs(e) => ecs::platform(loaded, e).await,
    }
}

#[cfg(feature = "compose")]
fn compose(
    loaded: &Loaded,
    state: &StateDir,
    c: &crate::file::ComposeFile,
) -> Result<Platform, FileError> {
    use shipcore_driver_compose::{ComposeConfig, ComposeDriver, HttpProbe};
    let base = &loaded.base;
    let files: Vec<_> = c.files.iter().map(|f| base.join(f)).collect();
    let mut cfg = ComposeConfig::new(c.project.clone(), c.service.clone(), files, c.port);
    cfg.docker_host = c.docker_host.clone();
    if let Some(bin) = &c.compose_bin {
        cfg.cli = shipcore_driver_compose::ComposeCli::standalone(bin.clone());
    }
    cfg.pull = c.pull;
    cfg.http_probe = c.http_probe.as_ref().map(HttpProbe::get);
    cfg.state_dir = state.dir().join("compose");
    let mut driver = ComposeDriver::new(cfg)
        .map_err(|e| loaded.error(&format!("driver.compose.{}", e.field), e.problem.clone()))?;
    if let Some(h) = &c.haproxy {
        let router = shipcore_driver_compose::router::HaproxyRouter::new(
            base.join(&h.socket),
            h.backend.clone(),
        );
        driver = driver.with_router(Arc::new(router));
    }
    Ok(Platform {
        driver: Arc::new(driver),
        clock: Arc::new(shipcore::clock::SystemClock),
        metrics: None,
        sim: None,
    })
}

#[cfg(not(feature = "compose"))]
fn compose(
    loaded: &Loaded,
    _state: &StateDir,
    _c: &crate::file::ComposeFile,
) -> Result<Platform, FileError> {
    Err(loaded.error(
        "driver.compose",
        "this shipctl was built without the Compose driver: build it with `--features compose`",
    ))
}

#[cfg(feature = "k8s")]
mod k8s {
    use super::Platform;
    use crate::file::{FileError, K8sFile, K8sRouteFile, Loaded};
    use kube::config::{KubeConfigOptions, Kubeconfig};
    use shipcore_driver_k8s::{Base, K8sConfig, K8sDriver, ParentRef, RouteConfig};
    use std::sync::Arc;

    const AT: &str = "driver.k8s";

    /// The driver's configuration from the file's section: the base workload through the
    /// driver's own types (or its YAML parser for a manifest file), then its builder.
    pub(super) fn config(loaded: &Loaded, k: &K8sFile) -> Result<K8sConfig, FileError> {
        let given = [
            k.deployment.is_some(),
            k.pod_template.is_some(),
            k.manifest.is_some(),
        ];
        let base = match (&k.deployment, &k.pod_template, &k.manifest) {
            _ if given.iter().filter(|g| **g).count() > 1 => {
                let field = ["deployment", "pod_template", "manifest"]
                    .iter()
                    .zip(given)
                    .filter(|(_, g)| *g)
                    .map(|(f, _)| *f)
                    .nth(1)
                    .unwrap_or("deployment");
                return Err(loaded.error(
                    &format!("{AT}.{field}"),
                    "give only one of deployment, pod_template and manifest",
                ));
            }
            (Some(d), _, _) => K8sConfig::new(Base::Deployment(Box::new(d.clone()))),
            (_, Some(t), _) => K8sConfig::new(Base::PodTemplate(Box::new(t.clone()))),
            (_, _, Some(m)) => {
                let path = loaded.base.join(m);
                let text = std::fs::read_to_string(&path).map_err(|e| {
                    loaded.error(
                        &format!("{AT}.manifest"),
                        format!("cannot read {}: {e}", path.display()),
                    )
                })?;
                K8sConfig::from_yaml(&text).map_err(|e| {
                    loaded.error(
                        &format!("{AT}.manifest"),
                        format!("{}: {}", path.display(), e.problem),
                    )
                })?
            }
            (None, None, None) => {
                return Err(loaded.error(
                    AT,
                    "missing the workload every revision copies: give deployment, \
                     pod_template or manifest",
                ))
            }
        };
        let mut cfg = base;
        if let Some(ns) = &k.namespace {
            cfg = cfg.namespace(ns.clone());
        }
        if let Some(c) = &k.container {
            cfg = cfg.container(c.clone());
        }
        if let Some(d) = k.progress_deadline {
            cfg = cfg.progress_deadline(d);
        }
        if let Some(d) = k.retire_delay {
            cfg = cfg.retire_delay(d);
        }
        if let Some(d) = k.timeout {
            cfg = cfg.timeout(d);
        }
        if let Some(p) = k.service_port {
            cfg = cfg.service_port(p);
        }
        if let Some(p) = k.target_port {
            cfg = cfg.target_port(p);
        }
        if let Some(r) = &k.route {
            cfg = cfg.route(match r {
                K8sRouteFile::Owned {
                    name,
                    parent_refs,
                    hostnames,
                    matches,
                } => RouteConfig::Owned {
                    name: name.clone(),
                    parent_refs: parent_refs
                        .iter()
                        .map(|p| ParentRef {
                            name: p.name.clone(),
                            namespace: p.namespace.clone(),
                            section_name: p.section_name.clone(),
                        })
                        .collect(),
                    hostnames: hostnames.clone(),
                    matches: matches.clone(),
                },
                K8sRouteFile::UserOwned {
                    name,
                    conflict_retries,
                } => RouteConfig::UserOwned {
                    name: name.clone(),
                    conflict_retries: *conflict_retries,
                },
            });
        }
        cfg.validate().map_err(|e| config_error(loaded, k, &e))?;
        Ok(cfg)
    }

    /// A configuration error at its field under `driver.k8s` (the base's problems at the
    /// key the base was given under).
    fn config_error(
        loaded: &Loaded,
        k: &K8sFile,
        e: &shipcore_driver_k8s::ConfigError,
    ) -> FileError {
        let field = if e.field == "base" {
            if k.deployment.is_some() {
                "deployment"
            } else if k.pod_template.is_some() {
                "pod_template"
            } else {
                "manifest"
            }
        } else if e.field == "service_port" && k.target_port == Some(0) {
            "target_port"
        } else {
            e.field.as_str()
        };
        // The route's fields sit under its kind in the file (`route.owned.parent_refs`).
        let field = match (field.strip_prefix("route."), &k.route) {
            (Some(rest), Some(K8sRouteFile::Owned { .. })) => format!("route.owned.{rest}"),
            (Some(rest), Some(K8sRouteFile::UserOwned { .. })) => {
                format!("route.user_owned.{rest}")
            }
            _ => field.to_string(),
        };
        loaded.error(&format!("{AT}.{field}"), e.problem.clone())
    }

    /// Where the cluster is: the in-cluster service account, the named kubeconfig (and
    /// context), or kube's inference (`KUBECONFIG`, `~/.kube/config`, in-cluster).
    async fn kube_config(loaded: &Loaded, k: &K8sFile) -> Result<kube::Config, FileError> {
        let options = KubeConfigOptions {
            context: k.context.clone(),
            ..Default::default()
        };
        if k.in_cluster {
            if k.kubeconfig.is_some() || k.context.is_some() {
                return Err(loaded.error(
                    &format!("{AT}.in_cluster"),
                    "in_cluster uses the pod's service account: leave out kubeconfig and context",
                ));
            }
            return kube::Config::incluster().map_err(|e| {
                loaded.error(
                    &format!("{AT}.in_cluster"),
                    format!("not running in a cluster: {e}"),
                )
            });
        }
        match &k.kubeconfig {
            Some(p) => {
                let path = loaded.base.join(p);
                let kc = Kubeconfig::read_from(&path).map_err(|e| {
                    loaded.error(
                        &format!("{AT}.kubeconfig"),
                        format!("cannot read {}: {e}", path.display()),
                    )
                })?;
                kube::Config::from_custom_kubeconfig(kc, &options)
                    .await
                    .map_err(|e| kubeconfig_error(loaded, k, &path.display().to_string(), &e))
            }
            None if k.context.is_some() => kube::Config::from_kubeconfig(&options)
                .await
                .map_err(|e| kubeconfig_error(loaded, k, "the kubeconfig", &e)),
            None => kube::Config::infer().await.map_err(|e| {
                loaded.error(
                    AT,
                    format!("no cluster found (KUBECONFIG, ~/.kube/config, in-cluster): {e}"),
                )
            }),
        }
    }

    fn kubeconfig_error(
        loaded: &Loaded,
        k: &K8sFile,
        what: &str,
        e: &kube::config::KubeconfigError,
    ) -> FileError {
        let field =
            if k.context.is_some() && matches!(e, kube::config::KubeconfigError::LoadContext(_)) {
                "context"
            } else {
                "kubeconfig"
            };
        loaded.error(&format!("{AT}.{field}"), format!("{what}: {e}"))
    }

    /// The Kubernetes platform: the driver on the cluster, the system clock, no metrics of
    /// its own.
    pub(super) async fn platform(loaded: &Loaded, k: &K8sFile) -> Result<Platform, FileError> {
        let cfg = config(loaded, k)?;
        let kc = kube_config(loaded, k).await?;
        let driver = K8sDriver::from_kube_config(kc, cfg)
            .map_err(|e| loaded.error(AT, format!("cannot connect: {e}")))?;
        Ok(Platform {
            driver: Arc::new(driver),
            clock: Arc::new(shipcore::clock::SystemClock),
            metrics: None,
            sim: None,
        })
    }
}

#[cfg(not(feature = "k8s"))]
mod k8s {
    use super::Platform;
    use crate::file::{FileError, K8sFile, Loaded};

    pub(super) async fn platform(loaded: &Loaded, _k: &K8sFile) -> Result<Platform, FileError> {
        Err(loaded.error(
            "driver.k8s",
            "this shipctl was built without the Kubernetes driver: build it with \
             `--features k8s`",
        ))
    }
}

#[cfg(feature = "ecs")]
mod ecs {
    use super::Platform;
    use crate::file::{EcsFile, EcsLaunchType, FileError, Loaded};
    use shipcore_driver_ecs::{
        EcsConfig, EcsDriver, LaunchType, ListenerRef, RollingConfig, TargetGroupTemplate,
    };
    use std::sync::Arc;

    const AT: &str = "driver.ecs";

    /// The driver's configuration from the file's section, through its builder (which
    /// checks every field; its errors are placed at `driver.ecs.<field>`).
    pub(super) fn config(loaded: &Loaded, e: &EcsFile) -> Result<EcsConfig, FileError> {
        let subnets: Vec<&str> = e.network.subnets.iter().map(String::as_str).collect();
        let groups: Vec<&str> = e
            .network
            .security_groups
            .iter()
            .map(String::as_str)
            .collect();
        let mut b = EcsConfig::builder(&e.cluster, &e.task_definition, &e.container)
            .network(&subnets, &groups)
            .assign_public_ip(e.network.assign_public_ip);
        if let Some(l) = e.launch_type {
            b = b.launch_type(match l {
                EcsLaunchType::Fargate => LaunchType::Fargate,
                EcsLaunchType::Ec2 => LaunchType::Ec2,
            });
        }
        match (&e.traffic, &e.native_rolling) {
            (Some(_), Some(_)) => {
                return Err(loaded.error(
                    &format!("{AT}.native_rolling"),
                    "give traffic (weights on an ALB listener) or native_rolling, not both",
                ))
            }
            (Some(t), None) => {
                let listener = match (&t.listener, &t.rule) {
                    (Some(l), None) => ListenerRef::Listener(l.clone()),
                    (None, Some(r)) => ListenerRef::Rule(r.clone()),
                    (Some(_), Some(_)) => {
                        return Err(loaded.error(
                            &format!("{AT}.traffic.rule"),
                            "give listener or rule, not both",
                        ))
                    }
                    (None, None) => {
                        return Err(loaded.error(
                            &format!("{AT}.traffic"),
                            "missing: listener (an ALB listener ARN) or rule (a listener \
                             rule ARN)",
                        ))
                    }
                };
                let g = &t.target_group;
                let mut tg = TargetGroupTemplate::new(g.port, &g.vpc_id);
                if let Some(p) = &g.protocol {
                    tg.protocol = p.clone();
                }
                if let Some(p) = &g.health_check_path {
                    tg = tg.health_check_path(p.clone());
                }
                if let Some(i) = g.health_check_interval {
                    tg.health_check_interval = i;
                }
                if let Some(h) = g.healthy_threshold {
                    tg.healthy_threshold = h;
                }
                b = b.traffic(listener, tg);
                if let Some(test) = &t.test_listener {
                    b = b.test_listener(test.clone());
                }
            }
            (None, r) => {
                let mut rolling = RollingConfig::default();
                if let Some(r) = r {
                    if let Some(m) = r.minimum_healthy_percent {
                        rolling.minimum_healthy_percent = m;
                    }
                    if let Some(m) = r.maximum_percent {
                        rolling.maximum_percent = m;
                    }
                    if let Some(c) = r.circuit_breaker_rollback {
                        rolling.circuit_breaker_rollback = c;
                    }
                }
                b = b.native_rolling(rolling);
            }
        }
        if let Some(w) = e.deregistration_wait {
            b = b.deregistration_wait(w);
        }
        if let Some(t) = &e.timeouts {
            b = b.timeouts(
                t.call.unwrap_or(DEFAULT_CALL),
                t.connect.unwrap_or(DEFAULT_CONNECT),
            );
        }
        b.build()
            .map_err(|err| loaded.error(&format!("{AT}.{}", err.field), err.problem.clone()))
    }

    /// The driver's defaults (`EcsConfig::builder`), for a `timeouts` giving only one.
    const DEFAULT_CALL: std::time::Duration = std::time::Duration::from_secs(10);
    const DEFAULT_CONNECT: std::time::Duration = std::time::Duration::from_secs(3);

    /// The ECS platform: the driver with the environment's AWS configuration (the file's
    /// region first), the system clock, no metrics of its own.
    pub(super) async fn platform(loaded: &Loaded, e: &EcsFile) -> Result<Platform, FileError> {
        let cfg = config(loaded, e)?;
        let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
        if let Some(r) = &e.region {
            if r.trim().is_empty() {
                return Err(loaded.error(&format!("{AT}.region"), "must not be empty"));
            }
            loader = loader.region(aws_config::Region::new(r.clone()));
        }
        let sdk = loader.load().await;
        if sdk.region().is_none() {
            return Err(loaded.error(
                &format!("{AT}.region"),
                "missing: no AWS region in the environment (AWS_REGION, the profile): \
                 set one or write region: ...",
            ));
        }
        Ok(Platform {
            driver: Arc::new(EcsDriver::new(cfg, &sdk)),
            clock: Arc::new(shipcore::clock::SystemClock),
            metrics: None,
            sim: None,
        })
    }
}

#[cfg(not(feature = "ecs"))]
mod ecs {
    use super::Platform;
    use crate::file::{EcsFile, FileError, Loaded};

    pub(super) async fn platform(loaded: &Loaded, _e: &EcsFile) -> Result<Platform, FileError> {
        Err(loaded.error(
            "driver.ecs",
            "this shipctl was built without the ECS driver: build it with `--features ecs`",
        ))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::path::Path;

    use crate::file::tests_support::BASE;

    const TEMPLATE: &str =
        "pod_template: {spec: {containers: [{name: app, image: x, ports: [{containerPort: 8080}]}]}}";

    fn loaded(k8s: &str) -> Result<Loaded, FileError> {
        Loaded::parse(
            Path::new("r.yaml"),
            format!("{BASE}driver:\n  k8s: {{{k8s}}}\n"),
        )
    }

    #[test]
    fn a_k8s_section_parses_with_or_without_the_feature() {
        let l = loaded(&format!(
            "{TEMPLATE}, route: {{user_owned: {{name: web}}}}, retire_delay: 0s"
        ))
        .unwrap();
        let DriverFile::K8s(k) = &l.file.driver else {
            panic!("not k8s")
        };
        assert_eq!(l.file.driver.name(), "k8s");
        assert_eq!(k.retire_delay, Some(std::time::Duration::ZERO));
        assert!(matches!(
            k.route,
            Some(crate::file::K8sRouteFile::UserOwned {
                conflict_retries: 3,
                ..
            })
        ));
        let e = loaded(&format!("{TEMPLATE}, namespce: shop")).unwrap_err();
        assert_eq!(e.field, "driver.k8s.namespce", "{e}");
        let e = loaded(&format!("{TEMPLATE}, route: {{gitops: {{name: web}}}}")).unwrap_err();
        assert!(e.problem.contains("unknown variant `gitops`"), "{e}");
    }

    #[cfg(not(feature = "k8s"))]
    #[tokio::test]
    async fn without_the_feature_a_k8s_driver_says_how_to_build_one() {
        let l = loaded(TEMPLATE).unwrap();
        let dir = std::env::temp_dir().join("shipctl-no-k8s");
        let e = platform(&l, &StateDir::new(dir), Mode::DryRun)
            .await
            .err()
            .unwrap();
        assert_eq!(e.field, "driver.k8s");
        assert!(e.problem.contains("--features k8s"), "{e}");
        assert_eq!(e.pos.unwrap().line, 7, "{e}");
    }

    #[cfg(feature = "k8s")]
    mod k8s_config {
        use super::*;

        fn config(k8s: &str) -> Result<shipcore_driver_k8s::K8sConfig, FileError> {
            let l = loaded(k8s)?;
            let DriverFile::K8s(k) = &l.file.driver else {
                panic!("not k8s")
            };
            super::super::k8s::config(&l, k)
        }

        #[test]
        fn the_section_builds_the_drivers_config() {
            let c = config(&format!(
                "{TEMPLATE}, namespace: shop, container: app, retire_delay: 0s, \
                 route: {{owned: {{name: web, parent_refs: [{{name: public, namespace: gw}}]}}}}"
            ))
            .unwrap();
            assert_eq!(c.retire_delay_value(), std::time::Duration::ZERO);
            let Some(shipcore_driver_k8s::RouteConfig::Owned { parent_refs, .. }) =
                c.route_config()
            else {
                panic!("no owned route")
            };
            assert_eq!(parent_refs[0].namespace.as_deref(), Some("gw"));
            // A whole Deployment: its two containers make `container` required.
            let deployment = "deployment: {apiVersion: apps/v1, kind: Deployment, spec: \
                {selector: {}, template: {spec: {containers: [{name: app}, {name: side}]}}}}";
            assert!(config(&format!("{deployment}, container: side")).is_ok());
            let e = config(deployment).unwrap_err();
            assert_eq!(e.field, "driver.k8s.container", "{e}");
            assert!(e.problem.contains("2 containers"), "{e}");
        }

        #[test]
        fn errors_name_the_field_under_driver_k8s() {
            for (k8s, field, problem) in [
                (
                    "container: app",
                    "driver.k8s",
                    "give deployment, pod_template or manifest",
                ),
                (
                    &format!("{TEMPLATE}, manifest: d.yaml"),
                    "driver.k8s.manifest",
                    "only one of",
                ),
                (
                    &format!("{TEMPLATE}, namespace: Shop_1"),
                    "driver.k8s.namespace",
                    "DNS-1123",
                ),
                (
                    &format!("{TEMPLATE}, container: web"),
                    "driver.k8s.container",
                    "no container",
                ),
                (
                    &format!("{TEMPLATE}, timeout: 0s"),
                    "driver.k8s.timeout",
                    "longer than zero",
                ),
                (
                    &format!("{TEMPLATE}, target_port: 0"),
                    "driver.k8s.target_port",
                    "1..=65535",
                ),
                (
                    &format!("{TEMPLATE}, route: {{owned: {{name: web, parent_refs: []}}}}"),
                    "driver.k8s.route.owned.parent_refs",
                    "parent Gateway",
                ),
                (
                    "pod_template: {spec: {containers: []}}",
                    "driver.k8s.pod_template",
                    "no containers",
                ),
                (
                    "manifest: does-not-exist.yaml",
                    "driver.k8s.manifest",
                    "cannot read",
                ),
            ] {
                let e = config(k8s).unwrap_err();
                assert_eq!(e.field, field, "{k8s}: {e}");
                assert!(e.problem.contains(problem), "{k8s}: {e}");
                assert_eq!(e.pos.map(|p| p.line), Some(7), "{k8s}: {e}");
            }
        }

        #[test]
        fn a_manifest_file_goes_through_the_drivers_yaml_parser() {
            let dir = tempfile::tempdir().unwrap();
            std::fs::write(
                dir.path().join("svc.yaml"),
                "apiVersion: v1\nkind: Service\nmetadata: {name: web}\n",
            )
            .unwrap();
            std::fs::write(
                dir.path().join("tpl.yaml"),
                "spec:\n  containers:\n  - {name: app, image: x}\n",
            )
            .unwrap();
            let parse = |m: &str| {
                let l = Loaded::parse(
                    &dir.path().join("r.yaml"),
                    format!("{BASE}driver:\n  k8s: {{manifest: {m}}}\n"),
                )
                .unwrap();
                let DriverFile::K8s(k) = &l.file.driver else {
                    panic!("not k8s")
                };
                super::super::k8s::config(&l, k)
            };
            assert!(parse("tpl.yaml").is_ok());
            let e = parse("svc.yaml").unwrap_err();
            assert_eq!(e.field, "driver.k8s.manifest");
            assert!(e.problem.contains("not Service"), "{e}");
        }

        #[tokio::test]
        async fn in_cluster_refuses_a_kubeconfig_and_outside_a_pod_says_so() {
            let l = loaded(&format!("{TEMPLATE}, in_cluster: true, context: x")).unwrap();
            let dir = std::env::temp_dir().join("shipctl-k8s-unit");
            let e = platform(&l, &StateDir::new(&dir), Mode::DryRun)
                .await
                .err()
                .unwrap();
            assert_eq!(e.field, "driver.k8s.in_cluster", "{e}");
            if std::env::var_os("KUBERNETES_SERVICE_HOST").is_none() {
                let l = loaded(&format!("{TEMPLATE}, in_cluster: true")).unwrap();
                let e = platform(&l, &StateDir::new(&dir), Mode::DryRun)
                    .await
                    .err()
                    .unwrap();
                assert_eq!(e.field, "driver.k8s.in_cluster", "{e}");
                assert!(e.problem.contains("not running in a cluster"), "{e}");
            }
        }
    }

    const ECS: &str = "cluster: shop, task_definition: web, container: app, \
        network: {subnets: [subnet-1], security_groups: [sg-1]}";

    #[test]
    fn an_ecs_section_parses_with_or_without_the_feature() {
        let l = loaded_driver("ecs", &format!("{ECS}, deregistration_wait: 0s")).unwrap();
        let DriverFile::Ecs(e) = &l.file.driver else {
            panic!("not ecs")
        };
        assert_eq!(l.file.driver.name(), "ecs");
        assert_eq!(e.network.subnets, ["subnet-1"]);
        let e = loaded_driver("ecs", &format!("{ECS}, launch_type: lambda")).unwrap_err();
        assert_eq!(e.field, "driver.ecs.launch_type", "{e}");
        let e = loaded_driver("ecs", "cluster: shop, task_definition: web, container: app")
            .unwrap_err();
        assert!(e.problem.contains("missing field `network`"), "{e}");
        assert!(e.field.starts_with("driver.ecs"), "{e}");
        let e = loaded_driver("ecs", &format!("{ECS}, traffic: {{listner: x}}")).unwrap_err();
        assert_eq!(e.field, "driver.ecs.traffic.listner", "{e}");
    }

    fn loaded_driver(driver: &str, body: &str) -> Result<Loaded, FileError> {
        Loaded::parse(
            Path::new("r.yaml"),
            format!("{BASE}driver:\n  {driver}: {{{body}}}\n"),
        )
    }

    #[cfg(not(feature = "ecs"))]
    #[tokio::test]
    async fn without_the_feature_an_ecs_driver_says_how_to_build_one() {
        let l = loaded_driver("ecs", ECS).unwrap();
        let dir = std::env::temp_dir().join("shipctl-no-ecs");
        let e = platform(&l, &StateDir::new(dir), Mode::DryRun)
            .await
            .err()
            .unwrap();
        assert_eq!(e.field, "driver.ecs");
        assert!(e.problem.contains("--features ecs"), "{e}");
        assert_eq!(e.pos.unwrap().line, 7, "{e}");
    }

    #[cfg(feature = "ecs")]
    mod ecs_config {
        use super::*;
        use shipcore_driver_ecs::{LaunchType, ListenerRef, Mode as EcsMode};

        fn config(body: &str) -> Result<shipcore_driver_ecs::EcsConfig, FileError> {
            let l = loaded_driver("ecs", body)?;
            let DriverFile::Ecs(e) = &l.file.driver else {
                panic!("not ecs")
            };
            super::super::ecs::config(&l, e)
        }

        const LISTENER: &str = "arn:aws:elasticloadbalancing:us-east-1:1:listener/app/a/b/c";

        #[test]
        fn the_section_builds_the_drivers_config() {
            let c = config(ECS).unwrap();
            assert_eq!(c.cluster, "shop");
            assert_eq!(c.launch_type, LaunchType::Fargate);
            assert!(matches!(c.mode, EcsMode::NativeRolling(ref r) if r.maximum_percent == 200));
            let c = config(&format!(
                "{ECS}, launch_type: ec2, deregistration_wait: 5s, \
                 timeouts: {{call: 20s}}, traffic: {{listener: '{LISTENER}', \
                 target_group: {{port: 8080, vpc_id: vpc-1, health_check_path: /ready}}}}"
            ))
            .unwrap();
            assert_eq!(c.launch_type, LaunchType::Ec2);
            assert_eq!(
                c.deregistration_wait,
                Some(std::time::Duration::from_secs(5))
            );
            assert_eq!(c.call_timeout, std::time::Duration::from_secs(20));
            assert_eq!(c.connect_timeout, std::time::Duration::from_secs(3));
            let t = c.traffic().unwrap();
            assert_eq!(t.listener, ListenerRef::Listener(LISTENER.into()));
            assert_eq!(t.target_group.health_check_path, "/ready");
            assert_eq!(t.target_group.protocol, "HTTP");
            let c = config(&format!(
                "{ECS}, native_rolling: {{minimum_healthy_percent: 50, maximum_percent: 150}}"
            ))
            .unwrap();
            assert!(matches!(
                c.mode,
                EcsMode::NativeRolling(ref r)
                    if (r.minimum_healthy_percent, r.maximum_percent) == (50, 150)
                        && r.circuit_breaker_rollback
            ));
        }

        #[test]
        fn errors_name_the_field_under_driver_ecs() {
            let tg = "target_group: {port: 8080, vpc_id: vpc-1}";
            for (body, field, problem) in [
                (
                    "cluster: ' ', task_definition: web, container: app, \
                     network: {subnets: [s], security_groups: [g]}"
                        .to_string(),
                    "driver.ecs.cluster",
                    "must not be empty",
                ),
                (
                    "cluster: c, task_definition: web, container: app, \
                     network: {subnets: [], security_groups: [g]}"
                        .to_string(),
                    "driver.ecs.network.subnets",
                    "at least one subnet",
                ),
                (
                    format!("{ECS}, traffic: {{listener: not-an-arn, {tg}}}"),
                    "driver.ecs.traffic.listener",
                    "not an ARN",
                ),
                (
                    format!("{ECS}, traffic: {{{tg}}}"),
                    "driver.ecs.traffic",
                    "missing: listener",
                ),
                (
                    format!("{ECS}, traffic: {{listener: '{LISTENER}', rule: '{LISTENER}', {tg}}}"),
                    "driver.ecs.traffic.rule",
                    "not both",
                ),
                (
                    format!(
                        "{ECS}, traffic: {{listener: '{LISTENER}', target_group: \
                         {{port: 8080, vpc_id: v, protocol: TCP}}}}"
                    ),
                    "driver.ecs.traffic.target_group.protocol",
                    "HTTP or HTTPS",
                ),
                (
                    format!(
                        "{ECS}, traffic: {{listener: '{LISTENER}', target_group: \
                         {{port: 8080, vpc_id: v, health_check_interval: 1s}}}}"
                    ),
                    "driver.ecs.traffic.target_group.health_check_interval",
                    "5..=300",
                ),
                (
                    format!("{ECS}, native_rolling: {{maximum_percent: 250}}"),
                    "driver.ecs.native_rolling.maximum_percent",
                    "100..=200",
                ),
                (
                    format!(
                        "{ECS}, native_rolling: {{}}, traffic: {{listener: '{LISTENER}', {tg}}}"
                    ),
                    "driver.ecs.native_rolling",
                    "not both",
                ),
                (
                    format!("{ECS}, timeouts: {{connect: 0s}}"),
                    "driver.ecs.timeouts.connect",
                    "longer than zero",
                ),
            ] {
                let e = config(&body).unwrap_err();
                assert_eq!(e.field, field, "{body}: {e}");
                assert!(e.problem.contains(problem), "{body}: {e}");
                assert_eq!(e.pos.map(|p| p.line), Some(7), "{body}: {e}");
            }
        }
    }
}
