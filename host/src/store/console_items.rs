//! The web console's worklist: the items of a date range that pass the
//! console's filters, ordered by station and scheduled time, one page at a
//! time, with the total count and the stations and modalities of the range
//! (for the filter lists). An item's shown status is `RETRACTED` when its
//! source retracted it, else its procedure step status.

use super::api_items::{read_item, ApiItem, FIELDS, STATUS};
use super::db::{Db, DbResult, Dialect, Row, Value};
use serde::Serialize;

/// The status the console shows for a retracted item.
pub const RETRACTED: &str = "RETRACTED";

/// The console's filters; `None` and empty lists filter nothing.
#[derive(Debug, Clone, Default)]
pub struct PageFilter {
    /// First scheduled date, `YYYYMMDD`.
    pub from: Option<String>,
    /// Last scheduled date, `YYYYMMDD`.
    pub to: Option<String>,
    /// Exact modality.
    pub modality: Option<String>,
    /// Exact scheduled station AE title.
    pub station: Option<String>,
    /// Shown statuses (procedure step statuses and [`RETRACTED`]).
    pub statuses: Vec<String>,
    /// Case-insensitive literal substring of patient name, patient id or accession number.
    pub search: Option<String>,
    pub limit: i64,
    pub offset: i64,
}

/// An item as the console shows it: the API's fields and the store's own
/// (as JSON: the API item's keys, then these).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConsoleItem {
    #[serde(flatten)]
    pub item: ApiItem,
    /// `source`, `mpps` or `None` (the default, or a Python-era row).
    pub status_set_by: Option<String>,
    pub retracted_at: Option<String>,
    pub retracted_reason: Option<String>,
}

/// One page of items.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    /// Items passing every filter (all pages).
    pub total: i64,
    pub items: Vec<ConsoleItem>,
    /// Distinct station AE titles of the date range.
    pub stations: Vec<String>,
    /// Distinct modalities of the date range.
    pub modalities: Vec<String>,
}

fn select() -> String {
    format!(
        "SELECT id, {}, status_set_by, retracted_at, retracted_reason FROM worklist_items",
        FIELDS.join(", ")
    )
}

fn read(mut row: Row) -> ConsoleItem {
    let extra = 1 + FIELDS.len();
    ConsoleItem {
        item: read_item(&mut row),
        status_set_by: row.text(extra),
        retracted_at: row.text(extra + 1),
        retracted_reason: row.text(extra + 2),
    }
}

/// SQL clauses and their arguments.
#[derive(Default)]
struct Clauses {
    sql: Vec<String>,
    args: Vec<Value>,
}

impl Clauses {
    fn mark(&mut self, value: &str) -> String {
        self.args.push(Value::Text(value.to_string()));
        format!("?{}", self.args.len())
    }

    fn date_range(filter: &PageFilter) -> Clauses {
        let mut clauses = Clauses::default();
        if let Some(from) = &filter.from {
            let mark = clauses.mark(from);
            clauses.sql.push(format!("sps_date >= {mark}"));
        }
        if let Some(to) = &filter.to {
            let mark = clauses.mark(to);
            clauses.sql.push(format!("sps_date <= {mark}"));
        }
        clauses
    }

    fn all(filter: &PageFilter, dialect: Dialect) -> Clauses {
        let mut clauses = Clauses::date_range(filter);
        if let Some(modality) = &filter.modality {
            let mark = clauses.mark(modality);
            clauses.sql.push(format!("modality = {mark}"));
        }
        if let Some(station) = &filter.station {
            let mark = clauses.mark(station);
            clauses
                .sql
                .push(format!("scheduled_station_aetitle = {mark}"));
        }
        if !filter.statuses.is_empty() {
            let marks: Vec<String> = filter.statuses.iter().map(|s| clauses.mark(s)).collect();
            clauses.sql.push(format!(
                "(CASE WHEN retracted_at IS NOT NULL THEN '{RETRACTED}' ELSE {STATUS} END) IN ({})",
                marks.join(", ")
            ));
        }
        if let Some(search) = &filter.search {
            let mark = clauses.mark(search);
            let contains = |column| dialect.contains_nocase(column, &mark);
            clauses.sql.push(format!(
                "({} OR {} OR {})",
                contains("patient_name"),
                contains("patient_id"),
                contains("accession_number")
            ));
        }
        clauses
    }

    fn where_sql(&self) -> String {
        if self.sql.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", self.sql.join(" AND "))
        }
    }
}

fn distinct(db: &dyn Db, column: &str, range: &Clauses) -> DbResult<Vec<String>> {
    let mut sql = range.sql.clone();
    sql.push(format!("{column} IS NOT NULL AND {column} <> ''"));
    let query = format!(
        "SELECT DISTINCT {column} FROM worklist_items WHERE {} ORDER BY {column}",
        sql.join(" AND ")
    );
    let rows = db.query(&query, &range.args)?;
    Ok(rows.iter().filter_map(|row| row.text(0)).collect())
}

/// One page of the items passing `filter`, ordered by station, scheduled
/// date and time, then id.
pub fn page(db: &dyn Db, filter: &PageFilter) -> DbResult<Page> {
    let clauses = Clauses::all(filter, db.dialect());
    let filtered = clauses.where_sql();
    let total = db
        .query_row(
            &format!("SELECT count(*) FROM worklist_items{filtered}"),
            &clauses.args,
        )?
        .and_then(|row| row.int(0))
        .unwrap_or_default();
    let mut args = clauses.args.clone();
    args.push(filter.limit.into());
    args.push(filter.offset.into());
    let sql = format!(
        "{}{filtered} ORDER BY coalesce(scheduled_station_aetitle, ''), sps_date, sps_time, id \
         LIMIT ?{} OFFSET ?{}",
        select(),
        args.len() - 1,
        args.len()
    );
    let items = db.query(&sql, &args)?.into_iter().map(read).collect();
    let range = Clauses::date_range(filter);
    Ok(Page {
        total,
        items,
        stations: distinct(db, "scheduled_station_aetitle", &range)?,
        modalities: distinct(db, "modality", &range)?,
    })
}

/// The item with this id.
pub fn get(db: &dyn Db, id: i64) -> DbResult<Option<ConsoleItem>> {
    Ok(db
        .query_row(&format!("{} WHERE id = ?1", select()), &[id.into()])?
        .map(read))
}
