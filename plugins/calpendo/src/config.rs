//! The `config` object of a Calpendo source: reading and checking it, and its
//! JSON Schema. The username and password come from the environment.

use crate::mapping::Mapping;
use jiff::civil::Time;
use jiff::tz::TimeZone;
use pylantir_plugin_api::serde_json::{json, Map, Value};
use pylantir_plugin_api::{log, tz};
use std::fmt;
use std::time::Duration;

/// A secret (the password): `Debug` shows `***`; [`Secret::redact`] scrubs it.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    /// The secret, for the Authorization header only.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// `text` with every occurrence of the secret replaced by `***`.
    pub fn redact(&self, text: &str) -> String {
        if self.0.is_empty() {
            text.to_string()
        } else {
            text.replace(&self.0, "***")
        }
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// Which bookings a fetch asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowMode {
    /// From `interval * lookback_multiplier` ago to 24 hours ahead.
    Rolling,
    /// Today, local midnight to midnight, in the source's time zone.
    Today,
    /// `daily_window`: today from the start clock time to the end one; an
    /// end at or before the start is tomorrow (18:00-06:00 spans the night).
    Daily(Time, Time),
}

/// A checked Calpendo source configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// `base_url` + `api_path`, without a trailing slash.
    pub api_base: String,
    pub username: String,
    pub password: Secret,
    /// The variables the credentials came from (named in messages).
    pub credentials_env: (String, String),
    pub resources: Vec<String>,
    pub status_filter: Option<String>,
    pub lookback_multiplier: f64,
    pub timezone: TimeZone,
    pub timezone_name: String,
    /// Resource name (or prefix) -> modality.
    pub resource_modality: Vec<(String, String)>,
    pub window: WindowMode,
    /// The mapping in `config.field_mapping`, used when the source's own is empty.
    pub field_mapping: Mapping,
    pub allowed_studies: Option<Vec<String>>,
    pub max_parallel_requests: usize,
    /// The `protocol_name` of bookings whose mapping gives none: as Python
    /// pylantir, `config.protocol[config.site]`, else `DEFAULT_PROTOCOL`.
    pub protocol_name: String,
    pub connect_timeout: Duration,
    pub read_timeout: Duration,
}

pub const USERNAME_ENV: &str = "CALPENDO_USERNAME";
pub const PASSWORD_ENV: &str = "CALPENDO_PASSWORD";
const TIMEZONE: &str = "America/Edmonton";
const CONNECT_TIMEOUT: f64 = 10.0;
const READ_TIMEOUT: f64 = 30.0;
const MAX_PARALLEL: u64 = 4;
/// Python pylantir's protocol name when none is configured.
const DEFAULT_PROTOCOL: &str = "DEFAULT_PROTOCOL";

