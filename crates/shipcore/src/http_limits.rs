//! Bounds on what shipcore's HTTP clients accept: bodies are read in chunks up to a cap
//! (a huge or endless answer is an error, never a huge allocation), and redirects are
//! followed only within the same origin, so that headers such as `X-Api-Key` are never sent
//! to another host.
//!
//! Caps in use: [`MAX_VALIDATOR_BODY`] (1 MiB) for the HTTP health and smoke validators and
//! the HTTP gate, [`MAX_ERROR_BODY`] (64 KiB) for the error body of a webhook; the
//! Prometheus source has its own configurable `max_response_bytes` (16 MiB by default).

use crate::redact;

/// Most bytes of a body read by the HTTP health and smoke validators and the HTTP gate.
pub const MAX_VALIDATOR_BODY: usize = 1 << 20;

/// Most bytes read of an error answer that only goes into a message (a webhook's).
pub const MAX_ERROR_BODY: usize = 64 << 10;

/// Most redirects followed (all within one origin).
pub const MAX_REDIRECTS: usize = 10;

/// Reading a body failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BodyError {
    /// The body is longer than the cap.
    #[error("the answer is larger than {cap} bytes (the limit)")]
    TooLarge {
        /// The cap, in bytes.
        cap: usize,
    },
    /// The connection failed or timed out while reading.
    #[error("the answer could not be read: {message}")]
    Read {
        /// What went wrong (without the URL).
        message: String,
        /// Whether it was a timeout.
        timeout: bool,
    },
}

fn read_error(e: reqwest::Error) -> BodyError {
    BodyError::Read {
        timeout: e.is_timeout(),
        message: redact::reqwest_error(e),
    }
}

/// Reads the whole body of `resp`, chunk by chunk, failing with [`BodyError::TooLarge`] as
/// soon as it exceeds `cap` bytes (at once when `Content-Length` says so).
pub async fn read_capped(mut resp: reqwest::Response, cap: usize) -> Result<Vec<u8>, BodyError> {
    if resp
        .content_length()
        .is_some_and(|n| n > u64::try_from(cap).unwrap_or(u64::MAX))
    {
        return Err(BodyError::TooLarge { cap });
    }
    let mut out = Vec::with_capacity(resp.content_length().map_or(0, |n| n as usize).min(cap));
    while let Some(chunk) = resp.chunk().await.map_err(read_error)? {
        if out.len() + chunk.len() > cap {
            return Err(BodyError::TooLarge { cap });
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

/// Reads at most `cap` bytes of the body of `resp` and drops the rest; a failure while
/// reading keeps what was read. For bodies that only go into a message.
pub async fn read_prefix(mut resp: reqwest::Response, cap: usize) -> Vec<u8> {
    let mut out = Vec::new();
    while let Ok(Some(chunk)) = resp.chunk().await {
        let room = cap - out.len();
        if chunk.len() >= room {
            out.extend_from_slice(&chunk[..room]);
            break;
        }
        out.extend_from_slice(&chunk);
    }
    out
}

/// A redirect policy that follows at most [`MAX_REDIRECTS`] redirects within the same
/// origin (scheme, host and port) and stops at a redirect to another origin: the 3xx answer
/// is then returned as is, so no header (custom ones such as `X-Api-Key` included, which
/// reqwest would forward) and no body reaches the other host.
pub fn same_origin_redirects() -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(|attempt| {
        let same = attempt
            .previous()
            .last()
            .is_some_and(|prev| prev.origin() == attempt.url().origin());
        if !same {
            attempt.stop()
        } else if attempt.previous().len() > MAX_REDIRECTS {
            attempt.error(format!("more than {MAX_REDIRECTS} redirects"))
        } else {
            attempt.follow()
        }
    })
}

/// A note for a message about a 3xx answer that was not followed: where it pointed
/// (redacted), or nothing when `resp` is not a redirect.
pub fn redirect_note(resp: &reqwest::Response) -> Option<String> {
    if !resp.status().is_redirection() {
        return None;
    }
    let location = resp
        .headers()
        .get(reqwest::header::LOCATION)?
        .to_str()
        .ok()?;
    let target = resp
        .url()
        .join(location)
        .map(|u| redact::parsed_url(&u))
        .unwrap_or_else(|_| redact::url(location));
    Some(format!(
        "a redirect to {} (another origin, not followed)",
        redact::endpoint_text(&target)
    ))
}
