//! The `config` object of a `json` source.

use file_sources::FileKind;
use pylantir_plugin_api::serde_json::{json, Value};
use std::path::PathBuf;

/// A checked `json` source configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct JsonConfig {
    /// The file to read: a JSON array of objects, or JSON Lines.
    pub file_path: PathBuf,
    /// The dotted path of each record's stable id, if any.
    pub record_id_path: Option<String>,
}

/// The json source as the shared file-source checks and messages name it.
pub const KIND: FileKind = FileKind {
    source_type: "json",
    file: "the JSON file to read",
    record_id_key: "record_id_path",
    record_id_is: "a dotted path such as \"booking.id\"",
    record: "record",
    mapping_key: "path",
    keys: &["file_path", "record_id_path"],
};

impl JsonConfig {
    /// Checks `config`; the error names the offending key.
    pub fn parse(config: &Value) -> Result<JsonConfig, String> {
        let (file, _) = KIND.parse(config)?;
        Ok(JsonConfig {
            file_path: file.file_path,
            record_id_path: file.record_id,
        })
    }
}

/// The JSON Schema of the `config` object, for `pylantir plugins info json`.
pub fn schema() -> Value {
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "required": ["file_path"],
        "properties": {
            "file_path": {"type": "string", "description": "A JSON array of objects, or JSON Lines (one object per line)"},
            "record_id_path": {"type": "string", "description": "Dotted path of each record's stable id; else a hash of the mapped values"}
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_path_is_required() {
        assert_eq!(
            JsonConfig::parse(&json!({"record_id_path": "id"})),
            Err("config.file_path is required (the JSON file to read)".to_string())
        );
    }

    #[test]
    fn record_id_path_must_be_a_string() {
        let error =
            JsonConfig::parse(&json!({"file_path": "a.json", "record_id_path": 3})).unwrap_err();
        assert!(error.starts_with("config.record_id_path must be a dotted path"));
    }
}
