//! The worklist query behind MWL C-FIND: a filter built from the parsed
//! identifier becomes one parameterised SQL statement (cached, served by the
//! indexes of `schema.rs`), and matching rows are streamed to a callback one
//! at a time, so a large answer never sits whole in memory.

use super::db::{Db, DbResult, Dialect, Row, Value};
use std::ops::ControlFlow;

/// A text matching value (PS3.4 C.2.2.2): a single value or a wildcard
/// pattern with DICOM `*` and `?`.
#[derive(Debug, Clone, PartialEq)]
pub enum Text {
    /// Single value matching: equality.
    Exact(String),
    /// Wildcard matching: `*` any run of characters, `?` one character.
    Wildcard(String),
}

impl Text {
    /// Classifies a non-empty query value: wildcard if it holds `*` or `?`.
    pub fn from_query(value: &str) -> Text {
        if value.contains(['*', '?']) {
            Text::Wildcard(value.to_string())
        } else {
            Text::Exact(value.to_string())
        }
    }
}

/// An inclusive range; `None` is an open end. Bounds are normalised DICOM
/// strings (`YYYYMMDD`, `HHMMSS`) or (date, time) pairs.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Range<T> {
    /// Lower bound, inclusive.
    pub lower: Option<T>,
    /// Upper bound, inclusive.
    pub upper: Option<T>,
}

/// A visibility window of one data source, resolved to absolute bounds.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceWindow {
    /// The source `name`; its items outside the window are hidden.
    pub source: String,
    /// Also applies to rows with no `data_source` (the legacy source).
    pub includes_unnamed: bool,
    /// Earliest visible (date `YYYYMMDD`, time `HHMMSS`).
    pub from: (String, String),
    /// Latest visible (date, time), inclusive.
    pub to: (String, String),
}

/// Everything a C-FIND may constrain, already validated and normalised.
/// `None` means universal matching.
#[derive(Debug, Clone, Default)]
pub struct WorklistFilter {
    /// Patient's Name (case-insensitive for ASCII letters).
    pub patient_name: Option<Text>,
    /// Patient ID.
    pub patient_id: Option<Text>,
    /// Patient's Birth Date range.
    pub birth_date: Option<Range<String>>,
    /// Patient's Sex.
    pub patient_sex: Option<Text>,
    /// Accession Number.
    pub accession_number: Option<Text>,
    /// Requested Procedure ID (the item id when the source gave none).
    pub requested_procedure_id: Option<Text>,
    /// Referring Physician's Name (case-insensitive).
    pub referring_physician: Option<Text>,
    /// Study Instance UIDs (list of UID matching).
    pub study_uids: Option<Vec<String>>,
    /// Scheduled Station AE Title.
    pub station_aet: Option<Text>,
    /// Modality.
    pub modality: Option<Text>,
    /// Scheduled Performing Physician's Name (case-insensitive).
    pub performing_physician: Option<Text>,
    /// SPS ID (the item id when the source gave none).
    pub sps_id: Option<Text>,
    /// SPS Status, as stored values (`IN_PROGRESS` for STARTED).
    pub sps_status: Option<Vec<String>>,
    /// SPS Start Date range (`YYYYMMDD`).
    pub sps_date: Option<Range<String>>,
    /// SPS Start Time range (`HHMMSS`); with a date, one combined range.
    pub sps_time: Option<Range<String>>,
    /// Stored statuses a scanner may see.
    pub visible_statuses: Vec<String>,
    /// Per-source visibility windows.
    pub windows: Vec<SourceWindow>,
    /// Station AE title of items that have none.
    pub default_station_aet: String,
    /// Also match retracted items (vanished from their source); only
    /// `explain` asks for them, to say why an item is not shown.
    pub include_retracted: bool,
}

/// One worklist item as the store holds it (values as stored, unnormalised).
#[derive(Debug, Clone, Default)]
pub struct ItemRow {
    pub id: i64,
    pub study_instance_uid: Option<String>,
    pub patient_name: Option<String>,
    pub patient_id: Option<String>,
    pub patient_birth_date: Option<String>,
    pub patient_sex: Option<String>,
    pub patient_weight_lb: Option<String>,
    pub accession_number: Option<String>,
    pub referring_physician_name: Option<String>,
    pub modality: Option<String>,
    pub study_description: Option<String>,
    pub scheduled_station_aetitle: Option<String>,
    pub sps_date: Option<String>,
    pub sps_time: Option<String>,
    pub performing_physician: Option<String>,
    pub procedure_description: Option<String>,
    pub protocol_name: Option<String>,
    pub station_name: Option<String>,
    pub hisris_coding_designator: Option<String>,
    pub status: Option<String>,
    pub requested_procedure_id: Option<String>,
    pub scheduled_procedure_step_id: Option<String>,
}

