//! Reads what a plugin's fetch answered (a JSON array of entry objects) and
//! checks each entry against the entry schema of plugin-api: only worklist
//! fields and `source_record_id`, every value a string or null. An entry that
//! breaks the rules is dropped and reported; an answer that is not an array
//! of objects fails the fetch.

use crate::source::{SourceError, SourceErrorKind};
use pylantir_plugin_api::entry::{is_worklist_field, SOURCE_RECORD_ID};
use pylantir_plugin_api::Entry;
use serde_json::Value;

/// Parses and checks the entries `source_name` returned as `json`.
pub fn parse_entries(source_name: &str, json: &str) -> Result<Vec<Entry>, SourceError> {
    let entries: Vec<Entry> = serde_json::from_str(json).map_err(|e| {
        SourceError::new(
            SourceErrorKind::Crashed,
            format!("source '{source_name}' answered something that is not a list of entries: {e}"),
        )
    })?;
    let total = entries.len();
    let mut first_problem = None;
    let valid: Vec<Entry> = entries
        .into_iter()
        .enumerate()
        .filter_map(|(index, entry)| match check_entry(&entry) {
            Ok(()) => Some(entry),
            Err(problem) => {
                first_problem.get_or_insert_with(|| format!("entry {}: {problem}", index + 1));
                None
            }
        })
        .collect();
    if let Some(problem) = first_problem {
        log::warn!(
            "source '{source_name}': {} of {total} entries dropped as invalid; first: {problem}",
            total - valid.len()
        );
    }
    Ok(valid)
}

/// Checks one entry: known keys, string or null values.
pub fn check_entry(entry: &Entry) -> Result<(), String> {
    for (key, value) in entry {
        if key != SOURCE_RECORD_ID && !is_worklist_field(key) {
            return Err(format!("unknown field '{key}'"));
        }
        if !matches!(value, Value::String(_) | Value::Null) {
            return Err(format!("field '{key}' is {value}, not a string"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_entries_pass_unchanged() {
        let json = r#"[{"patient_id":"P1","patient_name":"Müller^Jürgen","source_record_id":"r1","modality":null}]"#;
        let entries = parse_entries("s", json).unwrap();
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0]["patient_name"], "Müller^Jürgen");
    }

    #[test]
    fn an_entry_with_an_unknown_field_is_dropped() {
        let json = r#"[{"patient_id":"P1"},{"patient_id":"P2","shoe_size":"44"}]"#;
        let entries = parse_entries("s", json).unwrap();
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0]["patient_id"], "P1");
    }

    #[test]
    fn a_number_value_is_not_a_string() {
        let entry: Entry = serde_json::from_str(r#"{"patient_weight_lb": 150}"#).unwrap();
        assert_eq!(
            check_entry(&entry),
            Err("field 'patient_weight_lb' is 150, not a string".to_string())
        );
    }

    #[test]
    fn an_answer_that_is_not_a_list_fails_the_fetch() {
        let error = parse_entries("s", r#"{"patient_id":"P1"}"#).unwrap_err();
        assert_eq!(error.kind, SourceErrorKind::Crashed);
        assert!(error.message.starts_with("source 's' answered something"));
    }
}
