//! The `config` object of a Calpendo source: reading and checking it, and its
//! JSON Schema. The username and password come from the environment.

use crate::mapping::{Mapping, RuleSpec};
use jiff::civil::Time;
use jiff::tz::TimeZone;
use plugin_config::{NonEmptyList, NotBlank, Ordered, Positive, Protocol, Text};
use pylantir_plugin_api::serde_json::Value;
use pylantir_plugin_api::tz;
use schemars::JsonSchema;
use serde::de::Error as _;
use serde::{Deserialize, Deserializer};
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
const MAX_PARALLEL: usize = 4;
/// Python pylantir's protocol name when none is configured.
const DEFAULT_PROTOCOL: &str = "DEFAULT_PROTOCOL";

/// The `config` object of a Calpendo source, as read and as published. The
/// username and password come from environment variables it names.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(expecting = "an object with at least base_url")]
#[schemars(title = "Calpendo source config")]
struct Settings {
    /// The Calpendo server, e.g. https://example.calpendo.com.
    base_url: BaseUrl,
    /// The path of the web API on the server.
    #[schemars(extend("default" = "/api"))]
    api_path: Option<String>,
    /// Environment variable holding the username.
    #[schemars(extend("default" = USERNAME_ENV))]
    username_env: Option<String>,
    /// Environment variable holding the password.
    #[schemars(extend("default" = PASSWORD_ENV))]
    password_env: Option<String>,
    /// The resources whose bookings are fetched (all when absent or empty).
    resources: Option<Vec<String>>,
    /// Only bookings in this status.
    status_filter: Option<String>,
    /// A rolling fetch looks back this many sync intervals.
    #[schemars(extend("default" = 2))]
    lookback_multiplier: Option<Positive>,
    /// IANA time zone of the booking times.
    #[schemars(extend("default" = TIMEZONE))]
    timezone: Option<String>,
    /// Resource name (or prefix) -> modality; the longest matching prefix wins.
    resource_modality_mapping: Option<Ordered<String>>,
    /// Which bookings a fetch asks for: rolling (back from now to 24 hours ahead) or today.
    #[schemars(extend("default" = "rolling"))]
    window_mode: Option<WindowModeName>,
    /// true: today; {start_time, end_time}: today between two clock times (overrides window_mode).
    daily_window: Option<DailyWindow>,
    /// Worklist field -> where its value is in a booking, used when the source has no field_mapping of its own.
    field_mapping: Option<Ordered<RuleSpec>>,
    /// Only bookings of these studies.
    allowed_studies: Option<NonEmptyList<NotBlank>>,
    /// Picks the protocol in an object-valued protocol.
    site: Option<Text>,
    /// Older spelling of site (site wins when both are given).
    site_id: Option<Text>,
    /// protocol_name of bookings whose field_mapping gives none (default DEFAULT_PROTOCOL).
    protocol: Option<Protocol>,
    /// How many requests a fetch makes at once (1 to 16).
    #[schemars(extend("default" = MAX_PARALLEL))]
    max_parallel_requests: Option<ParallelRequests>,
    /// Seconds to wait for a connection.
    #[schemars(extend("default" = CONNECT_TIMEOUT))]
    connect_timeout_seconds: Option<Positive<86_400>>,
    /// Seconds to wait for an answer.
    #[schemars(extend("default" = READ_TIMEOUT))]
    read_timeout_seconds: Option<Positive<86_400>>,
}

/// `base_url`: an http:// or https:// URL.
#[derive(Debug)]
struct BaseUrl(String);

impl<'de> Deserialize<'de> for BaseUrl {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match Value::deserialize(deserializer)? {
            Value::String(url) if url.starts_with("http://") || url.starts_with("https://") => {
                Ok(BaseUrl(url))
            }
            other => Err(D::Error::custom(format!(
                "must be the Calpendo server's URL, starting with http:// or https://, got {other}"
            ))),
        }
    }
}

plugin_config::fixed_schema!(BaseUrl, {"type": "string", "pattern": "^https?://"});

/// `max_parallel_requests`: a whole number from 1 to 16.
#[derive(Debug)]
struct ParallelRequests(usize);

