//! Writing one fetch of a source into `worklist_items`, in one transaction.
//!
//! The upsert rules:
//! - identity is (`data_source`, `source_record_id`) when the entry has a
//!   record id, else (`patient_id`, `patient_name`) as in Python pylantir; a
//!   row of this source (or of none) with the same patient and no record id is
//!   adopted (Python-era rows);
//! - the same patient in a row owned by another source is not touched: a
//!   conflict, whether or not the entry has a record id;
//! - only the fields the entry carries are written (nothing is erased), and a
//!   row whose fields are all equal is not rewritten;
//! - a new item is `SCHEDULED` and gets a Study Instance UID (`2.25.<uuid>`
//!   unless the entry has one); a sync never changes the UID afterwards;
//! - a status the entry carries (`SCHEDULED`, `DISCONTINUED`) is written only
//!   while the item is `SCHEDULED` or was discontinued by its source: a status
//!   MPPS set is never changed by a sync; an entry discontinued at its first
//!   sight is not stored;
//! - a retracted item that a fetch returns again is restored (same UID);
//! - with a [`Retraction`], the source's items in the window that the fetch
//!   did not return and that are still `SCHEDULED` are retracted (see
//!   [`super::retract`]).

use super::db::{self, Db, DbResult, Row, Value};
use super::history::{self, ChangedBy};
use super::retract::{self, Retraction};
use pylantir_plugin_api::WORKLIST_FIELDS;
use std::collections::HashSet;

/// A normalised worklist entry, ready to be written.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    /// The stable upstream identity, if the source gives one.
    pub record_id: Option<String>,
    /// One value per [`WORKLIST_FIELDS`] entry, in that order; `None`: not sent.
    pub values: Vec<Option<String>>,
    /// The status the source gave (`SCHEDULED` or `DISCONTINUED`); `None`: not sent.
    pub status: Option<String>,
}

impl Default for Item {
    fn default() -> Self {
        Item::new()
    }
}

impl Item {
    /// An item with no field set.
    pub fn new() -> Self {
        Item {
            record_id: None,
            values: vec![None; WORKLIST_FIELDS.len()],
            status: None,
        }
    }

    /// The value of worklist field number `index` (see [`field_index`]).
    pub fn value(&self, index: usize) -> Option<&str> {
        self.values.get(index).and_then(|v| v.as_deref())
    }
}

/// The position of a field in [`WORKLIST_FIELDS`]. Meant for constants, so
/// that a misspelt name fails the build.
pub const fn field_index(name: &str) -> usize {
    let mut i = 0;
    while i < WORKLIST_FIELDS.len() {
        if const_eq(WORKLIST_FIELDS[i].0, name) {
            return i;
        }
        i += 1;
    }
    panic!("not a worklist field")
}

const fn const_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

pub const PATIENT_ID: usize = field_index("patient_id");
pub const PATIENT_NAME: usize = field_index("patient_name");
pub const STUDY_UID: usize = field_index("study_instance_uid");
pub const MODALITY: usize = field_index("modality");

/// What one fetch did to the store.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WriteCounts {
    pub inserted: u64,
    pub updated: u64,
    pub unchanged: u64,
    /// Entries not written because another source owns the item.
    pub conflicts: u64,
    /// Items retracted: not returned by a fetch complete for their window.
    pub retracted: u64,
    /// Retracted items returned again, so visible again.
    pub restored: u64,
    /// Why a retraction was held back (the guard), if it was.
    pub note: Option<String>,
}

/// An entry refused because another source owns its item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    pub patient_id: String,
    pub patient_name: Option<String>,
    pub owner: String,
}

/// The source a fetch comes from, and the owners of rows it may claim.
struct Writer {
    /// The configured source name (`data_source` of its rows).
    name: String,
    /// Owners Python pylantir wrote for this source's type: its plugins
    /// recorded their display name (`REDCap`, `Calpendo`) in `data_source`.
    /// An owner with rows in `sync_runs` is a source of ours, not Python's.
    /// Written as SQL literals, for `data_source IN (...)`.
    claimable: Vec<String>,
    /// `(data_source IS NULL OR data_source = ?1 [OR data_source IN (...)])`.
    mine: String,
    /// Whether rows it may claim carry record ids (else no need to look them up).
    legacy_ids: bool,
}

