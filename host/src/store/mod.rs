//! The SQLite worklist database.
//!
//! - [`schema`]: table definitions and the schema version.
//! - [`migrate`]: bringing an existing database up to the schema, additively.
//! - [`items`]: writing one fetch of a source (the upsert rules).
//! - [`retract`]: retraction of items a complete fetch no longer returns.
//! - [`runs`]: the `sync_runs` journal.
//! - [`query`]: listing worklist items (`query-db`).
//! - [`find`]: the MWL C-FIND query, run in SQL on indexed columns.
//! - [`mpps`]: MPPS instances and their link to worklist items.
//! - [`api_items`]: worklist items as the HTTP API reads and writes them.
//! - [`explain`]: which constraint of a C-FIND filter keeps an item out.
//! - [`api_views`]: sync runs and MPPS instances as the HTTP API shows them.

pub mod api_items;
pub mod api_views;
pub mod console_items;
pub mod explain;
pub mod find;
pub mod items;
pub mod migrate;
pub mod mpps;
pub mod query;
pub mod retract;
pub mod runs;
pub mod schema;

use rusqlite::{Connection, OpenFlags};
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The page cache of a connection, in KiB (negative: SQLite's unit for KiB).
const CACHE_KIB: i64 = -32_768;

/// How long a connection waits for another writer before giving up.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Why the worklist database could not be used.
#[derive(Debug)]
pub enum StoreError {
    /// SQLite failed on this file.
    Sqlite {
        path: PathBuf,
        error: rusqlite::Error,
    },
    /// The file was written by a newer pylantir; it was not touched.
    NewerSchema {
        path: PathBuf,
        found: i64,
        supported: i64,
    },
    /// The database file does not exist (and was not to be created).
    Missing { path: PathBuf },
}

impl StoreError {
    /// Wraps a SQLite error with the file it concerns.
    pub fn sqlite(path: &Path, error: rusqlite::Error) -> Self {
        StoreError::Sqlite {
            path: path.to_path_buf(),
            error,
        }
    }
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::Sqlite { path, error } => {
                write!(f, "worklist database {}: {error}", path.display())
            }
            StoreError::NewerSchema {
                path,
                found,
                supported,
            } => write!(
                f,
                "worklist database {} has schema version {found}, newer than this pylantir \
                 understands ({supported}); it was left untouched: use a newer pylantir",
                path.display()
            ),
            StoreError::Missing { path } => {
                write!(f, "worklist database {} does not exist", path.display())
            }
        }
    }
}

impl std::error::Error for StoreError {}

/// Opens (creating if needed) the worklist database at `path`, in WAL mode
/// with a busy timeout, and brings its schema up to [`schema::SCHEMA_VERSION`].
/// A database from a newer schema is refused before anything is written.
pub fn open(path: &Path) -> Result<Connection, StoreError> {
    let mut conn = Connection::open(path).map_err(|e| StoreError::sqlite(path, e))?;
    prepare(&mut conn, path)?;
    Ok(conn)
}

/// Opens an existing worklist database (for readers such as `query-db`):
/// never creates the file.
pub fn open_existing(path: &Path) -> Result<Connection, StoreError> {
    if !path.exists() {
        return Err(StoreError::Missing {
            path: path.to_path_buf(),
        });
    }
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let mut conn =
        Connection::open_with_flags(path, flags).map_err(|e| StoreError::sqlite(path, e))?;
    prepare(&mut conn, path)?;
    Ok(conn)
}

fn prepare(conn: &mut Connection, path: &Path) -> Result<(), StoreError> {
    let sqlite = |e| StoreError::sqlite(path, e);
    conn.busy_timeout(BUSY_TIMEOUT).map_err(sqlite)?;
    migrate::refuse_newer(conn, path)?;
    conn.pragma_update(None, "journal_mode", "WAL")
        .map_err(sqlite)?;
    // WAL with NORMAL sync stays consistent after a crash (only the last
    // commits may be lost on power failure); a larger page cache keeps a
    // whole fetch's index pages in memory.
    conn.pragma_update(None, "synchronous", "NORMAL")
        .map_err(sqlite)?;
    conn.pragma_update(None, "cache_size", CACHE_KIB)
        .map_err(sqlite)?;
    conn.set_prepared_statement_cache_capacity(64);
    migrate::migrate(conn, path)
}

/// Reads a text column that a database written by other tools may hold as a
/// number (SQLite keeps the type of what was inserted): as text, or `None`.
pub(crate) fn text_column(
    row: &rusqlite::Row<'_>,
    index: usize,
) -> rusqlite::Result<Option<String>> {
    use rusqlite::types::Value;
    Ok(match row.get::<_, Value>(index)? {
        Value::Null | Value::Blob(_) => None,
        Value::Integer(i) => Some(i.to_string()),
        Value::Real(r) => Some(r.to_string()),
        Value::Text(t) => Some(t),
    })
}