const COLUMNS: &str = "id, study_instance_uid, patient_name, patient_id, patient_birth_date, \
patient_sex, patient_weight_lb, accession_number, referring_physician_name, modality, \
study_description, scheduled_station_aetitle, sps_date, sps_time, performing_physician, \
procedure_description, protocol_name, station_name, hisris_coding_designator, \
performed_procedure_step_status, requested_procedure_id, scheduled_procedure_step_id";

/// Builds the SQL statement and its parameters for a filter.
pub fn build_sql(filter: &WorklistFilter, dialect: Dialect) -> (String, Vec<Value>) {
    let mut sql = format!("SELECT {COLUMNS} FROM worklist_items WHERE ");
    let mut params: Vec<Value> = Vec::new();
    let mut clauses: Vec<String> = Vec::new();

    let placeholders = |params: &mut Vec<Value>, values: &[String]| -> String {
        let marks: Vec<String> = values
            .iter()
            .map(|v| {
                params.push(Value::Text(v.clone()));
                format!("?{}", params.len())
            })
            .collect();
        marks.join(", ")
    };

    let statuses = placeholders(&mut params, &filter.visible_statuses);
    clauses.push(format!(
        "COALESCE(performed_procedure_step_status, 'SCHEDULED') IN ({statuses})"
    ));
    // Retracted items (vanished from their source) are kept but never shown.
    if !filter.include_retracted {
        clauses.push("retracted_at IS NULL".to_string());
    }

    let text = |params: &mut Vec<Value>, column: &str, value: &Text, nocase: bool| -> String {
        match value {
            Text::Exact(v) => {
                params.push(Value::Text(v.clone()));
                let mark = format!("?{}", params.len());
                if nocase {
                    dialect.eq_nocase(column, &mark)
                } else {
                    format!("{column} = {mark}")
                }
            }
            Text::Wildcard(v) => {
                params.push(Value::Text(dialect.wildcard_pattern(v, nocase)));
                dialect.wildcard(column, &format!("?{}", params.len()), nocase)
            }
        }
    };

    let station_column = if filter.station_aet.is_some() {
        params.push(Value::Text(filter.default_station_aet.clone()));
        format!(
            "COALESCE(NULLIF(scheduled_station_aetitle, ''), ?{})",
            params.len()
        )
    } else {
        String::new()
    };
    let keys: [(&str, &Option<Text>, bool); 10] = [
        ("patient_name", &filter.patient_name, true),
        ("patient_id", &filter.patient_id, false),
        ("upper(patient_sex)", &filter.patient_sex, false),
        ("accession_number", &filter.accession_number, false),
        (
            "COALESCE(NULLIF(requested_procedure_id, ''), CAST(id AS TEXT))",
            &filter.requested_procedure_id,
            false,
        ),
        (
            "referring_physician_name",
            &filter.referring_physician,
            true,
        ),
        (&station_column, &filter.station_aet, false),
        (
            "COALESCE(NULLIF(modality, ''), 'MR')",
            &filter.modality,
            false,
        ),
        ("performing_physician", &filter.performing_physician, true),
        (
            "COALESCE(NULLIF(scheduled_procedure_step_id, ''), CAST(id AS TEXT))",
            &filter.sps_id,
            false,
        ),
    ];
    for (column, value, nocase) in keys {
        if let Some(value) = value {
            clauses.push(text(&mut params, column, value, nocase));
        }
    }
    if let Some(uids) = &filter.study_uids {
        let marks = placeholders(&mut params, uids);
        clauses.push(format!("study_instance_uid IN ({marks})"));
    }
    if let Some(statuses) = &filter.sps_status {
        let marks = placeholders(&mut params, statuses);
        clauses.push(format!(
            "COALESCE(performed_procedure_step_status, 'SCHEDULED') IN ({marks})"
        ));
    }
    if let Some(range) = &filter.birth_date {
        range_clauses(
            &mut clauses,
            &mut params,
            "replace(patient_birth_date, '-', '')",
            range,
        );
    }
    match (&filter.sps_date, &filter.sps_time) {
        (Some(date), Some(time)) => {
            // One combined date-time range (PS3.4 K.6-1, SPS Start Time); an
            // item with a date but no time counts as starting at midnight.
            if let Some(lower) = &date.lower {
                params.push(Value::Text(lower.clone()));
                params.push(Value::Text(
                    time.lower.clone().unwrap_or_else(|| "000000".into()),
                ));
                clauses.push(format!(
                    "(sps_date, COALESCE(sps_time, '000000')) >= (?{}, ?{})",
                    params.len() - 1,
                    params.len()
                ));
            }
            if let Some(upper) = &date.upper {
                params.push(Value::Text(upper.clone()));
                params.push(Value::Text(
                    time.upper.clone().unwrap_or_else(|| "999999".into()),
                ));
                clauses.push(format!(
                    "(sps_date, COALESCE(sps_time, '000000')) <= (?{}, ?{})",
                    params.len() - 1,
                    params.len()
                ));
            }
            if date.lower.is_none() && date.upper.is_none() {
                range_clauses(&mut clauses, &mut params, "sps_time", time);
            }
        }
        (Some(date), None) => range_clauses(&mut clauses, &mut params, "sps_date", date),
        (None, Some(time)) => range_clauses(&mut clauses, &mut params, "sps_time", time),
        (None, None) => {}
    }
    for window in &filter.windows {
        params.push(Value::Text(window.source.clone()));
        let source = params.len();
        params.push(Value::Text(window.from.0.clone()));
        params.push(Value::Text(window.from.1.clone()));
        params.push(Value::Text(window.to.0.clone()));
        params.push(Value::Text(window.to.1.clone()));
        let n = params.len();
        let owner = if window.includes_unnamed {
            format!("COALESCE(data_source, ?{source}) = ?{source}")
        } else {
            dialect.is("data_source", &format!("?{source}"))
        };
        clauses.push(format!(
            "(NOT ({owner}) OR ((sps_date, COALESCE(sps_time, '000000')) >= (?{}, ?{}) \
             AND (sps_date, COALESCE(sps_time, '000000')) <= (?{}, ?{})))",
            n - 3,
            n - 2,
            n - 1,
            n
        ));
    }
    sql.push_str(&clauses.join(" AND "));
    (sql, params)
}

