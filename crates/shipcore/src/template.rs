//! Rendering `{{name}}` templates safely for where the text goes.
//!
//! A template's variables (`service`, `environment`, `revision`, `stable_revision`, ...) come
//! from the rollout, and a rollout's identifiers are not trusted text: inserted raw, a
//! revision id `v2"} * 0 #` turns `error_rate{revision="{{revision}}"}` into a query that is
//! always 0, and a service `127.0.0.1:PORT/#` sends a health check elsewhere.
//! [`RolloutSpec::validate`](crate::engine::RolloutSpec::validate) restricts identifiers
//! to a safe character set (see [`check_identifier`](crate::model::check_identifier)); this
//! module is the second line: every value is escaped or checked for its [`Placement`], so a
//! value can never change the structure of the query, URL, path or argument it fills.
//!
//! | placement | a value inside a string literal / part | elsewhere |
//! |---|---|---|
//! | [`Placement::PromQl`] | escaped by PromQL string rules (`\\`, `\"`, `\n`, ...; and regex-quoted after `=~`/`!~`) | only `[A-Za-z0-9_:.]` (metric names, durations, numbers) |
//! | [`Placement::Url`], [`Placement::UrlPath`] | path, query and fragment: percent-encoded (all but `A-Za-z0-9-._~`); `.` and `..` refused | host and port: only `[A-Za-z0-9.:_-]` and `[` `]` |
//! | [`Placement::FileName`] | no `/`, no control character, not `.` or `..` | |
//! | [`Placement::Argument`] | only `[A-Za-z0-9._:+-]`, and no leading `-` at the start of an argument | |
//!
//! A value that cannot be placed safely is an [`UnsafeValue`] error naming the variable.
//!
//! ```
//! use shipcore::template::{render, Placement};
//! let mut vars = std::collections::BTreeMap::new();
//! vars.insert("revision".to_string(), "v2\"} * 0 #".to_string());
//! let q = render("error_rate{revision=\"{{revision}}\"}", &vars, Placement::PromQl).unwrap();
//! assert_eq!(q, r#"error_rate{revision="v2\"} * 0 #"}"#);
//! vars.insert("service".to_string(), "127.0.0.1:1/#".to_string());
//! let u = render("http://x:80/{{service}}/health", &vars, Placement::Url).unwrap();
//! assert_eq!(u, "http://x:80/127.0.0.1%3A1%2F%23/health");
//! assert!(render("http://{{service}}.internal/health", &vars, Placement::Url).is_err());
//! ```

use std::collections::BTreeMap;
use std::fmt;

/// Where a rendered template goes, which decides how its values are escaped or checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// Inserted as they are: only for text that nothing parses (messages).
    Raw,
    /// A PromQL expression.
    PromQl,
    /// A whole http(s) URL (`http://{{addr}}/health?rev={{revision}}`).
    Url,
    /// The part of a URL after its host (a smoke request's path, appended to a base URL).
    UrlPath,
    /// A file path: each value is (part of) one path component.
    FileName,
    /// One argument of a command run without a shell.
    Argument,
}

impl fmt::Display for Placement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Placement::Raw => "text",
            Placement::PromQl => "a PromQL query",
            Placement::Url | Placement::UrlPath => "a URL",
            Placement::FileName => "a file path",
            Placement::Argument => "a command argument",
        })
    }
}

/// A variable's value cannot be placed safely where the template puts it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{{{{{name}}}}} = {value} cannot go into {placement}: {problem}")]
pub struct UnsafeValue {
    /// The variable's name, as written between `{{` and `}}`.
    pub name: String,
    /// Its value, quoted and shortened for messages.
    pub value: String,
    /// Where it was going.
    pub placement: Placement,
    /// What is wrong and what is allowed there.
    pub problem: String,
}

