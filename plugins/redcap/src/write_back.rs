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
use pylantir_plugin_api::serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// The worklist statuses an outcome can carry.
pub const STATUSES: [&str; 3] = ["IN_PROGRESS", "COMPLETED", "DISCONTINUED"];

/// One status's field and the value written into it.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    pub field: String,
    pub value: String,
}

/// `config.write_back`: the field written for each status.
#[derive(Debug, Clone, PartialEq)]
pub struct WriteBack {
    pub field_map: BTreeMap<String, Target>,
}

/// Reads `config.write_back`; `None` when absent.
pub fn parse(obj: &Map<String, Value>) -> Result<Option<WriteBack>, String> {
    let map = match obj.get("write_back") {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Object(rule)) => match rule.get("field_map") {
            Some(Value::Object(map)) if !map.is_empty() => map,
            other => {
                return Err(format!(
                    "config.write_back.field_map must map a status ({}) to {{\"field\": name, \"value\": text}}, got {}",
                    STATUSES.join(", "),
                    other.map_or("nothing".to_string(), Value::to_string)
                ))
            }
        },
        Some(other) => {
            return Err(format!(
                "config.write_back must be {{\"field_map\": {{status: {{\"field\": name, \"value\": text}}}}}}, got {other}"
            ))
        }
    };
    let mut field_map = BTreeMap::new();
    for (status, target) in map {
        let at = format!("config.write_back.field_map.{status}");
        if !STATUSES.contains(&status.as_str()) {
            return Err(format!(
                "{at}: '{status}' is not a status an outcome carries ({})",
                STATUSES.join(", ")
            ));
        }
        let field = target.get("field").and_then(Value::as_str).unwrap_or("");
        if field.is_empty() {
            return Err(format!("{at}.field must name a REDCap field"));
        }
        let value = match target.get("value") {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            other => {
                return Err(format!(
                    "{at}.value must be the text to write, got {}",
                    other.map_or("nothing".to_string(), Value::to_string)
                ))
            }
        };
        field_map.insert(
            status.clone(),
            Target {
                field: field.to_string(),
                value,
            },
        );
    }
    Ok(Some(WriteBack { field_map }))
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
    let Some(target) = write_back.field_map.get(status) else {
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
    row.insert(target.field.clone(), json!(target.value));
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
        let obj = json!({"write_back": {"field_map": {
            "COMPLETED": {"field": "mri_status", "value": 2}
        }}});
        parse(obj.as_object().unwrap()).unwrap().unwrap()
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
        let obj = json!({"write_back": {"field_map": {"DONE": {"field": "x", "value": "1"}}}});
        let error = parse(obj.as_object().unwrap()).unwrap_err();
        assert!(
            error.starts_with("config.write_back.field_map.DONE:"),
            "{error}"
        );
    }
}
