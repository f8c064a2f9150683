//! The `config` object of a `csv` source: [`CsvSettings`] reads it and is
//! its published JSON Schema; [`CsvConfig`] is what the source uses.

use file_sources::FileKind;
use plugin_config::{NonEmpty, NotBlank};
use pylantir_plugin_api::serde_json::Value;
use schemars::JsonSchema;
use serde::de::Error as _;
use serde::{Deserialize, Deserializer};
use std::path::PathBuf;

/// Worklist entries from a CSV file, one row per entry.
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(title = "csv source config")]
#[serde(expecting = "an object with at least file_path")]
pub struct CsvSettings {
    /// The CSV file (UTF-8, with or without BOM, header row required).
    file_path: NotBlank,
    /// The field separator: one ASCII character.
    #[serde(default)]
    delimiter: Delimiter,
    /// Column holding each row's stable id; else a hash of the mapped values.
    record_id_column: Option<NonEmpty>,
    /// Re-read the file only when its size or modification time changed.
    #[schemars(extend("default" = false))]
    watch_for_changes: Option<bool>,
}

/// `config.delimiter`: one ASCII character (default `,`).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Delimiter(u8);

impl Default for Delimiter {
    fn default() -> Self {
        Delimiter(b',')
    }
}

impl<'de> Deserialize<'de> for Delimiter {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match Value::deserialize(deserializer)? {
            Value::String(d) if d.len() == 1 && d.is_ascii() => Ok(Delimiter(d.as_bytes()[0])),
            other => Err(D::Error::custom(format!(
                "must be one ASCII character such as \",\" or \";\", got {other}"
            ))),
        }
    }
}

plugin_config::fixed_schema!(Delimiter, {"type": "string", "pattern": "^[\\u0000-\\u007f]$", "default": ","});

/// A checked `csv` source configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct CsvConfig {
    /// The file to read.
    pub file_path: PathBuf,
    /// The field separator (default `,`).
    pub delimiter: u8,
    /// The column holding each row's stable id, if any.
    pub record_id_column: Option<String>,
    /// Re-read the file only when its size or modification time changed.
    pub watch_for_changes: bool,
}

/// The csv source as the shared file-source checks and messages name it.
pub const KIND: FileKind = FileKind {
    source_type: "csv",
    record_id_key: "record_id_column",
    record: "row",
    mapping_key: "column",
};

impl CsvConfig {
    /// Checks `config`; the error names the offending key.
    pub fn parse(config: &Value) -> Result<CsvConfig, String> {
        let settings: CsvSettings = KIND.parse(config)?;
        Ok(CsvConfig {
            file_path: PathBuf::from(settings.file_path.0),
            delimiter: settings.delimiter.0,
            record_id_column: settings.record_id_column.map(|key| key.0),
            watch_for_changes: settings.watch_for_changes.unwrap_or(false),
        })
    }
}

/// The JSON Schema of the `config` object, for `pylantir plugins info csv`.
pub fn schema() -> Value {
    plugin_config::schema::<CsvSettings>()
}

#[cfg(test)]
mod tests {
    use super::*;
    use plugin_config::testing::{assert_agree, example_configs};
    use pylantir_plugin_api::serde_json::json;

    #[test]
    fn file_path_is_required() {
        assert_eq!(
            CsvConfig::parse(&json!({})),
            Err("config.file_path is required: The CSV file (UTF-8, with or without BOM, header row required)".to_string())
        );
    }

    #[test]
    fn defaults_apply() {
        let config = CsvConfig::parse(&json!({"file_path": "a.csv"})).unwrap();
        assert_eq!(config.delimiter, b',');
        assert_eq!(config.record_id_column, None);
        assert!(!config.watch_for_changes);
    }

    #[test]
    fn a_long_delimiter_is_refused() {
        let error =
            CsvConfig::parse(&json!({"file_path": "a.csv", "delimiter": "::"})).unwrap_err();
        assert!(error.starts_with("config.delimiter: must be one ASCII character"));
    }

    #[test]
    fn the_parser_and_the_published_schema_agree_on_examples_and_bad_configs() {
        let mut good = example_configs("csv");
        assert!(!good.is_empty(), "the repository has csv examples");
        good.push((
            "every key".to_string(),
            json!({"file_path": "a.csv", "delimiter": ";", "record_id_column": null,
                   "watch_for_changes": null, "unknown": 1}),
        ));
        let bad = [
            json!(null),
            json!({"delimiter": ";"}),
            json!({"file_path": " "}),
            json!({"file_path": 3}),
            json!({"file_path": "a.csv", "delimiter": "::"}),
            json!({"file_path": "a.csv", "delimiter": "é"}),
            json!({"file_path": "a.csv", "delimiter": null}),
            json!({"file_path": "a.csv", "record_id_column": ""}),
            json!({"file_path": "a.csv", "watch_for_changes": "yes"}),
        ];
        let parse = |config: &Value| CsvConfig::parse(config).map(drop);
        assert_agree(&schema(), parse, &good, &bad);
    }
}
