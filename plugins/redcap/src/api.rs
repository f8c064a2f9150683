//! The REDCap API calls: form-encoded POSTs to the API URL, answered in JSON.
//! Every failure becomes a message that says what went wrong (refused token,
//! bad field, server error, timeout, not JSON) and never carries the token.

use crate::config::{Config, Token};
use crate::rows::{read_rows, RowsError};
use pylantir_plugin_api::messages::{body_excerpt, error_chain};
use pylantir_plugin_api::serde_json::{self, Map, Value};
use reqwest::blocking::{Client, Response};
use std::io::{self, Read};
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
    /// in `range` (`YYYY-MM-DD HH:MM:SS`, begin and end), read while it
    /// arrives: each row goes to `each` as the cells of `columns` (see
    /// [`read_rows`]). Returns the number of rows.
    pub fn records(
        &self,
        fields: &[String],
        range: Option<(String, String)>,
        columns: &[String],
        each: &mut dyn FnMut(Vec<String>) -> Result<(), String>,
    ) -> Result<usize, String> {
        let mut params = vec![("type".to_string(), "flat".to_string())];
        for (i, field) in fields.iter().enumerate() {
            params.push((format!("fields[{i}]"), field.clone()));
        }
        if let Some((begin, end)) = range {
            params.push(("dateRangeBegin".to_string(), begin));
            params.push(("dateRangeEnd".to_string(), end));
        }
        let mut body = Head::new(self.send("record", "export", &params)?);
        match read_rows(&mut body, columns, each) {
            Ok(rows) => Ok(rows),
            Err(RowsError::Stopped(message)) => Err(message),
            Err(RowsError::Read(error)) => Err(self.read_error("record", "export", error)),
            Err(RowsError::NotRows(why)) => Err(self.token.redact(&format!(
                "REDCap at {} answered the record export with something that is not a JSON list of records ({why}); it begins: {}",
                self.url,
                body_excerpt(&body.text())
            ))),
        }
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
        self.send(content, action, extra)?
            .text()
            .map_err(|e| self.transport_error(content, action, &e))
    }

    /// POSTs `content` with `extra` parameters; the 2xx answer, its body
    /// not read yet.
    fn send(
        &self,
        content: &str,
        action: &str,
        extra: &[(String, String)],
    ) -> Result<Response, String> {
        let mut form: Vec<(&str, &str)> = vec![
            ("token", self.token.expose()),
            ("content", content),
            ("format", "json"),
            ("returnFormat", "json"),
        ];
        form.extend(extra.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        let response = self
            .client
            .post(&self.url)
            .form(&form)
            .send()
            .map_err(|e| self.transport_error(content, action, &e))?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let body = response
            .text()
            .map_err(|e| self.transport_error(content, action, &e))?;
        Err(self
            .token
            .redact(&self.status_error(content, action, status.as_u16(), &body)))
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

    /// Reading a body failed: the transport error when reqwest says why.
    fn read_error(&self, content: &str, action: &str, error: io::Error) -> String {
        match error
            .get_ref()
            .and_then(|e| e.downcast_ref::<reqwest::Error>())
        {
            Some(error) => self.transport_error(content, action, error),
            None => self.token.redact(&format!(
                "the {content} {action} from REDCap at {} failed: {}",
                self.url,
                error_chain(&error)
            )),
        }
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

/// A body being read, with its first [`Head::KEPT`] bytes kept for messages.
struct Head {
    response: Response,
    head: Vec<u8>,
}

impl Head {
    const KEPT: usize = 16 * 1024;

    fn new(response: Response) -> Head {
        Head {
            response,
            head: Vec::new(),
        }
    }

    /// The first bytes of the body, reading on up to [`Head::KEPT`] of them
    /// (or what can be read), as text.
    fn text(&mut self) -> String {
        let mut rest = Vec::new();
        let wanted = Head::KEPT.saturating_sub(self.head.len()) as u64;
        // What could not be read is simply not shown.
        let _ = (&mut self.response).take(wanted).read_to_end(&mut rest);
        self.head.extend_from_slice(&rest);
        String::from_utf8_lossy(&self.head).into_owned()
    }
}

impl Read for Head {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.response.read(buf)?;
        let keep = n.min(Head::KEPT.saturating_sub(self.head.len()));
        self.head.extend_from_slice(&buf[..keep]);
        Ok(n)
    }
}
