//! One connection to the worklist database, SQLite or PostgreSQL, as the
//! store's queries see it: SQL text with numbered parameters (`?1`), values
//! and rows of one small type, and the few phrases the two dialects spell
//! differently ([`Dialect`]). The store's modules are written once against
//! [`Db`]; the backends only run what they are given.

use std::borrow::Cow;
use std::fmt;
use std::ops::ControlFlow;

/// A parameter or a column value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
    Bytes(Vec<u8>),
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::Text(s.to_string())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::Text(s)
    }
}

impl From<&String> for Value {
    fn from(s: &String) -> Self {
        Value::Text(s.clone())
    }
}

impl From<i64> for Value {
    fn from(n: i64) -> Self {
        Value::Int(n)
    }
}

impl From<u64> for Value {
    fn from(n: u64) -> Self {
        Value::Int(i64::try_from(n).unwrap_or(i64::MAX))
    }
}

impl From<&[u8]> for Value {
    fn from(b: &[u8]) -> Self {
        Value::Bytes(b.to_vec())
    }
}

impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Self {
        v.map_or(Value::Null, Into::into)
    }
}

/// A column value borrowed from the database's own row buffer, for readers
/// that write what they read straight out (`GET /worklist`) instead of
/// copying every text first.
#[derive(Debug, Clone, PartialEq)]
pub enum ValueRef<'a> {
    Null,
    Int(i64),
    Real(f64),
    /// Text; owned only where SQLite held invalid UTF-8 (replaced, lossy).
    Text(Cow<'a, str>),
    Bytes(&'a [u8]),
}

impl ValueRef<'_> {
    /// The value as text, as [`Row::text`] reads it: numbers as their
    /// decimal text (allocated), NULL or a blob as `None`.
    pub fn text(&self) -> Option<Cow<'_, str>> {
        match self {
            ValueRef::Null | ValueRef::Bytes(_) => None,
            ValueRef::Int(n) => Some(Cow::Owned(n.to_string())),
            ValueRef::Real(r) => Some(Cow::Owned(r.to_string())),
            ValueRef::Text(t) => Some(Cow::Borrowed(t)),
        }
    }

    /// The value as an integer, as [`Row::int`] reads it.
    pub fn int(&self) -> Option<i64> {
        match self {
            ValueRef::Int(n) => Some(*n),
            ValueRef::Real(r) => Some(*r as i64),
            ValueRef::Text(t) => t.trim().parse().ok(),
            ValueRef::Null | ValueRef::Bytes(_) => None,
        }
    }
}

impl From<&ValueRef<'_>> for Value {
    fn from(value: &ValueRef<'_>) -> Self {
        match value {
            ValueRef::Null => Value::Null,
            ValueRef::Int(n) => Value::Int(*n),
            ValueRef::Real(r) => Value::Real(*r),
            ValueRef::Text(t) => Value::Text(t.to_string()),
            ValueRef::Bytes(b) => Value::Bytes(b.to_vec()),
        }
    }
}

/// One result row.
#[derive(Debug, Clone, PartialEq)]
pub struct Row(pub Vec<Value>);

impl Row {
    /// Column `i` as text: numbers (which a database written by other tools
    /// may hold in a text column) as their decimal text; NULL or a blob as `None`.
    pub fn text(&self, i: usize) -> Option<String> {
        match self.0.get(i)? {
            Value::Null | Value::Bytes(_) => None,
            Value::Int(n) => Some(n.to_string()),
            Value::Real(r) => Some(r.to_string()),
            Value::Text(t) => Some(t.clone()),
        }
    }

    /// Column `i` as [`Row::text`] does, moving the text out of the row
    /// (which then holds NULL there) instead of copying it.
    pub fn take_text(&mut self, i: usize) -> Option<String> {
        match self.0.get_mut(i)? {
            Value::Text(t) => Some(std::mem::take(t)),
            _ => self.text(i),
        }
    }

    /// Column `i` as an integer (text holding a number too).
    pub fn int(&self, i: usize) -> Option<i64> {
        match self.0.get(i)? {
            Value::Int(n) => Some(*n),
            Value::Real(r) => Some(*r as i64),
            Value::Text(t) => t.trim().parse().ok(),
            Value::Null | Value::Bytes(_) => None,
        }
    }

