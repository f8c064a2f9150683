//! The contract between pylantir and its data-source plugins.
//!
//! A plugin is a `cdylib` that depends on this crate alone. It implements the
//! plain Rust trait [`Source`], describes itself with a [`Plugin`] and exports
//! it with [`export_plugin!`]:
//!
//! ```no_run
//! use pylantir_plugin_api::serde_json::Value;
//! use pylantir_plugin_api::{export_plugin, Entry, FieldMapping, Plugin, Source};
//!
//! #[derive(Default)]
//! struct Hello;
//!
//! impl Source for Hello {
//!     fn validate_config(&mut self, _config: &Value) -> Result<(), String> { Ok(()) }
//!     fn fetch_entries(&mut self, _map: &FieldMapping, _interval: f64) -> Result<Vec<Entry>, String> {
//!         Ok(vec![])
//!     }
//! }
//!
//! fn plugin() -> Plugin {
//!     Plugin::new("hello", env!("CARGO_PKG_VERSION"))
//!         .source("hello", "Says hello", |_ctx| Box::new(Hello))
//! }
//! export_plugin!(plugin);
//! # fn main() {}
//! ```
//!
//! Modules:
//! - [`ffi`]: the checked `abi_stable` surface, frozen for the whole 1.x line
//!   (root module, source object, error, host context). Payloads cross it as
//!   JSON text, so new fields never change the ABI.
//! - [`source`]: the author-facing [`Source`] trait and the [`Plugin`] builder.
//! - `adapter` (plumbing, hidden from the docs): wraps a [`Source`] into the
//!   FFI object; every call runs under `catch_unwind`, a panic becomes an
//!   error of kind [`ErrorKind::PANICKED`].
//! - [`info`]: the plugin metadata the host lists without running anything.
//! - [`entry`]: worklist entries, the worklist field names and the entry JSON Schema.
//! - [`fetch`]: a fetch's answer beyond its entries (complete window, skipped
//!   records), for hosts that list the `fetch_result` feature.
//! - [`stream`]: a fetch handed over in bounded batches, over the generic
//!   `call` ([`Source::fetch_streamed`], [`stream::EntrySink`]).
//! - `logging` (plumbing): the log bridge that forwards a plugin's `log`
//!   records to the host; a plugin just uses the re-exported [`log`] macros.
//! - `export` (plumbing): the machinery behind [`export_plugin!`].
//! - [`messages`]: readable error messages (error chains, excerpts of upstream answers).
//! - `tz` (feature `tz`): the time-zone database the host and plugins resolve
//!   IANA names in (bundled, a newer system copy, or `TZDIR`).

#[doc(hidden)]
pub mod adapter;
pub mod entry;
#[doc(hidden)]
pub mod export;
pub mod fetch;
pub mod ffi;
pub mod info;
#[doc(hidden)]
pub mod logging;
pub mod messages;
pub mod source;
pub mod stream;
#[cfg(feature = "tz")]
pub mod tz;

/// The exact `abi_stable` this API is built on; authors never pick another.
pub use abi_stable;
pub use log;
pub use serde_json;

pub use entry::{entry_schema, Entry, SOURCE_RECORD_ID, WORKLIST_FIELDS};
pub use fetch::{CompleteWindow, Fetch, Skipped};
pub use ffi::{DataSourceBox, ErrorKind, HostContext, PluginError, PluginModRef};
pub use info::{PluginInfo, SourceTypeInfo};
pub use source::{CallError, FieldMapping, Plugin, Source, SourceContext};
pub use stream::{EntrySink, FetchEnd};

/// The version of this crate, which is the plugin API version a plugin reports.
pub const API_VERSION: &str = env!("CARGO_PKG_VERSION");

/// The rustc that compiled this crate (and so the plugin that links it).
pub const RUSTC_VERSION: &str = env!("PYLANTIR_PLUGIN_API_RUSTC");
