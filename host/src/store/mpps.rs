//! MPPS persistence: instances in `mpps_instances` (they survive restarts)
//! and the link to the worklist item they perform, whose status follows them.

use super::history::{self, ChangedBy};
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};

/// Keys that identify the worklist item an MPPS instance performs, from one
/// item of its Scheduled Step Attributes Sequence and its patient module.
#[derive(Debug, Clone, Default)]
pub struct LinkKeys {
    /// >Study Instance UID.
    pub study_uid: Option<String>,
    /// >Scheduled Procedure Step ID.
    pub sps_id: Option<String>,
    /// >Accession Number.
    pub accession_number: Option<String>,
    /// Patient ID.
    pub patient_id: Option<String>,
    /// Patient's Name.
    pub patient_name: Option<String>,
}

/// A stored MPPS instance.
#[derive(Debug, Clone)]
pub struct Instance {
    /// PPS Status: `IN PROGRESS`, `COMPLETED` or `DISCONTINUED`.
    pub status: String,
    /// The full attribute set, explicit VR little endian.
    pub attributes: Vec<u8>,
    /// The linked worklist item, if any.
    pub worklist_item_id: Option<i64>,
}

/// What an N-CREATE did to the store.
#[derive(Debug, Clone, PartialEq)]
pub enum Created {
    /// Stored; linked to this worklist item, or unscheduled (`None`).
    Stored(Option<i64>),
    /// An instance with this UID already exists; nothing was changed.
    Duplicate,
}

/// What an N-SET did to the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Updated {
    /// Stored; the linked worklist item, if any.
    Stored(Option<i64>),
    /// The instance is no longer IN PROGRESS (another N-SET finished it
    /// meanwhile); nothing was changed.
    NoLongerInProgress,
}

/// The worklist status an MPPS status moves its item to.
pub fn item_status(pps_status: &str) -> Option<&'static str> {
    match pps_status {
        "IN PROGRESS" => Some("IN_PROGRESS"),
        "COMPLETED" => Some("COMPLETED"),
        "DISCONTINUED" => Some("DISCONTINUED"),
        _ => None,
    }
}

fn now() -> String {
    jiff::Timestamp::now().to_string()
}

/// How the fallback links choose among several items of one patient or
/// accession: items not yet finished first, then the one scheduled nearest
/// today, so an MPPS never reopens an old completed visit.
const OPEN_AND_NEAREST: &str = "CASE WHEN COALESCE(performed_procedure_step_status, 'SCHEDULED') \
     IN ('SCHEDULED', 'IN_PROGRESS') THEN 0 ELSE 1 END, \
     COALESCE(abs(julianday(substr(sps_date, 1, 4) || '-' || substr(sps_date, 5, 2) || '-' \
     || substr(sps_date, 7, 2)) - julianday('now', 'localtime')), 1e9), id LIMIT 1";

/// Finds the worklist item an instance performs: Study Instance UID + SPS ID,
/// then Accession Number, then Patient ID + Patient's Name, then Patient ID
/// (the last two as pylantir 0.4 did).
pub fn find_item(conn: &Connection, links: &[LinkKeys]) -> rusqlite::Result<Option<i64>> {
    let one = |sql: &str, values: &[&str]| -> rusqlite::Result<Option<i64>> {
        conn.prepare_cached(sql)?
            .query_row(rusqlite::params_from_iter(values), |row| row.get(0))
            .optional()
    };
    for keys in links {
        if let (Some(uid), Some(sps)) = (&keys.study_uid, &keys.sps_id) {
            let found = one(
                "SELECT id FROM worklist_items WHERE study_instance_uid = ?1 \
                 AND COALESCE(NULLIF(scheduled_procedure_step_id, ''), CAST(id AS TEXT)) = ?2 \
                 ORDER BY id LIMIT 1",
                &[uid, sps],
            )?;
            if found.is_some() {
                return Ok(found);
            }
        }
    }
    for keys in links {
        if let Some(accession) = &keys.accession_number {
            let found = one(
                &format!(
                    "SELECT id FROM worklist_items WHERE accession_number = ?1 \
                     ORDER BY {OPEN_AND_NEAREST}"
                ),
                &[accession],
            )?;
            if found.is_some() {
                return Ok(found);
            }
        }
    }
    for keys in links {
        if let Some(patient_id) = &keys.patient_id {
            if let Some(name) = &keys.patient_name {
                let found = one(
                    &format!(
                        "SELECT id FROM worklist_items WHERE patient_id = ?1 AND patient_name = ?2 \
                         ORDER BY {OPEN_AND_NEAREST}"
                    ),
                    &[patient_id, name],
                )?;
                if found.is_some() {
                    return Ok(found);
                }
            }
            let found = one(
                &format!(
                    "SELECT id FROM worklist_items WHERE patient_id = ?1 ORDER BY {OPEN_AND_NEAREST}"
                ),
                &[patient_id],
            )?;
            if found.is_some() {
                return Ok(found);
            }
        }
    }
    Ok(None)
}

