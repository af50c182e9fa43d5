//! With both rustls crypto providers compiled in (ring for kube, aws-lc-rs as the AWS SDK
//! brings it), rustls cannot choose a process default and building a kube client panics.
//! The driver installs ring when nothing is installed, so a binary with both the
//! Kubernetes and the ECS driver works. Its own test binary: the process starts with no
//! provider installed.
#![allow(clippy::unwrap_used)]

use shipcore_driver_k8s::{Base, K8sConfig, K8sDriver};

const KUBECONFIG: &str = r#"
apiVersion: v1
kind: Config
clusters:
- name: c
  cluster:
    server: https://127.0.0.1:1
contexts:
- name: c
  context:
    cluster: c
    user: u
current-context: c
users:
- name: u
  user:
    token: not-a-secret
"#;

#[tokio::test]
async fn a_driver_builds_its_tls_client_with_two_providers_compiled_in() {
    assert!(
        rustls::crypto::CryptoProvider::get_default().is_none(),
        "a fresh process has no provider installed"
    );
    let kc = kube::config::Kubeconfig::from_yaml(KUBECONFIG).unwrap();
    let config = kube::Config::from_custom_kubeconfig(kc, &Default::default())
        .await
        .unwrap();
    let cfg = K8sConfig::new(Base::from_yaml(BASE).unwrap());
    let driver = K8sDriver::from_kube_config(config, cfg);
    assert!(driver.is_ok(), "{:?}", driver.err());
    assert!(rustls::crypto::CryptoProvider::get_default().is_some());
}

const BASE: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: registry.local/web:1.0.0
"#;
