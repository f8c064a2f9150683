//! The `config` object of a `csv` source.

use file_sources::FileKind;
use pylantir_plugin_api::serde_json::{json, Value};
use std::path::PathBuf;

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
    file: "the CSV file to read",
    record_id_key: "record_id_column",
    record_id_is: "a column name",
    record: "row",
    mapping_key: "column",
    keys: &[
        "file_path",
        "delimiter",
        "record_id_column",
        "watch_for_changes",
    ],
};

impl CsvConfig {
    /// Checks `config`; the error names the offending key.
    pub fn parse(config: &Value) -> Result<CsvConfig, String> {
        let (file, object) = KIND.parse(config)?;
        let delimiter = match object.get("delimiter") {
            None => b',',
            Some(Value::String(d)) if d.len() == 1 && d.is_ascii() => d.as_bytes()[0],
            Some(other) => {
                return Err(format!(
                "config.delimiter must be one ASCII character such as \",\" or \";\", got {other}"
            ))
            }
        };
        let watch_for_changes = match object.get("watch_for_changes") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(other) => {
                return Err(format!(
                    "config.watch_for_changes must be true or false, got {other}"
                ))
            }
        };
        Ok(CsvConfig {
            file_path: file.file_path,
            delimiter,
            record_id_column: file.record_id,
            watch_for_changes,
        })
    }
}

/// The JSON Schema of the `config` object, for `pylantir plugins info csv`.
pub fn schema() -> Value {
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "required": ["file_path"],
        "properties": {
            "file_path": {"type": "string", "description": "The CSV file (UTF-8, with or without BOM, header row required)"},
            "delimiter": {"type": "string", "minLength": 1, "maxLength": 1, "default": ","},
            "record_id_column": {"type": "string", "description": "Column holding each row's stable id; else a hash of the mapped values"},
            "watch_for_changes": {"type": "boolean", "default": false, "description": "Re-read the file only when its size or modification time changed"}
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_path_is_required() {
        assert_eq!(
            CsvConfig::parse(&json!({})),
            Err("config.file_path is required (the CSV file to read)".to_string())
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
        assert!(error.starts_with("config.delimiter must be one ASCII character"));
    }
}
