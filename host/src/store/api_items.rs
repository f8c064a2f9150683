//! Worklist items as the HTTP API reads and writes them (Python pylantir's
//! `/worklist` routes): listing with its filters, creating, partial updates
//! and deletion, each in one transaction.
//!
//! The store's rules hold for these writes too: the status of an item that an
//! MPPS instance performs is MPPS's to set ([`Updated::StatusSetByMpps`]), and
//! (`data_source`, `source_record_id`) stays unique ([`Refused::Duplicate`]).

use super::db::{self, Db, DbError, DbResult, Row, Value, ValueRef};
use super::history::{self, ChangedBy};
use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};
use std::borrow::Cow;
use std::ops::ControlFlow;

/// The item fields of the API, in Python's JSON order (after `id`).
pub const FIELDS: &[&str] = &[
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
    "performed_procedure_step_status",
    "data_source",
    "source_record_id",
];

/// The column of the procedure step status.
pub const STATUS: &str = "performed_procedure_step_status";

/// One item: its id and one value per [`FIELDS`] entry, in that order.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiItem {
    pub id: i64,
    pub values: Vec<Option<String>>,
}

/// As JSON, Python's shape: `id`, then every field of [`FIELDS`] in order
/// (a missing value is `null`). Written straight to the output, with no
/// intermediate JSON tree: `GET /worklist` sends up to 1,000 of these.
impl Serialize for ApiItem {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let values = self.values.iter().map(|v| v.as_deref().map(Cow::Borrowed));
        serialize_item(serializer, self.id, values)
    }
}

/// Writes one item in Python's shape from its id and its [`FIELDS`] values,
/// in order: the one writer of both [`ApiItem`] and the rows of [`list_json`].
fn serialize_item<'v, S: Serializer>(
    serializer: S,
    id: i64,
    values: impl Iterator<Item = Option<Cow<'v, str>>>,
) -> Result<S::Ok, S::Error> {
    let mut map = serializer.serialize_map(Some(1 + FIELDS.len()))?;
    map.serialize_entry("id", &id)?;
    for (name, value) in FIELDS.iter().zip(values) {
        map.serialize_entry(name, &value)?;
    }
    map.end()
}

/// A row of `id` then [`FIELDS`], borrowed from the database, written as
/// an [`ApiItem`] is.
struct RowItem<'r, 'v>(&'r [ValueRef<'v>]);

impl Serialize for RowItem<'_, '_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let id = self.0.first().and_then(ValueRef::int).unwrap_or_default();
        let values = (1..=FIELDS.len()).map(|i| self.0.get(i).and_then(ValueRef::text));
        serialize_item(serializer, id, values)
    }
}

/// The filters of `GET /worklist`.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    /// Statuses to include (any of them); empty: every status.
    pub statuses: Vec<String>,
    /// Case-insensitive literal substring of `patient_id`.
    pub patient_id: Option<String>,
    /// Exact `modality`.
    pub modality: Option<String>,
    pub limit: i64,
    pub offset: i64,
}

/// Why a write was not made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    /// Another item already has this (`data_source`, `source_record_id`).
    Duplicate {
        data_source: String,
        source_record_id: String,
    },
}

/// What an update did.
#[derive(Debug, Clone, PartialEq)]
pub enum Updated {
    /// Written; the item as it now is.
    Item(ApiItem),
    /// No item with this id.
    NotFound,
    /// The status change was refused: an MPPS instance performs the item.
    StatusSetByMpps {
        sop_instance_uid: String,
        status: String,
    },
    /// The write would break a store rule.
    Refused(Refused),
}

fn select() -> &'static str {
    static SQL: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    SQL.get_or_init(|| format!("SELECT id, {} FROM worklist_items", FIELDS.join(", ")))
}

/// An item from a row of `id` then [`FIELDS`] (further columns ignored),
/// whose texts it moves out of the row.
pub fn read_item(row: &mut Row) -> ApiItem {
    ApiItem {
        id: row.int(0).unwrap_or_default(),
        values: (0..FIELDS.len()).map(|i| row.take_text(1 + i)).collect(),
    }
}

