//! A fake REDCap project behind a [`FakeServer`], answering the API calls as
//! REDCap does: form-encoded POSTs with `token` and `content`; metadata as a
//! list of field definitions; flat JSON records with every value a string,
//! the repeat columns after the record id, `dateRangeBegin`/`dateRangeEnd` on
//! each record's last modification time; HTTP 403 with REDCap's JSON error
//! for a wrong token and HTTP 400 naming fields the project does not have.
//! Record imports (`action=import`, flat JSON) are checked against the
//! project's fields and answered `{"count": N}` (or, while a project set up
//! with [`FakeRedcap::imports_fail`] has failures left, HTTP 500 with a JSON
//! error); [`imported_rows`] reads them back from the server's request log.

use crate::http::{FakeServer, Reply, Request};
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// REDCap's answer text to a wrong token.
pub const FORBIDDEN: &str = "You do not have permissions to use the API";

/// A REDCap project: its fields (in project order) and its rows.
#[derive(Debug, Clone, Default)]
pub struct FakeRedcap {
    token: String,
    fields: Vec<(String, String, String)>,
    rows: Vec<Map<String, Value>>,
    modified: HashMap<String, String>,
    /// Rendered exports by columns and date range: the rows never change once
    /// served, so each export is rendered once (big projects stay cheap to serve).
    rendered: Arc<Mutex<HashMap<String, String>>>,
    /// Imports are answered only after this long (a hanging server).
    import_delay: Duration,
    /// How many more imports fail with HTTP 500.
    import_failures: Arc<AtomicUsize>,
}

impl FakeRedcap {
    /// An empty project whose API token is `token`.
    pub fn new(token: &str) -> FakeRedcap {
        FakeRedcap {
            token: token.to_string(),
            ..FakeRedcap::default()
        }
    }

    /// Adds a field (`field_name`, `form_name`, `field_type`); the first is the record id.
    pub fn field(mut self, name: &str, form: &str, field_type: &str) -> FakeRedcap {
        self.fields
            .push((name.to_string(), form.to_string(), field_type.to_string()));
        self
    }

    /// Adds text fields of one form.
    pub fn fields(mut self, form: &str, names: &[&str]) -> FakeRedcap {
        for name in names {
            self = self.field(name, form, "text");
        }
        self
    }

    /// Adds a row: a baseline row (no `redcap_repeat_instrument`) or a repeat
    /// row (`redcap_repeat_instrument` and `redcap_repeat_instance` set).
    pub fn row(mut self, values: &[(&str, &str)]) -> FakeRedcap {
        self.rows.push(
            values
                .iter()
                .map(|(k, v)| (k.to_string(), Value::String(v.to_string())))
                .collect(),
        );
        self
    }

    /// Adds many rows at once.
    pub fn rows(mut self, rows: Vec<Map<String, Value>>) -> FakeRedcap {
        self.rows.extend(rows);
        self
    }

    /// Keeps only the rows of the records `ids` (the others are deleted).
    pub fn rows_of_records(mut self, ids: &[&str]) -> FakeRedcap {
        let record_id = self.fields.first().map(|f| f.0.clone()).unwrap_or_default();
        self.rows.retain(|row| {
            row.get(&record_id)
                .and_then(Value::as_str)
                .is_some_and(|id| ids.contains(&id))
        });
        self
    }

    /// Sets a record's last modification time (`YYYY-MM-DD HH:MM:SS`).
    /// Records without one match every date range.
    pub fn modified(mut self, record_id: &str, when: &str) -> FakeRedcap {
        self.modified
            .insert(record_id.to_string(), when.to_string());
        self
    }

    /// Answers record imports only after `delay` (a hanging server).
    pub fn imports_hang(mut self, delay: Duration) -> FakeRedcap {
        self.import_delay = delay;
        self
    }

    /// Fails the next `count` record imports with HTTP 500 (a server that is
    /// down for a while); the imports after them succeed.
    pub fn imports_fail(self, count: usize) -> FakeRedcap {
        self.import_failures.store(count, Ordering::SeqCst);
        self
    }

    /// Serves the project on 127.0.0.1.
    pub fn serve(self) -> FakeServer {
        let project = Arc::new(self);
        FakeServer::start(move |request| project.answer(request))
    }

    /// Serves the project on `listener`.
    pub fn serve_on(self, listener: TcpListener) -> FakeServer {
        let project = Arc::new(self);
        FakeServer::on(listener, move |request| project.answer(request))
    }

