//! How `plugins test` and `plugins install` look at a plugin file before
//! trusting it: the one place that decides where the plugin is loaded.
//!
//! Every file is loaded in a short-lived worker process (`pylantir
//! plugin-worker`), exactly as `start` and `plugins list` probe plugins, so a
//! damaged or hostile library ends only that worker, never the command; the
//! sources under test are built as `start` builds them (in a worker unless
//! the source says `"isolation": "in-process"`).

use crate::isolation::process::WorkerCommand;
use crate::isolation::{probe_plugin, CrashPolicy, IsolatingFactory};
use crate::loader::{LoadOptions, LoadedPlugin, Refusal, Registry};
use std::path::{Path, PathBuf};

fn worker_command(options: &LoadOptions) -> Result<WorkerCommand, String> {
    WorkerCommand::current(options.allow_insecure)
        .map_err(|e| format!("cannot find the pylantir binary to start plugin workers: {e}"))
}

/// Loads `file` in a worker as `start` would and returns its description,
/// or why it would be refused.
pub fn probe(file: &Path, options: &LoadOptions) -> Result<LoadedPlugin, Refusal> {
    let command = worker_command(options).map_err(|reason| Refusal {
        file: file.to_path_buf(),
        reason,
        info: None,
    })?;
    probe_plugin(&command, file)
}

/// The plugins in `files`, each probed in a worker.
pub fn registry(files: &[PathBuf], options: &LoadOptions) -> Registry {
    Registry::from_files_with(files, |file| probe(file, options))
}

/// Builds sources of the plugins in `registry` as `start` does.
pub fn factory(registry: Registry, options: &LoadOptions) -> Result<IsolatingFactory, String> {
    let command = worker_command(options)?;
    Ok(IsolatingFactory::new(
        registry,
        command,
        *options,
        CrashPolicy::default(),
    ))
}