fn range_clauses(
    clauses: &mut Vec<String>,
    params: &mut Vec<Value>,
    column: &str,
    range: &Range<String>,
) {
    if let Some(lower) = &range.lower {
        params.push(Value::Text(lower.clone()));
        clauses.push(format!("{column} >= ?{}", params.len()));
    }
    if let Some(upper) = &range.upper {
        params.push(Value::Text(upper.clone()));
        clauses.push(format!("{column} <= ?{}", params.len()));
    }
}

/// Runs the query and hands each matching item to `each`, in storage order,
/// until it returns `ControlFlow::Break`. Returns how many items were handed.
pub fn for_each_item(
    db: &dyn Db,
    filter: &WorklistFilter,
    mut each: impl FnMut(ItemRow) -> ControlFlow<()>,
) -> DbResult<u64> {
    let (sql, params) = build_sql(filter, db.dialect());
    db.query_each(&sql, &params, &mut |row| each(item_row(&row)))
}

fn item_row(row: &Row) -> ItemRow {
    ItemRow {
        id: row.int(0).unwrap_or_default(),
        study_instance_uid: row.text(1),
        patient_name: row.text(2),
        patient_id: row.text(3),
        patient_birth_date: row.text(4),
        patient_sex: row.text(5),
        patient_weight_lb: row.text(6),
        accession_number: row.text(7),
        referring_physician_name: row.text(8),
        modality: row.text(9),
        study_description: row.text(10),
        scheduled_station_aetitle: row.text(11),
        sps_date: row.text(12),
        sps_time: row.text(13),
        performing_physician: row.text(14),
        procedure_description: row.text(15),
        protocol_name: row.text(16),
        station_name: row.text(17),
        hisris_coding_designator: row.text(18),
        status: row.text(19),
        requested_procedure_id: row.text(20),
        scheduled_procedure_step_id: row.text(21),
    }
}
