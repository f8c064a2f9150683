//! The JSON configuration: parsing, legacy conversion, validation.
//!
//! - [`audit`]: `audit_log`, the audit file and syslog.
//! - [`database`]: `db_path` or `db_url` (and its password): where the worklist is.
//! - [`legacy`]: the pre-plugin `redcap2wl` format, converted to one source.
//! - [`lifecycle`]: `retention` and `retraction_guard`.
//! - [`validate`]: every check, collecting all problems with their JSON path;
//!   the lists of known keys.
//! - [`server`]: the DICOM server's keys, read into its options.
//! - [`tls`]: a TLS block (DICOM's `tls`, the HTTP API's `api.tls`).
//! - [`paths`]: `~` expansion and paths relative to the configuration file.
//!
//! [`read`] turns a file into a [`Document`] (JSON, legacy converted);
//! [`check`] validates it against the available source types and yields a
//! [`Config`] (with its warnings); [`load`] does both. `check-config` and
//! `start` both go through [`check`].

pub mod audit;
pub mod database;
pub mod legacy;
pub mod lifecycle;
pub mod paths;
pub mod server;
pub mod tls;
pub mod validate;

use crate::source::SourceFactory;
use serde_json::{Map, Value};
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use validate::{check, Problem, Severity};

/// The database path Python pylantir uses when `db_path` is not set.
pub const DEFAULT_DB_PATH: &str = "~/Desktop/worklist.db";

/// A configuration file as read: its JSON, with a legacy file already converted.
#[derive(Debug, Clone)]
pub struct Document {
    /// The file it was read from.
    pub path: PathBuf,
    /// The whole top-level object (with `data_sources` added for a legacy file).
    pub raw: Map<String, Value>,
    /// Whether the file was in the legacy `redcap2wl` format.
    pub legacy: bool,
}

impl Document {
    /// The worklist database path: `db_path` (default [`DEFAULT_DB_PATH`]),
    /// `~` expanded, relative paths taken from the configuration file's directory.
    pub fn db_path(&self) -> PathBuf {
        let text = self
            .raw
            .get("db_path")
            .and_then(Value::as_str)
            .unwrap_or(DEFAULT_DB_PATH);
        paths::resolve(&self.path, text)
    }

    /// The worklist database: `db_url` (PostgreSQL) if set, else `db_path`.
    pub fn database(&self) -> Result<crate::store::Location, String> {
        database::location(self).map_err(|problems| {
            let lines: Vec<String> = problems.iter().map(ToString::to_string).collect();
            format!("{}: {}", self.path.display(), lines.join("; "))
        })
    }

