//! The `json` data source of pylantir: one worklist entry per object of a
//! JSON array file or a JSON Lines file.
//!
//! `field_mapping` maps dotted paths into each record to worklist fields
//! (`{"patient.name.family": "patient_name"}`).
//!
//! - [`config`]: the source's `config` object.
//! - [`read`]: streaming the file into entries, dotted-path lookup.

pub mod config;
pub mod read;

use config::JsonConfig;
use pylantir_plugin_api::serde_json::{self, Value};
use pylantir_plugin_api::{
    export_plugin, CompleteWindow, Entry, Fetch, FieldMapping, Plugin, Source, SourceTypeInfo,
};

/// A configured `json` source.
#[derive(Default)]
pub struct JsonSource {
    config: Option<JsonConfig>,
}

impl Source for JsonSource {
    fn validate_config(&mut self, config: &Value) -> Result<(), String> {
        let config = JsonConfig::parse(config)?;
        config::KIND.warn_at_validation(&config.file_path, config.record_id_path.as_deref());
        self.config = Some(config);
        Ok(())
    }

    fn fetch_entries(
        &mut self,
        mapping: &FieldMapping,
        _interval: f64,
    ) -> Result<Vec<Entry>, String> {
        let config = self.config.as_ref().ok_or(file_sources::NOT_CONFIGURED)?;
        read::read_entries(&config.file_path, mapping, config.record_id_path.as_deref())
            .map(|(entries, _skipped)| entries)
    }

    /// The file is the whole source: the fetch is complete for every date,
    /// and its malformed records are reported.
    fn fetch(&mut self, mapping: &FieldMapping, _interval: f64) -> Result<Fetch, String> {
        let config = self.config.as_ref().ok_or(file_sources::NOT_CONFIGURED)?;
        let (entries, skipped) =
            read::read_entries(&config.file_path, mapping, config.record_id_path.as_deref())?;
        let entries_json = serde_json::to_string(&entries)
            .map_err(|e| format!("entries could not be serialised: {e}"))?;
        Ok(Fetch {
            entries_json,
            complete_window: Some(CompleteWindow::everything()),
            skipped,
        })
    }
}

/// The plugin: one source type, `json`.
pub fn plugin() -> Plugin {
    Plugin::new("json", env!("CARGO_PKG_VERSION")).source_type(
        SourceTypeInfo {
            name: "json".to_string(),
            description:
                "Worklist entries from a JSON array or JSON Lines file (one object per entry)"
                    .to_string(),
            config_schema: Some(config::schema()),
            extra_mapping_targets: Vec::new(),
        },
        |_| Box::<JsonSource>::default(),
    )
}

export_plugin!(plugin);