/// A template could not be rendered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RenderError {
    /// It uses a variable that is not defined.
    #[error(transparent)]
    Missing(#[from] TemplateError),
    /// A value cannot be placed safely.
    #[error(transparent)]
    Unsafe(#[from] UnsafeValue),
}

/// Replaces `{{name}}` in `template` with `vars[name]`, escaped or checked for `placement`
/// (see the module docs); an unknown name is [`RenderError::Missing`], a value that cannot
/// be placed safely [`RenderError::Unsafe`]. With [`Placement::Raw`] this is exactly
/// [`render_template`].
pub fn render(
    template: &str,
    vars: &BTreeMap<String, String>,
    placement: Placement,
) -> Result<String, RenderError> {
    let mut out = String::with_capacity(template.len());
    let mut placer = Placer::new(placement);
    for piece in pieces(template) {
        match piece {
            Piece::Text(text) => placer.literal(&mut out, text),
            Piece::Var { name, .. } => match vars.get(name) {
                Some(v) => placer.value(&mut out, name, v)?,
                None => return Err(missing(template, name, vars).into()),
            },
        }
    }
    Ok(out)
}

/// The error for `{{name}}` missing from `vars`.
pub(crate) fn missing(
    template: &str,
    name: &str,
    vars: &BTreeMap<String, String>,
) -> TemplateError {
    TemplateError {
        template: template.to_string(),
        name: name.to_string(),
        known: vars.keys().cloned().collect::<Vec<_>>().join(", "),
    }
}

/// A piece of a template, as [`pieces`] cuts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Piece<'a> {
    /// The template's own text, kept as written (an unclosed `{{` is text).
    Text(&'a str),
    /// A `{{name}}` placeholder: `name` trimmed, `raw` the whole `{{ name }}` as written.
    Var {
        /// The variable's name, without the braces and surrounding spaces.
        name: &'a str,
        /// The placeholder as written, braces included.
        raw: &'a str,
    },
}

/// Cuts `template` into text and `{{name}}` placeholders, in order: the one reading of the
/// template language, which [`render`], [`render_template`] and the notification templates
/// ([`Templates`](crate::notify::Templates)) all use. Values are never read again, so a
/// value holding `{{x}}` is not expanded.
///
/// ```
/// use shipcore::template::{pieces, Piece};
/// let p: Vec<Piece> = pieces("a {{ x }} b {{").collect();
/// assert_eq!(p, [Piece::Text("a "), Piece::Var { name: "x", raw: "{{ x }}" },
///     Piece::Text(" b {{")]);
/// ```
pub fn pieces(template: &str) -> Pieces<'_> {
    Pieces {
        rest: template,
        var: None,
    }
}

/// The iterator [`pieces`] returns.
#[derive(Debug, Clone)]
pub struct Pieces<'a> {
    /// What is left to cut.
    rest: &'a str,
    /// A placeholder found after the text just returned.
    var: Option<Piece<'a>>,
}

impl<'a> Iterator for Pieces<'a> {
    type Item = Piece<'a>;

    fn next(&mut self) -> Option<Piece<'a>> {
        if let Some(var) = self.var.take() {
            return Some(var);
        }
        if self.rest.is_empty() {
            return None;
        }
        let rest = self.rest;
        // `{{` and `}}` are found by a byte scan: `str::find` with a two-byte needle sets up
        // a Two-Way searcher each call, which cost more than the rest of rendering a short
        // query.
        let found = find_pair(rest, b'{').and_then(|start| {
            let after = &rest[start + 2..];
            find_pair(after, b'}').map(|end| (start, start + 2 + end + 2))
        });
        let Some((start, stop)) = found else {
            self.rest = "";
            return Some(Piece::Text(rest));
        };
        let raw = &rest[start..stop];
        let var = Piece::Var {
            name: raw[2..raw.len() - 2].trim(),
            raw,
        };
        self.rest = &rest[stop..];
        if start == 0 {
            return Some(var);
        }
        self.var = Some(var);
        Some(Piece::Text(&rest[..start]))
    }
}

/// Where `s` first holds the byte `b` twice in a row (`b` is ASCII, so a char boundary).
fn find_pair(s: &str, b: u8) -> Option<usize> {
    let bytes = s.as_bytes();
    let mut from = 0;
    while let Some(i) = bytes.get(from..)?.iter().position(|&c| c == b) {
        let at = from + i;
        if bytes.get(at + 1) == Some(&b) {
            return Some(at);
        }
        from = at + 1;
    }
    None
}

