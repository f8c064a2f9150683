//! The MPPS write-back queue (`mpps_outcomes`): an outcome is queued in the
//! MPPS transaction that moves its item, for sources with `mpps_write_back`,
//! and delivered later to the source's plugin ([`crate::write_back`]), so it
//! survives a restart and never delays the MPPS answer.
//!
//! A row is `pending` until it is `delivered`, `failed` (its last attempt
//! failed; no more are made) or `unsupported` (the plugin does not know the
//! operation).

use super::db::{Db, DbResult, Value};
use serde_json::json;

/// What an MPPS instance says about the performed step, for the write-back.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Performed {
    /// Performed Procedure Step Start Date and Time, `YYYY-MM-DDTHH:MM:SS`
    /// (or the date alone).
    pub start: Option<String>,
    /// Performed Procedure Step End Date and Time, as `start`.
    pub end: Option<String>,
    /// Performed Station AE Title.
    pub station_ae_title: Option<String>,
    /// Performed Station Name.
    pub station_name: Option<String>,
}

/// Which sources get their outcomes, and what the MPPS instance says.
#[derive(Debug, Clone, Copy)]
pub struct WriteBack<'a> {
    /// The names of the sources with `mpps_write_back`.
    pub sources: &'a [String],
    pub performed: &'a Performed,
}

impl WriteBack<'static> {
    /// No source writes back.
    pub const NONE: WriteBack<'static> = WriteBack {
        sources: &[],
        performed: &Performed {
            start: None,
            end: None,
            station_ae_title: None,
            station_name: None,
        },
    };
}

/// One queued outcome, as delivery reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct Queued {
    pub id: i64,
    /// The `mpps_outcome` payload (JSON text).
    pub payload: String,
    /// Attempts made so far.
    pub attempts: u32,
    /// When the next attempt is due (Unix seconds).
    pub due_at: i64,
}

/// One row of the queue, as `query-db --write-back` lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct Listed {
    pub id: i64,
    pub source: String,
    pub source_record_id: String,
    pub status: String,
    pub state: String,
    pub attempts: u32,
    pub created_at: String,
    pub finished_at: Option<String>,
    pub last_error: Option<String>,
}

fn now_text() -> String {
    jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}

/// Queues the outcome `status` (a worklist status) of item `item` when its
/// source is one of `write_back.sources` and it has a source record id.
/// Runs inside the MPPS transaction.
pub fn queue(
    tx: &dyn Db,
    item: i64,
    status: &str,
    sop_instance_uid: &str,
    write_back: &WriteBack<'_>,
) -> DbResult<bool> {
    if write_back.sources.is_empty() {
        return Ok(false);
    }
    let Some(row) = tx.query_row(
        "SELECT data_source, source_record_id, study_instance_uid, accession_number \
         FROM worklist_items WHERE id = ?1",
        &[item.into()],
    )?
    else {
        return Ok(false);
    };
    let (Some(source), Some(record_id)) = (row.text(0), row.text(1)) else {
        return Ok(false);
    };
    if record_id.is_empty() || !write_back.sources.contains(&source) {
        return Ok(false);
    }
    let performed = write_back.performed;
    let payload = json!({
        "source_record_id": record_id,
        "status": status,
        "mpps_sop_instance_uid": sop_instance_uid,
        "performed_start": performed.start,
        "performed_end": performed.end,
        "performed_station_ae_title": performed.station_ae_title,
        "performed_station_name": performed.station_name,
        "study_instance_uid": row.text(2),
        "accession_number": row.text(3),
    });
    tx.execute(
        "INSERT INTO mpps_outcomes (source, worklist_item_id, source_record_id, status, \
         sop_instance_uid, payload, state, attempts, due_at, created_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'pending', 0, ?7, ?8)",
        &[
            source.into(),
            item.into(),
            record_id.into(),
            status.into(),
            sop_instance_uid.into(),
            payload.to_string().into(),
            jiff::Timestamp::now().as_second().into(),
            now_text().into(),
        ],
    )?;
    Ok(true)
}

