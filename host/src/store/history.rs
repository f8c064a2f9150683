//! The status history of worklist items: every status an item was given
//! (at its creation, then each change), when, and by what (an MPPS N-CREATE
//! or N-SET, a source's sync, an API user). Each entry is written in the
//! transaction that changes the status; deleting an item deletes its history
//! (a trigger, see [`super::schema::STATUS_HISTORY`]).

use super::db::{Db, DbResult, Value};

/// Who or what changed a status.
#[derive(Debug, Clone, Copy)]
pub enum ChangedBy<'a> {
    /// An MPPS message (`N-CREATE` or `N-SET`) of this SOP Instance UID.
    Mpps {
        message: &'static str,
        sop_instance_uid: &'a str,
    },
    /// A sync of the source of this name.
    Source(&'a str),
    /// An HTTP API user.
    User(&'a str),
}

impl ChangedBy<'_> {
    /// `mpps`, `source` or `api`.
    fn by(&self) -> &'static str {
        match self {
            ChangedBy::Mpps { .. } => "mpps",
            ChangedBy::Source(_) => "source",
            ChangedBy::User(_) => "api",
        }
    }

    /// The message and UID, the source name, or the user name.
    fn detail(&self) -> String {
        match self {
            ChangedBy::Mpps {
                message,
                sop_instance_uid,
            } => format!("{message} {sop_instance_uid}"),
            ChangedBy::Source(name) => format!("sync of source {name}"),
            ChangedBy::User(name) => format!("user {name}"),
        }
    }
}

/// One entry of an item's history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// RFC 3339, UTC.
    pub at: String,
    /// `None` for the status given at creation.
    pub from_status: Option<String>,
    pub to_status: String,
    /// `mpps`, `source` or `api`.
    pub by: String,
    /// `N-SET <SOP Instance UID>`, `sync of source <name>`, `user <name>`.
    pub detail: String,
}

/// The status an empty or missing one stands for.
const DEFAULT_STATUS: &str = "SCHEDULED";

fn insert(
    db: &dyn Db,
    item_id: i64,
    from: Option<&str>,
    to: &str,
    by: &ChangedBy<'_>,
) -> DbResult<()> {
    db.execute(
        "INSERT INTO worklist_status_history \
         (worklist_item_id, at, from_status, to_status, changed_by, detail) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        &[
            item_id.into(),
            jiff::Timestamp::now().to_string().into(),
            from.into(),
            to.into(),
            by.by().into(),
            by.detail().into(),
        ],
    )?;
    Ok(())
}

/// Records the status item `item_id` was created with (an empty one is
/// `SCHEDULED`).
pub fn record_created(
    db: &dyn Db,
    item_id: i64,
    status: Option<&str>,
    by: &ChangedBy<'_>,
) -> DbResult<()> {
    let status = status.filter(|s| !s.is_empty()).unwrap_or(DEFAULT_STATUS);
    insert(db, item_id, None, status, by)
}

/// [`record_created`] for several items at once, `(item id, status)`, in
/// a few multi-row statements (see [`super::db::row_groups`]).
pub fn record_created_many(
    db: &dyn Db,
    created: &[(i64, Option<&str>)],
    by: &ChangedBy<'_>,
) -> DbResult<()> {
    let detail = by.detail();
    let mut rest = created;
    for rows in super::db::row_groups(created.len()) {
        let (group, tail) = rest.split_at(rows);
        rest = tail;
        let mut args: Vec<Value> = Vec::with_capacity(rows * 5);
        for (item_id, status) in group {
            let status = status.filter(|s| !s.is_empty()).unwrap_or(DEFAULT_STATUS);
            args.extend([
                Value::Int(*item_id),
                jiff::Timestamp::now().to_string().into(),
                status.into(),
                by.by().into(),
                detail.as_str().into(),
            ]);
        }
        // from_status is NULL: the status given at creation.
        db.execute(
            &format!(
                "INSERT INTO worklist_status_history \
                 (worklist_item_id, at, to_status, changed_by, detail) VALUES {}",
                super::db::value_rows(rows, 5, 1)
            ),
            &args,
        )?;
    }
    Ok(())
}

/// Records that item `item_id` is about to get status `to`, when that
/// differs from its stored one. Call it before the write, in its transaction.
pub fn record_change(db: &dyn Db, item_id: i64, to: &str, by: &ChangedBy<'_>) -> DbResult<()> {
    let Some(row) = db.query_row(
        "SELECT performed_procedure_step_status FROM worklist_items WHERE id = ?1",
        &[item_id.into()],
    )?
    else {
        return Ok(());
    };
    let from = row
        .text(0)
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| DEFAULT_STATUS.to_string());
    if from == to {
        return Ok(());
    }
    insert(db, item_id, Some(&from), to, by)
}

/// The history of item `item_id`, oldest first.
pub fn of_item(db: &dyn Db, item_id: i64) -> DbResult<Vec<Change>> {
    let rows = db.query(
        "SELECT at, from_status, to_status, changed_by, detail FROM worklist_status_history \
         WHERE worklist_item_id = ?1 ORDER BY id",
        &[Value::Int(item_id)],
    )?;
    Ok(rows
        .into_iter()
        .map(|row| Change {
            at: row.text(0).unwrap_or_default(),
            from_status: row.text(1),
            to_status: row.text(2).unwrap_or_default(),
            by: row.text(3).unwrap_or_default(),
            detail: row.text(4).unwrap_or_default(),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rusqlite::Connection;

    fn store() -> (tempfile::TempDir, Connection) {
        let dir = tempfile::tempdir().expect("temp dir");
        let conn = crate::store::open(&dir.path().join("wl.db")).expect("store");
        (dir, conn)
    }

    #[test]
    fn a_change_to_the_same_status_is_not_recorded_and_a_deleted_item_has_no_history() {
        let (_dir, conn) = store();
        conn.execute("INSERT INTO worklist_items (patient_id) VALUES ('P1')", [])
            .expect("item");
        let id = conn.last_insert_rowid();
        let user = ChangedBy::User("ann");
        record_created(&conn, id, None, &user).expect("created");
        record_change(&conn, id, "SCHEDULED", &user).expect("same");
        record_change(&conn, id, "IN_PROGRESS", &user).expect("changed");
        let history = of_item(&conn, id).expect("history");
        let steps: Vec<_> = history
            .iter()
            .map(|c| (c.from_status.as_deref(), c.to_status.as_str()))
            .collect();
        assert_eq!(
            steps,
            [(None, "SCHEDULED"), (Some("SCHEDULED"), "IN_PROGRESS")]
        );
        assert_eq!(history[1].by, "api");
        assert_eq!(history[1].detail, "user ann");
        conn.execute("DELETE FROM worklist_items WHERE id = ?1", [id])
            .expect("delete");
        assert!(of_item(&conn, id).expect("history").is_empty());
    }
}
