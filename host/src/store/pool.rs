//! The worklist database as the rest of the host holds it: [`Store`], a
//! shared handle that knows where the database is (a SQLite file or a
//! PostgreSQL server) and keeps a few open connections for reuse. The
//! DICOM server, the sync workers, housekeeping and the HTTP API all borrow
//! connections from it and never learn which backend they talk to.

use super::db::{Db, DbResult, Dialect, Value, ValueRef};
use super::postgres::{PgConn, Target};
use super::StoreError;
use std::fmt;
use std::ops::{ControlFlow, Deref};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// Idle connections kept for reuse.
const IDLE_CONNECTIONS: usize = 16;

/// Where the worklist database is.
#[derive(Debug, Clone)]
pub enum Location {
    /// A SQLite file (`db_path`), created if missing.
    Sqlite(PathBuf),
    /// A PostgreSQL database (`db_url`); the schema is created if missing.
    Postgres(Box<Target>),
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Sqlite(path) => write!(f, "{}", path.display()),
            Location::Postgres(target) => write!(f, "{target}"),
        }
    }
}

/// One open connection, of either backend.
pub enum Conn {
    Sqlite(rusqlite::Connection),
    Postgres(Box<PgConn>),
}

impl Conn {
    /// Whether the connection can no longer be used (PostgreSQL went away).
    pub fn is_broken(&self) -> bool {
        match self {
            Conn::Sqlite(_) => false,
            Conn::Postgres(pg) => pg.is_closed(),
        }
    }

    /// What interrupts the statement running on this connection from
    /// another thread (a shutdown that cannot wait for a long write).
    pub fn interrupt(&self) -> Interrupt {
        match self {
            Conn::Sqlite(conn) => Interrupt::Sqlite(conn.get_interrupt_handle()),
            Conn::Postgres(pg) => Interrupt::Postgres(pg.cancel_token()),
        }
    }

    /// The connection as the store's queries take it.
    pub fn db(&self) -> &dyn Db {
        match self {
            Conn::Sqlite(conn) => conn,
            Conn::Postgres(pg) => pg.as_ref(),
        }
    }
}

impl Db for Conn {
    fn dialect(&self) -> Dialect {
        self.db().dialect()
    }
    fn query_each_ref(
        &self,
        sql: &str,
        params: &[Value],
        each: &mut dyn FnMut(&[ValueRef<'_>]) -> ControlFlow<()>,
    ) -> DbResult<u64> {
        self.db().query_each_ref(sql, params, each)
    }
    fn execute(&self, sql: &str, params: &[Value]) -> DbResult<u64> {
        self.db().execute(sql, params)
    }
    fn batch(&self, sql: &str) -> DbResult<()> {
        self.db().batch(sql)
    }
    fn begin_write(&self) -> DbResult<()> {
        self.db().begin_write()
    }
    fn try_lock(&self, name: &str) -> DbResult<bool> {
        self.db().try_lock(name)
    }
    fn unlock(&self, name: &str) -> DbResult<()> {
        self.db().unlock(name)
    }
}

/// Interrupts a running statement of one connection.
pub enum Interrupt {
    Sqlite(rusqlite::InterruptHandle),
    Postgres(postgres::CancelToken),
}

impl Interrupt {
    /// Makes the running statement fail (its transaction is rolled back).
    pub fn interrupt(&self) {
        match self {
            Interrupt::Sqlite(handle) => handle.interrupt(),
            Interrupt::Postgres(token) => {
                if let Err(e) = token.cancel_query(postgres::NoTls) {
                    log::debug!("cancelling a PostgreSQL statement failed: {e}");
                }
            }
        }
    }
}

/// The worklist database, shared: cheap to clone.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    location: Location,
    idle: Mutex<Vec<Conn>>,
}

impl Store {
    /// Opens the database (creating and migrating it if needed) and keeps
    /// that first connection for reuse.
    pub fn open(location: Location) -> Result<Store, StoreError> {
        let store = Store {
            inner: Arc::new(Inner {
                location,
                idle: Mutex::new(Vec::new()),
            }),
        };
        let first = store.connect()?;
        store.give_back(first);
        Ok(store)
    }

    /// [`Store::open`] for readers (`query-db`, `explain`, ...): a SQLite
    /// file that does not exist is an error, never created.
    pub fn open_existing(location: Location) -> Result<Store, StoreError> {
        if let Location::Sqlite(path) = &location {
            if !path.exists() {
                return Err(StoreError::Missing { path: path.clone() });
            }
        }
        Store::open(location)
    }

    /// Where the database is.
    pub fn location(&self) -> &Location {
        &self.inner.location
    }

    /// A new connection of its own (not from the pool), schema checked.
    pub fn connect(&self) -> Result<Conn, StoreError> {
        Ok(match &self.inner.location {
            Location::Sqlite(path) => Conn::Sqlite(super::sqlite::open(path)?),
            Location::Postgres(target) => Conn::Postgres(Box::new(target.connect()?)),
        })
    }

    /// A new connection of its own for a sync worker, which writes whole
    /// fetches: on SQLite with a larger page cache than pooled connections.
    pub fn connect_writer(&self) -> Result<Conn, StoreError> {
        let conn = self.connect()?;
        if let (Conn::Sqlite(sqlite), Location::Sqlite(path)) = (&conn, &self.inner.location) {
            super::sqlite::enlarge_cache_for_writes(sqlite)
                .map_err(|e| StoreError::sqlite(path, e))?;
        }
        Ok(conn)
    }

    /// Borrows an idle connection, or opens one; it goes back when dropped
    /// (unless it broke meanwhile).
    pub fn get(&self) -> Result<Pooled<'_>, StoreError> {
        let idle = self.inner.idle.lock().ok().and_then(|mut idle| idle.pop());
        let conn = match idle {
            Some(conn) => conn,
            None => self.connect()?,
        };
        Ok(Pooled {
            store: self,
            conn: Some(conn),
        })
    }

    fn give_back(&self, conn: Conn) {
        let Ok(mut idle) = self.inner.idle.lock() else {
            return;
        };
        if conn.is_broken() {
            // The server went away: the other idle connections are gone too.
            idle.clear();
        } else if idle.len() < IDLE_CONNECTIONS {
            idle.push(conn);
        }
    }
}

/// A connection borrowed from a [`Store`]; returned when dropped.
pub struct Pooled<'a> {
    store: &'a Store,
    conn: Option<Conn>,
}

impl Deref for Pooled<'_> {
    type Target = Conn;
    fn deref(&self) -> &Conn {
        self.conn
            .as_ref()
            .unwrap_or_else(|| unreachable!("taken only on drop"))
    }
}

impl Drop for Pooled<'_> {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            self.store.give_back(conn);
        }
    }
}

impl Db for Pooled<'_> {
    fn dialect(&self) -> Dialect {
        self.db().dialect()
    }
    fn query_each_ref(
        &self,
        sql: &str,
        params: &[Value],
        each: &mut dyn FnMut(&[ValueRef<'_>]) -> ControlFlow<()>,
    ) -> DbResult<u64> {
        self.db().query_each_ref(sql, params, each)
    }
    fn execute(&self, sql: &str, params: &[Value]) -> DbResult<u64> {
        self.db().execute(sql, params)
    }
    fn batch(&self, sql: &str) -> DbResult<()> {
        self.db().batch(sql)
    }
    fn begin_write(&self) -> DbResult<()> {
        self.db().begin_write()
    }
    fn try_lock(&self, name: &str) -> DbResult<bool> {
        self.db().try_lock(name)
    }
    fn unlock(&self, name: &str) -> DbResult<()> {
        self.db().unlock(name)
    }
}
