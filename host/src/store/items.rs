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

use super::db::{self, Db, DbError, DbResult, Row, Value};
use super::history::{self, ChangedBy};
use super::retract::{self, Retraction};
use pylantir_plugin_api::WORKLIST_FIELDS;
use std::collections::{HashMap, HashSet};
use std::ops::ControlFlow;

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
///
/// Items are looked up 256 at a time, and new items are inserted several
/// to a statement: on PostgreSQL each statement is a round trip to the
/// server. The outcome is the same as writing the items one by one, in
/// order (see `Touched`).
pub struct FetchWrite<'c> {
    tx: db::Transaction<'c>,
    writer: Writer,
    counts: WriteCounts,
    conflicts: Vec<Conflict>,
    /// The rows the fetch wrote or matched (kept from retraction).
    seen: HashSet<i64>,
    /// New items not inserted yet.
    inserts: Inserts,
    /// What the chunk being written changed since its rows were read.
    touched: Touched,
}

/// How many items are looked up together.
const CHUNK: usize = 256;

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
            inserts: Inserts::default(),
            touched: Touched::default(),
        })
    }

    /// Writes one batch of items.
    pub fn items(&mut self, items: &[Item]) -> DbResult<()> {
        for chunk in items.chunks(CHUNK) {
            self.chunk(chunk)?;
        }
        Ok(())
    }

    /// Writes up to [`CHUNK`] items: the rows they may be about are read
    /// together, then each item is written in turn. An item whose record
    /// id or patient id the chunk has touched is looked up again on its
    /// own, once the pending inserts are written.
    fn chunk(&mut self, items: &[Item]) -> DbResult<()> {
        let db = self.tx.db();
        let read = Candidates::read(db, &self.writer, items)?;
        self.touched = Touched::default();
        for item in items {
            if self.touched.concerns(item) {
                self.flush()?;
                let again = Candidates::read(db, &self.writer, std::slice::from_ref(item))?;
                self.write_one(item, again.existing(&self.writer, item))?;
            } else {
                self.write_one(item, read.existing(&self.writer, item))?;
            }
        }
        self.flush()
    }

    /// Inserts the pending new items, with their history.
    fn flush(&mut self) -> DbResult<()> {
        let db = self.tx.db();
        let source = self.writer.name.as_str();
        let created = self.inserts.write(db)?;
        let statuses: Vec<(i64, Option<&str>)> = created
            .iter()
            .map(|(id, status)| (*id, status.as_deref()))
            .collect();
        history::record_created_many(db, &statuses, &ChangedBy::Source(source))?;
        self.seen.extend(created.iter().map(|(id, _)| *id));
        Ok(())
    }

    /// With `retraction`, retracts what the fetch did not return; commits.
    pub fn finish(
        mut self,
        retraction: Option<&Retraction>,
    ) -> DbResult<(WriteCounts, Vec<Conflict>)> {
        self.flush()?;
        if let Some(retraction) = retraction {
            let outcome =
                retract::retract_missing(self.tx.db(), &self.writer.name, retraction, &self.seen)?;
            self.counts.retracted = outcome.retracted;
            self.counts.note = outcome.held_back;
        }
        self.tx.commit()?;
        Ok((self.counts, self.conflicts))
    }

    /// Writes one item, `stored` being the row it is about (if any): an
    /// insert waits in [`FetchWrite::inserts`], an update is made at once.
    fn write_one(&mut self, item: &Item, stored: Option<&Stored>) -> DbResult<()> {
        let Some(stored) = stored else {
            if item.status.as_deref() == Some(DISCONTINUED) {
                self.counts.unchanged += 1;
                return Ok(());
            }
            let (columns, values) = new_row(&self.writer.name, item);
            if columns != self.inserts.columns {
                self.flush()?;
                self.inserts.columns = columns;
            }
            let patient = patient_key(item).to_string();
            self.inserts
                .rows
                .push((values, patient, item.status.clone()));
            self.touched.item(item);
            self.counts.inserted += 1;
            return Ok(());
        };
        let tx = self.tx.db();
        let writer = &self.writer;
        let source = writer.name.as_str();
        let counts = &mut self.counts;
        if let Some(owner) = stored
            .data_source
            .as_deref()
            .filter(|o| !writer.owns(Some(o)))
        {
            self.conflicts.push(Conflict {
                patient_id: item.value(PATIENT_ID).unwrap_or_default().to_string(),
                patient_name: item.value(PATIENT_NAME).map(str::to_string),
                owner: owner.to_string(),
            });
            counts.conflicts += 1;
            return Ok(());
        }
        self.seen.insert(stored.id);

        let mut columns: Vec<&str> = Vec::new();
        let mut args: Vec<Value> = Vec::new();
        for (i, (field, _)) in WORKLIST_FIELDS.iter().enumerate() {
            let (Some(new), old) = (item.value(i), stored.value(i)) else {
                continue;
            };
            let keep_uid = i == STUDY_UID && old.is_some_and(|uid| !uid.is_empty());
            if old != Some(new) && !keep_uid {
                columns.push(field);
                args.push(new.into());
            }
        }
        if stored.data_source.as_deref() != Some(source) {
            // Unowned, or written by Python pylantir under the type's name: claim it.
            columns.push("data_source");
            args.push(source.into());
        }
        if let Some(record_id) = &item.record_id {
            if stored.record_id.as_deref() != Some(record_id.as_str()) {
                columns.push("source_record_id");
                args.push(record_id.into());
            }
        }
        if let Some(status) = item.status.as_ref().filter(|s| source_may_set(stored, s)) {
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
            return Ok(());
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
        self.touched.row(stored);
        self.touched.item(item);
        Ok(())
    }
}

