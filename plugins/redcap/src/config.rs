//! The `config` object of a REDCap source: reading and checking it, and its
//! JSON Schema. Credentials come from the environment, never from the file.

use crate::identity::{Template, DEFAULT_PATIENT_ID, DEFAULT_PATIENT_NAME};
use pylantir_plugin_api::serde_json::{json, Map, Value};
use std::fmt;
use std::time::Duration;

/// The API token. Never printed: `Debug` shows `***`, and [`Token::redact`]
/// scrubs it from any text that leaves the plugin.
#[derive(Clone)]
pub struct Token(String);

impl Token {
    /// The token, for the request body only.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// `text` with every occurrence of the token replaced by `***`.
    pub fn redact(&self, text: &str) -> String {
        if self.0.is_empty() {
            text.to_string()
        } else {
            text.replace(&self.0, "***")
        }
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// `config.protocol`: one protocol name, or a map site -> name (plus
/// `mapping`, the coding scheme designator).
#[derive(Debug, Clone, PartialEq)]
pub enum Protocol {
    None,
    Name(String),
    BySite(Map<String, Value>),
}

/// A checked REDCap source configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub api_url: String,
    pub token: Token,
    /// The variable the token came from (named in messages).
    pub token_env: String,
    pub site: String,
    pub protocol: Protocol,
    pub patient_name: Template,
    pub patient_id: Template,
    /// The repeating instrument whose rows are visits (`mri`).
    pub instrument: String,
    /// How many days ahead a scanner sees items (used by the DICOM side).
    pub mwl_days_ahead: u64,
    pub connect_timeout: Duration,
    pub read_timeout: Duration,
    /// How often a fetch exports every record instead of the recently
    /// modified ones, and so may say it is complete (`full_export_every_hours`).
    pub full_export_every: Option<Duration>,
    /// The visit field and values that mean the visit is called off.
    pub discontinued: Option<Discontinued>,
    /// The field written for each MPPS outcome (`write_back`).
    pub write_back: Option<crate::write_back::WriteBack>,
}

/// `config.discontinued`: a visit whose `field` holds one of `values` is
/// sent as DISCONTINUED.
#[derive(Debug, Clone, PartialEq)]
pub struct Discontinued {
    pub field: String,
    pub values: Vec<String>,
}

/// Default environment variables for the credentials.
pub const URL_ENV: &str = "REDCAP_API_URL";
pub const TOKEN_ENV: &str = "REDCAP_API_TOKEN";
const CONNECT_TIMEOUT: f64 = 10.0;
const READ_TIMEOUT: f64 = 120.0;

impl Config {
    /// Reads `config`; credentials from the variables it names (or the defaults).
    pub fn from_json(config: &Value) -> Result<Config, String> {
        let empty = Map::new();
        let obj = match config {
            Value::Object(obj) => obj,
            Value::Null => &empty,
            other => return Err(format!("config must be an object, got {other}")),
        };
        let url_env = string_key(obj, "api_url_env")?.unwrap_or_else(|| URL_ENV.to_string());
        let token_env = string_key(obj, "api_token_env")?.unwrap_or_else(|| TOKEN_ENV.to_string());
        let api_url = env_value(&url_env, "api_url_env")?;
        if !(api_url.starts_with("http://") || api_url.starts_with("https://")) {
            return Err(format!(
                "the REDCap API URL in {url_env} must start with http:// or https://"
            ));
        }
        let token = Token(env_value(&token_env, "api_token_env")?);
        let patient_name = template_key(obj, "patient_name_template", DEFAULT_PATIENT_NAME)?;
        let patient_id = template_key(obj, "patient_id_template", DEFAULT_PATIENT_ID)?;
        let site = match obj.get("site").or_else(|| obj.get("site_id")) {
            None | Some(Value::Null) => String::new(),
            Some(Value::String(s)) => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            Some(other) => return Err(format!("config.site must be a string, got {other}")),
        };
        if site.is_empty() && (patient_name.uses("site") || patient_id.uses("site")) {
            return Err(
                "config.site (or config.site_id) is required: the patient templates use {site}"
                    .to_string(),
            );
        }
        let protocol = match obj.get("protocol") {
            None | Some(Value::Null) => Protocol::None,
            Some(Value::String(s)) => Protocol::Name(s.clone()),
            Some(Value::Object(map)) => Protocol::BySite(map.clone()),
            Some(other) => {
                return Err(format!(
                    "config.protocol must be a protocol name or a map site -> name, got {other}"
                ))
            }
        };
        let instrument = string_key(obj, "repeat_instrument")?.unwrap_or_else(|| "mri".to_string());
        if instrument.is_empty() {
            return Err("config.repeat_instrument must not be empty".to_string());
        }
        let mwl_days_ahead = match obj.get("mwl_days_ahead") {
            None | Some(Value::Null) => 0,
            Some(value) => value.as_u64().ok_or_else(|| {
                format!("config.mwl_days_ahead must be a whole number of days >= 0, got {value}")
            })?,
        };
        Ok(Config {
            api_url,
            token,
            token_env,
            site,
            protocol,
            patient_name,
            patient_id,
            instrument,
            mwl_days_ahead,
            connect_timeout: seconds_key(obj, "connect_timeout_seconds", CONNECT_TIMEOUT)?,
            read_timeout: seconds_key(obj, "read_timeout_seconds", READ_TIMEOUT)?,
            full_export_every: full_export_every(obj)?,
            discontinued: discontinued(obj)?,
            write_back: crate::write_back::parse(obj)?,
        })
    }