    /// Column `i` as a count (NULL and negatives as 0).
    pub fn count(&self, i: usize) -> u64 {
        self.int(i).and_then(|n| u64::try_from(n).ok()).unwrap_or(0)
    }

    /// Column `i` as a boolean (non-zero).
    pub fn flag(&self, i: usize) -> bool {
        self.int(i).is_some_and(|n| n != 0)
    }

    /// Column `i` as bytes (text as its UTF-8 bytes).
    pub fn bytes(&self, i: usize) -> Vec<u8> {
        match self.0.get(i) {
            Some(Value::Bytes(b)) => b.clone(),
            Some(Value::Text(t)) => t.as_bytes().to_vec(),
            _ => Vec::new(),
        }
    }
}

/// Why a statement failed.
#[derive(Debug)]
pub enum DbError {
    Sqlite(rusqlite::Error),
    Postgres(postgres::Error),
    /// The database answered something the store cannot make sense of.
    Inconsistent(String),
}

impl DbError {
    /// Whether a unique or primary key constraint refused the write.
    pub fn is_unique_violation(&self) -> bool {
        match self {
            DbError::Sqlite(rusqlite::Error::SqliteFailure(e, _)) => {
                e.code == rusqlite::ErrorCode::ConstraintViolation
            }
            DbError::Sqlite(_) => false,
            DbError::Postgres(e) => e.code() == Some(&postgres::error::SqlState::UNIQUE_VIOLATION),
            DbError::Inconsistent(_) => false,
        }
    }
}

impl fmt::Display for DbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DbError::Sqlite(e) => write!(f, "{e}"),
            DbError::Postgres(e) => match e.as_db_error() {
                Some(db) => write!(f, "{}: {}", db.severity(), db.message()),
                None => write!(f, "{e}"),
            },
            DbError::Inconsistent(what) => f.write_str(what),
        }
    }
}

impl std::error::Error for DbError {}

impl From<rusqlite::Error> for DbError {
    fn from(e: rusqlite::Error) -> Self {
        DbError::Sqlite(e)
    }
}

impl From<postgres::Error> for DbError {
    fn from(e: postgres::Error) -> Self {
        DbError::Postgres(e)
    }
}

/// The store's result type.
pub type DbResult<T> = Result<T, DbError>;

/// Which SQL the connection speaks, and the phrases that differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

impl Dialect {
    /// `column = mark`, ignoring the case of ASCII letters only (SQLite's NOCASE).
    pub fn eq_nocase(self, column: &str, mark: &str) -> String {
        match self {
            Dialect::Sqlite => format!("{column} = {mark} COLLATE NOCASE"),
            Dialect::Postgres => {
                format!("lower({column} COLLATE \"C\") = lower({mark} COLLATE \"C\")")
            }
        }
    }

    /// `select` (a `SELECT ... FROM table`) restricted to the rows where
    /// `filter = key` for one of the keys `marks` (`?2, ?3`, ...). SQLite
    /// takes an `IN` list. PostgreSQL looks each key up on its own (a
    /// lateral join over the keys): without statistics (a table grown in
    /// the current transaction, or not analysed since a large sync) the
    /// planner guesses that an `IN` list of a few hundred keys matches more
    /// rows than one indexed column alone does, and reads the whole index
    /// range of that column (every row of a source) to filter them; a
    /// single key on a unique index it always costs as one row.
    pub fn for_each_key(self, select: &str, filter: &str, marks: &str) -> String {
        match self {
            Dialect::Sqlite => format!("{select} WHERE {filter} IN ({marks})"),
            Dialect::Postgres => format!(
                "SELECT lookup.* FROM unnest(CAST(ARRAY[{marks}] AS TEXT[])) AS keys(key) \
                 CROSS JOIN LATERAL ({select} WHERE {filter} = keys.key OFFSET 0) AS lookup"
            ),
        }
    }

    /// DICOM wildcard matching of `column` against the pattern made by
    /// [`Dialect::wildcard_pattern`]; `nocase`: ignoring ASCII case.
    pub fn wildcard(self, column: &str, mark: &str, nocase: bool) -> String {
        match (self, nocase) {
            (Dialect::Sqlite, true) => format!("{column} LIKE {mark} ESCAPE '\\'"),
            (Dialect::Sqlite, false) => format!("{column} GLOB {mark}"),
            (Dialect::Postgres, true) => format!(
                "lower({column} COLLATE \"C\") LIKE lower({mark} COLLATE \"C\") ESCAPE '\\'"
            ),
            (Dialect::Postgres, false) => {
                format!("{column} LIKE {mark} COLLATE \"C\" ESCAPE '\\'")
            }
        }
    }

