//! The ECS side: finding a target's services by their tags, describing them, task
//! definitions (cached: a task definition revision never changes) and deleting a service.

use crate::error::sdk_error;
use aws_sdk_ecs::types::{Service, ServiceField, TaskDefinition};
use aws_sdk_ecs::Client;
use shipcore::driver::DriverError;
use std::collections::HashMap;
use std::sync::Mutex;

/// Tag naming the shipcore target (`<service>/<environment>`) a service belongs to.
pub const TARGET_TAG: &str = "shipcore:target";
/// Tag naming the full shipcore revision id.
pub const REVISION_TAG: &str = "shipcore:revision";
/// Tag on the native rolling service: the revision last asked for.
pub const REQUESTED_TAG: &str = "shipcore:requested-revision";

/// A tag's value on a service.
pub fn tag<'a>(s: &'a Service, key: &str) -> Option<&'a str> {
    s.tags()
        .iter()
        .find(|t| t.key() == Some(key))
        .and_then(|t| t.value())
}

/// True for a service ECS still runs (not `INACTIVE` or `DRAINING` after a delete).
pub fn is_active(s: &Service) -> bool {
    s.status() == Some("ACTIVE")
}

/// Refuses a service another target owns (its `shipcore:target` tag names another
/// `<service>/<environment>`): two environments sharing a cluster must not update each
/// other's services. An untagged service is adopted.
pub fn check_owner(s: &Service, target: &str, operation: &str) -> Result<(), DriverError> {
    match tag(s, TARGET_TAG) {
        Some(owner) if owner != target => Err(DriverError::permanent(
            operation,
            format!(
                "the ECS service {} belongs to {owner}, not {target}",
                s.service_name().unwrap_or("?")
            ),
        )),
        _ => Ok(()),
    }
}

/// Describes services by name (at most 10), tags included.
pub async fn describe(
    ecs: &Client,
    cluster: &str,
    names: &[String],
) -> Result<Vec<Service>, DriverError> {
    if names.is_empty() {
        return Ok(Vec::new());
    }
    let out = ecs
        .describe_services()
        .cluster(cluster)
        .set_services(Some(names.to_vec()))
        .include(ServiceField::Tags)
        .send()
        .await
        .map_err(|e| sdk_error("describe services", &e))?;
    Ok(out.services().to_vec())
}

/// The active service called `name`, if any.
pub async fn find(ecs: &Client, cluster: &str, name: &str) -> Result<Option<Service>, DriverError> {
    Ok(describe(ecs, cluster, &[name.to_string()])
        .await?
        .into_iter()
        .find(is_active))
}

/// Every active service of the cluster tagged with `target`, in name order. Pages through
/// `ListServices` and describes 10 at a time.
pub async fn of_target(
    ecs: &Client,
    cluster: &str,
    target: &str,
) -> Result<Vec<Service>, DriverError> {
    let mut arns: Vec<String> = Vec::new();
    let mut next: Option<String> = None;
    for _ in 0..100 {
        let out = ecs
            .list_services()
            .cluster(cluster)
            .max_results(100)
            .set_next_token(next.clone())
            .send()
            .await
            .map_err(|e| sdk_error("list services", &e))?;
        arns.extend(out.service_arns().iter().cloned());
        next = out.next_token().map(str::to_string);
        if next.is_none() {
            break;
        }
    }
    let mut found = Vec::new();
    for chunk in arns.chunks(10) {
        for s in describe(ecs, cluster, chunk).await? {
            if is_active(&s) && tag(&s, TARGET_TAG) == Some(target) {
                found.push(s);
            }
        }
    }
    found.sort_by(|a, b| a.service_name().cmp(&b.service_name()));
    Ok(found)
}

/// Task definitions by ARN, cached.
#[derive(Debug, Default)]
pub struct TaskDefinitions {
    cache: Mutex<HashMap<String, TaskDefinition>>,
}

impl TaskDefinitions {
    /// Describes `name` (family, `family:rev` or ARN). Only full ARNs (`...:<revision>`) are
    /// cached; a family name resolves to its latest revision each time.
    pub async fn get(&self, ecs: &Client, name: &str) -> Result<TaskDefinition, DriverError> {
        if let Some(td) = self.cache.lock().ok().and_then(|c| c.get(name).cloned()) {
            return Ok(td);
        }
        let out = ecs
            .describe_task_definition()
            .task_definition(name)
            .send()
            .await
            .map_err(|e| sdk_error("describe task definition", &e))?;
        let td = out.task_definition().cloned().ok_or_else(|| {
            DriverError::permanent("describe task definition", format!("{name}: not found"))
        })?;
        if name.starts_with("arn:") {
            if let Ok(mut c) = self.cache.lock() {
                c.insert(name.to_string(), td.clone());
            }
        }
        Ok(td)
    }
}

/// Scales a service to 0 and deletes it; one that is gone or inactive is success.
pub async fn delete(ecs: &Client, cluster: &str, name: &str) -> Result<(), DriverError> {
    let gone = |e: &DriverError| {
        ["ServiceNotFoundException", "ServiceNotActiveException"]
            .iter()
            .any(|c| e.message.contains(c))
    };
    if let Err(e) = ecs
        .update_service()
        .cluster(cluster)
        .service(name)
        .desired_count(0)
        .send()
        .await
    {
        let err = sdk_error("scale to 0", &e);
        if gone(&err) {
            return Ok(());
        }
        return Err(err);
    }
    match ecs
        .delete_service()
        .cluster(cluster)
        .service(name)
        .send()
        .await
    {
        Ok(_) => Ok(()),
        Err(e) => {
            let err = sdk_error("delete service", &e);
            if gone(&err) {
                Ok(())
            } else {
                Err(err)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_ecs::types::Tag;

    #[test]
    fn a_service_of_another_target_is_refused() {
        let owned = |t: &str| {
            Service::builder()
                .service_name("web-v2")
                .tags(Tag::builder().key(TARGET_TAG).value(t).build())
                .build()
        };
        assert!(check_owner(&owned("web/prod"), "web/prod", "deploy").is_ok());
        let e = check_owner(&owned("web/staging"), "web/prod", "deploy").unwrap_err();
        assert!(
            !e.is_transient() && e.message.contains("web/staging"),
            "{e}"
        );
        assert!(check_owner(&Service::builder().build(), "web/prod", "deploy").is_ok());
    }
}
