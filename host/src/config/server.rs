//! The DICOM server's keys (`ip`, `port`, `ae_title`, `allowed_aet`, the
//! timeouts and limits, the per-source visibility windows, the `tls`
//! block), read into [`ServerOptions`]. [`super::check`] runs this with no flags, `start`
//! with its command line: both see the same problems.

use super::Problem;
use crate::dicom::transport::TlsListener;
use crate::dicom::ServerOptions;
use serde_json::{Map, Value};
use std::path::Path;

/// The command-line flags that override the configuration's keys.
#[derive(Debug, Clone, Default)]
pub struct Flags {
    /// `--ip`.
    pub ip: Option<String>,
    /// `--port`.
    pub port: Option<u16>,
    /// `--AEtitle`.
    pub ae_title: Option<String>,
}

/// The server's options: listening address and AE title from `flags`, else
/// the top-level `ip` / `port` / `ae_title`, else Python pylantir's defaults;
/// the rest from the configuration. Every problem is reported with its path.
pub fn options(raw: &Map<String, Value>, flags: &Flags) -> Result<ServerOptions, Vec<Problem>> {
    let mut problems = Vec::new();
    let mut text_key = |key: &str| match raw.get(key) {
        None => None,
        Some(Value::String(text)) => Some(text.clone()),
        Some(other) => {
            problems.push(Problem::new(key, Some(other), "must be a string"));
            None
        }
    };
    let ip = flags.ip.clone().or_else(|| text_key("ip"));
    let ae_title = flags.ae_title.clone().or_else(|| text_key("ae_title"));
    let port = flags.port.or_else(|| {
        let value = raw.get("port")?;
        let port = value.as_u64().and_then(|p| u16::try_from(p).ok());
        if port.is_none() {
            problems.push(Problem::new(
                "port",
                Some(value),
                "must be a port number 0-65535",
            ));
        }
        port
    });
    let options = ServerOptions::from_config(
        &Value::Object(raw.clone()),
        ae_title.as_deref().unwrap_or("MWL_SERVER"),
        ip.as_deref().unwrap_or("0.0.0.0"),
        port.unwrap_or(4242),
    );
    match options {
        Ok(options) if problems.is_empty() => Ok(options),
        Ok(_) => Err(problems),
        Err(more) => {
            problems.extend(more.iter().map(|text| problem(raw, text)));
            Err(problems)
        }
    }
}

/// The top-level `tls` block: the DICOM TLS listener (its files read and
/// checked, see [`super::tls`]) and whether the plain listener also runs.
/// Paths are relative to the configuration file `config_path`.
pub fn tls(
    raw: &Map<String, Value>,
    config_path: &Path,
) -> Result<(Option<TlsListener>, bool), Vec<Problem>> {
    let block = super::tls::block(
        raw.get("tls"),
        "tls",
        TlsListener::DEFAULT_PORT,
        config_path,
    )?;
    Ok(match block {
        Some(block) => (
            Some(TlsListener {
                port: block.port,
                files: block.files,
                config: block.config,
            }),
            block.plain,
        ),
        None => (None, true),
    })
}

/// A problem from [`ServerOptions::from_config`]'s `path: message` text,
/// with the value found at that path.
fn problem(raw: &Map<String, Value>, text: &str) -> Problem {
    match text.split_once(": ") {
        Some((path, message)) if !path.contains(' ') => {
            Problem::new(path, value_at(raw, path), message)
        }
        _ => Problem::new("", None, text),
    }
}

/// The value at a JSON path such as `data_sources[0].config.timezone`.
fn value_at<'a>(raw: &'a Map<String, Value>, path: &str) -> Option<&'a Value> {
    let mut current = None::<&Value>;
    let mut object = Some(raw);
    for segment in path.split('.') {
        let mut parts = segment.split('[');
        let key = parts.next()?;
        let mut value = object?.get(key)?;
        for index in parts {
            let index: usize = index.strip_suffix(']')?.parse().ok()?;
            value = value.get(index)?;
        }
        object = value.as_object();
        current = Some(value);
    }
    current
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_problem_carries_its_path_and_the_value_found_there() {
        let raw = json!({"data_sources": [{"window_mode": "weekly"}]});
        let raw = raw.as_object().expect("object");
        let found = problem(raw, "data_sources[0].window_mode: expected \"rolling\"");
        assert_eq!(found.path, "data_sources[0].window_mode");
        assert_eq!(found.value, Some(json!("weekly")));
        assert_eq!(found.message, "expected \"rolling\"");
    }

    fn windows(sources: Value) -> Vec<crate::dicom::options::WindowRule> {
        let raw = json!({ "data_sources": sources });
        options(raw.as_object().expect("object"), &Flags::default())
            .expect("valid")
            .windows
    }

    #[test]
    fn the_window_keys_at_a_sources_top_level_apply_to_any_type() {
        let rules = windows(json!([{"name": "c", "type": "csv",
            "daily_window": {"start_time": [7, 0], "end_time": [19, 0]}, "timezone": "Europe/Berlin"}]));
        assert_eq!(rules.len(), 1);
        assert_eq!(rules[0].source, "c");
        assert_eq!(rules[0].tz.iana_name(), Some("Europe/Berlin"));
    }

    #[test]
    fn keys_inside_a_csv_sources_config_are_not_read() {
        let rules = windows(json!([{"name": "c", "type": "csv",
            "config": {"window_mode": "today", "mwl_days_ahead": 2, "timezone": "Mars/Olympus"}}]));
        assert!(rules.is_empty());
    }

    #[test]
    fn pythons_spellings_are_read_under_config_for_redcap_and_calpendo() {
        use crate::dicom::options::WindowKind;
        let rules = windows(json!([
            {"name": "r", "type": "redcap", "config": {"mwl_days_ahead": 2}},
            {"name": "c", "type": "calpendo", "config": {"window_mode": "today"}},
        ]));
        assert_eq!(rules[0].kind, WindowKind::DaysAhead(2));
        assert_eq!(rules[1].kind, WindowKind::Today);
        assert_eq!(rules[1].tz.iana_name(), Some("America/Edmonton"));
    }
}
