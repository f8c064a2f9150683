//! Reads what a plugin's fetch answered (a JSON array of entry objects) and
//! checks each entry against the entry schema of plugin-api: only worklist
//! fields and `source_record_id`, every value a string or null. An entry that
//! breaks the rules is dropped and reported; an answer that is not an array
//! of objects fails the fetch.

use crate::source::{SourceError, SourceErrorKind};
use pylantir_plugin_api::entry::{is_worklist_field, SOURCE_RECORD_ID};
use pylantir_plugin_api::Entry;
use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};
use std::fmt;

/// Parses and checks the entries `source_name` returned as `json`, in one
/// pass over the text.
pub fn parse_entries(source_name: &str, json: &str) -> Result<Vec<Entry>, SourceError> {
    let mut de = serde_json::Deserializer::from_str(json);
    let checked = de
        .deserialize_seq(EntriesVisitor)
        .and_then(|checked| de.end().map(|()| checked))
        .map_err(|e| {
            SourceError::new(
                SourceErrorKind::Crashed,
                format!(
                    "source '{source_name}' answered something that is not a list of entries: {e}"
                ),
            )
        })?;
    if let Some(problem) = &checked.first_problem {
        log::warn!(
            "source '{source_name}': {} of {} entries dropped as invalid; first: {problem}",
            checked.dropped,
            checked.dropped + checked.entries.len()
        );
    }
    Ok(checked.entries)
}

/// The valid entries of a fetch, and what was dropped.
struct Checked {
    entries: Vec<Entry>,
    dropped: usize,
    first_problem: Option<String>,
}

/// Reads the top-level array, keeping valid entries.
struct EntriesVisitor;

impl<'de> Visitor<'de> for EntriesVisitor {
    type Value = Checked;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON array of entry objects")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Checked, A::Error> {
        let mut checked = Checked {
            entries: Vec::with_capacity(seq.size_hint().unwrap_or(0)),
            dropped: 0,
            first_problem: None,
        };
        while let Some(entry) = seq.next_element_seed(EntrySeed)? {
            match entry {
                Ok(entry) => checked.entries.push(entry),
                Err(problem) => {
                    checked.dropped += 1;
                    let index = checked.entries.len() + checked.dropped;
                    checked
                        .first_problem
                        .get_or_insert_with(|| format!("entry {index}: {problem}"));
                }
            }
        }
        Ok(checked)
    }
}

/// One entry object: built and checked together.
struct EntrySeed;

impl<'de> DeserializeSeed<'de> for EntrySeed {
    type Value = Result<Entry, String>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for EntrySeed {
    type Value = Result<Entry, String>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an entry object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        // Sized up front: most entries carry a dozen or more fields.
        let mut entry = Map::with_capacity(map.size_hint().unwrap_or(24));
        let mut problem = None;
        while let Some(key) = map.next_key::<String>()? {
            let value: Value = map.next_value()?;
            if problem.is_none() {
                problem = check_field(&key, &value).err();
            }
            entry.insert(key, value);
        }
        Ok(match problem {
            None => Ok(entry),
            Some(problem) => Err(problem),
        })
    }
}

/// Checks one field: a known key with a string or null value.
fn check_field(key: &str, value: &Value) -> Result<(), String> {
    if key != SOURCE_RECORD_ID && !is_worklist_field(key) {
        return Err(format!("unknown field '{key}'"));
    }
    if !matches!(value, Value::String(_) | Value::Null) {
        return Err(format!("field '{key}' is {value}, not a string"));
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
    fn an_entry_with_a_number_value_is_dropped_as_not_a_string() {
        let json = r#"[{"patient_weight_lb": 150},{"patient_id":"P2"}]"#;
        let entries = parse_entries("s", json).unwrap();
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0]["patient_id"], "P2");
        assert_eq!(
            check_field("patient_weight_lb", &serde_json::json!(150)),
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
