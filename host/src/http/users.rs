//! The users database of the HTTP API: Python pylantir's `users` table as it
//! is (roles stored as `ADMIN` / `WRITE` / `READ`, passlib-style bcrypt
//! `$2b$12$` hashes, naive UTC datetimes as `YYYY-MM-DD HH:MM:SS.ffffff`),
//! so one file serves both programs during a migration.

use rusqlite::{params, Connection, OptionalExtension};
use std::path::Path;

/// Python's table, as SQLAlchemy creates it.
const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS users (
    id INTEGER NOT NULL,
    username VARCHAR(50) NOT NULL,
    email VARCHAR(100),
    full_name VARCHAR(100),
    hashed_password VARCHAR(255) NOT NULL,
    role VARCHAR(5) NOT NULL,
    is_active BOOLEAN,
    created_at DATETIME,
    last_login DATETIME,
    created_by INTEGER,
    PRIMARY KEY (id),
    UNIQUE (email)
);
CREATE UNIQUE INDEX IF NOT EXISTS ix_users_username ON users (username);
";

/// The bcrypt cost of new hashes (passlib's default, which Python wrote).
pub const BCRYPT_COST: u32 = 12;

/// A user's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    Read,
    Write,
    Admin,
}

impl Role {
    /// The API spelling: `read`, `write`, `admin`.
    pub fn as_api(self) -> &'static str {
        match self {
            Role::Read => "read",
            Role::Write => "write",
            Role::Admin => "admin",
        }
    }

    /// The stored spelling (the Python enum's name): `READ`, `WRITE`, `ADMIN`.
    fn as_stored(self) -> &'static str {
        match self {
            Role::Read => "READ",
            Role::Write => "WRITE",
            Role::Admin => "ADMIN",
        }
    }

    /// Parses the API spelling.
    pub fn from_api(text: &str) -> Option<Role> {
        match text {
            "read" => Some(Role::Read),
            "write" => Some(Role::Write),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }

    fn from_stored(text: &str) -> Option<Role> {
        Role::from_api(&text.to_ascii_lowercase())
    }
}

/// One user, as stored (never with its hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: i64,
    pub username: String,
    pub email: Option<String>,
    pub full_name: Option<String>,
    pub role: Role,
    pub is_active: bool,
    /// Python's datetime text.
    pub created_at: Option<String>,
    pub last_login: Option<String>,
}

/// A new user.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub username: String,
    pub password: String,
    pub email: Option<String>,
    pub full_name: Option<String>,
    pub role: Role,
    pub created_by: Option<i64>,
}

/// Changes to a user; `None`: unchanged. `Some(None)` clears a nullable field.
#[derive(Debug, Clone, Default)]
pub struct UserChanges {
    pub email: Option<Option<String>>,
    pub full_name: Option<Option<String>>,
    pub password: Option<String>,
    pub role: Option<Role>,
    pub is_active: Option<bool>,
}

/// Why a user write was refused or failed.
#[derive(Debug)]
pub enum UsersError {
    /// Another user has this username.
    UsernameTaken,
    /// Another user has this e-mail address.
    EmailTaken,
    /// bcrypt failed (it does not for passwords of any length; kept honest).
    Hash(bcrypt::BcryptError),
    /// SQLite failed.
    Sqlite(rusqlite::Error),
}

impl std::fmt::Display for UsersError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            UsersError::UsernameTaken => write!(f, "Username already exists"),
            UsersError::EmailTaken => write!(f, "Email already exists"),
            UsersError::Hash(e) => write!(f, "cannot hash the password: {e}"),
            UsersError::Sqlite(e) => write!(f, "users database: {e}"),
        }
    }
}

impl std::error::Error for UsersError {}

impl From<rusqlite::Error> for UsersError {
    fn from(e: rusqlite::Error) -> Self {
        UsersError::Sqlite(e)
    }
}

/// Opens (creating if needed) the users database at `path`.
pub fn open(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(crate::store::BUSY_TIMEOUT)?;
    conn.execute_batch(SCHEMA)?;
    Ok(conn)
}

/// Now, as Python's `datetime.utcnow()` is stored.
pub fn now_text() -> String {
    jiff::Timestamp::now()
        .strftime("%Y-%m-%d %H:%M:%S%.6f")
        .to_string()
}

/// A bcrypt hash of `password` as passlib writes it (`$2b$12$...`).
pub fn hash_password(password: &str) -> Result<String, UsersError> {
    bcrypt::hash(password, BCRYPT_COST).map_err(UsersError::Hash)
}

/// Whether `password` matches `hash`; a malformed hash matches nothing.
pub fn verify_password(password: &str, hash: &str) -> bool {
    bcrypt::verify(password, hash).unwrap_or(false)
}

const COLUMNS: &str =
    "id, username, email, full_name, role, is_active, created_at, last_login, hashed_password";

fn read_user(row: &rusqlite::Row<'_>) -> rusqlite::Result<(User, String)> {
    let role: String = row.get(4)?;
    let role = Role::from_stored(&role).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            4,
            rusqlite::types::Type::Text,
            format!("unknown role {role:?}").into(),
        )
    })?;
    let user = User {
        id: row.get(0)?,
        username: row.get(1)?,
        email: row.get(2)?,
        full_name: row.get(3)?,
        role,
        is_active: row.get::<_, Option<bool>>(5)?.unwrap_or(true),
        created_at: crate::store::text_column(row, 6)?,
        last_login: crate::store::text_column(row, 7)?,
    };
    Ok((user, row.get(8)?))
}