impl Config {
    /// Reads `config`; credentials from the variables it names (or the defaults).
    pub fn from_json(config: &Value) -> Result<Config, String> {
        let obj = config
            .as_object()
            .ok_or_else(|| format!("config must be an object, got {config}"))?;
        let base_url = string_key(obj, "base_url")?
            .filter(|s| !s.is_empty())
            .ok_or(
            "config.base_url is required (the Calpendo server, e.g. https://example.calpendo.com)",
        )?;
        if !(base_url.starts_with("http://") || base_url.starts_with("https://")) {
            return Err(format!(
                "config.base_url must start with http:// or https://, got '{base_url}'"
            ));
        }
        let api_path = string_key(obj, "api_path")?.unwrap_or_else(|| "/api".to_string());
        let api_base = format!(
            "{}/{}",
            base_url.trim_end_matches('/'),
            api_path.trim_matches('/')
        )
        .trim_end_matches('/')
        .to_string();
        let user_env = string_key(obj, "username_env")?.unwrap_or_else(|| USERNAME_ENV.to_string());
        let pass_env = string_key(obj, "password_env")?.unwrap_or_else(|| PASSWORD_ENV.to_string());
        let username = env_value(&user_env)?;
        let password = Secret(env_value(&pass_env)?);
        let resources = match obj.get("resources") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(items)) => items
                .iter()
                .map(|item| item.as_str().map(str::to_string))
                .collect::<Option<Vec<_>>>()
                .ok_or("config.resources must be a list of resource names")?,
            Some(other) => {
                return Err(format!(
                    "config.resources must be a list of resource names, got {other}"
                ))
            }
        };
        let lookback_multiplier = match obj.get("lookback_multiplier") {
            None | Some(Value::Null) => 2.0,
            Some(value) => value
                .as_f64()
                .filter(|m| m.is_finite() && *m > 0.0)
                .ok_or_else(|| {
                    format!("config.lookback_multiplier must be a positive number, got {value}")
                })?,
        };
        let timezone_name = string_key(obj, "timezone")?.unwrap_or_else(|| TIMEZONE.to_string());
        let timezone = tz::get(&timezone_name).map_err(|e| {
            format!("config.timezone '{timezone_name}' is not a known IANA time zone: {e}")
        })?;
        let resource_modality = match obj.get("resource_modality_mapping") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Object(map)) => map
                .iter()
                .map(|(k, v)| v.as_str().map(|m| (k.clone(), m.to_string())))
                .collect::<Option<Vec<_>>>()
                .ok_or(
                    "config.resource_modality_mapping must map resource names to modality strings",
                )?,
            Some(other) => {
                return Err(format!(
                    "config.resource_modality_mapping must be an object, got {other}"
                ))
            }
        };
        let field_mapping = match obj.get("field_mapping") {
            None | Some(Value::Null) => Mapping::default(),
            Some(Value::Object(map)) => Mapping::parse(map, "config.field_mapping")?,
            Some(other) => {
                return Err(format!(
                    "config.field_mapping must be an object, got {other}"
                ))
            }
        };
        let allowed_studies = match obj.get("allowed_studies") {
            None | Some(Value::Null) => None,
            Some(Value::Array(items)) => {
                let studies: Vec<String> = items
                    .iter()
                    .filter_map(Value::as_str)
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect();
                if studies.is_empty() || studies.len() != items.len() {
                    return Err(
                        "config.allowed_studies must be a non-empty list of study names"
                            .to_string(),
                    );
                }
                Some(studies)
            }
            Some(other) => {
                return Err(format!(
                    "config.allowed_studies must be a list, got {other}"
                ))
            }
        };
        let max_parallel_requests = match obj.get("max_parallel_requests") {
            None | Some(Value::Null) => MAX_PARALLEL,
            Some(value) => value
                .as_u64()
                .filter(|n| (1..=16).contains(n))
                .ok_or_else(|| format!("config.max_parallel_requests must be a whole number from 1 to 16, got {value}"))?,
        } as usize;
        Ok(Config {
            api_base,
            username,
            password,
            credentials_env: (user_env, pass_env),
            resources,
            status_filter: string_key(obj, "status_filter")?.filter(|s| !s.is_empty()),
            lookback_multiplier,
            timezone,
            timezone_name,
            resource_modality,
            window: window_mode(obj)?,
            field_mapping,
            allowed_studies,
            max_parallel_requests,
            protocol_name: protocol_name(obj)?,
            connect_timeout: seconds_key(obj, "connect_timeout_seconds", CONNECT_TIMEOUT)?,
            read_timeout: seconds_key(obj, "read_timeout_seconds", READ_TIMEOUT)?,
        })
    }

    /// The modality of a resource: exact name, else the longest matching prefix.
    pub fn modality_of(&self, resource: &str) -> Option<&str> {
        if let Some((_, modality)) = self
            .resource_modality
            .iter()
            .find(|(name, _)| name == resource)
        {
            return Some(modality);
        }
        self.resource_modality
            .iter()
            .filter(|(prefix, _)| resource.starts_with(prefix.as_str()))
            .max_by_key(|(prefix, _)| prefix.len())
            .map(|(_, modality)| modality.as_str())
    }

    /// One message per pair of `resource_modality_mapping` keys where one
    /// is a prefix of the other with another modality: this plugin takes the
    /// longest prefix, Python pylantir took the first key in the file.
    pub fn prefix_overlaps(&self) -> Vec<String> {
        let mut messages = Vec::new();
        for (short, short_modality) in &self.resource_modality {
            for (long, long_modality) in &self.resource_modality {
                if long != short
                    && long.starts_with(short.as_str())
                    && long_modality != short_modality
                {
                    messages.push(format!(
                        "config.resource_modality_mapping: '{short}' ({short_modality}) is a prefix of '{long}' ({long_modality}); \
                         resources starting with '{long}' get {long_modality} (the longest prefix wins), \
                         where Python pylantir 0.4 took the key that comes first in the file"
                    ));
                }
            }
        }
        messages
    }
}

/// `protocol` (a name, or an object site -> name) and `site` / `site_id`.
fn protocol_name(obj: &Map<String, Value>) -> Result<String, String> {
    let site = match obj.get("site").or_else(|| obj.get("site_id")) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        Some(other) => {
            return Err(format!(
                "config.site must be a string or a number, got {other}"
            ))
        }
    };
    let name = match obj.get("protocol") {
        None | Some(Value::Null) => None,
        Some(Value::String(name)) => Some(name.clone()),
        Some(Value::Object(by_site)) => site
            .and_then(|site| by_site.get(&site))
            .and_then(Value::as_str)
            .map(str::to_string),
        Some(other) => {
            return Err(format!(
                "config.protocol must be a protocol name or an object site -> protocol name, got {other}"
            ))
        }
    };
    Ok(name
        .filter(|n| !n.trim().is_empty())
        .unwrap_or_else(|| DEFAULT_PROTOCOL.to_string()))
}

