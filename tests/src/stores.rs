//! One test, both stores: [`Backend`] is a fresh worklist database on SQLite
//! (a temporary file) or on PostgreSQL (a new database on the kit's
//! server), and [`both_stores!`](crate::both_stores) runs each listed test
//! function once on each.

use crate::postgres::PgDatabase;
use pylantir::store::pool::Pooled;
use pylantir::store::postgres::Target;
use pylantir::store::{Conn, Location, Store};

/// A fresh worklist database of one backend.
pub struct Backend {
    pub store: Store,
    /// Keeps the SQLite file's directory.
    pub dir: tempfile::TempDir,
    /// Keeps the PostgreSQL database.
    pub postgres: Option<PgDatabase>,
}

impl Backend {
    /// A new SQLite file.
    pub fn sqlite() -> Backend {
        let dir = crate::temp_dir();
        let location = Location::Sqlite(dir.path().join("worklist.db"));
        Backend {
            store: Store::open(location).expect("SQLite store"),
            dir,
            postgres: None,
        }
    }

    /// A new PostgreSQL database on the shared server.
    pub fn postgres() -> Backend {
        Backend::postgres_on(PgDatabase::new())
    }

    /// A store on `database` (one on a server of its own, say, to stop it).
    pub fn postgres_on(database: PgDatabase) -> Backend {
        let target = Target::new(&database.url(), None).expect("URL");
        Backend {
            store: Store::open(Location::Postgres(Box::new(target))).expect("PostgreSQL store"),
            dir: crate::temp_dir(),
            postgres: Some(database),
        }
    }

    /// Another node's store on this PostgreSQL database (this one keeps
    /// the database).
    pub fn another_node(&self) -> Backend {
        let database = self.postgres.as_ref().expect("a PostgreSQL backend");
        let target = Target::new(&database.url(), None).expect("URL");
        Backend {
            store: Store::open(Location::Postgres(Box::new(target))).expect("PostgreSQL store"),
            dir: crate::temp_dir(),
            postgres: None,
        }
    }

    /// A connection.
    pub fn conn(&self) -> Pooled<'_> {
        self.store.get().expect("a connection")
    }

    /// Whether this is PostgreSQL.
    pub fn is_postgres(&self) -> bool {
        self.postgres.is_some()
    }

    /// A value that changes whenever a row of `worklist_items` is written
    /// (SQLite's change counter; PostgreSQL's row versions).
    pub fn write_marker(&self) -> String {
        let conn = self.conn();
        match &*conn {
            Conn::Sqlite(c) => c.total_changes().to_string(),
            Conn::Postgres(_) => {
                use pylantir::store::Db;
                conn.query_row(
                    "SELECT string_agg(xmin::text, ',' ORDER BY id) FROM worklist_items",
                    &[],
                )
                .expect("row versions")
                .and_then(|row| row.text(0))
                .unwrap_or_default()
            }
        }
    }
}

/// Runs each named test function (taking a `Backend`) on SQLite and on
/// PostgreSQL: `both_stores!(a_test, another_test);` makes the test modules
/// `sqlite` and `postgres` with one `#[test]` each.
#[macro_export]
macro_rules! both_stores {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[test]
                fn $name() {
                    super::$name($crate::stores::Backend::sqlite())
                }
            )*
        }
        mod postgres {
            $(
                #[test]
                fn $name() {
                    super::$name($crate::stores::Backend::postgres())
                }
            )*
        }
    };
}
