//! The `sync_runs` journal: one row per fetch of a source, with its counts or
//! error, and in `sync_run_records` the records it rejected or skipped.

use rusqlite::{params, Connection};

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
pub fn start(conn: &Connection, source: &str) -> rusqlite::Result<i64> {
    conn.prepare_cached("INSERT INTO sync_runs (source, started_at) VALUES (?1, ?2)")?
        .execute(params![source, now()])?;
    Ok(conn.last_insert_rowid())
}

/// Records the end of run `id`: its counts and, if it failed, the error.
pub fn finish(
    conn: &Connection,
    id: i64,
    counts: &RunCounts,
    error: Option<&str>,
) -> rusqlite::Result<()> {
    let as_i64 = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
    conn.prepare_cached(
        "UPDATE sync_runs SET finished_at = ?2, fetched = ?3, inserted = ?4, updated = ?5, \
         unchanged = ?6, conflicts = ?7, rejected = ?8, error = ?9, skipped = ?10, \
         retracted = ?11, restored = ?12, note = ?13 WHERE id = ?1",
    )?
    .execute(params![
        id,
        now(),
        as_i64(counts.fetched),
        as_i64(counts.inserted),
        as_i64(counts.updated),
        as_i64(counts.unchanged),
        as_i64(counts.conflicts),
        as_i64(counts.rejected),
        error,
        as_i64(counts.skipped),
        as_i64(counts.retracted),
        as_i64(counts.restored),
        counts.note
    ])?;
    Ok(())
}

/// Stores the rejected and skipped records of run `id`.
pub fn record(conn: &Connection, id: i64, records: &[Record]) -> rusqlite::Result<()> {
    let mut stmt = conn.prepare_cached(
        "INSERT INTO sync_run_records (run_id, kind, record_id, reason) VALUES (?1, ?2, ?3, ?4)",
    )?;
    for r in records {
        stmt.execute(params![id, r.kind.name(), r.record_id, r.reason])?;
    }
    Ok(())
}

/// The rejected and skipped records of run `id`, in the order stored.
pub fn records(conn: &Connection, id: i64) -> rusqlite::Result<Vec<Record>> {
    let mut stmt = conn.prepare(
        "SELECT kind, record_id, reason FROM sync_run_records WHERE run_id = ?1 ORDER BY rowid",
    )?;
    let rows = stmt.query_map([id], |row| {
        let kind: String = row.get(0)?;
        Ok(Record {
            kind: if kind == "skipped" {
                RecordKind::Skipped
            } else {
                RecordKind::Rejected
            },
            record_id: super::text_column(row, 1)?,
            reason: row.get(2)?,
        })
    })?;
    rows.collect()
}

/// How long the runs of a source are kept.
pub const KEEP_DAYS: i64 = 30;

/// Deletes the runs of `source` that started more than [`KEEP_DAYS`] ago.
pub fn prune(conn: &Connection, source: &str) -> rusqlite::Result<usize> {
    let cutoff = jiff::Timestamp::now()
        .saturating_sub(jiff::SignedDuration::from_hours(24 * KEEP_DAYS))
        .unwrap_or(jiff::Timestamp::MIN)
        .strftime("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string();
    conn.prepare_cached(
        "DELETE FROM sync_run_records WHERE run_id IN \
         (SELECT id FROM sync_runs WHERE source = ?1 AND started_at < ?2)",
    )?
    .execute(params![source, cutoff])?;
    conn.prepare_cached("DELETE FROM sync_runs WHERE source = ?1 AND started_at < ?2")?
        .execute(params![source, cutoff])
}

/// The runs of `source` (every source when `None`), oldest first.
pub fn list(conn: &Connection, source: Option<&str>) -> rusqlite::Result<Vec<Run>> {
    select(conn, "?1 IS NULL OR source = ?1", source)
}

/// The last finished run of `source` (of every source when `None`).
pub fn last(conn: &Connection, source: Option<&str>) -> rusqlite::Result<Vec<Run>> {
    select(
        conn,
        "id IN (SELECT max(id) FROM sync_runs WHERE finished_at IS NOT NULL \
         AND (?1 IS NULL OR source = ?1) GROUP BY source)",
        source,
    )
}

fn select(conn: &Connection, filter: &str, source: Option<&str>) -> rusqlite::Result<Vec<Run>> {
    let mut stmt = conn.prepare(&format!(
        "SELECT id, source, started_at, finished_at, fetched, inserted, updated, unchanged, \
         conflicts, rejected, error, skipped, retracted, restored, note FROM sync_runs \
         WHERE {filter} ORDER BY id"
    ))?;
    let rows = stmt.query_map([source], |row| {
        let count = |i: usize| row.get::<_, i64>(i).map(|n| u64::try_from(n).unwrap_or(0));
        Ok(Run {
            id: row.get(0)?,
            source: row.get(1)?,
            started_at: row.get(2)?,
            finished_at: row.get(3)?,
            counts: RunCounts {
                fetched: count(4)?,
                inserted: count(5)?,
                updated: count(6)?,
                unchanged: count(7)?,
                conflicts: count(8)?,
                rejected: count(9)?,
                skipped: count(11)?,
                retracted: count(12)?,
                restored: count(13)?,
                note: row.get(14)?,
            },
            error: row.get(10)?,
        })
    })?;
    rows.collect()
}
