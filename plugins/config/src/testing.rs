//! Holding a plugin's config parser and its published schema to the same
//! verdicts, on the repository's example configurations and on bad ones.

use serde_json::Value;
use std::path::{Path, PathBuf};

/// The repository root (this crate is `plugins/config`).
fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Every `config` object given to a data source of `source_type` in the
/// repository's example configurations (`config/*.json`,
/// `tests/data/pylantir-config/*.json`) and in the JSON blocks of its
/// `docs/*.md`, each with where it was found.
pub fn example_configs(source_type: &str) -> Vec<(String, Value)> {
    let root = repository();
    let mut documents = Vec::new();
    for dir in ["config", "tests/data/pylantir-config"] {
        for path in files(&root.join(dir), "json") {
            let text = std::fs::read_to_string(&path).expect("an example file");
            let value = serde_json::from_str(&text).expect("an example file is JSON");
            documents.push((path.display().to_string(), value));
        }
    }
    for path in files(&root.join("docs"), "md") {
        let text = std::fs::read_to_string(&path).expect("a doc");
        for (index, block) in text.split("```json").skip(1).enumerate() {
            let block = block.split("```").next().unwrap_or_default();
            // A block that is a fragment of a file is no whole example.
            if let Ok(value) = serde_json::from_str(block) {
                documents.push((format!("{} block {}", path.display(), index + 1), value));
            }
        }
    }
    let mut configs = Vec::new();
    for (place, document) in documents {
        collect(&document, source_type, &place, &mut configs);
    }
    configs
}

fn files(dir: &Path, extension: &str) -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("an examples directory")
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|path| path.extension().is_some_and(|e| e == extension))
        .collect();
    paths.sort();
    paths
}

/// The `config` of every object in `value` whose `type` is `source_type`.
fn collect(value: &Value, source_type: &str, place: &str, configs: &mut Vec<(String, Value)>) {
    match value {
        Value::Object(object) => {
            if object.get("type").and_then(Value::as_str) == Some(source_type) {
                if let Some(config) = object.get("config") {
                    let name = object.get("name").and_then(Value::as_str).unwrap_or("?");
                    configs.push((format!("{place}: source {name}"), config.clone()));
                }
            }
            for child in object.values() {
                collect(child, source_type, place, configs);
            }
        }
        Value::Array(items) => {
            for item in items {
                collect(item, source_type, place, configs);
            }
        }
        _ => {}
    }
}

/// Asserts that `parse` and `schema` take every config of `good` and
/// refuse every one of `bad`.
pub fn assert_agree(
    schema: &Value,
    parse: impl Fn(&Value) -> Result<(), String>,
    good: &[(String, Value)],
    bad: &[Value],
) {
    let validator = jsonschema::validator_for(schema).expect("the published schema compiles");
    for (place, config) in good {
        assert_eq!(parse(config), Ok(()), "{place}: {config}");
        let errors: Vec<String> = validator
            .iter_errors(config)
            .map(|e| e.to_string())
            .collect();
        assert!(errors.is_empty(), "{place}: {config}: {errors:?}");
    }
    for config in bad {
        assert!(parse(config).is_err(), "the parser takes {config}");
        assert!(!validator.is_valid(config), "the schema takes {config}");
    }
}
