//! The Calpendo data source of pylantir (`type: "calpendo"`), as a plugin.
//!
//! - [`config`]: the source's `config` object, credentials from the environment, its JSON Schema.
//! - [`mapping`]: field mapping rules (dotted paths, `_extract` regex captures).
//! - [`time`]: the booking window (rolling or today) and booking times in the source's time zone.
//! - [`api`]: the bookings API calls (window query, details in parallel, MRI operator).
//! - [`source`]: the [`Source`](pylantir_plugin_api::Source) and the entry of one booking.

pub mod api;
pub mod config;
pub mod mapping;
pub mod source;
pub mod time;

use pylantir_plugin_api::{export_plugin, Plugin, SourceTypeInfo};

pub use source::Calpendo;

/// The plugin: one source type, `calpendo`.
pub fn plugin() -> Plugin {
    Plugin::new("calpendo", env!("CARGO_PKG_VERSION")).source_type(
        SourceTypeInfo {
            name: "calpendo".to_string(),
            description: "Calpendo scanner bookings over the Calpendo web API".to_string(),
            config_schema: Some(config::schema()),
            extra_mapping_targets: Vec::new(),
        },
        |ctx| Box::new(Calpendo::new(ctx)),
    )
}

export_plugin!(plugin);
