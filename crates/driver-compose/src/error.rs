//! How failures of the compose CLI, the engine API and the router become a classified
//! [`DriverError`]: transient (retry may help) or permanent, always keeping the platform's
//! own message (the CLI's stderr, the engine's JSON message, HAProxy's answer).

use shipcore::driver::{DriverError, ErrorKind};

/// Messages about the input itself (compose file, service, flags): permanent even when they
/// quote a field such as `healthcheck.timeout`.
const INVALID_INPUT: &[&str] = &[
    "no such service",
    "no configuration file provided",
    "invalid compose project",
    "yaml:",
    "additional properties",
    "additional property",
    "is not allowed",
    "must be a",
    "validating ",
    "invalid reference format",
    "unknown flag",
    "unknown shorthand flag",
];

/// Messages that say the platform was busy or unreachable: retry with backoff.
const TRANSIENT: &[&str] = &[
    "connection refused",
    "cannot connect to the docker daemon",
    "is the docker daemon running",
    "connection reset",
    "broken pipe",
    "context deadline exceeded",
    "i/o timeout",
    "timed out",
    "temporarily unavailable",
    "try again",
    "resource busy",
    "is already in use",
    "conflict",
    "too many requests",
    "service unavailable",
    "unexpected eof",
    ": eof",
];

/// Other messages that retrying will not fix: missing images, permissions, files.
const PERMANENT: &[&str] = &[
    "no such image",
    "image not known",
    "failed to find image",
    "pull access denied",
    "manifest unknown",
    "repository does not exist",
    "permission denied",
    "no such file or directory",
    "unsupported",
];

/// Classifies a platform message: problems with the input first (permanent), then signs of
/// a busy or unreachable platform (transient), then other known permanent failures.
/// Unknown messages are transient, so the engine's bounded retries decide.
pub fn classify(message: &str) -> ErrorKind {
    let m = message.to_ascii_lowercase();
    let any = |list: &[&str]| list.iter().any(|p| m.contains(p));
    if any(INVALID_INPUT) {
        ErrorKind::Permanent
    } else if any(TRANSIENT) {
        ErrorKind::Transient
    } else if any(PERMANENT) {
        ErrorKind::Permanent
    } else {
        ErrorKind::Transient
    }
}

/// A [`DriverError`] whose kind comes from [`classify`].
pub fn classified(operation: impl Into<String>, message: impl Into<String>) -> DriverError {
    let message = message.into();
    DriverError {
        kind: classify(&message),
        operation: operation.into(),
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_cli_messages_are_classified() {
        let permanent = [
            "no such service: web-v3",
            "service \"web\" refers to undefined network front: invalid compose project",
            "open /tmp/x/compose.yaml: no such file or directory",
            "yaml: line 3: did not find expected key",
            "validating /tmp/c.yaml: services.web additional properties 'imagee' not allowed",
            "Error response from daemon: failed to find image nosuch:1: docker.io/library/nosuch:1: No such image",
            "pull access denied for nosuch, repository does not exist",
            "services.web.healthcheck.timeout must be a string",
        ];
        for m in permanent {
            assert_eq!(classify(m), ErrorKind::Permanent, "{m}");
        }
        let transient = [
            "Cannot connect to the Docker daemon at unix:///tmp/none.sock. Is the docker daemon running?",
            "dial unix /tmp/p.sock: connect: connection refused",
            "Error response from daemon: Conflict. The container name \"/x\" is already in use",
            "context deadline exceeded",
            "something nobody has seen before",
        ];
        for m in transient {
            assert_eq!(classify(m), ErrorKind::Transient, "{m}");
        }
    }

    #[test]
    fn classified_keeps_the_message() {
        let e = classified("deploy web-v2 x3", "no such service: web-v2");
        assert_eq!(e.kind, ErrorKind::Permanent);
        assert_eq!(e.operation, "deploy web-v2 x3");
        assert!(e.to_string().contains("no such service: web-v2"));
    }
}

#[cfg(test)]
mod doc_examples {
    use super::classify;

    #[test]
    fn classify_tells_input_problems_from_a_busy_engine() {
        use shipcore::driver::ErrorKind;
        assert_eq!(classify("no such service: web-v9"), ErrorKind::Permanent);
        assert_eq!(
            classify("dial unix /x/podman.sock: connect: connection refused"),
            ErrorKind::Transient
        );
    }
}
