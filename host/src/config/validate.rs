//! Validation of a configuration document: every problem is collected, each
//! with the JSON path of the key and the value found there.

use super::{
    paths, ClockTime, Config, CrashLimits, Document, Isolation, SourceConfig, Window,
    DEFAULT_FETCH_TIMEOUT,
};
use crate::source::SourceFactory;
use pylantir_plugin_api::WORKLIST_FIELDS;
use serde_json::{Map, Value};
use std::fmt;
use std::time::Duration;

/// How bad a [`Problem`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// The configuration cannot be used: `start` and `check-config` refuse it.
    Error,
    /// The entry has no effect (or a questionable one); the configuration is
    /// used. `check-config --strict` refuses it.
    Warning,
}

/// One thing wrong in a configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    /// The JSON path of the offending key, e.g. `data_sources[1].sync_interval`.
    pub path: String,
    /// The value found there (`None` when the key is missing).
    pub value: Option<Value>,
    /// What is wrong and what is expected.
    pub message: String,
    /// Whether it stops the configuration from being used.
    pub severity: Severity,
}

impl Problem {
    /// An error at `path`.
    pub fn new(path: impl Into<String>, value: Option<&Value>, message: impl Into<String>) -> Self {
        Problem {
            path: path.into(),
            value: value.cloned(),
            message: message.into(),
            severity: Severity::Error,
        }
    }

    /// A warning at `path`.
    pub fn warning(
        path: impl Into<String>,
        value: Option<&Value>,
        message: impl Into<String>,
    ) -> Self {
        Problem {
            severity: Severity::Warning,
            ..Problem::new(path, value, message)
        }
    }

    /// Whether it is an error.
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.is_error() {
            write!(f, "warning: ")?;
        }
        write!(f, "{}: {}", self.path, self.message)?;
        match &self.value {
            Some(value) => {
                let mut text = value.to_string();
                if text.chars().count() > 120 {
                    text = text.chars().take(117).collect::<String>() + "...";
                }
                write!(f, " (found {text})")
            }
            None => write!(f, " (missing)"),
        }
    }
}

/// Validates a document against the source types `factory` can build and
/// returns the configuration, or every problem found. Enabled sources are
/// checked by their plugin (`validate_config`); disabled ones for shape only.
pub fn check(document: &Document, factory: &dyn SourceFactory) -> Result<Config, Vec<Problem>> {
    let raw = &document.raw;
    let mut problems = Vec::new();

    if let Some(value) = raw.get("db_path") {
        if !value.is_string() {
            problems.push(Problem::new(
                "db_path",
                Some(value),
                "must be a file path (a string)",
            ));
        }
    }
    let database = match super::database::location(document) {
        Ok(location) => Some(location),
        Err(found) => {
            problems.extend(found);
            None
        }
    };
    let plugin_dirs = plugin_dirs(document, &mut problems);
    let crash_limits = crash_limits(raw, "", &mut problems);
    if let Err(dicom) = super::server::options(raw, &super::server::Flags::default()) {
        problems.extend(dicom);
    }
    if let Err(tls) = super::server::tls(raw, &document.path) {
        problems.extend(tls);
    }
    if let Some(api) = raw.get("api").and_then(Value::as_object) {
        let https = super::tls::block(
            api.get("tls"),
            "api.tls",
            crate::http::settings::DEFAULT_HTTPS_PORT,
            &document.path,
        );
        if let Err(https) = https {
            problems.extend(https);
        }
    }

    let mut sources = Vec::new();
    match raw.get("data_sources") {
        Some(Value::Array(list)) => {
            if list.is_empty() {
                log::warn!(
                    "{}: `data_sources` is empty: no source will sync; the worklist database is served as it is",
                    document.path.display()
                );
            }
            for (index, value) in list.iter().enumerate() {
                if let Some(source) = parse_source(raw, index, value, factory, &mut problems) {
                    sources.push(source);
                }
            }
        }
        Some(other) => problems.push(Problem::new(
            "data_sources",
            Some(other),
            "must be a list of source objects",
        )),
        None => {}
    }
    check_duplicate_names(&sources, &mut problems);
    for source in sources.iter().filter(|s| s.enabled) {
        check_with_plugin(source, factory, &mut problems);
    }
    problems.extend(super::lifecycle::problems(raw));
    problems.extend(super::audit::problems(raw, &document.path));
    unknown_keys(raw, KNOWN_TOP_LEVEL, "", &mut problems);

    let Some(database) = database.filter(|_| !problems.iter().any(Problem::is_error)) else {
        return Err(problems);
    };
    Ok(Config {
        path: document.path.clone(),
        raw: raw.clone(),
        legacy: document.legacy,
        db_path: document.db_path(),
        database,
        plugin_dirs,
        crash_limits,
        sources,
        warnings: problems,
    })
}

