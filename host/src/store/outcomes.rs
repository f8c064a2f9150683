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

/// One outcome not delivered yet (`pending`) or given up (`failed`), as
/// `query-db --write-back` lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct Listed {
    pub id: i64,
    pub source: String,
    pub source_record_id: String,
    /// The worklist status written back.
    pub status: String,
    pub sop_instance_uid: String,
    /// `pending` or `failed`.
    pub state: String,
    pub attempts: u32,
    pub queued_at: String,
    /// When a pending outcome is tried next (RFC 3339).
    pub next_attempt_at: Option<String>,
    /// When a failed outcome was given up.
    pub finished_at: Option<String>,
    pub last_error: Option<String>,
}

/// One source's queue, summed up (as JSON: its fields by name).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Summary {
    pub source: String,
    pub pending: u64,
    pub delivered: u64,
    pub failed: u64,
    pub unsupported: u64,
    /// When the last outcome was delivered.
    pub last_delivered_at: Option<String>,
    /// When the oldest pending outcome, the one the queue waits on, is
    /// tried next.
    pub next_attempt_at: Option<String>,
    /// Why the oldest pending outcome's last attempt failed.
    pub last_error: Option<String>,
}

/// Unix seconds as RFC 3339 text.
fn unix_text(seconds: i64) -> Option<String> {
    jiff::Timestamp::from_second(seconds)
        .ok()
        .map(|at| at.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
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

/// `WHERE` for the rows of `source` (every source when `None`), with
/// `more` conditions; `source` is parameter `?1`.
fn of_source(source: Option<&str>, more: &str) -> (String, Vec<Value>) {
    match source {
        Some(name) => (format!("WHERE source = ?1 {more}"), vec![name.into()]),
        None if more.is_empty() => (String::new(), Vec::new()),
        None => (
            format!("WHERE {}", more.trim_start_matches("AND ")),
            Vec::new(),
        ),
    }
}

/// The queue of each source (of `source` alone when given) that has
/// outcomes, by source name.
pub fn summaries(db: &dyn Db, source: Option<&str>) -> DbResult<Vec<Summary>> {
    let (filter, params) = of_source(source, "");
    let rows = db.query(
        &format!(
            "SELECT source, state, count(*), max(finished_at) FROM mpps_outcomes {filter} \
             GROUP BY source, state ORDER BY source, state"
        ),
        &params,
    )?;
    let mut summaries: Vec<Summary> = Vec::new();
    for row in rows {
        let name = row.text(0).unwrap_or_default();
        if summaries.last().is_none_or(|s| s.source != name) {
            summaries.push(Summary {
                source: name,
                ..Summary::default()
            });
        }
        let Some(summary) = summaries.last_mut() else {
            continue;
        };
        let count = row.count(2);
        match row.text(1).as_deref() {
            Some("pending") => summary.pending = count,
            Some("delivered") => {
                summary.delivered = count;
                summary.last_delivered_at = row.text(3);
            }
            Some("failed") => summary.failed = count,
            Some("unsupported") => summary.unsupported = count,
            _ => {}
        }
    }
    for summary in summaries.iter_mut().filter(|s| s.pending > 0) {
        let oldest = db.query_row(
            "SELECT due_at, last_error FROM mpps_outcomes \
             WHERE source = ?1 AND state = 'pending' ORDER BY id LIMIT 1",
            &[summary.source.as_str().into()],
        )?;
        if let Some(row) = oldest {
            summary.next_attempt_at = row.int(0).and_then(unix_text);
            summary.last_error = row.text(1);
        }
    }
    Ok(summaries)
}

/// The pending and failed outcomes (of `source` alone when given), by
/// source and oldest first, at most `limit`.
pub fn undelivered(db: &dyn Db, source: Option<&str>, limit: u64) -> DbResult<Vec<Listed>> {
    let (filter, mut params) = of_source(source, "AND state IN ('pending', 'failed')");
    params.push(limit.into());
    let rows = db.query(
        &format!(
            "SELECT id, source, source_record_id, status, sop_instance_uid, state, attempts, \
             created_at, due_at, finished_at, last_error FROM mpps_outcomes {filter} \
             ORDER BY source, id LIMIT ?{}",
            params.len()
        ),
        &params,
    )?;
    Ok(rows
        .into_iter()
        .map(|row| {
            let state = row.text(5).unwrap_or_default();
            let due = if state == "pending" {
                row.int(8).and_then(unix_text)
            } else {
                None
            };
            Listed {
                id: row.int(0).unwrap_or_default(),
                source: row.text(1).unwrap_or_default(),
                source_record_id: row.text(2).unwrap_or_default(),
                status: row.text(3).unwrap_or_default(),
                sop_instance_uid: row.text(4).unwrap_or_default(),
                state,
                attempts: u32::try_from(row.count(6)).unwrap_or(u32::MAX),
                queued_at: row.text(7).unwrap_or_default(),
                next_attempt_at: due,
                finished_at: row.text(9),
                last_error: row.text(10),
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A queue of source `s` with one outcome per record in `records`, all pending.
    fn queue_of(records: &[&str]) -> (tempfile::TempDir, rusqlite::Connection) {
        let dir = tempfile::tempdir().expect("temp dir");
        let conn = crate::store::open(&dir.path().join("wl.db")).expect("store");
        for record in records {
            conn.execute(
                "INSERT INTO mpps_outcomes (source, source_record_id, status, sop_instance_uid, \
                 payload, state, attempts, due_at, created_at) \
                 VALUES ('s', ?1, 'COMPLETED', '2.25.1', '{}', 'pending', 0, 0, 'then')",
                [record],
            )
            .expect("queued");
        }
        (dir, conn)
    }

    #[test]
    fn the_summary_counts_each_state_and_the_listing_shows_pending_and_failed_oldest_first() {
        let (_dir, conn) = queue_of(&["delivered", "failed", "unsupported", "waiting", "new"]);
        delivered(&conn, 1).expect("delivered");
        attempt_failed(&conn, 2, "gone", None).expect("given up");
        conn.execute(
            "UPDATE mpps_outcomes SET state = 'unsupported' WHERE id = 3",
            [],
        )
        .expect("unsupported");
        attempt_failed(&conn, 4, "down", Some(1_800_000_000)).expect("retried");

        let all = summaries(&conn, None).expect("summaries");
        assert_eq!(all.len(), 1);
        let summary = &all[0];
        assert_eq!(
            (
                summary.pending,
                summary.delivered,
                summary.failed,
                summary.unsupported
            ),
            (2, 1, 1, 1)
        );
        assert!(summary.last_delivered_at.is_some());
        assert_eq!(
            summary.next_attempt_at.as_deref(),
            Some("2027-01-15T08:00:00Z")
        );
        assert_eq!(summary.last_error.as_deref(), Some("down"));
        assert_eq!(summaries(&conn, Some("other")).expect("none"), []);

        let listed = undelivered(&conn, Some("s"), 10).expect("listed");
        let shown: Vec<(&str, &str, u32)> = listed
            .iter()
            .map(|o| (o.source_record_id.as_str(), o.state.as_str(), o.attempts))
            .collect();
        assert_eq!(
            shown,
            [
                ("failed", "failed", 1),
                ("waiting", "pending", 1),
                ("new", "pending", 0)
            ]
        );
        assert_eq!(
            (
                listed[0].next_attempt_at.as_deref(),
                listed[0].finished_at.is_some()
            ),
            (None, true)
        );
        assert_eq!(
            listed[1].next_attempt_at.as_deref(),
            Some("2027-01-15T08:00:00Z")
        );
        assert_eq!(undelivered(&conn, None, 2).expect("limited").len(), 2);
    }
}