    /// `plugin_dirs` (strings only; [`check`] reports anything else), resolved.
    pub fn plugin_dirs(&self) -> Vec<PathBuf> {
        self.raw
            .get("plugin_dirs")
            .and_then(Value::as_array)
            .map(|dirs| {
                dirs.iter()
                    .filter_map(Value::as_str)
                    .map(|dir| paths::resolve(&self.path, dir))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The top-level `max_crashes` / `crash_window_minutes` (a bad value is
    /// left unset here; [`check`] reports it).
    pub fn crash_limits(&self) -> CrashLimits {
        validate::crash_limits(&self.raw, "", &mut Vec::new())
    }
}

/// `max_crashes` and `crash_window_minutes` as configured; unset ones take
/// the value of the level above (source -> top level -> built-in default).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct CrashLimits {
    /// Failures within the window that disable a source.
    pub max_crashes: Option<u32>,
    /// `crash_window_minutes`.
    pub window: Option<Duration>,
}

/// A validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file it was read from.
    pub path: PathBuf,
    /// The whole top-level JSON object, for the keys other modules read
    /// (`allowed_aet`, `protocol`, DICOM settings, ...).
    pub raw: Map<String, Value>,
    /// Whether the file was in the legacy `redcap2wl` format.
    pub legacy: bool,
    /// The worklist database file (`db_path`; also where the users
    /// database goes by default).
    pub db_path: PathBuf,
    /// The worklist database: `db_path` or `db_url`.
    pub database: crate::store::Location,
    /// `plugin_dirs` from the configuration, resolved.
    pub plugin_dirs: Vec<PathBuf>,
    /// The top-level `max_crashes` / `crash_window_minutes`.
    pub crash_limits: CrashLimits,
    /// Every configured source, enabled or not, in file order.
    pub sources: Vec<SourceConfig>,
    /// What [`check`] found that does not stop the configuration from being
    /// used (entries with no effect, unknown keys).
    pub warnings: Vec<Problem>,
}

impl Config {
    /// The enabled sources.
    pub fn enabled_sources(&self) -> impl Iterator<Item = &SourceConfig> {
        self.sources.iter().filter(|s| s.enabled)
    }

    /// The DICOM server's options: `flags` (the command line) over the
    /// configuration's keys over the defaults; the `tls` block's files read.
    pub fn server_options(
        &self,
        flags: &server::Flags,
    ) -> Result<crate::dicom::ServerOptions, Vec<Problem>> {
        let mut options = server::options(&self.raw, flags)?;
        (options.tls, options.plain) = server::tls(&self.raw, &self.path)?;
        options.write_back_sources = self
            .enabled_sources()
            .filter(|source| source.mpps_write_back)
            .map(|source| source.name.clone())
            .collect();
        Ok(options)
    }
}

/// One entry of `data_sources`, with defaults applied.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceConfig {
    /// Its position in `data_sources` (for messages: `data_sources[i]`).
    pub index: usize,
    /// `name`; defaults to the `type` when absent.
    pub name: String,
    /// `type`: the source type a plugin provides.
    pub source_type: String,
    /// `enabled` (default true).
    pub enabled: bool,
    /// `sync_interval` (default: top-level `db_update_interval`, else 60 s).
    pub sync_interval: Duration,
    /// `operation_interval` (default: top-level one, else 00:00-23:59).
    pub window: Window,
    /// `config`: the plugin's own settings.
    pub config: Value,
    /// `field_mapping`, passed to the plugin as is.
    pub field_mapping: Value,
    /// `fetch_timeout` in seconds (default [`DEFAULT_FETCH_TIMEOUT`]).
    pub fetch_timeout: Duration,
    /// `isolation`: where the plugin runs.
    pub isolation: Isolation,
    /// `plugin`: pins the plugin (by its name) that provides the type.
    pub plugin: Option<String>,
    /// This source's `max_crashes` / `crash_window_minutes`.
    pub crash_limits: CrashLimits,
    /// `mpps_write_back` (default false): MPPS outcomes of its items are
    /// sent to its plugin ([`crate::write_back`]).
    pub mpps_write_back: bool,
    /// The source's whole JSON object (visibility keys such as `window_mode`).
    pub raw: Map<String, Value>,
}

impl SourceConfig {
    /// The `[type:name]` prefix of this source's log lines.
    pub fn log_prefix(&self) -> String {
        format!("[{}:{}]", self.source_type, self.name)
    }
}

/// How long a fetch may take before it counts as failed, unless configured.
pub const DEFAULT_FETCH_TIMEOUT: Duration = Duration::from_secs(300);

/// Where a source's plugin runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Isolation {
    /// Loaded into the server process (opt-in, for trusted plugins).
    InProcess,
    /// In a worker process of its own (the default).
    #[default]
    Process,
}

/// A clock time of day, to the minute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ClockTime {
    pub hour: u32,
    pub minute: u32,
}

impl fmt::Display for ClockTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02}:{:02}", self.hour, self.minute)
    }
}

/// `operation_interval`: the daily window in which a source syncs. Both ends
/// are inclusive to the minute; an end before the start wraps past midnight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub start: ClockTime,
    pub end: ClockTime,
}

