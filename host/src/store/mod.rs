//! The worklist database, SQLite (the embedded default) or PostgreSQL
//! (several nodes on one worklist), behind one interface.
//!
//! - [`pool`]: [`Store`], the shared handle the rest of the host uses, and its connections.
//! - [`db`]: the connection interface every query is written against, and the dialects.
//! - [`sqlite`] and [`postgres`]: the two backends.
//! - [`schema`]: table definitions and the schema version.
//! - [`migrate`]: bringing an existing SQLite database up to the schema, additively.
//! - [`items`]: writing one fetch of a source (the upsert rules).
//! - [`retract`]: retraction of items a complete fetch no longer returns.
//! - [`runs`]: the `sync_runs` journal.
//! - [`query`]: listing worklist items (`query-db`).
//! - [`find`]: the MWL C-FIND query, run in SQL on indexed columns.
//! - [`mpps`]: MPPS instances and their link to worklist items.
//! - [`history`]: the status history of worklist items.
//! - [`outcomes`]: the MPPS write-back queue.
//! - [`api_items`]: worklist items as the HTTP API reads and writes them.
//! - [`console_items`]: the web console's pages of worklist items.
//! - [`explain`]: which constraint of a C-FIND filter keeps an item out.
//! - [`api_views`]: sync runs and MPPS instances as the HTTP API shows them.
//! - [`housekeeping`]: retention, deleting old rows in bounded batches.
//! - [`copy`]: copying a SQLite worklist into PostgreSQL (`migrate-db`).

pub mod api_items;
pub mod api_views;
pub mod console_items;
pub mod copy;
pub mod db;
pub mod explain;
pub mod find;
pub mod history;
pub mod housekeeping;
pub mod items;
pub mod migrate;
pub mod mpps;
pub mod outcomes;
pub mod pool;
pub mod postgres;
pub mod query;
pub mod retract;
pub mod runs;
pub mod schema;
pub mod sqlite;

pub use db::{Db, DbError, DbResult};
pub use pool::{Conn, Location, Store};
pub(crate) use sqlite::text_column;
pub use sqlite::{open, open_existing, BUSY_TIMEOUT};

use std::fmt;
use std::path::{Path, PathBuf};

/// Why the worklist database could not be used.
#[derive(Debug)]
pub enum StoreError {
    /// The database failed (connecting, reading the schema, migrating).
    Database { database: String, error: DbError },
    /// The database was written by a newer pylantir; it was not touched.
    NewerSchema {
        database: String,
        found: i64,
        supported: i64,
    },
    /// The database file does not exist (and was not to be created).
    Missing { path: PathBuf },
}

impl StoreError {
    /// Wraps a SQLite error with the file it concerns.
    pub fn sqlite(path: &Path, error: rusqlite::Error) -> Self {
        StoreError::Database {
            database: path.display().to_string(),
            error: DbError::Sqlite(error),
        }
    }

    /// Wraps an error with the database it concerns.
    pub fn database(database: &dyn fmt::Display, error: DbError) -> Self {
        StoreError::Database {
            database: database.to_string(),
            error,
        }
    }
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::Database { database, error } => {
                write!(f, "worklist database {database}: {error}")
            }
            StoreError::NewerSchema {
                database,
                found,
                supported,
            } => write!(
                f,
                "worklist database {database} has schema version {found}, newer than this \
                 pylantir understands ({supported}); it was left untouched: use a newer pylantir"
            ),
            StoreError::Missing { path } => {
                write!(f, "worklist database {} does not exist", path.display())
            }
        }
    }
}

impl std::error::Error for StoreError {}