    /// The protocol name for this site, if configured.
    pub fn protocol_name(&self) -> Option<String> {
        match &self.protocol {
            Protocol::None => None,
            Protocol::Name(name) => Some(name.clone()),
            Protocol::BySite(map) => map.get(&self.site).and_then(text),
        }
    }

    /// The coding scheme designator (`protocol.mapping`), if configured.
    pub fn coding_designator(&self) -> Option<String> {
        match &self.protocol {
            Protocol::BySite(map) => map.get("mapping").and_then(text),
            _ => None,
        }
    }
}

fn text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn string_key(obj: &Map<String, Value>, key: &str) -> Result<Option<String>, String> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(format!("config.{key} must be a string, got {other}")),
    }
}

fn template_key(obj: &Map<String, Value>, key: &str, default: &str) -> Result<Template, String> {
    let text = string_key(obj, key)?.unwrap_or_else(|| default.to_string());
    Template::parse(&text).map_err(|e| format!("config.{key}: {e}"))
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

/// `config.full_export_every_hours`: a number of hours > 0, or absent.
fn full_export_every(obj: &Map<String, Value>) -> Result<Option<Duration>, String> {
    match obj.get("full_export_every_hours") {
        None | Some(Value::Null) => Ok(None),
        Some(value) => value
            .as_f64()
            .filter(|h| h.is_finite() && *h > 0.0 && *h <= 24.0 * 365.0)
            .map(|h| Some(Duration::from_secs_f64(h * 3600.0)))
            .ok_or_else(|| {
                format!("config.full_export_every_hours must be a number of hours > 0, got {value}")
            }),
    }
}

/// `config.discontinued`: `{"field": "mri_status", "values": ["cancelled"]}`.
fn discontinued(obj: &Map<String, Value>) -> Result<Option<Discontinued>, String> {
    let rule = match obj.get("discontinued") {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Object(rule)) => rule,
        Some(other) => {
            return Err(format!(
                "config.discontinued must be {{\"field\": name, \"values\": [..]}}, got {other}"
            ))
        }
    };
    let field = string_key(rule, "field")
        .map_err(|e| e.replace("config.", "config.discontinued."))?
        .filter(|f| !f.is_empty())
        .ok_or("config.discontinued.field must name a REDCap field")?;
    let values = match rule.get("values") {
        Some(Value::Array(values)) if !values.is_empty() => values
            .iter()
            .enumerate()
            .map(|(i, v)| {
                text(v).ok_or_else(|| {
                    format!("config.discontinued.values[{i}] must be a non-empty string, got {v}")
                })
            })
            .collect::<Result<Vec<_>, _>>()?,
        other => {
            return Err(format!(
                "config.discontinued.values must be a non-empty list of values, got {}",
                other.map_or("nothing".to_string(), Value::to_string)
            ))
        }
    };
    Ok(Some(Discontinued { field, values }))
}

fn env_value(var: &str, key: &str) -> Result<String, String> {
    match std::env::var(var) {
        Ok(value) if !value.trim().is_empty() => Ok(value.trim().to_string()),
        _ => Err(format!(
            "environment variable {var} is not set (it is read because of config.{key} or its default)"
        )),
    }
}

/// The JSON Schema of a REDCap source's `config`.
pub fn schema() -> Value {
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "REDCap source config",
        "type": "object",
        "properties": {
            "site": {"type": ["string", "integer"], "description": "Site id, used by {site} and to pick the protocol"},
            "site_id": {"type": ["string", "integer"], "description": "Older spelling of site"},
            "protocol": {
                "description": "A protocol name, or a map site -> protocol name with an optional 'mapping' (coding scheme designator)",
                "oneOf": [
                    {"type": "string"},
                    {"type": "object", "additionalProperties": {"type": "string"}}
                ]
            },
            "api_url_env": {"type": "string", "default": URL_ENV, "description": "Environment variable holding the API URL"},
            "api_token_env": {"type": "string", "default": TOKEN_ENV, "description": "Environment variable holding the API token"},
            "patient_name_template": {"type": "string", "default": DEFAULT_PATIENT_NAME},
            "patient_id_template": {"type": "string", "default": DEFAULT_PATIENT_ID},
            "repeat_instrument": {"type": "string", "minLength": 1, "default": "mri"},
            "mwl_days_ahead": {"type": "integer", "minimum": 0, "default": 0},
            "connect_timeout_seconds": {"type": "number", "exclusiveMinimum": 0, "maximum": 86400, "default": CONNECT_TIMEOUT},
            "read_timeout_seconds": {"type": "number", "exclusiveMinimum": 0, "maximum": 86400, "default": READ_TIMEOUT},
            "full_export_every_hours": {
                "type": "number", "exclusiveMinimum": 0,
                "description": "Export every record this often (else only recently modified ones); a full export retracts visits gone from the project"
            },
            "discontinued": {
                "type": "object",
                "description": "A visit whose field holds one of the values is sent as DISCONTINUED",
                "properties": {
                    "field": {"type": "string", "minLength": 1},
                    "values": {"type": "array", "minItems": 1, "items": {"type": ["string", "integer"]}}
                },
                "required": ["field", "values"]
            },
            "write_back": {
                "type": "object",
                "description": "MPPS write-back (the source's mpps_write_back): the field and value imported into the visit's record for each outcome status",
                "properties": {
                    "field_map": {
                        "type": "object",
                        "propertyNames": {"enum": ["IN_PROGRESS", "COMPLETED", "DISCONTINUED"]},
                        "additionalProperties": {
                            "type": "object",
                            "properties": {
                                "field": {"type": "string", "minLength": 1},
                                "value": {"type": ["string", "number"]}
                            },
                            "required": ["field", "value"]
                        }
                    }
                },
                "required": ["field_map"]
            }
        }
    })
}
