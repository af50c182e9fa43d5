//! How a revision maps onto compose: its service name (`<service>-<revision>`), the labels
//! that tie its containers back to it, and the checks on revision ids and image references
//! that keep those names and labels unambiguous.

use shipcore::driver::DriverError;
use shipcore::model::RevisionId;

/// Label holding the revision id on every container the driver creates.
pub const LABEL_REVISION: &str = "io.shipcore.revision";
/// Label holding the base service name.
pub const LABEL_SERVICE: &str = "io.shipcore.service";
/// Label holding the revision's artifact (image reference).
pub const LABEL_ARTIFACT: &str = "io.shipcore.artifact";

/// True for a name made of letters, digits, `.`, `-` and `_`, starting with a letter or
/// digit, at most 63 characters: safe as a compose service name, in a container name and
/// in a label value.
pub fn is_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-' || c == '_')
}

/// The compose service that runs `revision` of `service`: `web` + `v2` → `web-v2`.
pub fn service_name(service: &str, revision: &RevisionId) -> String {
    format!("{service}-{}", revision.as_str())
}

/// Checks a revision id; the error names the field and says what is allowed.
pub fn check_revision(operation: &str, revision: &RevisionId) -> Result<(), DriverError> {
    if is_name(revision.as_str()) {
        Ok(())
    } else {
        Err(DriverError::permanent(
            operation,
            format!(
                "revision id {:?} cannot name a compose service: use letters, digits, '.', '-', '_' (at most 63, starting with a letter or digit)",
                revision.as_str()
            ),
        ))
    }
}

/// Checks an image reference's characters (the engine checks the rest).
pub fn check_artifact(operation: &str, artifact: &str) -> Result<(), DriverError> {
    let ok = !artifact.is_empty()
        && artifact
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "./:@_-".contains(c));
    if ok {
        Ok(())
    } else {
        Err(DriverError::permanent(
            operation,
            format!("revision.artifact {artifact:?} is not an image reference"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(is_name("web-2.0.0"));
        assert!(is_name("v1_beta"));
        assert!(!is_name(""));
        assert!(!is_name("-v1"));
        assert!(!is_name("v 1"));
        assert!(!is_name("v1,tier=x"));
        assert!(!is_name(&"a".repeat(64)));
        assert_eq!(service_name("web", &RevisionId::new("v2")), "web-v2");
    }

    #[test]
    fn bad_ids_and_artifacts_are_permanent_errors_naming_the_field() {
        let e = check_revision("deploy", &RevisionId::new("v1,x=y")).unwrap_err();
        assert!(!e.is_transient());
        assert!(e.message.contains("revision id \"v1,x=y\""), "{e}");
        let e = check_artifact("deploy", "web 2").unwrap_err();
        assert!(e.message.contains("revision.artifact"), "{e}");
        assert!(check_artifact("deploy", "localhost/web:2.0.0").is_ok());
        assert!(check_artifact("deploy", "reg.io/web@sha256:abc").is_ok());
    }
}
