//! Schema migrations: additive only, numbered in `PRAGMA user_version`, run
//! in one transaction so a failed migration leaves the file as it was.

use super::{schema, StoreError};
use rusqlite::{Connection, TransactionBehavior};
use std::path::Path;

/// The schema version recorded in the file.
pub fn user_version(conn: &Connection) -> rusqlite::Result<i64> {
    conn.pragma_query_value(None, "user_version", |row| row.get(0))
}

/// Refuses a database written by a newer schema than this build knows.
pub fn refuse_newer(conn: &Connection, path: &Path) -> Result<(), StoreError> {
    let found = user_version(conn).map_err(|e| StoreError::sqlite(path, e))?;
    if found > schema::SCHEMA_VERSION {
        return Err(StoreError::NewerSchema {
            database: path.display().to_string(),
            found,
            supported: schema::SCHEMA_VERSION,
        });
    }
    Ok(())
}

/// Brings the database up to [`schema::SCHEMA_VERSION`]: creates the tables
/// of a new file; adds the missing columns, tables and indexes to an older one.
pub fn migrate(conn: &mut Connection, path: &Path) -> Result<(), StoreError> {
    let sqlite = |e| StoreError::sqlite(path, e);
    if user_version(conn).map_err(sqlite)? == schema::SCHEMA_VERSION {
        return Ok(());
    }
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(sqlite)?;
    // Another process may have migrated while we waited for the write lock.
    let version = user_version(&tx).map_err(sqlite)?;
    if version > schema::SCHEMA_VERSION {
        return Err(StoreError::NewerSchema {
            database: path.display().to_string(),
            found: version,
            supported: schema::SCHEMA_VERSION,
        });
    }
    if version == schema::SCHEMA_VERSION {
        return Ok(());
    }
    let existed: bool = tx
        .query_row(
            "SELECT count(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = 'worklist_items'",
            [],
            |row| row.get(0),
        )
        .map_err(sqlite)?;
    tx.execute_batch(schema::WORKLIST_ITEMS_PYTHON)
        .map_err(sqlite)?;
    let existing: Vec<String> = {
        let mut stmt = tx
            .prepare("SELECT name FROM pragma_table_xinfo('worklist_items')")
            .map_err(sqlite)?;
        let names = stmt
            .query_map([], |row| row.get(0))
            .map_err(sqlite)?
            .collect::<rusqlite::Result<_>>()
            .map_err(sqlite)?;
        names
    };
    for (column, ddl) in schema::WORKLIST_ITEMS_ADDED_COLUMNS {
        if !existing.iter().any(|c| c == column) {
            log::info!(
                "worklist database {}: adding column {column}",
                path.display()
            );
            tx.execute_batch(&format!(
                "ALTER TABLE worklist_items ADD COLUMN {column} {ddl}"
            ))
            .map_err(sqlite)?;
        }
    }
    tx.execute_batch(schema::EMPTY_RECORD_IDS_TO_NULL)
        .map_err(sqlite)?;
    tx.execute_batch(schema::OUR_TABLES).map_err(sqlite)?;
    tx.execute_batch(schema::STATUS_HISTORY).map_err(sqlite)?;
    tx.execute_batch(schema::MPPS_OUTCOMES).map_err(sqlite)?;
    for (table, column, ddl) in schema::OUR_ADDED_COLUMNS {
        let present: bool = tx
            .query_row(
                "SELECT count(*) > 0 FROM pragma_table_info(?1) WHERE name = ?2",
                [table, column],
                |row| row.get(0),
            )
            .map_err(sqlite)?;
        if !present {
            tx.execute_batch(&format!("ALTER TABLE {table} ADD COLUMN {column} {ddl}"))
                .map_err(sqlite)?;
        }
    }
    tx.pragma_update(None, "user_version", schema::SCHEMA_VERSION)
        .map_err(sqlite)?;
    tx.commit().map_err(sqlite)?;
    if existed {
        log::info!(
            "worklist database {}: migrated from schema version {version} to {}",
            path.display(),
            schema::SCHEMA_VERSION
        );
    }
    Ok(())
}
