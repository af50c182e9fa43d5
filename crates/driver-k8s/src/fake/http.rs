//! Request handling: fault injection, routing of discovery and resource paths, and the
//! verbs on objects. Shared by the in-process [`FakeService`] and the loopback server.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{header, HeaderMap, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use serde_json::{json, Value};

use super::discovery::{self, Resource};
use super::request::{key_of, Answer, Body, Ctx, Query, Target};
use super::selector::{FieldSelector, LabelSelector};
use super::status::ApiError;
use super::table;
use super::verbs;
use super::watch::{self, Filter};
use super::{FaultAnswer, Inner, RecordedRequest};

/// Decodes `a=b&c=d` (percent-encoding and `+` for space).
pub(crate) fn query_pairs(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect()
}

fn decode(s: &str) -> String {
    fn hex(c: u8) -> Option<u8> {
        (c as char).to_digit(16).map(|d| d as u8)
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' => match (
                b.get(i + 1).copied().and_then(hex),
                b.get(i + 2).copied().and_then(hex),
            ) {
                (Some(h), Some(l)) => {
                    out.push(h * 16 + l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn json_response(code: u16, v: &Value) -> Response<Body> {
    let body = serde_json::to_vec(v).unwrap_or_default();
    let mut r = Response::new(Full::new(Bytes::from(body)).boxed_unsync());
    *r.status_mut() = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    r
}

fn error_response(e: &ApiError) -> Response<Body> {
    let mut r = json_response(e.code, &e.to_status());
    if e.code == 429 {
        r.headers_mut()
            .insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
    }
    r
}

/// The in-process `tower::Service` behind [`super::FakeApiServer::client`].
#[derive(Clone)]
pub(crate) struct FakeService {
    inner: Arc<Inner>,
}

impl FakeService {
    pub fn new(inner: Arc<Inner>) -> Self {
        FakeService { inner }
    }
}

impl tower::Service<Request<kube::client::Body>> for FakeService {
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response<Body>, Infallible>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<kube::client::Body>) -> Self::Future {
        let inner = self.inner.clone();
        Box::pin(async move {
            let (parts, body) = req.into_parts();
            let bytes = match body.collect().await {
                Ok(c) => c.to_bytes(),
                Err(e) => {
                    return Ok(error_response(&ApiError::bad_request(format!(
                        "reading the body: {e}"
                    ))))
                }
            };
            Ok(handle(inner, parts.method, parts.uri, parts.headers, bytes).await)
        })
    }
}

/// Answers one request.
pub(crate) async fn handle(
    inner: Arc<Inner>,
    method: Method,
    uri: http::Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response<Body> {
    let path = uri.path().to_string();
    let query_s = uri.query().unwrap_or("").to_string();
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let fault = {
        let mut st = inner.lock();
        st.requests.push(RecordedRequest {
            method: method.clone(),
            path: path.clone(),
            query: query_s.clone(),
            content_type: content_type.clone(),
            body: String::from_utf8_lossy(&body).into_owned(),
        });
        let target = if query_s.is_empty() {
            path.clone()
        } else {
            format!("{path}?{query_s}")
        };
        let mut hit = None;
        for f in st.faults.iter_mut() {
            if f.left > 0
                && f.fault.method.as_ref().is_none_or(|m| *m == method)
                && target.contains(&f.fault.path_contains)
            {
                f.left -= 1;
                hit = Some(f.fault.answer.clone());
                break;
            }
        }
        st.faults.retain(|f| f.left > 0);
        hit
    };
    match fault {
        Some(FaultAnswer::Hang) => return std::future::pending::<Response<Body>>().await,
        Some(FaultAnswer::Status(code)) => return error_response(&ApiError::injected(code)),
        None => {}
    }
    let user_agent = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let q = Query {
        pairs: query_pairs(&query_s),
    };
    let ctx = Ctx {
        inner: &inner,
        method: &method,
        q: &q,
        content_type: content_type.as_deref(),
        body: &body,
        user_agent,
        accept: headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()),
    };
    match route(&ctx, &path) {
        Ok(Answer::Json(code, v)) => json_response(code, &v),
        Ok(Answer::Watch(b)) => {
            let mut r = Response::new(b);
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                header::HeaderValue::from_static("application/json"),
            );
            r.headers_mut().insert(
                header::TRANSFER_ENCODING,
                header::HeaderValue::from_static("chunked"),
            );
            r
        }
        Ok(Answer::Text(t)) => {
            let mut r = Response::new(Full::new(Bytes::from(t)).boxed_unsync());
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                header::HeaderValue::from_static("text/plain; charset=utf-8"),
            );
            r
        }
        Err(e) => error_response(&e),
    }
}

fn route(ctx: &Ctx<'_>, path: &str) -> Result<Answer, ApiError> {
    let segs: Vec<&str> = path
        .trim_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    let gateway = ctx.gateway();
    let get = *ctx.method == Method::GET;
    let (group, version, rest) = match segs.as_slice() {
        ["version"] if get => return Ok(Answer::Json(200, discovery::version())),
        ["healthz" | "livez" | "readyz"] if get => return Ok(Answer::Text("ok")),
        ["api"] if get => return Ok(Answer::Json(200, discovery::core_versions())),
        ["apis"] if get => return Ok(Answer::Json(200, discovery::groups(gateway))),
        ["apis", g] if get => {
            return discovery::group(g, gateway)
                .map(|v| Answer::Json(200, v))
                .ok_or_else(|| ApiError::no_route(path))
        }
        ["api", v, rest @ ..] => ("", *v, rest),
        ["apis", g, v, rest @ ..] => (*g, *v, rest),
        _ => return Err(ApiError::no_route(path)),
    };
    if rest.is_empty() {
        if !get {
            return Err(ApiError::method_not_allowed("discovery is read-only"));
        }
        return discovery::resources(group, version, gateway)
            .map(|v| Answer::Json(200, v))
            .ok_or_else(|| ApiError::no_route(path));
    }
    let find = |plural: &str| discovery::find(group, version, plural, gateway);
    let target = match rest {
        ["namespaces", ns, plural, more @ ..]
            if find(plural).is_some_and(|r| r.namespaced) && more.len() <= 2 =>
        {
            Target {
                res: find(plural).ok_or_else(|| ApiError::no_route(path))?,
                ns: Some((*ns).to_string()),
                name: more.first().map(|s| (*s).to_string()),
                sub: more.get(1).map(|s| (*s).to_string()),
            }
        }
        [plural, more @ ..] if more.len() <= 2 => Target {
            res: find(plural).ok_or_else(|| ApiError::no_route(path))?,
            ns: None,
            name: more.first().map(|s| (*s).to_string()),
            sub: more.get(1).map(|s| (*s).to_string()),
        },
        _ => return Err(ApiError::no_route(path)),
    };
    if target.res.create_only {
        return match (ctx.method, &target.name) {
            (&Method::POST, None) => verbs::access_review(ctx),
            _ => Err(ApiError::method_not_allowed(format!(
                "only create is served for {}",
                target.res.plural
            ))),
        };
    }
    if let Some(sub) = target.sub.as_deref() {
        if !(sub == "status" || (sub == "scale" && target.res.kind == "Deployment")) {
            return Err(ApiError::no_route(path));
        }
    }
    match (ctx.method.clone(), target.name.clone()) {
        (Method::GET, None) if ctx.q.flag("watch") => watch_list(ctx, &target),
        (Method::GET, None) => list(ctx, &target),
        (Method::GET, Some(name)) => get_one(ctx, &target, &name),
        (Method::POST, None) => verbs::create(ctx, &target),
        (Method::PUT, Some(name)) => verbs::update(ctx, &target, &name),
        (Method::PATCH, Some(name)) => verbs::patch(ctx, &target, &name),
        (Method::DELETE, Some(name)) => verbs::delete(ctx, &target, &name),
        (m, _) => Err(ApiError::method_not_allowed(format!(
            "{m} is not supported on {path}"
        ))),
    }
}

fn strip_for_list(res: &Resource, v: &Value) -> Value {
    let mut v = v.clone();
    if !res.custom {
        if let Some(o) = v.as_object_mut() {
            o.remove("apiVersion");
            o.remove("kind");
        }
    }
    v
}

fn list(ctx: &Ctx<'_>, t: &Target) -> Result<Answer, ApiError> {
    let labels = LabelSelector::parse(ctx.q.get("labelSelector").unwrap_or(""))?;
    let fields = FieldSelector::parse(ctx.q.get("fieldSelector").unwrap_or(""))?;
    let st = ctx.inner.lock();
    let ns = if t.res.namespaced {
        t.ns.as_deref()
    } else {
        None
    };
    if table::wanted(ctx.accept) {
        let objs: Vec<Value> = st
            .store
            .list(t.res, ns)
            .filter(|o| labels.matches(o) && fields.matches(o))
            .cloned()
            .collect();
        let tbl = table::table(t.res, &objs, st.store.rv, ctx.q.get("includeObject"));
        return Ok(Answer::Json(200, tbl));
    }
    let items: Vec<Value> = st
        .store
        .list(t.res, ns)
        .filter(|o| labels.matches(o) && fields.matches(o))
        .map(|o| strip_for_list(t.res, o))
        .collect();
    Ok(Answer::Json(
        200,
        json!({
            "kind": format!("{}List", t.res.kind),
            "apiVersion": t.res.api_version(),
            "metadata": {"resourceVersion": st.store.rv.to_string()},
            "items": items,
        }),
    ))
}

fn watch_list(ctx: &Ctx<'_>, t: &Target) -> Result<Answer, ApiError> {
    let filter = Filter {
        res: t.res,
        ns: if t.res.namespaced { t.ns.clone() } else { None },
        labels: LabelSelector::parse(ctx.q.get("labelSelector").unwrap_or(""))?,
        fields: FieldSelector::parse(ctx.q.get("fieldSelector").unwrap_or(""))?,
    };
    let timeout = match ctx.q.get("timeoutSeconds") {
        Some(s) => Some(Duration::from_secs(s.parse::<u64>().map_err(|_| {
            ApiError::bad_request(format!("timeoutSeconds: invalid value {s:?}"))
        })?)),
        None => None,
    };
    let rv_param = ctx.q.get("resourceVersion").unwrap_or("");
    let st = ctx.inner.lock();
    let rx = ctx.inner.events.subscribe();
    let mut queued = Vec::new();
    if rv_param.is_empty() || rv_param == "0" || ctx.q.flag("sendInitialEvents") {
        let ns = filter.ns.as_deref();
        for o in st
            .store
            .list(t.res, ns)
            .filter(|o| filter.labels.matches(o) && filter.fields.matches(o))
        {
            queued.push(watch::line("ADDED", o));
        }
        if ctx.q.flag("sendInitialEvents") {
            queued.push(watch::initial_events_end(t.res, st.store.rv));
        }
    } else {
        let rv: u64 = rv_param.parse().map_err(|_| {
            ApiError::bad_request(format!("resourceVersion: invalid value {rv_param:?}"))
        })?;
        if rv < st.store.oldest_rv {
            let line = watch::gone_line(&ApiError::gone(rv, st.store.oldest_rv));
            drop(st);
            let body = Full::new(line).boxed_unsync();
            return Ok(Answer::Watch(body));
        }
        for ev in st.store.history.iter().filter(|e| e.rv > rv) {
            if let Some(kind) = filter.translate(ev) {
                queued.push(watch::line(kind, &ev.object));
            }
        }
    }
    drop(st);
    Ok(Answer::Watch(watch::stream(queued, rx, filter, timeout)))
}

fn get_one(ctx: &Ctx<'_>, t: &Target, name: &str) -> Result<Answer, ApiError> {
    let st = ctx.inner.lock();
    let obj = st
        .store
        .objects
        .get(&key_of(t, name))
        .map(|s| s.value.clone())
        .ok_or_else(|| ApiError::not_found(t.res.group, t.res.plural, name))?;
    if t.sub.as_deref() == Some("scale") {
        return Ok(Answer::Json(200, verbs::scale_of(&obj)));
    }
    if t.sub.is_none() && table::wanted(ctx.accept) {
        let tbl = table::table(t.res, &[obj], st.store.rv, ctx.q.get("includeObject"));
        return Ok(Answer::Json(200, tbl));
    }
    Ok(Answer::Json(200, obj))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_decoding() {
        let q = query_pairs("labelSelector=a%3Db%2Cc+in+%28x%29&watch=1&x");
        assert_eq!(q[0], ("labelSelector".into(), "a=b,c in (x)".into()));
        assert_eq!(q[1], ("watch".into(), "1".into()));
        assert_eq!(q[2], ("x".into(), "".into()));
        assert_eq!(decode("%zz%4"), "%zz%4");
    }
}
