//! Finding, checking and loading plugin files; the source-type registry.
//!
//! - [`discovery`]: the plugin directories in search order and the plugin
//!   files in them (naming convention, symlinks resolved and deduplicated).
//! - [`precheck`]: before `dlopen`: a complete shared library for this
//!   platform, not writable by other users.
//! - [`load`]: one file to a [`LoadedPlugin`] or a one-line [`Refusal`].
//! - [`registry`]: all plugins found, source type -> plugin, conflicts; the
//!   [`crate::source::SourceFactory`] of in-process plugins.
//! - [`in_process`]: a plugin source behind the host's [`crate::source::DataSource`].
//! - [`entries`]: reading and checking the entries a fetch returns.

pub mod discovery;
pub mod entries;
pub mod in_process;
pub mod load;
pub mod precheck;
pub mod registry;

pub use discovery::{find_plugin_files, plugin_dirs, PLUGIN_PATH_ENV};
pub use in_process::InProcessSource;
pub use load::{load_plugin, LoadOptions, LoadedPlugin, Refusal};
pub use registry::{PluginEntry, PluginStatus, Registry, ResolveError};
