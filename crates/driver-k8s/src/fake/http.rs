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

use super::apply::{merge_patch, Ownership};
use super::discovery::{self, Resource};
use super::selector::{FieldSelector, LabelSelector};
use super::status::ApiError;
use super::store::{Key, WriteOpts};
use super::table;
use super::watch::{self, Filter};
use super::{FaultAnswer, Inner, RecordedRequest, State};

/// Response body: whole JSON documents, or a watch stream.
pub(crate) type Body = http_body_util::combinators::UnsyncBoxBody<Bytes, Infallible>;

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

/// Parsed query options.
#[derive(Debug, Default)]
struct Query {
    pairs: Vec<(String, String)>,
}

impl Query {
    fn get(&self, k: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.as_str())
    }
    fn flag(&self, k: &str) -> bool {
        matches!(self.get(k), Some("true" | "1"))
    }
    fn dry_run(&self) -> bool {
        self.pairs.iter().any(|(k, v)| k == "dryRun" && v == "All")
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

enum Answer {
    Json(u16, Value),
    Watch(Body),
    Text(&'static str),
}

struct Ctx<'a> {
    inner: &'a Arc<Inner>,
    method: &'a Method,
    q: &'a Query,
    content_type: Option<&'a str>,
    body: &'a Bytes,
    user_agent: &'a str,
    accept: Option<&'a str>,
}

impl Ctx<'_> {
    fn gateway(&self) -> bool {
        self.inner.gateway.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// `fieldManager`, else the user agent's product name, as the apiserver derives it.
    fn manager(&self) -> String {
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

    fn body_json(&self) -> Result<Value, ApiError> {
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
struct Target {
    res: &'static Resource,
    ns: Option<String>,
    name: Option<String>,
    sub: Option<String>,
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
            (&Method::POST, None) => access_review(ctx),
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
        (Method::POST, None) => create(ctx, &target),
        (Method::PUT, Some(name)) => update(ctx, &target, &name),
        (Method::PATCH, Some(name)) => patch(ctx, &target, &name),
        (Method::DELETE, Some(name)) => delete(ctx, &target, &name),
        (m, _) => Err(ApiError::method_not_allowed(format!(
            "{m} is not supported on {path}"
        ))),
    }
}

fn ns_of(t: &Target) -> String {
    if t.res.namespaced {
        t.ns.clone().unwrap_or_else(|| "default".into())
    } else {
        String::new()
    }
}

fn key_of(t: &Target, name: &str) -> Key {
    Key::new(t.res, &ns_of(t), name)
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

fn scale_of(deploy: &Value) -> Value {
    let selector = deploy
        .pointer("/spec/selector/matchLabels")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default();
    let meta = &deploy["metadata"];
    json!({
        "kind": "Scale", "apiVersion": "autoscaling/v1",
        "metadata": {"name": meta["name"], "namespace": meta["namespace"], "uid": meta["uid"],
                     "resourceVersion": meta["resourceVersion"], "creationTimestamp": meta["creationTimestamp"]},
        "spec": {"replicas": deploy.pointer("/spec/replicas").cloned().unwrap_or(json!(0))},
        "status": {"replicas": deploy.pointer("/status/replicas").cloned().unwrap_or(json!(0)), "selector": selector},
    })
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
        return Ok(Answer::Json(200, scale_of(&obj)));
    }
    if t.sub.is_none() && table::wanted(ctx.accept) {
        let tbl = table::table(t.res, &[obj], st.store.rv, ctx.q.get("includeObject"));
        return Ok(Answer::Json(200, tbl));
    }
    Ok(Answer::Json(200, obj))
}

fn check_kind(t: &Target, obj: &Value) -> Result<(), ApiError> {
    let av = obj.get("apiVersion").and_then(Value::as_str);
    let kind = obj.get("kind").and_then(Value::as_str);
    if let Some(av) = av {
        if av != t.res.api_version() {
            return Err(ApiError::bad_request(format!(
                "the API version in the data ({av}) does not match the expected API version ({})",
                t.res.api_version()
            )));
        }
    }
    if let Some(kind) = kind {
        if kind != t.res.kind {
            return Err(ApiError::bad_request(format!(
                "the kind in the data ({kind}) does not match the expected kind ({})",
                t.res.kind
            )));
        }
    }
    Ok(())
}

fn check_name(obj: &Value, name: &str) -> Result<(), ApiError> {
    match obj.pointer("/metadata/name").and_then(Value::as_str) {
        Some(n) if n != name => Err(ApiError::bad_request(format!(
            "the name of the object ({n}) does not match the name on the URL ({name})"
        ))),
        _ => Ok(()),
    }
}

fn check_rv(t: &Target, obj: &Value, current: &Value, name: &str) -> Result<(), ApiError> {
    if let Some(rv) = obj
        .pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
    {
        if !rv.is_empty()
            && Some(rv)
                != current
                    .pointer("/metadata/resourceVersion")
                    .and_then(Value::as_str)
        {
            return Err(ApiError::stale(t.res.group, t.res.plural, name));
        }
    }
    Ok(())
}

fn write_answer(
    ctx: &Ctx<'_>,
    st: &mut State,
    t: &Target,
    key: &Key,
    obj: Value,
    owners: Ownership,
    code: u16,
) -> Result<Answer, ApiError> {
    let opts = WriteOpts {
        dry_run: ctx.q.dry_run(),
    };
    let (stored, ev) = st.store.write(t.res, key, obj, owners, &opts)?;
    ctx.inner.publish(st, ev.into_iter().collect());
    Ok(Answer::Json(code, stored))
}

fn create(ctx: &Ctx<'_>, t: &Target) -> Result<Answer, ApiError> {
    let mut obj = ctx.body_json()?;
    check_kind(t, &obj)?;
    let mut name = obj
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let mut st = ctx.inner.lock();
    if name.is_empty() {
        if let Some(prefix) = obj
            .pointer("/metadata/generateName")
            .and_then(Value::as_str)
        {
            name = format!("{prefix}{:05x}", st.store.rv & 0xfffff);
            obj["metadata"]["name"] = json!(name);
        } else {
            return Err(ApiError::invalid(
                t.res.kind,
                t.res.group,
                "",
                vec![super::status::Cause {
                    reason: "FieldValueRequired",
                    field: "metadata.name".into(),
                    message: "Required value: name or generateName is required".into(),
                }],
            ));
        }
    }
    if let (Some(body_ns), Some(url_ns)) = (
        obj.pointer("/metadata/namespace").and_then(Value::as_str),
        t.ns.as_deref(),
    ) {
        if t.res.namespaced && body_ns != url_ns {
            return Err(ApiError::bad_request(
                "the namespace of the provided object does not match the namespace sent on the request",
            ));
        }
    }
    let key = key_of(t, &name);
    if st.store.objects.contains_key(&key) {
        return Err(ApiError::already_exists(t.res.group, t.res.plural, &name));
    }
    if let Some(m) = obj["metadata"].as_object_mut() {
        m.remove("resourceVersion");
    }
    if let Some(o) = obj.as_object_mut() {
        // Status is the controllers' to write, never the creator's.
        o.remove("status");
    }
    let owners = Ownership::created(&obj, &ctx.manager(), false);
    write_answer(ctx, &mut st, t, &key, obj, owners, 201)
}

fn update(ctx: &Ctx<'_>, t: &Target, name: &str) -> Result<Answer, ApiError> {
    let obj = ctx.body_json()?;
    let key = key_of(t, name);
    let mut st = ctx.inner.lock();
    let current = st
        .store
        .objects
        .get(&key)
        .cloned()
        .ok_or_else(|| ApiError::not_found(t.res.group, t.res.plural, name))?;
    match t.sub.as_deref() {
        Some("scale") => {
            check_rv(t, &obj, &current.value, name)?;
            let replicas = obj.pointer("/spec/replicas").cloned().unwrap_or(json!(0));
            scale_to(ctx, &mut st, t, &key, current, replicas)
        }
        Some(_) => {
            check_rv(t, &obj, &current.value, name)?;
            let status = obj.get("status").cloned().unwrap_or(json!({}));
            status_write(ctx, &mut st, &key, current.value, status)
        }
        None => {
            check_kind(t, &obj)?;
            check_name(&obj, name)?;
            check_rv(t, &obj, &current.value, name)?;
            let mut owners = current.owners.clone();
            owners.updated(&current.value, &obj, &ctx.manager());
            write_answer(ctx, &mut st, t, &key, obj, owners, 200)
        }
    }
}

fn scale_to(
    ctx: &Ctx<'_>,
    st: &mut State,
    t: &Target,
    key: &Key,
    current: super::store::Stored,
    replicas: Value,
) -> Result<Answer, ApiError> {
    if !replicas.is_i64() {
        return Err(ApiError::invalid(
            "Scale",
            "autoscaling",
            &key.name,
            vec![super::status::Cause {
                reason: "FieldValueInvalid",
                field: "spec.replicas".into(),
                message: format!("Invalid value: {replicas}: must be an integer"),
            }],
        ));
    }
    let mut obj = current.value.clone();
    obj["spec"]["replicas"] = replicas;
    let mut owners = current.owners.clone();
    owners.updated(&current.value, &obj, &ctx.manager());
    let opts = WriteOpts {
        dry_run: ctx.q.dry_run(),
    };
    let (stored, ev) = st.store.write(t.res, key, obj, owners, &opts)?;
    ctx.inner.publish(st, ev.into_iter().collect());
    Ok(Answer::Json(200, scale_of(&stored)))
}

fn status_write(
    ctx: &Ctx<'_>,
    st: &mut State,
    key: &Key,
    current: Value,
    status: Value,
) -> Result<Answer, ApiError> {
    if ctx.q.dry_run() {
        let mut v = current;
        v["status"] = status;
        return Ok(Answer::Json(200, v));
    }
    match st.store.write_status(key, status) {
        Some((obj, ev)) => {
            ctx.inner.publish(st, vec![ev]);
            Ok(Answer::Json(200, obj))
        }
        None => Ok(Answer::Json(200, current)),
    }
}

fn patch(ctx: &Ctx<'_>, t: &Target, name: &str) -> Result<Answer, ApiError> {
    let ct = ctx
        .content_type
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_string();
    let key = key_of(t, name);
    match ct.as_str() {
        "application/apply-patch+yaml" => return apply(ctx, t, name, &key),
        "application/merge-patch+json" | "application/strategic-merge-patch+json" => {}
        other => return Err(ApiError::unsupported_media(other)),
    }
    if ctx.q.get("force").is_some() {
        return Err(ApiError::invalid(
            "PatchOptions",
            "meta.k8s.io",
            "",
            vec![super::status::Cause {
                reason: "FieldValueForbidden",
                field: "force".into(),
                message: "Forbidden: may not be specified for non-apply patch".into(),
            }],
        ));
    }
    let p = ctx.body_json()?;
    let mut st = ctx.inner.lock();
    let current = st
        .store
        .objects
        .get(&key)
        .cloned()
        .ok_or_else(|| ApiError::not_found(t.res.group, t.res.plural, name))?;
    check_rv(t, &p, &current.value, name)?;
    match t.sub.as_deref() {
        Some("scale") => {
            let mut scale = scale_of(&current.value);
            merge_patch(&mut scale, &p);
            let replicas = scale.pointer("/spec/replicas").cloned().unwrap_or(json!(0));
            scale_to(ctx, &mut st, t, &key, current, replicas)
        }
        Some(_) => {
            let mut obj = current.value.clone();
            merge_patch(&mut obj, &p);
            let status = obj.get("status").cloned().unwrap_or(json!({}));
            status_write(ctx, &mut st, &key, current.value, status)
        }
        None => {
            let mut obj = current.value.clone();
            merge_patch(&mut obj, &p);
            check_name(&obj, name)?;
            let mut owners = current.owners.clone();
            owners.updated(&current.value, &obj, &ctx.manager());
            write_answer(ctx, &mut st, t, &key, obj, owners, 200)
        }
    }
}

fn apply(ctx: &Ctx<'_>, t: &Target, name: &str, key: &Key) -> Result<Answer, ApiError> {
    let Some(manager) = ctx
        .q
        .get("fieldManager")
        .filter(|m| !m.is_empty())
        .map(str::to_string)
    else {
        return Err(ApiError::invalid(
            "PatchOptions",
            "meta.k8s.io",
            "",
            vec![super::status::Cause {
                reason: "FieldValueRequired",
                field: "fieldManager".into(),
                message: "Required value: is required for apply patch".into(),
            }],
        ));
    };
    if t.sub.is_some() {
        return Err(ApiError::unsupported_media(
            "application/apply-patch+yaml (on a subresource)",
        ));
    }
    let text = std::str::from_utf8(ctx.body)
        .map_err(|_| ApiError::bad_request("the apply body is not UTF-8"))?;
    let config: Value = serde_saphyr::from_str(text)
        .map_err(|e| ApiError::bad_request(format!("error decoding YAML: {e}")))?;
    if !config.is_object() {
        return Err(ApiError::bad_request("the apply body is not an object"));
    }
    for (field, msg) in [
        ("apiVersion", "apiVersion must be set"),
        ("kind", "kind must be set"),
    ] {
        if config
            .get(field)
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
        {
            return Err(ApiError::bad_request(msg));
        }
    }
    check_kind(t, &config)?;
    check_name(&config, name)?;
    let force = ctx.q.flag("force");
    let mut st = ctx.inner.lock();
    match st.store.objects.get(key).cloned() {
        None => {
            let owners = Ownership::created(&config, &manager, true);
            let mut obj = config;
            if let Some(o) = obj.as_object_mut() {
                // Status is the controllers' to write, never the creator's.
                o.remove("status");
            }
            write_answer(ctx, &mut st, t, key, obj, owners, 201)
        }
        Some(current) => {
            check_rv(t, &config, &current.value, name)?;
            let mut owners = current.owners.clone();
            let merged = owners
                .apply(&current.value, &config, &manager, force)
                .map_err(|c| ApiError::apply_conflicts(&c, &t.res.api_version()))?;
            write_answer(ctx, &mut st, t, key, merged, owners, 200)
        }
    }
}

fn delete(ctx: &Ctx<'_>, t: &Target, name: &str) -> Result<Answer, ApiError> {
    let body_dry = serde_json::from_slice::<Value>(ctx.body)
        .ok()
        .and_then(|v| v.get("dryRun").cloned())
        .and_then(|d| d.as_array().map(|a| a.iter().any(|x| x == "All")))
        .unwrap_or(false);
    let mut st = ctx.inner.lock();
    let (answer, events) = st
        .store
        .delete(t.res, &key_of(t, name), ctx.q.dry_run() || body_dry)?;
    ctx.inner.publish(&mut st, events);
    Ok(Answer::Json(200, answer))
}

fn access_review(ctx: &Ctx<'_>) -> Result<Answer, ApiError> {
    let mut review = ctx.body_json()?;
    let attrs = review
        .pointer("/spec/resourceAttributes")
        .cloned()
        .unwrap_or(json!({}));
    let verb = attrs.get("verb").and_then(Value::as_str).unwrap_or("");
    let resource = attrs.get("resource").and_then(Value::as_str).unwrap_or("");
    let st = ctx.inner.lock();
    let denied = st
        .denied
        .iter()
        .any(|(v, r)| (v == verb || v == "*") && (r == resource || r == "*"));
    review["apiVersion"] = json!("authorization.k8s.io/v1");
    review["kind"] = json!("SelfSubjectAccessReview");
    if !review.get("metadata").is_some_and(Value::is_object) {
        review["metadata"] = json!({});
    }
    review["metadata"]["creationTimestamp"] = Value::Null;
    review["status"] = if denied {
        json!({"allowed": false, "denied": true, "reason": format!("denied by the fake apiserver: {verb} {resource}")})
    } else {
        json!({"allowed": true, "reason": "allowed by the fake apiserver"})
    };
    Ok(Answer::Json(201, review))
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
