//! The author-facing layer: a plain Rust trait and a plugin description.

use crate::entry::Entry;
use crate::fetch::Fetch;
use crate::info::{PluginInfo, SourceTypeInfo};
use crate::stream::{EntrySink, FetchEnd};
use serde_json::{Map, Value};

/// A source's `field_mapping` object as written in the configuration.
/// For most sources: source field name -> worklist field name.
pub type FieldMapping = Map<String, Value>;

/// A data source, written as ordinary Rust. Errors are plain messages; the
/// adapter tags them (config, fetch) and turns panics into errors.
///
/// `Send + Sync`: the host may call a source from a thread other than the
/// one that built it (its sync thread, a worker's request loop), one call at
/// a time; a source that holds a non-`Sync` client keeps it behind a `Mutex`.
pub trait Source: Send + Sync + 'static {
    /// Checks the source's `config` object and keeps what `fetch_entries`
    /// needs: the host calls it once, before any fetch, and does not pass the
    /// configuration again, so store the parsed settings in `self`.
    /// The message of an error names the offending key.
    fn validate_config(&mut self, config: &Value) -> Result<(), String>;

    /// Returns worklist entries. `interval_seconds` is how far back an
    /// incremental source should look; others ignore it.
    ///
    /// Entry values are JSON strings (worklist field name -> text), or `null`
    /// for "not sent". The host rejects an entry holding a number, a boolean,
    /// an object or an array (naming the field) and stores the others.
    fn fetch_entries(
        &mut self,
        field_mapping: &FieldMapping,
        interval_seconds: f64,
    ) -> Result<Vec<Entry>, String>;

    /// The entries of [`Source::fetch_entries`] as a JSON array, which is
    /// what crosses the boundary. The default serialises `fetch_entries`;
    /// a source that streams many entries can write the JSON text directly
    /// and never hold them as maps.
    fn fetch_entries_json(
        &mut self,
        field_mapping: &FieldMapping,
        interval_seconds: f64,
    ) -> Result<String, String> {
        let entries = self.fetch_entries(field_mapping, interval_seconds)?;
        serde_json::to_string(&entries).map_err(|e| format!("entries could not be serialised: {e}"))
    }

    /// One fetch with what the source knows beyond its entries: the window
    /// it returned every booking of (the host then retracts the source's
    /// items there that it did not return) and the upstream records it
    /// skipped. The default is [`Source::fetch_entries_json`] alone, which
    /// never retracts anything.
    fn fetch(
        &mut self,
        field_mapping: &FieldMapping,
        interval_seconds: f64,
    ) -> Result<Fetch, String> {
        self.fetch_entries_json(field_mapping, interval_seconds)
            .map(Fetch::new)
    }

    /// One fetch given to `sink` as it is read, in batches the host takes
    /// one at a time (see [`crate::stream`]), so that a large fetch never
    /// exists whole: push each entry ([`EntrySink::push`], or
    /// [`EntrySink::push_json`] with the object's JSON text), return the
    /// error of a push at once, and return what comes after the entries.
    /// The default hands over [`Source::fetch`]'s answer as one batch.
    fn fetch_streamed(
        &mut self,
        field_mapping: &FieldMapping,
        interval_seconds: f64,
        sink: &mut EntrySink,
    ) -> Result<FetchEnd, String> {
        let fetch = self.fetch(field_mapping, interval_seconds)?;
        sink.push_fetch(fetch)
    }

    /// Whether `fetch_entries` honours `interval_seconds`.
    fn supports_incremental_sync(&self) -> bool {
        false
    }

    /// Operations added after plugin-api 1.0, by name. The default knows
    /// none: it answers [`CallError::Unsupported`], which the host receives
    /// as [`ErrorKind::UNSUPPORTED_OPERATION`](crate::ErrorKind). A `String`
    /// error converts (with `?` or `.into()`) into [`CallError::Failed`].
    fn call(&mut self, op: &str, _payload: &Value) -> Result<Value, CallError> {
        Err(CallError::Unsupported(op.to_string()))
    }

    /// Releases what the source holds. Called once at shutdown.
    fn cleanup(&mut self) {}
}

/// Why [`Source::call`] gave no answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallError {
    /// The source does not know the operation (its name).
    Unsupported(String),
    /// The operation is known but failed (the reason).
    Failed(String),
}

/// The message the host shows.
impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CallError::Unsupported(op) => write!(f, "unsupported operation '{op}'"),
            CallError::Failed(reason) => f.write_str(reason),
        }
    }
}

impl From<String> for CallError {
    fn from(reason: String) -> Self {
        CallError::Failed(reason)
    }
}

impl From<&str> for CallError {
    fn from(reason: &str) -> Self {
        CallError::Failed(reason.to_string())
    }
}

/// What a source is told when it is built.
#[derive(Debug, Clone)]
pub struct SourceContext {
    /// The configured `type`.
    pub source_type: String,
    /// The configured source `name`.
    pub source_name: String,
}

type Constructor = Box<dyn Fn(&SourceContext) -> Box<dyn Source> + Send + Sync>;

/// A plugin: its name, version and the source types it provides.
pub struct Plugin {
    name: String,
    version: String,
    types: Vec<(SourceTypeInfo, Constructor)>,
}

impl Plugin {
    /// A plugin named `name` (its identity in `plugins list`) at `version`.
    pub fn new(name: &str, version: &str) -> Self {
        Plugin {
            name: name.to_string(),
            version: version.to_string(),
            types: Vec::new(),
        }
    }

    /// Adds a source type with a one-line description and its constructor.
    pub fn source<F>(self, type_name: &str, description: &str, make: F) -> Self
    where
        F: Fn(&SourceContext) -> Box<dyn Source> + Send + Sync + 'static,
    {
        self.source_type(
            SourceTypeInfo {
                name: type_name.to_string(),
                description: description.to_string(),
                config_schema: None,
                extra_mapping_targets: Vec::new(),
            },
            make,
        )
    }

    /// Adds a source type described in full (config schema, extra mapping targets).
    pub fn source_type<F>(mut self, info: SourceTypeInfo, make: F) -> Self
    where
        F: Fn(&SourceContext) -> Box<dyn Source> + Send + Sync + 'static,
    {
        self.types.push((info, Box::new(make)));
        self
    }

    /// The plugin's metadata; `panic_unwind` is how the plugin crate was built.
    pub fn info(&self, panic_unwind: bool) -> PluginInfo {
        PluginInfo {
            plugin_name: self.name.clone(),
            plugin_version: self.version.clone(),
            api_version: crate::API_VERSION.to_string(),
            rustc_version: crate::RUSTC_VERSION.to_string(),
            panic_unwind,
            source_types: self.types.iter().map(|(info, _)| info.clone()).collect(),
        }
    }

    /// The plugin's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Builds a source of the given type, or `None` if the plugin has no such type.
    pub fn build(&self, ctx: &SourceContext) -> Option<Box<dyn Source>> {
        self.types
            .iter()
            .find(|(info, _)| info.name == ctx.source_type)
            .map(|(_, make)| make(ctx))
    }
}
