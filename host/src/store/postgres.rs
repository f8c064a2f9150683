//! The PostgreSQL backend (`db_url`): several pylantir nodes on one
//! database. The same tables and columns as SQLite (ids as `BIGINT`, text
//! as `TEXT`, MPPS attributes as `BYTEA`, `sps_date`/`sps_time` as stored
//! generated columns), the schema version in `pylantir_schema`, migrations
//! under a lock so nodes starting together migrate once.

use super::db::{lock_key, Db, DbResult, Dialect, Value, ValueRef};
use super::{schema, StoreError};
use postgres::fallible_iterator::FallibleIterator;
use postgres::types::{IsNull, ToSql, Type};
use postgres::{CancelToken, Client, NoTls, Statement};
use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;
use std::ops::ControlFlow;
use std::str::FromStr;
use std::time::Duration;

/// How long connecting may take before the database counts as unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The lock every write transaction takes (one writer at a time, as on SQLite).
const WRITE_LOCK: &str = "pylantir worklist write";

/// The lock a schema migration takes.
const MIGRATE_LOCK: &str = "pylantir schema migration";

/// Where the PostgreSQL database is: the parsed `db_url` and its password.
#[derive(Clone)]
pub struct Target {
    config: postgres::Config,
}

impl Target {
    /// Parses `url` (`postgres://user@host:port/db`); `password`, when
    /// given, replaces one the URL may hold.
    pub fn new(url: &str, password: Option<&str>) -> Result<Target, String> {
        let mut config =
            postgres::Config::from_str(url).map_err(|e| format!("not a PostgreSQL URL ({e})"))?;
        if let Some(password) = password {
            config.password(password);
        }
        if config.get_hosts().is_empty() {
            return Err("the URL names no host".into());
        }
        config
            .connect_timeout(CONNECT_TIMEOUT)
            .application_name("pylantir");
        Ok(Target { config })
    }

    /// Connects and brings the schema up to [`schema::SCHEMA_VERSION`].
    pub fn connect(&self) -> Result<PgConn, StoreError> {
        let conn = self.connect_only()?;
        migrate(&conn).map_err(|e| match e {
            Migration::Db(error) => StoreError::database(self, error),
            Migration::Newer(found) => StoreError::NewerSchema {
                database: self.to_string(),
                found,
                supported: schema::SCHEMA_VERSION,
            },
        })?;
        Ok(conn)
    }

    /// Connects without writing anything and says what the schema is:
    /// current, older (migrated at the next start) or absent (created at
    /// the first start). A newer schema, or no connection, is an error.
    pub fn check(&self) -> Result<String, StoreError> {
        let conn = self.connect_only()?;
        let found = schema_version(&conn).map_err(|e| StoreError::database(self, e))?;
        let supported = schema::SCHEMA_VERSION;
        match found {
            0 => Ok(format!(
                "reachable, no pylantir schema yet (created at the first start, version {supported})"
            )),
            v if v > supported => Err(StoreError::NewerSchema {
                database: self.to_string(),
                found: v,
                supported,
            }),
            v if v < supported => Ok(format!(
                "reachable, schema version {v} (migrated to {supported} at the next start)"
            )),
            v => Ok(format!("reachable, schema version {v} (current)")),
        }
    }

    /// Connects without touching the schema.
    pub fn connect_only(&self) -> Result<PgConn, StoreError> {
        let client = self
            .config
            .connect(NoTls)
            .map_err(|e| StoreError::database(self, e.into()))?;
        Ok(PgConn {
            cancel: client.cancel_token(),
            client: RefCell::new(client),
            statements: RefCell::new(HashMap::new()),
        })
    }
}

/// The database as messages name it: `user@host:port/dbname`, never the password.
impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let host = match self.config.get_hosts().first() {
            Some(postgres::config::Host::Tcp(h)) => h.clone(),
            Some(postgres::config::Host::Unix(p)) => p.display().to_string(),
            None => String::new(),
        };
        let port = self.config.get_ports().first().copied().unwrap_or(5432);
        write!(
            f,
            "postgres://{}@{host}:{port}/{}",
            self.config.get_user().unwrap_or(""),
            self.config.get_dbname().unwrap_or("")
        )
    }
}

impl fmt::Debug for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Target({self})")
    }
}

/// One connection, with its prepared statements.
pub struct PgConn {
    client: RefCell<Client>,
    statements: RefCell<HashMap<String, Statement>>,
    cancel: CancelToken,
}

impl PgConn {
    /// Whether the connection is gone (the server stopped or restarted).
    pub fn is_closed(&self) -> bool {
        self.client.try_borrow().is_ok_and(|c| c.is_closed())
    }

    /// What cancels the statement running on this connection, from another thread.
    pub fn cancel_token(&self) -> CancelToken {
        self.cancel.clone()
    }

