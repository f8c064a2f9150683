//! The `config` object of a REDCap source: reading and checking it, and its
//! JSON Schema. Credentials come from the environment, never from the file.

use crate::identity::{Template, DEFAULT_PATIENT_ID, DEFAULT_PATIENT_NAME};
use plugin_config::{NonEmpty, NonEmptyList, NonEmptyText, Positive, Protocol, Text};
use pylantir_plugin_api::serde_json::{json, Value};
use schemars::JsonSchema;
use serde::Deserialize;
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

/// The `config` object of a REDCap source, as read and as published.
/// Credentials come from environment variables it names, never from the file.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(expecting = "an object")]
#[schemars(title = "REDCap source config")]
struct Settings {
    /// Site id, used by {site} and to pick the protocol.
    site: Option<Text>,
    /// Older spelling of site (site wins when both are given).
    site_id: Option<Text>,
    /// A protocol name, or a map site -> protocol name with an optional
    /// 'mapping' (coding scheme designator).
    protocol: Option<Protocol>,
    /// Environment variable holding the API URL.
    #[schemars(extend("default" = URL_ENV))]
    api_url_env: Option<String>,
    /// Environment variable holding the API token.
    #[schemars(extend("default" = TOKEN_ENV))]
    api_token_env: Option<String>,
    /// The patient name, from record fields in braces and {site}.
    #[schemars(extend("default" = DEFAULT_PATIENT_NAME))]
    patient_name_template: Option<String>,
    /// The patient id, from record fields in braces and {site}.
    #[schemars(extend("default" = DEFAULT_PATIENT_ID))]
    patient_id_template: Option<String>,
    /// The repeating instrument whose rows are visits.
    #[schemars(extend("default" = INSTRUMENT))]
    repeat_instrument: Option<NonEmpty>,
    /// How many days ahead a scanner sees items.
    #[schemars(extend("default" = 0))]
    mwl_days_ahead: Option<u64>,
    /// Seconds to wait for a connection.
    #[schemars(extend("default" = CONNECT_TIMEOUT))]
    connect_timeout_seconds: Option<Positive<86_400>>,
    /// Seconds to wait for an answer.
    #[schemars(extend("default" = READ_TIMEOUT))]
    read_timeout_seconds: Option<Positive<86_400>>,
    /// Export every record this often (else only recently modified ones); a
    /// full export retracts visits gone from the project.
    full_export_every_hours: Option<Positive<{ 24 * 365 }>>,
    /// A visit whose field holds one of the values is sent as DISCONTINUED.
    discontinued: Option<Discontinued>,
    /// MPPS write-back (the source's mpps_write_back): the field and value
    /// imported into the visit's record for each outcome status.
    write_back: Option<crate::write_back::WriteBack>,
}

/// A checked REDCap source configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub api_url: String,
    pub token: Token,
    /// The variable the token came from (named in messages).
    pub token_env: String,
    pub site: String,
    pub protocol: Option<Protocol>,
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
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
pub struct Discontinued {
    /// The REDCap field of the visit.
    pub field: NonEmpty,
    /// The values of that field that call the visit off.
    pub values: NonEmptyList<NonEmptyText>,
}

/// Default environment variables for the credentials.
pub const URL_ENV: &str = "REDCAP_API_URL";
pub const TOKEN_ENV: &str = "REDCAP_API_TOKEN";
const CONNECT_TIMEOUT: f64 = 10.0;
const READ_TIMEOUT: f64 = 120.0;
const INSTRUMENT: &str = "mri";