/// Stores a new instance (N-CREATE) in one transaction, links it and moves
/// the linked item to IN_PROGRESS.
pub fn create(
    conn: &mut Connection,
    sop_instance_uid: &str,
    status: &str,
    calling_aet: &str,
    attributes: &[u8],
    links: &[LinkKeys],
) -> rusqlite::Result<Created> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let exists: bool = tx
        .prepare_cached("SELECT 1 FROM mpps_instances WHERE sop_instance_uid = ?1")?
        .exists([sop_instance_uid])?;
    if exists {
        return Ok(Created::Duplicate);
    }
    let item = find_item(&tx, links)?;
    let stamp = now();
    tx.execute(
        "INSERT INTO mpps_instances (sop_instance_uid, status, worklist_item_id, calling_aet, \
         attributes, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)",
        params![
            sop_instance_uid,
            status,
            item,
            calling_aet,
            attributes,
            stamp
        ],
    )?;
    if let (Some(id), Some(new_status)) = (item, item_status(status)) {
        let by = ChangedBy::Mpps {
            message: "N-CREATE",
            sop_instance_uid,
        };
        history::record_change(&tx, id, new_status, &by)?;
        tx.execute(
            "UPDATE worklist_items SET performed_procedure_step_status = ?1, status_set_by = 'mpps', \
             retracted_at = NULL, retracted_reason = NULL WHERE id = ?2",
            params![new_status, id],
        )?;
    }
    tx.commit()?;
    Ok(Created::Stored(item))
}

/// Reads a stored instance.
pub fn get(conn: &Connection, sop_instance_uid: &str) -> rusqlite::Result<Option<Instance>> {
    conn.prepare_cached(
        "SELECT status, attributes, worklist_item_id FROM mpps_instances WHERE sop_instance_uid = ?1",
    )?
    .query_row([sop_instance_uid], |row| {
        Ok(Instance {
            status: row.get(0)?,
            attributes: row.get(1)?,
            worklist_item_id: row.get(2)?,
        })
    })
    .optional()
}

/// Replaces an instance's status and attributes (N-SET, already merged) and,
/// for a final status, moves its linked item to that status. Only an
/// instance still IN PROGRESS is changed, so two concurrent N-SETs can never
/// overwrite a final status.
pub fn update(
    conn: &mut Connection,
    sop_instance_uid: &str,
    status: &str,
    attributes: &[u8],
) -> rusqlite::Result<Updated> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let item: Option<i64> = tx
        .query_row(
            "SELECT worklist_item_id FROM mpps_instances WHERE sop_instance_uid = ?1",
            [sop_instance_uid],
            |row| row.get(0),
        )
        .optional()?
        .flatten();
    let changed = tx.execute(
        "UPDATE mpps_instances SET status = ?1, attributes = ?2, updated_at = ?3 \
         WHERE sop_instance_uid = ?4 AND status = 'IN PROGRESS'",
        params![status, attributes, now(), sop_instance_uid],
    )?;
    if changed == 0 {
        return Ok(Updated::NoLongerInProgress);
    }
    if let (Some(id), Some(new_status)) = (item, item_status(status)) {
        let by = ChangedBy::Mpps {
            message: "N-SET",
            sop_instance_uid,
        };
        history::record_change(&tx, id, new_status, &by)?;
        tx.execute(
            "UPDATE worklist_items SET performed_procedure_step_status = ?1, status_set_by = 'mpps', \
             retracted_at = NULL, retracted_reason = NULL WHERE id = ?2",
            params![new_status, id],
        )?;
    }
    tx.commit()?;
    Ok(Updated::Stored(item))
}