impl Writer {
    fn new(tx: &dyn Db, name: &str, source_type: &str) -> DbResult<Writer> {
        // An owner that has sync runs is one of our configured sources (a
        // source named after its type, say): never Python's, never claimable.
        let claimable: Vec<String> = tx
            .query(
                "SELECT DISTINCT data_source FROM worklist_items \
                 WHERE data_source <> ?1 AND lower(data_source) = lower(?2) \
                 AND data_source NOT IN (SELECT DISTINCT source FROM sync_runs)",
                &[name.into(), source_type.into()],
            )?
            .iter()
            .filter_map(|row| row.text(0))
            .collect();
        let mut mine = "(data_source IS NULL OR data_source = ?1".to_string();
        if !claimable.is_empty() {
            let literals: Vec<String> = claimable
                .iter()
                .map(|owner| format!("'{}'", owner.replace('\'', "''")))
                .collect();
            mine.push_str(&format!(" OR data_source IN ({})", literals.join(", ")));
        }
        mine.push(')');
        let unowned_ids = tx
            .query_row(
                "SELECT EXISTS (SELECT 1 FROM worklist_items \
                 WHERE data_source IS NULL AND source_record_id IS NOT NULL)",
                &[],
            )?
            .is_some_and(|row| row.flag(0));
        Ok(Writer {
            name: name.to_string(),
            legacy_ids: unowned_ids || !claimable.is_empty(),
            claimable,
            mine,
        })
    }

    /// Whether a row owned by `owner` is this source's (or may be claimed by it).
    fn owns(&self, owner: Option<&str>) -> bool {
        owner.is_none_or(|o| o == self.name || self.claimable.iter().any(|c| c == o))
    }
}

/// Writes `items` of the source named `name`, of type `source_type`, in one
/// transaction: all of them or, on any error, none. Returns the counts and
/// the conflicts found.
pub fn write_fetch(
    db: &dyn Db,
    name: &str,
    source_type: &str,
    items: &[Item],
) -> DbResult<(WriteCounts, Vec<Conflict>)> {
    write_fetch_with(db, name, source_type, items, None)
}

/// [`write_fetch`], and with `retraction`, also
/// retracts what the fetch no longer returns, in the same transaction.
pub fn write_fetch_with(
    db: &dyn Db,
    name: &str,
    source_type: &str,
    items: &[Item],
    retraction: Option<&Retraction>,
) -> DbResult<(WriteCounts, Vec<Conflict>)> {
    let mut write = FetchWrite::begin(db, name, source_type)?;
    write.items(items)?;
    write.finish(retraction)
}

/// One fetch written batch by batch in one transaction, so a large fetch
/// never has to be held whole: [`FetchWrite::items`] per batch, then
/// [`FetchWrite::finish`] (retraction, commit). Dropped unfinished, it
/// writes nothing (the transaction is rolled back).
pub struct FetchWrite<'c> {
    tx: db::Transaction<'c>,
    writer: Writer,
    counts: WriteCounts,
    conflicts: Vec<Conflict>,
    /// The rows the fetch wrote or matched (kept from retraction).
    seen: HashSet<i64>,
}

impl<'c> FetchWrite<'c> {
    /// Opens the transaction of a fetch of the source `name`, of `source_type`.
    pub fn begin(db: &'c dyn Db, name: &str, source_type: &str) -> DbResult<FetchWrite<'c>> {
        let tx = db::Transaction::begin(db)?;
        let writer = Writer::new(tx.db(), name, source_type)?;
        Ok(FetchWrite {
            tx,
            writer,
            counts: WriteCounts::default(),
            conflicts: Vec::new(),
            seen: HashSet::new(),
        })
    }

    /// Writes one batch of items.
    pub fn items(&mut self, items: &[Item]) -> DbResult<()> {
        for item in items {
            if let Some(id) = write_one(
                self.tx.db(),
                &self.writer,
                item,
                &mut self.counts,
                &mut self.conflicts,
            )? {
                self.seen.insert(id);
            }
        }
        Ok(())
    }

    /// With `retraction`, retracts what the fetch did not return; commits.
    pub fn finish(
        mut self,
        retraction: Option<&Retraction>,
    ) -> DbResult<(WriteCounts, Vec<Conflict>)> {
        if let Some(retraction) = retraction {
            let outcome =
                retract::retract_missing(self.tx.db(), &self.writer.name, retraction, &self.seen)?;
            self.counts.retracted = outcome.retracted;
            self.counts.note = outcome.held_back;
        }
        self.tx.commit()?;
        Ok((self.counts, self.conflicts))
    }
}

/// A stored row, as far as the upsert needs it.
struct Stored {
    id: i64,
    data_source: Option<String>,
    record_id: Option<String>,
    status: Option<String>,
    status_set_by: Option<String>,
    retracted: bool,
    values: Vec<Option<String>>,
}

/// The offset of the first worklist field in [`select_columns`].
const FIRST_FIELD: usize = 6;

/// `SELECT <the columns of Stored> FROM worklist_items`, built once.
fn select_columns() -> &'static str {
    static SQL: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    SQL.get_or_init(|| {
        let fields: Vec<&str> = WORKLIST_FIELDS.iter().map(|(name, _)| *name).collect();
        format!(
            "SELECT id, data_source, source_record_id, performed_procedure_step_status, \
             status_set_by, retracted_at IS NOT NULL, {} FROM worklist_items",
            fields.join(", ")
        )
    })
}