    fn statement(&self, client: &mut Client, sql: &str) -> DbResult<Statement> {
        if let Some(statement) = self.statements.borrow().get(sql) {
            return Ok(statement.clone());
        }
        let statement = client.prepare(&numbered_parameters(sql))?;
        self.statements
            .borrow_mut()
            .insert(sql.to_string(), statement.clone());
        Ok(statement)
    }
}

/// `?1` to `$1`, outside quoted text.
fn numbered_parameters(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut quoted = false;
    for c in sql.chars() {
        match c {
            '\'' => {
                quoted = !quoted;
                out.push(c);
            }
            '?' if !quoted => out.push('$'),
            _ => out.push(c),
        }
    }
    out
}

impl ToSql for Value {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut bytes::BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match self {
            Value::Null => Ok(IsNull::Yes),
            Value::Int(n) => match *ty {
                Type::INT2 => i16::try_from(*n)?.to_sql(ty, out),
                Type::INT4 => i32::try_from(*n)?.to_sql(ty, out),
                Type::BOOL => (*n != 0).to_sql(ty, out),
                Type::FLOAT8 => (*n as f64).to_sql(ty, out),
                Type::TEXT | Type::VARCHAR | Type::BPCHAR => n.to_string().to_sql(ty, out),
                _ => n.to_sql(ty, out),
            },
            Value::Real(r) => match *ty {
                Type::FLOAT4 => (*r as f32).to_sql(ty, out),
                Type::FLOAT8 => r.to_sql(ty, out),
                _ => r.to_string().to_sql(ty, out),
            },
            Value::Text(t) => match *ty {
                Type::INT8 => t.trim().parse::<i64>()?.to_sql(ty, out),
                Type::INT4 => t.trim().parse::<i32>()?.to_sql(ty, out),
                Type::BYTEA => t.as_bytes().to_sql(ty, out),
                _ => t.as_str().to_sql(ty, out),
            },
            Value::Bytes(b) => match *ty {
                Type::BYTEA => b.as_slice().to_sql(ty, out),
                _ => String::from_utf8_lossy(b).as_ref().to_sql(ty, out),
            },
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    postgres::types::to_sql_checked!();
}

/// The values of `row`, texts and bytes borrowed from its buffer.
fn read_row(row: &postgres::Row) -> DbResult<Vec<ValueRef<'_>>> {
    let mut values = Vec::with_capacity(row.len());
    for (i, column) in row.columns().iter().enumerate() {
        let value = match *column.type_() {
            Type::BOOL => row
                .try_get::<_, Option<bool>>(i)?
                .map_or(ValueRef::Null, |b| ValueRef::Int(b.into())),
            Type::INT2 => row
                .try_get::<_, Option<i16>>(i)?
                .map_or(ValueRef::Null, |n| ValueRef::Int(n.into())),
            Type::INT4 => row
                .try_get::<_, Option<i32>>(i)?
                .map_or(ValueRef::Null, |n| ValueRef::Int(n.into())),
            Type::INT8 => row
                .try_get::<_, Option<i64>>(i)?
                .map_or(ValueRef::Null, ValueRef::Int),
            Type::FLOAT4 => row
                .try_get::<_, Option<f32>>(i)?
                .map_or(ValueRef::Null, |r| ValueRef::Real(r.into())),
            Type::FLOAT8 => row
                .try_get::<_, Option<f64>>(i)?
                .map_or(ValueRef::Null, ValueRef::Real),
            Type::BYTEA => row
                .try_get::<_, Option<&[u8]>>(i)?
                .map_or(ValueRef::Null, ValueRef::Bytes),
            _ => row
                .try_get::<_, Option<&str>>(i)?
                .map_or(ValueRef::Null, |t| ValueRef::Text(Cow::Borrowed(t))),
        };
        values.push(value);
    }
    Ok(values)
}

impl Db for PgConn {
    fn dialect(&self) -> Dialect {
        Dialect::Postgres
    }

