//! Read-only views the HTTP API shows beside the worklist: the latest sync
//! runs of a source (from `sync_runs`) and recent MPPS instances with the
//! item each one performs.

use rusqlite::{Connection, OptionalExtension};

/// One sync run as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunView {
    pub started_at: String,
    pub finished_at: Option<String>,
    pub fetched: i64,
    pub inserted: i64,
    pub updated: i64,
    pub unchanged: i64,
    pub conflicts: i64,
    pub rejected: i64,
    pub error: Option<String>,
}

const RUN_COLUMNS: &str = "started_at, finished_at, fetched, inserted, updated, unchanged, \
                           conflicts, rejected, error";

fn read_run(row: &rusqlite::Row<'_>) -> rusqlite::Result<RunView> {
    Ok(RunView {
        started_at: row.get(0)?,
        finished_at: row.get(1)?,
        fetched: row.get(2)?,
        inserted: row.get(3)?,
        updated: row.get(4)?,
        unchanged: row.get(5)?,
        conflicts: row.get(6)?,
        rejected: row.get(7)?,
        error: row.get(8)?,
    })
}

/// The latest run of `source`, and its latest run that failed.
pub fn latest_runs(
    conn: &Connection,
    source: &str,
) -> rusqlite::Result<(Option<RunView>, Option<RunView>)> {
    let latest = conn
        .prepare_cached(&format!(
            "SELECT {RUN_COLUMNS} FROM sync_runs WHERE source = ?1 ORDER BY id DESC LIMIT 1"
        ))?
        .query_row([source], read_run)
        .optional()?;
    let failed = conn
        .prepare_cached(&format!(
            "SELECT {RUN_COLUMNS} FROM sync_runs WHERE source = ?1 AND error IS NOT NULL \
             ORDER BY id DESC LIMIT 1"
        ))?
        .query_row([source], read_run)
        .optional()?;
    Ok((latest, failed))
}

/// An MPPS instance and the item it performs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MppsView {
    pub sop_instance_uid: String,
    pub status: String,
    pub calling_aet: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    pub item_id: Option<i64>,
    pub patient_id: Option<String>,
    pub patient_name: Option<String>,
    pub item_status: Option<String>,
}

/// The `limit` most recently changed MPPS instances, newest first.
pub fn recent_mpps(conn: &Connection, limit: i64) -> rusqlite::Result<Vec<MppsView>> {
    let mut stmt = conn.prepare_cached(
        "SELECT m.sop_instance_uid, m.status, m.calling_aet, m.created_at, m.updated_at, \
         w.id, w.patient_id, w.patient_name, w.performed_procedure_step_status \
         FROM mpps_instances m LEFT JOIN worklist_items w ON w.id = m.worklist_item_id \
         ORDER BY m.updated_at DESC, m.sop_instance_uid LIMIT ?1",
    )?;
    let rows = stmt.query_map([limit], |row| {
        Ok(MppsView {
            sop_instance_uid: row.get(0)?,
            status: row.get(1)?,
            calling_aet: row.get(2)?,
            created_at: row.get(3)?,
            updated_at: row.get(4)?,
            item_id: row.get(5)?,
            patient_id: row.get(6)?,
            patient_name: row.get(7)?,
            item_status: row.get(8)?,
        })
    })?;
    rows.collect()
}