fn read_stored(row: &Row) -> Stored {
    let values = (0..WORKLIST_FIELDS.len())
        .map(|i| row.text(FIRST_FIELD + i))
        .collect();
    Stored {
        id: row.int(0).unwrap_or_default(),
        data_source: row.text(1),
        record_id: row.text(2),
        status: row.text(3),
        status_set_by: row.text(4),
        retracted: row.flag(5),
        values,
    }
}

fn find(tx: &dyn Db, filter: &str, args: &[String]) -> DbResult<Option<Stored>> {
    let sql = format!("{} WHERE {filter} LIMIT 1", select_columns());
    let args: Vec<Value> = args.iter().map(Value::from).collect();
    Ok(tx.query_row(&sql, &args)?.as_ref().map(read_stored))
}

/// The row an entry is about, if any.
fn existing(tx: &dyn Db, writer: &Writer, item: &Item) -> DbResult<Option<Stored>> {
    let source = writer.name.as_str();
    let mine = &writer.mine;
    let patient_id = item.value(PATIENT_ID).unwrap_or_default();
    let patient = match item.value(PATIENT_NAME) {
        Some(_) => "patient_id = ?2 AND patient_name = ?3",
        None => "patient_id = ?2",
    };
    let mut args = vec![source.to_string(), patient_id.to_string()];
    args.extend(item.value(PATIENT_NAME).map(str::to_string));
    if let Some(record_id) = &item.record_id {
        let by_id = [source.to_string(), record_id.clone()];
        let own = find(tx, "data_source = ?1 AND source_record_id = ?2", &by_id)?;
        if own.is_some() {
            return Ok(own);
        }
        // A row Python pylantir wrote with that record id.
        if writer.legacy_ids {
            let legacy = find(tx, &format!("source_record_id = ?2 AND {mine}"), &by_id)?;
            if legacy.is_some() {
                return Ok(legacy);
            }
        }
        // Else a row of this source without a record id, to adopt; else the
        // same patient owned by another source: a conflict.
        let candidates = format!(
            "((source_record_id IS NULL OR source_record_id = '') AND {mine}) OR NOT {mine}"
        );
        return find(
            tx,
            &format!("{patient} AND ({candidates}) ORDER BY {mine} DESC, id"),
            &args,
        );
    }
    // Prefer this source's row, then one it may claim, then another source's.
    let own = tx.dialect().is("data_source", "?1");
    find(
        tx,
        &format!("{patient} ORDER BY ({own}) DESC, {mine} DESC, id"),
        &args,
    )
}

