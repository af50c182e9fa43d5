//! shipcore's Amazon ECS driver: one ECS service and target group per revision, traffic
//! weights on an ALB listener, or ECS's native rolling update with its circuit breaker.
