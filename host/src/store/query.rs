//! Listing worklist items, for `query-db` and tests.

use rusqlite::types::ValueRef;
use rusqlite::Connection;
use serde_json::{Map, Value};

/// Which items to list; `None` means any.
#[derive(Debug, Clone, Default)]
pub struct ItemFilter {
    /// `performed_procedure_step_status`, e.g. `SCHEDULED`.
    pub status: Option<String>,
    /// `data_source`: the configured source name.
    pub source: Option<String>,
    /// Scheduled date as `YYYYMMDD` (either stored format matches).
    pub date: Option<String>,
}

/// The stored columns shown for an item (everything but the virtual ones).
pub const COLUMNS: &[&str] = &[
    "id",
    "study_instance_uid",
    "patient_name",
    "patient_id",
    "patient_birth_date",
    "patient_sex",
    "patient_weight_lb",
    "accession_number",
    "referring_physician_name",
    "modality",
    "study_description",
    "scheduled_station_aetitle",
    "scheduled_start_date",
    "scheduled_start_time",
    "performing_physician",
    "procedure_description",
    "protocol_name",
    "station_name",
    "hisris_coding_designator",
    "performed_procedure_step_status",
    "data_source",
    "source_record_id",
    "requested_procedure_id",
    "scheduled_procedure_step_id",
];

/// The items matching `filter`, by scheduled date and time, each as column -> value.
pub fn list_items(
    conn: &Connection,
    filter: &ItemFilter,
) -> rusqlite::Result<Vec<Map<String, Value>>> {
    let sql = format!(
        "SELECT {} FROM worklist_items \
         WHERE (?1 IS NULL OR performed_procedure_step_status = ?1) \
           AND (?2 IS NULL OR data_source = ?2) \
           AND (?3 IS NULL OR sps_date = ?3) \
         ORDER BY sps_date, sps_time, id",
        COLUMNS.join(", ")
    );
    let mut stmt = conn.prepare(&sql)?;
    let rows = stmt.query_map(
        rusqlite::params![filter.status, filter.source, filter.date],
        |row| {
            let mut item = Map::new();
            for (i, column) in COLUMNS.iter().enumerate() {
                let value = match row.get_ref(i)? {
                    ValueRef::Null => Value::Null,
                    ValueRef::Integer(n) => Value::from(n),
                    ValueRef::Real(x) => Value::from(x),
                    ValueRef::Text(t) | ValueRef::Blob(t) => {
                        Value::String(String::from_utf8_lossy(t).into_owned())
                    }
                };
                item.insert((*column).to_string(), value);
            }
            Ok(item)
        },
    )?;
    rows.collect()
}
