//! The worker protocol: one JSON object per line.
//!
//! The worker speaks first, once: `{"hello":{"protocol":1,"host_version":..,
//! "api_version":..,"plugin":{..info..}}}`, with `"refused":"reason"` instead
//! when the plugin could not be loaded (the worker then exits). Then the host
//! sends requests with ids and the worker answers each in order:
//!
//! | request | answer `ok` |
//! |---|---|
//! | `{"id":1,"op":"new","source_type":"csv","source_name":"ward"}` | `{"incremental":false}` |
//! | `{"id":2,"op":"validate","config":{..}}` | `null` |
//! | `{"id":3,"op":"fetch","field_mapping":{..},"interval":360.0}` | the plugin's fetch answer as it produced it (entry array, or `{"entries":[..],"complete_window":..,"skipped":[..]}`) |
//! | `{"id":4,"op":"call","name":"op","payload":{..}}` | the plugin's answer |
//! | `{"id":5,"op":"cleanup"}` | `null` |
//!
//! A failure answers `{"id":N,"error":{"kind":2,"message":".."}}` (`kind` as
//! in [`pylantir_plugin_api::ErrorKind`]). The plugin's JSON is passed through
//! as raw text in both directions, never re-parsed by the worker.

use pylantir_plugin_api::PluginInfo;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

/// The protocol version in `hello`; a host refuses a worker speaking another.
pub const PROTOCOL_VERSION: u32 = 1;

/// The worker's first line.
#[derive(Debug, Serialize, Deserialize)]
pub struct HelloLine {
    pub hello: Hello,
}

/// What the worker says about itself and its plugin.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Hello {
    pub protocol: u32,
    pub host_version: String,
    pub api_version: String,
    /// The plugin's description, when it got that far.
    #[serde(default)]
    pub plugin: Option<PluginInfo>,
    /// Why the plugin was refused (the worker exits after saying so).
    #[serde(default)]
    pub refused: Option<String>,
}

/// A request, as the worker reads it. Payloads stay raw JSON text.
#[derive(Debug, Deserialize)]
pub struct Request {
    pub id: u64,
    pub op: String,
    #[serde(default)]
    pub source_type: Option<String>,
    #[serde(default)]
    pub source_name: Option<String>,
    #[serde(default)]
    pub config: Option<Box<RawValue>>,
    #[serde(default)]
    pub field_mapping: Option<Box<RawValue>>,
    #[serde(default)]
    pub interval: Option<f64>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub payload: Option<Box<RawValue>>,
}

/// An answer, as the host reads it.
#[derive(Debug, Deserialize)]
pub struct Response {
    pub id: u64,
    #[serde(default)]
    pub ok: Option<Box<RawValue>>,
    #[serde(default)]
    pub error: Option<ErrorBody>,
}

/// A failed request: the plugin's error kind and message.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ErrorBody {
    pub kind: u8,
    pub message: String,
}

/// A JSON string literal.
pub fn quote(text: &str) -> String {
    serde_json::Value::String(text.to_string()).to_string()
}

/// Writes the success answer around `raw` JSON text, as [`ok_line`] builds
/// it, without copying a large answer into a line first.
pub fn write_ok(out: &mut impl std::io::Write, id: u64, raw: &str) -> std::io::Result<()> {
    if raw.contains(['\n', '\r']) {
        return out.write_all(ok_line(id, raw).as_bytes());
    }
    out.write_all(format!("{{\"id\":{id},\"ok\":").as_bytes())?;
    out.write_all(raw.as_bytes())?;
    out.write_all(b"}\n")?;
    out.flush()
}

/// A success answer around `raw` JSON text, on one line. A raw line break can
/// only be whitespace in valid JSON, so it becomes a space.
pub fn ok_line(id: u64, raw: &str) -> String {
    let mut line = String::with_capacity(raw.len() + 24);
    line.push_str("{\"id\":");
    line.push_str(&id.to_string());
    line.push_str(",\"ok\":");
    if raw.contains(['\n', '\r']) {
        line.push_str(&raw.replace(['\n', '\r'], " "));
    } else {
        line.push_str(raw);
    }
    line.push_str("}\n");
    line
}

/// An error answer, on one line.
pub fn error_line(id: u64, kind: u8, message: &str) -> String {
    format!(
        "{{\"id\":{id},\"error\":{{\"kind\":{kind},\"message\":{}}}}}\n",
        quote(message)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ok_line_carries_the_raw_answer_unchanged() {
        let line = ok_line(7, r#"[{"patient_id":"P1"}]"#);
        assert_eq!(line, "{\"id\":7,\"ok\":[{\"patient_id\":\"P1\"}]}\n");
        let response: Response = serde_json::from_str(&line).unwrap();
        assert_eq!(response.id, 7);
        assert_eq!(response.ok.unwrap().get(), r#"[{"patient_id":"P1"}]"#);
    }

    #[test]
    fn a_written_ok_answer_is_the_ok_line() {
        for raw in [r#"[{"patient_id":"P1"}]"#, "[\n {\"a\": \"b\"}\n]"] {
            let mut out = Vec::new();
            write_ok(&mut out, 9, raw).unwrap();
            assert_eq!(String::from_utf8(out).unwrap(), ok_line(9, raw));
        }
    }

    #[test]
    fn line_breaks_in_a_pretty_answer_stay_on_one_line() {
        let line = ok_line(1, "[\n  {\"a\": \"b\"}\n]");
        assert_eq!(line.matches('\n').count(), 1);
        let response: Response = serde_json::from_str(&line).unwrap();
        assert!(response.ok.is_some());
    }

    #[test]
    fn an_error_line_quotes_the_message() {
        let line = error_line(3, 2, "bad \"file\"\nx");
        let response: Response = serde_json::from_str(&line).unwrap();
        let error = response.error.unwrap();
        assert_eq!((error.kind, error.message.as_str()), (2, "bad \"file\"\nx"));
    }
}