/// The oldest pending outcome of `source`, due or not: outcomes are
/// delivered in the order they were queued, so a later one never overtakes
/// an earlier one of the same record.
pub fn next(db: &dyn Db, source: &str) -> DbResult<Option<Queued>> {
    let row = db.query_row(
        "SELECT id, payload, attempts, due_at FROM mpps_outcomes \
         WHERE source = ?1 AND state = 'pending' ORDER BY id LIMIT 1",
        &[source.into()],
    )?;
    Ok(row.map(|row| Queued {
        id: row.int(0).unwrap_or_default(),
        payload: row.text(1).unwrap_or_default(),
        attempts: u32::try_from(row.count(2)).unwrap_or(u32::MAX),
        due_at: row.int(3).unwrap_or_default(),
    }))
}

/// Marks an outcome delivered.
pub fn delivered(db: &dyn Db, id: i64) -> DbResult<()> {
    db.execute(
        "UPDATE mpps_outcomes SET state = 'delivered', attempts = attempts + 1, \
         finished_at = ?1 WHERE id = ?2",
        &[now_text().into(), id.into()],
    )?;
    Ok(())
}

/// Records a failed attempt: retried at `retry_at` (Unix seconds), or, when
/// `None`, marked `failed` for good.
pub fn attempt_failed(db: &dyn Db, id: i64, error: &str, retry_at: Option<i64>) -> DbResult<()> {
    match retry_at {
        Some(at) => db.execute(
            "UPDATE mpps_outcomes SET attempts = attempts + 1, last_error = ?1, due_at = ?2 \
             WHERE id = ?3",
            &[error.into(), at.into(), id.into()],
        )?,
        None => db.execute(
            "UPDATE mpps_outcomes SET state = 'failed', attempts = attempts + 1, \
             last_error = ?1, finished_at = ?2 WHERE id = ?3",
            &[error.into(), now_text().into(), id.into()],
        )?,
    };
    Ok(())
}

/// Marks every pending outcome of `source` `unsupported` (its plugin does
/// not know the operation); returns how many.
pub fn unsupported(db: &dyn Db, source: &str, error: &str) -> DbResult<u64> {
    db.execute(
        "UPDATE mpps_outcomes SET state = 'unsupported', last_error = ?1, finished_at = ?2 \
         WHERE source = ?3 AND state = 'pending'",
        &[error.into(), now_text().into(), source.into()],
    )
}

/// How long finished outcomes are kept.
const KEEP_DAYS: i64 = 30;

/// Deletes the outcomes of `source` finished more than [`KEEP_DAYS`] ago.
pub fn prune(db: &dyn Db, source: &str) -> DbResult<u64> {
    let cutoff = jiff::Timestamp::now()
        .saturating_sub(jiff::SignedDuration::from_hours(24 * KEEP_DAYS))
        .unwrap_or(jiff::Timestamp::MIN)
        .strftime("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string();
    db.execute(
        "DELETE FROM mpps_outcomes WHERE source = ?1 AND state <> 'pending' AND finished_at < ?2",
        &[source.into(), cutoff.into()],
    )
}

/// The queue, newest first (at most `limit` rows).
pub fn list(db: &dyn Db, limit: u64) -> DbResult<Vec<Listed>> {
    let rows = db.query(
        "SELECT id, source, source_record_id, status, state, attempts, created_at, \
         finished_at, last_error FROM mpps_outcomes ORDER BY id DESC LIMIT ?1",
        &[Value::from(limit)],
    )?;
    Ok(rows
        .into_iter()
        .map(|row| Listed {
            id: row.int(0).unwrap_or_default(),
            source: row.text(1).unwrap_or_default(),
            source_record_id: row.text(2).unwrap_or_default(),
            status: row.text(3).unwrap_or_default(),
            state: row.text(4).unwrap_or_default(),
            attempts: u32::try_from(row.count(5)).unwrap_or(u32::MAX),
            created_at: row.text(6).unwrap_or_default(),
            finished_at: row.text(7),
            last_error: row.text(8),
        })
        .collect())
}
