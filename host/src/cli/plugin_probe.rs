//! How `plugins test` and `plugins install` look at a plugin file before
//! trusting it: the one place that decides where the plugin is loaded.
//!
//! For now the file is loaded in this process with the real loader (the
//! checks `start` makes: precheck, abi_stable layout and version, panic
//! strategy, init). When worker-process probing is available, [`probe`]
//! and [`factory`] switch to it and nothing else changes.

use crate::loader::{LoadOptions, LoadedPlugin, Refusal, Registry};
use crate::source::SourceFactory;
use std::path::{Path, PathBuf};

/// Loads `file` as `start` would and returns its description, or why it would be refused.
pub fn probe(file: &Path, options: &LoadOptions) -> Result<LoadedPlugin, Refusal> {
    crate::loader::load_plugin(file, options)
}

/// The plugins in `files`, each probed.
pub fn registry(files: &[PathBuf], options: &LoadOptions) -> Registry {
    Registry::from_files(files, options)
}

/// Builds sources of the plugins in `registry`, as `start` would.
pub fn factory(registry: Registry, _options: &LoadOptions) -> Box<dyn SourceFactory> {
    Box::new(registry)
}
