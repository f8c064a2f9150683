//! The HTTP API's settings: the configuration's `api` block (its CORS keys
//! exactly as Python pylantir reads them, plus our `enabled`, `host`, `port`,
//! `token_max_minutes` and `tls`) and where the users database is.

use crate::config::tls::TlsBlock;
use serde_json::{Map, Value};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Python's `start-api` default port.
pub const DEFAULT_PORT: u16 = 8000;

/// The HTTPS port when `api.tls` has no `port`.
pub const DEFAULT_HTTPS_PORT: u16 = 8443;

/// The longest token lifetime a login may ask for, unless configured.
pub const DEFAULT_TOKEN_MAX_MINUTES: u64 = 24 * 60;

/// A token's lifetime when the login does not ask (Python's 30 minutes).
pub const DEFAULT_TOKEN_MINUTES: u64 = 30;

/// CORS as Python pylantir configures Starlette's middleware.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cors {
    /// `cors_allowed_origins`; `*` allows any origin.
    pub origins: Vec<String>,
    /// `cors_allow_credentials`.
    pub credentials: bool,
    /// `cors_allow_methods`; `*` allows any method.
    pub methods: Vec<String>,
    /// `cors_allow_headers`; `*` allows any header.
    pub headers: Vec<String>,
}

impl Default for Cors {
    fn default() -> Self {
        let strings = |list: &[&str]| list.iter().map(|s| s.to_string()).collect();
        Cors {
            origins: strings(&["http://localhost:3000", "http://localhost:8080"]),
            credentials: true,
            methods: strings(&["GET", "POST", "PUT", "DELETE", "OPTIONS"]),
            headers: strings(&["*"]),
        }
    }
}

/// Everything the API server needs from the configuration.
#[derive(Debug, Clone)]
pub struct ApiSettings {
    /// `api.enabled`: whether `pylantir start` serves the API too.
    pub enabled: bool,
    /// `api.host` (default 0.0.0.0, as `start-api`).
    pub host: String,
    /// `api.port` (default 8000): the plain HTTP port.
    pub port: u16,
    /// `api.tls`: HTTPS on `api.tls.port`, its files already read and checked.
    pub https: Option<TlsBlock>,
    pub cors: Cors,
    /// `api.token_max_minutes`: the cap on a login's requested lifetime.
    pub token_max: Duration,
    /// The users database file.
    pub users_db: PathBuf,
    /// The worklist database file.
    pub db_path: PathBuf,
}

fn string_list(value: &Value) -> Option<Vec<String>> {
    value
        .as_array()?
        .iter()
        .map(|v| v.as_str().map(str::to_string))
        .collect()
}

impl ApiSettings {
    /// Whether plain HTTP is served (on `api.port`): unless `api.tls.plain` is false.
    pub fn plain(&self) -> bool {
        self.https.as_ref().is_none_or(|https| https.plain)
    }