/// `window_mode` (`rolling` | `today`) and `daily_window` (as in Python
/// pylantir: `true` means today, clock times a daily window).
fn window_mode(obj: &Map<String, Value>) -> Result<WindowMode, String> {
    let daily = match obj.get("daily_window") {
        None | Some(Value::Null) | Some(Value::Bool(false)) => None,
        Some(Value::Bool(true)) => Some(WindowMode::Today),
        Some(Value::Object(window)) => {
            let clock = |key: &str| {
                window
                    .get(key)
                    .and_then(Value::as_array)
                    .filter(|hm| hm.len() == 2)
                    .and_then(|hm| Some((hm[0].as_u64()?, hm[1].as_u64()?)))
                    .filter(|(h, m)| *h < 24 && *m < 60)
                    .and_then(|(h, m)| Time::new(h as i8, m as i8, 0, 0).ok())
                    .ok_or_else(|| format!("config.daily_window.{key} must be [hour, minute]"))
            };
            Some(WindowMode::Daily(clock("start_time")?, clock("end_time")?))
        }
        Some(other) => {
            return Err(format!(
                "config.daily_window must be {{\"start_time\": [h, m], \"end_time\": [h, m]}}, got {other}"
            ))
        }
    };
    let mode = match string_key(obj, "window_mode")?.as_deref() {
        None | Some("rolling") => WindowMode::Rolling,
        Some("today") => WindowMode::Today,
        Some(other) => {
            log::warn!(
                "config.window_mode '{other}' is neither 'rolling' nor 'today'; using 'rolling'"
            );
            WindowMode::Rolling
        }
    };
    Ok(daily.unwrap_or(mode))
}

fn string_key(obj: &Map<String, Value>, key: &str) -> Result<Option<String>, String> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(format!("config.{key} must be a string, got {other}")),
    }
}

fn seconds_key(obj: &Map<String, Value>, key: &str, default: f64) -> Result<Duration, String> {
    let seconds = match obj.get(key) {
        None | Some(Value::Null) => default,
        Some(value) => value
            .as_f64()
            .filter(|s| s.is_finite() && *s > 0.0 && *s <= 86_400.0)
            .ok_or_else(|| format!("config.{key} must be a number of seconds > 0, got {value}"))?,
    };
    Ok(Duration::from_secs_f64(seconds))
}

fn env_value(var: &str) -> Result<String, String> {
    match std::env::var(var) {
        Ok(value) if !value.is_empty() => Ok(value),
        _ => Err(format!(
            "environment variable {var} is not set (Calpendo credentials)"
        )),
    }
}

/// The JSON Schema of a Calpendo source's `config`.
pub fn schema() -> Value {
    let hour_minute = json!({"type": "array", "items": {"type": "integer", "minimum": 0}, "minItems": 2, "maxItems": 2});
    let rule = json!({
        "oneOf": [
            {"type": "string", "description": "Dotted path into the booking JSON"},
            {"type": "object", "required": ["source_field"], "properties": {
                "source_field": {"type": "string"},
                "_extract": {"type": "object", "required": ["pattern"], "properties": {
                    "pattern": {"type": "string", "format": "regex"},
                    "group": {"type": "integer", "minimum": 0, "default": 0}
                }}
            }}
        ]
    });
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "Calpendo source config",
        "type": "object",
        "required": ["base_url"],
        "properties": {
            "base_url": {"type": "string", "pattern": "^https?://"},
            "api_path": {"type": "string", "default": "/api"},
            "username_env": {"type": "string", "default": USERNAME_ENV},
            "password_env": {"type": "string", "default": PASSWORD_ENV},
            "resources": {"type": "array", "items": {"type": "string"}},
            "status_filter": {"type": "string"},
            "lookback_multiplier": {"type": "number", "exclusiveMinimum": 0, "default": 2},
            "timezone": {"type": "string", "default": TIMEZONE, "description": "IANA time zone of the booking times"},
            "resource_modality_mapping": {"type": "object", "additionalProperties": {"type": "string"}},
            "window_mode": {"enum": ["rolling", "today"], "default": "rolling"},
            "daily_window": {"oneOf": [
                {"type": "boolean"},
                {"type": "object", "required": ["start_time", "end_time"],
                 "properties": {"start_time": hour_minute, "end_time": hour_minute}}
            ]},
            "field_mapping": {"type": "object", "additionalProperties": rule},
            "allowed_studies": {"type": "array", "items": {"type": "string"}, "minItems": 1},
            "site": {"type": ["string", "integer"], "description": "Picks the protocol in an object-valued protocol"},
            "site_id": {"type": ["string", "integer"], "description": "Same as site"},
            "protocol": {"oneOf": [
                {"type": "string"},
                {"type": "object", "additionalProperties": {"type": "string"}, "description": "site -> protocol name"}
            ], "description": "protocol_name of bookings whose field_mapping gives none (default DEFAULT_PROTOCOL)"},
            "max_parallel_requests": {"type": "integer", "minimum": 1, "maximum": 16, "default": MAX_PARALLEL},
            "connect_timeout_seconds": {"type": "number", "exclusiveMinimum": 0, "maximum": 86400, "default": CONNECT_TIMEOUT},
            "read_timeout_seconds": {"type": "number", "exclusiveMinimum": 0, "maximum": 86400, "default": READ_TIMEOUT}
        }
    })
}
