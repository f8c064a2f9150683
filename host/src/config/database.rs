//! Where the worklist database is: `db_path` (a SQLite file, the default)
//! or `db_url` (PostgreSQL, `postgres://user@host:port/db`), whose password
//! comes from `db_password_env` (the name of an environment variable) or
//! `db_password_file` (a file holding it), so it never sits in the
//! configuration file.

use super::{paths, Document, Problem};
use crate::store::postgres::Target;
use crate::store::Location;
use serde_json::Value;

/// The database `document` names, or the problems of its keys.
pub fn location(document: &Document) -> Result<Location, Vec<Problem>> {
    let raw = &document.raw;
    let Some(url) = raw.get("db_url") else {
        return Ok(Location::Sqlite(document.db_path()));
    };
    let mut problems = Vec::new();
    let text = |key: &str, problems: &mut Vec<Problem>| match raw.get(key) {
        None => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(other) => {
            problems.push(Problem::new(key, Some(other), "must be a string"));
            None
        }
    };
    let Some(url_text) = url.as_str() else {
        return Err(vec![Problem::new(
            "db_url",
            Some(url),
            "must be a PostgreSQL URL (a string such as \"postgres://pylantir@db-host:5432/worklist\")",
        )]);
    };
    if raw.contains_key("db_path") {
        problems.push(Problem::new(
            "db_path",
            raw.get("db_path"),
            "db_path and db_url are both set: keep one (db_url for PostgreSQL, db_path for SQLite)",
        ));
    }
    let env = text("db_password_env", &mut problems);
    let file = text("db_password_file", &mut problems);
    let password = match (env, file) {
        (Some(_), Some(_)) => {
            problems.push(Problem::new(
                "db_password_file",
                raw.get("db_password_file"),
                "db_password_env and db_password_file are both set: keep one",
            ));
            None
        }
        (Some(name), None) => match std::env::var(&name) {
            Ok(value) => Some(value),
            Err(_) => {
                problems.push(Problem::new(
                    "db_password_env",
                    raw.get("db_password_env"),
                    format!("the environment variable {name} is not set"),
                ));
                None
            }
        },
        (None, Some(file)) => {
            let path = paths::resolve(&document.path, &file);
            match std::fs::read_to_string(&path) {
                Ok(content) => Some(content.trim_end_matches(['\n', '\r']).to_string()),
                Err(e) => {
                    problems.push(Problem::new(
                        "db_password_file",
                        raw.get("db_password_file"),
                        format!("cannot read {}: {e}", path.display()),
                    ));
                    None
                }
            }
        }
        (None, None) => None,
    };
    match Target::new(url_text, password.as_deref()) {
        Ok(target) if problems.is_empty() => Ok(Location::Postgres(Box::new(target))),
        Ok(_) => Err(problems),
        Err(e) => {
            problems.push(Problem::new("db_url", Some(url), e));
            Err(problems)
        }
    }
}