/// Writes one item; returns the id of this source's row it concerns (none
/// for a conflict or an item discontinued at its first sight).
fn write_one(
    tx: &dyn Db,
    writer: &Writer,
    item: &Item,
    counts: &mut WriteCounts,
    conflicts: &mut Vec<Conflict>,
) -> DbResult<Option<i64>> {
    let source = writer.name.as_str();
    let Some(stored) = existing(tx, writer, item)? else {
        if item.status.as_deref() == Some(DISCONTINUED) {
            counts.unchanged += 1;
            return Ok(None);
        }
        let id = insert(tx, source, item)?;
        history::record_created(tx, id, item.status.as_deref(), &ChangedBy::Source(source))?;
        counts.inserted += 1;
        return Ok(Some(id));
    };
    if let Some(owner) = stored
        .data_source
        .as_deref()
        .filter(|o| !writer.owns(Some(o)))
    {
        conflicts.push(Conflict {
            patient_id: item.value(PATIENT_ID).unwrap_or_default().to_string(),
            patient_name: item.value(PATIENT_NAME).map(str::to_string),
            owner: owner.to_string(),
        });
        counts.conflicts += 1;
        return Ok(None);
    }

    let mut columns: Vec<&str> = Vec::new();
    let mut args: Vec<Value> = Vec::new();
    for (i, (field, _)) in WORKLIST_FIELDS.iter().enumerate() {
        let (Some(new), old) = (item.values[i].as_ref(), stored.values[i].as_deref()) else {
            continue;
        };
        let keep_uid = i == STUDY_UID && old.is_some_and(|uid| !uid.is_empty());
        if old != Some(new.as_str()) && !keep_uid {
            columns.push(field);
            args.push(new.into());
        }
    }
    if stored.data_source.as_deref() != Some(source) {
        // Unowned, or written by Python pylantir under the type's name: claim it.
        columns.push("data_source");
        args.push(writer.name.as_str().into());
    }
    if let Some(record_id) = &item.record_id {
        if stored.record_id.as_deref() != Some(record_id.as_str()) {
            columns.push("source_record_id");
            args.push(record_id.into());
        }
    }
    if let Some(status) = item.status.as_ref().filter(|s| source_may_set(&stored, s)) {
        history::record_change(tx, stored.id, status, &ChangedBy::Source(source))?;
        columns.push("performed_procedure_step_status");
        args.push(status.into());
        columns.push("status_set_by");
        args.push(SET_BY_SOURCE.into());
    }
    if stored.retracted {
        columns.push("retracted_at");
        args.push(Value::Null);
        columns.push("retracted_reason");
        args.push(Value::Null);
        counts.restored += 1;
    }
    if columns.is_empty() {
        counts.unchanged += 1;
        return Ok(Some(stored.id));
    }
    let sets: Vec<String> = columns
        .iter()
        .enumerate()
        .map(|(n, column)| format!("{column} = ?{}", n + 1))
        .collect();
    let sql = format!(
        "UPDATE worklist_items SET {} WHERE id = ?{}",
        sets.join(", "),
        columns.len() + 1
    );
    args.push(stored.id.into());
    tx.execute(&sql, &args)?;
    counts.updated += 1;
    Ok(Some(stored.id))
}

const DISCONTINUED: &str = "DISCONTINUED";
const SET_BY_SOURCE: &str = "source";

/// Whether a sync may change the stored item's status to `new`: only while
/// it is `SCHEDULED` or was discontinued by its source, and only if it differs.
fn source_may_set(stored: &Stored, new: &str) -> bool {
    let current = stored
        .status
        .as_deref()
        .filter(|s| !s.is_empty())
        .unwrap_or("SCHEDULED");
    let by_source = current == "SCHEDULED"
        || (current == DISCONTINUED && stored.status_set_by.as_deref() == Some(SET_BY_SOURCE));
    by_source && current != new
}

fn insert(tx: &dyn Db, source: &str, item: &Item) -> DbResult<i64> {
    let uid = item.value(STUDY_UID).is_none().then(new_study_uid);
    let mut columns: Vec<&str> = vec![
        "data_source",
        "source_record_id",
        "performed_procedure_step_status",
    ];
    let mut args: Vec<Value> = vec![
        source.into(),
        item.record_id.as_deref().into(),
        "SCHEDULED".into(),
    ];
    for (i, (field, _)) in WORKLIST_FIELDS.iter().enumerate() {
        let value = match (i, item.value(i)) {
            (_, Some(value)) => value,
            (STUDY_UID, None) => uid.as_deref().unwrap_or_default(),
            (MODALITY, None) => "MR",
            _ => continue,
        };
        columns.push(field);
        args.push(value.into());
    }
    let marks: Vec<String> = (1..=columns.len()).map(|n| format!("?{n}")).collect();
    let sql = format!(
        "INSERT INTO worklist_items ({}) VALUES ({}) RETURNING id",
        columns.join(", "),
        marks.join(", ")
    );
    Ok(tx
        .query_row(&sql, &args)?
        .and_then(|row| row.int(0))
        .unwrap_or_default())
}

/// A new Study Instance UID under the UUID-derived root `2.25` (PS3.5 B.2).
pub fn new_study_uid() -> String {
    format!("2.25.{}", uuid::Uuid::new_v4().as_u128())
}
