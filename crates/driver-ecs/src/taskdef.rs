//! Task definitions per revision: the base task definition with the artifact as the image of
//! one container and the revision id as a Docker label. A new task definition revision is
//! registered only when the derived one differs from what the service runs.

use aws_sdk_ecs::types::{ContainerDefinition, TaskDefinition};
use std::collections::HashMap;

/// The Docker label that names the shipcore revision a task definition runs.
pub const REVISION_LABEL: &str = "shipcore.revision";

/// The registrable part of a task definition (what `RegisterTaskDefinition` takes).
#[derive(Debug, Clone, PartialEq)]
pub struct TaskSpec {
    /// Family.
    pub family: String,
    /// Containers.
    pub containers: Vec<ContainerDefinition>,
    /// Everything else that registration copies, as described.
    pub rest: TaskDefinition,
}

/// The registrable fields of a described task definition, with the descriptive ones
/// (ARN, revision, status, registration times) left out so two specs compare by content.
pub fn spec_of(td: &TaskDefinition) -> TaskSpec {
    let mut rest = td.clone();
    rest.task_definition_arn = None;
    rest.revision = 0;
    rest.status = None;
    rest.registered_at = None;
    rest.registered_by = None;
    rest.deregistered_at = None;
    rest.delete_requested_at = None;
    rest.requires_attributes = None;
    rest.compatibilities = None;
    rest.container_definitions = None;
    rest.family = None;
    TaskSpec {
        family: td.family.clone().unwrap_or_default(),
        containers: td.container_definitions.clone().unwrap_or_default(),
        rest,
    }
}

/// `base` with `container`'s image set to `image` and the [`REVISION_LABEL`] set to
/// `revision`.
///
/// # Errors
/// The base has no container of that name (the message lists the ones it has).
pub fn derive(
    base: &TaskDefinition,
    container: &str,
    image: &str,
    revision: &str,
) -> Result<TaskSpec, String> {
    let mut spec = spec_of(base);
    let names: Vec<String> = spec
        .containers
        .iter()
        .filter_map(|c| c.name.clone())
        .collect();
    let Some(c) = spec
        .containers
        .iter_mut()
        .find(|c| c.name.as_deref() == Some(container))
    else {
        return Err(format!(
            "the task definition {} has no container {container:?} (it has {names:?})",
            base.family.as_deref().unwrap_or("?")
        ));
    };
    c.image = Some(image.to_string());
    let labels = c.docker_labels.get_or_insert_with(HashMap::new);
    labels.insert(REVISION_LABEL.to_string(), revision.to_string());
    Ok(spec)
}

/// True when `current` (what a service runs) differs from `wanted`: then a new task
/// definition revision must be registered.
pub fn needs_register(current: Option<&TaskDefinition>, wanted: &TaskSpec) -> bool {
    current.is_none_or(|c| &spec_of(c) != wanted)
}

/// The shipcore revision a task definition runs (its [`REVISION_LABEL`]).
pub fn revision_of(td: &TaskDefinition) -> Option<String> {
    td.container_definitions()
        .iter()
        .find_map(|c| c.docker_labels.as_ref()?.get(REVISION_LABEL).cloned())
}

/// The image `container` runs in `td`.
pub fn image_of<'a>(td: &'a TaskDefinition, container: &str) -> Option<&'a str> {
    td.container_definitions()
        .iter()
        .find(|c| c.name.as_deref() == Some(container))
        .and_then(|c| c.image.as_deref())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> TaskDefinition {
        TaskDefinition::builder()
            .family("web")
            .task_definition_arn("arn:aws:ecs:r:1:task-definition/web:1")
            .revision(1)
            .cpu("256")
            .memory("512")
            .container_definitions(
                ContainerDefinition::builder()
                    .name("app")
                    .image("web:1")
                    .memory(256)
                    .build(),
            )
            .container_definitions(
                ContainerDefinition::builder()
                    .name("sidecar")
                    .image("envoy")
                    .memory(64)
                    .build(),
            )
            .build()
    }

    /// What ECS describes after registering `spec` as revision `n`.
    fn registered(spec: &TaskSpec, n: i32) -> TaskDefinition {
        let mut td = spec.rest.clone();
        td.family = Some(spec.family.clone());
        td.container_definitions = Some(spec.containers.clone());
        td.revision = n;
        td.task_definition_arn = Some(format!("arn:aws:ecs:r:1:task-definition/web:{n}"));
        td
    }

    #[test]
    fn derive_replaces_only_the_named_image_and_labels_the_revision() {
        let spec = derive(&base(), "app", "web:2", "v2").unwrap();
        let td = registered(&spec, 2);
        assert_eq!(image_of(&td, "app"), Some("web:2"));
        assert_eq!(image_of(&td, "sidecar"), Some("envoy"));
        assert_eq!(revision_of(&td).as_deref(), Some("v2"));
        assert_eq!(td.cpu.as_deref(), Some("256"));
        let e = derive(&base(), "missing", "web:2", "v2").unwrap_err();
        assert!(e.contains("\"missing\"") && e.contains("sidecar"), "{e}");
    }

    #[test]
    fn register_only_when_something_changed() {
        let spec = derive(&base(), "app", "web:2", "v2").unwrap();
        assert!(needs_register(None, &spec));
        assert!(needs_register(Some(&base()), &spec), "image differs");
        let current = registered(&spec, 7);
        assert!(
            !needs_register(Some(&current), &spec),
            "same content, other revision number"
        );
        let mut more_cpu = base();
        more_cpu.cpu = Some("512".into());
        let spec2 = derive(&more_cpu, "app", "web:2", "v2").unwrap();
        assert!(needs_register(Some(&current), &spec2), "the base changed");
        let relabelled = derive(&base(), "app", "web:2", "v3").unwrap();
        assert!(
            needs_register(Some(&current), &relabelled),
            "another revision id"
        );
    }
}