    /// A DICOM wildcard (`*`, `?`) as the pattern [`Dialect::wildcard`] takes.
    pub fn wildcard_pattern(self, pattern: &str, nocase: bool) -> String {
        if self == Dialect::Sqlite && !nocase {
            return glob_pattern(pattern);
        }
        like_pattern(pattern)
    }

    /// `a IS b`: equality where NULL equals NULL.
    pub fn is(self, a: &str, b: &str) -> String {
        match self {
            Dialect::Sqlite => format!("{a} IS {b}"),
            Dialect::Postgres => format!("{a} IS NOT DISTINCT FROM {b}"),
        }
    }

    /// Whether `needle` is a substring of `haystack`, ignoring ASCII case.
    pub fn contains_nocase(self, haystack: &str, needle: &str) -> String {
        match self {
            Dialect::Sqlite => format!("instr(lower({haystack}), lower({needle})) > 0"),
            Dialect::Postgres => format!(
                "strpos(lower({haystack} COLLATE \"C\"), lower({needle} COLLATE \"C\")) > 0"
            ),
        }
    }

    /// The column that orders rows of a table without a key in insertion order.
    pub fn insertion_order(self) -> &'static str {
        match self {
            Dialect::Sqlite => "rowid",
            Dialect::Postgres => "seq",
        }
    }
}

/// DICOM wildcard to a SQL LIKE pattern (escape character `\`).
fn like_pattern(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len() + 4);
    for c in pattern.chars() {
        match c {
            '*' => out.push('%'),
            '?' => out.push('_'),
            '%' | '_' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    out
}

/// DICOM wildcard to a SQLite GLOB pattern (case-sensitive).
fn glob_pattern(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len() + 4);
    for c in pattern.chars() {
        match c {
            '[' => out.push_str("[[]"),
            _ => out.push(c),
        }
    }
    out
}

/// A connection to the worklist database. Statements are written with
/// numbered parameters (`?1`, `?2`, ...) and standard SQL both backends
/// read; [`Db::dialect`] gives the rest.
pub trait Db {
    /// The backend's dialect.
    fn dialect(&self) -> Dialect;

    /// Runs a statement that returns rows; all of them.
    fn query(&self, sql: &str, params: &[Value]) -> DbResult<Vec<Row>> {
        let mut rows = Vec::new();
        self.query_each(sql, params, &mut |row| {
            rows.push(row);
            ControlFlow::Continue(())
        })?;
        Ok(rows)
    }

    /// Runs a statement that returns rows, handing them to `each` one at a
    /// time until it breaks; returns how many were handed.
    fn query_each(
        &self,
        sql: &str,
        params: &[Value],
        each: &mut dyn FnMut(Row) -> ControlFlow<()>,
    ) -> DbResult<u64> {
        self.query_each_ref(sql, params, &mut |values| {
            each(Row(values.iter().map(Value::from).collect()))
        })
    }

