//! The `sync_runs` journal: one row per fetch of a source, with its counts or
//! error, and in `sync_run_records` the records it rejected or skipped.

use super::db::{Db, DbResult, Row, Value};

/// The counts of one sync run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunCounts {
    pub fetched: u64,
    pub inserted: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub conflicts: u64,
    /// Entries refused by the host (invalid entry, bad date, value too long, ...).
    pub rejected: u64,
    /// Upstream records the plugin reported as skipped.
    pub skipped: u64,
    /// Items retracted (not returned by a fetch complete for their window).
    pub retracted: u64,
    /// Retracted items returned again.
    pub restored: u64,
    /// A remark on the run (why a retraction was held back).
    pub note: Option<String>,
}

/// Whether a record was refused by the host or skipped by the plugin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordKind {
    Rejected,
    Skipped,
}

impl RecordKind {
    /// The name stored in `sync_run_records.kind`.
    pub fn name(self) -> &'static str {
        match self {
            RecordKind::Rejected => "rejected",
            RecordKind::Skipped => "skipped",
        }
    }
}

/// A record of a run that did not become an item, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub kind: RecordKind,
    pub record_id: Option<String>,
    pub reason: String,
}

/// One recorded run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    pub id: i64,
    pub source: String,
    pub started_at: String,
    pub finished_at: Option<String>,
    pub counts: RunCounts,
    pub error: Option<String>,
}

fn now() -> String {
    jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}

/// Records the start of a run of `source`; returns its id.
pub fn start(db: &dyn Db, source: &str) -> DbResult<i64> {
    Ok(db
        .query_row(
            "INSERT INTO sync_runs (source, started_at) VALUES (?1, ?2) RETURNING id",
            &[source.into(), now().into()],
        )?
        .and_then(|row| row.int(0))
        .unwrap_or_default())
}

/// Records the end of run `id`: its counts and, if it failed, the error.
pub fn finish(db: &dyn Db, id: i64, counts: &RunCounts, error: Option<&str>) -> DbResult<()> {
    db.execute(
        "UPDATE sync_runs SET finished_at = ?2, fetched = ?3, inserted = ?4, updated = ?5, \
         unchanged = ?6, conflicts = ?7, rejected = ?8, error = ?9, skipped = ?10, \
         retracted = ?11, restored = ?12, note = ?13 WHERE id = ?1",
        &[
            id.into(),
            now().into(),
            counts.fetched.into(),
            counts.inserted.into(),
            counts.updated.into(),
            counts.unchanged.into(),
            counts.conflicts.into(),
            counts.rejected.into(),
            error.into(),
            counts.skipped.into(),
            counts.retracted.into(),
            counts.restored.into(),
            counts.note.as_deref().into(),
        ],
    )?;
    Ok(())
}

/// Stores the rejected and skipped records of run `id`.
pub fn record(db: &dyn Db, id: i64, records: &[Record]) -> DbResult<()> {
    for r in records {
        db.execute(
            "INSERT INTO sync_run_records (run_id, kind, record_id, reason) \
             VALUES (?1, ?2, ?3, ?4)",
            &[
                id.into(),
                r.kind.name().into(),
                r.record_id.as_deref().into(),
                r.reason.as_str().into(),
            ],
        )?;
    }
    Ok(())
}

/// The rejected and skipped records of run `id`, in the order stored.
pub fn records(db: &dyn Db, id: i64) -> DbResult<Vec<Record>> {
    let sql = format!(
        "SELECT kind, record_id, reason FROM sync_run_records WHERE run_id = ?1 ORDER BY {}",
        db.dialect().insertion_order()
    );
    let rows = db.query(&sql, &[id.into()])?;
    Ok(rows
        .iter()
        .map(|row| Record {
            kind: if row.text(0).as_deref() == Some("skipped") {
                RecordKind::Skipped
            } else {
                RecordKind::Rejected
            },
            record_id: row.text(1),
            reason: row.text(2).unwrap_or_default(),
        })
        .collect())
}

/// How long the runs of a source are kept.
pub const KEEP_DAYS: i64 = 30;

/// Deletes the runs of `source` that started more than [`KEEP_DAYS`] ago.
pub fn prune(db: &dyn Db, source: &str) -> DbResult<u64> {
    let cutoff = jiff::Timestamp::now()
        .saturating_sub(jiff::SignedDuration::from_hours(24 * KEEP_DAYS))
        .unwrap_or(jiff::Timestamp::MIN)
        .strftime("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string();
    let args = [Value::from(source), cutoff.into()];
    db.execute(
        "DELETE FROM sync_run_records WHERE run_id IN \
         (SELECT id FROM sync_runs WHERE source = ?1 AND started_at < ?2)",
        &args,
    )?;
    db.execute(
        "DELETE FROM sync_runs WHERE source = ?1 AND started_at < ?2",
        &args,
    )
}

/// The runs of `source` (every source when `None`), oldest first.
pub fn list(db: &dyn Db, source: Option<&str>) -> DbResult<Vec<Run>> {
    select(db, "CAST(?1 AS TEXT) IS NULL OR source = ?1", source)
}

/// The last finished run of `source` (of every source when `None`).
pub fn last(db: &dyn Db, source: Option<&str>) -> DbResult<Vec<Run>> {
    select(
        db,
        "id IN (SELECT max(id) FROM sync_runs WHERE finished_at IS NOT NULL \
         AND (CAST(?1 AS TEXT) IS NULL OR source = ?1) GROUP BY source)",
        source,
    )
}

fn select(db: &dyn Db, filter: &str, source: Option<&str>) -> DbResult<Vec<Run>> {
    let sql = format!(
        "SELECT id, source, started_at, finished_at, fetched, inserted, updated, unchanged, \
         conflicts, rejected, error, skipped, retracted, restored, note FROM sync_runs \
         WHERE {filter} ORDER BY id"
    );
    let rows = db.query(&sql, &[source.into()])?;
    Ok(rows.iter().map(read_run).collect())
}

fn read_run(row: &Row) -> Run {
    Run {
        id: row.int(0).unwrap_or_default(),
        source: row.text(1).unwrap_or_default(),
        started_at: row.text(2).unwrap_or_default(),
        finished_at: row.text(3),
        counts: RunCounts {
            fetched: row.count(4),
            inserted: row.count(5),
            updated: row.count(6),
            unchanged: row.count(7),
            conflicts: row.count(8),
            rejected: row.count(9),
            skipped: row.count(11),
            retracted: row.count(12),
            restored: row.count(13),
            note: row.text(14),
        },
        error: row.text(10),
    }
}

/// The sources whose last finished run failed with an error containing
/// `mark`, with that error, sorted by source name.
pub fn last_errors_containing(db: &dyn Db, mark: &str) -> DbResult<Vec<(String, String)>> {
    let mut found: Vec<(String, String)> = last(db, None)?
        .into_iter()
        .filter_map(|run| Some((run.source, run.error.filter(|e| e.contains(mark))?)))
        .collect();
    found.sort();
    Ok(found)
}