/// Top-level keys pylantir reads (here or, for the DICOM server, in
/// [`super::server`]), Python pylantir's included.
pub const KNOWN_TOP_LEVEL: &[&str] = &[
    "retention",
    "retraction_guard",
    "db_path",
    "db_url",
    "db_password_env",
    "db_password_file",
    "db_echo",
    "db_update_interval",
    "operation_interval",
    "data_sources",
    "plugin_dirs",
    "allowed_aet",
    "protocol",
    "site",
    "redcap2wl",
    "users_db_path",
    "api",
    "max_crashes",
    "crash_window_minutes",
    "ip",
    "port",
    "ae_title",
    "max_associations",
    "dimse_timeout",
    "acse_timeout",
    "max_pdu_length",
    "default_station_aet",
    "filter_by_calling_aet",
    "mpps_lenient",
    "mwl_days_ahead",
    "mwl_visible_statuses",
    "max_connections_per_address",
    "tls",
    "audit_log",
];

/// Keys of a source object the host reads; everything under `config`
/// belongs to the plugin.
pub const KNOWN_SOURCE_KEYS: &[&str] = &[
    "name",
    "type",
    "enabled",
    "sync_interval",
    "operation_interval",
    "config",
    "field_mapping",
    "fetch_timeout",
    "isolation",
    "plugin",
    "max_crashes",
    "crash_window_minutes",
    "mpps_write_back",
    "window_mode",
    "daily_window",
    "mwl_days_ahead",
    "timezone",
];

/// A warning for each key of `object` not in `known`: it has no effect.
fn unknown_keys(
    object: &Map<String, Value>,
    known: &[&str],
    prefix: &str,
    problems: &mut Vec<Problem>,
) {
    for (key, value) in object {
        if !known.contains(&key.as_str()) {
            problems.push(Problem::warning(
                format!("{prefix}{key}"),
                Some(value),
                "is not a pylantir setting; it has no effect",
            ));
        }
    }
}

/// `max_crashes` and `crash_window_minutes` of `object` (the top level, or a
/// source whose path is `prefix`); a bad value is an error.
pub fn crash_limits(
    object: &Map<String, Value>,
    prefix: &str,
    problems: &mut Vec<Problem>,
) -> CrashLimits {
    let mut limits = CrashLimits::default();
    if let Some(value) = object.get("max_crashes") {
        match value.as_u64().and_then(|n| u32::try_from(n).ok()) {
            Some(n) if n > 0 => limits.max_crashes = Some(n),
            _ => problems.push(Problem::new(
                format!("{prefix}max_crashes"),
                Some(value),
                "must be a whole number of failures, at least 1",
            )),
        }
    }
    if let Some(value) = object.get("crash_window_minutes") {
        let window = value
            .as_f64()
            .filter(|minutes| *minutes > 0.0)
            .and_then(|minutes| Duration::try_from_secs_f64(minutes * 60.0).ok());
        match window {
            Some(window) => limits.window = Some(window),
            None => problems.push(Problem::new(
                format!("{prefix}crash_window_minutes"),
                Some(value),
                "must be a number of minutes above 0",
            )),
        }
    }
    limits
}

fn plugin_dirs(document: &Document, problems: &mut Vec<Problem>) -> Vec<std::path::PathBuf> {
    let Some(value) = document.raw.get("plugin_dirs") else {
        return Vec::new();
    };
    let Some(list) = value.as_array() else {
        problems.push(Problem::new(
            "plugin_dirs",
            Some(value),
            "must be a list of directory paths",
        ));
        return Vec::new();
    };
    let mut dirs = Vec::new();
    for (i, item) in list.iter().enumerate() {
        match item.as_str() {
            Some(text) => dirs.push(paths::resolve(&document.path, text)),
            None => problems.push(Problem::new(
                format!("plugin_dirs[{i}]"),
                Some(item),
                "must be a directory path (a string)",
            )),
        }
    }
    dirs
}

