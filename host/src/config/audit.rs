//! `audit_log`: the audit file (a path, or an object with `path`,
//! `rotate_mb`, `rotate_daily` and `syslog`), read into
//! [`AuditSettings`]. The file's directory must exist and be writable.

use super::{paths, Problem};
use crate::audit::syslog::{Format, SyslogSettings, Target};
use crate::audit::{Audit, AuditSettings, Rotation};
use serde_json::{Map, Value};
use std::path::{Path, PathBuf};

/// The audit settings of the configuration file `config_path` (`None` when
/// `audit_log` is not set), or every problem with its JSON path.
pub fn settings(
    raw: &Map<String, Value>,
    config_path: &Path,
) -> Result<Option<AuditSettings>, Vec<Problem>> {
    let (settings, problems) = read(raw, config_path);
    if problems.iter().any(Problem::is_error) {
        return Err(problems);
    }
    Ok(settings)
}

/// The problems of `audit_log`, warnings included (for `check`).
pub fn problems(raw: &Map<String, Value>, config_path: &Path) -> Vec<Problem> {
    read(raw, config_path).1
}

/// The audit trail the configuration asks for: started when `audit_log` is
/// set (an unwritable file is an error naming it), off otherwise.
pub fn open(raw: &Map<String, Value>, config_path: &Path) -> Result<Audit, String> {
    match settings(raw, config_path) {
        Ok(Some(settings)) => Audit::start(&settings),
        Ok(None) => Ok(Audit::off()),
        Err(problems) => Err(super::ConfigError::Invalid {
            path: config_path.to_path_buf(),
            problems,
        }
        .to_string()),
    }
}

/// The audit file `audit_log` names, resolved, without any check (for
/// reading the trail back).
pub fn path(raw: &Map<String, Value>, config_path: &Path) -> Option<PathBuf> {
    let text = match raw.get("audit_log")? {
        Value::String(path) => path,
        Value::Object(object) => object.get("path")?.as_str()?,
        _ => return None,
    };
    Some(paths::resolve(config_path, text))
}

fn read(raw: &Map<String, Value>, config_path: &Path) -> (Option<AuditSettings>, Vec<Problem>) {
    let Some(value) = raw.get("audit_log") else {
        return (None, Vec::new());
    };
    let mut problems = Vec::new();
    let empty = Map::new();
    let (path, object) = match value {
        Value::String(path) => (Some(path.as_str()), &empty),
        Value::Object(object) => match object.get("path") {
            Some(Value::String(path)) => (Some(path.as_str()), object),
            other => {
                problems.push(Problem::new(
                    "audit_log.path",
                    other,
                    "must be the audit file's path (a string)",
                ));
                (None, object)
            }
        },
        other => {
            problems.push(Problem::new(
                "audit_log",
                Some(other),
                "must be the audit file's path, or an object with `path`",
            ));
            return (None, problems);
        }
    };
    for key in object.keys() {
        if !["path", "rotate_mb", "rotate_daily", "syslog"].contains(&key.as_str()) {
            problems.push(Problem::warning(
                format!("audit_log.{key}"),
                object.get(key),
                "is not a pylantir setting; it has no effect",
            ));
        }
    }
    let max_bytes = match object.get("rotate_mb") {
        None => None,
        Some(value) => match value.as_u64().filter(|mb| *mb > 0) {
            Some(mb) => Some(mb.saturating_mul(1024 * 1024)),
            None => {
                problems.push(Problem::new(
                    "audit_log.rotate_mb",
                    Some(value),
                    "must be a whole number of megabytes > 0",
                ));
                None
            }
        },
    };
    let daily = match object.get("rotate_daily") {
        None => false,
        Some(Value::Bool(daily)) => *daily,
        Some(other) => {
            problems.push(Problem::new(
                "audit_log.rotate_daily",
                Some(other),
                "must be true or false",
            ));
            false
        }
    };
    let syslog = object
        .get("syslog")
        .and_then(|value| syslog(value, &mut problems));
    let path = path.map(|p| paths::resolve(config_path, p));
    if let Some(path) = &path {
        if let Err(message) = writable(path) {
            problems.push(Problem::new("audit_log", Some(value), message));
        }
    }
    let settings = path.map(|path| AuditSettings {
        path,
        rotation: Rotation { max_bytes, daily },
        syslog,
    });
    (settings, problems)
}

