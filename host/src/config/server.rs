//! The DICOM server's keys (`ip`, `port`, `ae_title`, `allowed_aet`, the
//! timeouts and limits, the per-source visibility windows, the `tls`
//! block), read into [`ServerOptions`]. [`super::check`] runs this with no flags, `start`
//! with its command line: both see the same problems.

use super::{paths, Problem};
use crate::dicom::transport::TlsListener;
use crate::dicom::ServerOptions;
use crate::tls::ServerFiles;
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

/// The keys of the `tls` block.
const TLS_KEYS: [&str; 5] = ["port", "cert", "key", "client_ca", "plain"];

/// The `tls` block: the TLS listener (its files read and checked now, so a
/// missing, unreadable, expired or mismatched file is a problem naming it)
/// and whether the plain listener also runs. Paths are relative to the
/// configuration file `config_path`.
pub fn tls(
    raw: &Map<String, Value>,
    config_path: &Path,
) -> Result<(Option<TlsListener>, bool), Vec<Problem>> {
    let Some(value) = raw.get("tls") else {
        return Ok((None, true));
    };
    let Some(block) = value.as_object() else {
        return Err(vec![Problem::new(
            "tls",
            Some(value),
            "must be an object with cert and key",
        )]);
    };
    let mut problems = Vec::new();
    for key in block.keys().filter(|k| !TLS_KEYS.contains(&k.as_str())) {
        problems.push(Problem::new(
            format!("tls.{key}"),
            block.get(key),
            format!("unknown key (known: {})", TLS_KEYS.join(", ")),
        ));
    }
    let mut file = |key: &str, required: bool| match block.get(key) {
        Some(Value::String(text)) if !text.trim().is_empty() => {
            Some(paths::resolve(config_path, text))
        }
        None if !required => None,
        other => {
            problems.push(Problem::new(
                format!("tls.{key}"),
                other,
                "must be the path of a PEM file",
            ));
            None
        }
    };
    let cert = file("cert", true);
    let key = file("key", true);
    let client_ca = file("client_ca", false);
    let port = match block.get("port") {
        None => Some(TlsListener::DEFAULT_PORT),
        Some(value) => {
            let port = value.as_u64().and_then(|p| u16::try_from(p).ok());
            if port.is_none() {
                problems.push(Problem::new(
                    "tls.port",
                    Some(value),
                    "must be a port number 0-65535",
                ));
            }
            port
        }
    };
    let plain = match block.get("plain") {
        None => true,
        Some(Value::Bool(plain)) => *plain,
        Some(other) => {
            problems.push(Problem::new(
                "tls.plain",
                Some(other),
                "must be true or false",
            ));
            true
        }
    };
    let (Some(cert), Some(key), Some(port)) = (cert, key, port) else {
        return Err(problems);
    };
    if !problems.is_empty() {
        return Err(problems);
    }
    let files = ServerFiles {
        cert,
        key,
        client_ca,
    };
    TlsListener::load(port, files.clone())
        .map(|listener| (Some(listener), plain))
        .map_err(|e| {
            let key = match &e.file {
                Some(file) if Some(file) == files.client_ca.as_ref() => "client_ca",
                Some(file) if *file == files.key => "key",
                _ => "cert",
            };
            vec![Problem::new(
                format!("tls.{key}"),
                block.get(key),
                e.message,
            )]
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
