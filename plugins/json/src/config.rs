//! The `config` object of a `json` source: [`JsonSettings`] reads it and is
//! its published JSON Schema; [`JsonConfig`] is what the source uses.

use file_sources::FileKind;
use plugin_config::{NonEmpty, NotBlank};
use pylantir_plugin_api::serde_json::Value;
use schemars::JsonSchema;
use serde::Deserialize;
use std::path::PathBuf;

/// Worklist entries from a JSON array or JSON Lines file, one object per entry.
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(title = "json source config")]
#[serde(expecting = "an object with at least file_path")]
pub struct JsonSettings {
    /// A JSON array of objects, or JSON Lines (one object per line).
    file_path: NotBlank,
    /// Dotted path of each record's stable id (`booking.id`); else a hash of the mapped values.
    record_id_path: Option<NonEmpty>,
}

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
    record_id_key: "record_id_path",
    record: "record",
    mapping_key: "path",
};

impl JsonConfig {
    /// Checks `config`; the error names the offending key.
    pub fn parse(config: &Value) -> Result<JsonConfig, String> {
        let settings: JsonSettings = KIND.parse(config)?;
        Ok(JsonConfig {
            file_path: PathBuf::from(settings.file_path.0),
            record_id_path: settings.record_id_path.map(|path| path.0),
        })
    }
}

/// The JSON Schema of the `config` object, for `pylantir plugins info json`.
pub fn schema() -> Value {
    plugin_config::schema::<JsonSettings>()
}

#[cfg(test)]
mod tests {
    use super::*;
    use plugin_config::testing::{assert_agree, example_configs};
    use pylantir_plugin_api::serde_json::json;

    #[test]
    fn file_path_is_required() {
        assert_eq!(
            JsonConfig::parse(&json!({"record_id_path": "id"})),
            Err("config.file_path is required: A JSON array of objects, or JSON Lines (one object per line)".to_string())
        );
    }

    #[test]
    fn record_id_path_must_be_a_string() {
        let error =
            JsonConfig::parse(&json!({"file_path": "a.json", "record_id_path": 3})).unwrap_err();
        assert_eq!(
            error,
            "config.record_id_path: must be a non-empty string, got 3"
        );
    }

    #[test]
    fn the_parser_and_the_published_schema_agree_on_examples_and_bad_configs() {
        let mut good = example_configs("json");
        assert!(!good.is_empty(), "the repository has json examples");
        good.push((
            "every key".to_string(),
            json!({"file_path": "a.json", "record_id_path": null, "unknown": 1}),
        ));
        let bad = [
            json!("a.json"),
            json!({}),
            json!({"file_path": ""}),
            json!({"file_path": ["a.json"]}),
            json!({"file_path": "a.json", "record_id_path": ""}),
            json!({"file_path": "a.json", "record_id_path": 3}),
        ];
        let parse = |config: &Value| JsonConfig::parse(config).map(drop);
        assert_agree(&schema(), parse, &good, &bad);
    }
}