/// The record ids and patient ids of the rows the chunk being written
/// inserted or changed (before and after the change). The rows read for
/// the chunk are still what an item whose keys are none of these would
/// find: every row it could be about has one of its keys, and no row that
/// has (or had) one of them was written. The others are looked up again.
#[derive(Default)]
struct Touched {
    record_ids: HashSet<String>,
    patient_ids: HashSet<String>,
}

impl Touched {
    /// Whether `item` may be about a row the chunk wrote.
    fn concerns(&self, item: &Item) -> bool {
        item.record_id
            .as_ref()
            .is_some_and(|id| self.record_ids.contains(id))
            || self.patient_ids.contains(patient_key(item))
    }

    /// The keys of a row written from `item`.
    fn item(&mut self, item: &Item) {
        if let Some(id) = &item.record_id {
            self.record_ids.insert(id.clone());
        }
        self.patient_ids.insert(patient_key(item).to_string());
    }

    /// The keys `stored` had before it was changed.
    fn row(&mut self, stored: &Stored) {
        if let Some(id) = &stored.record_id {
            self.record_ids.insert(id.clone());
        }
        let patient = stored.value(PATIENT_ID).unwrap_or_default();
        self.patient_ids.insert(patient.to_string());
    }
}

/// The patient id an item is looked up by (`""` when it has none).
fn patient_key(item: &Item) -> &str {
    item.value(PATIENT_ID).unwrap_or_default()
}

/// New items waiting to be inserted, all with the same columns (an item
/// with other columns writes the waiting ones first, so ids follow the
/// order of the fetch). Their patient ids differ ([`Touched`] sends an
/// item with the patient id of a waiting one through a flush first), which
/// tells which new id is whose.
#[derive(Default)]
struct Inserts {
    columns: Vec<&'static str>,
    /// The values, the patient key and the status of each item.
    rows: Vec<(Vec<Value>, String, Option<String>)>,
}

/// The columns and values of the new row of `item` of the source
/// `source`: `SCHEDULED`, with a new Study Instance UID unless the item
/// has one, modality `MR` unless it has one.
fn new_row(source: &str, item: &Item) -> (Vec<&'static str>, Vec<Value>) {
    let uid = item.value(STUDY_UID).is_none().then(new_study_uid);
    let mut columns: Vec<&'static str> = vec![
        "data_source",
        "source_record_id",
        "performed_procedure_step_status",
    ];
    let mut values: Vec<Value> = vec![
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
        values.push(value.into());
    }
    (columns, values)
}