/// The user named `username` and their password hash.
pub fn by_name(conn: &Connection, username: &str) -> rusqlite::Result<Option<(User, String)>> {
    conn.prepare_cached(&format!("SELECT {COLUMNS} FROM users WHERE username = ?1"))?
        .query_row([username], read_user)
        .optional()
}

/// The user with this id.
pub fn by_id(conn: &Connection, id: i64) -> rusqlite::Result<Option<User>> {
    conn.prepare_cached(&format!("SELECT {COLUMNS} FROM users WHERE id = ?1"))?
        .query_row([id], read_user)
        .map(|(user, _)| user)
        .optional()
}

/// Every user, in id order.
pub fn list(conn: &Connection) -> rusqlite::Result<Vec<User>> {
    let mut stmt = conn.prepare_cached(&format!("SELECT {COLUMNS} FROM users ORDER BY id"))?;
    let rows = stmt.query_map([], |row| read_user(row).map(|(user, _)| user))?;
    rows.collect()
}

/// How many users there are.
pub fn count(conn: &Connection) -> rusqlite::Result<i64> {
    conn.query_row("SELECT count(*) FROM users", [], |row| row.get(0))
}

fn taken(conn: &Connection, email: Option<&str>, except: i64) -> Result<(), UsersError> {
    let Some(email) = email else { return Ok(()) };
    let exists: bool = conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM users WHERE email = ?1 AND id <> ?2)",
        params![email, except],
        |row| row.get(0),
    )?;
    if exists {
        return Err(UsersError::EmailTaken);
    }
    Ok(())
}

/// Creates a user (active); refuses a taken username or e-mail.
pub fn create(conn: &Connection, new: &NewUser) -> Result<User, UsersError> {
    if by_name(conn, &new.username)?.is_some() {
        return Err(UsersError::UsernameTaken);
    }
    taken(conn, new.email.as_deref(), -1)?;
    let hash = hash_password(&new.password)?;
    conn.execute(
        "INSERT INTO users (username, email, full_name, hashed_password, role, is_active, \
         created_at, created_by) VALUES (?1, ?2, ?3, ?4, ?5, 1, ?6, ?7)",
        params![
            new.username,
            new.email,
            new.full_name,
            hash,
            new.role.as_stored(),
            now_text(),
            new.created_by
        ],
    )?;
    by_id(conn, conn.last_insert_rowid())?
        .ok_or(UsersError::Sqlite(rusqlite::Error::QueryReturnedNoRows))
}

/// Applies `changes` to user `id`; `Ok(None)` when there is no such user.
pub fn update(
    conn: &Connection,
    id: i64,
    changes: &UserChanges,
) -> Result<Option<User>, UsersError> {
    if by_id(conn, id)?.is_none() {
        return Ok(None);
    }
    if let Some(email) = &changes.email {
        taken(conn, email.as_deref(), id)?;
    }
    let hash = changes.password.as_deref().map(hash_password).transpose()?;
    let mut sets: Vec<&str> = Vec::new();
    let mut args: Vec<rusqlite::types::Value> = Vec::new();
    let text = |v: &Option<String>| v.clone().map_or(rusqlite::types::Value::Null, Into::into);
    if let Some(email) = &changes.email {
        sets.push("email");
        args.push(text(email));
    }
    if let Some(full_name) = &changes.full_name {
        sets.push("full_name");
        args.push(text(full_name));
    }
    if let Some(hash) = hash {
        sets.push("hashed_password");
        args.push(hash.into());
    }
    if let Some(role) = changes.role {
        sets.push("role");
        args.push(role.as_stored().to_string().into());
    }
    if let Some(active) = changes.is_active {
        sets.push("is_active");
        args.push(i64::from(active).into());
    }
    if !sets.is_empty() {
        let assignments: Vec<String> = sets
            .iter()
            .enumerate()
            .map(|(n, column)| format!("{column} = ?{}", n + 1))
            .collect();
        args.push(id.into());
        conn.execute(
            &format!(
                "UPDATE users SET {} WHERE id = ?{}",
                assignments.join(", "),
                args.len()
            ),
            rusqlite::params_from_iter(args),
        )?;
    }
    Ok(by_id(conn, id)?)
}

/// Records a successful login.
pub fn touch_login(conn: &Connection, id: i64) -> rusqlite::Result<()> {
    conn.execute(
        "UPDATE users SET last_login = ?1 WHERE id = ?2",
        params![now_text(), id],
    )?;
    Ok(())
}

/// Deletes user `id`; returns the deleted user.
pub fn delete(conn: &Connection, id: i64) -> rusqlite::Result<Option<User>> {
    let user = by_id(conn, id)?;
    if user.is_some() {
        conn.execute("DELETE FROM users WHERE id = ?1", [id])?;
    }
    Ok(user)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_created_user_is_stored_as_python_writes_it() {
        let dir = tempfile::tempdir().expect("temp dir");
        let conn = open(&dir.path().join("users.db")).expect("open");
        let user = create(
            &conn,
            &NewUser {
                username: "ana".into(),
                password: "secret-pass".into(),
                email: None,
                full_name: None,
                role: Role::Write,
                created_by: None,
            },
        )
        .expect("created");
        let (role, hash, created): (String, String, String) = conn
            .query_row(
                "SELECT role, hashed_password, created_at FROM users WHERE id = ?1",
                [user.id],
                |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
            )
            .expect("row");
        assert_eq!(role, "WRITE");
        assert!(hash.starts_with("$2b$12$"), "{hash}");
        assert_eq!(
            created.len(),
            "2025-11-18 10:00:00.123456".len(),
            "{created}"
        );
        assert!(verify_password("secret-pass", &hash));
    }
}
