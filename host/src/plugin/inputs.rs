//! The files and directories a component's config names for it to read, checked before any
//! component is built. A plugin declares such a field in its schema with
//! `lrpo_sdk::schema::input_file` / `input_dir`; the host follows the schema (nested tables
//! included) and never guesses from key names.

use lrpo_core::{Error, Result};
use lrpo_sdk::schema::{INPUT_DIR, INPUT_FILE};
use serde_json::{Map, Value};
use std::path::Path;

/// Checks every input path `config` sets under `table` (`components.reward_model.x`), as
/// `schema` declares them: it must exist, be a file or a directory as declared, and be
/// readable. Paths are taken as the component will take them (relative to the working
/// directory).
pub fn check_inputs(table: &str, schema: &Value, config: &Map<String, Value>) -> Result<()> {
    walk(schema, schema, config, &format!("{table}.config"))
}

fn walk(root: &Value, schema: &Value, config: &Map<String, Value>, prefix: &str) -> Result<()> {
    let Some(props) = schema.get("properties").and_then(Value::as_object) else { return Ok(()) };
    for (key, value) in config {
        let Some(prop) = props.get(key).map(|p| resolve(root, p)) else { continue };
        let key = format!("{prefix}.{key}");
        match (prop.get("format").and_then(Value::as_str), value) {
            (Some(format @ (INPUT_FILE | INPUT_DIR)), Value::String(path)) => {
                check_path(Path::new(path), format == INPUT_DIR).map_err(|m| Error::config(&key, m))?;
            }
            (_, Value::Object(table)) => walk(root, prop, table, &key)?,
            _ => {}
        }
    }
    Ok(())
}

/// Follows a `$ref` into `definitions`, also when schemars wraps it in a one-element `allOf`
/// (it does so to attach a field's description to a nested struct).
fn resolve<'a>(root: &'a Value, prop: &'a Value) -> &'a Value {
    let target = prop.get("$ref").or_else(|| prop.get("allOf")?.as_array()?.first()?.get("$ref"));
    target
        .and_then(Value::as_str)
        .and_then(|r| r.strip_prefix("#/"))
        .and_then(|r| r.split('/').try_fold(root, |v, part| v.get(part)))
        .unwrap_or(prop)
}

fn check_path(path: &Path, want_dir: bool) -> std::result::Result<(), String> {
    let shown = path.display();
    let meta = std::fs::metadata(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => format!("{shown}: no such {}", if want_dir { "directory" } else { "file" }),
        _ => format!("{shown}: cannot be read: {e}"),
    })?;
    if want_dir {
        if !meta.is_dir() {
            return Err(format!("{shown} is not a directory"));
        }
        std::fs::read_dir(path).map_err(|e| format!("{shown}: cannot be read: {e}"))?;
    } else {
        if meta.is_dir() {
            return Err(format!("{shown} is a directory, not a file"));
        }
        std::fs::File::open(path).map_err(|e| format!("{shown}: cannot be read: {e}"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema() -> Value {
        json!({
            "properties": {
                "stats": { "type": ["string", "null"], "format": INPUT_FILE },
                "name": { "type": "string" },
                "encoder": { "allOf": [{ "$ref": "#/definitions/Encoder" }], "description": "nested" },
            },
            "definitions": {
                "Encoder": { "properties": { "model_dir": { "type": ["string", "null"], "format": INPUT_DIR } } }
            }
        })
    }

    fn check(config: Value) -> std::result::Result<(), String> {
        check_inputs("components.reward_model.r", &schema(), config.as_object().unwrap()).map_err(|e| e.to_string())
    }

    #[test]
    fn declared_paths_are_checked_nested_ones_too_and_others_left_alone() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("stats.csv");
        std::fs::write(&file, "x").unwrap();
        let dir = tmp.path().display().to_string();
        let file = file.display().to_string();
        check(json!({ "stats": file, "encoder": { "model_dir": dir }, "name": "/no/such" })).unwrap();
        check(json!({ "stats": null })).unwrap();

        let err = check(json!({ "stats": "/no/such.csv" })).unwrap_err();
        assert_eq!(err, "config `components.reward_model.r.config.stats`: /no/such.csv: no such file");
        let err = check(json!({ "encoder": { "model_dir": "/no/such" } })).unwrap_err();
        assert_eq!(err, "config `components.reward_model.r.config.encoder.model_dir`: /no/such: no such directory");
        let err = check(json!({ "encoder": { "model_dir": file } })).unwrap_err();
        assert!(err.ends_with("stats.csv is not a directory"), "{err}");
        let err = check(json!({ "stats": dir })).unwrap_err();
        assert!(err.ends_with("is a directory, not a file"), "{err}");
    }
}