impl Inserts {
    /// Inserts the waiting items; returns each one's new id and status, in
    /// their order.
    fn write(&mut self, db: &dyn Db) -> DbResult<Vec<(i64, Option<String>)>> {
        if self.rows.is_empty() {
            return Ok(Vec::new());
        }
        let rows = std::mem::take(&mut self.rows);
        let width = self.columns.len();
        let mut ids: HashMap<String, i64> = HashMap::with_capacity(rows.len());
        let mut rest = rows.as_slice();
        for size in db::row_groups(rows.len()) {
            let (group, tail) = rest.split_at(size);
            rest = tail;
            let sql = format!(
                "INSERT INTO worklist_items ({}) VALUES {} RETURNING id, patient_id",
                self.columns.join(", "),
                db::value_rows(size, width, 1)
            );
            let args: Vec<Value> = group
                .iter()
                .flat_map(|(values, _, _)| values.iter().cloned())
                .collect();
            db.query_each(&sql, &args, &mut |row| {
                ids.insert(
                    row.text(1).unwrap_or_default(),
                    row.int(0).unwrap_or_default(),
                );
                ControlFlow::Continue(())
            })?;
        }
        rows.into_iter()
            .map(|(_, patient, status)| match ids.get(&patient) {
                Some(id) => Ok((*id, status)),
                None => Err(DbError::Inconsistent(format!(
                    "the insert of the item of patient id {patient:?} returned no id"
                ))),
            })
            .collect()
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

impl Stored {
    /// The stored value of worklist field number `index`.
    fn value(&self, index: usize) -> Option<&str> {
        self.values.get(index).and_then(|v| v.as_deref())
    }
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

/// The stored rows some items may be about, read in a few queries, and
/// the choice among them of the row each item is about.
#[derive(Default)]
struct Candidates {
    rows: Vec<Stored>,
    /// Each row's place in `rows`, by id.
    by_id: HashMap<i64, usize>,
    /// The source's own row of each record id.
    own: HashMap<String, usize>,
    /// Rows of each record id that the source may claim (Python pylantir's).
    legacy: HashMap<String, Vec<usize>>,
    /// Rows of each patient id.
    patients: HashMap<String, Vec<usize>>,
}

impl Candidates {
    /// Reads the rows `items` may be about: by record id the source's own
    /// rows, then (if there may be some) rows it may claim; by patient id
    /// the rows of the items that neither found.
    fn read(db: &dyn Db, writer: &Writer, items: &[Item]) -> DbResult<Candidates> {
        let mut found = Candidates::default();
        let source = Some(writer.name.as_str());
        let record_ids = distinct(items.iter().filter_map(|i| i.record_id.as_deref()));
        for row in read_in(
            db,
            "data_source = ?1 AND source_record_id",
            source,
            &record_ids,
        )? {
            let at = found.add(row);
            if let Some(id) = found.rows[at].record_id.clone() {
                found.own.insert(id, at);
            }
        }
        if writer.legacy_ids {
            let left = distinct(
                record_ids
                    .into_iter()
                    .filter(|id| !found.own.contains_key(*id)),
            );
            let filter = format!("{} AND source_record_id", writer.mine);
            for row in read_in(db, &filter, source, &left)? {
                let at = found.add(row);
                if let Some(id) = found.rows[at].record_id.clone() {
                    push_once(found.legacy.entry(id).or_default(), at);
                }
            }
        }
        let unresolved = items.iter().filter(|item| match &item.record_id {
            Some(id) => !found.own.contains_key(id) && !found.legacy.contains_key(id),
            None => true,
        });
        let patient_ids = distinct(unresolved.map(patient_key));
        for row in read_in(db, "patient_id", None, &patient_ids)? {
            let at = found.add(row);
            let patient = found.rows[at]
                .value(PATIENT_ID)
                .unwrap_or_default()
                .to_string();
            push_once(found.patients.entry(patient).or_default(), at);
        }
        Ok(found)
    }

    /// Keeps `row` (once: a row may be read by its record id and by its
    /// patient id, and a padded key list reads it again); returns its
    /// place in `rows`.
    fn add(&mut self, row: Stored) -> usize {
        if let Some(at) = self.by_id.get(&row.id) {
            return *at;
        }
        self.by_id.insert(row.id, self.rows.len());
        self.rows.push(row);
        self.rows.len() - 1
    }

    /// The row `item` is about, if any: with a record id, the source's row
    /// of that id, else a row it may claim with that id, else a row of the
    /// same patient (and name, if the item has one) of this source (or
    /// claimable) without a record id, to adopt, else such a row of another
    /// source: a conflict. Without a record id, the same patient's row of
    /// this source, then one it may claim, then another source's. Among
    /// equals, the oldest (lowest id).
    fn existing(&self, writer: &Writer, item: &Item) -> Option<&Stored> {
        let patient_id = patient_key(item);
        let name = item.value(PATIENT_NAME);
        let mine = |row: &Stored| writer.owns(row.data_source.as_deref());
        let same_patient = self
            .patients
            .get(patient_id)
            .into_iter()
            .flatten()
            .map(|at| &self.rows[*at])
            .filter(|row| {
                row.value(PATIENT_ID) == Some(patient_id)
                    && name.is_none_or(|name| row.value(PATIENT_NAME) == Some(name))
            });
        let Some(record_id) = &item.record_id else {
            let own = |row: &Stored| row.data_source.as_deref() == Some(writer.name.as_str());
            return same_patient.min_by_key(|row| (!own(row), !mine(row), row.id));
        };
        if let Some(at) = self.own.get(record_id) {
            return Some(&self.rows[*at]);
        }
        if writer.legacy_ids {
            let legacy = self
                .legacy
                .get(record_id)
                .into_iter()
                .flatten()
                .map(|at| &self.rows[*at])
                .filter(|row| mine(row))
                .min_by_key(|row| row.id);
            if legacy.is_some() {
                return legacy;
            }
        }
        same_patient
            .filter(|row| !mine(row) || row.record_id.as_deref().is_none_or(str::is_empty))
            .min_by_key(|row| (!mine(row), row.id))
    }
}

/// Adds `at` to `list` unless it is there.
fn push_once(list: &mut Vec<usize>, at: usize) {
    if !list.contains(&at) {
        list.push(at);
    }
}

/// `keys` without repeats, in their first order.
fn distinct<'k>(keys: impl Iterator<Item = &'k str>) -> Vec<&'k str> {
    let mut seen = HashSet::new();
    keys.filter(|key| seen.insert(*key)).collect()
}

/// The rows where `{filter} = key` for one of `keys` (see
/// [`db::Dialect::for_each_key`]), `?1` being `first` when given.
/// The list is padded (with its last key) to 1, 4, 16, 64 or 256 keys, so
/// that the statement comes in a few texts only.
fn read_in(db: &dyn Db, filter: &str, first: Option<&str>, keys: &[&str]) -> DbResult<Vec<Stored>> {
    let mut rows = Vec::new();
    let skip = usize::from(first.is_some());
    for group in keys.chunks(CHUNK) {
        let Some(last) = group.last() else {
            continue;
        };
        let size = [1, 4, 16, 64, CHUNK]
            .into_iter()
            .find(|size| *size >= group.len())
            .unwrap_or(group.len());
        let marks: Vec<String> = (1..=size).map(|n| format!("?{}", n + skip)).collect();
        let sql = db
            .dialect()
            .for_each_key(select_columns(), filter, &marks.join(", "));
        let mut args: Vec<Value> = first.into_iter().map(Value::from).collect();
        args.extend((0..size).map(|n| Value::from(*group.get(n).unwrap_or(last))));
        db.query_each(&sql, &args, &mut |row| {
            rows.push(read_stored(&row));
            ControlFlow::Continue(())
        })?;
    }
    Ok(rows)
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

/// A new Study Instance UID under the UUID-derived root `2.25` (PS3.5 B.2).
pub fn new_study_uid() -> String {
    format!("2.25.{}", uuid::Uuid::new_v4().as_u128())
}
