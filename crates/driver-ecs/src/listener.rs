//! The ALB side: per-revision target groups, the weighted forward action of the production
//! listener (or rule) and the test listener, and target health. The driver owns those
//! actions: a forward to revision target groups, or a fixed 503 when none serves.

use crate::config::{ListenerRef, TargetGroupTemplate};
use crate::error::sdk_error;
use crate::weights::check_forward;
use aws_sdk_elasticloadbalancingv2::types::{
    Action, ActionTypeEnum, FixedResponseActionConfig, ForwardActionConfig, ProtocolEnum, Tag,
    TargetGroupTuple, TargetHealthStateEnum, TargetTypeEnum,
};
use aws_sdk_elasticloadbalancingv2::Client;
use shipcore::driver::DriverError;
use std::time::Duration;

/// The target groups a forward action sends to, with their raw weights (`[]` for any other
/// action). A plain `targetGroupArn` forward counts as weight 1.
pub fn forward_groups(actions: &[Action]) -> Vec<(String, i32)> {
    let Some(a) = actions
        .iter()
        .find(|a| a.r#type() == Some(&ActionTypeEnum::Forward))
    else {
        return Vec::new();
    };
    if let Some(fc) = a.forward_config() {
        if !fc.target_groups().is_empty() {
            return fc
                .target_groups()
                .iter()
                .filter_map(|t| Some((t.target_group_arn()?.to_string(), t.weight().unwrap_or(1))))
                .collect();
        }
    }
    a.target_group_arn()
        .map(|arn| vec![(arn.to_string(), 1)])
        .unwrap_or_default()
}

/// A forward to `groups` (ARN, weight), or a fixed 503 when `groups` is empty.
///
/// # Errors
/// Permanent when ALB's limits are broken (checked before calling).
pub fn forward_action(groups: &[(String, i32)]) -> Result<Action, DriverError> {
    if groups.is_empty() {
        return Ok(Action::builder()
            .r#type(ActionTypeEnum::FixedResponse)
            .fixed_response_config(
                FixedResponseActionConfig::builder()
                    .status_code("503")
                    .content_type("text/plain")
                    .message_body("no revision serves (shipcore)")
                    .build(),
            )
            .build());
    }
    check_forward(groups).map_err(|m| DriverError::permanent("route", m))?;
    let mut fc = ForwardActionConfig::builder();
    for (arn, w) in groups {
        fc = fc.target_groups(
            TargetGroupTuple::builder()
                .target_group_arn(arn)
                .weight(*w)
                .build(),
        );
    }
    Ok(Action::builder()
        .r#type(ActionTypeEnum::Forward)
        .forward_config(fc.build())
        .build())
}

/// The actions of a listener's default action or a rule.
pub async fn read_actions(elb: &Client, at: &ListenerRef) -> Result<Vec<Action>, DriverError> {
    match at {
        ListenerRef::Listener(arn) => {
            let out = elb
                .describe_listeners()
                .listener_arns(arn)
                .send()
                .await
                .map_err(|e| sdk_error("describe listener", &e))?;
            let l = out.listeners().first().ok_or_else(|| {
                DriverError::permanent("describe listener", format!("listener {arn} not found"))
            })?;
            Ok(l.default_actions().to_vec())
        }
        ListenerRef::Rule(arn) => {
            let out = elb
                .describe_rules()
                .rule_arns(arn)
                .send()
                .await
                .map_err(|e| sdk_error("describe rule", &e))?;
            let r = out.rules().first().ok_or_else(|| {
                DriverError::permanent("describe rule", format!("rule {arn} not found"))
            })?;
            Ok(r.actions().to_vec())
        }
    }
}

/// Replaces the listener's default action (or the rule's actions) with `action`.
pub async fn write_action(
    elb: &Client,
    at: &ListenerRef,
    action: Action,
) -> Result<(), DriverError> {
    tracing::debug!(listener = at.arn(), ?action, "modify listener");
    match at {
        ListenerRef::Listener(arn) => elb
            .modify_listener()
            .listener_arn(arn)
            .default_actions(action)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| sdk_error("modify listener", &e)),
        ListenerRef::Rule(arn) => elb
            .modify_rule()
            .rule_arn(arn)
            .actions(action)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| sdk_error("modify rule", &e)),
    }
}

/// The ARN of target group `name`, if it exists.
pub async fn find_target_group(elb: &Client, name: &str) -> Result<Option<String>, DriverError> {
    match elb.describe_target_groups().names(name).send().await {
        Ok(out) => Ok(out
            .target_groups()
            .first()
            .and_then(|t| t.target_group_arn())
            .map(str::to_string)),
        Err(e) => {
            let err = sdk_error("describe target group", &e);
            if err.message.contains("TargetGroupNotFound") {
                Ok(None)
            } else {
                Err(err)
            }
        }
    }
}

/// The tags of a target group, as (key, value).
pub async fn target_group_tags(
    elb: &Client,
    arn: &str,
) -> Result<Vec<(String, String)>, DriverError> {
    let out = elb
        .describe_tags()
        .resource_arns(arn)
        .send()
        .await
        .map_err(|e| sdk_error("describe target group tags", &e))?;
    Ok(out
        .tag_descriptions()
        .iter()
        .filter(|d| d.resource_arn() == Some(arn))
        .flat_map(|d| d.tags())
        .filter_map(|t| Some((t.key()?.to_string(), t.value().unwrap_or("").to_string())))
        .collect())
}

