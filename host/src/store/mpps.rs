//! MPPS persistence: instances in `mpps_instances` (they survive restarts)
//! and the link to the worklist item they perform, whose status follows them.

use super::db::{self, Db, DbResult, Row, Value};
use super::history::{self, ChangedBy};
use super::outcomes::{self, WriteBack};

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

/// The item a fallback link (several items of one patient or accession)
/// chooses: items not yet finished first, then the one scheduled nearest
/// today, then the oldest, so an MPPS never reopens an old completed visit.
/// Chosen here rather than in SQL, so both backends choose alike.
fn open_and_nearest(rows: &[Row]) -> Option<i64> {
    let now = jiff::Timestamp::now()
        .to_zoned_datetime(pylantir_plugin_api::tz::system())
        .datetime();
    rows.iter()
        .min_by_key(|row| {
            let status = row.text(1).unwrap_or_else(|| "SCHEDULED".into());
            let open = u8::from(!matches!(status.as_str(), "SCHEDULED" | "IN_PROGRESS"));
            let distance = row
                .text(2)
                .and_then(|d| jiff::civil::Date::strptime("%Y%m%d", &d).ok())
                .map_or(i64::MAX, |d| {
                    now.duration_until(d.to_datetime(jiff::civil::Time::midnight()))
                        .as_secs()
                        .abs()
                });
            (open, distance, row.int(0).unwrap_or_default())
        })
        .and_then(|row| row.int(0))
}

/// Finds the worklist item an instance performs: Study Instance UID + SPS ID,
/// then Accession Number, then Patient ID + Patient's Name, then Patient ID
/// (the last two as pylantir 0.4 did).
pub fn find_item(db: &dyn Db, links: &[LinkKeys]) -> DbResult<Option<i64>> {
    let first = |sql: &str, values: &[&str]| -> DbResult<Option<i64>> {
        let args: Vec<Value> = values.iter().map(|v| Value::from(*v)).collect();
        Ok(db.query_row(sql, &args)?.and_then(|row| row.int(0)))
    };
    let nearest = |filter: &str, values: &[&str]| -> DbResult<Option<i64>> {
        let args: Vec<Value> = values.iter().map(|v| Value::from(*v)).collect();
        let sql = format!(
            "SELECT id, NULLIF(performed_procedure_step_status, ''), sps_date \
             FROM worklist_items WHERE {filter}"
        );
        Ok(open_and_nearest(&db.query(&sql, &args)?))
    };
    for keys in links {
        if let (Some(uid), Some(sps)) = (&keys.study_uid, &keys.sps_id) {
            let found = first(
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
            let found = nearest("accession_number = ?1", &[accession])?;
            if found.is_some() {
                return Ok(found);
            }
        }
    }
    for keys in links {
        if let Some(patient_id) = &keys.patient_id {
            if let Some(name) = &keys.patient_name {
                let found = nearest("patient_id = ?1 AND patient_name = ?2", &[patient_id, name])?;
                if found.is_some() {
                    return Ok(found);
                }
            }
            let found = nearest("patient_id = ?1", &[patient_id])?;
            if found.is_some() {
                return Ok(found);
            }
        }
    }
    Ok(None)
}

/// Stores a new instance (N-CREATE) in one transaction, links it and moves
/// the linked item to IN_PROGRESS, queueing that outcome for its source
/// when `write_back` says so.
pub fn create(
    db: &dyn Db,
    sop_instance_uid: &str,
    status: &str,
    calling_aet: &str,
    attributes: &[u8],
    links: &[LinkKeys],
    write_back: &WriteBack<'_>,
) -> DbResult<Created> {
    db::write(db, |tx| {
        let exists = tx
            .query_row(
                "SELECT 1 FROM mpps_instances WHERE sop_instance_uid = ?1",
                &[sop_instance_uid.into()],
            )?
            .is_some();
        if exists {
            return Ok(Created::Duplicate);
        }
        let item = find_item(tx, links)?;
        let stamp = now();
        tx.execute(
            "INSERT INTO mpps_instances (sop_instance_uid, status, worklist_item_id, calling_aet, \
             attributes, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)",
            &[
                sop_instance_uid.into(),
                status.into(),
                item.into(),
                calling_aet.into(),
                attributes.into(),
                stamp.into(),
            ],
        )?;
        if let (Some(id), Some(new_status)) = (item, item_status(status)) {
            let by = ChangedBy::Mpps {
                message: "N-CREATE",
                sop_instance_uid,
            };
            set_item_status(tx, id, new_status, &by)?;
            outcomes::queue(tx, id, new_status, sop_instance_uid, write_back)?;
        }
        Ok(Created::Stored(item))
    })
}

/// Moves a worklist item to the status its MPPS instance says (visible again
/// if it was retracted), recording the change in its history.
fn set_item_status(tx: &dyn Db, id: i64, status: &str, by: &ChangedBy<'_>) -> DbResult<()> {
    history::record_change(tx, id, status, by)?;
    tx.execute(
        "UPDATE worklist_items SET performed_procedure_step_status = ?1, status_set_by = 'mpps', \
         retracted_at = NULL, retracted_reason = NULL WHERE id = ?2",
        &[status.into(), id.into()],
    )?;
    Ok(())
}

/// Reads a stored instance.
pub fn get(db: &dyn Db, sop_instance_uid: &str) -> DbResult<Option<Instance>> {
    let row = db.query_row(
        "SELECT status, attributes, worklist_item_id FROM mpps_instances WHERE sop_instance_uid = ?1",
        &[sop_instance_uid.into()],
    )?;
    Ok(row.map(|row| Instance {
        status: row.text(0).unwrap_or_default(),
        attributes: row.bytes(1),
        worklist_item_id: row.int(2),
    }))
}

/// Replaces an instance's status and attributes (N-SET, already merged) and,
/// for a final status, moves its linked item to that status (queueing that
/// outcome for its source when `write_back` says so). Only an instance still
/// IN PROGRESS is changed, so two concurrent N-SETs can never overwrite a
/// final status.
pub fn update(
    db: &dyn Db,
    sop_instance_uid: &str,
    status: &str,
    attributes: &[u8],
    write_back: &WriteBack<'_>,
) -> DbResult<Updated> {
    db::write(db, |tx| {
        let item = tx
            .query_row(
                "SELECT worklist_item_id FROM mpps_instances WHERE sop_instance_uid = ?1",
                &[sop_instance_uid.into()],
            )?
            .and_then(|row| row.int(0));
        let changed = tx.execute(
            "UPDATE mpps_instances SET status = ?1, attributes = ?2, updated_at = ?3 \
             WHERE sop_instance_uid = ?4 AND status = 'IN PROGRESS'",
            &[
                status.into(),
                attributes.into(),
                now().into(),
                sop_instance_uid.into(),
            ],
        )?;
        if changed == 0 {
            return Ok(Updated::NoLongerInProgress);
        }
        if let (Some(id), Some(new_status)) = (item, item_status(status)) {
            let by = ChangedBy::Mpps {
                message: "N-SET",
                sop_instance_uid,
            };
            set_item_status(tx, id, new_status, &by)?;
            if status != "IN PROGRESS" {
                outcomes::queue(tx, id, new_status, sop_instance_uid, write_back)?;
            }
        }
        Ok(Updated::Stored(item))
    })
}
