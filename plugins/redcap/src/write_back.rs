//! MPPS write-back (`mpps_outcome`): the scan's outcome imported into the
//! visit's record, one configured field and value per worklist status.
//!
//! ```json
//! "write_back": {"field_map": {
//!     "IN_PROGRESS": {"field": "mri_status", "value": "1"},
//!     "COMPLETED": {"field": "mri_status", "value": "2"},
//!     "DISCONTINUED": {"field": "mri_status", "value": "3"}
//! }}
//! ```

use crate::api::Api;
use plugin_config::{NonEmpty, Text};
use pylantir_plugin_api::serde_json::{json, Map, Value};
use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde::de::Error as _;
use serde::{Deserialize, Deserializer};
use std::borrow::Cow;
use std::collections::BTreeMap;

/// The worklist statuses an outcome can carry.
pub const STATUSES: [&str; 3] = ["IN_PROGRESS", "COMPLETED", "DISCONTINUED"];

/// One status's field and the value written into it.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
pub struct Target {
    /// The REDCap field written.
    pub field: NonEmpty,
    /// The value written into it.
    pub value: Text,
}

/// `config.write_back`: the field written for each status.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
pub struct WriteBack {
    /// Status (IN_PROGRESS, COMPLETED, DISCONTINUED) -> the field and value written.
    pub field_map: FieldMap,
}

/// `write_back.field_map`: at least one status, each with its target.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldMap(pub BTreeMap<String, Target>);

impl<'de> Deserialize<'de> for FieldMap {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let map = BTreeMap::<String, Target>::deserialize(deserializer)?;
        if map.is_empty() {
            return Err(D::Error::custom(format!(
                "must map at least one status ({}) to {{\"field\": name, \"value\": text}}",
                STATUSES.join(", ")
            )));
        }
        if let Some(status) = map.keys().find(|s| !STATUSES.contains(&s.as_str())) {
            return Err(D::Error::custom(format!(
                "'{status}' is not a status an outcome carries ({})",
                STATUSES.join(", ")
            )));
        }
        Ok(FieldMap(map))
    }
}

impl JsonSchema for FieldMap {
    fn inline_schema() -> bool {
        true
    }
    fn schema_name() -> Cow<'static, str> {
        "FieldMap".into()
    }
    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "object",
            "minProperties": 1,
            "propertyNames": {"enum": STATUSES},
            "additionalProperties": generator.subschema_for::<Target>(),
        })
    }
}

/// The row imported for `payload` (`source_record_id` is `record:instance`,
/// the instance empty for a record without repeats), or `None` when no field
/// is configured for its status.
pub fn row(
    write_back: &WriteBack,
    record_field: &str,
    instrument: &str,
    payload: &Value,
) -> Result<Option<Map<String, Value>>, String> {
    let status = payload
        .get("status")
        .and_then(Value::as_str)
        .ok_or("the mpps_outcome payload has no status")?;
    let Some(target) = write_back.field_map.0.get(status) else {
        return Ok(None);
    };
    let id = payload
        .get("source_record_id")
        .and_then(Value::as_str)
        .ok_or("the mpps_outcome payload has no source_record_id")?;
    let (record, instance) = id.rsplit_once(':').unwrap_or((id, ""));
    if record.is_empty() {
        return Err(format!("source record id '{id}' names no REDCap record"));
    }
    let mut row = Map::new();
    row.insert(record_field.to_string(), json!(record));
    if !instance.is_empty() {
        row.insert("redcap_repeat_instrument".to_string(), json!(instrument));
        row.insert("redcap_repeat_instance".to_string(), json!(instance));
    }
    row.insert(target.field.0.clone(), json!(target.value.0));
    Ok(Some(row))
}

/// Writes the outcome `payload` into its record; the answer says what was written.
pub fn write(
    write_back: Option<&WriteBack>,
    api: &Api,
    instrument: &str,
    payload: &Value,
) -> Result<Value, String> {
    let write_back = write_back.ok_or(
        "config.write_back is not set: the REDCap source does not know which field to write",
    )?;
    let metadata = api.metadata()?;
    let record_field = metadata
        .first()
        .map(|f| f.name.clone())
        .ok_or("the REDCap project has no fields")?;
    let Some(row) = row(write_back, &record_field, instrument, payload)? else {
        return Ok(json!({"written": false, "reason": "no field configured for this status"}));
    };
    let answer = api.import(&row)?;
    Ok(json!({"written": true, "row": row, "redcap": answer}))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> WriteBack {
        let config = json!({"field_map": {
            "COMPLETED": {"field": "mri_status", "value": 2}
        }});
        plugin_config::parse_at(&config, "config.write_back").unwrap()
    }

    #[test]
    fn a_repeat_instance_outcome_becomes_a_repeat_row_with_the_status_value() {
        let payload = json!({"source_record_id": "17:2", "status": "COMPLETED"});
        let row = row(&config(), "record_id", "mri", &payload)
            .unwrap()
            .unwrap();
        assert_eq!(
            Value::Object(row),
            json!({"record_id": "17", "redcap_repeat_instrument": "mri",
                   "redcap_repeat_instance": "2", "mri_status": "2"})
        );
    }

    #[test]
    fn a_status_without_a_field_writes_nothing() {
        let payload = json!({"source_record_id": "17:2", "status": "IN_PROGRESS"});
        assert_eq!(row(&config(), "record_id", "mri", &payload), Ok(None));
    }

    #[test]
    fn an_unknown_status_key_is_refused_with_its_path() {
        let config = json!({"field_map": {"DONE": {"field": "x", "value": "1"}}});
        let error = plugin_config::parse_at::<WriteBack>(&config, "config.write_back");
        assert_eq!(
            error.unwrap_err(),
            "config.write_back.field_map: 'DONE' is not a status an outcome carries \
             (IN_PROGRESS, COMPLETED, DISCONTINUED)"
        );
    }
}