/// Parses one `data_sources` entry, recording shape problems; `None` only when
/// the entry is not an object at all.
fn parse_source(
    top: &Map<String, Value>,
    index: usize,
    value: &Value,
    factory: &dyn SourceFactory,
    problems: &mut Vec<Problem>,
) -> Option<SourceConfig> {
    let at = |key: &str| format!("data_sources[{index}].{key}");
    let Some(object) = value.as_object() else {
        problems.push(Problem::new(
            format!("data_sources[{index}]"),
            Some(value),
            "must be an object with at least `type`",
        ));
        return None;
    };

    let source_type = match object.get("type") {
        Some(Value::String(t)) if !t.trim().is_empty() => t.clone(),
        other => {
            problems.push(Problem::new(
                at("type"),
                other,
                "every source needs a `type` (the kind of source, e.g. \"csv\" or \"redcap\")",
            ));
            String::new()
        }
    };
    let name = match object.get("name") {
        None => source_type.clone(),
        Some(Value::String(n)) if !n.trim().is_empty() => n.clone(),
        Some(other) => {
            problems.push(Problem::new(
                at("name"),
                Some(other),
                "must be a non-empty string",
            ));
            source_type.clone()
        }
    };
    let enabled = match object.get("enabled") {
        None => true,
        Some(Value::Bool(b)) => *b,
        Some(other) => {
            problems.push(Problem::new(
                at("enabled"),
                Some(other),
                "must be true or false",
            ));
            true
        }
    };
    let sync_interval = match object.get("sync_interval") {
        Some(v) => seconds(v, &at("sync_interval"), 1.0, problems),
        None => match top.get("db_update_interval") {
            Some(v) => seconds(v, "db_update_interval", 1.0, problems),
            None => Some(Duration::from_secs(60)),
        },
    }
    .unwrap_or(Duration::from_secs(60));
    let window = match object.get("operation_interval") {
        Some(v) => window(v, &at("operation_interval"), problems),
        None => match top.get("operation_interval") {
            Some(v) => window(v, "operation_interval", problems),
            None => Window::default(),
        },
    };
    let config = match object.get("config") {
        None | Some(Value::Null) => Value::Object(Map::new()),
        Some(v @ Value::Object(_)) => v.clone(),
        Some(other) => {
            problems.push(Problem::new(
                at("config"),
                Some(other),
                "must be an object with the source's own settings",
            ));
            Value::Object(Map::new())
        }
    };
    let config = with_source_level_keys(config, &source_type, object);
    let field_mapping = match object.get("field_mapping") {
        None | Some(Value::Null) => Value::Object(Map::new()),
        Some(v) => v.clone(),
    };
    check_field_mapping(
        &field_mapping,
        &at("field_mapping"),
        &source_type,
        factory,
        problems,
    );
    let fetch_timeout = match object.get("fetch_timeout") {
        Some(v) => seconds(v, &at("fetch_timeout"), 1.0, problems),
        None => Some(DEFAULT_FETCH_TIMEOUT),
    }
    .unwrap_or(DEFAULT_FETCH_TIMEOUT);
    let isolation = match object.get("isolation") {
        None => Isolation::default(),
        Some(Value::String(s)) if s == "in-process" => Isolation::InProcess,
        Some(Value::String(s)) if s == "process" => Isolation::Process,
        Some(other) => {
            problems.push(Problem::new(
                at("isolation"),
                Some(other),
                "must be \"in-process\" or \"process\"",
            ));
            Isolation::default()
        }
    };
    let plugin = match object.get("plugin") {
        None | Some(Value::Null) => None,
        Some(Value::String(p)) => Some(p.clone()),
        Some(other) => {
            problems.push(Problem::new(
                at("plugin"),
                Some(other),
                "must be the name of a plugin (a string)",
            ));
            None
        }
    };
    let crash_limits = crash_limits(object, &at(""), problems);
    let mpps_write_back = match object.get("mpps_write_back") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(other) => {
            problems.push(Problem::new(
                at("mpps_write_back"),
                Some(other),
                "must be true or false",
            ));
            false
        }
    };
    unknown_keys(object, KNOWN_SOURCE_KEYS, &at(""), problems);

    Some(SourceConfig {
        index,
        name,
        source_type,
        enabled,
        sync_interval,
        window,
        config,
        field_mapping,
        fetch_timeout,
        isolation,
        plugin,
        crash_limits,
        mpps_write_back,
        raw: object.clone(),
    })
}

/// Host-owned source keys that the Calpendo plugin reads too (they also
/// bound what it fetches), as Python's `run.py` passes them to it.
const CALPENDO_SOURCE_KEYS: &[&str] = &["window_mode", "daily_window", "timezone"];