/// Where in the rendered text the next value lands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Spot {
    /// Text that needs nothing (raw).
    Plain,
    /// PromQL, outside any string literal.
    PromCode,
    /// PromQL, in a `#` comment (to the end of the line).
    PromComment,
    /// PromQL, inside a string opened by `quote`; `escaped`: the template's text ended with
    /// a backslash inside it; `regex`: the string is the right side of `=~` or `!~`.
    PromString {
        quote: u8,
        escaped: bool,
        regex: bool,
    },
    /// A URL before `://`.
    UrlScheme,
    /// A URL's authority (user, host, port).
    UrlHost,
    /// A URL's path, query or fragment.
    UrlRest,
    /// A file path.
    File,
    /// A command argument; `start`: nothing of it was written yet.
    Arg { start: bool },
}

/// Follows the template's literal text to know where each value lands.
struct Placer {
    placement: Placement,
    spot: Spot,
}

impl Placer {
    fn new(placement: Placement) -> Self {
        let spot = match placement {
            Placement::Raw => Spot::Plain,
            Placement::PromQl => Spot::PromCode,
            Placement::Url => Spot::UrlScheme,
            Placement::UrlPath => Spot::UrlRest,
            Placement::FileName => Spot::File,
            Placement::Argument => Spot::Arg { start: true },
        };
        Placer { placement, spot }
    }

    /// Appends the template's own text and moves past it.
    fn literal(&mut self, out: &mut String, text: &str) {
        let from = out.len();
        out.push_str(text);
        if text.is_empty() {
            return;
        }
        match self.spot {
            Spot::Plain | Spot::File | Spot::UrlRest => {}
            Spot::Arg { .. } => self.spot = Spot::Arg { start: false },
            Spot::UrlScheme | Spot::UrlHost => {
                for p in from..out.len() {
                    let b = out.as_bytes()[p];
                    match self.spot {
                        Spot::UrlScheme if out.as_bytes()[..=p].ends_with(b"://") => {
                            self.spot = Spot::UrlHost
                        }
                        Spot::UrlScheme if matches!(b, b'?' | b'#') => self.spot = Spot::UrlRest,
                        Spot::UrlHost if matches!(b, b'/' | b'?' | b'#') => {
                            self.spot = Spot::UrlRest
                        }
                        _ => {}
                    }
                }
            }
            Spot::PromCode | Spot::PromComment | Spot::PromString { .. } => {
                for p in from..out.len() {
                    let b = out.as_bytes()[p];
                    self.spot = match self.spot {
                        Spot::PromCode if matches!(b, b'"' | b'\'' | b'`') => {
                            let before = out[..p].trim_end();
                            Spot::PromString {
                                quote: b,
                                escaped: false,
                                regex: before.ends_with("=~") || before.ends_with("!~"),
                            }
                        }
                        Spot::PromCode if b == b'#' => Spot::PromComment,
                        Spot::PromComment if b == b'\n' || b == b'\r' => Spot::PromCode,
                        Spot::PromString {
                            quote,
                            escaped,
                            regex,
                        } if quote != b'`' => {
                            if escaped {
                                Spot::PromString {
                                    quote,
                                    escaped: false,
                                    regex,
                                }
                            } else if b == b'\\' {
                                Spot::PromString {
                                    quote,
                                    escaped: true,
                                    regex,
                                }
                            } else if b == quote {
                                Spot::PromCode
                            } else {
                                self.spot
                            }
                        }
                        Spot::PromString { quote, .. } if b == quote => Spot::PromCode,
                        other => other,
                    };
                }
            }
        }
    }

