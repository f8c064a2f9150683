//! The SQLite backend: one file (`db_path`) in WAL mode, the embedded
//! default. Opening brings the schema up to date ([`super::migrate`]).

use super::db::{Db, DbResult, Dialect, Value, ValueRef};
use super::{migrate, StoreError};
use rusqlite::types::{ToSqlOutput, ValueRef as SqliteRef};
use rusqlite::{Connection, OpenFlags};
use std::borrow::Cow;
use std::ops::ControlFlow;
use std::path::Path;
use std::time::Duration;

/// The page cache of a connection, in KiB (negative: SQLite's unit for
/// KiB): SQLite's default. Every pooled connection (C-FIND, the API,
/// housekeeping) has one, so a larger cache multiplies with their number as
/// the database grows; reads beyond it come from the OS's file cache.
const CACHE_KIB: i64 = -2_000;

/// The page cache of a sync worker's connection, in KiB: a whole fetch's
/// index pages stay in memory while it is written.
const WRITER_CACHE_KIB: i64 = -8_192;

/// How long a connection waits for another writer before giving up.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Opens (creating if needed) the worklist database at `path`, in WAL mode
/// with a busy timeout, and brings its schema up to [`super::schema::SCHEMA_VERSION`].
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
    // commits may be lost on power failure).
    conn.pragma_update(None, "synchronous", "NORMAL")
        .map_err(sqlite)?;
    conn.pragma_update(None, "cache_size", CACHE_KIB)
        .map_err(sqlite)?;
    conn.set_prepared_statement_cache_capacity(64);
    migrate::migrate(conn, path)
}

/// Gives `conn` the page cache of a connection that writes whole fetches.
pub fn enlarge_cache_for_writes(conn: &Connection) -> rusqlite::Result<()> {
    conn.pragma_update(None, "cache_size", WRITER_CACHE_KIB)
}

impl rusqlite::ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(match self {
            Value::Null => SqliteRef::Null,
            Value::Int(n) => SqliteRef::Integer(*n),
            Value::Real(r) => SqliteRef::Real(*r),
            Value::Text(t) => SqliteRef::Text(t.as_bytes()),
            Value::Bytes(b) => SqliteRef::Blob(b),
        }))
    }
}

/// The values of `row`, borrowed from SQLite's buffers.
fn read_row<'a>(row: &'a rusqlite::Row<'_>, columns: usize) -> rusqlite::Result<Vec<ValueRef<'a>>> {
    let mut values = Vec::with_capacity(columns);
    for i in 0..columns {
        values.push(match row.get_ref(i)? {
            SqliteRef::Null => ValueRef::Null,
            SqliteRef::Integer(n) => ValueRef::Int(n),
            SqliteRef::Real(r) => ValueRef::Real(r),
            SqliteRef::Text(t) => ValueRef::Text(utf8(t)),
            SqliteRef::Blob(b) => ValueRef::Bytes(b),
        });
    }
    Ok(values)
}

/// SQLite's text as UTF-8: borrowed when valid (checked by the standard
/// library's fast validator), else with U+FFFD for the invalid bytes.
fn utf8(text: &[u8]) -> Cow<'_, str> {
    match std::str::from_utf8(text) {
        Ok(valid) => Cow::Borrowed(valid),
        Err(_) => String::from_utf8_lossy(text),
    }
}

impl Db for Connection {
    fn dialect(&self) -> Dialect {
        Dialect::Sqlite
    }

    fn query_each_ref(
        &self,
        sql: &str,
        params: &[Value],
        each: &mut dyn FnMut(&[ValueRef<'_>]) -> ControlFlow<()>,
    ) -> DbResult<u64> {
        let mut stmt = self.prepare_cached(sql)?;
        let columns = stmt.column_count();
        let mut rows = stmt.query(rusqlite::params_from_iter(params.iter()))?;
        let mut count = 0;
        while let Some(row) = rows.next()? {
            count += 1;
            if each(&read_row(row, columns)?).is_break() {
                break;
            }
        }
        Ok(count)
    }

    fn execute(&self, sql: &str, params: &[Value]) -> DbResult<u64> {
        let changed = self
            .prepare_cached(sql)?
            .execute(rusqlite::params_from_iter(params.iter()))?;
        Ok(changed as u64)
    }

    fn batch(&self, sql: &str) -> DbResult<()> {
        Ok(self.execute_batch(sql)?)
    }

    fn begin_write(&self) -> DbResult<()> {
        Ok(self.execute_batch("BEGIN IMMEDIATE")?)
    }

    fn try_lock(&self, _name: &str) -> DbResult<bool> {
        Ok(true)
    }

    fn unlock(&self, _name: &str) -> DbResult<()> {
        Ok(())
    }
}

/// Reads a text column that a database written by other tools may hold as a
/// number (SQLite keeps the type of what was inserted): as text, or `None`.
pub(crate) fn text_column(
    row: &rusqlite::Row<'_>,
    index: usize,
) -> rusqlite::Result<Option<String>> {
    use rusqlite::types::Value as Sqlite;
    Ok(match row.get::<_, Sqlite>(index)? {
        Sqlite::Null | Sqlite::Blob(_) => None,
        Sqlite::Integer(i) => Some(i.to_string()),
        Sqlite::Real(r) => Some(r.to_string()),
        Sqlite::Text(t) => Some(t),
    })
}