impl<'de> Deserialize<'de> for ParallelRequests {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        match value.as_u64() {
            Some(n @ 1..=16) => Ok(ParallelRequests(n as usize)),
            _ => Err(D::Error::custom(format!(
                "must be a whole number from 1 to 16, got {value}"
            ))),
        }
    }
}

plugin_config::fixed_schema!(ParallelRequests, {"type": "integer", "minimum": 1, "maximum": 16});

/// `window_mode` as written.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
enum WindowModeName {
    Rolling,
    Today,
}

/// `daily_window` as written (as in Python pylantir).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(
    untagged,
    expecting = "true, false or {\"start_time\": [hour, minute], \"end_time\": [hour, minute]}"
)]
enum DailyWindow {
    /// true: today, midnight to midnight.
    Today(bool),
    /// Today from the start clock time to the end one.
    Clock { start_time: Clock, end_time: Clock },
}

/// A clock time written `[hour, minute]`.
#[derive(Debug)]
struct Clock(Time);

impl<'de> Deserialize<'de> for Clock {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        value
            .as_array()
            .filter(|hm| hm.len() == 2)
            .and_then(|hm| Some((hm[0].as_u64()?, hm[1].as_u64()?)))
            .filter(|(h, m)| *h < 24 && *m < 60)
            .and_then(|(h, m)| Time::new(h as i8, m as i8, 0, 0).ok())
            .map(Clock)
            .ok_or_else(|| D::Error::custom(format!("must be [hour, minute], got {value}")))
    }
}

plugin_config::fixed_schema!(Clock, {
    "type": "array",
    "prefixItems": [
        {"type": "integer", "minimum": 0, "maximum": 23},
        {"type": "integer", "minimum": 0, "maximum": 59}
    ],
    "minItems": 2,
    "maxItems": 2
});

