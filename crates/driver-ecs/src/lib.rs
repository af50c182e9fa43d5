//! shipcore's Amazon ECS driver: one ECS service and target group per revision, traffic
//! weights on an ALB listener, or ECS's native rolling update with its circuit breaker.
//! Built on the official AWS SDK with its retries off; see [`EcsDriver`] and [`EcsConfig`].

#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod config;
mod driver;
pub mod error;
mod health;
pub mod listener;
pub mod names;
mod preflight;
pub mod rolling;
pub mod services;
pub mod taskdef;
mod traffic;
pub mod weights;

pub use config::{
    ConfigError, EcsConfig, EcsConfigBuilder, LaunchType, ListenerRef, Mode, Network,
    RollingConfig, TargetGroupTemplate, TrafficConfig,
};
pub use driver::EcsDriver;
pub use health::DeploymentHealth;
