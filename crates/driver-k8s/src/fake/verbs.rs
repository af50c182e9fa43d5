//! The writing verbs on resource paths: create, update (PUT), patch (merge, strategic
//! merge, server-side apply), delete, the `scale` and `status` subresources, and
//! SelfSubjectAccessReviews.

use serde_json::{json, Value};

use super::apply::{merge_patch, Ownership};
use super::request::{key_of, Answer, Ctx, Target};
use super::status::{ApiError, Cause};
use super::store::{Key, Stored, WriteOpts};
use super::State;

pub(super) fn scale_of(deploy: &Value) -> Value {
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

pub(super) fn create(ctx: &Ctx<'_>, t: &Target) -> Result<Answer, ApiError> {
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
                vec![Cause {
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

pub(super) fn update(ctx: &Ctx<'_>, t: &Target, name: &str) -> Result<Answer, ApiError> {
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
    current: Stored,
    replicas: Value,
) -> Result<Answer, ApiError> {
    if !replicas.is_i64() {
        return Err(ApiError::invalid(
            "Scale",
            "autoscaling",
            &key.name,
            vec![Cause {
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

pub(super) fn patch(ctx: &Ctx<'_>, t: &Target, name: &str) -> Result<Answer, ApiError> {
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
            vec![Cause {
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
            vec![Cause {
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

pub(super) fn delete(ctx: &Ctx<'_>, t: &Target, name: &str) -> Result<Answer, ApiError> {
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

pub(super) fn access_review(ctx: &Ctx<'_>) -> Result<Answer, ApiError> {
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
