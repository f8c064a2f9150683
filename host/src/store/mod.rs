//! The SQLite worklist database.
//!
//! - [`schema`]: table definitions and the schema version.

pub mod find;
pub mod mpps;
pub mod schema;

use rusqlite::Connection;
use std::path::Path;

/// Opens (creating if needed) the worklist database at `path`, in WAL mode
/// with a busy timeout, and brings its schema up to [`schema::SCHEMA_VERSION`].
pub fn open(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.execute_batch(schema::WORKLIST_ITEMS_PYTHON)?;
    let version: i64 = conn.pragma_query_value(None, "user_version", |row| row.get(0))?;
    if version < schema::SCHEMA_VERSION {
        let existing: Vec<String> = conn
            .prepare("SELECT name FROM pragma_table_xinfo('worklist_items')")?
            .query_map([], |row| row.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        for (column, ddl) in schema::WORKLIST_ITEMS_ADDED_COLUMNS {
            if !existing.iter().any(|c| c == column) {
                conn.execute_batch(&format!(
                    "ALTER TABLE worklist_items ADD COLUMN {column} {ddl}"
                ))?;
            }
        }
        conn.execute_batch(schema::OUR_TABLES)?;
        conn.pragma_update(None, "user_version", schema::SCHEMA_VERSION)?;
    }
    Ok(conn)
}