/// The items matching `filter`, in id order, as the JSON array of
/// `GET /worklist`, written straight from the database's rows: a page of
/// 1,000 items makes no copy of their texts.
///
/// The page's ids are chosen first, from the indexes alone where the filter
/// allows (status), and only those rows are read: without it SQLite reads
/// and sorts every matching row to return a page of them.
pub fn list_json(db: &dyn Db, filter: &ListFilter) -> DbResult<Vec<u8>> {
    let mut clauses = vec!["TRUE".to_string()];
    let mut args: Vec<Value> = Vec::new();
    let push = |args: &mut Vec<Value>, value: &str| {
        args.push(value.into());
        format!("?{}", args.len())
    };
    if !filter.statuses.is_empty() {
        let marks: Vec<String> = filter.statuses.iter().map(|s| push(&mut args, s)).collect();
        clauses.push(format!("{STATUS} IN ({})", marks.join(", ")));
    }
    if let Some(patient_id) = &filter.patient_id {
        let mark = push(&mut args, patient_id);
        clauses.push(db.dialect().contains_nocase("patient_id", &mark));
    }
    if let Some(modality) = &filter.modality {
        let mark = push(&mut args, modality);
        clauses.push(format!("modality = {mark}"));
    }
    args.push(filter.limit.into());
    args.push(filter.offset.into());
    let sql = format!(
        "{} WHERE id IN (SELECT id FROM worklist_items WHERE {} ORDER BY id LIMIT ?{} OFFSET ?{}) \
         ORDER BY id",
        select(),
        clauses.join(" AND "),
        args.len() - 1,
        args.len()
    );
    let page = usize::try_from(filter.limit).unwrap_or(0).min(1_000);
    let mut json = Vec::with_capacity(64 + page * ITEM_JSON_BYTES);
    let mut serializer = serde_json::Serializer::new(&mut json);
    let mut items = serializer.serialize_seq(None).map_err(unwritable)?;
    let mut failed = None;
    db.query_each_ref(
        &sql,
        &args,
        &mut |row| match items.serialize_element(&RowItem(row)) {
            Ok(()) => ControlFlow::Continue(()),
            Err(e) => {
                failed = Some(e);
                ControlFlow::Break(())
            }
        },
    )?;
    if let Some(e) = failed {
        return Err(unwritable(e));
    }
    SerializeSeq::end(items).map_err(unwritable)?;
    Ok(json)
}

/// About the JSON size of one item, to size a page's buffer at once.
const ITEM_JSON_BYTES: usize = 600;

fn unwritable(e: serde_json::Error) -> DbError {
    DbError::Inconsistent(format!("an item could not be written as JSON: {e}"))
}

/// The item with this id.
pub fn get(db: &dyn Db, id: i64) -> DbResult<Option<ApiItem>> {
    Ok(db
        .query_row(&format!("{} WHERE id = ?1", select()), &[id.into()])?
        .map(|mut row| read_item(&mut row)))
}

fn duplicate(error: &DbError) -> bool {
    error.is_unique_violation()
}

fn refused_duplicate(fields: &[(&str, Option<String>)], current: Option<&ApiItem>) -> Refused {
    let value = |name: &str| {
        fields
            .iter()
            .find(|(field, _)| *field == name)
            .and_then(|(_, v)| v.clone())
            .or_else(|| {
                let i = FIELDS.iter().position(|f| *f == name)?;
                current.and_then(|item| item.values[i].clone())
            })
            .unwrap_or_default()
    };
    Refused::Duplicate {
        data_source: value("data_source"),
        source_record_id: value("source_record_id"),
    }
}

/// Inserts an item with these fields (names from [`FIELDS`]), made by API
/// user `user`; the others take the table's defaults.
pub fn create(
    db: &dyn Db,
    fields: &[(&str, Option<String>)],
    user: &str,
) -> DbResult<Result<ApiItem, Refused>> {
    let names: Vec<&str> = fields.iter().map(|(name, _)| *name).collect();
    let marks: Vec<String> = (1..=fields.len()).map(|n| format!("?{n}")).collect();
    let sql = if fields.is_empty() {
        "INSERT INTO worklist_items DEFAULT VALUES RETURNING id".to_string()
    } else {
        format!(
            "INSERT INTO worklist_items ({}) VALUES ({}) RETURNING id",
            names.join(", "),
            marks.join(", ")
        )
    };
    let args: Vec<Value> = fields.iter().map(|(_, v)| v.as_deref().into()).collect();
    db::write(db, |tx| {
        let id = match tx.query_row(&sql, &args) {
            Err(e) if duplicate(&e) => return Ok(Err(refused_duplicate(fields, None))),
            other => other?.and_then(|row| row.int(0)).unwrap_or_default(),
        };
        let Some(item) = get(tx, id)? else {
            return Ok(Err(refused_duplicate(fields, None)));
        };
        let status = FIELDS.iter().position(|f| *f == STATUS);
        let status = status.and_then(|i| item.values[i].as_deref());
        history::record_created(tx, id, status, &ChangedBy::User(user))?;
        Ok(Ok(item))
    })
}

/// The MPPS instance that performs item `id` (its UID and status), if any.
fn performing_mpps(db: &dyn Db, id: i64) -> DbResult<Option<(String, String)>> {
    let row = db.query_row(
        "SELECT sop_instance_uid, status FROM mpps_instances WHERE worklist_item_id = ?1 \
         ORDER BY updated_at DESC LIMIT 1",
        &[id.into()],
    )?;
    Ok(row.map(|row| {
        (
            row.text(0).unwrap_or_default(),
            row.text(1).unwrap_or_default(),
        )
    }))
}

/// Sets these fields of item `id` (`None` clears one) for API user `user`.
/// A change of the status of an item an MPPS instance performs is refused,
/// and nothing is written.
pub fn update(
    db: &dyn Db,
    id: i64,
    fields: &[(&str, Option<String>)],
    user: &str,
) -> DbResult<Updated> {
    db::write(db, |tx| update_in(tx, id, fields, user))
}

