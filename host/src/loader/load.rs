//! Loads one plugin file: precheck, `dlopen` and abi_stable's checks, the
//! plugin's own description, then `init` with the host's log sink. Every
//! refusal is one line; abi_stable's full report goes to the debug log.

use super::precheck::precheck;
use crate::source::{SourceError, SourceErrorKind};
use pylantir_plugin_api::abi_stable::library::{lib_header_from_path, LibraryError};
use pylantir_plugin_api::abi_stable::std_types::{RResult, RStr, RString};
use pylantir_plugin_api::{
    logging, DataSourceBox, ErrorKind, HostContext, PluginError, PluginInfo, PluginModRef,
    API_VERSION,
};
use std::fmt;
use std::path::{Path, PathBuf};

/// How plugin files are checked before loading.
#[derive(Debug, Clone, Copy, Default)]
pub struct LoadOptions {
    /// Load files and directories that other users can write (`--allow-insecure-plugins`).
    pub allow_insecure: bool,
    /// Accept plugins built with `panic = "abort"` (in a worker process,
    /// where such a panic ends only the worker).
    pub allow_panic_abort: bool,
}

/// A plugin that was refused, with a one-line reason.
#[derive(Debug, Clone)]
pub struct Refusal {
    /// The plugin file.
    pub file: PathBuf,
    /// Why it was refused (one line).
    pub reason: String,
    /// What the plugin said about itself, when it got that far.
    pub info: Option<Box<PluginInfo>>,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "plugin {} refused: {}", self.file.display(), self.reason)
    }
}

impl std::error::Error for Refusal {}

/// A plugin loaded into this process (libraries are never unloaded), or
/// only described by a worker process that loaded it ([`LoadedPlugin::described`]).
pub struct LoadedPlugin {
    file: PathBuf,
    info: PluginInfo,
    /// `None` when the plugin was loaded in a worker process, not here.
    module: Option<PluginModRef>,
}

impl fmt::Debug for LoadedPlugin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoadedPlugin")
            .field("file", &self.file)
            .field("info", &self.info)
            .finish_non_exhaustive()
    }
}

impl LoadedPlugin {
    /// A plugin that a worker process loaded and described; it cannot build
    /// sources in this process.
    pub fn described(file: &Path, info: PluginInfo) -> LoadedPlugin {
        LoadedPlugin {
            file: file.to_path_buf(),
            info,
            module: None,
        }
    }

    /// The file it was loaded from.
    pub fn file(&self) -> &Path {
        &self.file
    }

    /// What the plugin says about itself.
    pub fn info(&self) -> &PluginInfo {
        &self.info
    }

    /// Whether the plugin provides `source_type`.
    pub fn provides(&self, source_type: &str) -> bool {
        self.info.source_types.iter().any(|t| t.name == source_type)
    }

    /// Builds the plugin's raw source object of `source_type`, named
    /// `source_name`. Most callers want [`super::InProcessSource`].
    pub fn new_source(
        &self,
        source_type: &str,
        source_name: &str,
    ) -> Result<DataSourceBox, SourceError> {
        let Some(module) = self.module else {
            return Err(SourceError::new(
                SourceErrorKind::Other,
                format!(
                    "plugin {} is not loaded in this process",
                    self.file.display()
                ),
            ));
        };
        match (module.new_source())(RStr::from_str(source_type), RStr::from_str(source_name)) {
            RResult::ROk(source) => Ok(source),
            RResult::RErr(e) => Err(source_error(e)),
        }
    }
}

/// A plugin error as the host's source error.
pub fn source_error(error: PluginError) -> SourceError {
    let kind = match error.kind {
        ErrorKind::CONFIG => SourceErrorKind::Config,
        ErrorKind::FETCH => SourceErrorKind::Fetch,
        ErrorKind::PANICKED => SourceErrorKind::Panicked,
        ErrorKind::UNSUPPORTED_OPERATION => SourceErrorKind::Unsupported,
        _ => SourceErrorKind::Other,
    };
    SourceError::new(kind, error.message.into_string())
}

/// Loads the plugin at `path`, or says in one line why not.
pub fn load_plugin(path: &Path, options: &LoadOptions) -> Result<LoadedPlugin, Refusal> {
    let refuse = |reason: String| Refusal {
        file: path.to_path_buf(),
        reason: one_line(&reason),
        info: None,
    };
    precheck(path, options.allow_insecure).map_err(refuse)?;
    let header = lib_header_from_path(path).map_err(|e| refuse(summarize(&e, None)))?;
    let plugin_api = header.version_strings().version.to_string();
    let module = header
        .init_root_module::<PluginModRef>()
        .map_err(|e| refuse(summarize(&e, Some(&plugin_api))))?;
    let info = describe(module).map_err(refuse)?;
    let refuse_with_info = |reason: String| Refusal {
        file: path.to_path_buf(),
        reason,
        info: Some(Box::new(info.clone())),
    };
    if !info.panic_unwind && !options.allow_panic_abort {
        return Err(refuse_with_info(
            "built with panic = \"abort\": any panic in it would kill pylantir; rebuild it with panic = \"unwind\" (the default)".to_string(),
        ));
    }
    if info.source_types.is_empty() {
        return Err(refuse_with_info("it provides no source types".to_string()));
    }
    if let RResult::RErr(e) = (module.init())(host_context()) {
        return Err(refuse_with_info(one_line(&format!(
            "its init failed: {}",
            e.message
        ))));
    }
    log::debug!(
        "loaded plugin {} {} from {}",
        info.plugin_name,
        info.plugin_version,
        path.display()
    );
    Ok(LoadedPlugin {
        file: path.to_path_buf(),
        info,
        module: Some(module),
    })
}