    /// Appends variable `name`'s value, escaped for where it lands, or says why it cannot.
    fn value(&mut self, out: &mut String, name: &str, value: &str) -> Result<(), UnsafeValue> {
        let unsafe_value = |problem: &str| UnsafeValue {
            name: name.to_string(),
            value: shown(value),
            placement: self.placement,
            problem: problem.to_string(),
        };
        match self.spot {
            Spot::Plain => out.push_str(value),
            Spot::PromCode | Spot::PromComment => {
                if !value
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b':' | b'.'))
                {
                    return Err(unsafe_value(
                        "outside a quoted string only letters, digits, '_', ':' and '.' may be inserted (put the variable inside \"...\")",
                    ));
                }
                out.push_str(value);
            }
            Spot::PromString { escaped: true, .. } => {
                return Err(unsafe_value(
                    "the template puts it right after a backslash, which would escape its first character",
                ));
            }
            Spot::PromString { quote: b'`', .. } => {
                if value.contains('`') {
                    return Err(unsafe_value(
                        "a raw `...` string cannot hold a backquote (use \"...\")",
                    ));
                }
                out.push_str(value);
            }
            Spot::PromString { quote, regex, .. } => {
                if regex {
                    let mut quoted = String::with_capacity(value.len());
                    quote_regex(&mut quoted, value);
                    escape_promql(out, &quoted, quote);
                } else {
                    escape_promql(out, value, quote);
                }
            }
            Spot::UrlScheme | Spot::UrlHost => {
                if !value.bytes().all(|b| {
                    b.is_ascii_alphanumeric()
                        || matches!(b, b'.' | b':' | b'_' | b'-' | b'[' | b']')
                }) {
                    return Err(unsafe_value(
                        "a URL's host and port may only hold letters, digits, '.', ':', '_', '-', '[' and ']'",
                    ));
                }
                out.push_str(value);
            }
            Spot::UrlRest => {
                if value == "." || value == ".." {
                    return Err(unsafe_value("'.' and '..' would move up the URL's path"));
                }
                percent_encode(out, value);
            }
            Spot::File => {
                if value.contains('/') || value.chars().any(char::is_control) {
                    return Err(unsafe_value(
                        "a file path's value may not hold '/' or control characters",
                    ));
                }
                if value == "." || value == ".." {
                    return Err(unsafe_value("'.' and '..' would leave the directory"));
                }
                out.push_str(value);
            }
            Spot::Arg { start } => {
                if !value.bytes().all(|b| {
                    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'+' | b'-')
                }) {
                    return Err(unsafe_value(
                        "a command argument's value may only hold letters, digits, '.', '_', ':', '+' and '-'",
                    ));
                }
                if start && value.starts_with('-') {
                    return Err(unsafe_value(
                        "it starts the argument with '-', so the program would read it as an option",
                    ));
                }
                if !value.is_empty() {
                    self.spot = Spot::Arg { start: false };
                }
                out.push_str(value);
            }
        }
        Ok(())
    }
}

/// The value for messages: quoted (control characters escaped) and at most 64 characters.
fn shown(value: &str) -> String {
    let mut s: String = value.chars().take(64).collect();
    if s.len() < value.len() {
        s.push('…');
    }
    format!("{s:?}")
}

/// Appends `value` escaped for a PromQL string literal opened by `quote` (`"` or `'`):
/// backslash, the quote, and control characters, so the literal holds exactly `value`.
pub fn escape_promql(out: &mut String, value: &str, quote: u8) {
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c as u32 == u32::from(quote) => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_ascii_control() => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
}

/// Appends `value` with every regular-expression metacharacter backslashed (as Go's
/// `regexp.QuoteMeta`), so a `=~` matcher matches exactly `value`.
fn quote_regex(out: &mut String, value: &str) {
    for c in value.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
}

/// Appends `value` percent-encoded: every byte but `A-Za-z0-9-._~` (RFC 3986 unreserved),
/// which is safe in a path segment, a query value and a fragment.
pub fn percent_encode(out: &mut String, value: &str) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0xf)]));
        }
    }
}

/// A template referred to a variable that is not defined.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("query template {template:?} uses {{{{{name}}}}}, which is not defined (known: {known})")]
pub struct TemplateError {
    /// The template that could not be rendered.
    pub template: String,
    /// The missing variable.
    pub name: String,
    /// Variables that are defined.
    pub known: String,
}