impl Config {
    /// Reads `config`; credentials from the variables it names (or the defaults).
    pub fn from_json(config: &Value) -> Result<Config, String> {
        let settings: Settings = plugin_config::parse(config)?;
        let base_url = settings.base_url.0;
        let api_path = settings.api_path.unwrap_or_else(|| "/api".to_string());
        let api_base = format!(
            "{}/{}",
            base_url.trim_end_matches('/'),
            api_path.trim_matches('/')
        )
        .trim_end_matches('/')
        .to_string();
        let user_env = settings
            .username_env
            .unwrap_or_else(|| USERNAME_ENV.to_string());
        let pass_env = settings
            .password_env
            .unwrap_or_else(|| PASSWORD_ENV.to_string());
        let username = env_value(&user_env)?;
        let password = Secret(env_value(&pass_env)?);
        let timezone_name = settings.timezone.unwrap_or_else(|| TIMEZONE.to_string());
        let timezone = tz::get(&timezone_name).map_err(|e| {
            format!("config.timezone '{timezone_name}' is not a known IANA time zone: {e}")
        })?;
        let field_mapping = match settings.field_mapping {
            None => Mapping::default(),
            Some(specs) => Mapping::from_specs(specs, "config.field_mapping")?,
        };
        let window = match (settings.daily_window, settings.window_mode) {
            (
                Some(DailyWindow::Clock {
                    start_time,
                    end_time,
                }),
                _,
            ) => WindowMode::Daily(start_time.0, end_time.0),
            (Some(DailyWindow::Today(true)), _) | (_, Some(WindowModeName::Today)) => {
                WindowMode::Today
            }
            _ => WindowMode::Rolling,
        };
        let site = settings.site.or(settings.site_id).map(|site| site.0);
        let protocol_name = settings
            .protocol
            .and_then(|protocol| protocol.for_site(site.as_deref()))
            .filter(|name| !name.trim().is_empty())
            .unwrap_or_else(|| DEFAULT_PROTOCOL.to_string());
        let seconds = |value: Option<Positive<86_400>>, default| {
            Duration::from_secs_f64(value.map_or(default, |s| s.0))
        };
        Ok(Config {
            api_base,
            username,
            password,
            credentials_env: (user_env, pass_env),
            resources: settings.resources.unwrap_or_default(),
            status_filter: settings.status_filter.filter(|s| !s.is_empty()),
            lookback_multiplier: settings.lookback_multiplier.map_or(2.0, |m| m.0),
            timezone,
            timezone_name,
            resource_modality: settings
                .resource_modality_mapping
                .map(|map| map.0)
                .unwrap_or_default(),
            window,
            field_mapping,
            allowed_studies: settings.allowed_studies.map(|studies| {
                studies
                    .0
                    .into_iter()
                    .map(|s| s.0.trim().to_string())
                    .collect()
            }),
            max_parallel_requests: settings.max_parallel_requests.map_or(MAX_PARALLEL, |n| n.0),
            protocol_name,
            connect_timeout: seconds(settings.connect_timeout_seconds, CONNECT_TIMEOUT),
            read_timeout: seconds(settings.read_timeout_seconds, READ_TIMEOUT),
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
    plugin_config::schema::<Settings>()
}

#[cfg(test)]
mod tests {
    use super::*;
    use plugin_config::testing::{assert_agree, example_configs};
    use pylantir_plugin_api::serde_json::json;

    #[test]
    fn the_parser_and_the_published_schema_agree_on_examples_and_bad_configs() {
        let mut good = example_configs("calpendo");
        assert!(!good.is_empty(), "the repository has calpendo examples");
        good.push((
            "every key".to_string(),
            json!({"base_url": "https://example.calpendo.com", "api_path": "/webdav",
                   "username_env": "U", "password_env": "P", "resources": ["3T Prisma"],
                   "status_filter": "Approved", "lookback_multiplier": 0.5,
                   "timezone": "Europe/Berlin", "resource_modality_mapping": {"3T": "MR"},
                   "window_mode": "today", "daily_window": {"start_time": [18, 0], "end_time": [6, 30]},
                   "field_mapping": {"patient_id": {"source_field": "title",
                       "_extract": {"pattern": "([A-Z0-9]+)_", "group": 1}},
                       "study_description": "properties.project.formattedName"},
                   "allowed_studies": ["BRISKP"], "site": 792, "site_id": null,
                   "protocol": {"792": "BRAIN"}, "max_parallel_requests": 16,
                   "connect_timeout_seconds": 1, "read_timeout_seconds": 30, "unknown": 1}),
        ));
        let bad = [
            json!({}),
            json!({"base_url": "example.calpendo.com"}),
            json!({"base_url": "https://c", "resources": "3T"}),
            json!({"base_url": "https://c", "lookback_multiplier": 0}),
            json!({"base_url": "https://c", "resource_modality_mapping": {"3T": 1}}),
            json!({"base_url": "https://c", "window_mode": "weekly"}),
            json!({"base_url": "https://c", "daily_window": "night"}),
            json!({"base_url": "https://c", "daily_window": {"start_time": [24, 0], "end_time": [6, 0]}}),
            json!({"base_url": "https://c", "daily_window": {"start_time": [8, 0]}}),
            json!({"base_url": "https://c", "field_mapping": {"patient_id": 3}}),
            json!({"base_url": "https://c", "field_mapping": {"patient_id": {"_extract": {"group": 1}}}}),
            json!({"base_url": "https://c", "allowed_studies": []}),
            json!({"base_url": "https://c", "allowed_studies": [" "]}),
            json!({"base_url": "https://c", "site": [792]}),
            json!({"base_url": "https://c", "protocol": 7}),
            json!({"base_url": "https://c", "max_parallel_requests": 17}),
            json!({"base_url": "https://c", "read_timeout_seconds": -1}),
        ];
        let parse = |config: &Value| plugin_config::parse::<Settings>(config).map(drop);
        assert_agree(&schema(), parse, &good, &bad);
    }

    #[test]
    fn a_protocol_name_applies_to_every_site_and_a_map_to_the_configured_one() {
        // PATH is set wherever tests run: it stands in for the credentials.
        let config = |extra: Value| {
            let mut config = json!({"base_url": "https://c", "username_env": "PATH",
                                    "password_env": "PATH"});
            config
                .as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            Config::from_json(&config).unwrap().protocol_name
        };
        assert_eq!(config(json!({"protocol": "BRAIN"})), "BRAIN");
        assert_eq!(
            config(json!({"protocol": {"792": "BRAIN"}, "site_id": 792})),
            "BRAIN"
        );
        assert_eq!(
            config(json!({"protocol": {"792": "BRAIN"}})),
            DEFAULT_PROTOCOL
        );
    }
}
