//! AWS SDK failures as classified [`DriverError`]s: throttling, server errors, 5xx, timeouts
//! and dispatch failures are transient; client errors, invalid parameters, access denied and
//! operations the endpoint does not implement (moto's HTML 500) are permanent.

use aws_sdk_ecs::error::{ProvideErrorMetadata, SdkError};
use shipcore::driver::{DriverError, ErrorKind};

/// Error codes retrying may fix.
const TRANSIENT_CODES: &[&str] = &[
    "ThrottlingException",
    "Throttling",
    "ThrottledException",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "ServerException",
    "ServiceUnavailable",
    "ServiceUnavailableException",
    "InternalFailure",
    "InternalError",
    "ResourceInUse",
    "ResourceInUseException",
    "UpdateInProgressException",
];

/// What is known about one failed call, without the SDK's types (so it is testable).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Failure {
    /// The AWS error code (`ThrottlingException`), when the response carried one.
    pub code: Option<String>,
    /// The HTTP status, when there was a response.
    pub status: Option<u16>,
    /// The response body was HTML: the endpoint does not implement the operation.
    pub html: bool,
    /// No response at all: timeout or connection failure.
    pub no_response: bool,
    /// The message.
    pub message: String,
}

/// Classifies one failure; the message says what happened (and, for an HTML 500, that the
/// endpoint does not implement the operation).
pub fn classify(f: &Failure) -> (ErrorKind, String) {
    if f.no_response {
        return (ErrorKind::Transient, f.message.clone());
    }
    if f.html {
        return (
            ErrorKind::Permanent,
            format!(
                "the endpoint answered HTTP {} with an HTML page: it does not implement this operation ({})",
                f.status.unwrap_or(500),
                f.message
            ),
        );
    }
    let msg = match &f.code {
        Some(c) => format!("{c}: {}", f.message),
        None => f.message.clone(),
    };
    if let Some(code) = f.code.as_deref() {
        if TRANSIENT_CODES.contains(&code) {
            return (ErrorKind::Transient, msg);
        }
        // ClientException, InvalidParameterException, AccessDenied(Exception),
        // UnauthorizedOperation, ValidationError, *NotFound...: the request is wrong.
        return (ErrorKind::Permanent, msg);
    }
    match f.status {
        Some(s) if s == 429 || s >= 500 => (ErrorKind::Transient, msg),
        Some(s) if (400..500).contains(&s) => (ErrorKind::Permanent, msg),
        _ => (ErrorKind::Transient, msg),
    }
}

/// An SDK error as a classified [`DriverError`] for `operation`.
pub fn sdk_error<E>(operation: &str, e: &SdkError<E>) -> DriverError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let mut f = Failure::default();
    match e {
        SdkError::TimeoutError(_) => {
            f.no_response = true;
            f.message = "the call timed out".into();
        }
        SdkError::DispatchFailure(d) => {
            f.no_response = true;
            f.message = format!("the request was not delivered: {d:?}");
        }
        SdkError::ConstructionFailure(_) => {
            return DriverError::permanent(
                operation,
                format!(
                    "the request could not be built: {}",
                    aws_sdk_ecs::error::DisplayErrorContext(e)
                ),
            )
        }
        _ => {
            f.code = e.code().map(str::to_string);
            f.message = e
                .message()
                .map(str::to_string)
                .unwrap_or_else(|| aws_sdk_ecs::error::DisplayErrorContext(e).to_string());
            if let Some(raw) = e.raw_response() {
                f.status = Some(raw.status().as_u16());
                let head: Vec<u8> = raw
                    .body()
                    .bytes()
                    .map(|b| b.iter().take(512).copied().collect())
                    .unwrap_or_default();
                let text = String::from_utf8_lossy(&head).to_ascii_lowercase();
                f.html = text.contains("<!doctype html") || text.contains("<html");
            }
        }
    }
    let (kind, message) = classify(&f);
    DriverError {
        kind,
        operation: operation.to_string(),
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn coded(code: &str, status: u16) -> Failure {
        Failure {
            code: Some(code.into()),
            status: Some(status),
            message: "m".into(),
            ..Failure::default()
        }
    }

    #[test]
    fn codes_and_statuses_are_classified() {
        for c in ["ThrottlingException", "ServerException"] {
            assert_eq!(classify(&coded(c, 400)).0, ErrorKind::Transient, "{c}");
        }
        for c in [
            "ClientException",
            "InvalidParameterException",
            "AccessDeniedException",
            "AccessDenied",
            "ServiceNotActiveException",
        ] {
            assert_eq!(classify(&coded(c, 400)).0, ErrorKind::Permanent, "{c}");
        }
        let status = |s| Failure {
            status: Some(s),
            ..Failure::default()
        };
        assert_eq!(classify(&status(503)).0, ErrorKind::Transient);
        assert_eq!(classify(&status(429)).0, ErrorKind::Transient);
        assert_eq!(classify(&status(403)).0, ErrorKind::Permanent);
        let timeout = Failure {
            no_response: true,
            ..Failure::default()
        };
        assert_eq!(classify(&timeout).0, ErrorKind::Transient);
    }

    #[test]
    fn an_html_500_is_an_unimplemented_operation() {
        let f = Failure {
            status: Some(500),
            html: true,
            message: "unhandled".into(),
            ..Failure::default()
        };
        let (kind, msg) = classify(&f);
        assert_eq!(kind, ErrorKind::Permanent);
        assert!(msg.contains("does not implement"), "{msg}");
    }
}
