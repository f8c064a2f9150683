//! What pylantir's file data sources (`csv`, `json`) share: reading their
//! `config` object (warning about keys they do not have), the check of one
//! `field_mapping` entry, the report of a skipped record, and the hash that
//! identifies a record that has no id of its own.
//!
//! Each source describes itself once in a [`FileKind`]; the messages built
//! from it name its file, its records and its keys.

use pylantir_plugin_api::entry::is_worklist_field;
use pylantir_plugin_api::serde_json::Value;
use pylantir_plugin_api::{log, FieldMapping, Skipped};
use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use std::path::Path;
use xxhash_rust::xxh3::xxh3_128;

/// The error of a fetch before `validate_config`.
pub const NOT_CONFIGURED: &str = "the source has no configuration (validate_config was not called)";

/// How many skipped records are logged one by one before only counting.
const LOGGED_SKIPS: usize = 10;

/// What tells one file source from another in the shared checks and messages.
pub struct FileKind {
    /// The source type (`csv`).
    pub source_type: &'static str,
    /// The key naming each record's stable id (`record_id_column`).
    pub record_id_key: &'static str,
    /// One record of the file (`row`).
    pub record: &'static str,
    /// What a `field_mapping` key names (`column`).
    pub mapping_key: &'static str,
}

impl FileKind {
    /// Reads `config` as the source's config type `T` (whose schema the
    /// source publishes); keys `T` does not have are logged and ignored. The
    /// error names the offending key.
    pub fn parse<T: DeserializeOwned + JsonSchema>(&self, config: &Value) -> Result<T, String> {
        let read = plugin_config::parse(config)?;
        if let Some(object) = config.as_object() {
            let known = plugin_config::known_keys::<T>();
            for key in object.keys().filter(|key| !known.contains(key)) {
                log::warn!(
                    "config.{key} is not a {} source setting and is ignored",
                    self.source_type
                );
            }
        }
        Ok(read)
    }

    /// Warns, when a source is configured, about a file that is not there
    /// (yet) and about records identified by a hash of their values (no
    /// `record_id`).
    pub fn warn_at_validation(&self, file_path: &Path, record_id: Option<&str>) {
        let file = file_path.display();
        if !file_path.exists() {
            log::warn!("{file} does not exist (yet); fetches fail until it does");
        }
        if record_id.is_none() {
            let (key, record) = (self.record_id_key, self.record);
            log::warn!(
                "{file}: no config.{key}: each {record}'s identity is a hash of its mapped \
                 values, so an edited {record} becomes a new worklist item"
            );
        }
    }

    /// Refuses an empty mapping.
    pub fn check_mapping_not_empty(&self, mapping: &FieldMapping) -> Result<(), String> {
        if mapping.is_empty() {
            return Err(format!(
                "field_mapping is empty: map at least one {} to a worklist field",
                self.mapping_key
            ));
        }
        Ok(())
    }
}

/// The worklist field one `field_mapping` entry (`key -> target`) fills;
/// `None` for a target that is no worklist field, which has no effect, as
/// in Python pylantir (the host warns about it at start).
pub fn mapped_field(key: &str, target: &Value) -> Result<Option<String>, String> {
    match target {
        Value::String(field) if is_worklist_field(field) => Ok(Some(field.clone())),
        Value::String(field) => {
            log::debug!("field_mapping '{key}' -> '{field}': not a worklist field; ignored");
            Ok(None)
        }
        other => Err(format!(
            "field_mapping['{key}'] must be a worklist field name, got {other}"
        )),
    }
}

/// Keeps a skipped record for the host, logging the first few.
pub fn report_skipped(skipped: &mut Vec<Skipped>, record_id: Option<String>, reason: String) {
    if skipped.len() < LOGGED_SKIPS {
        log::warn!("{reason}");
    }
    skipped.push(Skipped { record_id, reason });
}

/// A stable id from a record's (worklist field, value) pairs, in field
/// order (xxh3-128, hex): the same mapped values give the same id in every
/// run, on every platform, from either source.
pub fn hash_id<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let mut bytes = Vec::new();
    for (field, value) in pairs {
        bytes.extend_from_slice(field.as_bytes());
        bytes.push(0x1f);
        bytes.extend_from_slice(value.as_bytes());
        bytes.push(0x1e);
    }
    format!("{:032x}", xxh3_128(&bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hash_id_is_a_fixed_function_of_the_values() {
        let id = hash_id([("patient_id", "P1"), ("patient_name", "Müller^Jürgen")]);
        assert_eq!(id, "1eae73b4ab5c6ced060329af610820dc");
    }
}