/// Refuses target group `name` unless it carries every tag of `expected` with the same
/// value (the driver creates its groups with those tags in the same call, so a group
/// without them is not the driver's): a permanent error naming the group and the tag that
/// differs.
pub fn check_target_group_owner(
    name: &str,
    have: &[(String, String)],
    expected: &[(&str, &str)],
    operation: &str,
) -> Result<(), DriverError> {
    for (k, v) in expected {
        let found = have
            .iter()
            .find(|(hk, _)| hk == k)
            .map(|(_, hv)| hv.as_str());
        if found != Some(*v) {
            let owner = match found {
                Some(other) => format!("its {k} tag is {other:?}"),
                None => format!("it has no {k} tag"),
            };
            return Err(DriverError::permanent(
                operation,
                format!(
                    "the target group {name} exists but is not this revision's ({owner}, expected {v:?}): \
                     refusing to reuse another target's group; delete or rename it"
                ),
            ));
        }
    }
    Ok(())
}

/// Creates target group `name` from the template (IP targets, as `awsvpc` tasks need),
/// tagged with `tags`; returns its ARN. An existing one is reused only when it carries
/// the same tags (the same target and revision, e.g. after a crash between creating the
/// group and the service); any other is a permanent error naming it.
pub async fn ensure_target_group(
    elb: &Client,
    name: &str,
    t: &TargetGroupTemplate,
    tags: &[(&str, &str)],
) -> Result<String, DriverError> {
    if let Some(arn) = find_target_group(elb, name).await? {
        let have = target_group_tags(elb, &arn).await?;
        check_target_group_owner(name, &have, tags, "create target group")?;
        return Ok(arn);
    }
    let mut req = elb
        .create_target_group()
        .name(name)
        .protocol(ProtocolEnum::from(t.protocol.as_str()))
        .port(i32::from(t.port))
        .vpc_id(&t.vpc_id)
        .target_type(TargetTypeEnum::Ip)
        .health_check_path(&t.health_check_path)
        .health_check_interval_seconds(
            i32::try_from(t.health_check_interval.as_secs()).unwrap_or(30),
        )
        .healthy_threshold_count(i32::try_from(t.healthy_threshold).unwrap_or(2));
    for (k, v) in tags {
        req = req.tags(Tag::builder().key(*k).value(*v).build());
    }
    let out = req
        .send()
        .await
        .map_err(|e| sdk_error("create target group", &e))?;
    out.target_groups()
        .first()
        .and_then(|g| g.target_group_arn())
        .map(str::to_string)
        .ok_or_else(|| {
            DriverError::transient(
                "create target group",
                format!("{name}: no ARN in the answer"),
            )
        })
}

/// Deletes a target group; one already gone is success.
pub async fn delete_target_group(elb: &Client, arn: &str) -> Result<(), DriverError> {
    match elb.delete_target_group().target_group_arn(arn).send().await {
        Ok(_) => Ok(()),
        Err(e) => {
            let err = sdk_error("delete target group", &e);
            if err.message.contains("TargetGroupNotFound") {
                Ok(())
            } else {
                Err(err)
            }
        }
    }
}

/// Healthy targets in a target group.
pub async fn healthy_targets(elb: &Client, arn: &str) -> Result<u32, DriverError> {
    let out = elb
        .describe_target_health()
        .target_group_arn(arn)
        .send()
        .await
        .map_err(|e| sdk_error("describe target health", &e))?;
    let n = out
        .target_health_descriptions()
        .iter()
        .filter(|d| {
            d.target_health().and_then(|h| h.state()) == Some(&TargetHealthStateEnum::Healthy)
        })
        .count();
    Ok(u32::try_from(n).unwrap_or(u32::MAX))
}

/// The target group's `deregistration_delay.timeout_seconds` (ALB's default, 300 s, when
/// not set).
pub async fn deregistration_delay(elb: &Client, arn: &str) -> Result<Duration, DriverError> {
    let out = elb
        .describe_target_group_attributes()
        .target_group_arn(arn)
        .send()
        .await
        .map_err(|e| sdk_error("describe target group attributes", &e))?;
    let secs = out
        .attributes()
        .iter()
        .find(|a| a.key() == Some("deregistration_delay.timeout_seconds"))
        .and_then(|a| a.value()?.parse::<u64>().ok())
        .unwrap_or(300);
    Ok(Duration::from_secs(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forward_round_trip_and_empty_is_a_fixed_503() {
        let groups = vec![("arn:a".to_string(), 90), ("arn:b".to_string(), 10)];
        let a = forward_action(&groups).unwrap();
        assert_eq!(forward_groups(&[a]), groups);
        let none = forward_action(&[]).unwrap();
        assert_eq!(none.r#type(), Some(&ActionTypeEnum::FixedResponse));
        assert!(forward_groups(&[none]).is_empty());
        let six: Vec<(String, i32)> = (0..6).map(|i| (format!("arn:{i}"), 1)).collect();
        assert!(!forward_action(&six).unwrap_err().is_transient());
    }

    #[test]
    fn a_target_group_of_another_target_or_revision_is_refused() {
        let tags = |t: &str, r: &str| {
            vec![
                ("shipcore:target".to_string(), t.to_string()),
                ("shipcore:revision".to_string(), r.to_string()),
            ]
        };
        let want = [("shipcore:target", "web/prod"), ("shipcore:revision", "v2")];
        assert!(check_target_group_owner("tg", &tags("web/prod", "v2"), &want, "op").is_ok());
        for (have, needle) in [
            (tags("web/staging", "v2"), "web/staging"),
            (tags("web/prod", "v3"), "v3"),
            (Vec::new(), "no shipcore:target tag"),
        ] {
            let e =
                check_target_group_owner("web-prod-v2-0123abcd", &have, &want, "op").unwrap_err();
            assert!(!e.is_transient(), "{e}");
            assert!(
                e.message.contains("web-prod-v2-0123abcd") && e.message.contains(needle),
                "{e}"
            );
        }
    }
}