/// Replaces `{{name}}` in `template` with `vars[name]`, inserting values as they are; an
/// unknown name is an error. Templates are read by [`crate::template::pieces`], the one
/// reading of the `{{name}}` language. For a query, URL, path or argument built from a rollout's
/// identifiers use [`crate::template::render`], which escapes or checks each value for where
/// it lands (the validators do).
///
/// ```
/// let mut vars = std::collections::BTreeMap::new();
/// vars.insert("revision".to_string(), "v2".to_string());
/// let q = shipcore::metrics::render_template("error_rate{revision=\"{{revision}}\"}", &vars).unwrap();
/// assert_eq!(q, "error_rate{revision=\"v2\"}");
/// ```
pub fn render_template(
    template: &str,
    vars: &BTreeMap<String, String>,
) -> Result<String, TemplateError> {
    use crate::template::{missing, pieces, Piece};
    let mut out = String::with_capacity(template.len());
    for piece in pieces(template) {
        match piece {
            Piece::Text(text) => out.push_str(text),
            Piece::Var { name, .. } => match vars.get(name) {
                Some(v) => out.push_str(v),
                None => return Err(missing(template, name, vars)),
            },
        }
    }
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// The straightforward reading of the language (`str::find`), kept as the test oracle
    /// for the one scanner, [`pieces`].
    fn reference(template: &str, vars: &BTreeMap<String, String>) -> Result<String, String> {
        let mut out = String::new();
        let mut rest = template;
        while let Some(start) = rest.find("{{") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let Some(end) = after.find("}}") else {
                out.push_str(&rest[start..]);
                return Ok(out);
            };
            let name = after[..end].trim();
            match vars.get(name) {
                Some(v) => out.push_str(v),
                None => return Err(missing(template, name, vars).to_string()),
            }
            rest = &after[end + 2..];
        }
        out.push_str(rest);
        Ok(out)
    }

    #[test]
    fn every_renderer_matches_the_reference_on_every_shape_of_template() {
        let vars = vars(&[("revision", "web-v2"), ("a", "{{a}}"), ("", "e")]);
        // Every string of up to 4 pieces from this alphabet, and a few longer ones.
        let pieces = [
            "{",
            "}",
            "{{",
            "}}",
            "a",
            " ",
            "revision",
            "é",
            "x{{ a }}y",
            "{{b}}",
        ];
        let mut templates = vec![String::new()];
        let mut last = vec![String::new()];
        for _ in 0..4 {
            let mut next = Vec::new();
            for t in &last {
                for p in pieces {
                    next.push(format!("{t}{p}"));
                }
            }
            templates.extend(next.iter().cloned());
            last = next;
        }
        templates.push("error_rate{revision=\"{{revision}}\", x=\"{{ a }}\"}".into());
        templates.push("{{{revision}}}}{{{{a}}".into());
        for t in &templates {
            let want = reference(t, &vars);
            let got = render(t, &vars, Placement::Raw).map_err(|e| e.to_string());
            assert_eq!(got, want, "{t:?}");
            let metrics = crate::metrics::render_template(t, &vars).map_err(|e| e.to_string());
            assert_eq!(metrics, want, "{t:?}");
            // Cutting loses nothing: the pieces, as written, are the template.
            let whole: String = super::pieces(t)
                .map(|p| match p {
                    Piece::Text(s) | Piece::Var { raw: s, .. } => s,
                })
                .collect();
            assert_eq!(&whole, t);
        }
    }

    #[test]
    fn promql_values_stay_inside_their_string_literal() {
        let v = vars(&[("r", "a\"b'c\\d\ne`f\u{1}")]);
        let q = |t: &str| render(t, &v, Placement::PromQl);
        assert_eq!(q("m{r=\"{{r}}\"}").unwrap(), r#"m{r="a\"b'c\\d\ne`f\x01"}"#);
        assert_eq!(q("m{r='{{r}}'}").unwrap(), r#"m{r='a"b\'c\\d\ne`f\x01'}"#);
        // A regex matcher matches the value literally.
        let dots = vars(&[("r", "v2.*")]);
        assert_eq!(
            render("m{r=~\"{{r}}\"}", &dots, Placement::PromQl).unwrap(),
            r#"m{r=~"v2\\.\\*"}"#
        );
        assert_eq!(
            render("m{r!~ '{{r}}|x'}", &dots, Placement::PromQl).unwrap(),
            r#"m{r!~ 'v2\\.\\*|x'}"#
        );
        // A raw string cannot hold a backquote; outside strings only name characters go.
        assert!(q("m{r=`{{r}}`}").is_err());
        assert_eq!(
            render("m{r=`{{r}}`}", &dots, Placement::PromQl).unwrap(),
            "m{r=`v2.*`}"
        );
        let e = q("{{r}}_total").unwrap_err().to_string();
        assert!(
            e.contains("{{r}}") && e.contains("outside a quoted string"),
            "{e}"
        );
        let ok = vars(&[("r", "web_v2:rate.5m")]);
        assert_eq!(
            render("x_{{r}} # {{r}}\n", &ok, Placement::PromQl).unwrap(),
            "x_web_v2:rate.5m # web_v2:rate.5m\n"
        );
        // Escaped quotes in the template's own text do not end the string.
        assert_eq!(
            q("m{a=\"x\\\"{{r}}\"}").unwrap(),
            r#"m{a="x\"a\"b'c\\d\ne`f\x01"}"#
        );
        // Right after a template backslash, the value's first character would be escaped.
        assert!(q("m{a=\"x\\{{r}}\"}").is_err());
    }

    #[test]
    fn url_values_are_percent_encoded_after_the_host_and_checked_in_it() {
        let v = vars(&[
            ("s", "127.0.0.1:1/#"),
            ("addr", "127.0.0.1:8080"),
            ("d", ".."),
        ]);
        let u = |t: &str| render(t, &v, Placement::Url);
        assert_eq!(u("http://{{addr}}/h").unwrap(), "http://127.0.0.1:8080/h");
        assert_eq!(
            u("http://{{addr}}/h/{{s}}?rev={{s}}#{{s}}").unwrap(),
            "http://127.0.0.1:8080/h/127.0.0.1%3A1%2F%23?rev=127.0.0.1%3A1%2F%23#127.0.0.1%3A1%2F%23"
        );
        let e = u("http://{{s}}.internal/h").unwrap_err().to_string();
        assert!(e.contains("{{s}}") && e.contains("host"), "{e}");
        assert!(u("http://x/{{d}}/admin").is_err());
        assert_eq!(
            render("/p/{{s}}", &v, Placement::UrlPath).unwrap(),
            "/p/127.0.0.1%3A1%2F%23"
        );
        let utf = vars(&[("s", "é &=")]);
        assert_eq!(
            render("http://h/?q={{s}}", &utf, Placement::Url).unwrap(),
            "http://h/?q=%C3%A9%20%26%3D"
        );
    }

    #[test]
    fn file_and_argument_values_cannot_escape_their_component() {
        let v = vars(&[("up", "../../etc/passwd"), ("dd", ".."), ("ok", "web-v2")]);
        let f = |t: &str| render(t, &v, Placement::FileName);
        assert_eq!(f("/var/log/{{ok}}.log").unwrap(), "/var/log/web-v2.log");
        assert!(f("/var/log/{{up}}.log").is_err());
        assert!(f("/var/log/{{dd}}/x").is_err());
        let a = |t: &str, v: &BTreeMap<String, String>| render(t, v, Placement::Argument);
        assert_eq!(a("rev={{ok}}", &v).unwrap(), "rev=web-v2");
        let opt = vars(&[("r", "-oProxyCommand"), ("sh", "x;rm"), ("sel", "a,b=c")]);
        assert!(a("{{r}}", &opt).is_err());
        assert_eq!(a("x{{r}}", &opt).unwrap(), "x-oProxyCommand");
        assert!(a("rev={{sh}}", &opt).is_err());
        assert!(a("rev={{sel}}", &opt).is_err());
    }

    #[test]
    fn long_values_are_shortened_in_errors() {
        let long = "\"".repeat(1000);
        let v = vars(&[("r", &long)]);
        let e = render("{{r}}", &v, Placement::PromQl)
            .unwrap_err()
            .to_string();
        assert!(e.len() < 400, "{e}");
    }
}
