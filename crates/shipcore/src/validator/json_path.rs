//! shipcore's one JSON-path dialect: its grammar is documented on [`json_lookup`], its
//! only parser.

use serde_json::Value;

/// The value at `path` in `root`, or `None` when any step is missing or the path is
/// malformed.
///
/// This is shipcore's one JSON-path dialect, used wherever a configuration names a field
/// of a JSON answer: the smoke validator's `expect[].path`
/// ([`SmokeConfig`](crate::validator::SmokeConfig)) and the HTTP gate's `json.path`
/// ([`JsonExpect`](crate::gate::JsonExpect)); both check their paths with this grammar
/// when built and report a malformed one under the field's name. Grammar (whitespace
/// around the whole path is ignored):
///
/// ```text
/// path     = "" | "$" | pointer | dotted
/// pointer  = "/" ...                    ; a JSON pointer (RFC 6901): /a/b/0/c, ~0 = ~, ~1 = /
/// dotted   = ["$"] segment *("." segment)
/// segment  = [key] *index               ; an empty segment (a..b, $.a) is skipped
/// key      = 1*(any character but "." and "[")
/// index    = "[" digits "]"             ; spaces inside the brackets are allowed
/// ```
///
/// A key is an object member's name; a key made of digits on an array indexes it (so
/// `checks.0.ok` and `checks[0].ok` are the same field), as in a JSON pointer. An index
/// applies only to arrays. The empty path and `$` are the whole document (the HTTP gate
/// refuses an empty path). A key containing `.` or `[` cannot be written in the dotted
/// form: use a JSON pointer.
///
/// Both users documented dotted paths and JSON pointers before they shared this parser.
/// The HTTP gate used to turn a dotted path into a pointer by replacing each `.` with `/`;
/// every path of the documented forms (`data.status`, `checks.0.ok`, `/data/status`)
/// names the same field as before, and the gate now also reads `[i]` indexes and `$`.
/// Paths it used to accept that are malformed here (an unclosed `[`, a non-numeric
/// index) are now refused when the gate is built instead of never matching.
///
/// ```
/// use shipcore::validator::json_lookup;
/// let v = serde_json::json!({"a": {"b": [{"c": 7}]}});
/// assert_eq!(json_lookup(&v, "a.b[0].c"), Some(&serde_json::json!(7)));
/// assert_eq!(json_lookup(&v, "a.b.0.c"), Some(&serde_json::json!(7)));
/// assert_eq!(json_lookup(&v, "a.x"), None);
/// ```
pub fn json_lookup<'a>(root: &'a Value, path: &str) -> Option<&'a Value> {
    let path = path.trim();
    if path.starts_with('/') {
        return root.pointer(path);
    }
    let path = path.strip_prefix('$').unwrap_or(path);
    let mut cur = root;
    for segment in path.split('.').filter(|s| !s.is_empty()) {
        // `name[1][2]`: the key, then indexes.
        let (key, mut rest) = match segment.find('[') {
            Some(i) => (&segment[..i], &segment[i..]),
            None => (segment, ""),
        };
        if !key.is_empty() {
            cur = match cur {
                Value::Object(map) => map.get(key)?,
                Value::Array(items) => items.get(key.parse::<usize>().ok()?)?,
                _ => return None,
            };
        }
        while let Some(open) = rest.strip_prefix('[') {
            let close = open.find(']')?;
            let index: usize = open[..close].trim().parse().ok()?;
            cur = cur.as_array()?.get(index)?;
            rest = &open[close + 1..];
        }
        if !rest.is_empty() {
            return None;
        }
    }
    Some(cur)
}

/// Checks that `path` is well formed in the dialect of the module docs (not empty, brackets
/// closed, indexes numeric); the error says what is wrong and quotes the path.
pub(crate) fn check_path(path: &str) -> Result<(), String> {
    let path = path.trim();
    if path.is_empty() {
        return Err("must not be empty".into());
    }
    if path.starts_with('/') {
        return Ok(());
    }
    for segment in path.split('.') {
        let mut rest = match segment.find('[') {
            Some(i) => &segment[i..],
            None => "",
        };
        while let Some(open) = rest.strip_prefix('[') {
            let close = open
                .find(']')
                .ok_or_else(|| format!("{path:?}: `[` without `]`"))?;
            open[..close]
                .trim()
                .parse::<usize>()
                .map_err(|_| format!("{path:?}: index {:?} is not a number", &open[..close]))?;
            rest = &open[close + 1..];
        }
        if !rest.is_empty() {
            return Err(format!("{path:?}: unexpected {rest:?} after an index"));
        }
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn walks_keys_and_indexes() {
        let v = json!({"data": {"items": [[1, 2], [3, {"id": "x"}]]}, "ok": true});
        assert_eq!(json_lookup(&v, "ok"), Some(&json!(true)));
        assert_eq!(json_lookup(&v, "data.items[1][1].id"), Some(&json!("x")));
        assert_eq!(json_lookup(&v, "data.items.0.1"), Some(&json!(2)));
        assert_eq!(json_lookup(&v, "/data/items/1/0"), Some(&json!(3)));
        assert_eq!(json_lookup(&v, "$"), Some(&v));
        assert_eq!(json_lookup(&json!([5, 6]), "[1]"), Some(&json!(6)));
        assert_eq!(json_lookup(&v, "data.items[9]"), None);
        assert_eq!(json_lookup(&v, "ok.x"), None);
        assert_eq!(json_lookup(&v, "data[0]"), None);
    }

    #[test]
    fn the_gates_old_dotted_paths_name_the_same_fields() {
        // The HTTP gate used to turn `a.b.0` into the pointer `/a/b/0`: every dotted path
        // it accepted names the same field in the one dialect.
        let v = json!({"a": {"b": [{"c": 1}], "7": "seven"}, "x": [[0, 1]]});
        for path in [
            "a", "a.b", "a.b.0", "a.b.0.c", "a.7", "x.0.1", "a.b.1", "nope", "x.a",
        ] {
            let pointer = format!("/{}", path.replace('.', "/"));
            assert_eq!(json_lookup(&v, path), v.pointer(&pointer), "{path}");
        }
        assert_eq!(json_lookup(&v, "$.a.7"), Some(&json!("seven")));
        assert_eq!(json_lookup(&v, " x[0][ 1 ] "), Some(&json!(1)));
    }

    #[test]
    fn checks_paths() {
        assert!(check_path("a.b[0].c").is_ok());
        assert!(check_path("a[0").unwrap_err().contains("without"));
        assert!(check_path("a[x]").unwrap_err().contains("not a number"));
        assert!(check_path("a[0]b").unwrap_err().contains("unexpected"));
        assert!(check_path(" ").is_err());
    }
}