impl Default for Window {
    fn default() -> Self {
        Window {
            start: ClockTime { hour: 0, minute: 0 },
            end: ClockTime {
                hour: 23,
                minute: 59,
            },
        }
    }
}

impl fmt::Display for Window {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.start, self.end)
    }
}

/// Why a configuration could not be used.
#[derive(Debug)]
pub enum ConfigError {
    /// The file could not be read.
    Unreadable {
        path: PathBuf,
        error: std::io::Error,
    },
    /// The file is not valid JSON.
    Json {
        path: PathBuf,
        error: serde_json::Error,
    },
    /// The top level is not a JSON object.
    NotAnObject { path: PathBuf },
    /// Neither `data_sources` nor a legacy `redcap2wl` mapping.
    NoSources { path: PathBuf },
    /// Validation found errors (every problem is listed, warnings too).
    Invalid {
        path: PathBuf,
        problems: Vec<Problem>,
    },
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::Unreadable { path, error } => {
                write!(f, "cannot read configuration file {}: {error}", path.display())
            }
            ConfigError::Json { path, error } => write!(
                f,
                "configuration file {} is not valid JSON (line {}, column {}): {error}",
                path.display(),
                error.line(),
                error.column()
            ),
            ConfigError::NotAnObject { path } => write!(
                f,
                "configuration file {}: the top level must be a JSON object",
                path.display()
            ),
            ConfigError::NoSources { path } => write!(
                f,
                "configuration file {} has neither `data_sources` nor a legacy `redcap2wl` mapping; \
                 add a `data_sources` list (it may be empty)",
                path.display()
            ),
            ConfigError::Invalid { path, problems } => {
                write!(
                    f,
                    "configuration file {} has {} problem(s):",
                    path.display(),
                    problems.iter().filter(|p| p.is_error()).count()
                )?;
                // Errors first, then the warnings.
                let (errors, warnings): (Vec<&Problem>, Vec<&Problem>) =
                    problems.iter().partition(|p| p.is_error());
                for problem in errors.into_iter().chain(warnings) {
                    write!(f, "\n  {problem}")?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for ConfigError {}

/// Reads a configuration file: JSON, top-level object, legacy format converted
/// (with a deprecation warning). Never falls back to a default file.
pub fn read(path: &Path) -> Result<Document, ConfigError> {
    let raw = read_json(path)?;
    if raw.contains_key("data_sources") {
        return Ok(Document {
            path: path.to_path_buf(),
            raw,
            legacy: false,
        });
    }
    if raw.contains_key("redcap2wl") {
        log::warn!(
            "{}: legacy configuration format (`redcap2wl`) detected and converted to one source \
             `{}`; it is deprecated: run `pylantir migrate-config {}` to convert the file",
            path.display(),
            legacy::LEGACY_SOURCE_NAME,
            path.display()
        );
        return Ok(Document {
            path: path.to_path_buf(),
            raw: legacy::convert(&raw),
            legacy: true,
        });
    }
    Err(ConfigError::NoSources {
        path: path.to_path_buf(),
    })
}

/// Reads a file as a JSON object, without any conversion.
pub fn read_json(path: &Path) -> Result<Map<String, Value>, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|error| ConfigError::Unreadable {
        path: path.to_path_buf(),
        error,
    })?;
    match serde_json::from_str(&text) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(ConfigError::NotAnObject {
            path: path.to_path_buf(),
        }),
        Err(error) => Err(ConfigError::Json {
            path: path.to_path_buf(),
            error,
        }),
    }
}

/// Reads and validates a configuration file against the available source types.
pub fn load(path: &Path, factory: &dyn SourceFactory) -> Result<Config, ConfigError> {
    let document = read(path)?;
    check(&document, factory).map_err(|problems| ConfigError::Invalid {
        path: path.to_path_buf(),
        problems,
    })
}