    fn query_each_ref(
        &self,
        sql: &str,
        params: &[Value],
        each: &mut dyn FnMut(&[ValueRef<'_>]) -> ControlFlow<()>,
    ) -> DbResult<u64> {
        let mut client = self.client.borrow_mut();
        let statement = self.statement(&mut client, sql)?;
        let mut rows = client.query_raw(&statement, params.iter().map(|v| v as &dyn ToSql))?;
        let mut count = 0;
        while let Some(row) = rows.next()? {
            count += 1;
            if each(&read_row(&row)?).is_break() {
                break;
            }
        }
        Ok(count)
    }

    fn execute(&self, sql: &str, params: &[Value]) -> DbResult<u64> {
        let mut client = self.client.borrow_mut();
        let statement = self.statement(&mut client, sql)?;
        let params: Vec<&(dyn ToSql + Sync)> =
            params.iter().map(|v| v as &(dyn ToSql + Sync)).collect();
        Ok(client.execute(&statement, &params)?)
    }

    fn batch(&self, sql: &str) -> DbResult<()> {
        Ok(self.client.borrow_mut().batch_execute(sql)?)
    }

    fn begin_write(&self) -> DbResult<()> {
        self.batch(&format!(
            "BEGIN; SELECT pg_advisory_xact_lock({})",
            lock_key(WRITE_LOCK)
        ))
    }

    fn try_lock(&self, name: &str) -> DbResult<bool> {
        let row = self.query_row(
            "SELECT pg_try_advisory_lock(?1)",
            &[Value::Int(lock_key(name))],
        )?;
        Ok(row.is_some_and(|r| r.flag(0)))
    }

    fn unlock(&self, name: &str) -> DbResult<()> {
        self.query_row(
            "SELECT pg_advisory_unlock(?1)",
            &[Value::Int(lock_key(name))],
        )?;
        Ok(())
    }
}

/// Why the schema could not be brought up to date.
enum Migration {
    Db(super::db::DbError),
    Newer(i64),
}

impl From<super::db::DbError> for Migration {
    fn from(e: super::db::DbError) -> Self {
        Migration::Db(e)
    }
}

/// The schema version recorded in the database (0: no pylantir schema yet).
pub fn schema_version(conn: &PgConn) -> DbResult<i64> {
    let exists = conn.query_row("SELECT to_regclass('pylantir_schema') IS NOT NULL", &[])?;
    if !exists.is_some_and(|r| r.flag(0)) {
        return Ok(0);
    }
    Ok(conn
        .query_row("SELECT max(version) FROM pylantir_schema", &[])?
        .and_then(|r| r.int(0))
        .unwrap_or(0))
}

fn migrate(conn: &PgConn) -> Result<(), Migration> {
    let version = schema_version(conn)?;
    if version > schema::SCHEMA_VERSION {
        return Err(Migration::Newer(version));
    }
    if version == schema::SCHEMA_VERSION {
        return Ok(());
    }
    conn.batch(&format!(
        "BEGIN; SELECT pg_advisory_xact_lock({})",
        lock_key(MIGRATE_LOCK)
    ))?;
    let result = (|| -> Result<(), Migration> {
        // Another node may have migrated while we waited for the lock.
        let version = schema_version(conn)?;
        if version > schema::SCHEMA_VERSION {
            return Err(Migration::Newer(version));
        }
        if version < schema::SCHEMA_VERSION {
            conn.batch(TABLES)?;
            conn.execute("DELETE FROM pylantir_schema", &[])?;
            conn.execute(
                "INSERT INTO pylantir_schema (version) VALUES (?1)",
                &[Value::Int(schema::SCHEMA_VERSION)],
            )?;
            log::info!(
                "worklist database: PostgreSQL schema created at version {}",
                schema::SCHEMA_VERSION
            );
        }
        Ok(())
    })();
    match result {
        Ok(()) => Ok(conn.batch("COMMIT")?),
        Err(e) => {
            let _ = conn.batch("ROLLBACK");
            Err(e)
        }
    }
}

/// The schema at [`schema::SCHEMA_VERSION`]: the tables and indexes of the
/// SQLite schema, in PostgreSQL's types.
const TABLES: &str = "
CREATE TABLE IF NOT EXISTS pylantir_schema (version BIGINT NOT NULL);

CREATE TABLE IF NOT EXISTS worklist_items (
    id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    study_instance_uid TEXT,
    patient_name TEXT,
    patient_id TEXT,
    patient_birth_date TEXT,
    patient_sex TEXT,
    patient_weight_lb TEXT DEFAULT '100',
    accession_number TEXT,
    referring_physician_name TEXT,
    modality TEXT,
    study_description TEXT,
    scheduled_station_aetitle TEXT,
    scheduled_start_date TEXT,
    scheduled_start_time TEXT,
    performing_physician TEXT,
    procedure_description TEXT,
    protocol_name TEXT,
    station_name TEXT,
    hisris_coding_designator TEXT,
    performed_procedure_step_status TEXT DEFAULT 'SCHEDULED',
    data_source TEXT,
    source_record_id TEXT,
    requested_procedure_id TEXT,
    scheduled_procedure_step_id TEXT,
    sps_date TEXT GENERATED ALWAYS AS
        (replace(replace(scheduled_start_date, '-', ''), '/', '')) STORED,
    sps_time TEXT GENERATED ALWAYS AS
        (substr(replace(scheduled_start_time, ':', '') || '000000', 1, 6)) STORED,
    status_set_by TEXT,
    retracted_at TEXT,
    retracted_reason TEXT
);

CREATE TABLE IF NOT EXISTS mpps_instances (
    sop_instance_uid TEXT NOT NULL PRIMARY KEY,
    status TEXT NOT NULL,
    worklist_item_id BIGINT REFERENCES worklist_items(id),
    calling_aet TEXT,
    attributes BYTEA NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS mpps_instances_item ON mpps_instances (worklist_item_id);

CREATE TABLE IF NOT EXISTS sync_runs (
    id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    source TEXT NOT NULL,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    fetched BIGINT NOT NULL DEFAULT 0,
    inserted BIGINT NOT NULL DEFAULT 0,
    updated BIGINT NOT NULL DEFAULT 0,
    unchanged BIGINT NOT NULL DEFAULT 0,
    conflicts BIGINT NOT NULL DEFAULT 0,
    rejected BIGINT NOT NULL DEFAULT 0,
    error TEXT,
    skipped BIGINT NOT NULL DEFAULT 0,
    retracted BIGINT NOT NULL DEFAULT 0,
    restored BIGINT NOT NULL DEFAULT 0,
    note TEXT
);
CREATE INDEX IF NOT EXISTS sync_runs_source ON sync_runs (source, started_at);

CREATE TABLE IF NOT EXISTS sync_run_records (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    run_id BIGINT NOT NULL REFERENCES sync_runs(id),
    kind TEXT NOT NULL,
    record_id TEXT,
    reason TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS sync_run_records_run ON sync_run_records (run_id);

CREATE TABLE IF NOT EXISTS worklist_status_history (
    id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    worklist_item_id BIGINT NOT NULL REFERENCES worklist_items(id) ON DELETE CASCADE,
    at TEXT NOT NULL,
    from_status TEXT,
    to_status TEXT NOT NULL,
    changed_by TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS worklist_status_history_item
    ON worklist_status_history (worklist_item_id, id);

CREATE TABLE IF NOT EXISTS mpps_outcomes (
    id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    source TEXT NOT NULL,
    worklist_item_id BIGINT,
    source_record_id TEXT NOT NULL,
    status TEXT NOT NULL,
    sop_instance_uid TEXT NOT NULL,
    payload TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    due_at BIGINT NOT NULL,
    last_error TEXT,
    created_at TEXT NOT NULL,
    finished_at TEXT
);
CREATE INDEX IF NOT EXISTS mpps_outcomes_pending ON mpps_outcomes (source, state, id);

CREATE TABLE IF NOT EXISTS housekeeping_runs (
    id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    finished_items BIGINT NOT NULL DEFAULT 0,
    retracted_items BIGINT NOT NULL DEFAULT 0,
    past_scheduled_items BIGINT NOT NULL DEFAULT 0,
    mpps_instances BIGINT NOT NULL DEFAULT 0,
    error TEXT
);

CREATE UNIQUE INDEX IF NOT EXISTS worklist_items_source_record
    ON worklist_items (data_source, source_record_id);
CREATE INDEX IF NOT EXISTS worklist_items_sps_datetime ON worklist_items (sps_date, sps_time);
CREATE INDEX IF NOT EXISTS worklist_items_patient_id ON worklist_items (patient_id);
CREATE INDEX IF NOT EXISTS worklist_items_patient_name
    ON worklist_items (lower(patient_name COLLATE \"C\"));
CREATE INDEX IF NOT EXISTS worklist_items_modality ON worklist_items (modality);
CREATE INDEX IF NOT EXISTS worklist_items_station_aet ON worklist_items (scheduled_station_aetitle);
CREATE INDEX IF NOT EXISTS worklist_items_status ON worklist_items (performed_procedure_step_status);
-- Schema 6: no index of data_source alone; the unique index above, which
-- starts with it, serves those lookups. Without statistics (a table grown
-- in the sync's own transaction) the planner took it for the sync's
-- lookups by (data_source, source_record_id) and read every row of the
-- source for each.
DROP INDEX IF EXISTS worklist_items_data_source;
CREATE INDEX IF NOT EXISTS worklist_items_study_uid ON worklist_items (study_instance_uid);
CREATE INDEX IF NOT EXISTS worklist_items_accession ON worklist_items (accession_number);
DROP INDEX IF EXISTS worklist_items_retracted;
CREATE INDEX IF NOT EXISTS worklist_items_retracted_set ON worklist_items (retracted_at)
    WHERE retracted_at IS NOT NULL;
";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_are_renumbered_outside_quoted_text() {
        assert_eq!(
            numbered_parameters("a = ?1 AND b = '?' AND c IN (?2, ?10)"),
            "a = $1 AND b = '?' AND c IN ($2, $10)"
        );
    }

    #[test]
    fn the_database_is_named_without_its_password() {
        let target =
            Target::new("postgres://pylantir:secret@db.example:6543/wl", None).expect("parsed");
        assert_eq!(target.to_string(), "postgres://pylantir@db.example:6543/wl");
    }
}
