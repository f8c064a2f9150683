//! Listing worklist items, for `query-db` and tests.

use super::db::{self, Db, DbResult};
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
pub fn list_items(db: &dyn Db, filter: &ItemFilter) -> DbResult<Vec<Map<String, Value>>> {
    let sql = format!(
        "SELECT {} FROM worklist_items \
         WHERE (CAST(?1 AS TEXT) IS NULL OR performed_procedure_step_status = ?1) \
           AND (CAST(?2 AS TEXT) IS NULL OR data_source = ?2) \
           AND (CAST(?3 AS TEXT) IS NULL OR sps_date = ?3) \
         ORDER BY sps_date NULLS FIRST, sps_time NULLS FIRST, id",
        COLUMNS.join(", ")
    );
    let rows = db.query(
        &sql,
        &[
            filter.status.as_deref().into(),
            filter.source.as_deref().into(),
            filter.date.as_deref().into(),
        ],
    )?;
    Ok(rows
        .into_iter()
        .map(|row| {
            COLUMNS
                .iter()
                .zip(row.0)
                .map(|(column, value)| {
                    let value = match value {
                        db::Value::Null => Value::Null,
                        db::Value::Int(n) => Value::from(n),
                        db::Value::Real(x) => Value::from(x),
                        db::Value::Text(t) => Value::String(t),
                        db::Value::Bytes(b) => Value::String(String::from_utf8_lossy(&b).into()),
                    };
                    ((*column).to_string(), value)
                })
                .collect()
        })
        .collect())
}