/// Asks the plugin for its description.
fn describe(module: PluginModRef) -> Result<PluginInfo, String> {
    let json: RString = (module.info_json())();
    let value: serde_json::Value = serde_json::from_str(json.as_str())
        .map_err(|e| format!("its plugin info is not valid JSON: {e}"))?;
    if let Some(message) = value.get("error").and_then(|m| m.as_str()) {
        return Err(format!("describing itself failed: {message}"));
    }
    serde_json::from_value(value).map_err(|e| format!("its plugin info is incomplete: {e}"))
}

/// What the host hands every plugin: its log sink and a description of the host.
fn host_context() -> HostContext {
    let host_info = serde_json::json!({
        "host_version": env!("CARGO_PKG_VERSION"),
        "api_version": API_VERSION,
        "features": [pylantir_plugin_api::fetch::FETCH_RESULT],
    });
    HostContext {
        log: logging::host_sink,
        max_level: log::max_level() as usize as u8,
        host_info_json: RString::from(host_info.to_string()),
    }
}

/// One line for a loader error; the full text goes to the debug log.
fn summarize(error: &LibraryError, plugin_api: Option<&str>) -> String {
    log::debug!("abi_stable report: {error}");
    match error {
        LibraryError::OpenError { err, .. } => format!("not a loadable library: {err}"),
        LibraryError::GetSymbolError { .. } => {
            "not a pylantir plugin (no abi_stable root module)".to_string()
        }
        LibraryError::InvalidAbiHeader(header) => format!(
            "built with abi_stable {}.{}, this host uses abi_stable 0.11",
            header.abi_major, header.abi_minor
        ),
        LibraryError::InvalidCAbi { .. } => {
            "the C ABI self-check failed (built for another platform?)".to_string()
        }
        LibraryError::ParseVersionError(e) => format!("its plugin-api version is unreadable: {e}"),
        LibraryError::IncompatibleVersionNumber { actual_version, .. } => format!(
            "built against plugin-api {actual_version}, this host uses plugin-api {API_VERSION}"
        ),
        LibraryError::AbiInstability(report) => format!(
            "built against plugin-api {}, whose layout differs from this host's plugin-api {API_VERSION}: {}",
            plugin_api.unwrap_or("?"),
            first_mismatch(&report.to_string())
        ),
        LibraryError::RootModule { err, .. } => {
            format!("its root module failed to initialise: {err}")
        }
        LibraryError::Many(errors) => errors
            .iter()
            .next()
            .map(|e| summarize(e, plugin_api))
            .unwrap_or_else(|| "unknown loader error".to_string()),
    }
}

/// The first `Error:` of an abi_stable layout report, as
/// `<what>: expected <x>, found <y>`.
fn first_mismatch(report: &str) -> String {
    let mut lines = report.lines().skip_while(|l| !l.starts_with("Error:"));
    let Some(what) = lines
        .next()
        .map(|l| l.trim_start_matches("Error:").trim().to_string())
    else {
        return "layout mismatch".to_string();
    };
    let mut expected = Vec::new();
    let mut found: Vec<String> = Vec::new();
    let mut in_found = None;
    for line in lines {
        match line.trim() {
            "Expected:" => in_found = Some(false),
            "Found:" => in_found = Some(true),
            "" if !found.is_empty() => break,
            "" => {}
            text if line.starts_with(' ') => match in_found {
                Some(true) => found.push(text.to_string()),
                Some(false) => expected.push(text.to_string()),
                None => {}
            },
            _ => break,
        }
    }
    let clip = |parts: &[String]| {
        let text = parts.join(" ");
        if text.chars().count() > 80 {
            format!("{}...", text.chars().take(77).collect::<String>())
        } else {
            text
        }
    };
    if expected.is_empty() && found.is_empty() {
        what
    } else {
        format!(
            "{what}: expected {}, found {}",
            clip(&expected),
            clip(&found)
        )
    }
}

/// Joins the lines of a message into one.
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_layout_mismatch_is_summarised() {
        let report = "Compared <this>:\n    PluginMod\nTo <other>:\n    PluginMod\n\n1 error(s).\n\nError:mismatched type\nExpected:\n    f64\nFound:\n    u64\n\nError:too many fields\nExpected:\n    3\nFound:\n    4\n";
        assert_eq!(
            first_mismatch(report),
            "mismatched type: expected f64, found u64"
        );
    }

    #[test]
    fn a_version_mismatch_names_both_plugin_api_versions() {
        use pylantir_plugin_api::abi_stable::sabi_types::VersionNumber;
        let error = LibraryError::IncompatibleVersionNumber {
            library_name: "pylantir_plugin",
            expected_version: VersionNumber {
                major: 1,
                minor: 0,
                patch: 0,
            },
            actual_version: VersionNumber {
                major: 2,
                minor: 3,
                patch: 0,
            },
        };
        assert_eq!(
            summarize(&error, Some("2.3.0")),
            format!("built against plugin-api 2.3.0, this host uses plugin-api {API_VERSION}")
        );
    }

    #[test]
    fn a_report_without_errors_is_a_layout_mismatch() {
        assert_eq!(first_mismatch("Compared <this>:\n"), "layout mismatch");
    }

    #[test]
    fn messages_become_one_line() {
        assert_eq!(one_line("a\n\tb  c\n"), "a b c");
    }
}