    /// Reads the `api` block and `users_db_path` of the configuration file
    /// `config_path` (top-level object `raw`); every problem is reported with
    /// its key.
    pub fn from_config(
        raw: &Map<String, Value>,
        config_path: &Path,
        db_path: &Path,
    ) -> Result<ApiSettings, Vec<String>> {
        let mut problems = Vec::new();
        let mut settings = ApiSettings {
            enabled: false,
            host: "0.0.0.0".into(),
            port: DEFAULT_PORT,
            https: None,
            cors: Cors::default(),
            token_max: Duration::from_secs(DEFAULT_TOKEN_MAX_MINUTES * 60),
            users_db: users_db_path(raw, config_path, db_path, &mut problems),
            db_path: db_path.to_path_buf(),
        };
        let empty = Map::new();
        let api = match raw.get("api") {
            None | Some(Value::Null) => &empty,
            Some(Value::Object(api)) => api,
            Some(other) => {
                problems.push(format!("api: expected an object, found {other}"));
                &empty
            }
        };
        for (key, value) in api {
            let wrong = |expected: &str| format!("api.{key}: expected {expected}, found {value}");
            match key.as_str() {
                "cors_allowed_origins" | "cors_allow_methods" | "cors_allow_headers" => {
                    let Some(list) = string_list(value) else {
                        problems.push(wrong("a list of strings"));
                        continue;
                    };
                    match key.as_str() {
                        "cors_allowed_origins" => settings.cors.origins = list,
                        "cors_allow_methods" => settings.cors.methods = list,
                        _ => settings.cors.headers = list,
                    }
                }
                // Python: `str(value).lower() in ("true", "1")`.
                "cors_allow_credentials" => {
                    settings.cors.credentials = match value {
                        Value::Bool(b) => *b,
                        Value::Number(n) => n.as_i64() == Some(1),
                        Value::String(s) => matches!(s.to_lowercase().as_str(), "true" | "1"),
                        _ => {
                            problems.push(wrong("true or false"));
                            continue;
                        }
                    }
                }
                "enabled" => match value.as_bool() {
                    Some(b) => settings.enabled = b,
                    None => problems.push(wrong("true or false")),
                },
                "host" => match value.as_str() {
                    Some(host) => settings.host = host.to_string(),
                    None => problems.push(wrong("an address such as \"127.0.0.1\"")),
                },
                "port" => match value.as_u64().and_then(|p| u16::try_from(p).ok()) {
                    Some(port) => settings.port = port,
                    None => problems.push(wrong("a port number 0-65535")),
                },
                "token_max_minutes" => match value.as_u64().filter(|m| (1..=525_600).contains(m)) {
                    Some(minutes) => settings.token_max = Duration::from_secs(minutes * 60),
                    None => problems.push(wrong("a number of minutes from 1 to 525600")),
                },
                "tls" => {
                    match crate::config::tls::block(
                        Some(value),
                        "api.tls",
                        DEFAULT_HTTPS_PORT,
                        config_path,
                    ) {
                        Ok(https) => settings.https = https,
                        Err(found) => problems.extend(found.iter().map(ToString::to_string)),
                    }
                }
                _ => log::warn!("api.{key}: unknown key, ignored"),
            }
        }
        if problems.is_empty() {
            Ok(settings)
        } else {
            Err(problems)
        }
    }
}

/// `users_db_path` (`~` expanded, relative to the configuration file), else
/// `USERS_DB_PATH`, else `users.db` beside the worklist database.
fn users_db_path(
    raw: &Map<String, Value>,
    config_path: &Path,
    db_path: &Path,
    problems: &mut Vec<String>,
) -> PathBuf {
    match raw.get("users_db_path") {
        Some(Value::String(text)) if !text.is_empty() => {
            return crate::config::paths::resolve(config_path, text)
        }
        None | Some(Value::Null) | Some(Value::String(_)) => {}
        Some(other) => problems.push(format!("users_db_path: expected a path, found {other}")),
    }
    if let Some(env) = std::env::var_os("USERS_DB_PATH").filter(|v| !v.is_empty()) {
        return crate::config::paths::expand_home(&env.to_string_lossy());
    }
    db_path
        .parent()
        .map(|dir| dir.join("users.db"))
        .unwrap_or_else(|| PathBuf::from("users.db"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cors_keys_are_read_as_python_reads_them() {
        let raw = serde_json::json!({"api": {
            "cors_allowed_origins": ["https://dash.example"],
            "cors_allow_credentials": "False",
            "cors_allow_methods": ["GET"],
        }});
        let raw = raw.as_object().cloned().unwrap_or_default();
        let settings =
            ApiSettings::from_config(&raw, Path::new("/etc/p/cfg.json"), Path::new("/d/wl.db"))
                .expect("valid");
        assert_eq!(settings.cors.origins, vec!["https://dash.example"]);
        assert!(!settings.cors.credentials);
        assert_eq!(settings.cors.methods, vec!["GET"]);
        assert_eq!(settings.cors.headers, vec!["*"]);
        assert_eq!(settings.users_db, PathBuf::from("/d/users.db"));
    }
}
