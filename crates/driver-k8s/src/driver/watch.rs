//! Readiness by watch: resolves once the target's Deployments changed since the last
//! observe, watching from the LIST's resourceVersion; a 410 Gone relists.

use super::{key, K8sDriver};
use crate::names;
use futures::StreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{ListParams, WatchEvent, WatchParams};
use shipcore::model::Target;
use std::time::Duration;
use tracing::Instrument;

/// Pause after a failed watch before the next one (the engine's poll timer runs beside).
const BACKOFF: Duration = Duration::from_millis(250);

/// What a watch said.
enum Seen {
    /// Something changed.
    Change,
    /// The resourceVersion is too old (410 Gone): relist.
    Gone,
    /// The stream ended or failed: watch again.
    Ended,
}

impl K8sDriver {
    /// Resolves when the target's Deployments changed since the last `observe` (a status
    /// update, a new generation, a deletion). Never resolves on its own otherwise; the
    /// caller keeps polling beside it. [`Driver::wait_for_change`](shipcore::driver::Driver::wait_for_change).
    pub(super) async fn watch_change(&self, target: &Target) {
        let span = tracing::debug_span!("k8s.wait_for_change", target = %target);
        self.wait_inner(target).instrument(span).await;
    }

    async fn wait_inner(&self, target: &Target) {
        let ns = self.namespace(target);
        let api = self.deployments(&ns);
        let selector = names::target_selector(target);
        let seen = self.memory().list_version.get(&key(target)).cloned();
        let mut version = match seen {
            Some(v) => v,
            None => loop {
                // No LIST yet: take one. A failing API is retried here after a pause (the
                // engine's own poll runs beside), not reported as a change.
                match self.relist(target, &api, &selector).await {
                    Some(v) => break v,
                    None => tokio::time::sleep(BACKOFF).await,
                }
            },
        };
        loop {
            let wp = WatchParams::default().labels(&selector).timeout(290);
            let outcome = match api.watch(&wp, &version).await {
                Ok(stream) => {
                    let mut stream = std::pin::pin!(stream);
                    let mut outcome = Seen::Ended;
                    while let Some(ev) = stream.next().await {
                        match ev {
                            Ok(
                                WatchEvent::Added(_)
                                | WatchEvent::Modified(_)
                                | WatchEvent::Deleted(_),
                            ) => {
                                outcome = Seen::Change;
                                break;
                            }
                            Ok(WatchEvent::Bookmark(b)) => {
                                version = b.metadata.resource_version;
                            }
                            Ok(WatchEvent::Error(s))
                                if s.code == 410 || s.reason == "Expired" || s.reason == "Gone" =>
                            {
                                outcome = Seen::Gone;
                                break;
                            }
                            Ok(WatchEvent::Error(_)) | Err(_) => break,
                        }
                    }
                    outcome
                }
                Err(kube::Error::Api(s)) if s.code == 410 => Seen::Gone,
                Err(e) => {
                    tracing::debug!(error = %e, "watch failed");
                    Seen::Ended
                }
            };
            match outcome {
                Seen::Change => return,
                Seen::Gone => {
                    // The list tells whether anything changed while we were not looking.
                    let Some(now) = self.relist(target, &api, &selector).await else {
                        tokio::time::sleep(BACKOFF).await;
                        continue;
                    };
                    if now != version {
                        return;
                    }
                    version = now;
                }
                Seen::Ended => tokio::time::sleep(BACKOFF).await,
            }
        }
    }

    async fn relist(
        &self,
        target: &Target,
        api: &kube::Api<Deployment>,
        selector: &str,
    ) -> Option<String> {
        let list = api
            .list(&ListParams::default().labels(selector))
            .await
            .ok()?;
        let rv = list.metadata.resource_version?;
        self.memory().list_version.insert(key(target), rv.clone());
        Some(rv)
    }
}
