//! What a driver can do ([`Capabilities`]): plans are checked against it before a rollout
//! starts, so a plan no driver could run is refused up front.

use serde::{Deserialize, Serialize};

/// What a driver can do. Plans are checked against this before a rollout starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Capabilities {
    /// Can split traffic by percentage between revisions (Gateway API, ALB, HAProxy).
    pub weighted_traffic: bool,
    /// Can run two revisions of a service side by side.
    pub side_by_side: bool,
    /// Has a platform-native rolling update (Kubernetes RollingUpdate, ECS min/max percent).
    pub native_rolling: bool,
    /// Manages feature-flag percentages.
    pub feature_flags: bool,
    /// Can expose a revision on a preview route without production traffic (blue-green).
    pub preview: bool,
}

impl Capabilities {
    /// Everything: what the simulator offers by default.
    pub const ALL: Capabilities = Capabilities {
        weighted_traffic: true,
        side_by_side: true,
        native_rolling: true,
        feature_flags: true,
        preview: true,
    };
}