/// The `config` a plugin is given. A `calpendo` source's `config` gets the
/// [`CALPENDO_SOURCE_KEYS`] of the source object (the source-level value
/// wins, as in Python); other types get their `config` untouched.
fn with_source_level_keys(
    mut config: Value,
    source_type: &str,
    source: &Map<String, Value>,
) -> Value {
    if source_type != "calpendo" {
        return config;
    }
    if let Value::Object(settings) = &mut config {
        for key in CALPENDO_SOURCE_KEYS {
            if let Some(value) = source.get(*key) {
                settings.insert(key.to_string(), value.clone());
            }
        }
    }
    config
}

/// A number of seconds, at least `min`.
fn seconds(value: &Value, path: &str, min: f64, problems: &mut Vec<Problem>) -> Option<Duration> {
    match value.as_f64() {
        Some(s) if s >= min && s.is_finite() && s < 1e9 => Some(Duration::from_secs_f64(s)),
        _ => {
            problems.push(Problem::new(
                path,
                Some(value),
                format!("must be a number of seconds, at least {min}"),
            ));
            None
        }
    }
}

/// `{start_time: [h, m], end_time: [h, m]}`; a missing end is taken from the default.
fn window(value: &Value, path: &str, problems: &mut Vec<Problem>) -> Window {
    let default = Window::default();
    let Some(object) = value.as_object() else {
        problems.push(Problem::new(
            path,
            Some(value),
            "must be an object {\"start_time\": [hour, minute], \"end_time\": [hour, minute]}",
        ));
        return default;
    };
    let start = clock(
        object.get("start_time"),
        &format!("{path}.start_time"),
        problems,
    );
    let end = clock(
        object.get("end_time"),
        &format!("{path}.end_time"),
        problems,
    );
    Window {
        start: start.unwrap_or(default.start),
        end: end.unwrap_or(default.end),
    }
}

fn clock(value: Option<&Value>, path: &str, problems: &mut Vec<Problem>) -> Option<ClockTime> {
    let value = value?;
    let parts = value.as_array().filter(|parts| parts.len() == 2);
    let Some(parts) = parts else {
        problems.push(Problem::new(
            path,
            Some(value),
            "must be a list [hour, minute]",
        ));
        return None;
    };
    let hour = bounded(&parts[0], &format!("{path}[0]"), 23, "hour", problems);
    let minute = bounded(&parts[1], &format!("{path}[1]"), 59, "minute", problems);
    Some(ClockTime {
        hour: hour?,
        minute: minute?,
    })
}

fn bounded(
    value: &Value,
    path: &str,
    max: u64,
    what: &str,
    problems: &mut Vec<Problem>,
) -> Option<u32> {
    match value.as_u64() {
        Some(n) if n <= max => u32::try_from(n).ok(),
        _ => {
            problems.push(Problem::new(
                path,
                Some(value),
                format!("{what} must be a whole number from 0 to {max}"),
            ));
            None
        }
    }
}

/// Every worklist column a `field_mapping` may target, plus the type's extras.
fn mapping_targets(extra: &[String]) -> Vec<String> {
    WORKLIST_FIELDS
        .iter()
        .map(|(name, _)| (*name).to_string())
        .chain(extra.iter().cloned())
        .collect()
}

fn is_worklist_column(name: &str) -> bool {
    WORKLIST_FIELDS.iter().any(|(field, _)| *field == name)
}

/// The status column: a `field_mapping` may name it (pylantir's README
/// does); a source may set only SCHEDULED or DISCONTINUED, and the REDCap
/// plugin ignores the entry.
const STATUS_COLUMN: &str = "performed_procedure_step_status";

