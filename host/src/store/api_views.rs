//! Read-only views the HTTP API shows beside the worklist: the latest sync
//! runs of a source (from `sync_runs`) and recent MPPS instances with the
//! item each one performs.

use super::db::{Db, DbResult, Row};

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

fn read_run(row: Row) -> RunView {
    RunView {
        started_at: row.text(0).unwrap_or_default(),
        finished_at: row.text(1),
        fetched: row.int(2).unwrap_or_default(),
        inserted: row.int(3).unwrap_or_default(),
        updated: row.int(4).unwrap_or_default(),
        unchanged: row.int(5).unwrap_or_default(),
        conflicts: row.int(6).unwrap_or_default(),
        rejected: row.int(7).unwrap_or_default(),
        error: row.text(8),
    }
}

/// The latest run of `source`, and its latest run that failed.
pub fn latest_runs(db: &dyn Db, source: &str) -> DbResult<(Option<RunView>, Option<RunView>)> {
    let latest = db.query_row(
        &format!("SELECT {RUN_COLUMNS} FROM sync_runs WHERE source = ?1 ORDER BY id DESC LIMIT 1"),
        &[source.into()],
    )?;
    let failed = db.query_row(
        &format!(
            "SELECT {RUN_COLUMNS} FROM sync_runs WHERE source = ?1 AND error IS NOT NULL \
             ORDER BY id DESC LIMIT 1"
        ),
        &[source.into()],
    )?;
    Ok((latest.map(read_run), failed.map(read_run)))
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
pub fn recent_mpps(db: &dyn Db, limit: i64) -> DbResult<Vec<MppsView>> {
    let rows = db.query(
        "SELECT m.sop_instance_uid, m.status, m.calling_aet, m.created_at, m.updated_at, \
         w.id, w.patient_id, w.patient_name, w.performed_procedure_step_status \
         FROM mpps_instances m LEFT JOIN worklist_items w ON w.id = m.worklist_item_id \
         ORDER BY m.updated_at DESC, m.sop_instance_uid LIMIT ?1",
        &[limit.into()],
    )?;
    Ok(rows
        .iter()
        .map(|row| MppsView {
            sop_instance_uid: row.text(0).unwrap_or_default(),
            status: row.text(1).unwrap_or_default(),
            calling_aet: row.text(2),
            created_at: row.text(3).unwrap_or_default(),
            updated_at: row.text(4).unwrap_or_default(),
            item_id: row.int(5),
            patient_id: row.text(6),
            patient_name: row.text(7),
            item_status: row.text(8),
        })
        .collect())
}
