//! Keeping secrets and endpoint-provided bulk out of messages, records and `Debug`.
//!
//! Everything shipcore writes (verdict and gate messages, errors, the journal, event log,
//! deployment record, notifications, tracing, `Debug` of configurations) goes through these
//! helpers where it shows a URL, a header or text that an endpoint sent:
//!
//! - [`url`] drops a URL's userinfo (`user:pass@`), query string and fragment, the places
//!   where credentials and tokens travel (`?access_token=…`);
//! - [`is_secret_header`] and [`Headers`] hide the values of credential-bearing headers;
//! - [`truncate`] bounds endpoint-provided text to [`MAX_ENDPOINT_TEXT`] bytes.
//!
//! ```
//! use shipcore::redact;
//! assert_eq!(
//!     redact::url("https://ci:hunter2@gate.example.invalid/ok?token=abc#x"),
//!     "https://gate.example.invalid/ok"
//! );
//! assert!(redact::is_secret_header("X-Api-Key"));
//! assert!(!redact::is_secret_header("X-Scope-OrgID"));
//! let long = "é".repeat(1000);
//! assert!(redact::truncate(&long, 16).len() < 64);
//! ```

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

/// Most bytes of endpoint-provided text (a body, a JSON value, an error sent by a server)
/// kept in one message; longer text is cut on a character boundary and marked with
/// `… (N more bytes)`.
pub const MAX_ENDPOINT_TEXT: usize = 512;

/// What replaces a secret value in `Debug` output.
pub const REDACTED: &str = "<redacted>";

/// `raw` without userinfo (`user:pass@`), query string and fragment, for messages.
///
/// A template (with `{{variables}}`, kept as written) or a string that does not parse as a
/// URL is cut at its first `?` or `#` and loses anything between `://` and an `@` in its
/// authority.
pub fn url(raw: &str) -> String {
    if raw.contains("{{") {
        return fallback(raw);
    }
    match reqwest::Url::parse(raw) {
        Ok(u) if !u.cannot_be_a_base() => parsed_url(&u),
        _ => fallback(raw),
    }
}

/// [`url`] of a parsed URL.
pub fn parsed_url(u: &reqwest::Url) -> String {
    let mut u = u.clone();
    // Both fail only for URLs that cannot have userinfo (no host), which are left as is.
    let _ = u.set_username("");
    let _ = u.set_password(None);
    u.set_query(None);
    u.set_fragment(None);
    u.to_string()
}

fn fallback(raw: &str) -> String {
    let cut = raw.find(['?', '#']).map_or(raw, |i| &raw[..i]);
    let Some(scheme_end) = cut.find("://") else {
        return cut.to_string();
    };
    let after = &cut[scheme_end + 3..];
    let authority_end = after.find('/').unwrap_or(after.len());
    match after[..authority_end].rfind('@') {
        Some(at) => format!("{}{}", &cut[..scheme_end + 3], &after[at + 1..]),
        None => cut.to_string(),
    }
}

/// Whether a header's value is a secret: `Authorization`, `Proxy-Authorization`, `Cookie`,
/// `Set-Cookie`, `X-Api-Key`, and any name containing `token`, `secret`, `key`,
/// `password`, `passwd`, `auth`, `session` or `credential` (case-insensitive).
pub fn is_secret_header(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    matches!(
        n.as_str(),
        "authorization" | "proxy-authorization" | "cookie" | "set-cookie" | "x-api-key"
    ) || [
        "token",
        "secret",
        "key",
        "password",
        "passwd",
        "auth",
        "session",
        "credential",
    ]
    .iter()
    .any(|w| n.contains(w))
}

/// Shows headers with every secret value ([`is_secret_header`]) replaced by `<redacted>`.
pub struct Headers<'a>(pub &'a BTreeMap<String, String>);

impl fmt::Debug for Headers<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut m = f.debug_map();
        for (k, v) in self.0 {
            if is_secret_header(k) {
                m.entry(k, &format_args!("{REDACTED}"));
            } else {
                m.entry(k, v);
            }
        }
        m.finish()
    }
}

/// Shows a URL as [`url`] does, for `Debug` of configurations.
pub struct Url<'a>(pub &'a str);

impl fmt::Debug for Url<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&url(self.0), f)
    }
}

/// `text` cut to at most `max` bytes on a character boundary, with `… (N more bytes)`
/// appended when anything was cut.
pub fn truncate(text: &str, max: usize) -> Cow<'_, str> {
    if text.len() <= max {
        return Cow::Borrowed(text);
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    Cow::Owned(format!(
        "{}… ({} more bytes)",
        &text[..end],
        text.len() - end
    ))
}

/// [`truncate`] to [`MAX_ENDPOINT_TEXT`]: for text an endpoint sent.
pub fn endpoint_text(text: &str) -> Cow<'_, str> {
    truncate(text, MAX_ENDPOINT_TEXT)
}

/// A `reqwest` error without the URL it carries (its `Display` otherwise shows the whole
/// URL, credentials and query included), with its causes `: `-separated.
pub fn reqwest_error(e: reqwest::Error) -> String {
    let e = e.without_url();
    let mut out = e.to_string();
    let mut cur = std::error::Error::source(&e);
    while let Some(s) = cur {
        let t = s.to_string();
        if !out.contains(&t) {
            out.push_str(": ");
            out.push_str(&t);
        }
        cur = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_lose_userinfo_query_and_fragment() {
        assert_eq!(
            url("http://u:p@127.0.0.1:8080/a/b?access_token=s#f"),
            "http://127.0.0.1:8080/a/b"
        );
        assert_eq!(url("http://h/x"), "http://h/x");
        assert_eq!(
            url("http://u:p@{{service}}:80/x?t={{revision}}"),
            "http://{{service}}:80/x"
        );
        assert_eq!(url("not a url?token=1"), "not a url");
        assert_eq!(
            url("http://h:1/health/{{revision}}?access_token=s"),
            "http://h:1/health/{{revision}}"
        );
        assert_eq!(url("http://h/a@b/c?d"), "http://h/a@b/c");
    }

    #[test]
    fn truncation_keeps_char_boundaries_and_says_how_much_is_cut() {
        assert_eq!(truncate("short", 10), "short");
        let t = truncate("ééé", 3);
        assert_eq!(t, "é… (4 more bytes)");
        assert!(endpoint_text(&"x".repeat(8 << 20)).len() < MAX_ENDPOINT_TEXT + 40);
    }

    #[test]
    fn secret_headers_are_hidden_in_debug() {
        let h: BTreeMap<String, String> = [
            ("Authorization", "Bearer s1"),
            ("X-Api-Key", "s2"),
            ("X-Auth-Token", "s3"),
            ("Cookie", "s4"),
            ("X-Scope-OrgID", "team-a"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let shown = format!("{:?}", Headers(&h));
        for s in ["s1", "s2", "s3", "s4"] {
            assert!(!shown.contains(s), "{shown}");
        }
        assert!(shown.contains("team-a"), "{shown}");
    }
}