/// `field_mapping`: source field -> worklist column (or an extra target the
/// type declares); the reversed form worklist column -> source spec (a
/// field path or an object, as Calpendo writes it) is accepted too. An entry whose target is
/// not a column has no effect, as in Python pylantir: a warning naming it,
/// never an error. Targets of a source whose plugin is absent are not checked.
fn check_field_mapping(
    mapping: &Value,
    path: &str,
    source_type: &str,
    factory: &dyn SourceFactory,
    problems: &mut Vec<Problem>,
) {
    let Some(mapping) = mapping.as_object() else {
        problems.push(Problem::new(
            path,
            Some(mapping),
            "must be an object {\"source_field\": \"worklist_field\", ...}",
        ));
        return;
    };
    // Without the type's plugin its extra targets are unknown: an enabled
    // source gets an unknown-type problem instead, a disabled one no check.
    if !factory.source_types().iter().any(|t| t == source_type) {
        return;
    }
    let extra = factory
        .type_info(source_type)
        .map(|i| i.extra_mapping_targets)
        .unwrap_or_default();
    for (key, target) in mapping {
        let key_path = format!("{path}.{key}");
        match target {
            Value::String(name) if name == STATUS_COLUMN && source_type == "redcap" => problems
                .push(Problem::warning(
                    key_path,
                    Some(target),
                    format!(
                        "a source does not set `{STATUS_COLUMN}` from a REDCap field (new items \
                         are SCHEDULED, MPPS moves them on); this entry has no effect"
                    ),
                )),
            Value::String(name) if name == STATUS_COLUMN => problems.push(Problem::warning(
                key_path,
                Some(target),
                format!(
                    "a source may set `{STATUS_COLUMN}` to SCHEDULED or DISCONTINUED only (an \
                     entry with another value is rejected), and never over a status MPPS set"
                ),
            )),
            Value::String(name) if is_worklist_column(name) || extra.contains(name) => {}
            // The reversed form: worklist column -> source field.
            Value::String(_) if is_worklist_column(key) => {}
            Value::String(_) => problems.push(Problem::warning(
                key_path,
                Some(target),
                format!(
                    "the target is not a worklist column, so this entry has no effect \
                     (Python pylantir ignored it too); worklist columns: {}",
                    mapping_targets(&extra).join(", ")
                ),
            )),
            Value::Object(_) if is_worklist_column(key) => {}
            _ => problems.push(Problem::new(
                key_path,
                Some(target),
                "must be the name of a worklist column (a string)",
            )),
        }
    }
}

fn check_duplicate_names(sources: &[SourceConfig], problems: &mut Vec<Problem>) {
    for (i, source) in sources.iter().enumerate() {
        if let Some(first) = sources[..i].iter().find(|s| s.name == source.name) {
            let value = Value::String(source.name.clone());
            problems.push(Problem::new(
                format!("data_sources[{}].name", source.index),
                Some(&value),
                format!(
                    "duplicate source name (also used by data_sources[{}]); give each source its own `name`",
                    first.index
                ),
            ));
        }
    }
}

/// The type must be provided by a plugin found, and the plugin must accept `config`.
fn check_with_plugin(
    source: &SourceConfig,
    factory: &dyn SourceFactory,
    problems: &mut Vec<Problem>,
) {
    if source.source_type.is_empty() {
        return;
    }
    let types = factory.source_types();
    let type_path = format!("data_sources[{}].type", source.index);
    let providers = factory.providers(&source.source_type);
    if let Some(pinned) = &source.plugin {
        if !providers.contains(pinned) {
            let value = Value::String(pinned.clone());
            problems.push(Problem::new(
                format!("data_sources[{}].plugin", source.index),
                Some(&value),
                format!(
                    "no plugin of that name provides type `{}`; providers: {}",
                    source.source_type,
                    if providers.is_empty() {
                        "none".to_string()
                    } else {
                        providers.join(", ")
                    }
                ),
            ));
            return;
        }
    } else if providers.len() > 1 {
        let value = Value::String(source.source_type.clone());
        problems.push(Problem::new(
            type_path,
            Some(&value),
            format!(
                "provided by several plugins ({}); set this source's `plugin` to the one to use",
                providers.join(", ")
            ),
        ));
        return;
    } else if !types.contains(&source.source_type) {
        let available = if types.is_empty() {
            "no plugins were found (check --plugin-dir, `plugin_dirs` or PYLANTIR_PLUGIN_PATH)"
                .to_string()
        } else {
            format!("available types: {}", types.join(", "))
        };
        let value = Value::String(source.source_type.clone());
        problems.push(Problem::new(
            type_path,
            Some(&value),
            format!("unknown source type; {available}"),
        ));
        return;
    }
    let config_path = format!("data_sources[{}].config", source.index);
    if problems.iter().any(|p| p.path.starts_with(&config_path)) {
        return;
    }
    let answer = factory.create_for(source).and_then(|mut built| {
        let result = built.validate_config(&source.config);
        built.cleanup();
        result
    });
    if let Err(error) = answer {
        problems.push(Problem::new(
            config_path,
            Some(&source.config),
            format!(
                "refused by the `{}` plugin: {}",
                source.source_type, error.message
            ),
        ));
    }
}
