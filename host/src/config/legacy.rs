//! The legacy format (pylantir before data sources): a top-level `redcap2wl`
//! mapping, converted to one REDCap source exactly as Python pylantir does.

use serde_json::{json, Map, Value};

/// The name of the source a legacy file becomes.
pub const LEGACY_SOURCE_NAME: &str = "redcap_legacy";

/// Returns the configuration with a `data_sources` list holding the one
/// converted source; every other key is kept as it was.
pub fn convert(raw: &Map<String, Value>) -> Map<String, Value> {
    let operation_interval = raw
        .get("operation_interval")
        .cloned()
        .unwrap_or_else(|| json!({"start_time": [0, 0], "end_time": [23, 59]}));
    let mut source = json!({
        "name": LEGACY_SOURCE_NAME,
        "type": "redcap",
        "enabled": true,
        "sync_interval": raw.get("db_update_interval").cloned().unwrap_or(json!(60)),
        "operation_interval": operation_interval,
        "config": {
            "site": raw.get("site").cloned().unwrap_or(Value::Null),
            "protocol": raw.get("protocol").cloned().unwrap_or_else(|| json!({})),
        },
        "field_mapping": raw.get("redcap2wl").cloned().unwrap_or_else(|| json!({})),
    });
    if let (Some(days), Value::Object(object)) = (raw.get("mwl_days_ahead"), &mut source) {
        // The C-FIND window of the converted source.
        object.insert("mwl_days_ahead".to_string(), days.clone());
    }
    let mut converted = raw.clone();
    converted.insert("data_sources".to_string(), Value::Array(vec![source]));
    converted
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_legacy_file_becomes_one_redcap_source_with_its_settings() {
        let raw = json!({
            "db_update_interval": 90,
            "site": "792",
            "protocol": {"792": "BRAIN"},
            "redcap2wl": {"mri_date": "scheduled_start_date"},
            "mri_visit_session_mapping": {"t1_arm_1": "1"},
        });
        let converted = convert(raw.as_object().expect("object"));
        assert_eq!(
            converted["data_sources"],
            json!([{
                "name": "redcap_legacy",
                "type": "redcap",
                "enabled": true,
                "sync_interval": 90,
                "operation_interval": {"start_time": [0, 0], "end_time": [23, 59]},
                "config": {"site": "792", "protocol": {"792": "BRAIN"}},
                "field_mapping": {"mri_date": "scheduled_start_date"},
            }])
        );
        assert_eq!(
            converted["mri_visit_session_mapping"],
            json!({"t1_arm_1": "1"})
        );
    }
}