fn syslog(value: &Value, problems: &mut Vec<Problem>) -> Option<SyslogSettings> {
    let Some(object) = value.as_object() else {
        problems.push(Problem::new(
            "audit_log.syslog",
            Some(value),
            "must be an object with `address` (and optionally `format`)",
        ));
        return None;
    };
    let address = object.get("address");
    let target = match address.and_then(Value::as_str) {
        Some(text) => match text.split_once(':') {
            Some(("unix", path)) if !path.is_empty() => Some(Target::Unix(PathBuf::from(path))),
            Some(("udp", to)) if to.contains(':') => Some(Target::Udp(to.to_string())),
            Some(("tcp", to)) if to.contains(':') => Some(Target::Tcp(to.to_string())),
            _ => None,
        },
        None => None,
    };
    if target.is_none() {
        problems.push(Problem::new(
            "audit_log.syslog.address",
            address,
            "must be \"unix:/dev/log\", \"udp:HOST:PORT\" or \"tcp:HOST:PORT\"",
        ));
    }
    let format = match object.get("format").map(|f| (f, f.as_str())) {
        None | Some((_, Some("xml"))) => Some(Format::Xml),
        Some((_, Some("json"))) => Some(Format::Json),
        Some((value, _)) => {
            problems.push(Problem::new(
                "audit_log.syslog.format",
                Some(value),
                "must be \"xml\" (the DICOM PS3.15 A.5 message) or \"json\"",
            ));
            None
        }
    };
    for key in object
        .keys()
        .filter(|k| !["address", "format"].contains(&k.as_str()))
    {
        problems.push(Problem::warning(
            format!("audit_log.syslog.{key}"),
            object.get(key),
            "is not a pylantir setting; it has no effect",
        ));
    }
    Some(SyslogSettings {
        target: target?,
        format: format?,
    })
}

/// Whether the audit file can be appended to: its directory exists and
/// takes a new file, and the file itself (if present) opens for appending.
fn writable(path: &Path) -> Result<(), String> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    if !dir.is_dir() {
        return Err(format!(
            "the audit file's directory {} does not exist; create it",
            dir.display()
        ));
    }
    if path.exists() {
        return std::fs::OpenOptions::new()
            .append(true)
            .open(path)
            .map(drop)
            .map_err(|e| format!("cannot append to the audit file {}: {e}", path.display()));
    }
    let probe = dir.join(format!(".pylantir-audit-check-{}", std::process::id()));
    match std::fs::File::create(&probe) {
        Ok(_) => {
            let _ = std::fs::remove_file(&probe);
            Ok(())
        }
        Err(e) => Err(format!(
            "cannot create the audit file in {}: {e}",
            dir.display()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn read(value: Value, config: &Path) -> Result<Option<AuditSettings>, Vec<Problem>> {
        let raw = json!({ "audit_log": value });
        settings(raw.as_object().expect("object"), config)
    }

    #[test]
    fn a_relative_audit_log_is_taken_from_the_config_directory() {
        let dir = tempfile::tempdir().unwrap();
        let found = read(json!("audit.jsonl"), &dir.path().join("cfg.json"))
            .unwrap()
            .unwrap();
        assert_eq!(found.path, dir.path().join("audit.jsonl"));
        assert_eq!(found.rotation, Rotation::default());
    }

    #[test]
    fn a_missing_directory_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let problems = read(json!("no/audit.jsonl"), &dir.path().join("cfg.json")).unwrap_err();
        assert_eq!(problems[0].path, "audit_log");
        assert!(
            problems[0].message.contains("/no does not exist"),
            "{}",
            problems[0]
        );
    }

    #[test]
    fn the_object_form_reads_rotation_and_syslog() {
        let dir = tempfile::tempdir().unwrap();
        let found = read(
            json!({"path": "a.jsonl", "rotate_mb": 2, "rotate_daily": true,
                   "syslog": {"address": "udp:127.0.0.1:514", "format": "json"}}),
            &dir.path().join("cfg.json"),
        )
        .unwrap()
        .unwrap();
        assert_eq!(found.rotation.max_bytes, Some(2 * 1024 * 1024));
        assert!(found.rotation.daily);
        assert_eq!(
            found.syslog,
            Some(SyslogSettings {
                target: Target::Udp("127.0.0.1:514".into()),
                format: Format::Json
            })
        );
    }

    #[test]
    fn bad_syslog_keys_are_errors_with_their_paths() {
        let dir = tempfile::tempdir().unwrap();
        let problems = read(
            json!({"path": "a.jsonl", "syslog": {"address": "514", "format": "yaml"}}),
            &dir.path().join("cfg.json"),
        )
        .unwrap_err();
        let paths: Vec<&str> = problems.iter().map(|p| p.path.as_str()).collect();
        assert_eq!(
            paths,
            ["audit_log.syslog.address", "audit_log.syslog.format"]
        );
    }
}