    /// The answer REDCap gives to `request`.
    pub fn answer(&self, request: &Request) -> Reply {
        if request.method != "POST" {
            return error(405, "The API only accepts POST requests");
        }
        let form = request.form();
        let value = |key: &str| form.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str());
        if value("token") != Some(self.token.as_str()) {
            return error(403, FORBIDDEN);
        }
        match value("content") {
            Some("version") => Reply::raw(200, "text/html; charset=UTF-8", "14.5.10"),
            Some("metadata") => Reply::json(200, &self.metadata()),
            Some("record") if value("action") == Some("import") => {
                self.import(value("format"), value("type"), value("data"))
            }
            Some("record") if value("format") == Some("json") && value("type") == Some("flat") => {
                let requested: Vec<&str> = form
                    .iter()
                    .filter(|(k, _)| k.starts_with("fields["))
                    .map(|(_, v)| v.as_str())
                    .collect();
                self.records(&requested, value("dateRangeBegin"), value("dateRangeEnd"))
            }
            Some("record") => error(400, "This fake only exports format=json, type=flat"),
            _ => error(400, "The parameter \"content\" is missing or invalid"),
        }
    }

    /// A flat JSON import: every column must be a project field or a repeat column.
    fn import(&self, format: Option<&str>, kind: Option<&str>, data: Option<&str>) -> Reply {
        if format != Some("json") || kind != Some("flat") {
            return error(400, "This fake only imports format=json, type=flat");
        }
        let rows = match data.map(serde_json::from_str::<Vec<Map<String, Value>>>) {
            Some(Ok(rows)) => rows,
            _ => return error(400, "The data being imported is not formatted correctly"),
        };
        let repeat = ["redcap_repeat_instrument", "redcap_repeat_instance"];
        let unknown: Vec<String> = rows
            .iter()
            .flat_map(|row| row.keys())
            .filter(|k| !repeat.contains(&k.as_str()) && !self.fields.iter().any(|f| &f.0 == *k))
            .map(|k| format!("'{k}'"))
            .collect();
        if !unknown.is_empty() {
            return error(
                400,
                &format!(
                    "The following fields in the data are not valid: {}",
                    unknown.join(", ")
                ),
            );
        }
        let failing = self
            .import_failures
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        if failing {
            return error(500, "REDCap is down for maintenance");
        }
        Reply::json(200, &json!({ "count": rows.len() })).after(self.import_delay)
    }

    fn metadata(&self) -> Value {
        Value::Array(
            self.fields
                .iter()
                .map(|(name, form, field_type)| {
                    json!({
                        "field_name": name,
                        "form_name": form,
                        "field_type": field_type,
                        "field_label": name,
                        "select_choices_or_calculations": "",
                    })
                })
                .collect(),
        )
    }

    /// The export columns a project field yields (checkboxes: one per choice).
    fn columns_of(&self, name: &str, field_type: &str) -> Vec<String> {
        match field_type {
            "descriptive" => Vec::new(),
            "checkbox" => (1..=3).map(|code| format!("{name}___{code}")).collect(),
            _ => vec![name.to_string()],
        }
    }

    fn records(&self, requested: &[&str], begin: Option<&str>, end: Option<&str>) -> Reply {
        // Fields are asked for by field name; a checkbox by its name, not its choices.
        let known: Vec<&str> = self
            .fields
            .iter()
            .map(|(name, _, _)| name.as_str())
            .collect();
        let invalid: Vec<String> = requested
            .iter()
            .filter(|f| !known.contains(f))
            .map(|f| format!("'{f}'"))
            .collect();
        if !invalid.is_empty() {
            return error(
                400,
                &format!(
                    "The following values in the parameter \"fields\" are not valid: {}",
                    invalid.join(", ")
                ),
            );
        }
        let record_id = self.fields.first().map(|f| f.0.clone()).unwrap_or_default();
        let mut columns = Vec::new();
        for (name, _, field_type) in &self.fields {
            let wanted = requested.is_empty() || requested.contains(&name.as_str());
            if !wanted {
                continue;
            }
            columns.extend(self.columns_of(name, field_type));
            if *name == record_id {
                columns.push("redcap_repeat_instrument".to_string());
                columns.push("redcap_repeat_instance".to_string());
            }
        }
        let key = format!("{columns:?} {begin:?} {end:?}");
        let mut rendered = self.rendered.lock().expect("rendered exports");
        let body = rendered
            .entry(key)
            .or_insert_with(|| self.render(&columns, &record_id, begin, end));
        Reply::raw(200, "application/json", body.clone())
    }

    fn render(
        &self,
        columns: &[String],
        record_id: &str,
        begin: Option<&str>,
        end: Option<&str>,
    ) -> String {
        let in_range = |row: &Map<String, Value>| {
            let id = row
                .get(record_id)
                .and_then(Value::as_str)
                .unwrap_or_default();
            match self.modified.get(id) {
                None => true,
                Some(when) => {
                    begin.is_none_or(|b| when.as_str() >= b)
                        && end.is_none_or(|e| when.as_str() <= e)
                }
            }
        };
        let empty = Value::String(String::new());
        let mut body = String::from("[");
        for row in self.rows.iter().filter(|r| in_range(r)) {
            if body.len() > 1 {
                body.push(',');
            }
            body.push('{');
            for (i, column) in columns.iter().enumerate() {
                if i > 0 {
                    body.push(',');
                }
                body.push_str(&Value::String(column.clone()).to_string());
                body.push(':');
                body.push_str(&row.get(column).unwrap_or(&empty).to_string());
            }
            body.push('}');
        }
        body.push(']');
        body
    }
}

/// The rows of every record import the server received, in order.
pub fn imported_rows(server: &FakeServer) -> Vec<Map<String, Value>> {
    server
        .requests()
        .iter()
        .filter(|r| r.form_value("action").as_deref() == Some("import"))
        .filter_map(|r| r.form_value("data"))
        .filter_map(|data| serde_json::from_str::<Vec<Map<String, Value>>>(&data).ok())
        .flatten()
        .collect()
}

fn error(status: u16, message: &str) -> Reply {
    Reply::json(status, &json!({ "error": message }))
}
