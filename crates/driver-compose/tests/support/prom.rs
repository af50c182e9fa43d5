//! A real Prometheus for the canary: metrics-prom's test support starts it (1 s scrape,
//! loopback, killed on drop) with a `file_sd_configs` job whose file is kept in line with
//! the revisions' containers by `discovery::prometheus_targets`, refreshed twice a second.

#[path = "../../../metrics-prom/tests/support/mod.rs"]
mod base;

pub use base::Prometheus;

use super::Env;
use shipcore_driver_compose::prometheus_targets;
use shipcore_driver_compose::{ComposeConfig, ComposeDriver, HealthcheckRunner};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Prometheus scraping every container of the service, labelled `service` and `revision`
/// by the file_sd groups; the refresher stops on drop, then Prometheus is killed.
pub struct Scraper {
    refresher: tokio::task::JoinHandle<()>,
    pub prometheus: Prometheus,
    pub sd_file: PathBuf,
}

impl Drop for Scraper {
    fn drop(&mut self) {
        self.refresher.abort();
    }
}

/// Starts the refresher (its own light driver: `compose ps` only, no checks or probes) and
/// Prometheus with job `web` reading `dir/targets.json`.
pub fn start(_env: &Env, cfg: &ComposeConfig, dir: &Path) -> Scraper {
    let mut light = cfg.clone();
    light.http_probe = None;
    light.healthchecks = HealthcheckRunner::Engine;
    let driver = ComposeDriver::new(light).unwrap();
    let sd_file = dir.join("targets.json");
    std::fs::write(&sd_file, "[]").unwrap();
    let (file, service) = (sd_file.clone(), cfg.service.clone());
    let refresher = tokio::spawn(async move {
        let mut last = String::new();
        loop {
            if let Ok(instances) = driver.instances().await {
                let text = prometheus_targets(&service, &instances).to_string();
                if text != last {
                    let tmp = file.with_extension("tmp");
                    if std::fs::write(&tmp, &text).is_ok() && std::fs::rename(&tmp, &file).is_ok() {
                        last = text;
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    });
    let prometheus = Prometheus::start_with(&format!(
        "  - job_name: web\n    file_sd_configs:\n      - files: ['{}']\n        refresh_interval: 1s\n",
        sd_file.display()
    ));
    Scraper {
        refresher,
        prometheus,
        sd_file,
    }
}
