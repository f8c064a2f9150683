//! Copying a SQLite worklist (Python pylantir's or ours) into an empty
//! PostgreSQL database (`migrate-db`): worklist items with their ids, sync
//! runs and their records, MPPS instances, status history, housekeeping
//! runs and the MPPS write-back queue, in one transaction, then the row
//! counts of both sides compared.

use super::db::{self, Db, DbError, Value};
use std::fmt;

/// The tables copied and the columns of each (generated columns excluded).
const TABLES: &[(&str, &[&str], &str)] = &[
    (
        "worklist_items",
        &[
            "id",
            "study_instance_uid",
            "patient_name",
            "patient_id",
            "patient_birth_date",
            "patient_sex",
            "patient_weight_lb",
            "accession_number",
            "referring_physician_name",
            "modality",
            "study_description",
            "scheduled_station_aetitle",
            "scheduled_start_date",
            "scheduled_start_time",
            "performing_physician",
            "procedure_description",
            "protocol_name",
            "station_name",
            "hisris_coding_designator",
            "performed_procedure_step_status",
            "data_source",
            "source_record_id",
            "requested_procedure_id",
            "scheduled_procedure_step_id",
            "status_set_by",
            "retracted_at",
            "retracted_reason",
        ],
        "id",
    ),
    (
        "sync_runs",
        &[
            "id",
            "source",
            "started_at",
            "finished_at",
            "fetched",
            "inserted",
            "updated",
            "unchanged",
            "conflicts",
            "rejected",
            "error",
            "skipped",
            "retracted",
            "restored",
            "note",
        ],
        "id",
    ),
    (
        "sync_run_records",
        &["run_id", "kind", "record_id", "reason"],
        "rowid",
    ),
    (
        "mpps_instances",
        &[
            "sop_instance_uid",
            "status",
            "worklist_item_id",
            "calling_aet",
            "attributes",
            "created_at",
            "updated_at",
        ],
        "sop_instance_uid",
    ),
    (
        "worklist_status_history",
        &[
            "id",
            "worklist_item_id",
            "at",
            "from_status",
            "to_status",
            "changed_by",
            "detail",
        ],
        "id",
    ),
    (
        "housekeeping_runs",
        &[
            "id",
            "started_at",
            "finished_at",
            "finished_items",
            "retracted_items",
            "past_scheduled_items",
            "mpps_instances",
            "error",
        ],
        "id",
    ),
    (
        "mpps_outcomes",
        &[
            "id",
            "source",
            "worklist_item_id",
            "source_record_id",
            "status",
            "sop_instance_uid",
            "payload",
            "state",
            "attempts",
            "due_at",
            "last_error",
            "created_at",
            "finished_at",
        ],
        "id",
    ),
];

/// Tables whose `id` PostgreSQL generates: their sequences continue after
/// the copied ids.
const IDENTITIES: &[&str] = &[
    "worklist_items",
    "sync_runs",
    "worklist_status_history",
    "housekeeping_runs",
    "mpps_outcomes",
];

/// Rows copied, per table, in [`TABLES`] order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Copied(pub Vec<(&'static str, u64)>);

impl fmt::Display for Copied {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self.0.iter().map(|(t, n)| format!("{n} {t}")).collect();
        f.write_str(&parts.join(", "))
    }
}

/// Why the copy was not made (nothing was written).
#[derive(Debug)]
pub enum CopyError {
    /// The target already holds worklist items.
    NotEmpty(u64),
    /// A table's row counts differ after the copy (it was rolled back).
    Counts {
        table: &'static str,
        source: u64,
        target: u64,
    },
    Db(DbError),
}

impl From<DbError> for CopyError {
    fn from(e: DbError) -> Self {
        CopyError::Db(e)
    }
}

impl fmt::Display for CopyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CopyError::NotEmpty(n) => write!(
                f,
                "the PostgreSQL database already holds {n} worklist items; migrate-db copies \
                 into an empty database only"
            ),
            CopyError::Counts {
                table,
                source,
                target,
            } => write!(
                f,
                "{table}: {source} rows in SQLite but {target} in PostgreSQL; nothing was kept"
            ),
            CopyError::Db(e) => write!(f, "{e}"),
        }
    }
}

fn count(db: &dyn Db, table: &str) -> Result<u64, DbError> {
    Ok(db
        .query_row(&format!("SELECT count(*) FROM {table}"), &[])?
        .map_or(0, |row| row.count(0)))
}

/// Copies every row of `sqlite` (opened, so at the current schema) into
/// `postgres` (empty, at the current schema), in one transaction.
pub fn sqlite_to_postgres(sqlite: &dyn Db, postgres: &dyn Db) -> Result<Copied, CopyError> {
    let present = count(postgres, "worklist_items")?;
    if present > 0 {
        return Err(CopyError::NotEmpty(present));
    }
    db::write(postgres, |tx| {
        let mut copied = Vec::new();
        for (table, columns, order) in TABLES {
            let list = columns.join(", ");
            let marks: Vec<String> = (1..=columns.len()).map(|n| format!("?{n}")).collect();
            let insert = format!("INSERT INTO {table} ({list}) VALUES ({})", marks.join(", "));
            let mut failed = None;
            let rows = sqlite.query_each(
                &format!("SELECT {list} FROM {table} ORDER BY {order}"),
                &[],
                &mut |row| {
                    let values: Vec<Value> = row.0;
                    match tx.execute(&insert, &values) {
                        Ok(_) => std::ops::ControlFlow::Continue(()),
                        Err(e) => {
                            failed = Some(e);
                            std::ops::ControlFlow::Break(())
                        }
                    }
                },
            )?;
            if let Some(e) = failed {
                return Err(CopyError::Db(e));
            }
            let target = count(tx, table)?;
            if target != rows {
                return Err(CopyError::Counts {
                    table,
                    source: rows,
                    target,
                });
            }
            copied.push((*table, rows));
        }
        for table in IDENTITIES {
            tx.query_row(
                &format!(
                    "SELECT setval(pg_get_serial_sequence('{table}', 'id'), \
                     COALESCE(max(id), 0) + 1, false) FROM {table}"
                ),
                &[],
            )?;
        }
        Ok(Copied(copied))
    })
}
