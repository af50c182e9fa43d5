//! What the fake apiserver's request handlers share: the parsed request (its target
//! resource, query and context), their answer and the response body type. The router
//! (`http.rs`), the verbs and the watch streams all take these from here.

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http::Method;
use serde_json::Value;

use super::discovery::Resource;
use super::status::ApiError;
use super::store::Key;
use super::Inner;

/// Response body: whole JSON documents, or a watch stream.
pub(crate) type Body = http_body_util::combinators::UnsyncBoxBody<Bytes, Infallible>;

/// Parsed query options.
#[derive(Debug, Default)]
pub(super) struct Query {
    pub(super) pairs: Vec<(String, String)>,
}

impl Query {
    pub(super) fn get(&self, k: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.as_str())
    }
    pub(super) fn flag(&self, k: &str) -> bool {
        matches!(self.get(k), Some("true" | "1"))
    }
    pub(super) fn dry_run(&self) -> bool {
        self.pairs.iter().any(|(k, v)| k == "dryRun" && v == "All")
    }
}

/// A handler's answer: a JSON document with its status, a watch stream, or text.
pub(super) enum Answer {
    Json(u16, Value),
    Watch(Body),
    Text(&'static str),
}

pub(super) struct Ctx<'a> {
    pub(super) inner: &'a Arc<Inner>,
    pub(super) method: &'a Method,
    pub(super) q: &'a Query,
    pub(super) content_type: Option<&'a str>,
    pub(super) body: &'a Bytes,
    pub(super) user_agent: &'a str,
    pub(super) accept: Option<&'a str>,
}

impl Ctx<'_> {
    pub(super) fn gateway(&self) -> bool {
        self.inner.gateway.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// `fieldManager`, else the user agent's product name, as the apiserver derives it.
    pub(super) fn manager(&self) -> String {
        if let Some(m) = self.q.get("fieldManager") {
            return m.to_string();
        }
        let prefix = self.user_agent.split('/').next().unwrap_or("").trim();
        if prefix.is_empty() {
            "unknown".into()
        } else {
            prefix.to_string()
        }
    }

    pub(super) fn body_json(&self) -> Result<Value, ApiError> {
        let v: Value = serde_json::from_slice(self.body).map_err(|e| {
            ApiError::bad_request(format!(
                "the body of the request could not be decoded as JSON: {e}"
            ))
        })?;
        if !v.is_object() {
            return Err(ApiError::bad_request(
                "the body of the request is not a JSON object",
            ));
        }
        Ok(v)
    }
}

/// What a resource path names.
pub(super) struct Target {
    pub(super) res: &'static Resource,
    pub(super) ns: Option<String>,
    pub(super) name: Option<String>,
    pub(super) sub: Option<String>,
}

pub(super) fn ns_of(t: &Target) -> String {
    if t.res.namespaced {
        t.ns.clone().unwrap_or_else(|| "default".into())
    } else {
        String::new()
    }
}

pub(super) fn key_of(t: &Target, name: &str) -> Key {
    Key::new(t.res, &ns_of(t), name)
}
