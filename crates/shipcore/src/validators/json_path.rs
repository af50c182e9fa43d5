//! A small dotted-path evaluator for JSON bodies: `a.b[0].c`, `items[2]`, `[0].id`,
//! `checks.0.ok` (a numeric segment indexes an array). Keys containing `.` or `[` cannot be
//! addressed; a path starting with `/` is a JSON pointer (`/a/b/0/c`) instead.

use serde_json::Value;

/// The value at `path` in `root`, or `None` when any step is missing. The empty path (or `$`)
/// is the root itself.
///
/// ```
/// use shipcore::validators::json_lookup;
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

/// Checks that `path` is well formed (brackets closed, indexes numeric).
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
    fn checks_paths() {
        assert!(check_path("a.b[0].c").is_ok());
        assert!(check_path("a[0").unwrap_err().contains("without"));
        assert!(check_path("a[x]").unwrap_err().contains("not a number"));
        assert!(check_path("a[0]b").unwrap_err().contains("unexpected"));
        assert!(check_path(" ").is_err());
    }
}
