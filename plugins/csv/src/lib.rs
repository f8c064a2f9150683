//! The `csv` data source of pylantir: one worklist entry per row of a CSV file.
//!
//! `field_mapping` maps CSV columns to worklist fields (`{"mri_date":
//! "scheduled_start_date"}`), as pylantir's `redcap2wl` does.
//!
//! - [`config`]: the source's `config` object.
//! - [`read`]: streaming the file into entries.

pub mod config;
pub mod read;

use config::CsvConfig;
use pylantir_plugin_api::serde_json::{self, Value};
use pylantir_plugin_api::{
    export_plugin, log, CompleteWindow, Entry, EntrySink, Fetch, FetchEnd, FieldMapping, Plugin,
    Source, SourceTypeInfo,
};
use std::time::SystemTime;

/// A configured `csv` source.
#[derive(Default)]
pub struct CsvSource {
    config: Option<CsvConfig>,
    cache: Option<Cache>,
}

/// The last read, for `watch_for_changes`.
struct Cache {
    len: u64,
    modified: Option<SystemTime>,
    mapping: FieldMapping,
    fetch: Fetch,
}

impl Source for CsvSource {
    fn validate_config(&mut self, config: &Value) -> Result<(), String> {
        let config = CsvConfig::parse(config)?;
        config::KIND.warn_at_validation(&config.file_path, config.record_id_column.as_deref());
        self.config = Some(config);
        self.cache = None;
        Ok(())
    }

    fn fetch_entries(
        &mut self,
        mapping: &FieldMapping,
        interval: f64,
    ) -> Result<Vec<Entry>, String> {
        let json = self.fetch_entries_json(mapping, interval)?;
        serde_json::from_str(&json).map_err(|e| format!("entries could not be read back: {e}"))
    }

    fn fetch_entries_json(
        &mut self,
        mapping: &FieldMapping,
        interval: f64,
    ) -> Result<String, String> {
        self.fetch(mapping, interval)
            .map(|fetch| fetch.entries_json)
    }

    /// Streams the file row by row to the host, a batch at a time. With
    /// `watch_for_changes` the whole fetch is kept for the next one anyway:
    /// it goes as one batch, through [`Source::fetch`].
    fn fetch_streamed(
        &mut self,
        mapping: &FieldMapping,
        interval: f64,
        sink: &mut EntrySink,
    ) -> Result<FetchEnd, String> {
        let config = self.config.as_ref().ok_or(file_sources::NOT_CONFIGURED)?;
        if config.watch_for_changes {
            let fetch = self.fetch(mapping, interval)?;
            return sink.push_fetch(fetch);
        }
        let mut skipped = Vec::new();
        read::stream_entries(
            &config.file_path,
            config.delimiter,
            mapping,
            config.record_id_column.as_deref(),
            &mut skipped,
            sink,
        )?;
        Ok(FetchEnd {
            complete_window: Some(CompleteWindow::everything()),
            skipped,
        })
    }

    /// Streams the file straight into JSON text (the entries never exist as
    /// maps in the plugin). The file is the whole source: the fetch is
    /// complete for every date, and its malformed rows are reported.
    fn fetch(&mut self, mapping: &FieldMapping, _interval: f64) -> Result<Fetch, String> {
        let config = self.config.as_ref().ok_or(file_sources::NOT_CONFIGURED)?;
        let path = &config.file_path;
        let meta =
            std::fs::metadata(path).map_err(|e| format!("cannot open {}: {e}", path.display()))?;
        let (len, modified) = (meta.len(), meta.modified().ok());
        if config.watch_for_changes {
            if let Some(cache) = &self.cache {
                if cache.len == len && cache.modified == modified && &cache.mapping == mapping {
                    log::debug!("{} unchanged; previous entries reused", path.display());
                    return Ok(cache.fetch.clone());
                }
            }
        }
        let mut skipped = Vec::new();
        let entries_json = read::read_entries_json(
            path,
            config.delimiter,
            mapping,
            config.record_id_column.as_deref(),
            &mut skipped,
        )?;
        let fetch = Fetch {
            entries_json,
            complete_window: Some(CompleteWindow::everything()),
            skipped,
        };
        if config.watch_for_changes {
            self.cache = Some(Cache {
                len,
                modified,
                mapping: mapping.clone(),
                fetch: fetch.clone(),
            });
        }
        Ok(fetch)
    }
}

/// The plugin: one source type, `csv`.
pub fn plugin() -> Plugin {
    Plugin::new("csv", env!("CARGO_PKG_VERSION")).source_type(
        SourceTypeInfo {
            name: "csv".to_string(),
            description: "Worklist entries from a CSV file (one row per entry)".to_string(),
            config_schema: Some(config::schema()),
            extra_mapping_targets: Vec::new(),
        },
        |_| Box::<CsvSource>::default(),
    )
}

export_plugin!(plugin);
