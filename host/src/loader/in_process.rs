//! A plugin source running in this process, behind the host's own
//! [`DataSource`] trait. A source whose call panicked is dropped and rebuilt
//! (and given its configuration again) before its next use.

use super::entries::parse_fetch;
use super::load::{source_error, LoadedPlugin};
use crate::source::{DataSource, FetchAnswer, Fetched, SourceError, SourceErrorKind};
use pylantir_plugin_api::abi_stable::std_types::{RResult, RStr, RString};
use pylantir_plugin_api::logging::with_source;
use pylantir_plugin_api::{DataSourceBox, PluginError};
use serde_json::Value;
use std::sync::Arc;

/// One configured source built by an in-process plugin.
pub struct InProcessSource {
    plugin: Arc<LoadedPlugin>,
    source_type: String,
    source_name: String,
    /// `type:name`, the prefix of the plugin's log lines.
    label: String,
    /// `None` after a panic: rebuilt before the next call.
    inner: Option<DataSourceBox>,
    /// The last configuration the source accepted, replayed after a rebuild.
    config: Option<Value>,
    incremental: bool,
}

impl InProcessSource {
    /// Builds a source of `source_type` named `source_name` from `plugin`.
    pub fn new(
        plugin: Arc<LoadedPlugin>,
        source_type: &str,
        source_name: &str,
    ) -> Result<Self, SourceError> {
        let label = format!("{source_type}:{source_name}");
        let inner = with_source(&label, || plugin.new_source(source_type, source_name))?;
        let incremental = inner.supports_incremental_sync();
        Ok(InProcessSource {
            plugin,
            source_type: source_type.to_string(),
            source_name: source_name.to_string(),
            label,
            inner: Some(inner),
            config: None,
            incremental,
        })
    }

    /// The source object, rebuilt and reconfigured first if a panic dropped it.
    fn ready(&mut self) -> Result<&mut DataSourceBox, SourceError> {
        if self.inner.is_none() {
            log::info!(
                "source '{}': rebuilding it after a panic ({})",
                self.source_name,
                self.plugin.file().display()
            );
            let mut fresh = with_source(&self.label, || {
                self.plugin.new_source(&self.source_type, &self.source_name)
            })?;
            if let Some(config) = &self.config {
                let text = config.to_string();
                let answer =
                    with_source(&self.label, || fresh.validate_config(RStr::from_str(&text)));
                if let RResult::RErr(e) = answer {
                    return Err(source_error(e));
                }
            }
            self.inner = Some(fresh);
        }
        self.inner
            .as_mut()
            .ok_or_else(|| SourceError::new(SourceErrorKind::Other, "source is not available"))
    }

    /// The plugin's fetch answer, as it wrote it.
    fn answer(
        &mut self,
        field_mapping: &Value,
        interval_seconds: f64,
    ) -> Result<RString, SourceError> {
        let mapping = field_mapping.to_string();
        let label = self.label.clone();
        let inner = self.ready()?;
        let result = with_source(&label, || {
            inner.fetch_entries(RStr::from_str(&mapping), interval_seconds)
        });
        match result {
            RResult::ROk(json) => Ok(json),
            RResult::RErr(e) => Err(self.failed(e)),
        }
    }

    /// Turns a plugin error into a source error, dropping the source on a panic.
    fn failed(&mut self, error: PluginError) -> SourceError {
        let error = source_error(error);
        if error.kind == SourceErrorKind::Panicked {
            log::warn!(
                "source '{}' panicked: {}; it will be rebuilt before its next use",
                self.source_name,
                error.message
            );
            self.inner = None;
        }
        error
    }
}

/// A `call` answer as JSON, or a `Crashed` error naming the operation.
pub fn answer_of(op: &str, text: &str) -> Result<Value, SourceError> {
    serde_json::from_str(text).map_err(|e| {
        SourceError::new(
            SourceErrorKind::Crashed,
            format!("the answer to `{op}` is not JSON: {e}"),
        )
    })
}

impl DataSource for InProcessSource {
    fn validate_config(&mut self, config: &Value) -> Result<(), SourceError> {
        let text = config.to_string();
        let label = self.label.clone();
        let inner = self.ready()?;
        let result = with_source(&label, || inner.validate_config(RStr::from_str(&text)));
        match result {
            RResult::ROk(()) => {
                self.config = Some(config.clone());
                Ok(())
            }
            RResult::RErr(e) => Err(self.failed(e)),
        }
    }

    fn fetch(
        &mut self,
        field_mapping: &Value,
        interval_seconds: f64,
    ) -> Result<Fetched, SourceError> {
        let json = self.answer(field_mapping, interval_seconds)?;
        parse_fetch(&self.source_name, json.as_str())
    }

    fn fetch_answer(
        &mut self,
        field_mapping: &Value,
        interval_seconds: f64,
    ) -> Result<FetchAnswer, SourceError> {
        let json = self.answer(field_mapping, interval_seconds)?;
        Ok(FetchAnswer::Text(Box::new(json)))
    }

    fn supports_incremental_sync(&self) -> bool {
        self.incremental
    }

    fn call(&mut self, op: &str, payload: &Value) -> Result<Value, SourceError> {
        let text = self.call_text(op, payload)?;
        answer_of(op, &text)
    }

    fn call_text(&mut self, op: &str, payload: &Value) -> Result<String, SourceError> {
        let text = payload.to_string();
        let label = self.label.clone();
        let inner = self.ready()?;
        let result = with_source(&label, || {
            inner.call(RStr::from_str(op), RStr::from_str(&text))
        });
        match result {
            RResult::ROk(json) => Ok(json.into_string()),
            RResult::RErr(e) => Err(self.failed(e)),
        }
    }

    fn cleanup(&mut self) {
        if let Some(inner) = self.inner.as_mut() {
            with_source(&self.label, || inner.cleanup());
        }
    }
}
