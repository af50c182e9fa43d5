//! Watch responses: newline-delimited JSON events `{"type": ..., "object": ...}` streamed as
//! changes happen, after replaying the history newer than the requested resourceVersion.

use std::collections::VecDeque;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use serde_json::{json, Value};
use tokio::sync::broadcast;
use tokio::time::Instant;

use super::discovery::Resource;
use super::request::Body;
use super::selector::{FieldSelector, LabelSelector};
use super::status::ApiError;
use super::store::{Event, EventType};

/// Which events a watch wants.
#[derive(Debug, Clone)]
pub(crate) struct Filter {
    pub res: &'static Resource,
    pub ns: Option<String>,
    pub labels: LabelSelector,
    pub fields: FieldSelector,
}

impl Filter {
    fn selected(&self, obj: &Value) -> bool {
        self.labels.matches(obj) && self.fields.matches(obj)
    }

    /// The event type this watch sees for `ev`, if any: an object modified into the
    /// selection is ADDED, one modified out of it is DELETED, as the apiserver's cache does.
    pub fn translate(&self, ev: &Event) -> Option<&'static str> {
        if ev.key.group != self.res.group
            || ev.key.plural != self.res.plural
            || self.ns.as_deref().is_some_and(|n| ev.key.ns != n)
        {
            return None;
        }
        let now = self.selected(&ev.object);
        if ev.kind != EventType::Modified {
            return now.then(|| ev.kind.as_str());
        }
        let before = ev.prev.as_deref().map_or(now, |p| self.selected(p));
        match (before, now) {
            (true, true) => Some("MODIFIED"),
            (false, true) => Some("ADDED"),
            (true, false) => Some("DELETED"),
            (false, false) => None,
        }
    }
}

/// One event line.
pub(crate) fn line(kind: &str, object: &Value) -> Bytes {
    let mut s = serde_json::to_string(&json!({"type": kind, "object": object})).unwrap_or_default();
    s.push('\n');
    Bytes::from(s)
}

/// The ERROR event a watch from a compacted resourceVersion gets.
pub(crate) fn gone_line(err: &ApiError) -> Bytes {
    line("ERROR", &err.to_status())
}

struct WatchState {
    queued: VecDeque<Bytes>,
    rx: broadcast::Receiver<Event>,
    filter: Filter,
    deadline: Option<Instant>,
    done: bool,
}

/// The streaming body: `queued` first, then live events until `timeout` (or forever).
pub(crate) fn stream(
    queued: Vec<Bytes>,
    rx: broadcast::Receiver<Event>,
    filter: Filter,
    timeout: Option<Duration>,
) -> Body {
    let state = WatchState {
        queued: queued.into(),
        rx,
        filter,
        deadline: timeout.map(|t| Instant::now() + t),
        done: false,
    };
    let s = futures::stream::unfold(state, |mut st| async move {
        loop {
            if let Some(b) = st.queued.pop_front() {
                return Some((Ok::<_, std::convert::Infallible>(Frame::data(b)), st));
            }
            if st.done {
                return None;
            }
            let recv = st.rx.recv();
            let ev = match st.deadline {
                Some(d) => tokio::select! {
                    r = recv => r,
                    _ = tokio::time::sleep_until(d) => return None,
                },
                None => recv.await,
            };
            match ev {
                Ok(ev) => {
                    if let Some(kind) = st.filter.translate(&ev) {
                        st.queued.push_back(line(kind, &ev.object));
                    }
                }
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    st.queued.push_back(gone_line(&ApiError::gone(0, 0)));
                    st.done = true;
                }
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    });
    StreamBody::new(s).boxed_unsync()
}

/// The initial-events-end bookmark of a `sendInitialEvents=true` watch.
pub(crate) fn initial_events_end(res: &Resource, rv: u64) -> Bytes {
    line(
        "BOOKMARK",
        &json!({"kind": res.kind, "apiVersion": res.api_version(), "metadata": {"resourceVersion": rv.to_string(), "annotations": {"k8s.io/initial-events-end": "true"}}}),
    )
}