fn update_in(
    tx: &dyn Db,
    id: i64,
    fields: &[(&str, Option<String>)],
    user: &str,
) -> DbResult<Updated> {
    let Some(current) = get(tx, id)? else {
        return Ok(Updated::NotFound);
    };
    let status_index = FIELDS.iter().position(|f| *f == STATUS);
    let status_change = fields.iter().find(|(name, value)| {
        *name == STATUS && status_index.is_some_and(|i| current.values[i] != *value)
    });
    if let Some((_, new_status)) = status_change {
        if let Some((sop_instance_uid, status)) = performing_mpps(tx, id)? {
            return Ok(Updated::StatusSetByMpps {
                sop_instance_uid,
                status,
            });
        }
        if let Some(new_status) = new_status {
            history::record_change(tx, id, new_status, &ChangedBy::User(user))?;
        }
    }
    if !fields.is_empty() {
        let sets: Vec<String> = fields
            .iter()
            .enumerate()
            .map(|(n, (name, _))| format!("{name} = ?{}", n + 1))
            .collect();
        let sql = format!(
            "UPDATE worklist_items SET {} WHERE id = ?{}",
            sets.join(", "),
            fields.len() + 1
        );
        let mut args: Vec<Value> = fields.iter().map(|(_, v)| v.as_deref().into()).collect();
        args.push(id.into());
        match tx.execute(&sql, &args) {
            Err(e) if duplicate(&e) => {
                return Ok(Updated::Refused(refused_duplicate(fields, Some(&current))))
            }
            other => other?,
        };
    }
    Ok(get(tx, id)?.map_or(Updated::NotFound, Updated::Item))
}

/// Deletes item `id`; an MPPS instance that performed it is kept, unlinked.
/// Returns whether the item existed.
pub fn delete(db: &dyn Db, id: i64) -> DbResult<bool> {
    db::write(db, |tx| {
        tx.execute(
            "UPDATE mpps_instances SET worklist_item_id = NULL WHERE worklist_item_id = ?1",
            &[id.into()],
        )?;
        let deleted = tx.execute("DELETE FROM worklist_items WHERE id = ?1", &[id.into()])?;
        Ok(deleted > 0)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, rusqlite::Connection) {
        let dir = tempfile::tempdir().expect("temp dir");
        let conn = crate::store::open(&dir.path().join("wl.db")).expect("open");
        (dir, conn)
    }

    fn fields(pairs: &[(&'static str, &str)]) -> Vec<(&'static str, Option<String>)> {
        pairs
            .iter()
            .map(|(k, v)| (*k, Some(v.to_string())))
            .collect()
    }

    #[test]
    fn patient_id_filter_is_a_literal_case_insensitive_substring() {
        let (_dir, conn) = store();
        for id in ["AB_1", "ABX1", "ab%2"] {
            create(
                &conn,
                &fields(&[("patient_id", id), (STATUS, "SCHEDULED")]),
                "tester",
            )
            .expect("sql")
            .expect("created");
        }
        let ids = |needle: &str| -> Vec<String> {
            let filter = ListFilter {
                patient_id: Some(needle.into()),
                limit: 100,
                ..ListFilter::default()
            };
            let page: Vec<serde_json::Value> =
                serde_json::from_slice(&list_json(&conn, &filter).expect("list"))
                    .expect("a JSON array");
            page.iter()
                .map(|item| item["patient_id"].as_str().unwrap_or_default().to_owned())
                .collect()
        };
        assert_eq!(ids("b_"), vec!["AB_1"]);
        assert_eq!(ids("B%"), vec!["ab%2"]);
    }

    #[test]
    fn status_of_an_item_performed_by_mpps_is_not_changed_by_an_update() {
        let (_dir, conn) = store();
        let item = create(&conn, &fields(&[("patient_id", "P1")]), "tester")
            .expect("sql")
            .expect("created");
        conn.execute(
            "INSERT INTO mpps_instances VALUES ('1.2.3', 'COMPLETED', ?1, 'SCU', x'', 'a', 'b')",
            [item.id],
        )
        .expect("mpps");
        let outcome = update(
            &conn,
            item.id,
            &fields(&[(STATUS, "IN_PROGRESS")]),
            "tester",
        );
        assert!(matches!(
            outcome,
            Ok(Updated::StatusSetByMpps { ref status, .. }) if status == "COMPLETED"
        ));
        let unchanged = update(
            &conn,
            item.id,
            &fields(&[("patient_name", "A^B")]),
            "tester",
        );
        assert!(matches!(unchanged, Ok(Updated::Item(_))));
    }

    #[test]
    fn a_second_item_with_the_same_source_record_is_refused() {
        let (_dir, conn) = store();
        let pairs = fields(&[("data_source", "csv"), ("source_record_id", "7")]);
        create(&conn, &pairs, "tester")
            .expect("sql")
            .expect("created");
        let again = create(&conn, &pairs, "tester").expect("sql");
        assert!(matches!(again, Err(Refused::Duplicate { .. })));
    }
}