    /// As [`Db::query_each`], handing each row's values borrowed from the
    /// database's row buffer: valid only during the call.
    fn query_each_ref(
        &self,
        sql: &str,
        params: &[Value],
        each: &mut dyn FnMut(&[ValueRef<'_>]) -> ControlFlow<()>,
    ) -> DbResult<u64>;

    /// Runs a statement; returns the number of rows it changed.
    fn execute(&self, sql: &str, params: &[Value]) -> DbResult<u64>;

    /// Runs statements without parameters (schema, transaction control).
    fn batch(&self, sql: &str) -> DbResult<()>;

    /// Starts a write transaction: one writer at a time on the whole
    /// database (SQLite's `BEGIN IMMEDIATE`; on PostgreSQL a transaction
    /// advisory lock every writer takes), so the upsert, MPPS and API rules
    /// see what they change as on SQLite.
    fn begin_write(&self) -> DbResult<()>;

    /// Takes the session lock named `name` if no other connection holds it
    /// (several nodes on one PostgreSQL database); always true on SQLite,
    /// which one process serves.
    fn try_lock(&self, name: &str) -> DbResult<bool>;

    /// Releases a lock [`Db::try_lock`] took.
    fn unlock(&self, name: &str) -> DbResult<()>;

    /// The first row of a query, if any.
    fn query_row(&self, sql: &str, params: &[Value]) -> DbResult<Option<Row>> {
        let mut first = None;
        self.query_each(sql, params, &mut |row| {
            first = Some(row);
            ControlFlow::Break(())
        })?;
        Ok(first)
    }
}

/// Runs `work` in a write transaction ([`Db::begin_write`]): committed when
/// it returns `Ok`, rolled back when it returns `Err` (or panics).
pub fn write<T, E: From<DbError>>(
    db: &dyn Db,
    work: impl FnOnce(&dyn Db) -> Result<T, E>,
) -> Result<T, E> {
    let tx = Transaction::begin(db)?;
    let value = work(db)?;
    tx.commit()?;
    Ok(value)
}

/// An open write transaction ([`Db::begin_write`]) for work that spans
/// several calls: [`Transaction::commit`] ends it, dropping it rolls back.
pub struct Transaction<'a> {
    db: &'a dyn Db,
    done: bool,
}

impl<'a> Transaction<'a> {
    /// Starts a write transaction on `db`.
    pub fn begin(db: &'a dyn Db) -> DbResult<Transaction<'a>> {
        db.begin_write()?;
        Ok(Transaction { db, done: false })
    }

    /// The connection, to run statements in the transaction.
    pub fn db(&self) -> &'a dyn Db {
        self.db
    }

    /// Commits (or, when the commit fails, rolls back).
    pub fn commit(mut self) -> DbResult<()> {
        self.done = true;
        let committed = self.db.batch("COMMIT");
        if committed.is_err() {
            let _ = self.db.batch("ROLLBACK");
        }
        committed
    }
}

impl Drop for Transaction<'_> {
    fn drop(&mut self) {
        if !self.done {
            let _ = self.db.batch("ROLLBACK");
        }
    }
}

/// How many rows each statement of a multi-row write of `rows` rows takes:
/// as few statements as possible of 64, 16, 4 or 1 rows, so that the
/// statement texts (which the backends cache) come in a few sizes only.
pub fn row_groups(rows: usize) -> Vec<usize> {
    let mut groups = Vec::new();
    let mut left = rows;
    for size in [64, 16, 4, 1] {
        while left >= size {
            groups.push(size);
            left -= size;
        }
    }
    groups
}

/// The `VALUES` list of `rows` rows of `columns` parameters each, numbered
/// from `?{first}`: `(?1, ?2), (?3, ?4)`.
pub fn value_rows(rows: usize, columns: usize, first: usize) -> String {
    let mut out = String::with_capacity(rows * columns * 5);
    for row in 0..rows {
        if row > 0 {
            out.push_str(", ");
        }
        out.push('(');
        for column in 0..columns {
            if column > 0 {
                out.push_str(", ");
            }
            out.push_str(&format!("?{}", first + row * columns + column));
        }
        out.push(')');
    }
    out
}

/// A stable 64-bit key for a lock name (FNV-1a), the same on every node.
pub fn lock_key(name: &str) -> i64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in name.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_become_like_and_glob_patterns() {
        assert_eq!(like_pattern("Do*_?%"), "Do%\\__\\%");
        assert_eq!(glob_pattern("A[B*"), "A[[]B*");
        assert_eq!(Dialect::Postgres.wildcard_pattern("A[B*", false), "A[B%");
    }

    #[test]
    fn multi_row_writes_come_in_a_few_sizes() {
        assert_eq!(row_groups(0), Vec::<usize>::new());
        assert_eq!(row_groups(150), vec![64, 64, 16, 4, 1, 1]);
        assert_eq!(row_groups(150).iter().sum::<usize>(), 150);
        assert_eq!(value_rows(2, 2, 3), "(?3, ?4), (?5, ?6)");
    }

    #[test]
    fn lock_keys_are_stable_across_builds() {
        assert_eq!(lock_key(""), 0xcbf2_9ce4_8422_2325_u64 as i64);
        assert_ne!(lock_key("sync a"), lock_key("sync b"));
    }
}