impl Config {
    /// Reads `config`; credentials from the variables it names (or the defaults).
    pub fn from_json(config: &Value) -> Result<Config, String> {
        let settings: Settings = match config {
            Value::Null => plugin_config::parse(&json!({}))?,
            config => plugin_config::parse(config)?,
        };
        let url_env = settings.api_url_env.unwrap_or_else(|| URL_ENV.to_string());
        let token_env = settings
            .api_token_env
            .unwrap_or_else(|| TOKEN_ENV.to_string());
        let api_url = env_value(&url_env, "api_url_env")?;
        if !(api_url.starts_with("http://") || api_url.starts_with("https://")) {
            return Err(format!(
                "the REDCap API URL in {url_env} must start with http:// or https://"
            ));
        }
        let token = Token(env_value(&token_env, "api_token_env")?);
        let patient_name = template(
            settings.patient_name_template,
            "patient_name_template",
            DEFAULT_PATIENT_NAME,
        )?;
        let patient_id = template(
            settings.patient_id_template,
            "patient_id_template",
            DEFAULT_PATIENT_ID,
        )?;
        let site = settings
            .site
            .or(settings.site_id)
            .map(|site| site.0)
            .unwrap_or_default();
        if site.is_empty() && (patient_name.uses("site") || patient_id.uses("site")) {
            return Err(
                "config.site (or config.site_id) is required: the patient templates use {site}"
                    .to_string(),
            );
        }
        let seconds = |value: Option<Positive<86_400>>, default| {
            Duration::from_secs_f64(value.map_or(default, |s| s.0))
        };
        Ok(Config {
            api_url,
            token,
            token_env,
            site,
            protocol: settings.protocol,
            patient_name,
            patient_id,
            instrument: settings
                .repeat_instrument
                .map_or_else(|| INSTRUMENT.to_string(), |i| i.0),
            mwl_days_ahead: settings.mwl_days_ahead.unwrap_or(0),
            connect_timeout: seconds(settings.connect_timeout_seconds, CONNECT_TIMEOUT),
            read_timeout: seconds(settings.read_timeout_seconds, READ_TIMEOUT),
            full_export_every: settings
                .full_export_every_hours
                .map(|hours| Duration::from_secs_f64(hours.0 * 3600.0)),
            discontinued: settings.discontinued,
            write_back: settings.write_back,
        })
    }

    /// The protocol name for this site, if configured.
    pub fn protocol_name(&self) -> Option<String> {
        self.protocol.as_ref()?.for_site(Some(&self.site))
    }

    /// The coding scheme designator (`protocol.mapping`), if configured.
    pub fn coding_designator(&self) -> Option<String> {
        match &self.protocol {
            Some(by_site @ Protocol::BySite(_)) => by_site.for_site(Some("mapping")),
            _ => None,
        }
    }
}

/// The template given for `key`, else `default`, checked.
fn template(given: Option<String>, key: &str, default: &str) -> Result<Template, String> {
    let text = given.unwrap_or_else(|| default.to_string());
    Template::parse(&text).map_err(|e| format!("config.{key}: {e}"))
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
    plugin_config::schema::<Settings>()
}

#[cfg(test)]
mod tests {
    use super::*;
    use plugin_config::testing::{assert_agree, example_configs};

    #[test]
    fn the_parser_and_the_published_schema_agree_on_examples_and_bad_configs() {
        let mut good = example_configs("redcap");
        assert!(!good.is_empty(), "the repository has redcap examples");
        good.extend([
            (
                "a converted legacy file".to_string(),
                json!({"site": null, "protocol": {}}),
            ),
            (
                "every key".to_string(),
                json!({"site": 792, "site_id": "792", "protocol": "BRAIN",
                       "api_url_env": "URL", "api_token_env": "TOKEN",
                       "patient_name_template": "{family_id}", "patient_id_template": "{study_id}",
                       "repeat_instrument": "scan", "mwl_days_ahead": 2,
                       "connect_timeout_seconds": 0.5, "read_timeout_seconds": 86400,
                       "full_export_every_hours": 24,
                       "discontinued": {"field": "mri_status", "values": ["3", 4]},
                       "write_back": {"field_map": {"COMPLETED": {"field": "mri_status", "value": 2}}},
                       "unknown": true}),
            ),
        ]);
        let bad = [
            json!([]),
            json!({"site": true}),
            json!({"protocol": 7}),
            json!({"protocol": {"792": ["BRAIN"]}}),
            json!({"api_url_env": 3}),
            json!({"repeat_instrument": ""}),
            json!({"mwl_days_ahead": -1}),
            json!({"connect_timeout_seconds": 0}),
            json!({"read_timeout_seconds": 86401}),
            json!({"full_export_every_hours": "daily"}),
            json!({"discontinued": {"field": "mri_status"}}),
            json!({"discontinued": {"field": "", "values": ["3"]}}),
            json!({"discontinued": {"field": "mri_status", "values": []}}),
            json!({"discontinued": {"field": "mri_status", "values": [""]}}),
            json!({"write_back": {}}),
            json!({"write_back": {"field_map": {}}}),
            json!({"write_back": {"field_map": {"DONE": {"field": "x", "value": "1"}}}}),
            json!({"write_back": {"field_map": {"COMPLETED": {"field": "x"}}}}),
        ];
        let parse = |config: &Value| plugin_config::parse::<Settings>(config).map(drop);
        assert_agree(&schema(), parse, &good, &bad);
    }

    #[test]
    fn an_error_names_the_key_at_fault() {
        let config = json!({"discontinued": {"field": "mri_status", "values": ["3", ""]}});
        assert_eq!(
            plugin_config::parse::<Settings>(&config).map(drop),
            Err(
                "config.discontinued.values[1]: must be a non-empty string or a number, got \"\""
                    .to_string()
            )
        );
    }
}
