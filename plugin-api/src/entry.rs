//! Worklist entries: what a fetch returns.
//!
//! An entry is a JSON object keyed by worklist field names (the columns of
//! pylantir's `worklist_items` table), plus an optional `source_record_id`: the
//! stable upstream identity (booking id, REDCap record + instance) used to
//! update an item instead of adding a duplicate. Values are strings; the host
//! normalises dates, times and sex and checks lengths before storing.

use serde_json::{json, Map, Value};

/// One worklist entry.
pub type Entry = Map<String, Value>;

/// The worklist fields an entry may carry, with the longest value the store
/// accepts for each (DICOM VR limits).
pub const WORKLIST_FIELDS: &[(&str, usize)] = &[
    ("study_instance_uid", 64),
    ("patient_name", 64),
    ("patient_id", 64),
    ("patient_birth_date", 10),
    ("patient_sex", 16),
    ("patient_weight_lb", 16),
    ("accession_number", 16),
    ("referring_physician_name", 64),
    ("modality", 16),
    ("study_description", 64),
    ("scheduled_station_aetitle", 16),
    ("scheduled_start_date", 10),
    ("scheduled_start_time", 16),
    ("performing_physician", 64),
    ("procedure_description", 64),
    ("protocol_name", 64),
    ("station_name", 16),
    ("hisris_coding_designator", 16),
    ("requested_procedure_id", 16),
    ("scheduled_procedure_step_id", 16),
];

/// The key of the stable upstream identity in an entry.
pub const SOURCE_RECORD_ID: &str = "source_record_id";

/// The key of the status a source may give an entry: one of [`SOURCE_STATUSES`].
/// Without it an entry is `SCHEDULED`. The host honours it only while the item
/// is `SCHEDULED` or was discontinued by its source; a status MPPS set is kept.
pub const STATUS: &str = "performed_procedure_step_status";

/// The statuses a source may set: a booking is planned, or it was cancelled.
pub const SOURCE_STATUSES: &[&str] = &["SCHEDULED", "DISCONTINUED"];

/// Whether `name` is a worklist field an entry may carry.
pub fn is_worklist_field(name: &str) -> bool {
    WORKLIST_FIELDS.iter().any(|(field, _)| *field == name)
}

/// The worklist field every entry must carry: an entry without it (absent,
/// null or blank) is rejected.
pub const REQUIRED_FIELD: &str = "patient_id";

/// The JSON Schema (draft 2020-12) of one entry, as the host validates it.
pub fn entry_schema() -> Value {
    let mut properties = Map::new();
    for (field, max_len) in WORKLIST_FIELDS {
        let schema = if *field == REQUIRED_FIELD {
            // Values are trimmed: a blank one counts as not sent.
            json!({"type": "string", "pattern": "\\S", "maxLength": max_len})
        } else {
            json!({"type": ["string", "null"], "maxLength": max_len})
        };
        properties.insert((*field).to_string(), schema);
    }
    properties.insert(
        SOURCE_RECORD_ID.to_string(),
        json!({"type": ["string", "null"], "maxLength": 255}),
    );
    properties.insert(
        STATUS.to_string(),
        json!({"enum": [SOURCE_STATUSES[0], SOURCE_STATUSES[1], null]}),
    );
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "pylantir worklist entry",
        "type": "object",
        "properties": properties,
        "required": [REQUIRED_FIELD],
        "additionalProperties": false,
    })
}
