//! The REDCap API calls: form-encoded POSTs to the API URL, answered in JSON.
//! Every failure becomes a message that says what went wrong (refused token,
//! bad field, server error, timeout, not JSON) and never carries the token.

use crate::config::{Config, Token};
use crate::table::Table;
use pylantir_plugin_api::messages::{body_excerpt, error_chain};
use pylantir_plugin_api::serde_json::{self, Map, Value};
use reqwest::blocking::Client;
use std::time::Duration;

/// One object of a JSON list answer (a metadata field definition).
type Row = Map<String, Value>;

/// A field of the project, from its metadata.
#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    pub name: String,
    pub field_type: String,
}

/// A connection to one REDCap project.
pub struct Api {
    client: Client,
    url: String,
    token: Token,
    token_env: String,
    read_timeout: Duration,
}

impl Api {
    /// A client for the project `config` names.
    pub fn new(config: &Config) -> Result<Api, String> {
        let client = Client::builder()
            .connect_timeout(config.connect_timeout)
            .timeout(config.read_timeout)
            .build()
            .map_err(|e| format!("could not set up the HTTP client: {e}"))?;
        Ok(Api {
            client,
            url: config.api_url.clone(),
            token: config.token.clone(),
            token_env: config.token_env.clone(),
            read_timeout: config.read_timeout,
        })
    }

    /// The project's fields, in project order (`content=metadata`).
    pub fn metadata(&self) -> Result<Vec<Field>, String> {
        let body = self.post("metadata", "export", &[])?;
        Ok(self
            .parse_list("metadata", &body)?
            .into_iter()
            .filter_map(|f| {
                let name = f.get("field_name")?.as_str()?.to_string();
                let field_type = f
                    .get("field_type")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string();
                Some(Field { name, field_type })
            })
            .collect())
    }

    /// The flat export of `fields`, optionally limited to records modified
    /// in `range` (`YYYY-MM-DD HH:MM:SS`, begin and end).
    pub fn records(
        &self,
        fields: &[String],
        range: Option<(String, String)>,
    ) -> Result<Table, String> {
        let mut params = vec![("type".to_string(), "flat".to_string())];
        for (i, field) in fields.iter().enumerate() {
            params.push((format!("fields[{i}]"), field.clone()));
        }
        if let Some((begin, end)) = range {
            params.push(("dateRangeBegin".to_string(), begin));
            params.push(("dateRangeEnd".to_string(), end));
        }
        let body = self.post("record", "export", &params)?;
        Table::parse(&body).map_err(|why| {
            self.token.redact(&format!(
                "REDCap at {} answered the record export with something that is not a JSON list of records ({why}); it begins: {}",
                self.url,
                body_excerpt(&body)
            ))
        })
    }

    /// Imports one value into a record (`content=record`, `action=import`,
    /// flat JSON): `row` holds the record id field, the repeat columns when
    /// the record is a repeat instance, and the field with its value.
    /// REDCap's answer (`{"count": 1}`).
    pub fn import(&self, row: &Map<String, Value>) -> Result<Value, String> {
        let data = Value::Array(vec![Value::Object(row.clone())]).to_string();
        let params = [
            ("action".to_string(), "import".to_string()),
            ("type".to_string(), "flat".to_string()),
            ("overwriteBehavior".to_string(), "normal".to_string()),
            ("returnContent".to_string(), "count".to_string()),
            ("data".to_string(), data),
        ];
        let body = self.post("record", "import", &params)?;
        serde_json::from_str(&body).map_err(|e| {
            self.token.redact(&format!(
                "REDCap at {} answered the record import with something that is not JSON ({e}); it begins: {}",
                self.url,
                body_excerpt(&body)
            ))
        })
    }

    /// POSTs `content` with `extra` parameters; the body of a 2xx answer.
    /// `action` (export, import) names the call in messages.
    fn post(
        &self,
        content: &str,
        action: &str,
        extra: &[(String, String)],
    ) -> Result<String, String> {
        let mut form: Vec<(&str, &str)> = vec![
            ("token", self.token.expose()),
            ("content", content),
            ("format", "json"),
            ("returnFormat", "json"),
        ];
        form.extend(extra.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        let result = self
            .client
            .post(&self.url)
            .form(&form)
            .send()
            .and_then(|response| {
                let status = response.status();
                response.text().map(|body| (status, body))
            });
        let (status, body) = result.map_err(|e| self.transport_error(content, action, &e))?;
        if status.is_success() {
            Ok(body)
        } else {
            Err(self
                .token
                .redact(&self.status_error(content, action, status.as_u16(), &body)))
        }
    }

    /// The body as a JSON list of objects.
    fn parse_list(&self, content: &str, body: &str) -> Result<Vec<Row>, String> {
        let not_json = |why: String| {
            self.token.redact(&format!(
                "REDCap at {} answered the {content} export with something that is not a JSON list ({why}); it begins: {}",
                self.url,
                body_excerpt(body)
            ))
        };
        match serde_json::from_str(body) {
            Ok(Value::Array(items)) => Ok(items
                .into_iter()
                .filter_map(|item| match item {
                    Value::Object(row) => Some(row),
                    _ => None,
                })
                .collect()),
            Ok(_) => Err(not_json("a JSON value of another kind".to_string())),
            Err(e) => Err(not_json(e.to_string())),
        }
    }

    fn transport_error(&self, content: &str, action: &str, error: &reqwest::Error) -> String {
        let message = if error.is_timeout() {
            format!(
                "REDCap at {} did not answer the {content} {action} within {} s (config.read_timeout_seconds)",
                self.url,
                self.read_timeout.as_secs_f64()
            )
        } else if error.is_connect() {
            format!(
                "could not connect to REDCap at {}: {}",
                self.url,
                error_chain(error)
            )
        } else {
            format!(
                "the {content} {action} from REDCap at {} failed: {}",
                self.url,
                error_chain(error)
            )
        };
        self.token.redact(&message)
    }

    fn status_error(&self, content: &str, action: &str, status: u16, body: &str) -> String {
        let said = serde_json::from_str::<Value>(body)
            .ok()
            .and_then(|v| v.get("error").and_then(Value::as_str).map(str::to_string));
        match (status, said) {
            (403, Some(text)) => format!(
                "REDCap at {} refused the API token from {} (HTTP 403): {text}",
                self.url, self.token_env
            ),
            (403, None) => format!(
                "REDCap at {} refused the API token from {} (HTTP 403)",
                self.url, self.token_env
            ),
            (400, Some(text)) => format!(
                "REDCap at {} rejected the {content} {action} (HTTP 400): {text}",
                self.url
            ),
            (500..=599, said) => format!(
                "REDCap at {} failed with a server error (HTTP {status}) on the {content} {action}: {}",
                self.url,
                said.unwrap_or_else(|| body_excerpt(body))
            ),
            (_, said) => format!(
                "REDCap at {} answered the {content} {action} with HTTP {status}: {}",
                self.url,
                said.unwrap_or_else(|| body_excerpt(body))
            ),
        }
    }
}
