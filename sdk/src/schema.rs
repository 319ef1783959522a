//! Marks on config fields that the host acts on before it builds any component.
//!
//! A field holding a file or directory the component will read is declared with
//! `#[schemars(schema_with = "lrpo_sdk::schema::input_file")]` (or `input_dir`). Its schema then
//! carries the format [`INPUT_FILE`] (or [`INPUT_DIR`]), and the host checks that every such path
//! a config sets exists and can be read before any model loads, so a typo in the last
//! component's path is reported at once, naming its key, not after minutes of loading the
//! others. The schema is the contract: the host checks nothing a plugin does not declare.

use schemars::gen::SchemaGenerator;
use schemars::schema::{InstanceType, Schema, SchemaObject, SingleOrVec};

/// The schema `format` of a config field naming a file the component reads.
pub const INPUT_FILE: &str = "lrpo-input-file";
/// The schema `format` of a config field naming a directory the component reads.
pub const INPUT_DIR: &str = "lrpo-input-dir";

fn path_schema(format: &str) -> Schema {
    SchemaObject {
        // Null too: these fields are usually `Option<PathBuf>`, unset meaning a default.
        instance_type: Some(SingleOrVec::Vec(vec![InstanceType::String, InstanceType::Null])),
        format: Some(format.to_string()),
        ..Default::default()
    }
    .into()
}

/// `schema_with` for a field naming an input file (`PathBuf` or `Option<PathBuf>`).
pub fn input_file(_: &mut SchemaGenerator) -> Schema {
    path_schema(INPUT_FILE)
}

/// `schema_with` for a field naming an input directory (`PathBuf` or `Option<PathBuf>`).
pub fn input_dir(_: &mut SchemaGenerator) -> Schema {
    path_schema(INPUT_DIR)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, schemars::JsonSchema)]
    #[allow(dead_code)]
    struct Config {
        /// The statistics file.
        #[schemars(schema_with = "input_file")]
        stats: Option<std::path::PathBuf>,
        #[schemars(schema_with = "input_dir")]
        model: std::path::PathBuf,
        name: String,
    }

    #[test]
    fn marked_fields_carry_their_format_and_keep_their_description() {
        let schema = serde_json::to_value(schemars::schema_for!(Config)).unwrap();
        let props = &schema["properties"];
        assert_eq!(props["stats"]["format"], INPUT_FILE);
        assert_eq!(props["stats"]["description"], "The statistics file.");
        assert_eq!(props["model"]["format"], INPUT_DIR);
        assert!(props["name"].get("format").is_none());
    }
}
