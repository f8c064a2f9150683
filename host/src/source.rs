//! The host's data-source trait. The sync loop talks to this, never to a
//! plugin directly, so it does not know or care whether a source runs
//! in-process from a `.so` or in a worker process.

use pylantir_plugin_api::Entry;
use serde_json::Value;
use std::fmt;

/// Why a source call failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceErrorKind {
    /// The source's `config` was refused.
    Config,
    /// The fetch failed (network, file, upstream error).
    Fetch,
    /// The plugin panicked; the source is rebuilt before its next use.
    Panicked,
    /// The call did not answer within its deadline.
    Timeout,
    /// The plugin does not know the operation asked of `call` (a plugin
    /// built before the operation existed).
    Unsupported,
    /// The plugin's process died or the plugin answered something invalid.
    Crashed,
    /// The source was disabled after repeated crashes; it stays off until
    /// pylantir restarts.
    Disabled,
    /// Anything else.
    Other,
}

/// An error from a data source, with a message for the site administrator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceError {
    pub kind: SourceErrorKind,
    pub message: String,
}

impl SourceError {
    pub fn new(kind: SourceErrorKind, message: impl Into<String>) -> Self {
        SourceError {
            kind,
            message: message.into(),
        }
    }
}

impl fmt::Display for SourceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for SourceError {}

/// An upstream record that did not become an item, and why: skipped by the
/// plugin, or dropped by the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    pub record_id: Option<String>,
    pub reason: String,
}

/// One fetch: its entries and what the source said beyond them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Fetched {
    pub entries: Vec<Entry>,
    /// The window the source returned every booking of (its items there
    /// that it did not return are retracted); `None`: it does not say.
    pub complete_window: Option<crate::store::retract::Window>,
    /// Records the plugin skipped (at most [`crate::loader::entries::SKIPPED_KEPT`]).
    pub skipped: Vec<Skipped>,
    /// How many the plugin skipped in all.
    pub skipped_count: u64,
    /// Entries the host dropped as invalid before normalising them (at most
    /// [`crate::loader::entries::SKIPPED_KEPT`]).
    pub dropped: Vec<Skipped>,
    /// How many entries the host dropped in all.
    pub dropped_count: u64,
}

impl Fetched {
    /// A fetch of `entries` alone (what a plugin-api 1.0.0 plugin answers).
    pub fn entries(entries: Vec<Entry>) -> Self {
        Fetched {
            entries,
            ..Fetched::default()
        }
    }
}

/// What a fetch answered: the plugin's JSON text, read by the sync batch by
/// batch ([`crate::sync::apply_answer`]), or a fetch already read.
pub enum FetchAnswer {
    /// The answer as the plugin wrote it (an entry array or the object form).
    Text(Box<dyn AsRef<str> + Send>),
    Fetched(Fetched),
    /// A streamed fetch's batches, one answer object a line
    /// ([`crate::sync::stream`]); the last carries what came after them.
    Batches(Box<dyn std::io::BufRead + Send>),
}

/// A configured data source as the host uses it.
pub trait DataSource: Send {
    /// Checks and keeps the source's `config` object.
    fn validate_config(&mut self, config: &Value) -> Result<(), SourceError>;

    /// Fetches entries with the complete window and skipped records the
    /// source reports; `field_mapping` is the source's `field_mapping` object.
    fn fetch(
        &mut self,
        field_mapping: &Value,
        interval_seconds: f64,
    ) -> Result<Fetched, SourceError>;

    /// The fetch's answer as it came, for the sync to read in batches.
    /// Without an override: [`Self::fetch`], already read.
    fn fetch_answer(
        &mut self,
        field_mapping: &Value,
        interval_seconds: f64,
    ) -> Result<FetchAnswer, SourceError> {
        self.fetch(field_mapping, interval_seconds)
            .map(FetchAnswer::Fetched)
    }

    /// The entries of [`Self::fetch`] alone.
    fn fetch_entries(
        &mut self,
        field_mapping: &Value,
        interval_seconds: f64,
    ) -> Result<Vec<Entry>, SourceError> {
        self.fetch(field_mapping, interval_seconds)
            .map(|fetched| fetched.entries)
    }

    /// Whether the source honours `interval_seconds`.
    fn supports_incremental_sync(&self) -> bool;

    /// Runs `op`, an operation added after plugin-api 1.0, with its JSON
    /// payload; the plugin's JSON answer. Without an override: unsupported.
    fn call(&mut self, op: &str, _payload: &Value) -> Result<Value, SourceError> {
        Err(SourceError::new(
            SourceErrorKind::Unsupported,
            format!("unsupported operation '{op}'"),
        ))
    }

    /// [`Self::call`] answering the plugin's JSON text as it came, for
    /// answers the caller reads itself (a streamed fetch's batches).
    /// Without an override: `call`'s answer, written again.
    fn call_text(&mut self, op: &str, payload: &Value) -> Result<String, SourceError> {
        self.call(op, payload).map(|answer| answer.to_string())
    }

    /// Releases what the source holds; called once at shutdown.
    fn cleanup(&mut self);
}

/// Builds data sources by configured `type`. The plugin loader implements it
/// (in-process), and so does the worker-process mode; the sync engine and
/// configuration validation only see this trait.
pub trait SourceFactory: Send + Sync {
    /// Every source type that can be built, sorted.
    fn source_types(&self) -> Vec<String>;

    /// What the plugin says about `source_type` (description, extra
    /// `field_mapping` targets), or `None` when no plugin provides it.
    fn type_info(&self, _source_type: &str) -> Option<pylantir_plugin_api::SourceTypeInfo> {
        None
    }

    /// The names of the plugins that provide `source_type`; several mean a
    /// conflict that a source's `plugin` key must settle. Without an
    /// override: none known.
    fn providers(&self, _source_type: &str) -> Vec<String> {
        Vec::new()
    }

    /// The plugin file that provides `source_type`, for messages and summaries.
    fn plugin_file(&self, source_type: &str) -> Option<std::path::PathBuf>;

    /// Builds a fresh source of `source_type`, configured as `source_name`.
    fn create(
        &self,
        source_type: &str,
        source_name: &str,
    ) -> Result<Box<dyn DataSource>, SourceError>;

    /// Builds a fresh source as `source` configures it (its `isolation`,
    /// `fetch_timeout`, crash limits). Without an override: [`Self::create`].
    fn create_for(
        &self,
        source: &crate::config::SourceConfig,
    ) -> Result<Box<dyn DataSource>, SourceError> {
        self.create(&source.source_type, &source.name)
    }
}
