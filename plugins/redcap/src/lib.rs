//! The REDCap data source of pylantir (`type: "redcap"`), as a plugin.
//!
//! - [`config`]: the source's `config` object, credentials from the environment, its JSON Schema.
//! - [`api`]: the REDCap API calls (metadata, records) and their error messages.
//! - [`rows`]: the record export read row by row as it arrives.
//! - [`merge`]: grouping rows by record and merging visit rows with the baseline.
//! - [`identity`]: PatientName / PatientID templates and the study conventions.
//! - [`entries`]: the field mapping, the exported fields and the entry of one visit.
//! - [`write_back`]: the MPPS outcome imported into the visit's record.
//! - [`source`]: the [`Source`](pylantir_plugin_api::Source) tying them together.

pub mod api;
pub mod config;
pub mod entries;
pub mod identity;
pub mod merge;
pub mod rows;
pub mod source;
pub mod write_back;

use pylantir_plugin_api::{export_plugin, Plugin, SourceTypeInfo};

pub use source::Redcap;

/// The plugin: one source type, `redcap`.
pub fn plugin() -> Plugin {
    Plugin::new("redcap", env!("CARGO_PKG_VERSION")).source_type(
        SourceTypeInfo {
            name: "redcap".to_string(),
            description: "REDCap project records (repeating visit instrument) over the REDCap API"
                .to_string(),
            config_schema: Some(config::schema()),
            extra_mapping_targets: entries::EXTRA_TARGETS
                .iter()
                .map(|t| t.to_string())
                .collect(),
        },
        |ctx| Box::new(Redcap::new(ctx)),
    )
}

export_plugin!(plugin);
