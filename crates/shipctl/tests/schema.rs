//! The schema agrees with the files people write: every example file is checked against
//! `shipctl schema` (objects, closed property sets, required fields, enums, types,
//! `oneOf`/`anyOf`, `$ref`), and a misspelt field is caught by the schema as by the loader.
#![allow(clippy::unwrap_used)]

mod common;
use common::examples_dir;
use serde_json::Value;

fn schema() -> Value {
    let out = assert_cmd::Command::cargo_bin("shipctl")
        .unwrap()
        .arg("schema")
        .output()
        .unwrap();
    serde_json::from_slice(&out.stdout).unwrap()
}

fn type_ok(t: &str, v: &Value) -> bool {
    match t {
        "object" => v.is_object(),
        "array" => v.is_array(),
        "string" => v.is_string(),
        "integer" => v.is_i64() || v.is_u64(),
        "number" => v.is_number(),
        "boolean" => v.is_boolean(),
        "null" => v.is_null(),
        _ => true,
    }
}

/// The problems of `v` against `s` (empty: valid).
fn check(root: &Value, s: &Value, v: &Value, at: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if let Some(r) = s.get("$ref").and_then(Value::as_str) {
        let name = r.trim_start_matches("#/$defs/");
        errs.extend(check(root, &root["$defs"][name], v, at));
    }
    match s.get("type") {
        Some(Value::String(t)) if !type_ok(t, v) => errs.push(format!("{at}: not {t}")),
        Some(Value::Array(ts)) if !ts.iter().any(|t| type_ok(t.as_str().unwrap(), v)) => {
            errs.push(format!("{at}: not any of {ts:?}"))
        }
        _ => {}
    }
    if let (Some(n), Some(min)) = (v.as_f64(), s.get("minimum").and_then(Value::as_f64)) {
        if n < min {
            errs.push(format!("{at}: {n} is below {min}"));
        }
    }
    if let (Some(n), Some(max)) = (v.as_f64(), s.get("maximum").and_then(Value::as_f64)) {
        if n > max {
            errs.push(format!("{at}: {n} is above {max}"));
        }
    }
    if let Some(c) = s.get("const") {
        if c != v {
            errs.push(format!("{at}: {v} is not {c}"));
        }
    }
    if let Some(e) = s.get("enum").and_then(Value::as_array) {
        if !e.contains(v) {
            errs.push(format!("{at}: {v} not in {e:?}"));
        }
    }
    for (key, exactly_one) in [("oneOf", true), ("anyOf", false)] {
        if let Some(alts) = s.get(key).and_then(Value::as_array) {
            let results: Vec<Vec<String>> = alts.iter().map(|a| check(root, a, v, at)).collect();
            let ok = results.iter().filter(|r| r.is_empty()).count();
            if ok == 0 || (exactly_one && ok > 1) {
                errs.push(format!("{at}: {ok} of the {key} alternatives match"));
            }
            if ok == 0 {
                // The closest alternative's problems say what is wrong.
                errs.extend(results.into_iter().min_by_key(Vec::len).unwrap_or_default());
            }
        }
    }
    if let (Some(obj), Some(props)) = (v.as_object(), s.get("properties")) {
        for (k, val) in obj {
            match props.get(k) {
                Some(ps) => errs.extend(check(root, ps, val, &format!("{at}.{k}"))),
                None if s.get("additionalProperties") == Some(&Value::Bool(false)) => {
                    errs.push(format!("{at}.{k}: not allowed"))
                }
                None => {}
            }
        }
        for r in s
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if !obj.contains_key(r.as_str().unwrap()) {
                errs.push(format!("{at}: missing {r}"));
            }
        }
    }
    if let (Some(items), Some(arr)) = (s.get("items"), v.as_array()) {
        for (i, it) in arr.iter().enumerate() {
            errs.extend(check(root, items, it, &format!("{at}[{i}]")));
        }
    }
    errs
}

fn yaml_files(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            yaml_files(&p, out);
        } else if p.file_name().unwrap() != "compose.yaml"
            && p.extension().and_then(|e| e.to_str()) == Some("yaml")
        {
            out.push(p);
        }
    }
}

#[test]
fn every_example_file_satisfies_the_schema() {
    let root = schema();
    let mut files = Vec::new();
    yaml_files(&examples_dir(), &mut files);
    assert!(files.len() >= 8, "{files:?}");
    for f in files {
        let v: Value = serde_saphyr::from_str(&std::fs::read_to_string(&f).unwrap()).unwrap();
        let errs = check(&root, &root, &v, "");
        assert!(errs.is_empty(), "{}: {errs:?}", f.display());
    }
}

#[test]
fn the_schema_refuses_what_the_loader_refuses() {
    let root = schema();
    let text = std::fs::read_to_string(examples_dir().join("canary.yaml")).unwrap();
    for (from, to, want) in [
        ("replicas: 4", "replicaz: 4", ".replicaz: not allowed"),
        (
            "    steps:",
            "    stepz:",
            ".strategy.canary.stepz: not allowed",
        ),
        (
            "- set_weight: 50",
            "- set_weight: 150",
            "steps[3].set_weight: 150 is above 100",
        ),
        (
            "  canary:",
            "  canery:",
            ".strategy: 0 of the oneOf alternatives match",
        ),
    ] {
        let v: Value = serde_saphyr::from_str(&text.replace(from, to)).unwrap();
        let errs = check(&root, &root, &v, "").join("; ");
        assert!(errs.contains(want), "{to}: {errs}");
    }
}
