//! The entry rules are stated three times: in the JSON Schema plugin-api
//! publishes ([`entry_schema`]), in the loader's check of a fetch answer
//! ([`crate::loader::entries`]) and in the normalisation before a write
//! ([`super::normalise`]). These tests read the schema and hold the host to
//! it, key by key: a change to one that the others do not follow fails here.
//!
//! The schema and the host also agree on the one required field
//! (`patient_id`, not null, not blank); the host alone checks the form of
//! dates, times and sex, where the schema states only their type.

use super::normalise::{normalise, Normalised};
use crate::loader::entries::parse_entries;
use pylantir_plugin_api::entry::{REQUIRED_FIELD, SOURCE_RECORD_ID, SOURCE_STATUSES, STATUS};
use pylantir_plugin_api::{entry_schema, WORKLIST_FIELDS};
use serde_json::{json, Map, Value};

/// Fields the host writes in a form of its own (a date, a time, `M`/`F`/`O`),
/// so a value of any length is not stored as sent.
const REFORMED: &[&str] = &[
    "patient_birth_date",
    "patient_sex",
    "scheduled_start_date",
    "scheduled_start_time",
];

fn properties() -> Map<String, Value> {
    entry_schema()["properties"]
        .as_object()
        .expect("the entry schema lists its properties")
        .clone()
}

/// What the host makes of `entry`: the loader's check, then the normalisation.
fn host_takes(entry: Value) -> Result<Normalised, String> {
    let answer = json!([entry]).to_string();
    let entries = parse_entries("rules", &answer).map_err(|e| e.to_string())?;
    match entries.as_slice() {
        [entry] => normalise(entry),
        _ => Err("dropped by the loader".to_string()),
    }
}

/// An entry with a patient (which the host requires) and `key: value`.
fn entry_with(key: &str, value: Value) -> Value {
    json!({REQUIRED_FIELD: "P1", key: value})
}

/// A value of `key` the schema accepts and the host reads as it is.
fn valid_value(key: &str) -> Value {
    match key {
        STATUS => json!(SOURCE_STATUSES[0]),
        "patient_birth_date" | "scheduled_start_date" => json!("2026-01-02"),
        "scheduled_start_time" => json!("10:00"),
        "patient_sex" => json!("F"),
        _ => json!("X1"),
    }
}

#[test]
fn every_key_of_the_schema_is_taken_with_a_string_or_null_and_no_other_key_is() {
    let properties = properties();
    assert_eq!(
        entry_schema()["additionalProperties"],
        json!(false),
        "the schema allows no other key"
    );
    for key in properties.keys() {
        let taken = host_takes(entry_with(key, valid_value(key)));
        assert!(taken.is_ok(), "{key}: {taken:?}");
        if key != "patient_id" {
            let taken = host_takes(entry_with(key, Value::Null));
            assert!(taken.is_ok(), "{key} null: {taken:?}");
        }
    }
    let refused = host_takes(entry_with("favourite_colour", json!("blue")));
    assert!(refused.is_err(), "a key the schema lacks: {refused:?}");
}

#[test]
fn the_schema_lists_every_worklist_field_the_record_id_and_the_status() {
    let properties = properties();
    let mut expected: Vec<&str> = WORKLIST_FIELDS.iter().map(|(f, _)| *f).collect();
    expected.extend([SOURCE_RECORD_ID, STATUS]);
    let mut listed: Vec<&str> = properties.keys().map(String::as_str).collect();
    expected.sort_unstable();
    listed.sort_unstable();
    assert_eq!(listed, expected);
}

#[test]
fn a_json_type_other_than_the_schema_allows_is_refused() {
    for (key, schema) in properties() {
        if key == STATUS {
            continue;
        }
        let types = if key == REQUIRED_FIELD {
            json!("string")
        } else {
            json!(["string", "null"])
        };
        assert_eq!(schema["type"], types, "{key}");
        for value in [json!(7), json!(true), json!(["X"]), json!({"a": "X"})] {
            let refused = host_takes(entry_with(&key, value.clone()));
            assert!(refused.is_err(), "{key} = {value}: {refused:?}");
        }
    }
}

#[test]
fn the_statuses_the_schema_enumerates_are_the_ones_a_source_may_set() {
    let listed = properties()[STATUS]["enum"].clone();
    let mut statuses: Vec<Value> = SOURCE_STATUSES.iter().map(|s| json!(s)).collect();
    statuses.push(Value::Null);
    assert_eq!(listed, Value::Array(statuses));
    for status in SOURCE_STATUSES {
        let taken = host_takes(entry_with(STATUS, json!(status))).map(|n| n.item.status);
        assert_eq!(taken, Ok(Some(status.to_string())));
    }
    for status in ["IN_PROGRESS", "COMPLETED", "CANCELLED"] {
        let refused = host_takes(entry_with(STATUS, json!(status)));
        assert!(refused.is_err(), "{status}: {refused:?}");
    }
}

#[test]
fn each_max_length_of_the_schema_is_the_longest_value_stored_as_sent() {
    for (key, schema) in properties() {
        let Some(max) = schema["maxLength"].as_u64() else {
            continue;
        };
        if REFORMED.contains(&key.as_str()) {
            continue;
        }
        let max = max as usize;
        let stored = |n: &Normalised| {
            if key == SOURCE_RECORD_ID {
                n.item.record_id.clone()
            } else {
                let index = WORKLIST_FIELDS.iter().position(|(f, _)| *f == key);
                index.and_then(|i| n.item.values[i].clone())
            }
        };
        let longest = "7".repeat(max);
        let taken = host_takes(entry_with(&key, json!(longest))).expect("the longest value");
        assert_eq!(stored(&taken).as_deref(), Some(longest.as_str()), "{key}");
        assert!(taken.warnings.is_empty(), "{key}: {:?}", taken.warnings);
        // One more: cut to the limit with a warning, or refused.
        match host_takes(entry_with(&key, json!(format!("{longest}7")))) {
            Ok(cut) => {
                assert_eq!(stored(&cut).as_deref(), Some(longest.as_str()), "{key}");
                assert!(!cut.warnings.is_empty(), "{key}: cut without a warning");
            }
            Err(refusal) => assert!(refusal.contains(&key), "{key}: {refusal}"),
        }
    }
}

#[test]
fn the_schema_and_the_host_refuse_the_same_entries_for_want_of_a_patient_id() {
    assert_eq!(entry_schema()["required"], json!([REQUIRED_FIELD]));
    let schema = jsonschema::validator_for(&entry_schema()).expect("the entry schema compiles");
    let entries = [
        json!({}),
        json!({"patient_name": "DOE^JANE", SOURCE_RECORD_ID: "r1"}),
        json!({REQUIRED_FIELD: null}),
        json!({REQUIRED_FIELD: ""}),
        json!({REQUIRED_FIELD: " \t "}),
        json!({REQUIRED_FIELD: "P1"}),
        json!({REQUIRED_FIELD: " P1 "}),
        json!({REQUIRED_FIELD: "P1", "patient_name": null}),
    ];
    for entry in entries {
        let host = host_takes(entry.clone());
        assert_eq!(schema.is_valid(&entry), host.is_ok(), "{entry}: {host:?}");
    }
}
